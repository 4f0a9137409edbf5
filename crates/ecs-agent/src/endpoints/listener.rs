//! The HTTP/1.1 accept loop both servers run (spec endpoints §0.4): the reference's
//! 1 MiB header limit, 5 s header read timeout, and write timeout, and graceful
//! shutdown of open connections.
//!
//! The write timeout follows Go's `http.Server.WriteTimeout`: the deadline is set when
//! a request's headers have been read, and a response not written by then is lost —
//! the connection is closed without a status line, so the client sees EOF. Three
//! places enforce it: the handler (dropped at the deadline; Go would let it run on and
//! fail its write later), the response body (a stream still producing is cut), and the
//! socket (a client that does not read its answer cannot hold the connection open).

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};

/// Request headers up to 1 MiB are read (larger ⇒ 431), as the reference allows.
const MAX_HEADER_BYTES: usize = (1 << 20) + 4096;
/// The reference's read timeout (idle keep-alive connections close after it too).
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// The reference's write timeout on both servers (the introspection server's is longer
/// while runtime stats are on, see `introspection::write_timeout`).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a connection was closed without a response.
#[derive(Debug, thiserror::Error)]
#[error("write deadline passed before the response was written")]
pub struct WriteTimeoutElapsed;

/// Serves `router` on `listener` until `stop` turns true: HTTP/1.1 only, with the
/// reference's header limit, read timeout and the given write timeout. Open connections
/// get up to [`READ_TIMEOUT`] to finish at shutdown.
pub async fn serve_router(
    listener: TcpListener,
    router: Router,
    mut stop: watch::Receiver<bool>,
    write_timeout: Duration,
) -> std::io::Result<()> {
    use axum::Extension;
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;

    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                // Out of file descriptors and the like: keep serving the others.
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = async { let _ = stop.wait_for(|s| *s).await; } => break,
        };
        let deadline = Arc::new(DeadlineCell::default());
        let service = WriteDeadline {
            inner: TowerToHyperService::new(router.clone().layer(Extension(ConnectInfo(peer)))),
            timeout: write_timeout,
            deadline: deadline.clone(),
        };
        let stream = DeadlineStream {
            inner: stream,
            deadline,
            sleep: None,
        };
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(READ_TIMEOUT)
            .max_buf_size(MAX_HEADER_BYTES)
            .serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    // A shutdown should not wait out a long write timeout (a CPU profile): in-flight
    // requests get the read timeout to finish.
    let _ = tokio::time::timeout(READ_TIMEOUT, graceful.shutdown()).await;
    Ok(())
}

/// Wraps a service so that each response must be complete by `timeout` after the
/// request's headers were read. hyper calls the service once the headers are parsed,
/// which is where Go arms its write deadline.
#[derive(Clone)]
struct WriteDeadline<S> {
    inner: S,
    timeout: Duration,
    /// The connection's socket fails writes after it.
    deadline: Arc<DeadlineCell>,
}

/// The write deadline of a connection's current request. It is renewed when the
/// service is called; hyper's own answers to a malformed next request (400, 431) on a
/// keep-alive connection are written under the previous request's deadline, where Go
/// renews it after any header read.
#[derive(Debug, Default)]
struct DeadlineCell(Mutex<Option<Instant>>);

impl DeadlineCell {
    fn set(&self, at: Instant) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(at);
    }

    fn get(&self) -> Option<Instant> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> hyper::service::Service<Request<Incoming>> for WriteDeadline<S>
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>,
    S::Future: Send + 'static,
    B: Body + Unpin + Send + 'static,
{
    type Response = Response<DeadlineBody<B>>;
    type Error = WriteTimeoutElapsed;
    type Future = BoxFuture<Result<Self::Response, WriteTimeoutElapsed>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let deadline = Instant::now() + self.timeout;
        self.deadline.set(deadline);
        let handler = self.inner.call(req);
        Box::pin(async move {
            match tokio::time::timeout_at(deadline, handler).await {
                Ok(Ok(resp)) => Ok(resp.map(|inner| DeadlineBody {
                    inner,
                    deadline,
                    sleep: None,
                })),
                Ok(Err(never)) => match never {},
                // The handler is dropped; hyper closes the connection on a service error
                // without writing anything.
                Err(_) => {
                    tracing::debug!("response not ready at the write deadline; closing");
                    Err(WriteTimeoutElapsed)
                }
            }
        })
    }
}

/// A response body that fails (and so closes the connection) if it is still streaming
/// at the write deadline.
pub struct DeadlineBody<B> {
    inner: B,
    deadline: Instant,
    /// Armed only once the body has to wait, so that complete bodies cost no timer.
    sleep: Option<Pin<Box<Sleep>>>,
}

impl<B> Body for DeadlineBody<B>
where
    B: Body + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = B::Data;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|r| r.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(WriteTimeoutElapsed)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A connection's socket whose writes fail once the current request's write deadline
/// has passed, also while blocked on a client that does not read.
struct DeadlineStream<T> {
    inner: T,
    deadline: Arc<DeadlineCell>,
    /// The timer of the deadline a blocked write waits on, armed only when one blocks.
    sleep: Option<(Instant, Pin<Box<Sleep>>)>,
}

fn write_timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, WriteTimeoutElapsed)
}

impl<T> DeadlineStream<T> {
    fn guard<R>(
        &mut self,
        cx: &mut Context<'_>,
        op: impl FnOnce(&mut T, &mut Context<'_>) -> Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        let deadline = self.deadline.get();
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Poll::Ready(Err(write_timed_out()));
        }
        match op(&mut self.inner, cx) {
            Poll::Pending => {
                let Some(d) = deadline else {
                    return Poll::Pending;
                };
                if self.sleep.as_ref().map(|(at, _)| *at) != Some(d) {
                    self.sleep = Some((d, Box::pin(tokio::time::sleep_until(d))));
                }
                if let Some((_, sleep)) = &mut self.sleep
                    && sleep.as_mut().poll(cx).is_ready()
                {
                    return Poll::Ready(Err(write_timed_out()));
                }
                Poll::Pending
            }
            ready => ready,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for DeadlineStream<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for DeadlineStream<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .guard(cx, |inner, cx| Pin::new(inner).poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().guard(cx, |inner, cx| {
            Pin::new(inner).poll_write_vectored(cx, bufs)
        })
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut()
            .guard(cx, |inner, cx| Pin::new(inner).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
