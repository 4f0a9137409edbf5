//! The Docker CLI for test set-up and clean-up. The CLI, not an API client, so that
//! clean-up also works from `Drop` while a panic unwinds, outside any runtime.

use std::process::Command;

use serde_json::Value;

/// The label the agent puts on every container of a task.
pub fn task_label(task_arn: &str) -> String {
    format!("com.amazonaws.ecs.task-arn={task_arn}")
}

/// The label the agent puts on every container of a cluster.
pub fn cluster_label(cluster: &str) -> String {
    format!("com.amazonaws.ecs.cluster={cluster}")
}

/// IDs (short) of the containers with `label`, running or not.
pub fn labelled_containers(label: &str) -> Vec<String> {
    ps(&["-aq", "--filter", &format!("label={label}")])
}

/// Full IDs of the containers with `label`, running or not.
pub fn labelled_containers_full(label: &str) -> Vec<String> {
    ps(&["-aq", "--no-trunc", "--filter", &format!("label={label}")])
}

/// IDs (short) of the running containers with `label`.
pub fn running_labelled_containers(label: &str) -> Vec<String> {
    ps(&["-q", "--filter", &format!("label={label}")])
}

/// Panics when Docker cannot answer: an empty list must mean "none", not "unknown".
fn ps(args: &[&str]) -> Vec<String> {
    try_ps(args).unwrap_or_else(|| panic!("docker ps {args:?} failed"))
}

fn try_ps(args: &[&str]) -> Option<Vec<String>> {
    let out = Command::new("docker").arg("ps").args(args).output().ok()?;
    out.status.success().then(|| {
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    })
}

/// Force-removes the containers with `label` and their anonymous volumes; best effort
/// (it runs from `Drop`, also while a panic unwinds).
pub fn remove_labelled(label: &str) {
    let ids = try_ps(&["-aq", "--filter", &format!("label={label}")]).unwrap_or_default();
    if !ids.is_empty() {
        let _ = Command::new("docker")
            .args(["rm", "-fv"])
            .args(&ids)
            .output();
    }
}

/// Force-removes every container of the task; best effort.
pub fn remove_task_containers(task_arn: &str) {
    remove_labelled(&task_label(task_arn));
}

/// Removes the task's (empty) cgroup `/ecs/<task id>` under every controller.
pub fn remove_task_cgroup(task_arn: &str) {
    let task_id = task_arn.rsplit('/').next().unwrap_or_default();
    if let Ok(controllers) = std::fs::read_dir("/sys/fs/cgroup") {
        for controller in controllers.flatten() {
            let _ = std::fs::remove_dir(controller.path().join("ecs").join(task_id));
        }
    }
}

/// Removes a cluster's containers when dropped, even on panic: the agent leaves task
/// containers running by design.
pub struct ClusterCleanup(pub String);

impl Drop for ClusterCleanup {
    fn drop(&mut self) {
        remove_labelled(&cluster_label(&self.0));
    }
}

/// Whether Docker says the container is running.
pub fn is_running(id: &str) -> bool {
    let out = Command::new("docker")
        .args(["inspect", "-f", "{{.State.Running}}", id])
        .output()
        .expect("docker inspect");
    String::from_utf8_lossy(&out.stdout).trim() == "true"
}

/// `docker inspect` of one object, as JSON.
pub fn inspect(id: &str) -> Value {
    let out = Command::new("docker")
        .args(["inspect", id])
        .output()
        .expect("docker inspect");
    let list: Value = serde_json::from_slice(&out.stdout).expect("inspect json");
    list[0].clone()
}

/// Force-removes one container (by name or ID) and its anonymous volumes; best effort.
pub fn remove_container(name_or_id: &str) {
    let _ = Command::new("docker")
        .args(["rm", "-f", "-v", name_or_id])
        .output();
}

/// Removes a volume; best effort.
pub fn remove_volume(name: &str) {
    let _ = Command::new("docker").args(["volume", "rm", name]).output();
}

/// Removes an image reference; best effort.
pub fn remove_image(reference: &str) {
    let _ = Command::new("docker").args(["rmi", reference]).output();
}

/// `docker volume inspect` of one volume; `None` when Docker has no such volume.
pub fn inspect_volume(name: &str) -> Option<Value> {
    let out = Command::new("docker")
        .args(["volume", "inspect", name])
        .output()
        .expect("docker volume inspect");
    if !out.status.success() {
        return None;
    }
    let list: Value = serde_json::from_slice(&out.stdout).expect("volume inspect json");
    Some(list[0].clone())
}

/// `docker exec <id> sh -c <script>`, on a blocking thread so that servers answering the
/// script may share the caller's runtime; the process output.
pub async fn exec_sh(id: &str, script: &str) -> std::process::Output {
    let (id, script) = (id.to_owned(), script.to_owned());
    tokio::task::spawn_blocking(move || {
        Command::new("docker")
            .args(["exec", &id, "sh", "-c", &script])
            .output()
            .expect("docker exec")
    })
    .await
    .expect("docker exec thread")
}
