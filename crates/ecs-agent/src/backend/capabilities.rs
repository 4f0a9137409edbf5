//! Host resources and the attributes of RegisterContainerInstance
//! (config-and-lifecycle.md §3.1, §3.3, §3.4).

use std::path::Path;

use crate::docker::{ApiVersion, VersionInfo};

use super::settings::{BackendSettings, CapabilitySettings};

const LEGACY: &str = "com.amazonaws.ecs.capability.";
const CAP: &str = "ecs.capability.";

/// One registration attribute; `value: None` is a name-only capability.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub name: String,
    pub value: Option<String>,
}

impl Attribute {
    pub fn flag(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: None,
        }
    }

    pub fn valued(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: Some(value.into()),
        }
    }
}

/// What this host offers, read once at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostFacts {
    /// Logical CPUs in the process's affinity mask (Go `runtime.NumCPU`).
    pub cpus: u64,
    /// `MemTotal` in MiB; `None` when `/proc/meminfo` is unreadable.
    pub mem_total_mib: Option<u64>,
    /// The highest Docker API version the engine supports.
    pub docker_api: ApiVersion,
    /// The Docker release, e.g. `20.10.24`; empty when unknown.
    pub docker_version: String,
    /// `x86_64`, `arm64`, ...
    pub arch: String,
    /// `/proc/cpuinfo` flags (for `task-eia.optimized-cpu`).
    pub cpu_flags: Vec<String>,
}

impl HostFacts {
    pub fn detect(docker: &VersionInfo) -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        Self {
            cpus: affinity_cpus(),
            mem_total_mib: std::fs::read_to_string("/proc/meminfo")
                .ok()
                .and_then(|t| mem_total_mib(&t)),
            docker_api: docker.server_api_version,
            docker_version: docker.server_version.clone(),
            arch: cpu_architecture(std::env::consts::ARCH).to_owned(),
            cpu_flags: cpuinfo
                .lines()
                .find(|l| l.starts_with("flags"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, f)| f.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default(),
        }
    }
}

fn affinity_cpus() -> u64 {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity writes at most its size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0 {
            let n = libc::CPU_COUNT(&set);
            if n > 0 {
                return n as u64;
            }
        }
    }
    std::thread::available_parallelism().map_or(1, |n| n.get() as u64)
}

/// `floor(MemTotal_kB / 1024)`.
pub fn mem_total_mib(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

/// Go's architecture names as the reference reports them.
pub fn cpu_architecture(rust_arch: &str) -> &str {
    match rust_arch {
        "x86_64" => "x86_64",
        "aarch64" => "arm64",
        "x86" => "i386",
        "arm" => "arm",
        other => other,
    }
}

/// `totalResources` (§3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resources {
    pub cpu: i64,
    pub memory_mib: i64,
    pub ports_tcp: Vec<String>,
    pub ports_udp: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "Unable to fetch host resources: reserved memory {reserved} MiB exceeds total memory {total} MiB"
)]
pub struct ResourceError {
    pub reserved: u64,
    pub total: u64,
}

pub fn resources(host: &HostFacts, settings: &BackendSettings) -> Result<Resources, ResourceError> {
    let memory = match host.mem_total_mib {
        Some(total) => total
            .checked_sub(settings.reserved_memory_mib)
            .ok_or(ResourceError {
                reserved: settings.reserved_memory_mib,
                total,
            })? as i64,
        None => 0,
    };
    Ok(Resources {
        cpu: (host.cpus * 1024) as i64,
        memory_mib: memory,
        ports_tcp: settings.reserved_ports.iter().map(u16::to_string).collect(),
        ports_udp: settings
            .reserved_ports_udp
            .iter()
            .map(u16::to_string)
            .collect(),
    })
}

/// Docker API versions the reference knows.
fn known_versions() -> impl Iterator<Item = ApiVersion> {
    (17..=44).map(|minor| ApiVersion::new(1, minor))
}

/// The supported list of §2.3 steps 6 and 11: every known version the engine serves.
pub fn supported_versions(docker_api: ApiVersion) -> Vec<ApiVersion> {
    known_versions().filter(|v| *v <= docker_api).collect()
}

fn driver_min_api(driver: &str) -> Option<ApiVersion> {
    let minor = match driver {
        "json-file" | "syslog" => 18,
        "journald" | "none" => 19,
        "gelf" | "fluentd" => 20,
        "awslogs" => 21,
        "splunk" => 22,
        "logentries" => 25,
        "sumologic" => 29,
        _ => return None,
    };
    Some(ApiVersion::new(1, minor))
}

