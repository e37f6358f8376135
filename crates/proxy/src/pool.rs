//! Keep-alive HTTP/1 connections to the application, one pool per worker thread. Written on
//! hyper's connection API instead of hyper-util's legacy client: that client hashes a pool key,
//! races a fresh connect against every checkout (the losers pile up and churn), and spawns a task
//! per request to return the connection; here a checkout is a lock on a short vector, and the
//! connection goes back when the response body has been read to its end.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{Either, Empty};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Body of a request to the application: streamed from the client, or empty on a replay.
pub type UpstreamBody = Either<Incoming, Empty<Bytes>>;
pub type Sender = http1::SendRequest<UpstreamBody>;

/// Why no connection to the application could be had.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("no connection within the connect timeout of {0:?}")]
    Timeout(Duration),
    #[error("HTTP/1 handshake: {0}")]
    Handshake(#[from] hyper::Error),
}

#[derive(Debug)]
pub struct Pool {
    addr: SocketAddr,
    connect_timeout: Duration,
    idle_timeout: Duration,
    /// Idle connections, most recently used last: checkout takes the warmest one, and the ones at
    /// the bottom are the first to pass the idle timeout.
    idle: Mutex<Vec<Idle>>,
}

#[derive(Debug)]
struct Idle {
    sender: Sender,
    since: Instant,
}

impl Pool {
    pub fn new(addr: SocketAddr, connect_timeout: Duration, idle_timeout: Duration) -> Arc<Pool> {
        Arc::new(Pool {
            addr,
            connect_timeout,
            idle_timeout,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// An idle connection ready for a request, or a new one.
    pub async fn checkout(&self) -> Result<Sender, ConnectError> {
        while let Some(mut sender) = self.take_idle() {
            // Returned when its last response ended; hyper may not have polled for the next
            // request yet, so this usually resolves at once or after one turn of the connection task.
            if sender.ready().await.is_ok() {
                return Ok(sender);
            }
        }
        // Boxed: the connect future is large and rare, and would otherwise widen every checkout.
        Box::pin(self.connect()).await
    }

    fn take_idle(&self) -> Option<Sender> {
        let now = Instant::now();
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(c) = idle.pop() {
            if now.saturating_duration_since(c.since) >= self.idle_timeout {
                // Everything below is older still: the application may be closing it right now.
                idle.clear();
                return None;
            }
            if !c.sender.is_closed() {
                return Some(c.sender);
            }
        }
        None
    }

    fn put(&self, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let idle = Idle {
            sender,
            since: Instant::now(),
        };
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(idle);
    }

    /// Closes connections idle past the timeout, so the application never holds them open for us
    /// and never closes one under a request we are sending.
    pub fn evict_expired(&self) {
        let now = Instant::now();
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.retain(|c| {
            now.saturating_duration_since(c.since) < self.idle_timeout && !c.sender.is_closed()
        });
    }

    /// Runs [`Pool::evict_expired`] periodically until the task is dropped.
    pub async fn evict_loop(self: Arc<Self>) {
        let period = (self.idle_timeout / 2).max(Duration::from_millis(10));
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            self.evict_expired();
        }
    }

    /// A connection of its own (never pooled) for a request asking for an upgrade.
    pub async fn connect_for_upgrade(&self) -> Result<Sender, ConnectError> {
        self.connect_with(true).await
    }

    async fn connect(&self) -> Result<Sender, ConnectError> {
        self.connect_with(false).await
    }

    async fn connect_with(&self, upgrades: bool) -> Result<Sender, ConnectError> {
        let stream = tokio::time::timeout(self.connect_timeout, TcpStream::connect(self.addr))
            .await
            .map_err(|_| ConnectError::Timeout(self.connect_timeout))??;
        // Requests and responses are small and latency-bound: no Nagle delay.
        stream.set_nodelay(true)?;
        let (sender, conn) = http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await?;
        tokio::spawn(async move {
            let ended = if upgrades {
                conn.with_upgrades().await
            } else {
                conn.await
            };
            if let Err(e) = ended {
                tracing::debug!(error = %e, "connection to the application ended with an error");
            }
        });
        Ok(sender)
    }
}

/// A response body from the application that hands its connection back to the pool once read to
/// the end. A body dropped before its end (client gone, error) takes the connection with it, and
/// hyper closes it.
pub struct PooledBody {
    body: Incoming,
    done: bool,
    back: Option<(Sender, Arc<Pool>)>,
}

impl PooledBody {
    pub fn new(body: Incoming, sender: Sender, pool: Arc<Pool>) -> Self {
        PooledBody {
            done: body.is_end_stream(),
            body,
            back: Some((sender, pool)),
        }
    }

    /// A body whose connection is not returned to the pool.
    pub fn unpooled(body: Incoming) -> Self {
        PooledBody {
            done: body.is_end_stream(),
            body,
            back: None,
        }
    }

    fn give_back(&mut self) {
        let Some((mut sender, pool)) = self.back.take() else {
            return;
        };
        if sender.is_ready() {
            pool.put(sender);
        } else if let (false, Ok(rt)) = (sender.is_closed(), tokio::runtime::Handle::try_current())
        {
            // The response ended before the request did (an early answer to an upload): the
            // connection is busy until the request body is sent, so it waits outside the pool
            // rather than stall the next checkout.
            rt.spawn(async move {
                if sender.ready().await.is_ok() {
                    pool.put(sender);
                }
            });
        }
    }
}

impl Body for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.done = true,
            Poll::Ready(Some(Ok(_))) if self.body.is_end_stream() => self.done = true,
            _ => {}
        }
        if self.done {
            self.give_back();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for PooledBody {
    fn drop(&mut self) {
        if self.done || self.body.is_end_stream() {
            self.give_back();
        }
    }
}

impl std::fmt::Debug for PooledBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PooledBody")
            .field("done", &self.done)
            .finish()
    }
}
