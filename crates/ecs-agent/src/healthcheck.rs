//! `--healthcheck` (spec endpoints §6): `HEAD http://<host>:51678/v1/metadata` with a
//! 25 s overall timeout, following redirects. Any HTTP response, whatever its status,
//! means healthy; no response means unhealthy. Configuration is not loaded.

use std::error::Error as _;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, Uri};
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::exit;

/// The introspection server's port.
pub const INTROSPECTION_PORT: u16 = 51678;

/// Shorter than Docker's 30 s health-check timeout, as in the reference.
pub const TIMEOUT: Duration = Duration::from_secs(25);

/// The reference's variable naming the host to check (default `localhost`).
pub const HOST_ENV: &str = "ECS_AGENT_HEALTHCHECK_HOST";

/// Not a reference variable: the reference's port is fixed at 51678 and has no knob.
/// Only the tests set it, to check against a server on a free port. Undocumented.
pub const PORT_ENV: &str = "ECS_AGENT_HEALTHCHECK_PORT";

/// Go's HTTP client gives up after ten redirects.
const MAX_REDIRECTS: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum HealthcheckError {
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("{0}")]
    Request(String),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("stopped after {MAX_REDIRECTS} redirects")]
    TooManyRedirects,
}

/// The URL the check queries: the host inserted as given (a bare IPv6 literal is
/// bracketed, an addition over the reference), the introspection port.
pub fn url_for(host: Option<&str>, port: u16) -> String {
    let host = host.filter(|h| !h.is_empty()).unwrap_or("localhost");
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    format!("http://{host}:{port}/v1/metadata")
}

/// The URL from the process environment.
pub fn url_from_env() -> String {
    let host = std::env::var(HOST_ENV).ok();
    let port = std::env::var(PORT_ENV)
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(INTROSPECTION_PORT);
    url_for(host.as_deref(), port)
}

/// Sends the check; the status of the final response after redirects.
pub async fn check(url: &str, timeout: Duration) -> Result<StatusCode, HealthcheckError> {
    tokio::time::timeout(timeout, check_following_redirects(url))
        .await
        .map_err(|_| HealthcheckError::Timeout(timeout))?
}

async fn check_following_redirects(url: &str) -> Result<StatusCode, HealthcheckError> {
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut uri = parse_uri(url)?;
    for _ in 0..=MAX_REDIRECTS {
        let request = Request::builder()
            .method(Method::HEAD)
            .uri(uri.clone())
            .body(Empty::new())
            .map_err(|e| HealthcheckError::InvalidUrl {
                url: uri.to_string(),
                reason: e.to_string(),
            })?;
        let response = client
            .request(request)
            .await
            .map_err(|e| HealthcheckError::Request(error_chain(&e)))?;
        let status = response.status();
        let location = response
            .headers()
            .get(http::header::LOCATION)
            .and_then(|l| l.to_str().ok());
        match (is_followed_redirect(status), location) {
            (true, Some(location)) => uri = resolve_location(&uri, location)?,
            _ => return Ok(status),
        }
    }
    Err(HealthcheckError::TooManyRedirects)
}

/// Runs the check and turns the outcome into the exit code, logging a failure as the
/// reference does.
pub async fn run(url: &str, timeout: Duration) -> u8 {
    match check(url, timeout).await {
        Ok(_) => exit::SUCCESS,
        Err(err) => {
            tracing::error!("health check [HEAD {url}] failed with error: {err}");
            exit::ERROR
        }
    }
}

fn is_followed_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

fn parse_uri(url: &str) -> Result<Uri, HealthcheckError> {
    let uri: Uri =
        url.parse()
            .map_err(|e: http::uri::InvalidUri| HealthcheckError::InvalidUrl {
                url: url.to_string(),
                reason: e.to_string(),
            })?;
    match uri.scheme_str() {
        Some("http") if uri.authority().is_some() => Ok(uri),
        _ => Err(HealthcheckError::InvalidUrl {
            url: url.to_string(),
            reason: "only http:// URLs with a host are supported".to_string(),
        }),
    }
}

/// Resolves a `Location` against the request URI: absolute URLs as given, paths on the
/// same host, relative references against the current path's directory.
fn resolve_location(base: &Uri, location: &str) -> Result<Uri, HealthcheckError> {
    if location.contains("://") {
        return parse_uri(location);
    }
    let scheme = base.scheme_str().unwrap_or("http");
    let authority = base.authority().map(|a| a.as_str()).unwrap_or_default();
    let target = if let Some(rest) = location.strip_prefix("//") {
        format!("{scheme}://{rest}")
    } else if location.starts_with('/') {
        format!("{scheme}://{authority}{location}")
    } else {
        let dir = base.path().rsplit_once('/').map_or("", |(dir, _)| dir);
        format!("{scheme}://{authority}{dir}/{location}")
    };
    parse_uri(&target)
}

/// An error with its causes, so "client error (Connect)" says what failed.
fn error_chain(err: &hyper_util::client::legacy::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_uses_host_verbatim_and_brackets_bare_ipv6() {
        assert_eq!(
            url_for(None, INTROSPECTION_PORT),
            "http://localhost:51678/v1/metadata"
        );
        assert_eq!(
            url_for(Some(""), INTROSPECTION_PORT),
            "http://localhost:51678/v1/metadata"
        );
        assert_eq!(
            url_for(Some("10.0.0.1"), 51678),
            "http://10.0.0.1:51678/v1/metadata"
        );
        assert_eq!(
            url_for(Some("[::1]"), 51678),
            "http://[::1]:51678/v1/metadata"
        );
        assert_eq!(
            url_for(Some("::1"), 51678),
            "http://[::1]:51678/v1/metadata"
        );
    }

    #[test]
    fn locations_resolve_against_the_request() {
        let base: Uri = "http://localhost:51678/v1/metadata".parse().unwrap();
        let cases = [
            ("/v1/metadata", "http://localhost:51678/v1/metadata"),
            ("other", "http://localhost:51678/v1/other"),
            ("http://127.0.0.1:9/x", "http://127.0.0.1:9/x"),
            ("//127.0.0.1:9/y", "http://127.0.0.1:9/y"),
        ];
        for (location, want) in cases {
            assert_eq!(resolve_location(&base, location).unwrap().to_string(), want);
        }
        assert!(resolve_location(&base, "https://example.invalid/").is_err());
    }
}
