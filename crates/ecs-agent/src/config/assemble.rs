//! Fills [`Config`] from the layers, one variable at a time, applying the parse-time
//! rules of spec §1.7 (groups A–D here, the rest in `assemble_features`). Each group
//! function writes its values straight into the `Config` it is given.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::Source;
use super::error::ConfigError;
use super::host::HostFacts;
use super::model::{
    Config, EngineAuthType, ImagePullBehavior, PortRange, PropagateTagsFrom, Secret,
};
use super::parse::{self, ArrayError, format_duration, format_nanos, nanos_to_duration};
use super::resolve::Resolver;

pub const SECOND: i64 = 1_000_000_000;
pub const MINUTE: i64 = 60 * SECOND;
pub const HOUR: i64 = 60 * MINUTE;

pub const DEFAULT_RESERVED_PORTS: [u16; 5] = [22, 2375, 2376, 51678, 51679];

/// Identity, endpoints and files (spec §1.7 A).
pub fn identity(
    r: &mut Resolver<'_>,
    c: &mut Config,
    json_path: &std::path::Path,
    json_path_source: Source,
) {
    c.cluster = r
        .string("ECS_CLUSTER", Some("Cluster"), true)
        .unwrap_or_default();
    if let Some((arn, source)) = r.json_string("ClusterArn")
        && c.cluster.is_empty()
    {
        r.warn(
            "ECS_CLUSTER",
            arn.clone(),
            "taken from the deprecated JSON key ClusterArn; use Cluster",
        );
        r.set_source("ECS_CLUSTER", source);
        c.cluster = arn.trim().to_owned();
    }

    c.external = r.tri_or("ECS_EXTERNAL", "External", false);
    let env_region = r
        .env_raw("AWS_DEFAULT_REGION")
        .map(|(v, _)| v.trim().to_owned())
        .filter(|v| !v.is_empty());
    // The reference checks this on the environment alone, before the JSON file is read.
    let external_from_env = matches!(
        r.sources.get("ECS_EXTERNAL"),
        Some(Source::Env | Source::File | Source::Default)
    );
    if c.external && external_from_env && env_region.is_none() {
        r.fatal(ConfigError::MissingExternalRegion);
    }
    c.aws_region = r.string("AWS_DEFAULT_REGION", Some("AWSRegion"), true);

    c.backend_host = r
        .string("ECS_BACKEND_HOST", Some("APIEndpoint"), true)
        .map(|host| {
            if host.starts_with("http://") || host.starts_with("https://") {
                host
            } else {
                format!("https://{host}")
            }
        });
    c.docker_host = r
        .string("DOCKER_HOST", Some("DockerEndpoint"), false)
        .unwrap_or_else(|| "unix:///var/run/docker.sock".to_owned());

    r.env_raw("ECS_AGENT_CONFIG_FILE_PATH");
    r.set_source("ECS_AGENT_CONFIG_FILE_PATH", json_path_source);
    c.agent_config_file_path = json_path.to_owned();

    // A native agent keeps its state on the host path ecs-init mounts as /data.
    c.data_dir = PathBuf::from(
        r.string("ECS_DATADIR", Some("DataDir"), false)
            .unwrap_or_else(|| "/var/lib/ecs/data".to_owned()),
    );
    let checkpoint_json = r.json_tri("Checkpoint");
    let checkpoint_env = r.env_tri("ECS_CHECKPOINT").or_else(|| {
        // A non-empty ECS_DATADIR in the environment switches checkpointing on (and so
        // keeps the JSON file from switching it off), unless ECS_CHECKPOINT is valid.
        r.env_nonempty("ECS_DATADIR")
            .map(|(_, source)| (true, source))
    });
    c.checkpoint = r
        .pick("ECS_CHECKPOINT", checkpoint_env, checkpoint_json)
        .unwrap_or(false);

    c.host_data_dir = PathBuf::from(
        r.string("ECS_HOST_DATA_DIR", Some("DataDirOnHost"), false)
            .unwrap_or_else(|| "/var/lib/ecs".to_owned()),
    );
    c.updates_enabled = r.tri_or("ECS_UPDATES_ENABLED", "UpdatesEnabled", false);
    c.update_download_dir = r
        .string("ECS_UPDATE_DOWNLOAD_DIR", Some("UpdateDownloadDir"), false)
        .map(PathBuf::from);
    // Set-but-empty is meaningful here (the attribute is then omitted).
    c.detailed_os_family = r.env_raw("ECS_DETAILED_OS_FAMILY").map(|(v, source)| {
        r.set_source("ECS_DETAILED_OS_FAMILY", source);
        v
    });
    c.ssl_cert_dir = env_path(r, "SSL_CERT_DIR");
}

