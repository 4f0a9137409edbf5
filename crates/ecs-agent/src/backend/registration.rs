//! RegisterContainerInstance: first registration, re-registration with the saved ARN,
//! the `default`-cluster path, retries and the attribute echo check
//! (config-and-lifecycle.md §3, backend-protocol.md §2.3).

use std::time::{Duration, Instant};

use aws_sdk_ecs::types::{Attribute as SdkAttribute, Resource, Tag};

use super::backoff::Backoff;
use super::capabilities::{Attribute, HostFacts, registration_attributes, resources};
use super::client::EcsClient;
use super::error::{ApiError, RegistrationError};
use super::imds::InstanceMetadata;
use super::settings::BackendSettings;
use crate::store::{InstanceIdentity, SavedState, Store};

/// How long transient registration errors are retried.
const RETRY_WINDOW: Duration = Duration::from_secs(3600);

/// The outcome of a successful registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    pub container_instance_arn: String,
    /// The cluster registered into (`default` when none is configured).
    pub cluster: String,
    /// `ecs.availability-zone` from the response, if any.
    pub availability_zone: Option<String>,
}

/// Registration with a chosen retry policy (tests shorten it).
#[derive(Debug, Clone)]
pub struct Registrar {
    pub client: EcsClient,
    pub settings: BackendSettings,
    pub host: HostFacts,
    pub backoff: Backoff,
    pub retry_window: Duration,
    pub metadata: InstanceMetadata,
}

impl Registrar {
    pub fn new(client: EcsClient, settings: BackendSettings, host: HostFacts) -> Self {
        let metadata = InstanceMetadata::new(&settings);
        Self {
            client,
            settings,
            host,
            metadata,
            backoff: Backoff::registration(),
            retry_window: RETRY_WINDOW,
        }
    }

    /// Registers (or re-registers with `saved_arn`), classifying failures per §3.7.
    pub async fn register(&self, saved_arn: Option<&str>) -> Result<Registered, RegistrationError> {
        let reregistering = saved_arn.is_some();
        if let Err(e) = self.client.credentials().await {
            tracing::warn!(error = %e, "Unable to get instance credentials before registration");
        }
        let resources = resources(&self.host, &self.settings)
            .map_err(|e| RegistrationError::Retriable(e.to_string()))?;
        let mut attributes = registration_attributes(&self.host, &self.settings, !reregistering);
        if let Some(outpost) = self.metadata.outpost_arn().await {
            attributes.push(Attribute::valued("ecs.outpost-arn", outpost));
        }
        let (document, signature) = self.metadata.identity_document().await;
        let request = Request {
            document,
            signature,
            arn: saved_arn,
            attributes: &attributes,
            resources: &resources,
            tags: &self.settings.instance_tags,
            client_token: uuid::Uuid::new_v4().to_string(),
        };
        let mut cluster = self.settings.cluster_name().to_owned();
        let result = match self.register_with_retries(&cluster, &request).await {
            Err(e) if self.settings.cluster.is_empty() && cluster_not_found(&e) => {
                tracing::info!("Default cluster not found; creating it");
                let created = self
                    .client
                    .sdk()
                    .create_cluster()
                    .cluster_name(crate::config::DEFAULT_CLUSTER)
                    .send()
                    .await
                    .map_err(|e| {
                        RegistrationError::Retriable(
                            ApiError::from_sdk("CreateCluster", e).to_string(),
                        )
                    })?;
                let name = created
                    .cluster()
                    .and_then(|c| c.cluster_name())
                    .unwrap_or(crate::config::DEFAULT_CLUSTER)
                    .to_owned();
                cluster = name;
                self.register_with_retries(&cluster, &request).await
            }
            other => other,
        };
        let (arn, echoed) = result.map_err(|e| RegistrationError::classify(&e, reregistering))?;
        if let Some(missing) = first_mismatch(&attributes, &echoed) {
            let mut text = format!("Attribute validation failed: {missing}");
            if !self.settings.instance_attributes.is_empty() {
                text.push_str(
                    "; check ECS_INSTANCE_ATTRIBUTES against https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-placement-constraints.html#attributes",
                );
            }
            return Err(RegistrationError::Terminal(text));
        }
        let availability_zone = echoed
            .iter()
            .find(|a| a.name == "ecs.availability-zone")
            .and_then(|a| a.value.clone());
        // On re-registration the reference keeps the ARN it sent.
        let container_instance_arn = saved_arn.map(str::to_owned).unwrap_or(arn);
        tracing::info!(
            instanceArn = %container_instance_arn,
            cluster = %cluster,
            "Instance registration completed successfully"
        );
        Ok(Registered {
            container_instance_arn,
            cluster,
            availability_zone,
        })
    }

