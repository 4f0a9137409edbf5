//! Task, container, health, resource and managed-agent statuses
//! (task-engine.md §1), with the reference's names and numeric ordering.
//!
//! Known and desired statuses use the same enums; ordering is meaningful
//! ("at least CREATED" is `status >= ContainerStatus::Created`).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A status string that no enum of this module accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unrecognised {kind} status {value:?}")]
pub struct StatusParseError {
    pub kind: &'static str,
    pub value: String,
}

/// The three statuses the ECS API knows (`BackendStatusString`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BackendStatus {
    Pending,
    Running,
    Stopped,
}

impl BackendStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BackendStatus::Pending => "PENDING",
            BackendStatus::Running => "RUNNING",
            BackendStatus::Stopped => "STOPPED",
        }
    }
}

impl fmt::Display for BackendStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `as_str` and `FromStr` for a status whose wire names map one to one to its variants
/// (no legacy aliases), so the two directions cannot drift apart.
macro_rules! wire_names {
    ($ty:ident, $kind:literal, { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name,)+
                }
            }
        }

        impl FromStr for $ty {
            type Err = StatusParseError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($name => Ok($ty::$variant),)+
                    other => Err(StatusParseError {
                        kind: $kind,
                        value: other.to_owned(),
                    }),
                }
            }
        }
    };
}

/// Serialises as the status string; deserialises also from `null`.
macro_rules! string_serde {
    ($ty:ty, $null:expr) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                match Option::<std::borrow::Cow<'de, str>>::deserialize(d)? {
                    None => Ok($null),
                    Some(s) => s.parse().map_err(serde::de::Error::custom),
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// Container status (task-engine.md §1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[repr(u8)]
pub enum ContainerStatus {
    #[default]
    None = 0,
    ManifestPulled = 1,
    Pulled = 2,
    Created = 3,
    Running = 4,
    /// Running with its network namespace configured (pause containers only).
    ResourcesProvisioned = 5,
    Stopped = 6,
    /// Sentinel maximum; never stored.
    Zombie = 7,
}

impl ContainerStatus {
    pub const ALL: [ContainerStatus; 8] = [
        ContainerStatus::None,
        ContainerStatus::ManifestPulled,
        ContainerStatus::Pulled,
        ContainerStatus::Created,
        ContainerStatus::Running,
        ContainerStatus::ResourcesProvisioned,
        ContainerStatus::Stopped,
        ContainerStatus::Zombie,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ContainerStatus::None => "NONE",
            ContainerStatus::ManifestPulled => "MANIFEST_PULLED",
            ContainerStatus::Pulled => "PULLED",
            ContainerStatus::Created => "CREATED",
            ContainerStatus::Running => "RUNNING",
            ContainerStatus::ResourcesProvisioned => "RESOURCES_PROVISIONED",
            ContainerStatus::Stopped => "STOPPED",
            ContainerStatus::Zombie => "ZOMBIE",
        }
    }

    /// The ordinal used by the reference.
    pub fn ordinal(self) -> u8 {
        self as u8
    }

    /// The status one step further, or `None` at the sentinel.
    pub fn next(self) -> Option<ContainerStatus> {
        Self::ALL.get(self as usize + 1).copied()
    }

    /// What the ECS API is told (`BackendStatusString`).
    pub fn backend_status(self) -> BackendStatus {
        match self {
            ContainerStatus::Running => BackendStatus::Running,
            ContainerStatus::Stopped | ContainerStatus::Zombie => BackendStatus::Stopped,
            _ => BackendStatus::Pending,
        }
    }

    /// RUNNING or RESOURCES_PROVISIONED.
    pub fn is_running(self) -> bool {
        matches!(
            self,
            ContainerStatus::Running | ContainerStatus::ResourcesProvisioned
        )
    }

    /// STOPPED (or the sentinel beyond it).
    pub fn is_terminal(self) -> bool {
        self >= ContainerStatus::Stopped
    }
}

impl FromStr for ContainerStatus {
    type Err = StatusParseError;

    /// Accepts the names, the legacy `UNKNOWN` (NONE) and `DEAD` (STOPPED), and the
    /// decimal strings of the numbering before MANIFEST_PULLED existed.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "NONE" | "UNKNOWN" | "0" => ContainerStatus::None,
            "MANIFEST_PULLED" => ContainerStatus::ManifestPulled,
            "PULLED" | "1" => ContainerStatus::Pulled,
            "CREATED" | "2" => ContainerStatus::Created,
            "RUNNING" | "3" => ContainerStatus::Running,
            "RESOURCES_PROVISIONED" | "4" => ContainerStatus::ResourcesProvisioned,
            "STOPPED" | "DEAD" | "5" => ContainerStatus::Stopped,
            "ZOMBIE" | "6" => ContainerStatus::Zombie,
            other => {
                return Err(StatusParseError {
                    kind: "container",
                    value: other.to_owned(),
                });
            }
        })
    }
}

string_serde!(ContainerStatus, ContainerStatus::None);

/// Task status (task-engine.md §1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[repr(u8)]
pub enum TaskStatus {
    #[default]
    None = 0,
    ManifestPulled = 1,
    /// Exists in the reference's enum but is never produced.
    Pulled = 2,
    Created = 3,
    Running = 4,
    Stopped = 5,
    /// Sentinel maximum; never stored.
    Zombie = 6,
}

impl TaskStatus {
    pub const ALL: [TaskStatus; 7] = [
        TaskStatus::None,
        TaskStatus::ManifestPulled,
        TaskStatus::Pulled,
        TaskStatus::Created,
        TaskStatus::Running,
        TaskStatus::Stopped,
        TaskStatus::Zombie,
    ];