/// Registration and resources (spec §1.7 B).
pub fn registration(r: &mut Resolver<'_>, c: &mut Config, host: &HostFacts) {
    c.reserved_ports = port_list(r, "ECS_RESERVED_PORTS", "ReservedPorts")
        .unwrap_or_else(|| DEFAULT_RESERVED_PORTS.to_vec());
    c.reserved_ports_udp =
        port_list(r, "ECS_RESERVED_PORTS_UDP", "ReservedPortsUDP").unwrap_or_default();

    let memory_json = r.json_int("ReservedMemory", 0, i64::from(u16::MAX));
    let memory_env = r
        .env_nonempty("ECS_RESERVED_MEMORY")
        .and_then(|(v, source)| match v.parse::<u16>() {
            Ok(0) => None,
            Ok(n) => Some((n, source)),
            Err(_) => {
                r.warn(
                    "ECS_RESERVED_MEMORY",
                    v.clone(),
                    "expected a whole number of MiB in 0..=65535",
                );
                None
            }
        });
    let memory_json = memory_json.and_then(|(n, s)| u16::try_from(n).ok().map(|n| (n, s)));
    c.reserved_memory_mib = r
        .pick("ECS_RESERVED_MEMORY", memory_env, memory_json)
        .unwrap_or(0);

    c.instance_attributes = string_map_fatal(r, "ECS_INSTANCE_ATTRIBUTES", "InstanceAttributes");
    c.container_instance_tags =
        string_map_fatal(r, "ECS_CONTAINER_INSTANCE_TAGS", "ContainerInstanceTags");

    let propagate_json = r
        .json_int("ContainerInstancePropagateTagsFrom", 0, 1)
        .map(|(_, s)| (PropagateTagsFrom::Ec2Instance, s));
    let propagate_env = r
        .env_nonempty("ECS_CONTAINER_INSTANCE_PROPAGATE_TAGS_FROM")
        .and_then(|(v, source)| match v.as_str() {
            "ec2_instance" => Some((PropagateTagsFrom::Ec2Instance, source)),
            "none" => None,
            _ => {
                r.warn(
                    "ECS_CONTAINER_INSTANCE_PROPAGATE_TAGS_FROM",
                    v.clone(),
                    "expected ec2_instance or none (case-sensitive)",
                );
                None
            }
        });
    c.container_instance_propagate_tags_from = r
        .pick(
            "ECS_CONTAINER_INSTANCE_PROPAGATE_TAGS_FROM",
            propagate_env,
            propagate_json,
        )
        .unwrap_or(PropagateTagsFrom::None);

    // The reference always overwrites this one from the environment.
    r.json_plain_bool("PrometheusMetricsEnabled");
    c.prometheus_metrics_enabled = r.plain_bool("ECS_ENABLE_PROMETHEUS_METRICS", None, false);

    // Its parser never returns "zero", so the JSON key can never apply (spec §1.3).
    r.json_string("DynamicHostPortRange");
    c.dynamic_host_port_range = env_parsed(r, "ECS_DYNAMIC_HOST_PORT_RANGE", |v| {
        parse_port_range(v).ok_or_else(|| {
            "expected start-end (two ports, end >= start) or a single port".to_owned()
        })
    })
    .unwrap_or_else(|| host.default_port_range());

    c.warm_pools_check = r.tri_or("ECS_WARM_POOLS_CHECK", "WarmPoolsSupport", false);
    c.spot_instance_draining = r.tri_or(
        "ECS_ENABLE_SPOT_INSTANCE_DRAINING",
        "SpotInstanceDrainingEnabled",
        false,
    );
}

/// A non-empty environment value that `parse` accepts, recorded as the setting's
/// source; a value it rejects is a warning with the problem `parse` names, and `None`
/// (the caller's default applies).
pub fn env_parsed<T>(
    r: &mut Resolver<'_>,
    name: &'static str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Option<T> {
    let (value, source) = r.env_nonempty(name)?;
    match parse(&value) {
        Ok(parsed) => {
            r.set_source(name, source);
            Some(parsed)
        }
        Err(problem) => {
            r.warn(name, value, problem);
            None
        }
    }
}

/// A non-empty environment string, verbatim.
pub fn env_string(r: &mut Resolver<'_>, name: &'static str) -> Option<String> {
    env_parsed(r, name, |v| Ok(v.to_owned()))
}

pub fn env_path(r: &mut Resolver<'_>, name: &'static str) -> Option<PathBuf> {
    env_string(r, name).map(PathBuf::from)
}