/// Legacy volume plugins found in Docker's plugin directories (`:` becomes `.`).
fn legacy_plugins() -> Vec<String> {
    let mut names = Vec::new();
    for dir in [
        "/run/docker/plugins",
        "/etc/docker/plugins",
        "/usr/lib/docker/plugins",
    ] {
        let Ok(entries) = std::fs::read_dir(Path::new(dir)) else {
            continue;
        };
        for entry in entries.flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            let name = file
                .strip_suffix(".sock")
                .or_else(|| file.strip_suffix(".spec"))
                .or_else(|| file.strip_suffix(".json"))
                .unwrap_or(&file)
                .replace(':', ".");
            if !name.is_empty() && !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names.sort();
    names
}

/// Capabilities removed on external hosts (§3.3 row 27).
const NOT_EXTERNAL: &[&str] = &[
    "task-eni",
    "cni-plugin-version",
    "task-eni.ipv6",
    "task-eni-block-instance-metadata",
    "task-eni-trunking",
    "aws-appmesh",
    "task-eia",
    "task-eia.optimized-cpu",
    "service-connect-v1",
    "storage.ebs-task-volume-attach",
    "storage.ebsta-non-root-user",
    "fault-injection",
];

/// The capability attributes in the reference's emission order (§3.3). Rows this agent
/// cannot honour (task ENI, GPUs, pause-container namespaces, ECS Exec, Service
/// Connect, fault injection) are not advertised, so the backend never places such tasks here.
pub fn capabilities(host: &HostFacts, caps: &CapabilitySettings, external: bool) -> Vec<Attribute> {
    let supported = supported_versions(host.docker_api);
    let has = |minor: u16| supported.contains(&ApiVersion::new(1, minor));
    let mut out: Vec<Attribute> = [
        "private-registry-authentication.secretsmanager",
        "secrets.ssm.environment-variables",
        "secrets.ssm.bootstrap.log-driver",
        "ecr-endpoint",
        "secrets.asm.environment-variables",
        "secrets.asm.bootstrap.log-driver",
        "container-ordering",
        "full-sync",
        "env-files.s3",
        "network.container-port-range",
        "container-restart-policy",
    ]
    .iter()
    .map(|c| Attribute::flag(format!("{CAP}{c}")))
    .collect();
    let legacy = |name: &str| Attribute::flag(format!("{LEGACY}{name}"));
    let cap = |name: &str| Attribute::flag(format!("{CAP}{name}"));

    if !caps.privileged_disabled {
        out.push(legacy("privileged-container"));
    }
    for v in &supported {
        if v.minor < 33 && ![26, 27, 31].contains(&v.minor) {
            out.push(legacy(&format!("docker-remote-api.{v}")));
        }
    }
    for driver in &caps.logging_drivers {
        if let Some(min) = driver_min_api(driver)
            && supported.contains(&min)
        {
            out.push(legacy(&format!("logging-driver.{driver}")));
        }
    }
    if caps.selinux_capable {
        out.push(legacy("selinux"));
    }
    if caps.apparmor_capable {
        out.push(legacy("apparmor"));
    }
    if caps.task_iam_role && has(19) {
        out.push(legacy("task-iam-role"));
    }
    if caps.task_iam_role_network_host && has(19) {
        out.push(legacy("task-iam-role-network-host"));
    }
    if caps.task_cpu_mem_limit && has(22) {
        out.push(cap("task-cpu-mem-limit"));
        out.push(cap("increased-task-cpu-limit"));
    }
    if has(19) {
        out.push(legacy("ecr-auth"));
        out.push(cap("execution-role-ecr-pull"));
    }
    if has(24) && !caps.docker_health_check_disabled {
        out.push(cap("container-health-check"));
    }
    if caps.awslogs_execution_role_override {
        out.push(cap("execution-role-awslogs"));
    }
    out.push(cap("docker-plugin.local"));
    for plugin in legacy_plugins() {
        out.push(cap(&format!("docker-plugin.{plugin}")));
    }
    out.push(cap("aws-appmesh"));
    out.push(cap("task-eia"));
    let flags = ["avx", "avx2", "sse4_1", "sse4_2"];
    if flags.iter().all(|f| host.cpu_flags.iter().any(|h| h == f)) {
        out.push(cap("task-eia.optimized-cpu"));
    }
    out.push(cap("firelens.fluentd"));
    out.push(cap("firelens.fluentbit"));
    out.push(legacy("logging-driver.awsfirelens"));
    out.push(cap("logging-driver.awsfirelens.log-driver-buffer-limit"));
    out.push(cap("firelens.non-root-user"));
    out.push(cap("efs"));
    out.push(cap("storage.s3-files"));
    out.push(cap("firelens.options.config.file"));
    out.push(cap("firelens.options.config.s3"));
    for extra in &caps.volume_plugin_capabilities {
        out.push(cap(extra));
    }
    if caps.ebs_task_attach_supported {
        if Path::new("/var/lib/ecs/deps/daemons/ebs-csi-driver/ebs-csi-driver.tar").exists() {
            out.push(cap("storage.ebs-task-volume-attach"));
        }
        out.push(cap("storage.ebsta-non-root-user"));
    }
    if external {
        out.retain(|a| {
            !NOT_EXTERNAL
                .iter()
                .any(|n| a.name.strip_prefix(CAP) == Some(n))
        });
        out.push(cap("external"));
    }
    out.push(cap("ipv6-only"));
    out
}

/// Attributes appended after the capabilities (§3.4).
pub fn additional_attributes(host: &HostFacts, settings: &BackendSettings) -> Vec<Attribute> {
    let mut out = vec![
        Attribute::valued("ecs.os-type", "linux"),
        Attribute::valued("ecs.os-family", "LINUX"),
    ];
    match settings.detailed_os_family.as_deref() {
        None => out.push(Attribute::valued("ecs.os-type-detailed", "LINUX")),
        Some("") => {}
        Some(family) => out.push(Attribute::valued("ecs.os-type-detailed", family)),
    }
    if settings.external {
        out.push(Attribute::valued("ecs.cpu-architecture", host.arch.clone()));
    }
    out
}

/// Every attribute sent, in order: custom ones (first registration only), the
/// capabilities, then the additional ones.
pub fn registration_attributes(
    host: &HostFacts,
    settings: &BackendSettings,
    first_registration: bool,
) -> Vec<Attribute> {
    let mut out = Vec::new();
    if first_registration {
        out.extend(
            settings
                .instance_attributes
                .iter()
                .map(|(k, v)| Attribute::valued(k.clone(), v.clone())),
        );
    }
    out.extend(capabilities(
        host,
        &settings.capabilities,
        settings.external,
    ));
    out.extend(additional_attributes(host, settings));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> HostFacts {
        HostFacts {
            cpus: 2,
            mem_total_mib: Some(3900),
            docker_api: ApiVersion::new(1, 41),
            docker_version: "20.10.24".into(),
            arch: "x86_64".into(),
            cpu_flags: vec![],
        }
    }

    fn names(attrs: &[Attribute]) -> Vec<&str> {
        attrs.iter().map(|a| a.name.as_str()).collect()
    }

    #[test]
    fn resources_subtract_reserved_memory() {
        let settings = BackendSettings {
            reserved_memory_mib: 100,
            reserved_ports_udp: vec![53],
            ..Default::default()
        };
        let r = resources(&host(), &settings).unwrap();
        assert_eq!(r.cpu, 2048);
        assert_eq!(r.memory_mib, 3800);
        assert_eq!(r.ports_tcp, ["22", "2375", "2376", "51678", "51679"]);
        assert_eq!(r.ports_udp, ["53"]);
        let too_much = BackendSettings {
            reserved_memory_mib: 5000,
            ..Default::default()
        };
        assert!(resources(&host(), &too_much).is_err());
        assert_eq!(mem_total_mib("MemTotal:       16261032 kB\n"), Some(15879));
    }

    #[test]
    fn remote_api_versions_skip_the_gaps() {
        let caps = capabilities(&host(), &CapabilitySettings::default(), false);
        let n = names(&caps);
        let api: Vec<&str> = n
            .iter()
            .filter_map(|a| a.strip_prefix("com.amazonaws.ecs.capability.docker-remote-api."))
            .collect();
        assert_eq!(
            api,
            [
                "1.17", "1.18", "1.19", "1.20", "1.21", "1.22", "1.23", "1.24", "1.25", "1.28",
                "1.29", "1.30", "1.32"
            ]
        );
        assert_eq!(
            n[0],
            "ecs.capability.private-registry-authentication.secretsmanager"
        );
        assert_eq!(n[11], "com.amazonaws.ecs.capability.privileged-container");
        assert!(n.contains(&"com.amazonaws.ecs.capability.logging-driver.json-file"));
        assert!(n.contains(&"ecs.capability.container-health-check"));
        assert!(n.contains(&"ecs.capability.aws-appmesh"));
        assert_eq!(n.last(), Some(&"ecs.capability.ipv6-only"));
    }

    #[test]
    fn external_hosts_drop_cloud_only_capabilities() {
        let settings = BackendSettings {
            external: true,
            instance_attributes: [("team".to_owned(), "blue".to_owned())].into(),
            ..Default::default()
        };
        let attrs = registration_attributes(&host(), &settings, true);
        let n = names(&attrs);
        assert_eq!(n[0], "team");
        assert!(n.contains(&"ecs.capability.external"));
        assert!(!n.contains(&"ecs.capability.aws-appmesh"));
        assert!(!n.contains(&"ecs.capability.task-eia"));
        let tail: Vec<_> = attrs[attrs.len() - 4..].to_vec();
        assert_eq!(
            tail,
            vec![
                Attribute::valued("ecs.os-type", "linux"),
                Attribute::valued("ecs.os-family", "LINUX"),
                Attribute::valued("ecs.os-type-detailed", "LINUX"),
                Attribute::valued("ecs.cpu-architecture", "x86_64"),
            ]
        );
        let again = registration_attributes(&host(), &settings, false);
        assert!(!names(&again).contains(&"team"));
    }
}