    async fn register_with_retries(
        &self,
        cluster: &str,
        request: &Request<'_>,
    ) -> Result<(String, Vec<Attribute>), ApiError> {
        let started = Instant::now();
        let mut backoff = self.backoff.clone();
        loop {
            match self.register_once(cluster, request).await {
                Ok(done) => return Ok(done),
                Err(e) if e.is_transient() => {
                    let delay = backoff.next_delay();
                    if started.elapsed() + delay > self.retry_window {
                        return Err(e);
                    }
                    tracing::warn!(error = %e, ?delay, "Transient registration error; retrying");
                    tokio::time::sleep(delay).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn register_once(
        &self,
        cluster: &str,
        request: &Request<'_>,
    ) -> Result<(String, Vec<Attribute>), ApiError> {
        const OP: &str = "RegisterContainerInstance";
        let sdk_attributes = request
            .attributes
            .iter()
            .map(|a| {
                SdkAttribute::builder()
                    .name(&a.name)
                    .set_value(a.value.clone())
                    .build()
                    .map_err(|e| ApiError::new(OP, None, e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let r = request.resources;
        let total_resources = vec![
            Resource::builder()
                .name("CPU")
                .r#type("INTEGER")
                .integer_value(r.cpu.clamp(0, i32::MAX as i64) as i32)
                .build(),
            Resource::builder()
                .name("MEMORY")
                .r#type("INTEGER")
                .integer_value(r.memory_mib.clamp(0, i32::MAX as i64) as i32)
                .build(),
            Resource::builder()
                .name("PORTS")
                .r#type("STRINGSET")
                .set_string_set_value(Some(r.ports_tcp.clone()))
                .build(),
            Resource::builder()
                .name("PORTS_UDP")
                .r#type("STRINGSET")
                .set_string_set_value(Some(r.ports_udp.clone()))
                .build(),
        ];
        let tags: Vec<Tag> = request
            .tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        let client_token = request.client_token.clone();
        let out = self
            .client
            .sdk()
            .register_container_instance()
            .cluster(cluster)
            .set_container_instance_arn(request.arn.map(str::to_owned))
            // Always present: "" on external and NoIID hosts or when IMDS has none.
            .instance_identity_document(&request.document)
            .instance_identity_document_signature(&request.signature)
            .set_attributes(Some(sdk_attributes))
            .set_total_resources(Some(total_resources))
            .set_tags((!tags.is_empty()).then_some(tags))
            // Not in the SDK's model, but the reference sends it (reused across retries).
            .customize()
            .mutate_request(move |req| {
                super::client::add_json_member(req, "clientToken", &client_token)
            })
            .send()
            .await
            .map_err(|e| ApiError::from_sdk(OP, e))?;
        let instance = out
            .container_instance()
            .ok_or_else(|| ApiError::new(OP, None, "response carries no containerInstance"))?;
        let arn = instance
            .container_instance_arn()
            .filter(|a| !a.is_empty())
            .ok_or_else(|| ApiError::new(OP, None, "response carries no containerInstanceArn"))?
            .to_owned();
        let echoed = instance
            .attributes()
            .iter()
            .map(|a| Attribute {
                name: a.name().to_owned(),
                value: a.value().map(str::to_owned),
            })
            .collect();
        Ok((arn, echoed))
    }
}

struct Request<'a> {
    document: String,
    signature: String,
    arn: Option<&'a str>,
    attributes: &'a [Attribute],
    resources: &'a super::capabilities::Resources,
    tags: &'a std::collections::BTreeMap<String, String>,
    client_token: String,
}

fn cluster_not_found(e: &ApiError) -> bool {
    e.has_code("ClusterNotFoundException") || e.message.contains("Cluster not found.")
}

/// The first sent attribute not echoed with the same value (absent value ≡ "").
fn first_mismatch(sent: &[Attribute], echoed: &[Attribute]) -> Option<String> {
    sent.iter()
        .find(|s| {
            !echoed.iter().any(|e| {
                e.name == s.name
                    && e.value.as_deref().unwrap_or("") == s.value.as_deref().unwrap_or("")
            })
        })
        .map(|s| s.name.clone())
}

/// Start-up step 21 with the store: re-register with the saved ARN when the saved
/// state may be used, else register anew; then save the identity (§4, step 24).
pub async fn register_with_store(
    registrar: &Registrar,
    store: Option<&Store>,
    ec2_instance_id: Option<&str>,
) -> Result<Registered, RegistrationError> {
    let saved = match store {
        Some(store) => store
            .check_saved_identity(ec2_instance_id, &registrar.settings.cluster)
            .map_err(|e| RegistrationError::Terminal(e.to_string()))?,
        None => SavedState::Fresh,
    };
    let saved_arn = match &saved {
        SavedState::Restore(identity) if !identity.container_instance_arn.is_empty() => {
            tracing::info!(
                containerInstanceArn = %identity.container_instance_arn,
                "Restored from checkpoint file"
            );
            Some(identity.container_instance_arn.clone())
        }
        _ => None,
    };
    let registered = registrar.register(saved_arn.as_deref()).await?;
    if let Some(store) = store {
        let identity = InstanceIdentity {
            cluster: registered.cluster.clone(),
            container_instance_arn: registered.container_instance_arn.clone(),
            ec2_instance_id: ec2_instance_id.unwrap_or_default().to_owned(),
            agent_version: crate::version::AGENT_VERSION.to_owned(),
            availability_zone: registered.availability_zone.clone().unwrap_or_default(),
        };
        if let Err(e) = store.save_identity(&identity) {
            tracing::error!(error = %e, "Unable to save the instance identity");
        }
    }
    Ok(registered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_check_treats_absent_value_as_empty() {
        let sent = vec![Attribute::flag("a"), Attribute::valued("b", "1")];
        let echoed = vec![Attribute::valued("a", ""), Attribute::valued("b", "1")];
        assert_eq!(first_mismatch(&sent, &echoed), None);
        let wrong = vec![Attribute::flag("a"), Attribute::valued("b", "2")];
        assert_eq!(first_mismatch(&sent, &wrong).as_deref(), Some("b"));
    }
}
