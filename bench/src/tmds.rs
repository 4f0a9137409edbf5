//! Task metadata v4 throughput with `wrk`, against a minimal HTTP server that returns the
//! same bytes (the loopback's and wrk's own limit on this machine).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use axum::Router;
use axum::http::header;
use axum::routing::get;
use bollard::Docker;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The agent's task server (credentials and metadata) on loopback.
pub const TASK_SERVER: &str = "127.0.0.1:51679";

/// What wrk measured.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct WrkResult {
    pub requests_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub non_2xx: u64,
}

pub fn wrk_available() -> bool {
    std::process::Command::new("wrk")
        .arg("--version")
        .output()
        .is_ok()
}

/// The v4 path the agent gave a container (`/v4/<id>` from ECS_CONTAINER_METADATA_URI_V4).
pub async fn v4_path(docker: &Docker, container: &str) -> anyhow::Result<String> {
    let inspected = docker.inspect_container(container, None).await?;
    let env = inspected.config.and_then(|c| c.env).unwrap_or_default();
    let uri = env
        .iter()
        .find_map(|e| e.strip_prefix("ECS_CONTAINER_METADATA_URI_V4="))
        .context("the container has no ECS_CONTAINER_METADATA_URI_V4")?;
    let path = uri
        .split_once("//")
        .and_then(|(_, rest)| rest.split_once('/'))
        .map(|(_, p)| format!("/{p}"))
        .context("malformed ECS_CONTAINER_METADATA_URI_V4")?;
    Ok(path)
}

/// One plain HTTP/1.1 GET; status and body.
pub async fn get_once(addr: &str, path: &str) -> anyhow::Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no end of headers")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("no status")?;
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        bail!("chunked response not expected");
    }
    Ok((status, raw[split + 4..].to_vec()))
}

/// Serves `body` as JSON on every path of a loopback port, until the runtime ends.
pub async fn serve_static(body: Vec<u8>) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = Router::new().fallback(get(move || {
        let body = body.clone();
        async move { ([(header::CONTENT_TYPE, "application/json")], body) }
    }));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(addr)
}

/// Runs wrk against `url`.
pub async fn wrk(url: &str, connections: u32, duration: Duration) -> anyhow::Result<WrkResult> {
    let out = tokio::process::Command::new("wrk")
        .arg("-t2")
        .arg(format!("-c{connections}"))
        .arg(format!("-d{}s", duration.as_secs().max(1)))
        .arg("--latency")
        .arg(url)
        .output()
        .await
        .context("running wrk")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("wrk failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    }
    parse_wrk(&text).with_context(|| format!("unexpected wrk output:\n{text}"))
}

fn parse_wrk(text: &str) -> Option<WrkResult> {
    let requests_per_s = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))?
        .trim()
        .parse()
        .ok()?;
    let percentile = |p: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(p))
            .and_then(|v| duration_ms(v.trim()))
    };
    let non_2xx = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Non-2xx or 3xx responses:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    Some(WrkResult {
        requests_per_s,
        p50_ms: percentile("50%")?,
        p99_ms: percentile("99%")?,
        non_2xx,
    })
}

/// wrk's durations: `812.00us`, `1.23ms`, `1.01s`, `2.00m`.
fn duration_ms(v: &str) -> Option<f64> {
    let split = v.find(|c: char| c.is_ascii_alphabetic())?;
    let (n, unit) = v.split_at(split);
    let n: f64 = n.parse().ok()?;
    match unit {
        "us" => Some(n / 1000.0),
        "ms" => Some(n),
        "s" => Some(n * 1000.0),
        "m" => Some(n * 60_000.0),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "Running 1s test @ http://127.0.0.1:51679/v4/x/task
  2 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   150.13us  100.10us   2.01ms   90.00%
    Req/Sec    12.00k     1.00k   13.00k    70.00%
  Latency Distribution
     50%  140.00us
     75%  160.00us
     90%  200.00us
     99%    1.20ms
  24000 requests in 1.00s, 30.00MB read
  Non-2xx or 3xx responses: 3
Requests/sec:  23990.50
Transfer/sec:     30.00MB
";

    #[test]
    fn wrk_output_is_parsed() {
        let r = parse_wrk(SAMPLE).unwrap();
        assert_eq!(r.requests_per_s, 23990.5);
        assert_eq!(r.p50_ms, 0.14);
        assert_eq!(r.p99_ms, 1.2);
        assert_eq!(r.non_2xx, 3);
    }

    #[test]
    fn durations_in_every_unit() {
        assert_eq!(duration_ms("812.00us"), Some(0.812));
        assert_eq!(duration_ms("1.01s"), Some(1010.0));
        assert_eq!(duration_ms("abc"), None);
    }

    #[tokio::test]
    async fn static_server_serves_the_body() {
        let addr = serve_static(b"{\"a\":1}".to_vec()).await.unwrap();
        let (status, body) = get_once(&addr.to_string(), "/v4/x/task").await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(body, b"{\"a\":1}");
    }
}