/// An environment JSON object of strings where a bad value is only a warning.
pub fn lenient_map(r: &mut Resolver<'_>, name: &'static str) -> BTreeMap<String, String> {
    env_parsed(r, name, |v| {
        parse::parse_string_map(v)
            .map_err(|message| format!("expected a JSON object of string values: {message}"))
    })
    .unwrap_or_default()
}

pub fn parse_port_range(text: &str) -> Option<PortRange> {
    let (start, end) = match text.split_once('-') {
        Some((start, end)) => (start.trim(), end.trim()),
        None => (text.trim(), text.trim()),
    };
    let start: u16 = start.parse().ok()?;
    let end: u16 = end.parse().ok()?;
    (end >= start).then_some(PortRange { start, end })
}

/// A stream-decoded port array; `[]` is "zero" (so the default list applies).
fn port_list(r: &mut Resolver<'_>, name: &'static str, key: &'static str) -> Option<Vec<u16>> {
    let from_json = r.json_ports(key);
    let from_env = r
        .env_nonempty(name)
        .and_then(|(v, source)| match parse::parse_port_array(&v) {
            Ok(ports) if ports.is_empty() => {
                r.warn(name, v.clone(), "an empty list means the default list");
                None
            }
            Ok(ports) => Some((ports, source)),
            Err(err) => {
                r.warn(
                    name,
                    v.clone(),
                    array_problem(&err, "port numbers 0..=65535"),
                );
                None
            }
        });
    r.pick(name, from_env, from_json)
}

pub fn array_problem(err: &ArrayError, what: &str) -> String {
    match err {
        ArrayError::NotAnArray(why) => format!("expected a JSON array of {what}: {why}"),
        ArrayError::BadElement(why) => {
            format!("expected a JSON array of {what}: {why}; the whole value is ignored")
        }
    }
}

/// A whole-string JSON object of strings whose parse error is fatal.
fn string_map_fatal(
    r: &mut Resolver<'_>,
    name: &'static str,
    key: &'static str,
) -> BTreeMap<String, String> {
    let from_json = r.json_map(key);
    let from_env = r
        .env_nonempty(name)
        .and_then(|(v, source)| match parse::parse_string_map(&v) {
            Ok(map) if map.is_empty() => None,
            Ok(map) => Some((map, source)),
            Err(message) => {
                r.fatal(ConfigError::InvalidValue {
                    variable: name,
                    message: format!("expected a JSON object of string values: {message}"),
                });
                None
            }
        });
    r.pick(name, from_env, from_json).unwrap_or_default()
}

/// What happens to a JSON-file duration below the minimum, which the environment parser
/// never saw (spec §1.6 steps 2–3).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum JsonBelowMin {
    Fatal(&'static str),
    Clamp,
}

/// A duration with a minimum: environment values that are non-zero and below it are
/// raised to it with a warning (negative included).
pub fn min_duration(
    r: &mut Resolver<'_>,
    name: &'static str,
    key: &'static str,
    default: i64,
    min: i64,
    json_rule: JsonBelowMin,
) -> Duration {
    let Some((nanos, source)) = r.duration(name, Some(key)) else {
        return nanos_to_duration(default);
    };
    if nanos >= min {
        return nanos_to_duration(nanos);
    }
    match (source, json_rule) {
        (Source::Json | Source::UserData, JsonBelowMin::Fatal(key)) => {
            r.fatal(ConfigError::BelowMinimum {
                key,
                value: format_nanos(i128::from(nanos)),
                minimum: format_duration(nanos_to_duration(min)),
            });
            nanos_to_duration(default)
        }
        _ => {
            r.warn(
                name,
                given_duration(nanos, source),
                format!(
                    "below the minimum of {}",
                    format_duration(nanos_to_duration(min))
                ),
            );
            nanos_to_duration(min)
        }
    }
}

/// A duration value as the user gave it (JSON values are nanoseconds).
pub fn given_duration(nanos: i64, source: Source) -> String {
    match source {
        Source::Json | Source::UserData => format!("{nanos} (ns)"),
        _ => format_nanos(i128::from(nanos)),
    }
}

/// A duration whose values below `floor` are ignored with a warning (the default applies).
pub fn floor_duration(
    r: &mut Resolver<'_>,
    name: &'static str,
    key: &'static str,
    default: i64,
    floor: i64,
) -> Duration {
    match r.duration(name, Some(key)) {
        None => nanos_to_duration(default),
        Some((nanos, _)) if nanos >= floor => nanos_to_duration(nanos),
        Some((nanos, source)) => {
            let problem = if floor == 0 {
                "must not be negative".to_owned()
            } else {
                format!(
                    "below the minimum of {}",
                    format_duration(nanos_to_duration(floor))
                )
            };
            r.warn(name, given_duration(nanos, source), problem);
            r.set_source(name, Source::Default);
            nanos_to_duration(default)
        }
    }
}

