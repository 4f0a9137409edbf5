//! Read-only facts about the host that defaults depend on (spec §1.2 built-ins, §1.7 B).

use std::path::Path;

use super::model::PortRange;

/// What the configuration looks up on the host. Probed once by [`HostFacts::probe`];
/// tests construct it directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostFacts {
    /// `<ID>_<VERSION_ID>` from `/etc/os-release`, or `linux`.
    pub detailed_os_family: String,
    /// `/etc/pki/tls/certs` exists (ecs-init then sets `SSL_CERT_DIR`).
    pub ssl_cert_dir_exists: bool,
    /// `/mnt/ecs/ebs` is a directory (otherwise EBS task attach is forced off).
    pub ebs_mount_dir_exists: bool,
    /// `/proc/sys/net/ipv4/ip_local_port_range`, when readable.
    pub ip_local_port_range: Option<PortRange>,
}

/// The dynamic host port range when the kernel's cannot be read.
pub const FALLBACK_PORT_RANGE: PortRange = PortRange {
    start: 49153,
    end: 65535,
};

impl HostFacts {
    pub fn probe() -> Self {
        Self {
            detailed_os_family: detailed_os_family(
                std::fs::read_to_string("/etc/os-release").ok().as_deref(),
            ),
            ssl_cert_dir_exists: Path::new("/etc/pki/tls/certs").is_dir(),
            ebs_mount_dir_exists: Path::new("/mnt/ecs/ebs").is_dir(),
            ip_local_port_range: std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
                .ok()
                .and_then(|text| parse_kernel_port_range(&text)),
        }
    }

    /// The default of `ECS_DYNAMIC_HOST_PORT_RANGE`.
    pub fn default_port_range(&self) -> PortRange {
        self.ip_local_port_range.unwrap_or(FALLBACK_PORT_RANGE)
    }
}

/// ecs-init's `ECS_DETAILED_OS_FAMILY`: `ID` and `VERSION_ID` with spaces and quotes
/// trimmed, joined by `_`; `linux` when the file or either field is missing.
pub fn detailed_os_family(os_release: Option<&str>) -> String {
    let Some(text) = os_release else {
        return "linux".to_owned();
    };
    let field = |name: &str| {
        text.lines()
            .filter_map(|line| line.split_once('='))
            .filter(|(key, _)| key.trim() == name)
            .map(|(_, value)| {
                value
                    .trim_matches(|c| c == ' ' || c == '"' || c == '\'')
                    .to_owned()
            })
            .next_back()
            .filter(|v| !v.is_empty())
    };
    match (field("ID"), field("VERSION_ID")) {
        (Some(id), Some(version)) => format!("{id}_{version}"),
        _ => "linux".to_owned(),
    }
}

/// Two whitespace-separated integers with end ≥ start.
fn parse_kernel_port_range(text: &str) -> Option<PortRange> {
    let mut parts = text.split_whitespace();
    let start: u16 = parts.next()?.parse().ok()?;
    let end: u16 = parts.next()?.parse().ok()?;
    (parts.next().is_none() && end >= start).then_some(PortRange { start, end })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_family_from_os_release() {
        assert_eq!(
            detailed_os_family(Some("NAME=\"Debian\"\nID=debian\nVERSION_ID=\"12\"\n")),
            "debian_12"
        );
        assert_eq!(
            detailed_os_family(Some("ID=\"amzn\"\nVERSION_ID=\"2023\"")),
            "amzn_2023"
        );
        assert_eq!(detailed_os_family(Some("ID=arch\n")), "linux");
        assert_eq!(detailed_os_family(None), "linux");
    }

    #[test]
    fn kernel_port_range() {
        assert_eq!(
            parse_kernel_port_range("32768\t60999\n"),
            Some(PortRange {
                start: 32768,
                end: 60999
            })
        );
        assert_eq!(parse_kernel_port_range("60999\t32768"), None);
        assert_eq!(parse_kernel_port_range("x"), None);
    }
}
