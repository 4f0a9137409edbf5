//! Task-level cgroup (cgroup v1, Docker's cgroupfs driver): `/ecs/<taskId>` under each
//! controller, with the task's CPU quota/shares, memory limit and pids limit written on
//! it; Docker then creates every container's cgroup below it (`CgroupParent`).

use std::io;
use std::path::{Path, PathBuf};

use super::model::TaskSpec;

const CONTROLLERS: [&str; 6] = ["cpu", "cpuacct", "memory", "pids", "blkio", "cpuset"];

/// What the task cgroup enforces, derived from the task definition (§6.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupLimits {
    /// `(period µs, quota µs)` when task cpu > 0.
    pub cfs: Option<(u64, i64)>,
    /// Shares otherwise: Σ max(container cpu, 2), capped at 262144.
    pub shares: u64,
    pub memory_bytes: Option<i64>,
    pub pids: Option<u32>,
}

pub fn limits(task: &TaskSpec, cpu_period_us: u64, pids_limit: u32) -> CgroupLimits {
    let cfs = (task.cpu > 0.0).then_some((cpu_period_us, (task.cpu * cpu_period_us as f64) as i64));
    let shares: u64 = task
        .containers
        .iter()
        .map(|c| c.cpu.max(2) as u64)
        .sum::<u64>()
        .min(262_144);
    CgroupLimits {
        cfs,
        shares,
        memory_bytes: (task.memory > 0).then(|| task.memory * 1024 * 1024),
        pids: (pids_limit > 0).then_some(pids_limit),
    }
}

/// `<root>/<controller>/ecs/<taskId>` for every mounted controller.
fn dirs(root: &Path, task_id: &str) -> Vec<PathBuf> {
    CONTROLLERS
        .iter()
        .map(|c| root.join(c))
        .filter(|p| p.is_dir())
        .map(|p| p.join("ecs").join(task_id))
        .collect()
}

/// Whether `root` is a cgroup v1 layout this module can manage.
pub fn is_v1(root: &Path) -> bool {
    root.join("memory").is_dir() && root.join("cpu").is_dir()
}

/// Creates the task cgroup (skipping directories that exist) and writes its limits.
pub fn create(root: &Path, task_id: &str, limits: &CgroupLimits) -> io::Result<()> {
    for dir in dirs(root, task_id) {
        std::fs::create_dir_all(&dir)?;
    }
    // cpuset children start empty and refuse tasks; inherit the parent's sets.
    let cpuset = root.join("cpuset");
    if cpuset.is_dir() {
        for file in ["cpuset.cpus", "cpuset.mems"] {
            let ecs = cpuset.join("ecs");
            for (parent, child) in [
                (cpuset.clone(), ecs.clone()),
                (ecs, cpuset.join("ecs").join(task_id)),
            ] {
                let current = std::fs::read_to_string(child.join(file)).unwrap_or_default();
                if current.trim().is_empty() {
                    let value = std::fs::read_to_string(parent.join(file))?;
                    std::fs::write(child.join(file), value.trim())?;
                }
            }
        }
    }
    let memory = root.join("memory").join("ecs").join(task_id);
    // Best effort: the file is read-only or absent on some kernels.
    let _ = std::fs::write(memory.join("memory.use_hierarchy"), "1");
    if let Some(bytes) = limits.memory_bytes {
        std::fs::write(memory.join("memory.limit_in_bytes"), bytes.to_string())?;
    }
    let cpu = root.join("cpu").join("ecs").join(task_id);
    match limits.cfs {
        Some((period, quota)) => {
            std::fs::write(cpu.join("cpu.cfs_period_us"), period.to_string())?;
            std::fs::write(cpu.join("cpu.cfs_quota_us"), quota.to_string())?;
        }
        None => std::fs::write(cpu.join("cpu.shares"), limits.shares.to_string())?,
    }
    if let Some(pids) = limits.pids {
        let dir = root.join("pids").join("ecs").join(task_id);
        if dir.is_dir() {
            std::fs::write(dir.join("pids.max"), pids.to_string())?;
        }
    }
    Ok(())
}

/// Removes the task cgroup from every hierarchy (Docker also creates `/ecs/<taskId>`
/// under the controllers this module does not write to); gone already is fine.
pub fn remove(root: &Path, task_id: &str) -> io::Result<()> {
    let hierarchies = match std::fs::read_dir(root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for hierarchy in hierarchies.flatten() {
        let dir = hierarchy.path().join("ecs").join(task_id);
        match std::fs::remove_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::model::NetworkMode;

    fn spec(cpu: f64, memory: i64, container_cpus: &[i64]) -> TaskSpec {
        let mut t: TaskSpec = TaskSpec {
            arn: "arn:aws:ecs:r:1:task/c/tid".into(),
            family: "f".into(),
            version: "1".into(),
            network_mode: NetworkMode::Bridge,
            pid_mode: None,
            ipc_mode: None,
            cpu,
            memory,
            volumes: vec![],
            containers: vec![],
            credentials_id: None,
            execution_credentials_id: None,
            memory_cpu_limits: true,
        };
        for (i, c) in container_cpus.iter().enumerate() {
            let json = serde_json::json!({"arn": "x/y", "containers": [{"name": format!("c{i}"), "image": "i", "cpu": c}]});
            let task: ecs_types::task::Task = serde_json::from_value(json).unwrap();
            let acc = crate::engine::intake::accept(&task, &Default::default()).unwrap();
            t.containers.extend(acc.spec.containers);
        }
        t
    }

    #[test]
    fn quota_from_vcpus() {
        let l = limits(&spec(0.25, 512, &[0]), 100_000, 0);
        assert_eq!(l.cfs, Some((100_000, 25_000)));
        assert_eq!(l.memory_bytes, Some(512 * 1024 * 1024));
        assert_eq!(l.pids, None);
    }

    #[test]
    fn shares_from_containers_when_no_task_cpu() {
        let l = limits(&spec(0.0, 0, &[0, 1, 512]), 100_000, 100);
        assert_eq!(l.cfs, None);
        assert_eq!(l.shares, 2 + 2 + 512);
        assert_eq!(l.memory_bytes, None);
        assert_eq!(l.pids, Some(100));
    }

    #[test]
    fn create_and_remove_in_a_fake_hierarchy() {
        let root = tempfile::tempdir().unwrap();
        for c in ["cpu", "memory"] {
            std::fs::create_dir_all(root.path().join(c)).unwrap();
        }
        let l = limits(&spec(0.5, 64, &[0]), 100_000, 0);
        create(root.path(), "tid", &l).unwrap();
        let quota =
            std::fs::read_to_string(root.path().join("cpu/ecs/tid/cpu.cfs_quota_us")).unwrap();
        assert_eq!(quota, "50000");
        let mem = std::fs::read_to_string(root.path().join("memory/ecs/tid/memory.limit_in_bytes"))
            .unwrap();
        assert_eq!(mem, (64 * 1024 * 1024).to_string());
        // A real cgroupfs has no regular files to delete; clear them for rmdir.
        for c in ["cpu", "memory"] {
            for f in std::fs::read_dir(root.path().join(c).join("ecs/tid")).unwrap() {
                std::fs::remove_file(f.unwrap().path()).unwrap();
            }
        }
        remove(root.path(), "tid").unwrap();
        assert!(!root.path().join("cpu/ecs/tid").exists());
        remove(root.path(), "tid").unwrap();
    }
}
