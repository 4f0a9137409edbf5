//! The ECS API's HTTP client under `-k`: hyper 1 and hyper-rustls (the stack the SDK's
//! default client is built on) with [`super::tls::insecure_http_config`].
//! aws-smithy-http-client keeps its rustls configuration private, so the SDK's own
//! builder cannot be given a verifier; this client takes its place only when `-k` is
//! on. It honours the SDK's connect and read timeouts and pools connections per
//! timeout pair, as the SDK's client does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::ErrorKind;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector as TcpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::tls::insecure_http_config;

/// (connect timeout, read timeout): one pooled connector each.
type TimeoutKey = (Option<Duration>, Option<Duration>);

/// An SDK HTTP client that accepts any server certificate.
#[derive(Debug)]
pub struct InsecureHttpClient {
    tls: Arc<rustls::ClientConfig>,
    connectors: Mutex<HashMap<TimeoutKey, SharedHttpConnector>>,
}

impl InsecureHttpClient {
    /// The client, ready for `aws_sdk_ecs::config::Builder::http_client`.
    pub fn shared() -> Result<SharedHttpClient, rustls::Error> {
        let tls = insecure_http_config()?;
        Ok(SharedHttpClient::new(Self {
            tls: Arc::new(tls),
            connectors: Mutex::new(HashMap::new()),
        }))
    }
}

impl HttpClient for InsecureHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let key = (settings.connect_timeout(), settings.read_timeout());
        // The map only ever grows by whole entries: a panic elsewhere leaves it usable.
        let mut connectors = self
            .connectors
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        connectors
            .entry(key)
            .or_insert_with(|| SharedHttpConnector::new(Connector::new(&self.tls, key)))
            .clone()
    }
}

/// A pooled hyper client for one pair of timeouts.
#[derive(Clone)]
struct Connector {
    client: Client<HttpsConnector<TcpConnector>, SdkBody>,
    read_timeout: Option<Duration>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InsecureConnector")
            .field("read_timeout", &self.read_timeout)
            .finish()
    }
}

impl Connector {
    fn new(tls: &rustls::ClientConfig, (connect_timeout, read_timeout): TimeoutKey) -> Self {
        let mut tcp = TcpConnector::new();
        tcp.set_connect_timeout(connect_timeout);
        tcp.set_nodelay(true);
        // https:// URIs are handed to the TLS layer rather than refused.
        tcp.enforce_http(false);
        let https = HttpsConnector::from((tcp, tls.clone()));
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .build(https);
        Self {
            client,
            read_timeout,
        }
    }
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let request = match request.try_into_http1x() {
            Ok(request) => request,
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e.into()))),
        };
        let sending = self.client.request(request);
        let read_timeout = self.read_timeout;
        HttpConnectorFuture::new(async move {
            let response = match read_timeout {
                Some(limit) => tokio::time::timeout(limit, sending)
                    .await
                    .map_err(|e| ConnectorError::timeout(e.into()))?,
                None => sending.await,
            }
            .map_err(classify)?;
            HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                .map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

/// Sorts hyper's errors the way the SDK's own client does, so that the retry policy
/// treats them alike: dial failures and dropped connections are I/O (retried).
fn classify(err: hyper_util::client::legacy::Error) -> ConnectorError {
    if err.is_connect() {
        return ConnectorError::io(err.into());
    }
    let hyper_error =
        std::iter::successors(Some(&err as &(dyn std::error::Error + 'static)), |e| {
            e.source()
        })
        .find_map(|e| e.downcast_ref::<hyper::Error>());
    match hyper_error {
        Some(h) if h.is_timeout() => ConnectorError::timeout(err.into()),
        Some(h) if h.is_user() => ConnectorError::user(err.into()),
        Some(h) if h.is_closed() || h.is_canceled() => ConnectorError::io(err.into()),
        Some(h) if h.is_incomplete_message() => {
            ConnectorError::other(err.into(), Some(ErrorKind::TransientError))
        }
        _ => ConnectorError::other(err.into(), None),
    }
}

#[cfg(test)]
mod tests {
    use tokio::net::TcpListener;

    use crate::backend::EcsClient;
    use crate::backend::error::ApiError;
    use crate::backend::settings::{BackendSettings, StaticKeys};

    async fn insecure_client(endpoint: String) -> EcsClient {
        let mut settings = BackendSettings {
            region: Some("us-east-1".to_owned()),
            external: true,
            no_iid: true,
            accept_insecure_cert: true,
            ..BackendSettings::default()
        };
        settings.endpoints.backend_host = Some(endpoint);
        settings.credentials.keys = Some(StaticKeys {
            access_key_id: "AKIDINSECURE".to_owned(),
            secret_access_key: "secret".to_owned(),
            session_token: None,
        });
        EcsClient::new(&settings).await.unwrap()
    }

    /// `-k` changes nothing for a plain-HTTP backend: calls go through this client to a
    /// real ecs-local.
    #[tokio::test]
    async fn plain_http_backends_still_work_under_k() {
        let dir = tempfile::tempdir().unwrap();
        let config = ecs_local::server::Config::new("127.0.0.1:0".parse().unwrap(), dir.path());
        let server = ecs_local::server::Server::bind(&config).await.unwrap();
        let addr = server.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        let client = insecure_client(format!("http://{addr}")).await;
        let created = client
            .sdk()
            .create_cluster()
            .cluster_name("insecure-http")
            .send()
            .await
            .unwrap();
        let arn = created.cluster().and_then(|c| c.cluster_arn()).unwrap();
        assert!(arn.ends_with(":cluster/insecure-http"), "{arn}");
        // Keep-alive: a second call on the pooled connection.
        let listed = client.sdk().list_clusters().send().await.unwrap();
        assert!(listed.cluster_arns().iter().any(|a| a == arn));
        drop(stop);
        serving.await.unwrap().unwrap();
    }

    /// A refused dial is an I/O dispatch failure, as with the SDK's own client.
    #[tokio::test]
    async fn a_refused_dial_is_an_io_dispatch_failure() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let client = insecure_client(format!("https://{addr}")).await;
        let err = client.sdk().list_clusters().send().await.unwrap_err();
        let err = ApiError::from_sdk("ListClusters", err);
        assert_eq!(err.code, None);
        assert!(err.message.contains("dispatch failure"), "{err}");
        assert!(err.message.contains("io error"), "{err}");
    }
}
