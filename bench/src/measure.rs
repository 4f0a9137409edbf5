//! Summaries of samples and readings of a process's memory and CPU time from /proc.

use std::path::Path;

use serde::Serialize;

/// Median, p95 and max of a set of durations in milliseconds.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Summary {
    pub n: usize,
    pub median_ms: f64,
    pub p95_ms: f64,
    pub max_ms: f64,
}

impl Summary {
    /// `None` for no samples.
    pub fn of(samples: &[f64]) -> Option<Summary> {
        if samples.is_empty() {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        Some(Summary {
            n: sorted.len(),
            median_ms: percentile(&sorted, 50.0),
            p95_ms: percentile(&sorted, 95.0),
            max_ms: sorted[sorted.len() - 1],
        })
    }
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `VmRSS`, `VmHWM` and `RssAnon` of a process, in KiB. RssAnon leaves out the pages of
/// the binary itself, which are file-backed and shared.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Memory {
    pub rss_kib: u64,
    pub hwm_kib: u64,
    pub anon_kib: u64,
    /// Threads of the process (idle blocking-pool threads hold stacks and caches).
    pub threads: u64,
}

pub fn memory(pid: u32) -> std::io::Result<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    Ok(parse_memory(&status))
}

fn parse_memory(status: &str) -> Memory {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Memory {
        rss_kib: field("VmRSS:"),
        hwm_kib: field("VmHWM:"),
        anon_kib: field("RssAnon:"),
        threads: field("Threads:"),
    }
}

/// User plus system CPU time of a process, in seconds.
pub fn cpu_seconds(pid: u32) -> std::io::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let ticks = parse_cpu_ticks(&stat).ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, "malformed /proc stat")
    })?;
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    Ok(ticks as f64 / per_second.max(1) as f64)
}

/// utime + stime: fields 14 and 15, counted after the parenthesised command name, which
/// may itself hold spaces.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// The pid of the first process whose command name is `comm` (e.g. `dockerd`).
pub fn find_process(comm: &str) -> Option<u32> {
    let entries = std::fs::read_dir("/proc").ok()?;
    entries.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let name =
            std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("comm")).ok()?;
        (name.trim() == comm).then_some(pid)
    })
}

pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_uses_nearest_rank() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        let s = Summary::of(&samples).unwrap();
        assert_eq!((s.median_ms, s.p95_ms, s.max_ms), (50.0, 95.0, 100.0));
        let one = Summary::of(&[7.0]).unwrap();
        assert_eq!((one.median_ms, one.p95_ms, one.max_ms), (7.0, 7.0, 7.0));
        assert_eq!(Summary::of(&[]), None);
    }

    #[test]
    fn memory_fields_from_status() {
        let status =
            "Name:\tx\nVmHWM:\t   9000 kB\nVmRSS:\t    8000 kB\nRssAnon:\t 3000 kB\nThreads:\t7\n";
        assert_eq!(
            parse_memory(status),
            Memory {
                rss_kib: 8000,
                hwm_kib: 9000,
                anon_kib: 3000,
                threads: 7,
            }
        );
    }

    #[test]
    fn cpu_ticks_after_a_command_name_with_spaces() {
        let stat = "42 (a b) S 1 2 3 4 5 6 7 8 9 10 25 17 0 0";
        assert_eq!(parse_cpu_ticks(stat), Some(42));
    }

    #[test]
    fn own_process_is_readable() {
        let pid = std::process::id();
        assert!(memory(pid).unwrap().rss_kib > 0);
        assert!(cpu_seconds(pid).unwrap() >= 0.0);
    }
}
