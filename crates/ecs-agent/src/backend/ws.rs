//! Websocket connections to ACS and TCS: the URL (`<endpoint>/ws?<sorted query>`), the
//! SigV4-signed upgrade (service `ecs`) and rejected handshakes (backend-protocol.md §3.2,
//! §3.3), and the signed header block of TCS frames (§5.2).

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use ecs_types::acs::HandshakeError;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use url::Url;

use super::error::BackendError;

pub type WsStream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Dial plus handshake must finish within this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a connection could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The server answered the upgrade with an ACS error.
    #[error(transparent)]
    Rejected(#[from] HandshakeError),
    #[error(transparent)]
    Other(#[from] BackendError),
}

impl ConnectError {
    pub fn is_inactive_instance(&self) -> bool {
        match self {
            ConnectError::Rejected(e) => e.is_inactive_instance(),
            ConnectError::Other(e) => e.to_string().contains(HandshakeError::INACTIVE_INSTANCE),
        }
    }
}

/// `<endpoint>` + `/` (unless present) + `ws?` + the form-encoded query, keys sorted;
/// `http` becomes `ws` and `https` becomes `wss`.
pub fn websocket_url(endpoint: &str, params: &[(&str, String)]) -> Result<Url, BackendError> {
    let bad = |reason: &str| BackendError::Endpoint {
        url: endpoint.to_owned(),
        reason: reason.to_owned(),
    };
    let mut url = Url::parse(endpoint).map_err(|e| bad(&e.to_string()))?;
    let scheme = match url.scheme() {
        "http" => "ws",
        "https" => "wss",
        _ => return Err(bad("the scheme must be http or https")),
    };
    url.set_scheme(scheme)
        .map_err(|()| bad("cannot change the scheme"))?;
    let mut path = url.path().to_owned();
    if !path.ends_with('/') {
        path.push('/');
    }
    path.push_str("ws");
    url.set_path(&path);
    let mut sorted: Vec<&(&str, String)> = params.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(sorted.iter().map(|(k, v)| (*k, v.as_str())))
        .finish();
    url.set_query(Some(&query));
    Ok(url)
}

/// SigV4 headers (`Authorization`, `X-Amz-Date`[, `X-Amz-Security-Token`]) for a GET of
/// `url` whose payload is `body`, signed for service `ecs`. For the upgrade the body
/// is empty; for TCS frames it is the JSON frame.
pub fn sign_get(
    url: &Url,
    body: &[u8],
    credentials: &Credentials,
    region: &str,
    time: SystemTime,
) -> Result<Vec<(&'static str, String)>, BackendError> {
    let signing = |e: &dyn std::fmt::Display| BackendError::Signing(e.to_string());
    let http_url = http_equivalent(url);
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("ecs")
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| signing(&e))?
        .into();
    let request = SignableRequest::new(
        "GET",
        http_url.as_str(),
        std::iter::empty(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| signing(&e))?;
    let (instructions, _) = sign(request, &params)
        .map_err(|e| signing(&e))?
        .into_parts();
    let (headers, _) = instructions.into_parts();
    Ok(headers
        .into_iter()
        .map(|h| {
            let name = match h.name() {
                "authorization" => "Authorization",
                "x-amz-date" => "X-Amz-Date",
                "x-amz-security-token" => "X-Amz-Security-Token",
                other => other,
            };
            (name, h.value().to_owned())
        })
        .collect())
}

/// The `ws`/`wss` URL as `http`/`https`: the signer derives the `Host` it signs (port
/// included unless it is the scheme's default) from this.
fn http_equivalent(url: &Url) -> Url {
    let mut http = url.clone();
    let scheme = if url.scheme() == "wss" {
        "https"
    } else {
        "http"
    };
    // Both schemes are special: switching between them cannot fail.
    let _ = http.set_scheme(scheme);
    http
}

/// Opens the websocket with a signed upgrade. A non-101 answer whose body is an ACS
/// error becomes [`ConnectError::Rejected`]. `tls` replaces the verifying default
/// connector for `wss` (see [`super::tls::websocket_connector`]).
pub async fn connect(
    url: &Url,
    credentials: &Credentials,
    region: &str,
    tls: Option<tokio_tungstenite::Connector>,
) -> Result<WsStream, ConnectError> {
    let headers = sign_get(url, b"", credentials, region, SystemTime::now())?;
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| BackendError::WebSocket(e.to_string()))?;
    for (name, value) in headers {
        let value = http::HeaderValue::from_str(&value)
            .map_err(|e| BackendError::Signing(e.to_string()))?;
        request.headers_mut().insert(name, value);
    }
    let connecting = tokio_tungstenite::connect_async_tls_with_config(request, None, false, tls);
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, connecting).await {
        Err(_) => Err(BackendError::WebSocket("handshake timed out".into()).into()),
        Ok(Ok((stream, _))) => Ok(stream),
        Ok(Err(tokio_tungstenite::tungstenite::Error::Http(response))) => {
            let status = response.status();
            let body = response.body().as_deref().unwrap_or_default();
            match HandshakeError::from_body(body) {
                Some(e) => Err(ConnectError::Rejected(e)),
                None => Err(
                    BackendError::WebSocket(format!("upgrade refused with HTTP {status}")).into(),
                ),
            }
        }
        Ok(Err(e)) => Err(BackendError::WebSocket(e.to_string()).into()),
    }
}

