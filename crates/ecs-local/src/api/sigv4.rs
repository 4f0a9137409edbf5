//! Verification of SigV4-signed requests (service `ecs`).
//!
//! The `Authorization` header is parsed and checked for form and freshness (±15 min).
//! When the secret of the access key is known (a credentials file was given), the request
//! is signed again with `aws-sigv4` over exactly the headers the client signed and the
//! signatures are compared; unknown keys are then rejected. Without a credentials file
//! any key is accepted, since its secret is unknown.
//!
//! Credentials file: one `ACCESS_KEY_ID SECRET_ACCESS_KEY` pair per line, separated by
//! white space; blank lines and lines starting with `#` are ignored.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use axum::http::HeaderMap;
use chrono::{NaiveDateTime, TimeZone, Utc};

use super::error::ApiError;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const SERVICE: &str = "ecs";
const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, thiserror::Error)]
pub enum CredentialsFileError {
    #[error("cannot read credentials file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("credentials file {path}, line {line}: expected `ACCESS_KEY_ID SECRET_ACCESS_KEY`")]
    Syntax { path: String, line: usize },
}

/// Which signatures are accepted.
#[derive(Clone, Default)]
pub struct Verifier {
    /// Known secrets by access key ID; `None` accepts any key with a well-formed signature.
    secrets: Option<HashMap<String, String>>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets never reach logs.
        let keys: Option<Vec<&String>> = self.secrets.as_ref().map(|m| m.keys().collect());
        f.debug_struct("Verifier")
            .field("access_keys", &keys)
            .finish()
    }
}

impl Verifier {
    /// Accepts any access key whose signature is well formed and fresh.
    pub fn lenient() -> Self {
        Self { secrets: None }
    }

    /// Accepts only the given keys, with signatures checked against their secrets.
    pub fn strict(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        Self {
            secrets: Some(pairs.into_iter().collect()),
        }
    }

    pub fn from_file(path: &Path) -> Result<Self, CredentialsFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| CredentialsFileError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut pairs = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut words = line.split_whitespace();
            match (words.next(), words.next(), words.next()) {
                (Some(key), Some(secret), None) => {
                    pairs.push((key.to_string(), secret.to_string()))
                }
                _ => {
                    return Err(CredentialsFileError::Syntax {
                        path: path.display().to_string(),
                        line: index + 1,
                    });
                }
            }
        }
        Ok(Self::strict(pairs))
    }

    /// Checks a request; returns the access key ID that signed it.
    pub fn verify(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<String, ApiError> {
        let Some(auth) = headers.get("authorization") else {
            return Err(ApiError::missing_authentication(
                "Missing Authentication Token",
            ));
        };
        let auth = auth
            .to_str()
            .map_err(|_| ApiError::invalid_signature("The Authorization header is not text."))?;
        let parsed = parse_authorization(auth)?;
        let date_text = header_text(headers, "x-amz-date").ok_or_else(|| {
            ApiError::invalid_signature(
                "Authorization header requires existence of an 'X-Amz-Date' header.",
            )
        })?;
        let signed_at = parse_amz_date(date_text).ok_or_else(|| {
            ApiError::invalid_signature(format!("Invalid X-Amz-Date '{date_text}'."))
        })?;
        if !date_text.starts_with(parsed.date) {
            return Err(ApiError::invalid_signature(format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}'",
                parsed.date,
                &date_text[..8.min(date_text.len())]
            )));
        }
        let skew = match now.duration_since(signed_at) {
            Ok(d) => d,
            Err(e) => e.duration(),
        };
        if skew > MAX_SKEW {
            return Err(ApiError::invalid_signature(format!(
                "Signature expired: {date_text} is now earlier or later than 15 min from the server's time."
            )));
        }
        for required in ["host", "x-amz-date"] {
            if !parsed.signed_headers.contains(&required) {
                return Err(ApiError::invalid_signature(format!(
                    "'{required}' must be a signed header."
                )));
            }
        }
        let Some(secrets) = &self.secrets else {
            return Ok(parsed.access_key.to_string());
        };
        let secret = secrets.get(parsed.access_key).ok_or_else(|| {
            ApiError::unrecognized_client("The security token included in the request is invalid.")
        })?;
        let expected = compute_signature(
            &parsed,
            secret,
            method,
            path_and_query,
            headers,
            body,
            signed_at,
        )?;
        if !constant_time_eq(expected.as_bytes(), parsed.signature.as_bytes()) {
            return Err(ApiError::invalid_signature(
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.",
            ));
        }
        Ok(parsed.access_key.to_string())
    }
}