/// Docker, task engine and pulls (spec §1.7 C).
pub fn engine(r: &mut Resolver<'_>, c: &mut Config) {
    c.container_stop_timeout = min_duration(
        r,
        "ECS_CONTAINER_STOP_TIMEOUT",
        "DockerStopTimeout",
        30 * SECOND,
        SECOND,
        JsonBelowMin::Fatal("DockerStopTimeout"),
    );
    c.container_start_timeout = min_duration(
        r,
        "ECS_CONTAINER_START_TIMEOUT",
        "ContainerStartTimeout",
        3 * MINUTE,
        45 * SECOND,
        JsonBelowMin::Fatal("ContainerStartTimeout"),
    );
    c.container_create_timeout = min_duration(
        r,
        "ECS_CONTAINER_CREATE_TIMEOUT",
        "ContainerCreateTimeout",
        4 * MINUTE,
        MINUTE,
        JsonBelowMin::Clamp,
    );
    c.manifest_pull_timeout = min_duration(
        r,
        "ECS_MANIFEST_PULL_TIMEOUT",
        "ManifestPullTimeout",
        MINUTE,
        30 * SECOND,
        JsonBelowMin::Clamp,
    );
    c.image_pull_inactivity_timeout = min_duration(
        r,
        "ECS_IMAGE_PULL_INACTIVITY_TIMEOUT",
        "ImagePullInactivityTimeout",
        MINUTE,
        MINUTE,
        JsonBelowMin::Clamp,
    );
    c.image_pull_timeout =
        floor_duration(r, "ECS_IMAGE_PULL_TIMEOUT", "ImagePullTimeout", 2 * HOUR, 0);
    c.task_cleanup_wait = floor_duration(
        r,
        "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION",
        "TaskCleanupWaitDuration",
        3 * HOUR,
        SECOND,
    );
    c.task_cleanup_wait_jitter = floor_duration(
        r,
        "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION_JITTER",
        "TaskCleanupWaitDurationJitter",
        0,
        0,
    );

    let behavior_json = r
        .json_int("ImagePullBehavior", i64::MIN, i64::MAX)
        .and_then(|(n, source)| {
            let behavior = match n {
                1 => ImagePullBehavior::Always,
                2 => ImagePullBehavior::Once,
                3 => ImagePullBehavior::PreferCached,
                _ => {
                    r.warn(
                        "ECS_IMAGE_PULL_BEHAVIOR",
                        format!("{n} (JSON ImagePullBehavior)"),
                        "expected 0 (default), 1 (always), 2 (once) or 3 (prefer-cached)",
                    );
                    return None;
                }
            };
            Some((behavior, source))
        });
    let behavior_env = r
        .env_nonempty("ECS_IMAGE_PULL_BEHAVIOR")
        .and_then(|(v, source)| {
            let behavior = match v.as_str() {
                "always" => ImagePullBehavior::Always,
                "once" => ImagePullBehavior::Once,
                "prefer-cached" => ImagePullBehavior::PreferCached,
                "default" => return None,
                _ => {
                    r.warn(
                        "ECS_IMAGE_PULL_BEHAVIOR",
                        v.clone(),
                        "expected default, always, once or prefer-cached",
                    );
                    return None;
                }
            };
            Some((behavior, source))
        });
    c.image_pull_behavior = r
        .pick("ECS_IMAGE_PULL_BEHAVIOR", behavior_env, behavior_json)
        .unwrap_or(ImagePullBehavior::Default);

    c.engine_auth_type = r
        .string("ECS_ENGINE_AUTH_TYPE", Some("EngineAuthType"), true)
        .and_then(|v| match v.as_str() {
            "docker" => Some(EngineAuthType::Docker),
            "dockercfg" => Some(EngineAuthType::DockerCfg),
            _ => {
                r.warn(
                    "ECS_ENGINE_AUTH_TYPE",
                    v.clone(),
                    "expected docker or dockercfg",
                );
                r.set_source("ECS_ENGINE_AUTH_TYPE", Source::Default);
                None
            }
        });
    let auth_json = r.json_raw("EngineAuthData");
    let auth_env = r.env_nonempty("ECS_ENGINE_AUTH_DATA");
    c.engine_auth_data = r
        .pick("ECS_ENGINE_AUTH_DATA", auth_env, auth_json)
        .map(Secret::new);

    c.pause_labels = lenient_map(r, "ECS_PAUSE_LABELS");

    c.dependent_containers_pull_upfront = r.tri_or(
        "ECS_PULL_DEPENDENT_CONTAINERS_UPFRONT",
        "DependentContainersPullUpfront",
        false,
    );
    c.shared_volume_match_full_config = r.tri_or(
        "ECS_SHARED_VOLUME_MATCH_FULL_CONFIG",
        "SharedVolumeMatchFullConfig",
        false,
    );
}

