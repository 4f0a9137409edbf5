//! Amazon Resource Names: the generic `arn:partition:service:region:account:resource`
//! form ([`Arn`]) and the ECS resources the agent and ecs-local pass around
//! ([`EcsArn`]: clusters, container instances, tasks, containers, task
//! definitions, services).

use std::fmt;
use std::str::FromStr;

/// Why a string is not the ARN expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArnError {
    #[error("not an ARN (no \"arn:\" prefix): {0:?}")]
    MissingPrefix(String),
    #[error("not an ARN (expected 6 ':'-separated sections): {0:?}")]
    MissingSections(String),
    #[error("ARN has an empty {field}: {arn:?}")]
    EmptyField { field: &'static str, arn: String },
    #[error("not an ECS ARN (service {service:?}): {arn:?}")]
    NotEcs { service: String, arn: String },
    #[error("ECS ARN resource {resource:?} is not a {expected} resource")]
    WrongResourceType {
        expected: &'static str,
        resource: String,
    },
    #[error("malformed ECS {kind} resource {resource:?}")]
    MalformedResource {
        kind: &'static str,
        resource: String,
    },
}

/// A parsed ARN. Like the reference (Go's `arn.Parse`) only the prefix and the
/// number of sections are checked; the resource may itself contain `:`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Arn {
    pub partition: String,
    pub service: String,
    pub region: String,
    pub account_id: String,
    pub resource: String,
}

impl FromStr for Arn {
    type Err = ArnError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rest = s
            .strip_prefix("arn:")
            .ok_or_else(|| ArnError::MissingPrefix(s.to_owned()))?;
        let mut parts = rest.splitn(5, ':');
        let (Some(partition), Some(service), Some(region), Some(account_id), Some(resource)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(ArnError::MissingSections(s.to_owned()));
        };
        Ok(Arn {
            partition: partition.to_owned(),
            service: service.to_owned(),
            region: region.to_owned(),
            account_id: account_id.to_owned(),
            resource: resource.to_owned(),
        })
    }
}

impl fmt::Display for Arn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:{}:{}:{}:{}:{}",
            self.partition, self.service, self.region, self.account_id, self.resource
        )
    }
}

/// The resource part of an ECS ARN. `cluster` is `None` in the old ARN format
/// that had no cluster segment (e.g. `task/<id>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EcsResource {
    Cluster {
        name: String,
    },
    ContainerInstance {
        cluster: Option<String>,
        id: String,
    },
    Task {
        cluster: Option<String>,
        id: String,
    },
    /// `container/<cluster>/<task id>/<container id>` or `container/<container id>`.
    Container {
        cluster: Option<String>,
        task_id: Option<String>,
        id: String,
    },
    TaskDefinition {
        family: String,
        revision: u32,
    },
    Service {
        cluster: Option<String>,
        name: String,
    },
}

