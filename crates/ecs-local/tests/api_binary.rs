//! The `ecs-local` binary itself: `serve` flags, the address it logs, the API served to
//! the AWS CLI, and a clean exit on SIGTERM with the state kept.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use ecs_test_support::aws_cli;

fn serve(data_dir: &std::path::Path, region: &str) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ecs-local"))
        .args(["serve", "--listen", "127.0.0.1:0", "--region", region])
        .arg("--data-dir")
        .arg(data_dir)
        .env("ECS_LOCAL_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("ecs-local starts");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("ecs-local logs its address before anything else")
            .expect("log line");
        if let Some(rest) = line.split("addr=").nth(1) {
            // The agent's logfmt line shape.
            assert!(
                line.starts_with("level=info time=")
                    && line.contains(" msg=\"ecs-local serving the ECS API\" "),
                "{line}"
            );
            // logfmt quotes string values: addr="127.0.0.1:PORT"
            let value = rest.split_whitespace().next().unwrap_or("");
            break value.trim_matches('"').to_string();
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.by_ref() {});
    (child, addr)
}

fn aws(addr: &str, region: &str, args: &[&str]) -> serde_json::Value {
    let endpoint = format!("http://{addr}");
    let out = aws_cli::ecs_command(&endpoint, region, "AKIDBINARY", "secret", args)
        .output()
        .unwrap_or_else(|e| aws_cli::not_installed(e));
    aws_cli::json_output(args, &out)
}

fn terminate(mut child: Child) {
    let delivered = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(delivered.success(), "SIGTERM delivered");
    let status = child.wait().expect("ecs-local exits");
    assert!(status.success(), "clean exit on SIGTERM: {status}");
}

#[test]
fn serve_answers_the_cli_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (child, addr) = serve(dir.path(), "eu-west-1");
    let created = aws(
        &addr,
        "eu-west-1",
        &["create-cluster", "--cluster-name", "bin"],
    );
    assert_eq!(
        created["cluster"]["clusterArn"],
        "arn:aws:ecs:eu-west-1:111122223333:cluster/bin"
    );
    terminate(child);

    let (child, addr) = serve(dir.path(), "eu-west-1");
    let listed = aws(&addr, "eu-west-1", &["list-clusters"]);
    assert_eq!(
        listed["clusterArns"],
        serde_json::json!(["arn:aws:ecs:eu-west-1:111122223333:cluster/bin"])
    );
    terminate(child);
}
