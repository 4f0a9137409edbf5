//! Instance metadata (IMDS) as registration uses it (config-and-lifecycle.md §7): the
//! identity document and its signature, the outpost ARN and the instance ID. External
//! hosts and `-blackhole-ec2-metadata` never ask.

use std::time::{Duration, Instant};

use aws_config::imds;

use super::backoff::Backoff;
use super::settings::BackendSettings;

/// How long the identity document and its signature are retried.
const IDENTITY_WINDOW: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct InstanceMetadata {
    /// `None`: blackholed, every read fails at once.
    client: Option<imds::Client>,
    no_iid: bool,
}

impl InstanceMetadata {
    pub fn new(settings: &BackendSettings) -> Self {
        let blackholed = settings.external
            || settings.blackhole_ec2_metadata
            || settings.credentials.imds_disabled;
        let client = (!blackholed).then(|| {
            imds::Client::builder()
                .connect_timeout(Duration::from_millis(250))
                .read_timeout(Duration::from_millis(500))
                .operation_timeout(Duration::from_secs(5))
                .max_attempts(5)
                .build()
        });
        Self {
            client,
            no_iid: settings.no_iid,
        }
    }

    /// A client that fails every read (external hosts, tests).
    pub fn blackholed() -> Self {
        Self {
            client: None,
            no_iid: true,
        }
    }

    /// `/latest/meta-data/<path>` or `/latest/dynamic/<path>` as given; `None` on failure.
    pub async fn get(&self, path: &str) -> Option<String> {
        let client = self.client.as_ref()?;
        match client.get(path).await {
            Ok(v) => Some(String::from(v)).filter(|v| !v.is_empty()),
            Err(e) => {
                tracing::debug!(path, error = %e, "Instance metadata unavailable");
                None
            }
        }
    }

    /// Retried with backoff 100 ms ×2 ≤ 5 s (+20 %) within 30 s.
    async fn get_retrying(&self, path: &str) -> Option<String> {
        self.client.as_ref()?;
        let started = Instant::now();
        let mut backoff =
            Backoff::new(Duration::from_millis(100), Duration::from_secs(5), 2.0, 0.2);
        loop {
            if let Some(v) = self.get(path).await {
                return Some(v);
            }
            let delay = backoff.next_delay();
            if started.elapsed() + delay > IDENTITY_WINDOW {
                return None;
            }
            tokio::time::sleep(delay).await;
        }
    }

    /// The identity document and its signature, both `""` when unavailable or `NoIID`.
    pub async fn identity_document(&self) -> (String, String) {
        if self.no_iid {
            return (String::new(), String::new());
        }
        let Some(document) = self
            .get_retrying("/latest/dynamic/instance-identity/document")
            .await
        else {
            tracing::warn!("Unable to get the instance identity document; registering without it");
            return (String::new(), String::new());
        };
        let signature = self
            .get_retrying("/latest/dynamic/instance-identity/signature")
            .await
            .unwrap_or_default();
        (document, signature)
    }

    pub async fn outpost_arn(&self) -> Option<String> {
        self.get("/latest/meta-data/outpost-arn").await
    }

    pub async fn instance_id(&self) -> Option<String> {
        self.get("/latest/meta-data/instance-id").await
    }
}
