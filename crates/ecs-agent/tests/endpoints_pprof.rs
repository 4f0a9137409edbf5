//! `/debug/pprof/profile` on a real introspection server (spec §1.6, quirk 13): a CPU
//! profile in gzip-compressed pprof protobuf, and Go's `net/http/pprof` rules for
//! `seconds`, the write timeout and a profile already running.
//!
//! One test profiles at a time: SIGPROF is process-wide, so every profiling request of
//! this binary is in the single test below.

mod endpoints_support;

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use endpoints_support::*;
use pprof::protos::{Message, Profile};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const IN_USE: &str = "Could not enable CPU profiling: cpu profiling already in use\n";

fn decode(body: &[u8]) -> Profile {
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(body)
        .read_to_end(&mut raw)
        .expect("gzip");
    Profile::decode(&raw[..]).expect("pprof protobuf")
}

fn string(p: &Profile, i: i64) -> &str {
    &p.string_table[usize::try_from(i).expect("index")]
}

/// Keeps the agent's server busy until `done`, so that the profile has samples of it.
fn spin(addr: std::net::SocketAddr, done: Arc<AtomicBool>) -> tokio::task::JoinHandle<u32> {
    tokio::spawn(async move {
        let mut n = 0;
        while !done.load(Ordering::Relaxed) {
            let _ = get(addr, "/v1/tasks").await;
            n += 1;
        }
        n
    })
}

/// Plain CPU work in this process until `done` (the profile covers the whole process).
fn burn(done: Arc<AtomicBool>) -> tokio::task::JoinHandle<u64> {
    tokio::task::spawn_blocking(move || {
        let mut x: u64 = 1;
        while !done.load(Ordering::Relaxed) {
            for _ in 0..10_000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
        }
        x
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_profile_rules_like_go() {
    let agent = agent(Options {
        runtime_stats: true,
        ..Options::default()
    })
    .await;

    // A one-second profile while the server is kept busy.
    let done = Arc::new(AtomicBool::new(false));
    let busy = spin(agent.intro, done.clone());
    let burn = burn(done.clone());
    let started = Instant::now();
    let a = get(agent.intro, "/debug/pprof/profile?seconds=1").await;
    let took = started.elapsed();
    done.store(true, Ordering::Relaxed);
    assert!(busy.await.expect("load") > 0);
    burn.await.expect("cpu load");
    assert_eq!(a.status, 200, "{}", a.text());
    assert!(took >= Duration::from_secs(1), "{took:?}");
    assert_eq!(a.header("content-type"), Some("application/octet-stream"));
    assert_eq!(
        a.header("content-disposition"),
        Some("attachment; filename=\"profile\"")
    );
    assert_eq!(a.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(&a.body[..2], &[0x1f, 0x8b], "gzip magic");
    let p = decode(&a.body);
    let types: Vec<(&str, &str)> = p
        .sample_type
        .iter()
        .map(|t| (string(&p, t.ty), string(&p, t.unit)))
        .collect();
    assert_eq!(types, [("samples", "count"), ("cpu", "nanoseconds")]);
    let period = p.period_type.as_ref().expect("period type");
    assert_eq!(
        (string(&p, period.ty), string(&p, period.unit)),
        ("cpu", "nanoseconds")
    );
    assert_eq!(p.period, 10_000_000, "Go's 100 Hz");
    let duration = Duration::from_nanos(u64::try_from(p.duration_nanos).expect("duration"));
    assert!(
        duration >= Duration::from_millis(950) && duration < Duration::from_secs(5),
        "{duration:?}"
    );
    assert!(p.time_nanos > 0);
    // Real samples with symbolised stacks of this process.
    assert!(!p.sample.is_empty(), "no samples");
    let names: Vec<&str> = p.function.iter().map(|f| string(&p, f.name)).collect();
    assert!(
        names
            .iter()
            .any(|n| n.contains("tokio") || n.contains("ecs_agent")),
        "{names:?}"
    );

    // Go refuses a profile at or beyond the write timeout: 5 min with runtime stats on.
    let a = get(agent.intro, "/debug/pprof/profile?seconds=300").await;
    assert_eq!(
        (a.status, a.text().as_str()),
        (400, "profile duration exceeds server's WriteTimeout\n")
    );
    assert_eq!(a.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(a.header("x-go-pprof"), Some("1"));

    // Two at once: one profiles, the other gets Go's 500.
    let (x, y) = tokio::join!(
        get(agent.intro, "/debug/pprof/profile?seconds=3"),
        get(agent.intro, "/debug/pprof/profile?seconds=3"),
    );
    let mut statuses = [x.status, y.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 500]);
    let refused = if x.status == 500 { &x } else { &y };
    assert_eq!(refused.text(), IN_USE);
    assert_eq!(refused.header("x-go-pprof"), Some("1"));

    // A `seconds` that is not a positive integer is Go's default 30 s, not an error:
    // the profile runs (another request is refused meanwhile) ...
    let deadline = Instant::now() + Duration::from_secs(20);
    let held = loop {
        let mut held = TcpStream::connect(agent.intro).await.expect("connect");
        held.write_all(
            b"GET /debug/pprof/profile?seconds=abc HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await
        .expect("send");
        let a = get(agent.intro, "/debug/pprof/profile?seconds=1").await;
        if a.status == 500 {
            assert_eq!(a.text(), IN_USE);
            break held;
        }
        // The probe was read first and the held request refused: send it again.
        assert_eq!(a.status, 200);
        assert!(
            Instant::now() < deadline,
            "the seconds=abc profile never ran"
        );
    };
    // ... and ends when its client goes away, freeing the profiler at once (not after
    // 30 s).
    let dropped = Instant::now();
    drop(held);
    loop {
        let a = get(agent.intro, "/debug/pprof/profile?seconds=1").await;
        if a.status == 200 {
            decode(&a.body);
            break;
        }
        assert_eq!(a.text(), IN_USE);
        assert!(
            dropped.elapsed() < Duration::from_secs(15),
            "profiler still held after the client left"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The other pages.
    let a = get(agent.intro, "/debug/pprof/").await;
    assert_eq!(a.status, 200);
    assert!(a.text().contains("\tprofile\n"), "{}", a.text());
    assert_eq!(get(agent.intro, "/debug/pprof/trace").await.status, 404);
    let a = get(agent.intro, "/debug/pprof/symbol").await;
    assert_eq!((a.status, a.text().as_str()), (200, "num_symbols: 0\n"));
}

#[tokio::test]
async fn without_runtime_stats_the_profile_path_is_the_command_list() {
    let agent = agent(Options::default()).await;
    for path in [
        "/debug/pprof/profile",
        "/debug/pprof/profile?seconds=1",
        "/debug/pprof/",
    ] {
        let a = get(agent.intro, path).await;
        assert_eq!(
            (a.status, a.text().as_str()),
            (
                200,
                r#"{"AvailableCommands":["/v1/metadata","/v1/tasks","/license"]}"#
            ),
            "{path}"
        );
        assert_eq!(a.header("content-type"), Some("text/plain; charset=utf-8"));
    }
}
