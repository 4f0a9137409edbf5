//! The servers under abuse: the rate limit's 429 (and still answering), malformed
//! request lines and query strings, huge headers; clean 4xx, never a dead server.

mod endpoints_support;

use endpoints_support::*;

#[tokio::test]
async fn a_burst_over_the_limit_gets_429_and_the_server_stays_responsive() {
    let agent = agent(Options {
        rps: (1, 3),
        ..Options::default()
    })
    .await;
    let path = "/v4/some-endpoint-id";
    for _ in 0..3 {
        let a = get(agent.task, path).await;
        assert_eq!(a.status, 404);
        assert_eq!(a.header("x-rate-limit-limit"), Some("1.00"));
    }
    let a = get_with(agent.task, path, "X-Forwarded-For: 10.9.8.7\r\n").await;
    assert_eq!(a.status, 429);
    assert_eq!(a.text(), "You have reached maximum request limit.");
    assert_eq!(a.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(a.header("x-rate-limit-duration"), Some("1"));
    assert_eq!(
        a.header("x-rate-limit-request-forwarded-for"),
        Some("10.9.8.7")
    );
    assert!(
        a.header("x-rate-limit-request-remote-addr")
            .is_some_and(|v| v.starts_with("127.0.0.1:"))
    );
    // Other paths have their own budget, and the introspection server is not limited.
    assert_eq!(get(agent.task, "/v1/credentials").await.status, 400);
    for _ in 0..10 {
        assert_eq!(get(agent.intro, "/v1/metadata").await.status, 200);
    }
    let metrics = get(agent.intro, "/metrics").await.text();
    assert!(
        metrics.contains("ecs_agent_task_metadata_rate_limited_total 1"),
        "{metrics}"
    );
    // The bucket refills at the steady rate.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(get(agent.task, path).await.status, 404);
}

#[tokio::test]
async fn malformed_requests_get_clean_client_errors() {
    let agent = agent(Options::default()).await;
    for addr in [agent.task, agent.intro] {
        let bad_lines: [&[u8]; 4] = [
            b"GARBAGE\r\n\r\n",
            b"GET /v1/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET no-slash HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /v1/metadata HTTP/9.9\r\nHost: x\r\n\r\n",
        ];
        for req in bad_lines {
            if let Some(a) = raw(addr, req).await {
                assert!(
                    (400..500).contains(&a.status) || a.status == 505,
                    "{:?} -> {}",
                    String::from_utf8_lossy(req),
                    a.status
                );
            }
        }
        // A 2 MiB header: refused with a 4xx (or the connection closed), no crash.
        let huge = format!(
            "GET /v1/metadata HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "a".repeat(2 * 1024 * 1024)
        );
        if let Some(a) = raw(addr, huge.as_bytes()).await {
            assert!(
                (400..500).contains(&a.status),
                "huge header -> {}",
                a.status
            );
        }
        // Odd but well-formed paths and queries.
        for path in [
            "/v1/tasks?taskarn=%ZZ",
            "/v1/tasks?&&&=&dockerid",
            "/v4/%2e%2e/task",
            "/v3/%00/task",
            "/v2/credentials/%2F%2F",
            "/%",
        ] {
            let a = get(addr, path).await;
            assert!(
                a.status < 500 || addr == agent.task,
                "{path} -> {}",
                a.status
            );
        }
    }
    // Still serving.
    assert_eq!(get(agent.intro, "/v1/metadata").await.status, 200);
    assert_eq!(get(agent.task, "/v1/credentials?id=x").await.status, 400);
}

#[tokio::test]
async fn license_and_runtime_stats_pages() {
    let agent = agent(Options {
        runtime_stats: true,
        ..Options::default()
    })
    .await;
    let a = get(agent.intro, "/").await;
    assert_eq!(
        a.text(),
        r#"{"AvailableCommands":["/v1/metadata","/v1/tasks","/license","/debug/pprof/","/debug/pprof/cmdline","/debug/pprof/profile","/debug/pprof/symbol","/debug/pprof/trace"]}"#
    );
    let a = get(agent.intro, "/debug/pprof/symbol").await;
    assert_eq!((a.status, a.text().as_str()), (200, "num_symbols: 0\n"));
    let a = get(agent.intro, "/debug/pprof/cmdline").await;
    assert_eq!(a.status, 200);
    assert!(!a.body.is_empty());
    assert_eq!(get(agent.intro, "/debug/pprof/trace").await.status, 404);
    let a = get(agent.intro, "/license").await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    match ecs_agent::endpoints::introspection::license_text(dir) {
        Ok(text) => assert_eq!((a.status, a.text()), (200, text)),
        Err(_) => {
            assert_eq!((a.status, a.body.len()), (500, 0));
            assert_eq!(a.header("content-type"), Some("text/plain"));
        }
    }
}

#[tokio::test]
async fn headers_up_to_one_mebibyte_and_a_read_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let agent = agent(Options::default()).await;
    let big = format!(
        "GET /v1/metadata HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(900 * 1024)
    );
    assert_eq!(
        raw(agent.intro, big.as_bytes())
            .await
            .expect("answer")
            .status,
        200
    );
    let huge = format!(
        "GET /v1/metadata HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(3 * 1024 * 1024)
    );
    if let Some(a) = raw(agent.task, huge.as_bytes()).await {
        assert_eq!(a.status, 431);
    }
    // A client that never finishes its headers is cut off after the read timeout.
    let mut s = tokio::net::TcpStream::connect(agent.task).await.unwrap();
    s.write_all(b"GET /v1/credentials HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut buf = Vec::new();
    let read =
        tokio::time::timeout(std::time::Duration::from_secs(20), s.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "connection still open after 20 s");
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(get(agent.task, "/v1/credentials").await.status, 400);
}
