//! The built `ecs-agent` binary: flags, exit codes, `--healthcheck` against a real HTTP
//! server, `--print-config` redaction, and a run stopped by SIGTERM.

use std::convert::Infallible;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use ecs_test_support::net::free_port;
use ecs_test_support::process::Running;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

const BIN: &str = env!("CARGO_BIN_EXE_ecs-agent");

/// A command for the binary with an environment that cannot reach outside the machine
/// nor read this host's ECS configuration by accident.
fn agent(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_DEFAULT_REGION", "us-west-2")
        .env("ECS_AGENT_CONFIG_FILE_PATH", dir.join("absent-config.json"))
        .env("ECS_CHECKPOINT", "false")
        .env("ECS_DATADIR", dir.join("data"))
        .env("ECS_AUDIT_LOGFILE_DISABLED", "true")
        .env("ECS_AGENT_MANAGE_NETWORK_RULES", "false")
        .stdin(Stdio::null());
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn version_prints_like_the_reference_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    for flag in ["--version", "-version", "-version=true"] {
        let out = run(agent(dir.path()).arg(flag));
        assert_eq!(out.status.code(), Some(0), "{flag}");
        assert_eq!(
            text(&out.stdout),
            ecs_agent::version::version_text(),
            "{flag}"
        );
        assert!(text(&out.stdout).starts_with("Amazon ECS Agent:\n\tVersion: 1.105.1\n\tCommit: "));
    }
}

#[test]
fn license_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(agent(dir.path()).arg("-license"));
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("Apache License, Version 2.0"));
}

#[test]
fn unknown_flags_and_help_exit_5_with_usage_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["-bogus"][..],
        &["--checkpoint"],
        &["-version=maybe"],
        &["-h"],
        &["-help"],
    ] {
        let out = run(agent(dir.path()).args(args));
        assert_eq!(out.status.code(), Some(5), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(
            text(&out.stderr).contains("-loglevel"),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn windows_service_exits_1_on_linux() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(agent(dir.path()).arg("-windows-service"));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("msg=\"Windows Services are not supported on Linux\""));
}

#[test]
fn healthcheck_exits_1_when_nothing_listens() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let out = run(agent(dir.path())
        .arg("--healthcheck")
        .env("ECS_AGENT_HEALTHCHECK_HOST", "127.0.0.1")
        .env("ECS_AGENT_HEALTHCHECK_PORT", port.to_string()));
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("level=error time=")
            && stdout.contains(&format!(
                "msg=\"health check [HEAD http://127.0.0.1:{port}/v1/metadata] failed with error: "
            )),
        "{stdout}"
    );
}

/// Serves HTTP on a free port as the introspection server would: `/v1/metadata`
/// answers with `status`; `/redirect-me` redirects there. Counts requests.
async fn serve(status: StatusCode) -> (u16, Arc<AtomicUsize>, Arc<std::sync::Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (hits2, seen2) = (hits.clone(), seen.clone());
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (hits, seen) = (hits2.clone(), seen2.clone());
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    hits.fetch_add(1, Ordering::SeqCst);
                    seen.lock()
                        .unwrap()
                        .push(format!("{} {}", req.method(), req.uri().path()));
                    let response = if req.uri().path() == "/redirect-me" {
                        Response::builder()
                            .status(StatusCode::MOVED_PERMANENTLY)
                            .header("Location", "/v1/metadata")
                            .body(Full::new(Bytes::new()))
                    } else {
                        Response::builder()
                            .status(status)
                            .header("Content-Type", "application/json")
                            .body(Full::new(Bytes::from_static(
                                br#"{"Cluster":"default","ContainerInstanceArn":"","Version":"Amazon ECS Agent - v1.105.1 (a8b3e7d3)"}"#,
                            )))
                    };
                    async move { Ok::<_, Infallible>(response.unwrap()) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (port, hits, seen)
}

async fn healthcheck_against(port: u16) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::from(agent(dir.path()));
    cmd.arg("-healthcheck")
        .env("ECS_AGENT_HEALTHCHECK_HOST", "127.0.0.1")
        .env("ECS_AGENT_HEALTHCHECK_PORT", port.to_string());
    cmd.output().await.unwrap()
}

