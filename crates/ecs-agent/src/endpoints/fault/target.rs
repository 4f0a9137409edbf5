//! The host's default-route interfaces, where a host-mode task's latency and packet
//! loss faults go (the reference asks netlink for the IPv4 and IPv6 default routes).
//!
//! Read from `/proc/net/route` and `/proc/net/ipv6_route`: the kernel's own route
//! tables as netlink reports them, without spawning `ip` (which would spend the
//! request's 5 s command budget before the first fault command) and without
//! depending on iproute2's JSON output.

use std::path::Path;

const RTF_UP: u32 = 0x1;
const RTF_REJECT: u32 = 0x200;

/// The interfaces holding a default route.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DefaultRoutes {
    /// IPv4 first, then IPv6, without repeats.
    pub devices: Vec<String>,
    /// Only an IPv6 default route: the host is IPv6-only.
    pub ipv6_only: bool,
}

/// Reads both tables under `proc_net` (normally `/proc/net`).
pub fn default_routes(proc_net: &Path) -> std::io::Result<DefaultRoutes> {
    let v4 = std::fs::read_to_string(proc_net.join("route"))?;
    // A kernel without IPv6 has no ipv6_route: no IPv6 default route.
    let v6 = match std::fs::read_to_string(proc_net.join("ipv6_route")) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    Ok(parse(&v4, &v6))
}

pub fn parse(route: &str, ipv6_route: &str) -> DefaultRoutes {
    let mut v4 = Vec::new();
    for line in route.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [dev, dest, _gw, flags, _, _, _, mask, ..] = f.as_slice() else {
            continue;
        };
        let flags = u32::from_str_radix(flags, 16).unwrap_or(0);
        if *dest == "00000000" && *mask == "00000000" && flags & RTF_UP != 0 {
            v4.push((*dev).to_owned());
        }
    }
    let mut v6 = Vec::new();
    for line in ipv6_route.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [dest, plen, _, _, _, _, _, _, flags, dev] = f.as_slice() else {
            continue;
        };
        let flags = u32::from_str_radix(flags, 16).unwrap_or(0);
        let zero = dest.bytes().all(|b| b == b'0');
        if zero && *plen == "00" && flags & RTF_UP != 0 && flags & RTF_REJECT == 0 {
            v6.push((*dev).to_owned());
        }
    }
    let ipv6_only = v4.is_empty() && !v6.is_empty();
    let mut devices: Vec<String> = Vec::new();
    for d in v4.into_iter().chain(v6) {
        if !devices.contains(&d) {
            devices.push(d);
        }
    }
    DefaultRoutes { devices, ipv6_only }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTE: &str = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n";
    const V6: &str = "fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n\
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000002 00000000 00000003     eth1\n\
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n";

    #[test]
    fn both_families() {
        assert_eq!(
            parse(ROUTE, V6),
            DefaultRoutes {
                devices: vec!["eth0".into(), "eth1".into()],
                ipv6_only: false
            }
        );
        let header_only =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n";
        assert_eq!(
            parse(header_only, V6),
            DefaultRoutes {
                devices: vec!["eth1".into()],
                ipv6_only: true
            }
        );
        assert_eq!(parse(header_only, ""), DefaultRoutes::default());
    }

    #[test]
    fn this_host_reads() {
        // Every Linux host has the IPv4 table, even with no route in it.
        default_routes(Path::new("/proc/net")).expect("route tables");
    }
}
