//! One client connection served by hyper under the [`Deadlines`], HTTP/1 or HTTP/2, and the hyper
//! settings both servers use for request heads.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::{Body, Incoming};
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::deadline::{Activity, Deadlines, Expiry};
use crate::watch::{Tracked, Watched};

/// Default cap of one request head (request line or pseudo-headers, and every header), like
/// nginx's 4 x 8 KiB and below Envoy's 60 KiB.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 32 * 1024;
/// hyper's smallest allowed HTTP/1 buffer.
const MIN_H1_BUFFER: usize = 8192;

/// How a server treats its client connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Http {
    pub deadlines: Deadlines,
    /// Largest request head accepted; larger ones get 431.
    pub max_header_bytes: usize,
}

impl Http {
    /// HTTP/1 with the head cap; no header-read timeout of hyper's own (it also runs while the
    /// connection is idle, which made it an idle timeout: [`Deadlines`] keeps the two apart).
    pub fn http1(&self) -> http1::Builder {
        let mut b = http1::Builder::new();
        let cap = self.max_header_bytes.max(MIN_H1_BUFFER);
        b.timer(TokioTimer::new())
            .header_read_timeout(None)
            .max_header_size(cap)
            // The read buffer also holds a head while it arrives: capping it caps what a slow
            // client can make us hold (hyper's default is ~400 KiB per connection).
            .max_buf_size(cap);
        b
    }

    /// HTTP/2 with the head cap (SETTINGS_MAX_HEADER_LIST_SIZE, refused with 431 by h2 past it).
    pub fn http2<E>(&self, exec: E) -> http2::Builder<E> {
        let mut b = http2::Builder::new(exec);
        b.timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(self.max_header_bytes).unwrap_or(u32::MAX));
        b
    }
}

/// How a connection ended, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The client closed it, or it finished after we asked it to.
    Done,
    /// Closed at once by a deadline.
    Cut(Expiry),
}

/// Serves one connection until it ends, a hard deadline cuts it, or `stop` resolves (then it is
/// closed gracefully: GOAWAY, or HTTP/1 `Connection: close` after the request in flight).
/// `activity` must say whether `io` speaks HTTP/2 (by ALPN or prior knowledge).
pub async fn serve_connection<IO, S, B>(
    http: &Http,
    io: IO,
    activity: Arc<Activity>,
    svc: S,
    stop: impl Future<Output = ()>,
) -> Ended
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let io = TokioIo::new(Watched::new(io, activity.clone()));
    let d = http.deadlines;
    tokio::pin!(stop);
    let mut stopping = false;
    if activity.is_http2() {
        let svc = Tracked::new(svc, activity.clone());
        let conn = http.http2(TokioExecutor::new()).serve_connection(io, svc);
        tokio::pin!(conn);
        loop {
            tokio::select! {
                // The connection first: the deadlines then see what its poll just did.
                biased;
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "HTTP/2 connection ended with an error");
                    }
                    return Ended::Done;
                }
                why = activity.expired(&d) => {
                    if why.is_hard() {
                        return Ended::Cut(why);
                    }
                    conn.as_mut().graceful_shutdown();
                    activity.goaway();
                }
                () = &mut stop, if !stopping => {
                    stopping = true;
                    conn.as_mut().graceful_shutdown();
                    activity.goaway();
                }
            }
        }
    } else {
        // Boxed so the connection can run without hyper's own shutdown (which needs an `Unpin`
        // service future) and hand its socket back for a lingering close.
        let inner = Arc::new(svc);
        let boxed = hyper::service::service_fn(move |req: Request<Incoming>| {
            let fut: std::pin::Pin<Box<dyn Future<Output = _> + Send>> = Box::pin(inner.call(req));
            fut
        });
        let svc = Tracked::new(boxed, activity.clone());
        let mut conn = http.http1().serve_connection(io, svc);
        let mut closed_by_us = false;
        let ended = loop {
            tokio::select! {
                // The connection first: the deadlines then see what its poll just did.
                biased;
                r = std::future::poll_fn(|cx| conn.poll_without_shutdown(cx)) => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "HTTP/1 connection ended with an error");
                    }
                    break Ended::Done;
                }
                why = activity.expired(&d) => {
                    if why.is_hard() {
                        break Ended::Cut(why);
                    }
                    // Idle (no request in flight, no byte of a next one): hyper closes at once.
                    std::pin::Pin::new(&mut conn).graceful_shutdown();
                    activity.goaway();
                    closed_by_us = true;
                }
                () = &mut stop, if !stopping => {
                    stopping = true;
                    std::pin::Pin::new(&mut conn).graceful_shutdown();
                    activity.goaway();
                    closed_by_us = true;
                }
            }
        };
        let mut io = conn.into_parts().io.into_inner().into_inner();
        if closed_by_us {
            linger(io).await;
        } else {
            // poll_without_shutdown leaves the close to us: TLS wants its close_notify (a client
            // reading to the end saw an unexpected EOF and lost the answer without it), TCP a FIN.
            use tokio::io::AsyncWriteExt;
            let _ = tokio::time::timeout(LINGER, io.shutdown()).await;
        }
        ended
    }
}

/// How long a connection we closed keeps being read after our FIN.
pub const LINGER: Duration = Duration::from_secs(2);

/// Closes without RST: a request the client sent as we closed would otherwise be unread data,
/// and closing a socket with unread data resets it. The client sees an orderly close instead,
/// which HTTP clients retry on a reused connection.
pub async fn linger<IO: AsyncRead + AsyncWrite + Unpin>(mut io: IO) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = tokio::time::timeout(LINGER, async {
        io.shutdown().await?;
        let mut buf = [0u8; 4096];
        while io.read(&mut buf).await? != 0 {}
        Ok::<_, std::io::Error>(())
    })
    .await;
}