#[tokio::test]
async fn healthcheck_exits_0_when_the_introspection_server_answers() {
    let (port, hits, seen) = serve(StatusCode::OK).await;
    let out = healthcheck_against(port).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert_eq!(*seen.lock().unwrap(), ["HEAD /v1/metadata"]);
}

#[tokio::test]
async fn healthcheck_exits_0_for_any_http_status() {
    let (port, hits, _) = serve(StatusCode::INTERNAL_SERVER_ERROR).await;
    let out = healthcheck_against(port).await;
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn healthcheck_follows_redirects() {
    let (port, _, seen) = serve(StatusCode::OK).await;
    let url = format!("http://127.0.0.1:{port}/redirect-me");
    let status = ecs_agent::healthcheck::check(&url, ecs_agent::healthcheck::TIMEOUT)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        *seen.lock().unwrap(),
        ["HEAD /redirect-me", "HEAD /v1/metadata"]
    );
}

#[tokio::test]
async fn healthcheck_times_out() {
    // Accepts connections but never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut streams = Vec::new();
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            streams.push(stream);
        }
    });
    let url = format!("http://127.0.0.1:{port}/v1/metadata");
    let result = ecs_agent::healthcheck::check(&url, Duration::from_millis(200)).await;
    assert!(
        matches!(
            result,
            Err(ecs_agent::healthcheck::HealthcheckError::Timeout(_))
        ),
        "{result:?}"
    );
    held.abort();
}

#[test]
fn print_config_redacts_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = [
        (
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY",
        ),
        ("AWS_SESSION_TOKEN", "FQoGZXIvYXdzEXAMPLESESSIONTOKEN"),
        (
            "ECS_ENGINE_AUTH_DATA",
            r#"{"https://index.docker.io/v1/":{"auth":"c2VjcmV0dXNlcjpzZWNyZXRwYXNz","email":"x@example.com"}}"#,
        ),
    ];
    let mut cmd = agent(dir.path());
    cmd.arg("--print-config")
        .env("ECS_CLUSTER", "print-config-cluster")
        .env("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
        .env("ECS_ENGINE_AUTH_TYPE", "dockercfg");
    for (name, value) in secrets {
        cmd.env(name, value);
    }
    let out = run(&mut cmd);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("print-config-cluster"), "{stdout}");
    for (name, value) in secrets {
        assert!(stdout.contains(name), "{name} missing:\n{stdout}");
        assert!(!stdout.contains(value), "{name} leaked:\n{stdout}");
    }
    assert!(!stdout.contains("c2VjcmV0dXNlcjpzZWNyZXRwYXNz"), "{stdout}");
}

#[test]
fn config_error_exits_1_with_a_critical_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(agent(dir.path()).env("ECS_AVAILABLE_LOGGING_DRIVERS", r#"["bogus-driver"]"#));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("level=critical time=")
            && stdout.contains("msg=\"Error loading config\" error=\""),
        "{stdout}"
    );
    assert!(stdout.contains("bogus-driver"), "{stdout}");
}

/// Starts the agent with `env` on top of the test environment, waits until a stdout
/// line contains `marker`, sends `signal`, and returns (exit code, stdout, log file).
fn run_until_signal(
    signal: i32,
    args: &[&str],
    env: &[(&str, &str)],
    marker: &str,
) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let logfile = dir.path().join("log/ecs-agent.log");
    let mut cmd = agent(dir.path());
    cmd.args(args)
        .env("ECS_LOGFILE", &logfile)
        .env("ECS_LOGLEVEL", "info")
        .env("ECS_LOGLEVEL_ON_INSTANCE", "debug")
        .stdout(Stdio::piped());
    for (name, value) in env {
        cmd.env(name, value);
    }
    let mut agent = Running::spawn(&mut cmd);
    agent.wait_for(marker, STARTUP);
    let (code, stdout) = agent.signal_and_wait(signal);
    let log = std::fs::read_to_string(&logfile).unwrap_or_default();
    (code, stdout, log)
}

const LOADING: &str = "msg=\"Loading configuration\"";

/// Bound on waiting for a start-up log line.
const STARTUP: Duration = Duration::from_secs(60);

