//! The configuration as other parts of the agent use it: through the public API only,
//! with real files on disk.

use std::collections::BTreeMap;
use std::time::Duration;

use ecs_agent::config::{
    self, ConfigError, ConfigInput, HostFacts, ImagePullBehavior, PortRange, Source,
};

fn host() -> HostFacts {
    HostFacts {
        detailed_os_family: "debian_12".to_owned(),
        ssl_cert_dir_exists: false,
        ebs_mount_dir_exists: false,
        ip_local_port_range: Some(PortRange {
            start: 32768,
            end: 60999,
        }),
    }
}

#[test]
fn a_standard_host_layout_loads_and_prints() {
    let dir = tempfile::tempdir().unwrap();
    let instance = dir.path().join("var-lib-ecs.config");
    let user = dir.path().join("etc-ecs.config");
    let json = dir.path().join("ecs.config.json");
    std::fs::write(&instance, "ECS_ENABLE_GPU_SUPPORT=true\nECS_CLUSTER=ami\n").unwrap();
    std::fs::write(
        &user,
        "# written by user data\nECS_CLUSTER=prod\nECS_IMAGE_PULL_BEHAVIOR=once\nECS_ENGINE_AUTH_TYPE=docker\nECS_ENGINE_AUTH_DATA={\"https://index.docker.io/v1/\":{\"username\":\"u\",\"password\":\"pa55word\"}}\n",
    )
    .unwrap();
    std::fs::write(&json, r#"{"TaskCleanupWaitDuration": 600000000000}"#).unwrap();
    let input = ConfigInput {
        env: BTreeMap::from([
            ("AWS_DEFAULT_REGION".to_owned(), "eu-west-1".to_owned()),
            ("ECS_LOGLEVEL".to_owned(), "debug".to_owned()),
        ]),
        ecs_config_files: vec![instance, user],
        json_file: Some(json),
    };
    let loaded = config::load_with(&input, &host(), None).unwrap();
    let c = &loaded.config;
    assert_eq!(c.cluster_name(), "prod");
    assert_eq!(c.region().unwrap(), "eu-west-1");
    assert!(c.gpu_support_enabled);
    assert_eq!(c.image_pull_behavior, ImagePullBehavior::Once);
    assert_eq!(c.task_cleanup_wait, Duration::from_secs(600));
    assert_eq!(c.container_stop_timeout, Duration::from_secs(30));
    assert!(
        !c.ebs_task_attach_supported,
        "forced off without /mnt/ecs/ebs"
    );
    assert!(
        c.engine_auth_data
            .as_ref()
            .unwrap()
            .expose()
            .contains("pa55word")
    );
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);

    let text = config::render_effective(&loaded);
    assert!(text.contains("ECS_CLUSTER=prod (file)\n"), "{text}");
    assert!(text.contains("ECS_LOGLEVEL=debug (env)\n"), "{text}");
    assert!(
        text.contains("ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION=10m (json)\n"),
        "{text}"
    );
    assert!(
        text.contains("ECS_ENGINE_AUTH_DATA=<redacted> (file)\n"),
        "{text}"
    );
    assert!(!text.contains("pa55word"));
    assert!(!format!("{c:?}").contains("pa55word"));
    assert_eq!(loaded.setting("ECS_CLUSTER").unwrap().source, Source::File);
}

#[test]
fn load_probes_the_real_host_and_reports_errors_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("config.json");
    std::fs::write(&json, "{not json").unwrap();
    let input = ConfigInput {
        env: BTreeMap::new(),
        ecs_config_files: Vec::new(),
        json_file: Some(json.clone()),
    };
    match config::load(&input) {
        Err(err @ ConfigError::JsonFile { .. }) => {
            assert!(
                err.to_string().contains(&json.display().to_string()),
                "{err}"
            )
        }
        other => panic!("expected a JSON file error, got {other:?}"),
    }
    std::fs::write(&json, "{}").unwrap();
    let loaded = config::load(&input).unwrap();
    assert!(!loaded.settings.is_empty());
}