struct Authorization<'a> {
    access_key: &'a str,
    date: &'a str,
    region: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn parse_authorization(header: &str) -> Result<Authorization<'_>, ApiError> {
    let garbled = |what: &str| {
        ApiError::invalid_signature(format!("Authorization header is malformed: {what}"))
    };
    let rest = header
        .strip_prefix(ALGORITHM)
        .filter(|r| r.starts_with(' '))
        .ok_or_else(|| garbled("only AWS4-HMAC-SHA256 is supported"))?;
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',') {
        let (name, value) = part
            .trim()
            .split_once('=')
            .ok_or_else(|| garbled("expected name=value pairs"))?;
        match name {
            "Credential" => credential = Some(value),
            "SignedHeaders" => signed_headers = Some(value),
            "Signature" => signature = Some(value),
            _ => return Err(garbled("unknown component")),
        }
    }
    let credential = credential.ok_or_else(|| garbled("missing Credential"))?;
    let signed_headers = signed_headers.ok_or_else(|| garbled("missing SignedHeaders"))?;
    let signature = signature.ok_or_else(|| garbled("missing Signature"))?;
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key, date, region, service, terminator] = scope.as_slice() else {
        return Err(garbled(
            "Credential must be KEY/DATE/REGION/SERVICE/aws4_request",
        ));
    };
    if access_key.is_empty() || date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(garbled("bad access key or date in Credential"));
    }
    if region.is_empty() || *terminator != "aws4_request" {
        return Err(garbled("bad Credential scope"));
    }
    if *service != SERVICE {
        return Err(ApiError::invalid_signature(format!(
            "Credential should be scoped to correct service: '{SERVICE}'."
        )));
    }
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(garbled("Signature must be 64 hexadecimal digits"));
    }
    let signed_headers: Vec<&str> = signed_headers.split(';').collect();
    if signed_headers.iter().any(|h| h.is_empty()) {
        return Err(garbled("empty name in SignedHeaders"));
    }
    Ok(Authorization {
        access_key,
        date,
        region,
        signed_headers,
        signature,
    })
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn parse_amz_date(text: &str) -> Option<SystemTime> {
    let naive = NaiveDateTime::parse_from_str(text, "%Y%m%dT%H%M%SZ").ok()?;
    Some(Utc.from_utc_datetime(&naive).into())
}

