//! Shared by the api_* integration tests: the real server on an ephemeral port (in this
//! process, on its own runtime thread), and the real clients: the AWS CLI, boto3 (with
//! every response checked against botocore's output shapes) and raw HTTP.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::thread::JoinHandle;

use ecs_local::server::{Config, Server};
use ecs_local::store::Store;
use ecs_test_support::aws_cli;
use serde_json::Value;
use tokio::sync::oneshot;

pub const ACCESS_KEY: &str = "AKIDLOCALTEST";
pub const SECRET_KEY: &str = "local-test-secret";

pub struct TestServer {
    pub addr: SocketAddr,
    pub store: Arc<Store>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    pub fn start(data_dir: &Path) -> Self {
        Self::start_with(data_dir, None)
    }

    pub fn start_with(data_dir: &Path, credentials: Option<PathBuf>) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let mut config = Config::new("127.0.0.1:0".parse().unwrap(), data_dir);
        config.credentials = credentials;
        let server = runtime
            .block_on(Server::bind(&config))
            .expect("server binds");
        let addr = server.local_addr().expect("address");
        let store = server.store();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            runtime
                .block_on(server.run(async {
                    let _ = stopped.await;
                }))
                .expect("server runs");
        });
        Self {
            addr,
            store,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server and waits until it has released the store.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            thread.join().expect("server thread");
        }
    }

    fn client_env(&self, cmd: &mut Command, secret: &str) {
        aws_cli::isolate(cmd, ACCESS_KEY, secret);
        cmd.env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_MAX_ATTEMPTS", "1")
            .env("ECS_LOCAL_ENDPOINT", self.endpoint());
    }

    /// Runs `aws ecs <args>` against the server; the CLI must be installed.
    pub fn aws_with_secret(&self, secret: &str, args: &[&str]) -> Output {
        let endpoint = self.endpoint();
        let mut cmd = aws_cli::ecs_command(&endpoint, "us-east-1", ACCESS_KEY, secret, args);
        self.client_env(&mut cmd, secret);
        cmd.output().unwrap_or_else(|e| aws_cli::not_installed(e))
    }

    pub fn aws_output(&self, args: &[&str]) -> Output {
        self.aws_with_secret(SECRET_KEY, args)
    }

    /// Runs `aws ecs <args>`, expects success, returns the parsed JSON output.
    pub fn aws(&self, args: &[&str]) -> Value {
        aws_cli::json_output(args, &self.aws_output(args))
    }

    /// Runs a Python script with boto3 (see [`BOTO3_PRELUDE`]); expects success and
    /// returns what it passed to `done(...)`.
    pub fn boto3(&self, script: &str) -> Value {
        self.boto3_with_secret(SECRET_KEY, script)
    }

    pub fn boto3_with_secret(&self, secret: &str, script: &str) -> Value {
        let source = format!("{BOTO3_PRELUDE}\n{script}\n");
        let mut cmd = Command::new("python3");
        cmd.arg("-c").arg(source);
        self.client_env(&mut cmd, secret);
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("python3 must be installed: {e}"));
        assert!(
            out.status.success(),
            "boto3 script failed ({}):\n{}\n--- script ---\n{script}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let last = stdout.lines().last().unwrap_or("null");
        serde_json::from_str(last).unwrap_or_else(|e| panic!("script output {stdout:?}: {e}"))
    }

    /// Sends one raw HTTP/1.1 request and returns (status, headers, body).
    pub fn raw(&self, headers: &[(&str, &str)], body: &[u8]) -> RawResponse {
        let mut stream = TcpStream::connect(self.addr).expect("connect");
        let mut request = format!(
            "POST / HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n",
            self.addr
        );
        if !headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        {
            request.push_str(&format!("content-length: {}\r\n", body.len()));
        }
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).expect("write head");
        // A server may answer (and close) before reading an oversized body.
        let _ = stream.write_all(body);
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw);
        RawResponse::parse(&raw)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl RawResponse {
    fn parse(raw: &[u8]) -> Self {
        let text = String::from_utf8_lossy(raw);
        let (head, body) = text.split_once("\r\n\r\n").expect("HTTP response");
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .expect("status line");
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect::<Vec<_>>();
        let chunked = headers
            .iter()
            .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
        let body = if chunked {
            dechunk(body)
        } else {
            body.to_string()
        };
        let body = serde_json::from_str(&body).unwrap_or(Value::String(body));
        Self {
            status,
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn error_type(&self) -> &str {
        self.body["__type"].as_str().unwrap_or("")
    }
}

fn dechunk(body: &str) -> String {
    String::from_utf8_lossy(&ecs_test_support::http::dechunk(body.as_bytes())).into_owned()
}

/// A well-formed, fresh SigV4 `Authorization` header whose signature is not checked by a
/// server without a credentials file, plus its `X-Amz-Date`.
pub fn lenient_auth() -> (String, String) {
    let now = chrono::Utc::now();
    let date = now.format("%Y%m%dT%H%M%SZ").to_string();
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{}/us-east-1/ecs/aws4_request, SignedHeaders=host;x-amz-date, Signature={}",
        now.format("%Y%m%d"),
        "0".repeat(64)
    );
    (auth, date)
}

/// Defines `ecs` (a boto3 client with retries off), `done(value)` (prints it as the last
/// line) and validates every successful response against botocore's output shape: an
/// unknown member or a mistyped value fails the script.
pub const BOTO3_PRELUDE: &str = r#"
import json, os, sys
import boto3, botocore
from botocore.config import Config

PROBLEMS = []

def _check(shape, value, path):
    t = shape.type_name
    if t == 'structure':
        if not isinstance(value, dict):
            PROBLEMS.append(f'{path}: expected an object, got {value!r}'); return
        for k, v in value.items():
            if k not in shape.members:
                PROBLEMS.append(f'{path}.{k}: not a member of {shape.name}'); continue
            _check(shape.members[k], v, f'{path}.{k}')
    elif t == 'list':
        if not isinstance(value, list):
            PROBLEMS.append(f'{path}: expected a list'); return
        for i, v in enumerate(value):
            _check(shape.member, v, f'{path}[{i}]')
    elif t == 'map':
        if not isinstance(value, dict):
            PROBLEMS.append(f'{path}: expected a map'); return
        for k, v in value.items():
            _check(shape.value, v, f'{path}[{k}]')
    elif t == 'string':
        if not isinstance(value, str):
            PROBLEMS.append(f'{path}: expected a string, got {value!r}')
        elif shape.enum and value not in shape.enum:
            PROBLEMS.append(f'{path}: {value!r} is not one of {shape.enum}')
    elif t in ('integer', 'long'):
        if isinstance(value, bool) or not isinstance(value, int):
            PROBLEMS.append(f'{path}: expected an integer, got {value!r}')
    elif t in ('double', 'float', 'timestamp'):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            PROBLEMS.append(f'{path}: expected a number, got {value!r}')
    elif t == 'boolean':
        if not isinstance(value, bool):
            PROBLEMS.append(f'{path}: expected a boolean, got {value!r}')

def _validate(operation_model, response_dict, **kwargs):
    if response_dict['status_code'] >= 300 or operation_model.output_shape is None:
        return
    body = response_dict['body']
    _check(operation_model.output_shape, json.loads(body) if body else {}, operation_model.name)

ecs = boto3.client('ecs', endpoint_url=os.environ['ECS_LOCAL_ENDPOINT'], region_name='us-east-1',
                   config=Config(retries={'max_attempts': 1}))
ecs.meta.events.register('before-parse.ecs.*', _validate)

def done(value=None):
    if PROBLEMS:
        print('responses do not match the model:\n' + '\n'.join(PROBLEMS), file=sys.stderr)
        sys.exit(3)
    print()
    print(json.dumps(value, default=str))

def expect_error(code, call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except botocore.exceptions.ClientError as e:
        got = e.response['Error']['Code']
        assert got == code, f'expected {code}, got {got}: {e}'
        return e
    raise AssertionError(f'expected {code}, call succeeded')

RESOURCES = [
    {'name': 'CPU', 'type': 'INTEGER', 'integerValue': 2048},
    {'name': 'MEMORY', 'type': 'INTEGER', 'integerValue': 4096},
    {'name': 'PORTS', 'type': 'STRINGSET', 'stringSetValue': ['22', '2375', '2376', '51678', '51679']},
    {'name': 'PORTS_UDP', 'type': 'STRINGSET', 'stringSetValue': []},
]
AGENT_ATTRIBUTES = [
    {'name': 'ecs.capability.full-sync'},
    {'name': 'com.amazonaws.ecs.capability.docker-remote-api.1.32'},
    {'name': 'ecs.os-type', 'value': 'linux'},
    {'name': 'ecs.os-family', 'value': 'LINUX'},
]

def register_instance(cluster='default', **extra):
    return ecs.register_container_instance(cluster=cluster, instanceIdentityDocument='',
        instanceIdentityDocumentSignature='', totalResources=RESOURCES,
        attributes=AGENT_ATTRIBUTES, **extra)['containerInstance']
"#;
