//! The write timeout of both servers (spec §0.4): 5 s from the end of a request's
//! headers; a handler still running then loses its response and the client sees the
//! connection close, while the server keeps serving everyone else. No agent route is
//! slow on purpose, so a router with slow handlers is served through the same accept
//! loop the agent's servers use (`listener::serve_router`).

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::routing::get;
use ecs_agent::endpoints::listener::{WRITE_TIMEOUT, serve_router};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Far beyond the write timeout.
const SLOW: Duration = Duration::from_secs(60);
/// Far more than loopback socket buffers hold.
const BIG: usize = 64 << 20;

fn router() -> Router {
    Router::new()
        .route("/fast", get(|| async { "ok" }))
        .route("/big", get(|| async { vec![b'x'; BIG] }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(SLOW).await;
                "late"
            }),
        )
        .route(
            "/slow-body",
            get(|| async {
                // Headers and a first chunk at once, the rest never in time.
                let chunks = futures::stream::unfold(0u8, |n| async move {
                    if n > 0 {
                        tokio::time::sleep(SLOW).await;
                    }
                    Some((Ok::<_, std::io::Error>(Bytes::from_static(b"part ")), n + 1))
                });
                Body::from_stream(chunks)
            }),
        )
}

async fn start() -> (SocketAddr, watch::Sender<bool>) {
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stop_rx) = watch::channel(false);
    tokio::spawn(serve_router(listener, router(), stop_rx, WRITE_TIMEOUT));
    (addr, stop)
}

/// Sends `requests` on one connection and reads until the server closes it; what was
/// read and when the close came, measured from the send.
async fn exchange(addr: SocketAddr, requests: String) -> (String, Duration) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(requests.as_bytes()).await.expect("send");
    let sent = Instant::now();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut buf))
        .await
        .expect("the server closed the connection")
        .expect("read");
    (String::from_utf8_lossy(&buf).into_owned(), sent.elapsed())
}

fn request(path: &str, close: bool) -> String {
    let connection = if close { "Connection: close\r\n" } else { "" };
    format!("GET {path} HTTP/1.1\r\nHost: x\r\n{connection}\r\n")
}

fn near_write_timeout(took: Duration) -> bool {
    took >= WRITE_TIMEOUT - Duration::from_millis(100) && took < WRITE_TIMEOUT * 3
}

#[tokio::test]
async fn a_late_handler_loses_its_response_and_the_server_keeps_serving() {
    assert_eq!(WRITE_TIMEOUT, Duration::from_secs(5));
    let (addr, _stop) = start().await;

    let slow = tokio::spawn(exchange(addr, request("/slow", true)));
    // Keep-alive: the first answer is written, the second request's deadline is its own.
    let keep_alive = tokio::spawn(exchange(
        addr,
        request("/fast", false) + &request("/slow", false),
    ));
    let streaming = tokio::spawn(exchange(addr, request("/slow-body", true)));

    // Meanwhile other clients are served at once.
    for _ in 0..3 {
        let (text, took) = exchange(addr, request("/fast", true)).await;
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\nok"), "{text}");
        assert!(took < WRITE_TIMEOUT, "{took:?}");
    }

    let (text, took) = slow.await.expect("slow client");
    assert_eq!(text, "", "no status line at all");
    assert!(near_write_timeout(took), "{took:?}");

    let (text, took) = keep_alive.await.expect("keep-alive client");
    assert_eq!(text.matches("HTTP/1.1").count(), 1, "{text}");
    assert!(
        text.starts_with("HTTP/1.1 200 OK\r\n") && text.ends_with("ok"),
        "{text}"
    );
    assert!(near_write_timeout(took), "{took:?}");

    // A body still streaming at the deadline is cut: no chunked terminator.
    let (text, took) = streaming.await.expect("streaming client");
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("part "), "{text}");
    assert!(!text.ends_with("0\r\n\r\n"), "{text}");
    assert!(near_write_timeout(took), "{took:?}");

    let (text, _) = exchange(addr, request("/fast", true)).await;
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
}

#[tokio::test]
async fn a_client_that_does_not_read_its_answer_is_cut_at_the_deadline() {
    let (addr, _stop) = start().await;
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(request("/big", true).as_bytes())
        .await
        .expect("send");
    // The slow reader under test: nothing is read until the deadline has passed.
    tokio::time::sleep(WRITE_TIMEOUT + Duration::from_secs(1)).await;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut buf))
        .await
        .expect("the server closed the connection")
        .expect("read");
    let text = String::from_utf8_lossy(&buf[..buf.len().min(200)]).into_owned();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(
        buf.len() < BIG,
        "the whole answer was written: {}",
        buf.len()
    );

    let (text, _) = exchange(addr, request("/fast", true)).await;
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
}