impl EcsResource {
    /// The resource type word, e.g. `container-instance`.
    pub fn kind(&self) -> &'static str {
        match self {
            EcsResource::Cluster { .. } => "cluster",
            EcsResource::ContainerInstance { .. } => "container-instance",
            EcsResource::Task { .. } => "task",
            EcsResource::Container { .. } => "container",
            EcsResource::TaskDefinition { .. } => "task-definition",
            EcsResource::Service { .. } => "service",
        }
    }

    fn parse(resource: &str) -> Result<Self, ArnError> {
        let malformed = |kind| ArnError::MalformedResource {
            kind,
            resource: resource.to_owned(),
        };
        let (kind, rest) = resource
            .split_once('/')
            .ok_or_else(|| malformed("resource"))?;
        let segments: Vec<&str> = rest.split('/').collect();
        if segments.iter().any(|s| s.is_empty()) {
            return Err(malformed(static_kind(kind)));
        }
        let owned = |s: &str| s.to_owned();
        Ok(match (kind, segments.as_slice()) {
            ("cluster", [name]) => EcsResource::Cluster { name: owned(name) },
            ("container-instance", [id]) => EcsResource::ContainerInstance {
                cluster: None,
                id: owned(id),
            },
            ("container-instance", [cluster, id]) => EcsResource::ContainerInstance {
                cluster: Some(owned(cluster)),
                id: owned(id),
            },
            ("task", [id]) => EcsResource::Task {
                cluster: None,
                id: owned(id),
            },
            ("task", [cluster, id]) => EcsResource::Task {
                cluster: Some(owned(cluster)),
                id: owned(id),
            },
            ("container", [id]) => EcsResource::Container {
                cluster: None,
                task_id: None,
                id: owned(id),
            },
            ("container", [cluster, task_id, id]) => EcsResource::Container {
                cluster: Some(owned(cluster)),
                task_id: Some(owned(task_id)),
                id: owned(id),
            },
            ("task-definition", [family_rev]) => {
                let (family, revision) = family_rev
                    .rsplit_once(':')
                    .ok_or_else(|| malformed("task-definition"))?;
                let revision = revision
                    .parse::<u32>()
                    .ok()
                    .filter(|r| *r > 0 && !family.is_empty())
                    .ok_or_else(|| malformed("task-definition"))?;
                EcsResource::TaskDefinition {
                    family: owned(family),
                    revision,
                }
            }
            ("service", [name]) => EcsResource::Service {
                cluster: None,
                name: owned(name),
            },
            ("service", [cluster, name]) => EcsResource::Service {
                cluster: Some(owned(cluster)),
                name: owned(name),
            },
            (kind, _) => return Err(malformed(static_kind(kind))),
        })
    }
}

fn static_kind(kind: &str) -> &'static str {
    match kind {
        "cluster" => "cluster",
        "container-instance" => "container-instance",
        "task" => "task",
        "container" => "container",
        "task-definition" => "task-definition",
        "service" => "service",
        _ => "resource",
    }
}

impl fmt::Display for EcsResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = self.kind();
        match self {
            EcsResource::Cluster { name } => write!(f, "{kind}/{name}"),
            EcsResource::ContainerInstance { cluster, id } | EcsResource::Task { cluster, id } => {
                match cluster {
                    Some(c) => write!(f, "{kind}/{c}/{id}"),
                    None => write!(f, "{kind}/{id}"),
                }
            }
            EcsResource::Container {
                cluster,
                task_id,
                id,
            } => match (cluster, task_id) {
                (Some(c), Some(t)) => write!(f, "{kind}/{c}/{t}/{id}"),
                _ => write!(f, "{kind}/{id}"),
            },
            EcsResource::TaskDefinition { family, revision } => {
                write!(f, "{kind}/{family}:{revision}")
            }
            EcsResource::Service { cluster, name } => match cluster {
                Some(c) => write!(f, "{kind}/{c}/{name}"),
                None => write!(f, "{kind}/{name}"),
            },
        }
    }
}

/// An ECS ARN with its resource parsed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EcsArn {
    pub partition: String,
    pub region: String,
    pub account_id: String,
    pub resource: EcsResource,
}

impl EcsArn {
    /// `arn:aws:ecs:<region>:<account>:<resource>`.
    pub fn new(
        region: impl Into<String>,
        account_id: impl Into<String>,
        resource: EcsResource,
    ) -> Self {
        EcsArn {
            partition: "aws".to_owned(),
            region: region.into(),
            account_id: account_id.into(),
            resource,
        }
    }

    pub fn cluster(region: &str, account_id: &str, name: &str) -> Self {
        Self::new(
            region,
            account_id,
            EcsResource::Cluster {
                name: name.to_owned(),
            },
        )
    }

    pub fn container_instance(region: &str, account_id: &str, cluster: &str, id: &str) -> Self {
        Self::new(
            region,
            account_id,
            EcsResource::ContainerInstance {
                cluster: Some(cluster.to_owned()),
                id: id.to_owned(),
            },
        )
    }