fn compute_signature(
    auth: &Authorization<'_>,
    secret: &str,
    method: &str,
    path_and_query: &str,
    headers: &HeaderMap,
    body: &[u8],
    signed_at: SystemTime,
) -> Result<String, ApiError> {
    let mut signed: Vec<(&str, String)> = Vec::new();
    for name in &auth.signed_headers {
        let values: Vec<&str> = headers
            .get_all(*name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if values.is_empty() {
            return Err(ApiError::invalid_signature(format!(
                "Signed header '{name}' is missing from the request."
            )));
        }
        signed.push((name, values.join(",")));
    }
    let host = header_text(headers, "host").unwrap_or("localhost");
    let uri = format!("http://{host}{path_and_query}");
    let request = SignableRequest::new(
        method,
        uri,
        signed.iter().map(|(n, v)| (*n, v.as_str())),
        SignableBody::Bytes(body),
    )
    .map_err(|e| ApiError::invalid_signature(format!("Cannot canonicalise the request: {e}")))?;
    let mut settings = SigningSettings::default();
    // Verify over exactly what the client signed, user-agent included if it did.
    settings.excluded_headers = Some(vec!["authorization".into()]);
    let identity = Credentials::new(auth.access_key, secret, None, None, "ecs-local").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(auth.region)
        .name(SERVICE)
        .time(signed_at)
        .settings(settings)
        .build()
        .map_err(|e| ApiError::server(format!("signing parameters: {e}")))?
        .into();
    let output = sign(request, &params)
        .map_err(|e| ApiError::invalid_signature(format!("Cannot sign the request: {e}")))?;
    Ok(output.signature().to_string())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn signed_headers(secret: &str, at: SystemTime, body: &[u8]) -> HeaderMap {
        let date = chrono::DateTime::<Utc>::from(at)
            .format("%Y%m%dT%H%M%SZ")
            .to_string();
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("127.0.0.1:51680"));
        headers.insert("x-amz-date", HeaderValue::from_str(&date).unwrap());
        headers.insert(
            "x-amz-target",
            HeaderValue::from_static("AmazonEC2ContainerServiceV20141113.ListClusters"),
        );
        let request = SignableRequest::new(
            "POST",
            "http://127.0.0.1:51680/",
            headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.to_str().unwrap())),
            SignableBody::Bytes(body),
        )
        .unwrap();
        let identity = Credentials::new("AKID", secret, None, None, "t").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("ecs")
            .time(at)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let (instructions, _) = sign(request, &params).unwrap().into_parts();
        for (name, value) in instructions.headers() {
            headers.insert(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        headers
    }

    #[test]
    fn strict_mode_checks_the_secret() {
        let now = SystemTime::now();
        let headers = signed_headers("right", now, b"{}");
        let strict = Verifier::strict([("AKID".to_string(), "right".to_string())]);
        assert_eq!(
            strict.verify("POST", "/", &headers, b"{}", now).unwrap(),
            "AKID"
        );
        let err = strict
            .verify("POST", "/", &headers, b"{ }", now)
            .unwrap_err();
        assert_eq!(err.code, "InvalidSignatureException");
        let wrong = signed_headers("wrong", now, b"{}");
        let err = strict.verify("POST", "/", &wrong, b"{}", now).unwrap_err();
        assert_eq!(err.code, "InvalidSignatureException");
        assert!(
            Verifier::lenient()
                .verify("POST", "/", &wrong, b"{}", now)
                .is_ok()
        );
    }

    #[test]
    fn credentials_file_lines() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good");
        std::fs::write(&good, "# comment\n\nAKID1 secret1\n  AKID2\tsecret2  \n").unwrap();
        let verifier = Verifier::from_file(&good).unwrap();
        let keys = verifier.secrets.as_ref().unwrap();
        assert_eq!(keys.get("AKID2").map(String::as_str), Some("secret2"));
        assert!(!format!("{verifier:?}").contains("secret1"));
        let bad = dir.path().join("bad");
        std::fs::write(&bad, "AKID1 secret1\nonly-a-key\n").unwrap();
        let err = Verifier::from_file(&bad).unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        assert!(Verifier::from_file(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn stale_missing_and_garbled_signatures_are_refused() {
        let now = SystemTime::now();
        let old = now - Duration::from_secs(20 * 60);
        let headers = signed_headers("s", old, b"{}");
        let err = Verifier::lenient()
            .verify("POST", "/", &headers, b"{}", now)
            .unwrap_err();
        assert!(err.message.contains("expired"), "{err}");
        let err = Verifier::lenient()
            .verify("POST", "/", &HeaderMap::new(), b"{}", now)
            .unwrap_err();
        assert_eq!(err.code, "MissingAuthenticationTokenException");
        let mut garbled = signed_headers("s", now, b"{}");
        garbled.insert(
            "authorization",
            HeaderValue::from_static("AWS4-HMAC-SHA256 nonsense"),
        );
        let err = Verifier::lenient()
            .verify("POST", "/", &garbled, b"{}", now)
            .unwrap_err();
        assert_eq!(err.code, "InvalidSignatureException");
    }
}
