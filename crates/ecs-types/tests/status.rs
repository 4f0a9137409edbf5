//! Status enums: ordering, names, legacy forms, derived statuses.

use ecs_types::status::{BackendStatus, ManagedAgentStatus, ResourceStatus, StatusParseError};
use ecs_types::{ContainerStatus, HealthStatus, TaskStatus};

#[test]
fn container_statuses_are_ordered_and_named_as_the_reference() {
    let names: Vec<_> = ContainerStatus::ALL.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        names,
        [
            "NONE",
            "MANIFEST_PULLED",
            "PULLED",
            "CREATED",
            "RUNNING",
            "RESOURCES_PROVISIONED",
            "STOPPED",
            "ZOMBIE"
        ]
    );
    for (i, s) in ContainerStatus::ALL.iter().enumerate() {
        assert_eq!(usize::from(s.ordinal()), i);
        assert_eq!(s.to_string().parse::<ContainerStatus>().unwrap(), *s);
    }
    assert!(ContainerStatus::ALL.windows(2).all(|w| w[0] < w[1]));
    assert!(ContainerStatus::Running >= ContainerStatus::Created);
    assert_eq!(
        ContainerStatus::Created.next(),
        Some(ContainerStatus::Running)
    );
    assert_eq!(ContainerStatus::Zombie.next(), None);
    assert!(ContainerStatus::ResourcesProvisioned.is_running());
    assert!(!ContainerStatus::Created.is_running());
    assert!(ContainerStatus::Stopped.is_terminal());
}

#[test]
fn container_status_accepts_legacy_forms() {
    let parse = |s: &str| s.parse::<ContainerStatus>().unwrap();
    assert_eq!(parse("UNKNOWN"), ContainerStatus::None);
    assert_eq!(parse("DEAD"), ContainerStatus::Stopped);
    // The numbering before MANIFEST_PULLED existed.
    assert_eq!(parse("0"), ContainerStatus::None);
    assert_eq!(parse("1"), ContainerStatus::Pulled);
    assert_eq!(parse("3"), ContainerStatus::Running);
    assert_eq!(parse("5"), ContainerStatus::Stopped);
    assert_eq!(
        serde_json::from_str::<ContainerStatus>("null").unwrap(),
        ContainerStatus::None
    );
    assert_eq!(
        serde_json::to_string(&ContainerStatus::ManifestPulled).unwrap(),
        "\"MANIFEST_PULLED\""
    );
    assert_eq!(
        "BOGUS".parse::<ContainerStatus>().unwrap_err(),
        StatusParseError {
            kind: "container",
            value: "BOGUS".into()
        }
    );
    assert!(serde_json::from_str::<ContainerStatus>("\"7\"").is_err());
}

#[test]
fn backend_strings() {
    use BackendStatus::*;
    let c: Vec<_> = ContainerStatus::ALL[..7]
        .iter()
        .map(|s| s.backend_status())
        .collect();
    assert_eq!(
        c,
        [
            Pending, Pending, Pending, Pending, Running, Pending, Stopped
        ]
    );
    let t: Vec<_> = TaskStatus::ALL[..6]
        .iter()
        .map(|s| s.backend_status())
        .collect();
    assert_eq!(t, [Pending, Pending, Pending, Pending, Running, Stopped]);
    assert_eq!(Pending.to_string(), "PENDING");
    assert_eq!(ManagedAgentStatus::Created.backend_status(), Pending);
    assert_eq!(ManagedAgentStatus::Running.backend_status(), Running);
}

#[test]
fn task_statuses_are_ordered_and_parse_like_the_reference() {
    assert!(TaskStatus::ALL.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(TaskStatus::Running.ordinal(), 4);
    assert_eq!(TaskStatus::Stopped.ordinal(), 5);
    for s in TaskStatus::ALL {
        assert_eq!(s.to_string().parse::<TaskStatus>().unwrap(), s);
    }
    assert_eq!("UNKNOWN".parse::<TaskStatus>().unwrap(), TaskStatus::None);
    assert_eq!("DEAD".parse::<TaskStatus>().unwrap(), TaskStatus::Stopped);
    // PENDING is a backend status, not a task status: an invalid desired status.
    assert!("PENDING".parse::<TaskStatus>().is_err());
    assert_eq!(
        serde_json::from_str::<TaskStatus>("null").unwrap(),
        TaskStatus::None
    );
    assert!(TaskStatus::Running.is_backend_recognised());
    assert!(!TaskStatus::Created.is_backend_recognised());
}

#[test]
fn task_status_from_containers_follows_the_table() {
    use ContainerStatus as C;
    use TaskStatus as T;
    let steady = C::Running;
    let pause = C::ResourcesProvisioned;
    let rows = [
        (C::None, T::None, T::None),
        (C::ManifestPulled, T::ManifestPulled, T::ManifestPulled),
        (C::Pulled, T::ManifestPulled, T::ManifestPulled),
        (C::Created, T::Created, T::Created),
        (C::Running, T::Running, T::Created),
        (C::ResourcesProvisioned, T::None, T::Running),
        (C::Stopped, T::Stopped, T::Stopped),
    ];
    for (known, normal, paused) in rows {
        assert_eq!(T::from_container(known, steady), normal, "{known}");
        assert_eq!(T::from_container(known, pause), paused, "{known}");
    }
    assert_eq!(T::Running.container_desired(pause), pause);
    assert_eq!(T::Running.container_desired(steady), steady);
    assert_eq!(T::Stopped.container_desired(steady), C::Stopped);
}

#[test]
fn health_resource_and_managed_agent_statuses() {
    assert!(HealthStatus::Unknown < HealthStatus::Healthy);
    assert!(HealthStatus::Healthy < HealthStatus::Unhealthy);
    assert_eq!(HealthStatus::default(), HealthStatus::Unknown);
    assert_eq!(
        serde_json::to_string(&HealthStatus::Unhealthy).unwrap(),
        "\"UNHEALTHY\""
    );
    assert_eq!(
        "HEALTHY".parse::<HealthStatus>().unwrap(),
        HealthStatus::Healthy
    );
    assert!("healthy".parse::<HealthStatus>().is_err());

    assert!(ResourceStatus::None < ResourceStatus::Created);
    assert!(ResourceStatus::Created < ResourceStatus::Removed);
    assert_eq!(
        "REMOVED".parse::<ResourceStatus>().unwrap(),
        ResourceStatus::Removed
    );
    assert_eq!(ManagedAgentStatus::Stopped.to_string(), "STOPPED");
    assert_eq!(
        "CREATED".parse::<ManagedAgentStatus>().unwrap(),
        ManagedAgentStatus::Created
    );
}
