//! TLS towards the ECS backend when the agent runs with `-k` (backend-protocol.md §1.2,
//! §3.3): the server's certificate chain and name are not checked, as Go's
//! `InsecureSkipVerify` does. The handshake signatures still are, so the peer must hold
//! the key of the certificate it shows. Without `-k` none of this is used and the
//! SDK's and tungstenite's own verifying configurations stay in place.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CipherSuite, ClientConfig, DigitallySignedStruct, SignatureScheme};

/// Accepts whatever certificate the server presents.
#[derive(Debug)]
struct AcceptAnyServerCert {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The cipher suites the SDK's own client keeps, so that under `-k` the ECS API
/// connection differs from the verifying one only in what it checks.
const SDK_CIPHER_SUITES: &[CipherSuite] = &[
    CipherSuite::TLS13_AES_256_GCM_SHA384,
    CipherSuite::TLS13_AES_128_GCM_SHA256,
    CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
];

/// The ECS API client's configuration under `-k`: the SDK's cipher suites and ALPN
/// `http/1.1`, the one protocol the replacing hyper client is built to speak.
pub fn insecure_http_config() -> Result<ClientConfig, rustls::Error> {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider
        .cipher_suites
        .retain(|s| SDK_CIPHER_SUITES.contains(&s.suite()));
    let mut config = insecure_config(provider)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The websockets' configuration under `-k`: tungstenite's default (the provider's
/// suites, no ALPN) without verification.
pub fn insecure_websocket_config() -> Result<ClientConfig, rustls::Error> {
    insecure_config(rustls::crypto::aws_lc_rs::default_provider())
}

fn insecure_config(provider: CryptoProvider) -> Result<ClientConfig, rustls::Error> {
    let provider = Arc::new(provider);
    let verifier = Arc::new(AcceptAnyServerCert {
        algorithms: provider.signature_verification_algorithms,
    });
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// The websocket connector for ACS and TCS: `None` keeps tungstenite's verifying
/// default.
pub fn websocket_connector(
    accept_insecure_cert: bool,
) -> Result<Option<tokio_tungstenite::Connector>, rustls::Error> {
    if !accept_insecure_cert {
        return Ok(None);
    }
    let config = insecure_websocket_config()?;
    Ok(Some(tokio_tungstenite::Connector::Rustls(Arc::new(config))))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use aws_credential_types::Credentials;
    use ecs_test_support::tls::{self_signed_certificate, server_config};
    use tokio::net::TcpListener;

    use super::*;
    use crate::backend::ws;

    /// A `wss` server with the self-signed certificate that accepts one websocket and
    /// answers its first message; its URL.
    async fn wss_echo_server(dir: &Path) -> url::Url {
        let (cert, key) = self_signed_certificate(dir);
        let acceptor = tokio_rustls::TlsAcceptor::from(server_config(&cert, &key));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    continue;
                };
                let Ok(mut socket) = tokio_tungstenite::accept_async(tls).await else {
                    continue;
                };
                use futures::{SinkExt, StreamExt};
                if let Some(Ok(message)) = socket.next().await {
                    let _ = socket.send(message).await;
                }
            }
        });
        ws::websocket_url(&format!("https://localhost:{port}"), &[]).unwrap()
    }

    fn creds() -> Credentials {
        Credentials::new("AKID", "secret", None, None, "test")
    }

    #[tokio::test]
    async fn wss_to_a_self_signed_server_fails_unless_insecure() {
        let dir = tempfile::tempdir().unwrap();
        let url = wss_echo_server(dir.path()).await;

        let verifying = websocket_connector(false).unwrap();
        assert!(verifying.is_none());
        let err = ws::connect(&url, &creds(), "us-east-1", verifying)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid peer certificate"), "{err}");

        use futures::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::Message;
        let insecure = websocket_connector(true).unwrap();
        let mut socket = ws::connect(&url, &creds(), "us-east-1", insecure)
            .await
            .unwrap();
        socket.send(Message::text("ping")).await.unwrap();
        let echoed = socket.next().await.unwrap().unwrap();
        assert_eq!(echoed, Message::text("ping"));
    }

    #[test]
    fn the_http_config_keeps_the_sdk_suites_and_speaks_http_1_1() {
        let http = insecure_http_config().unwrap();
        assert_eq!(http.alpn_protocols, vec![b"http/1.1".to_vec()]);
        let suites: Vec<CipherSuite> = http
            .crypto_provider()
            .cipher_suites
            .iter()
            .map(|s| s.suite())
            .collect();
        assert!(!suites.is_empty());
        assert!(
            suites.iter().all(|s| SDK_CIPHER_SUITES.contains(s)),
            "{suites:?}"
        );
        let websocket = insecure_websocket_config().unwrap();
        assert!(websocket.alpn_protocols.is_empty());
        assert!(websocket.crypto_provider().cipher_suites.len() >= suites.len());
    }
}