    pub fn task(region: &str, account_id: &str, cluster: &str, id: &str) -> Self {
        Self::new(
            region,
            account_id,
            EcsResource::Task {
                cluster: Some(cluster.to_owned()),
                id: id.to_owned(),
            },
        )
    }

    pub fn container(
        region: &str,
        account_id: &str,
        cluster: &str,
        task_id: &str,
        id: &str,
    ) -> Self {
        Self::new(
            region,
            account_id,
            EcsResource::Container {
                cluster: Some(cluster.to_owned()),
                task_id: Some(task_id.to_owned()),
                id: id.to_owned(),
            },
        )
    }

    pub fn task_definition(region: &str, account_id: &str, family: &str, revision: u32) -> Self {
        Self::new(
            region,
            account_id,
            EcsResource::TaskDefinition {
                family: family.to_owned(),
                revision,
            },
        )
    }

    /// Parses and checks that the resource is of the `expected` kind.
    pub fn parse_kind(s: &str, expected: &'static str) -> Result<Self, ArnError> {
        let arn: EcsArn = s.parse()?;
        if arn.resource.kind() != expected {
            return Err(ArnError::WrongResourceType {
                expected,
                resource: arn.resource.to_string(),
            });
        }
        Ok(arn)
    }

    /// The resource's own ID or name: task ID, container instance ID, cluster
    /// name, service name, `family:revision` of a task definition.
    pub fn id(&self) -> String {
        match &self.resource {
            EcsResource::Cluster { name } | EcsResource::Service { name, .. } => name.clone(),
            EcsResource::ContainerInstance { id, .. }
            | EcsResource::Task { id, .. }
            | EcsResource::Container { id, .. } => id.clone(),
            EcsResource::TaskDefinition { family, revision } => format!("{family}:{revision}"),
        }
    }

    /// The cluster name the resource names, if any.
    pub fn cluster_name(&self) -> Option<&str> {
        match &self.resource {
            EcsResource::Cluster { name } => Some(name),
            EcsResource::ContainerInstance { cluster, .. }
            | EcsResource::Task { cluster, .. }
            | EcsResource::Container { cluster, .. }
            | EcsResource::Service { cluster, .. } => cluster.as_deref(),
            EcsResource::TaskDefinition { .. } => None,
        }
    }
}

impl FromStr for EcsArn {
    type Err = ArnError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let arn: Arn = s.parse()?;
        if arn.service != "ecs" {
            return Err(ArnError::NotEcs {
                service: arn.service,
                arn: s.to_owned(),
            });
        }
        for (field, value) in [
            ("partition", &arn.partition),
            ("region", &arn.region),
            ("account ID", &arn.account_id),
        ] {
            if value.is_empty() {
                return Err(ArnError::EmptyField {
                    field,
                    arn: s.to_owned(),
                });
            }
        }
        Ok(EcsArn {
            resource: EcsResource::parse(&arn.resource)?,
            partition: arn.partition,
            region: arn.region,
            account_id: arn.account_id,
        })
    }
}

impl fmt::Display for EcsArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:{}:ecs:{}:{}:{}",
            self.partition, self.region, self.account_id, self.resource
        )
    }
}

impl serde::Serialize for EcsArn {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for EcsArn {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The task ID as the reference derives it (backend-protocol.md §4.2): the ARN
/// must parse and its resource must contain `/`; the ID is what follows the last
/// `/`. Works for any service and resource type, as the reference's does.
pub fn task_id_from_arn(task_arn: &str) -> Result<&str, ArnError> {
    let arn: Arn = task_arn.parse()?;
    let resource_start = task_arn.len() - arn.resource.len();
    let resource = &task_arn[resource_start..];
    match resource.rsplit_once('/') {
        Some((_, id)) if !id.is_empty() => Ok(id),
        _ => Err(ArnError::MalformedResource {
            kind: "task",
            resource: resource.to_owned(),
        }),
    }
}