/// Image and container cleanup (spec §1.7 D); reads the pull behaviour [`engine`] set.
pub fn cleanup(r: &mut Resolver<'_>, c: &mut Config) {
    c.image_cleanup_disabled = r.tri_or("ECS_DISABLE_IMAGE_CLEANUP", "ImageCleanupDisabled", false);
    if c.image_pull_behavior == ImagePullBehavior::PreferCached && !c.image_cleanup_disabled {
        // prefer-cached relies on images staying around.
        c.image_cleanup_disabled = true;
        let source = r
            .sources
            .get("ECS_IMAGE_PULL_BEHAVIOR")
            .copied()
            .unwrap_or(Source::Default);
        r.set_source("ECS_DISABLE_IMAGE_CLEANUP", source);
    }
    c.image_cleanup_interval = floor_duration(
        r,
        "ECS_IMAGE_CLEANUP_INTERVAL",
        "ImageCleanupInterval",
        30 * MINUTE,
        10 * MINUTE,
    );
    c.image_minimum_cleanup_age = floor_duration(
        r,
        "ECS_IMAGE_MINIMUM_CLEANUP_AGE",
        "MinimumImageDeletionAge",
        HOUR,
        0,
    );
    c.non_ecs_image_minimum_cleanup_age = floor_duration(
        r,
        "NON_ECS_IMAGE_MINIMUM_CLEANUP_AGE",
        "NonECSMinimumImageDeletionAge",
        HOUR,
        0,
    );
    c.num_images_delete_per_cycle = per_cycle(
        r,
        "ECS_NUM_IMAGES_DELETE_PER_CYCLE",
        "NumImagesToDeletePerCycle",
    );
    c.num_non_ecs_containers_delete_per_cycle = per_cycle(
        r,
        "NONECS_NUM_CONTAINERS_DELETE_PER_CYCLE",
        "NumNonECSContainersToDeletePerCycle",
    );
    let exclusions_json = r.json_strings("ImageCleanupExclusionList");
    let exclusions_env = r
        .env_nonempty("ECS_EXCLUDE_UNTRACKED_IMAGE")
        .map(|(v, source)| (parse::parse_comma_list(&v), source));
    c.untracked_image_cleanup = r.tri_or(
        "ECS_ENABLE_UNTRACKED_IMAGE_CLEANUP",
        "DeleteNonECSImagesEnabled",
        false,
    );
    c.image_cleanup_exclusion_list = r
        .pick(
            "ECS_EXCLUDE_UNTRACKED_IMAGE",
            exclusions_env,
            exclusions_json,
        )
        .unwrap_or_default();
}

/// A per-cycle count: non-integer ⇒ warn, 5; below 1 ⇒ warn, 5 (for the non-ECS
/// container count too: spec §8 #6).
fn per_cycle(r: &mut Resolver<'_>, name: &'static str, key: &'static str) -> u32 {
    const DEFAULT: u32 = 5;
    let from_json = r.json_int(key, i64::MIN, i64::MAX);
    let mut given_zero = None;
    let from_env = r
        .env_nonempty(name)
        .and_then(|(v, source)| match v.parse::<i64>() {
            // Zero is "unset": the JSON file may still supply a value.
            Ok(0) => {
                given_zero = Some(v);
                None
            }
            Ok(n) => Some((n, source, v)),
            Err(_) => {
                r.warn(name, v.clone(), "expected an integer");
                None
            }
        });
    let candidate = match from_env {
        Some(found) => Some(found),
        None => from_json.map(|(n, source)| (n, source, format!("{n} (JSON {key})"))),
    };
    let Some((n, source, text)) = candidate else {
        if let Some(zero) = given_zero {
            r.warn(name, zero, "must be at least 1");
        }
        return DEFAULT;
    };
    match u32::try_from(n) {
        Ok(count) if count >= 1 => {
            r.set_source(name, source);
            count
        }
        _ => {
            r.warn(name, text, "must be at least 1");
            DEFAULT
        }
    }
}