/// A TCS frame: the signed header block, an empty line, then the JSON envelope.
pub fn signed_frame(
    url: &Url,
    json: &str,
    credentials: &Credentials,
    region: &str,
) -> Result<String, BackendError> {
    let mut headers = sign_get(url, json.as_bytes(), credentials, region, SystemTime::now())?;
    let host = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    };
    headers.push(("Host", host));
    let pairs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Ok(ecs_types::tcs::format_signed_frame(&pairs, json))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_has_every_parameter_sorted_and_encoded() {
        let url = websocket_url(
            "http://127.0.0.1:51680/acs",
            &[
                ("seqNum", "1".into()),
                ("clusterArn", "local".into()),
                ("dockerVersion", "DockerVersion: 20.10.24".into()),
                (
                    "containerInstanceArn",
                    "arn:aws:ecs:us-east-1:1:container-instance/local/abc".into(),
                ),
            ],
        )
        .unwrap();
        assert_eq!(
            url.as_str(),
            "ws://127.0.0.1:51680/acs/ws?clusterArn=local&containerInstanceArn=arn%3Aaws%3Aecs%3Aus-east-1%3A1%3Acontainer-instance%2Flocal%2Fabc&dockerVersion=DockerVersion%3A+20.10.24&seqNum=1"
        );
        let tls = websocket_url("https://ecs-a-1.us-east-1.amazonaws.com/", &[]).unwrap();
        assert_eq!(tls.as_str(), "wss://ecs-a-1.us-east-1.amazonaws.com/ws?");
        assert!(websocket_url("ws://x", &[]).is_err());
    }

    #[test]
    fn signatures_cover_host_and_date() {
        let url = websocket_url("http://127.0.0.1:8080/acs", &[("a", "b c".into())]).unwrap();
        let creds = Credentials::new("AKID", "secret", Some("token".into()), None, "test");
        let headers = sign_get(&url, b"", &creds, "us-east-1", SystemTime::UNIX_EPOCH).unwrap();
        let auth = &headers.iter().find(|h| h.0 == "Authorization").unwrap().1;
        assert!(
            auth.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKID/19700101/us-east-1/ecs/aws4_request"
            )
        );
        assert!(
            auth.contains("SignedHeaders=host;x-amz-date;x-amz-security-token"),
            "{auth}"
        );
        assert!(
            headers
                .iter()
                .any(|h| h.0 == "X-Amz-Security-Token" && h.1 == "token")
        );
        let frame = signed_frame(&url, "{\"type\":\"X\"}", &creds, "us-east-1").unwrap();
        let (block, body) = ecs_types::tcs::split_signed_frame(&frame);
        assert_eq!(body, "{\"type\":\"X\"}");
        assert!(block.unwrap().contains("Host: 127.0.0.1:8080"));
    }

    #[tokio::test]
    async fn wss_goes_through_rustls() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            // Not a TLS server: the handshake fails on the first bytes back.
            if let Ok((mut tcp, _)) = listener.accept().await {
                use tokio::io::AsyncWriteExt;
                let _ = tcp.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
            }
        });
        let url = websocket_url(&format!("https://localhost:{}", addr.port()), &[]).unwrap();
        let creds = Credentials::new("AKID", "secret", None, None, "test");
        let err = connect(&url, &creds, "us-east-1", None)
            .await
            .unwrap_err()
            .to_string();
        assert!(!err.contains("not compiled"), "{err}");
        // rustls rejected the plain-text answer: TLS is compiled in and has a provider.
        assert!(err.contains("InvalidContentType"), "{err}");
    }
}
