//! Keeps the harness working: the whole bench in its tiny configuration, on the debug
//! binaries of the workspace, against the real Docker engine. Timings are never checked;
//! only that every measurement ran and the JSON report was written.

use std::path::{Path, PathBuf};
use std::process::Command;

/// target/<profile>, where cargo put this bench binary and the workspace's others.
fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_bench"))
        .parent()
        .expect("bench binary in a directory")
        .to_path_buf()
}

/// `cargo test -p bench` alone does not build the other crates' binaries.
fn ensure_binaries(dir: &Path) {
    if dir.join("ecs-agent").is_file() && dir.join("ecs-local").is_file() {
        return;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .args(["build", "-p", "ecs-agent", "-p", "ecs-local"])
        .status()
        .expect("running cargo build");
    assert!(status.success(), "cargo build of the binaries failed");
}

#[test]
fn tiny_run_measures_everything_and_writes_json() {
    let dir = bin_dir();
    ensure_binaries(&dir);
    let out = tempfile::tempdir().unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_bench"))
        .arg("--tiny")
        .arg("--bin-dir")
        .arg(&dir)
        .arg("--out")
        .arg(out.path())
        .output()
        .expect("running bench");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "bench --tiny failed\n{stdout}\n{stderr}"
    );
    let files: Vec<_> = std::fs::read_dir(out.path()).unwrap().flatten().collect();
    assert_eq!(files.len(), 1, "no report written\n{stdout}\n{stderr}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(files[0].path()).unwrap()).unwrap();
    assert_eq!(report["mode"], "tiny");
    let names: Vec<&str> = report["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    // wrk comes from scripts/bench; a machine without it cannot measure the endpoint.
    for section in report["sections"].as_array().unwrap() {
        if let Some(why) = section["blocked"].as_str() {
            assert!(
                why.starts_with("wrk is not installed"),
                "{} not measured: {why}\n{stdout}\n{stderr}",
                section["name"]
            );
        }
    }
    assert!(
        run.status.success() || stdout.contains("wrk is not installed"),
        "bench --tiny failed\n{stdout}\n{stderr}"
    );
    for prefix in ["1.", "2.", "3.", "4.", "5.", "6.", "7.", "8."] {
        assert!(
            names.iter().any(|n| n.starts_with(prefix)),
            "{prefix} missing in {names:?}"
        );
    }
}
