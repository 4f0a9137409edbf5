//! The ECS API client: aws-sdk-ecs with the reference's region, credentials, endpoint,
//! timeouts and retries (backend-protocol.md §1, §2.1), plus the cached
//! DiscoverPollEndpoint (§2.4).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;
use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_config::default_provider::region::DefaultRegionChain;
use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::imds::credentials::ImdsCredentialsProvider;
use aws_config::meta::credentials::CredentialsProviderChain;
use aws_config::profile::ProfileFileCredentialsProvider;
// aws-config re-exports these under deprecated names only; the replacements live in
// aws-runtime, which is not a direct dependency.
#[allow(deprecated)]
use aws_config::profile::profile_file::{ProfileFileKind, ProfileFiles};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_ecs::config::Region;
use tokio::sync::Mutex;

use super::error::{ApiError, BackendError};
use super::insecure_http::InsecureHttpClient;
use super::settings::{BackendSettings, CredentialSettings};

/// How long a DiscoverPollEndpoint answer is reused.
pub const POLL_ENDPOINT_TTL: Duration = Duration::from_secs(12 * 3600);

/// Per-attempt deadline of every ECS call: 30 s dial + 10 s TLS + 2 s.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(42);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The ACS and TCS base URLs of this instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollEndpoints {
    pub acs: String,
    pub telemetry: Option<String>,
    pub service_connect: Option<String>,
}

/// A handle to the ECS API; cheap to clone.
#[derive(Clone)]
pub struct EcsClient {
    inner: std::sync::Arc<Inner>,
}

struct Inner {
    client: aws_sdk_ecs::Client,
    credentials: SharedCredentialsProvider,
    region: String,
    poll_cache: Mutex<HashMap<String, (Instant, PollEndpoints)>>,
    /// The last credentials and until when they are reused (TCS signs every frame).
    credentials_cache: Mutex<Option<(Credentials, Instant)>>,
    /// How ACS and TCS websockets do TLS: `None` verifies as usual, `Some` under `-k`.
    websocket_tls: Option<tokio_tungstenite::Connector>,
}

/// Credentials are re-resolved at least this often (the rotating file is re-read every
/// minute in the reference), and well before they expire.
const CREDENTIALS_REUSE: Duration = Duration::from_secs(60);
const CREDENTIALS_EXPIRY_MARGIN: Duration = Duration::from_secs(300);

impl std::fmt::Debug for EcsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EcsClient")
            .field("region", &self.inner.region)
            .finish()
    }
}

