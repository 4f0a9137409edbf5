//! Docker stats in the reference's shape (spec endpoints §4.9): the fields of Docker's
//! Go `StatsJSON` (module v25.0.6), in its order and with its `omitempty` rules, as the
//! task metadata endpoint re-encodes the last sample.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::docker::{BlkioEntry, ContainerStats, CpuStats, NetworkStats};
use crate::endpoints::json::{ZERO_TIME, is_zero_u64};

#[derive(Debug, Clone, Serialize)]
pub struct StatsJson {
    pub read: String,
    pub preread: String,
    pub pids_stats: PidsJson,
    pub blkio_stats: BlkioJson,
    pub num_procs: u32,
    pub storage_stats: StorageJson,
    pub cpu_stats: CpuJson,
    pub precpu_stats: CpuJson,
    pub memory_stats: MemoryJson,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub networks: Option<BTreeMap<String, NetworkJson>>,
    /// v4 only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_rate_stats: Option<NetworkRateJson>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PidsJson {
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub current: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub limit: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BlkioEntryJson {
    pub major: u64,
    pub minor: u64,
    pub op: String,
    pub value: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BlkioJson {
    pub io_service_bytes_recursive: Option<Vec<BlkioEntryJson>>,
    pub io_serviced_recursive: Option<Vec<BlkioEntryJson>>,
    pub io_queue_recursive: Option<Vec<BlkioEntryJson>>,
    pub io_service_time_recursive: Option<Vec<BlkioEntryJson>>,
    pub io_wait_time_recursive: Option<Vec<BlkioEntryJson>>,
    pub io_merged_recursive: Option<Vec<BlkioEntryJson>>,
    pub io_time_recursive: Option<Vec<BlkioEntryJson>>,
    pub sectors_recursive: Option<Vec<BlkioEntryJson>>,
}

/// Windows-only counters: always `{}` on Linux.
#[derive(Debug, Clone, Serialize)]
pub struct StorageJson {}

#[derive(Debug, Clone, Serialize)]
pub struct CpuUsageJson {
    pub total_usage: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_usage: Vec<u64>,
    pub usage_in_kernelmode: u64,
    pub usage_in_usermode: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ThrottlingJson {
    pub periods: u64,
    pub throttled_periods: u64,
    pub throttled_time: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CpuJson {
    pub cpu_usage: CpuUsageJson,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub system_cpu_usage: u64,
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub online_cpus: u32,
    pub throttling_data: ThrottlingJson,
}

fn is_zero_u32(v: &u32) -> bool {
    *v == 0
}

#[derive(Debug, Clone, Serialize)]
pub struct MemoryJson {
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub usage: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub max_usage: u64,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub stats: BTreeMap<String, u64>,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub failcnt: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub limit: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct NetworkJson {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct NetworkRateJson {
    #[serde(serialize_with = "crate::endpoints::json::go_f64")]
    pub rx_bytes_per_sec: f64,
    #[serde(serialize_with = "crate::endpoints::json::go_f64")]
    pub tx_bytes_per_sec: f64,
}

fn time_or_zero(text: &str) -> String {
    if text.is_empty() {
        ZERO_TIME.to_owned()
    } else {
        text.to_owned()
    }
}

fn blkio(entries: &[BlkioEntry]) -> Option<Vec<BlkioEntryJson>> {
    if entries.is_empty() {
        return None;
    }
    Some(
        entries
            .iter()
            .map(|e| BlkioEntryJson {
                major: e.major,
                minor: e.minor,
                op: e.op.clone(),
                value: e.value,
            })
            .collect(),
    )
}

fn cpu(c: &CpuStats) -> CpuJson {
    CpuJson {
        cpu_usage: CpuUsageJson {
            total_usage: c.cpu_usage.total_usage,
            percpu_usage: c.cpu_usage.percpu_usage.clone(),
            usage_in_kernelmode: c.cpu_usage.usage_in_kernelmode,
            usage_in_usermode: c.cpu_usage.usage_in_usermode,
        },
        system_cpu_usage: c.system_cpu_usage,
        online_cpus: c.online_cpus,
        throttling_data: ThrottlingJson {
            periods: c.throttling_data.periods,
            throttled_periods: c.throttling_data.throttled_periods,
            throttled_time: c.throttling_data.throttled_time,
        },
    }
}

fn network(n: &NetworkStats) -> NetworkJson {
    NetworkJson {
        rx_bytes: n.rx_bytes,
        rx_packets: n.rx_packets,
        rx_errors: n.rx_errors,
        rx_dropped: n.rx_dropped,
        tx_bytes: n.tx_bytes,
        tx_packets: n.tx_packets,
        tx_errors: n.tx_errors,
        tx_dropped: n.tx_dropped,
    }
}

impl StatsJson {
    /// The reference's document for `last`; with `with_rate`, the v4 network rate from
    /// the previous sample (`prev`) when there is one.
    pub fn from_samples(
        last: &ContainerStats,
        prev: Option<&ContainerStats>,
        with_rate: bool,
    ) -> Self {
        StatsJson {
            read: time_or_zero(&last.read),
            preread: time_or_zero(&last.preread),
            pids_stats: PidsJson {
                current: last.pids_stats.current,
                limit: last.pids_stats.limit.unwrap_or_default(),
            },
            blkio_stats: BlkioJson {
                io_service_bytes_recursive: blkio(&last.blkio_stats.io_service_bytes_recursive),
                io_serviced_recursive: blkio(&last.blkio_stats.io_serviced_recursive),
                io_queue_recursive: None,
                io_service_time_recursive: None,
                io_wait_time_recursive: None,
                io_merged_recursive: None,
                io_time_recursive: None,
                sectors_recursive: None,
            },
            num_procs: last.num_procs,
            storage_stats: StorageJson {},
            cpu_stats: cpu(&last.cpu_stats),
            precpu_stats: cpu(&last.precpu_stats),
            memory_stats: MemoryJson {
                usage: last.memory_stats.usage,
                max_usage: last.memory_stats.max_usage,
                stats: last
                    .memory_stats
                    .stats
                    .iter()
                    .map(|(k, v)| (k.clone(), *v))
                    .collect(),
                failcnt: last.memory_stats.failcnt,
                limit: last.memory_stats.limit,
            },
            name: last.name.clone(),
            id: last.id.clone(),
            networks: last
                .networks
                .as_ref()
                .filter(|n| !n.is_empty())
                .map(|n| n.iter().map(|(k, v)| (k.clone(), network(v))).collect()),
            network_rate_stats: if with_rate {
                prev.and_then(|p| network_rate(p, last))
            } else {
                None
            },
        }
    }
}

/// Byte deltas between two samples over their time distance, in float32 as the
/// reference computes them.
fn network_rate(prev: &ContainerStats, last: &ContainerStats) -> Option<NetworkRateJson> {
    let t0 = chrono::DateTime::parse_from_rfc3339(&prev.read).ok()?;
    let t1 = chrono::DateTime::parse_from_rfc3339(&last.read).ok()?;
    let secs = (t1 - t0).num_nanoseconds()? as f32 / 1e9;
    if secs <= 0.0 {
        return None;
    }
    let sum = |s: &ContainerStats| {
        s.networks.as_ref().map_or((0u64, 0u64), |n| {
            n.values()
                .fold((0, 0), |(r, t), v| (r + v.rx_bytes, t + v.tx_bytes))
        })
    };
    let (r0, t0b) = sum(prev);
    let (r1, t1b) = sum(last);
    Some(NetworkRateJson {
        rx_bytes_per_sec: f64::from(r1.saturating_sub(r0) as f32 / secs),
        tx_bytes_per_sec: f64::from(t1b.saturating_sub(t0b) as f32 / secs),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoints::json::to_go_json;

    #[test]
    fn empty_sample_has_the_reference_keys_in_order() {
        let json = to_go_json(&StatsJson::from_samples(
            &ContainerStats::default(),
            None,
            true,
        ))
        .unwrap();
        let text = String::from_utf8(json).unwrap();
        assert_eq!(
            text,
            concat!(
                r#"{"read":"0001-01-01T00:00:00Z","preread":"0001-01-01T00:00:00Z","pids_stats":{},"#,
                r#""blkio_stats":{"io_service_bytes_recursive":null,"io_serviced_recursive":null,"io_queue_recursive":null,"io_service_time_recursive":null,"io_wait_time_recursive":null,"io_merged_recursive":null,"io_time_recursive":null,"sectors_recursive":null},"#,
                r#""num_procs":0,"storage_stats":{},"#,
                r#""cpu_stats":{"cpu_usage":{"total_usage":0,"usage_in_kernelmode":0,"usage_in_usermode":0},"throttling_data":{"periods":0,"throttled_periods":0,"throttled_time":0}},"#,
                r#""precpu_stats":{"cpu_usage":{"total_usage":0,"usage_in_kernelmode":0,"usage_in_usermode":0},"throttling_data":{"periods":0,"throttled_periods":0,"throttled_time":0}},"#,
                r#""memory_stats":{}}"#
            )
        );
    }
}