    /// The name. The reference prints PULLED as `NONE` (it has no entry in its
    /// name table); we print `PULLED`, which is never produced anyway.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::None => "NONE",
            TaskStatus::ManifestPulled => "MANIFEST_PULLED",
            TaskStatus::Pulled => "PULLED",
            TaskStatus::Created => "CREATED",
            TaskStatus::Running => "RUNNING",
            TaskStatus::Stopped => "STOPPED",
            TaskStatus::Zombie => "ZOMBIE",
        }
    }

    pub fn ordinal(self) -> u8 {
        self as u8
    }

    /// What the ECS API is told (`BackendStatus`).
    pub fn backend_status(self) -> BackendStatus {
        match self {
            TaskStatus::Running => BackendStatus::Running,
            TaskStatus::Stopped | TaskStatus::Zombie => BackendStatus::Stopped,
            _ => BackendStatus::Pending,
        }
    }

    /// RUNNING or STOPPED: the statuses the backend recognises.
    pub fn is_backend_recognised(self) -> bool {
        matches!(self, TaskStatus::Running | TaskStatus::Stopped)
    }

    pub fn is_terminal(self) -> bool {
        self >= TaskStatus::Stopped
    }

    /// The desired status a task's desired status gives its containers
    /// (task-engine.md §1.4 rule 3), for a container whose steady state is `steady`.
    pub fn container_desired(self, steady: ContainerStatus) -> ContainerStatus {
        match self {
            TaskStatus::None => ContainerStatus::None,
            TaskStatus::ManifestPulled => ContainerStatus::ManifestPulled,
            TaskStatus::Pulled => ContainerStatus::Pulled,
            TaskStatus::Created => ContainerStatus::Created,
            TaskStatus::Running => steady,
            TaskStatus::Stopped => ContainerStatus::Stopped,
            TaskStatus::Zombie => ContainerStatus::Zombie,
        }
    }

    /// The task status a container's known status maps to (task-engine.md §1.6),
    /// given the container's steady state; the task is the minimum over containers.
    pub fn from_container(known: ContainerStatus, steady: ContainerStatus) -> TaskStatus {
        let provisioned_steady = steady == ContainerStatus::ResourcesProvisioned;
        match known {
            ContainerStatus::None => TaskStatus::None,
            ContainerStatus::ManifestPulled | ContainerStatus::Pulled => TaskStatus::ManifestPulled,
            ContainerStatus::Created => TaskStatus::Created,
            ContainerStatus::Running if provisioned_steady => TaskStatus::Created,
            ContainerStatus::Running => TaskStatus::Running,
            ContainerStatus::ResourcesProvisioned if provisioned_steady => TaskStatus::Running,
            ContainerStatus::ResourcesProvisioned => TaskStatus::None,
            ContainerStatus::Stopped | ContainerStatus::Zombie => TaskStatus::Stopped,
        }
    }
}

impl FromStr for TaskStatus {
    type Err = StatusParseError;

    /// Accepts the names and the legacy `UNKNOWN` (NONE) and `DEAD` (STOPPED).
    /// `PENDING` is not a task status (it is a backend status) and is rejected,
    /// as the reference rejects it in a task's `desiredStatus`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "NONE" | "UNKNOWN" => TaskStatus::None,
            "MANIFEST_PULLED" => TaskStatus::ManifestPulled,
            "PULLED" => TaskStatus::Pulled,
            "CREATED" => TaskStatus::Created,
            "RUNNING" => TaskStatus::Running,
            "STOPPED" | "DEAD" => TaskStatus::Stopped,
            "ZOMBIE" => TaskStatus::Zombie,
            other => {
                return Err(StatusParseError {
                    kind: "task",
                    value: other.to_owned(),
                });
            }
        })
    }
}

string_serde!(TaskStatus, TaskStatus::None);

/// Container health (task-engine.md §1.3, TCS `HealthStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[repr(u8)]
pub enum HealthStatus {
    #[default]
    Unknown = 0,
    Healthy = 1,
    Unhealthy = 2,
}

wire_names!(HealthStatus, "health", {
    Unknown => "UNKNOWN",
    Healthy => "HEALTHY",
    Unhealthy => "UNHEALTHY",
});

string_serde!(HealthStatus, HealthStatus::Unknown);

/// Status of a task resource (cgroup, volume, secrets, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[repr(u8)]
pub enum ResourceStatus {
    #[default]
    None = 0,
    /// Steady state.
    Created = 1,
    /// Terminal.
    Removed = 2,
}

wire_names!(ResourceStatus, "resource", {
    None => "NONE",
    Created => "CREATED",
    Removed => "REMOVED",
});

string_serde!(ResourceStatus, ResourceStatus::None);

/// Status of a managed agent (ECS Exec).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[repr(u8)]
pub enum ManagedAgentStatus {
    #[default]
    None = 0,
    Created = 1,
    Running = 2,
    Stopped = 3,
}

wire_names!(ManagedAgentStatus, "managed agent", {
    None => "NONE",
    Created => "CREATED",
    Running => "RUNNING",
    Stopped => "STOPPED",
});

impl ManagedAgentStatus {
    pub fn backend_status(self) -> BackendStatus {
        match self {
            ManagedAgentStatus::Running => BackendStatus::Running,
            ManagedAgentStatus::Stopped => BackendStatus::Stopped,
            _ => BackendStatus::Pending,
        }
    }
}

string_serde!(ManagedAgentStatus, ManagedAgentStatus::None);