impl EcsClient {
    /// Resolves region, credentials and endpoint as the reference does.
    pub async fn new(settings: &BackendSettings) -> Result<Self, BackendError> {
        let region = match settings.region.clone() {
            Some(r) => r,
            None if settings.external => return Err(BackendError::MissingRegion),
            None => DefaultRegionChain::builder()
                .build()
                .region()
                .await
                .map(|r| r.to_string())
                .ok_or(BackendError::MissingRegion)?,
        };
        let region_value = Region::new(region.clone());
        let credentials =
            SharedCredentialsProvider::new(credential_chain(settings, &region_value).await);
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(region_value)
            .credentials_provider(credentials.clone())
            .retry_config(RetryConfig::standard().with_max_attempts(3))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                    .build(),
            );
        if let Some(endpoint) = settings.endpoints.resolve() {
            loader = loader.endpoint_url(endpoint);
        }
        let sdk = loader.load().await;
        let mut conf = aws_sdk_ecs::config::Builder::from(&sdk).interceptor(AgentUserAgent(
            user_agent(settings.detailed_os_family.as_deref()),
        ));
        // Only the ECS client skips verification (`-k` concerns the backend clients,
        // config-and-lifecycle.md §2.2): the credential providers' own calls (STS, SSO)
        // keep the SDK's verifying client.
        if settings.accept_insecure_cert {
            conf = conf.http_client(InsecureHttpClient::shared()?);
        }
        let conf = conf.build();
        Ok(Self {
            inner: std::sync::Arc::new(Inner {
                client: aws_sdk_ecs::Client::from_conf(conf),
                credentials,
                region,
                poll_cache: Mutex::new(HashMap::new()),
                credentials_cache: Mutex::new(None),
                websocket_tls: super::tls::websocket_connector(settings.accept_insecure_cert)?,
            }),
        })
    }

    /// The SDK client, for the calls the modules build.
    pub fn sdk(&self) -> &aws_sdk_ecs::Client {
        &self.inner.client
    }

    pub fn region(&self) -> &str {
        &self.inner.region
    }

    /// The TLS connector of the ACS and TCS websockets (`None`: verify as usual).
    pub fn websocket_tls(&self) -> Option<tokio_tungstenite::Connector> {
        self.inner.websocket_tls.clone()
    }

    /// The instance credentials (for the websocket signatures).
    pub async fn credentials(&self) -> Result<Credentials, BackendError> {
        let mut cache = self.inner.credentials_cache.lock().await;
        if let Some((creds, until)) = cache.as_ref()
            && Instant::now() < *until
        {
            return Ok(creds.clone());
        }
        let creds = self
            .inner
            .credentials
            .provide_credentials()
            .await
            .map_err(|e| {
                BackendError::Credentials(aws_sdk_ecs::error::DisplayErrorContext(&e).to_string())
            })?;
        let mut until = Instant::now() + CREDENTIALS_REUSE;
        if let Some(left) = creds
            .expiry()
            .and_then(|e| e.duration_since(std::time::SystemTime::now()).ok())
        {
            until = until.min(Instant::now() + left.saturating_sub(CREDENTIALS_EXPIRY_MARGIN));
        }
        *cache = Some((creds.clone(), until));
        Ok(creds)
    }

    /// DiscoverPollEndpoint, answered from the 12 h cache when possible; an expired entry
    /// is used when the call fails. One call at a time.
    pub async fn discover_poll_endpoint(
        &self,
        cluster: &str,
        container_instance_arn: &str,
    ) -> Result<PollEndpoints, ApiError> {
        let mut cache = self.inner.poll_cache.lock().await;
        let cached = cache.get(container_instance_arn).cloned();
        if let Some((at, endpoints)) = &cached
            && at.elapsed() < POLL_ENDPOINT_TTL
        {
            return Ok(endpoints.clone());
        }
        let result = self
            .inner
            .client
            .discover_poll_endpoint()
            .cluster(cluster)
            .container_instance(container_instance_arn)
            .customize()
            .mutate_request(|req| add_json_member(req, "zoneId", ""))
            .send()
            .await;
        match result {
            Ok(out) => {
                let acs = out
                    .endpoint()
                    .filter(|e| !e.is_empty())
                    .ok_or_else(|| {
                        ApiError::new("DiscoverPollEndpoint", None, "no endpoint returned; nil")
                    })?
                    .to_owned();
                let endpoints = PollEndpoints {
                    acs,
                    telemetry: out.telemetry_endpoint().map(str::to_owned),
                    service_connect: out.service_connect_endpoint().map(str::to_owned),
                };
                cache.insert(
                    container_instance_arn.to_owned(),
                    (Instant::now(), endpoints.clone()),
                );
                Ok(endpoints)
            }
            Err(e) => {
                let err = ApiError::from_sdk("DiscoverPollEndpoint", e);
                match cached {
                    Some((_, endpoints)) => {
                        tracing::warn!(error = %err, "Using the expired poll endpoints");
                        Ok(endpoints)
                    }
                    None => Err(err),
                }
            }
        }
    }
}

/// `Amazon ECS Agent - v1.105.1 (<hash>) (linux; <detailed-os>) (+http://aws.amazon.com/ecs/)`.
pub fn user_agent(detailed_os_family: Option<&str>) -> String {
    let dirty = if crate::version::GIT_DIRTY { "*" } else { "" };
    let os = match detailed_os_family {
        None => "(linux; LINUX)".to_owned(),
        Some("") => "(linux)".to_owned(),
        Some(family) => format!("(linux; {family})"),
    };
    format!(
        "Amazon ECS Agent - v{} ({dirty}{}) {os} (+http://aws.amazon.com/ecs/)",
        crate::version::AGENT_VERSION,
        crate::version::GIT_HASH
    )
}

/// Sets the reference's `User-Agent` after signing (it is never signed).
#[derive(Debug)]
struct AgentUserAgent(String);

impl aws_sdk_ecs::config::Intercept for AgentUserAgent {
    fn name(&self) -> &'static str {
        "AgentUserAgent"
    }

    fn modify_before_transmit(
        &self,
        context: &mut aws_sdk_ecs::config::interceptors::BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &aws_sdk_ecs::config::RuntimeComponents,
        _cfg: &mut aws_sdk_ecs::config::ConfigBag,
    ) -> Result<(), aws_sdk_ecs::error::BoxError> {
        context
            .request_mut()
            .headers_mut()
            .insert("user-agent", self.0.clone());
        Ok(())
    }
}