#[test]
fn agent_runs_until_sigterm_and_exits_0() {
    let (code, stdout, log) = run_until_signal(libc::SIGTERM, &[], &[], LOADING);
    assert_eq!(code, Some(0), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("level=info time=")
            && lines[0]
                .contains(" msg=\"Starting Amazon ECS Agent\" version=\"1.105.1\" commit=\""),
        "{stdout}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("msg=\"Loading configuration\" module=main.rs"))
    );
    assert!(
        lines
            .last()
            .unwrap()
            .contains("msg=\"Agent received termination signal: terminated\" module=app.rs"),
        "{stdout}"
    );
    // The file gets the same lines, plus the debug ones its level admits.
    assert!(
        log.contains("msg=\"Agent received termination signal: terminated\""),
        "{log}"
    );
    assert!(log.contains("level=debug "), "{log}");
    assert!(!stdout.contains("level=debug "), "{stdout}");
}

#[test]
fn sigusr1_logs_a_stack_dump_and_the_agent_keeps_running() {
    let dir = tempfile::tempdir().unwrap();
    let mut agent = Running::spawn(&mut agent(dir.path()));
    agent.wait_for(LOADING, STARTUP);
    agent.signal(libc::SIGUSR1);
    agent.wait_for("/STACKTRACE", STARTUP);
    assert!(
        agent.seen.contains("level=critical time="),
        "{}",
        agent.seen
    );
    assert!(
        agent.seen.contains("====== STACKTRACE ======"),
        "{}",
        agent.seen
    );
    let before = agent.seen.len();
    let (code, stdout) = agent.signal_and_wait(libc::SIGTERM);
    assert_eq!(code, Some(0));
    let rest = &stdout[before..];
    assert!(
        rest.contains("Agent received termination signal: terminated"),
        "{rest}"
    );
}

#[test]
fn agent_exits_0_on_sigint_and_loglevel_on_instance_flag_overrides_the_file_level() {
    let (code, stdout, log) = run_until_signal(
        libc::SIGINT,
        &["-loglevel-on-instance", "warn"],
        &[],
        LOADING,
    );
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains("Agent received termination signal: interrupt"),
        "{stdout}"
    );
    assert!(
        !log.contains("level=info") && !log.contains("level=debug"),
        "{log}"
    );
}

#[test]
fn loglevel_flag_overrides_stdout_level() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(agent(dir.path()).args(["-loglevel", "crit", "-windows-service"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
}

#[test]
fn json_output_format() {
    let (code, stdout, log) = run_until_signal(
        libc::SIGTERM,
        &[],
        &[("ECS_LOG_OUTPUT_FORMAT", "json")],
        "\"msg\":\"Loading configuration\"",
    );
    assert_eq!(code, Some(0), "{stdout}");
    for line in stdout.lines().chain(log.lines()) {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(
            value["level"].is_string() && value["time"].is_string(),
            "{line}"
        );
    }
    let first: serde_json::Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    assert_eq!(first["msg"], "Starting Amazon ECS Agent");
    assert_eq!(first["version"], "1.105.1");
}

#[test]
fn output_before_the_configuration_uses_the_environment_format() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(agent(dir.path())
        .arg("-windows-service")
        .env("ECS_LOG_OUTPUT_FORMAT", "json"));
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    let value: serde_json::Value = serde_json::from_str(stdout.trim_end()).unwrap();
    assert_eq!(value["level"], "error");
    assert_eq!(value["msg"], "Windows Services are not supported on Linux");
    assert_eq!(value["module"], "main.rs");
}

#[test]
fn ecs_attributes_prints_capabilities_from_the_real_docker_engine() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(agent(dir.path()).arg("-ecs-attributes"));
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let attributes: Vec<(&str, &str)> = stdout
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .collect();
    assert!(
        attributes.contains(&("com.amazonaws.ecs.capability.docker-remote-api.1.17", "")),
        "{stdout}"
    );
    assert!(
        attributes.contains(&("ecs.capability.container-ordering", "")),
        "{stdout}"
    );
}

#[test]
fn ecs_attributes_exits_1_without_docker() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(agent(dir.path()).arg("-ecs-attributes").env(
        "DOCKER_HOST",
        format!("unix://{}", dir.path().join("no-docker.sock").display()),
    ));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("msg=\"Unable to create Docker client\""));
}
