//! Container resource statistics. The field names serialize exactly as Docker's stats JSON
//! (`cpu_stats.cpu_usage.total_usage`, `memory_stats.usage`, ...), so the task metadata
//! endpoint can serve a value of this type as the reference serves Docker's own document.

use std::collections::HashMap;

use bollard::models::{
    ContainerBlkioStatEntry, ContainerCpuStats, ContainerNetworkStats, ContainerStatsResponse,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerStats {
    pub id: String,
    pub name: String,
    /// RFC 3339 time of this sample, as Docker sent it.
    pub read: String,
    /// RFC 3339 time of the previous sample (zero time on a one-shot read).
    pub preread: String,
    pub num_procs: u32,
    pub pids_stats: PidsStats,
    pub cpu_stats: CpuStats,
    pub precpu_stats: CpuStats,
    pub memory_stats: MemoryStats,
    pub blkio_stats: BlkioStats,
    /// Per interface; absent with network mode `none` or `host`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub networks: Option<HashMap<String, NetworkStats>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PidsStats {
    pub current: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuStats {
    pub cpu_usage: CpuUsage,
    pub system_cpu_usage: u64,
    pub online_cpus: u32,
    pub throttling_data: ThrottlingData,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuUsage {
    pub total_usage: u64,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub percpu_usage: Vec<u64>,
    pub usage_in_kernelmode: u64,
    pub usage_in_usermode: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThrottlingData {
    pub periods: u64,
    pub throttled_periods: u64,
    pub throttled_time: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryStats {
    pub usage: u64,
    pub max_usage: u64,
    /// Driver-specific counters (`cache`, `rss`, `total_inactive_file`, ...).
    pub stats: HashMap<String, u64>,
    pub failcnt: u64,
    pub limit: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlkioStats {
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    pub io_serviced_recursive: Vec<BlkioEntry>,
    /// The lists below are only filled by the cgroup v1 CFQ scheduler; usually empty.
    pub io_queue_recursive: Vec<BlkioEntry>,
    pub io_service_time_recursive: Vec<BlkioEntry>,
    pub io_wait_time_recursive: Vec<BlkioEntry>,
    pub io_merged_recursive: Vec<BlkioEntry>,
    pub io_time_recursive: Vec<BlkioEntry>,
    pub sectors_recursive: Vec<BlkioEntry>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlkioEntry {
    pub major: u64,
    pub minor: u64,
    pub op: String,
    pub value: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkStats {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

impl ContainerStats {
    /// CPU use between `precpu_stats` and `cpu_stats` as a percentage of one CPU times the
    /// number of online CPUs (Docker CLI's formula); `None` without a previous sample.
    pub fn cpu_percent(&self) -> Option<f64> {
        let cpu = self.cpu_stats.cpu_usage.total_usage;
        let pre = self.precpu_stats.cpu_usage.total_usage;
        let sys = self.cpu_stats.system_cpu_usage;
        let pre_sys = self.precpu_stats.system_cpu_usage;
        if pre == 0 || pre_sys == 0 || sys <= pre_sys || cpu < pre {
            return None;
        }
        let cpus = match self.cpu_stats.online_cpus {
            0 => self.cpu_stats.cpu_usage.percpu_usage.len().max(1) as f64,
            n => f64::from(n),
        };
        Some((cpu - pre) as f64 / (sys - pre_sys) as f64 * cpus * 100.0)
    }
}

pub(crate) fn from_bollard(s: ContainerStatsResponse) -> ContainerStats {
    ContainerStats {
        id: s.id.unwrap_or_default(),
        name: s.name.unwrap_or_default(),
        read: s.read.map(|d| d.to_string()).unwrap_or_default(),
        preread: s.preread.map(|d| d.to_string()).unwrap_or_default(),
        num_procs: s.num_procs.unwrap_or_default(),
        pids_stats: s
            .pids_stats
            .map(|p| PidsStats {
                current: p.current.unwrap_or_default(),
                limit: p.limit,
            })
            .unwrap_or_default(),
        cpu_stats: s.cpu_stats.map(cpu).unwrap_or_default(),
        precpu_stats: s.precpu_stats.map(cpu).unwrap_or_default(),
        memory_stats: s
            .memory_stats
            .map(|m| MemoryStats {
                usage: m.usage.unwrap_or_default(),
                max_usage: m.max_usage.unwrap_or_default(),
                stats: m.stats.unwrap_or_default(),
                failcnt: m.failcnt.unwrap_or_default(),
                limit: m.limit.unwrap_or_default(),
            })
            .unwrap_or_default(),
        blkio_stats: s
            .blkio_stats
            .map(|b| BlkioStats {
                io_service_bytes_recursive: blkio(b.io_service_bytes_recursive),
                io_serviced_recursive: blkio(b.io_serviced_recursive),
                io_queue_recursive: blkio(b.io_queue_recursive),
                io_service_time_recursive: blkio(b.io_service_time_recursive),
                io_wait_time_recursive: blkio(b.io_wait_time_recursive),
                io_merged_recursive: blkio(b.io_merged_recursive),
                io_time_recursive: blkio(b.io_time_recursive),
                sectors_recursive: blkio(b.sectors_recursive),
            })
            .unwrap_or_default(),
        networks: s.networks.map(|nets| {
            nets.into_iter()
                .map(|(name, n)| (name, network(n)))
                .collect()
        }),
    }
}

fn cpu(c: ContainerCpuStats) -> CpuStats {
    let usage = c.cpu_usage.unwrap_or_default();
    let throttling = c.throttling_data.unwrap_or_default();
    CpuStats {
        cpu_usage: CpuUsage {
            total_usage: usage.total_usage.unwrap_or_default(),
            percpu_usage: usage.percpu_usage.unwrap_or_default(),
            usage_in_kernelmode: usage.usage_in_kernelmode.unwrap_or_default(),
            usage_in_usermode: usage.usage_in_usermode.unwrap_or_default(),
        },
        system_cpu_usage: c.system_cpu_usage.unwrap_or_default(),
        online_cpus: c.online_cpus.unwrap_or_default(),
        throttling_data: ThrottlingData {
            periods: throttling.periods.unwrap_or_default(),
            throttled_periods: throttling.throttled_periods.unwrap_or_default(),
            throttled_time: throttling.throttled_time.unwrap_or_default(),
        },
    }
}

fn blkio(entries: Option<Vec<ContainerBlkioStatEntry>>) -> Vec<BlkioEntry> {
    entries
        .unwrap_or_default()
        .into_iter()
        .map(|e| BlkioEntry {
            major: e.major.unwrap_or_default(),
            minor: e.minor.unwrap_or_default(),
            op: e.op.unwrap_or_default(),
            value: e.value.unwrap_or_default(),
        })
        .collect()
}

fn network(n: ContainerNetworkStats) -> NetworkStats {
    NetworkStats {
        rx_bytes: n.rx_bytes.unwrap_or_default(),
        rx_packets: n.rx_packets.unwrap_or_default(),
        rx_errors: n.rx_errors.unwrap_or_default(),
        rx_dropped: n.rx_dropped.unwrap_or_default(),
        tx_bytes: n.tx_bytes.unwrap_or_default(),
        tx_packets: n.tx_packets.unwrap_or_default(),
        tx_errors: n.tx_errors.unwrap_or_default(),
        tx_dropped: n.tx_dropped.unwrap_or_default(),
    }
}