/// Adds a member the SDK's model lacks but the reference sends (e.g. `zoneId: ""` on
/// DiscoverPollEndpoint), before the request is signed.
pub(crate) fn add_json_member(
    req: &mut aws_sdk_ecs::config::http::HttpRequest,
    name: &str,
    value: &str,
) {
    let Some(bytes) = req.body().bytes() else {
        return;
    };
    let Ok(serde_json::Value::Object(mut obj)) = serde_json::from_slice(bytes) else {
        return;
    };
    obj.insert(name.to_owned(), serde_json::Value::String(value.to_owned()));
    let Ok(body) = serde_json::to_vec(&obj) else {
        return;
    };
    req.headers_mut()
        .insert("content-length", body.len().to_string());
    *req.body_mut() = body.into();
}

/// The instance credentials chain (backend-protocol.md §1.1, config-and-lifecycle.md §7.3).
#[allow(deprecated)]
async fn credential_chain(settings: &BackendSettings, region: &Region) -> CredentialsProviderChain {
    let creds = &settings.credentials;
    let mut chain: Option<CredentialsProviderChain> = None;
    let mut push = |name: &'static str, p: Box<dyn ProvideCredentials>| {
        chain = Some(match chain.take() {
            None => CredentialsProviderChain::first_try(name, BoxedProvider(p)),
            Some(c) => c.or_else(name, BoxedProvider(p)),
        });
    };
    if let Some(keys) = &creds.keys {
        push(
            "ecs-config",
            Box::new(Credentials::new(
                keys.access_key_id.clone(),
                keys.secret_access_key.clone(),
                keys.session_token.clone(),
                None,
                "ecs-config",
            )),
        );
    }
    if settings.external {
        push(
            "env",
            Box::new(EnvironmentVariableCredentialsProvider::new()),
        );
        push("rotating-file", Box::new(rotating_file_provider(creds)));
        let mut shared = ProfileFileCredentialsProvider::builder();
        if let Some(path) = &creds.shared_credentials_file {
            shared = shared.profile_files(
                ProfileFiles::builder()
                    .with_file(ProfileFileKind::Credentials, path)
                    .build(),
            );
        }
        if let Some(profile) = &creds.profile {
            shared = shared.profile_name(profile);
        }
        push("shared-file", Box::new(shared.build()));
        if !creds.imds_disabled {
            push("imds", Box::new(ImdsCredentialsProvider::builder().build()));
        }
    } else {
        let mut default = DefaultCredentialsChain::builder().region(region.clone());
        if let Some(profile) = &creds.profile {
            default = default.profile_name(profile);
        }
        push("default", Box::new(default.build().await));
        push("rotating-file", Box::new(rotating_file_provider(creds)));
    }
    chain.unwrap_or_else(|| {
        CredentialsProviderChain::first_try("env", EnvironmentVariableCredentialsProvider::new())
    })
}

#[allow(deprecated)]
fn rotating_file_provider(creds: &CredentialSettings) -> ProfileFileCredentialsProvider {
    ProfileFileCredentialsProvider::builder()
        .profile_files(
            ProfileFiles::builder()
                .with_file(ProfileFileKind::Credentials, &creds.rotating_file)
                .build(),
        )
        .profile_name(&creds.alternate_profile)
        .build()
}

/// Lets providers of different types sit in one chain.
#[derive(Debug)]
struct BoxedProvider(Box<dyn ProvideCredentials>);

impl ProvideCredentials for BoxedProvider {
    fn provide_credentials<'a>(
        &'a self,
    ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        self.0.provide_credentials()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agent_names_the_reference_version_and_os() {
        let ua = user_agent(None);
        assert!(ua.starts_with("Amazon ECS Agent - v1.105.1 ("), "{ua}");
        assert!(
            ua.ends_with(") (linux; LINUX) (+http://aws.amazon.com/ecs/)"),
            "{ua}"
        );
        assert!(user_agent(Some("")).contains(") (linux) (+http"));
        assert!(user_agent(Some("amzn_2023")).contains("(linux; amzn_2023)"));
    }
}
