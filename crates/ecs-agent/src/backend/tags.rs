//! `ListTagsForResource` for the task metadata tags paths (endpoints spec §4.5), made by
//! the agent's ECS client with the instance credentials. One attempt per call: the
//! endpoints retry with the reference's back-off and budget, so the SDK's own retries
//! are turned off here.

use std::collections::BTreeMap;

use aws_sdk_ecs::config::http::HttpResponse;
use aws_sdk_ecs::config::retry::RetryConfig;
use aws_sdk_ecs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_ecs::operation::RequestId;

use super::client::EcsClient;
use crate::endpoints::tags::{TagClient, TagError, TagsFuture};

const OPERATION: &str = "ListTagsForResource";

impl TagClient for EcsClient {
    fn list_tags<'a>(&'a self, arn: &'a str, user_agent_suffix: Option<&'a str>) -> TagsFuture<'a> {
        Box::pin(async move {
            let mut call = self
                .sdk()
                .list_tags_for_resource()
                .resource_arn(arn)
                .customize()
                .config_override(
                    aws_sdk_ecs::config::Builder::default().retry_config(RetryConfig::disabled()),
                );
            if let Some(suffix) = user_agent_suffix {
                call = call.interceptor(UserAgentSuffix(format!(" {suffix}")));
            }
            match call.send().await {
                Ok(out) => Ok(out
                    .tags()
                    .iter()
                    .filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or("").to_owned())))
                    .collect::<BTreeMap<_, _>>()),
                Err(e) => Err(tag_error(e)),
            }
        })
    }
}

/// The SDK error with its code, status and request ID, worded like the reference's
/// (Go SDK) error text so that the `ErrorMessage` reads the same.
fn tag_error<E>(err: SdkError<E, HttpResponse>) -> TagError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    SdkError<E, HttpResponse>: RequestId,
{
    let status_code = err.raw_response().map(|r| r.status().as_u16());
    let request_id = err.request_id().map(str::to_owned);
    let code = err.code().map(str::to_owned);
    let message = match (&err, code.as_deref()) {
        (SdkError::ServiceError(_), Some(code)) => format!(
            "operation error ECS: {OPERATION}, https response error StatusCode: {}, RequestID: {}, {code}: {}",
            status_code.unwrap_or_default(),
            request_id.as_deref().unwrap_or_default(),
            err.message().unwrap_or_default()
        ),
        _ => format!(
            "operation error ECS: {OPERATION}, {}",
            DisplayErrorContext(&err)
        ),
    };
    let client_throttled = code.is_none() && message.to_ascii_lowercase().contains("quota");
    TagError {
        code,
        message,
        status_code,
        request_id,
        client_throttled,
    }
}

/// Appends ` container/<name>` to the User-Agent the client sets before sending.
#[derive(Debug)]
struct UserAgentSuffix(String);

impl aws_sdk_ecs::config::Intercept for UserAgentSuffix {
    fn name(&self) -> &'static str {
        "UserAgentSuffix"
    }

    fn modify_before_transmit(
        &self,
        context: &mut aws_sdk_ecs::config::interceptors::BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &aws_sdk_ecs::config::RuntimeComponents,
        _cfg: &mut aws_sdk_ecs::config::ConfigBag,
    ) -> Result<(), aws_sdk_ecs::error::BoxError> {
        let headers = context.request_mut().headers_mut();
        let ua = headers.get("user-agent").unwrap_or("").to_owned();
        if !ua.ends_with(&self.0) {
            headers.insert("user-agent", format!("{ua}{}", self.0));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use crate::backend::settings::{BackendSettings, StaticKeys};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// Answers one HTTP request with `status`, `headers` and `body`; returns the request
    /// head it read.
    async fn answer_once(listener: TcpListener, status: &str, headers: &str, body: &str) -> String {
        answer(&listener, status, headers, body).await
    }

    /// Answers the next request on `listener`; returns its head.
    async fn answer(listener: &TcpListener, status: &str, headers: &str, body: &str) -> String {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        // The request body is small and follows the head; read until both are in.
        loop {
            let n = s.read(&mut chunk).await.unwrap();
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).into_owned();
            if let Some(end) = text.find("\r\n\r\n") {
                let len = text[..end]
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                if buf.len() >= end + 4 + len {
                    break;
                }
            }
            assert!(n > 0, "client closed early");
        }
        let reply = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/x-amz-json-1.1\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(reply.as_bytes()).await.unwrap();
        let text = String::from_utf8_lossy(&buf).into_owned();
        text[..text.find("\r\n\r\n").unwrap()].to_owned()
    }

    async fn client(addr: std::net::SocketAddr) -> EcsClient {
        let mut settings = BackendSettings {
            cluster: "c".to_owned(),
            region: Some("us-east-1".to_owned()),
            external: true,
            no_iid: true,
            ..BackendSettings::default()
        };
        settings.endpoints.backend_host = Some(format!("http://{addr}"));
        settings.credentials.keys = Some(StaticKeys {
            access_key_id: "AKIDTAGS".to_owned(),
            secret_access_key: "secret".to_owned(),
            session_token: None,
        });
        EcsClient::new(&settings).await.unwrap()
    }

    fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then_some(v.trim())
        })
    }

    #[tokio::test]
    async fn tags_come_back_and_the_user_agent_names_the_container() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(answer_once(
            listener,
            "200 OK",
            "",
            r#"{"tags":[{"key":"team","value":"core"},{"key":"empty"}]}"#,
        ));
        let client = client(addr).await;
        let tags = client
            .list_tags("arn:aws:ecs:us-east-1:1:task/c/abc", Some("container/web"))
            .await
            .unwrap();
        assert_eq!(
            tags,
            BTreeMap::from([
                ("empty".to_owned(), String::new()),
                ("team".to_owned(), "core".to_owned())
            ])
        );
        let head = server.await.unwrap();
        let ua = header(&head, "user-agent").unwrap();
        assert!(ua.starts_with("Amazon ECS Agent - v"), "{ua}");
        assert!(ua.ends_with(") container/web"), "{ua}");
        assert_eq!(
            header(&head, "x-amz-target"),
            Some("AmazonEC2ContainerServiceV20141113.ListTagsForResource")
        );
    }

    #[tokio::test]
    async fn service_errors_keep_code_status_and_request_id_and_are_not_retried_by_the_sdk() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(answer_once(
            listener,
            "400 Bad Request",
            "x-amzn-RequestId: req-42\r\n",
            r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
        ));
        let client = client(addr).await;
        let err = client
            .list_tags("arn:aws:ecs:us-east-1:1:task/c/abc", None)
            .await
            .unwrap_err();
        let head = server.await.unwrap();
        // Without the suffix the client's own User-Agent is sent unchanged.
        assert!(
            header(&head, "user-agent")
                .unwrap()
                .ends_with("(+http://aws.amazon.com/ecs/)")
        );
        assert_eq!(err.code.as_deref(), Some("ThrottlingException"));
        assert_eq!(err.status_code, Some(400));
        assert_eq!(err.request_id.as_deref(), Some("req-42"));
        assert!(err.is_retriable());
        assert_eq!(
            err.message,
            "operation error ECS: ListTagsForResource, https response error StatusCode: 400, RequestID: req-42, ThrottlingException: Rate exceeded"
        );
    }

    #[tokio::test]
    async fn throttled_calls_are_retried_by_the_endpoints_policy_over_real_requests() {
        use crate::endpoints::tags::{RetryPolicy, get_resource_tags};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let throttled = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;
            for _ in 0..2 {
                answer(&listener, "400 Bad Request", "", throttled).await;
            }
            answer(
                &listener,
                "200 OK",
                "",
                r#"{"tags":[{"key":"k","value":"v"}]}"#,
            )
            .await
        });
        let client = client(addr).await;
        let policy = RetryPolicy {
            initial: Duration::from_millis(20),
            ..RetryPolicy::default()
        };
        let tags = get_resource_tags(
            Some(&client),
            "arn:aws:ecs:us-east-1:1:task/c/abc",
            Some("container/web"),
            &policy,
        )
        .await
        .unwrap();
        assert_eq!(tags, BTreeMap::from([("k".to_owned(), "v".to_owned())]));
        let head = server.await.unwrap();
        assert!(
            header(&head, "user-agent")
                .unwrap()
                .ends_with(") container/web")
        );
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_local_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let err = client(addr)
            .await
            .list_tags("arn:aws:ecs:us-east-1:1:task/c/abc", None)
            .await
            .unwrap_err();
        assert_eq!((err.code.as_deref(), err.status_code), (None, None));
        assert!(!err.is_retriable(), "{err:?}");
        assert!(
            err.message
                .starts_with("operation error ECS: ListTagsForResource, "),
            "{err:?}"
        );
    }
}
