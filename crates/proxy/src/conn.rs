//! One client connection from accept to close: protocol detection, HTTP/1 with recycling and
//! lingering close, HTTP/2 with graceful GOAWAY, all following the drain phase.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::header::{CONNECTION, HeaderValue};
use http::{Request, Response, StatusCode, Version};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use steady_runtime::limit::Admission as Slot;
use steady_runtime::serve::{Http, linger};
use steady_runtime::{Activity, ConnLimit, Expiry, Tracked, Watched};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use crate::drain::{ConnGuard, Drain, Phase};
use crate::metrics::{Metrics, ReasonLabels};
use crate::recycle::{ConnState, Limits};
use crate::request;
use crate::rewind::Rewind;
use crate::upstream::{Client, ProxyBody, Upstream};

/// At shutdown, a connection that carried a request this recently is not closed while idle: its
/// client is likely about to send the next one, which then gets `Connection: close` instead of
/// racing our FIN (nginx's `keepalive_min_timeout` idea).
const SPARE_RECENTLY_USED: Duration = Duration::from_millis(500);
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

type BoxFuture = Pin<Box<dyn Future<Output = Result<Response<ProxyBody>, Infallible>> + Send>>;

/// What every connection shares.
pub struct Shared {
    pub upstream: Upstream,
    pub drain: Drain,
    pub metrics: Arc<Metrics>,
    pub limits: Limits,
    /// Deadlines and the head cap of client connections.
    pub http: Http,
    pub conn_limit: Arc<ConnLimit>,
    pub tls: Option<TlsAcceptor>,
}

/// Serves one accepted connection until it closes, a deadline or the connection limit closes it,
/// or the drain deadline cuts it.
pub async fn serve(shared: Arc<Shared>, stream: TcpStream, peer: SocketAddr, counted: ConnGuard) {
    let _counted = counted;
    let activity = Arc::new(Activity::new(false));
    let _slot = match shared.conn_limit.admit(&activity) {
        Slot::Admitted(p) => p,
        Slot::AdmittedByShedding(p) => {
            tracing::debug!(%peer, "connection limit reached: closing the oldest idle connection");
            p
        }
        Slot::Full => {
            tracing::debug!(%peer, max = shared.conn_limit.max(), "connection limit reached and every connection busy: closing the new one");
            shared.metrics.count_closed("limit_full");
            return;
        }
    };
    shared.metrics.active_connections.inc();
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "set_nodelay failed");
    }
    tokio::select! {
        () = serve_stream(&shared, stream, peer, activity) => {}
        () = shared.drain.reached(Phase::Stopped) => {
            tracing::debug!(%peer, "connection cut at the drain deadline");
        }
    }
    shared.metrics.active_connections.dec();
}

async fn serve_stream(
    shared: &Arc<Shared>,
    mut stream: TcpStream,
    peer: SocketAddr,
    activity: Arc<Activity>,
) {
    let conn = Arc::new(ConnState::new(shared.limits));
    let d = shared.http.deadlines;
    let Some(tls) = &shared.tls else {
        // Until its first head a new connection is under the header deadline (or shed).
        let first = tokio::select! {
            r = read_preface(&mut stream) => Some(r),
            why = activity.expired(&d) => {
                tracing::debug!(%peer, reason = why.label(), "closed before its first request");
                shared.metrics.count_closed(why.label());
                None
            }
            () = until_idle_close(&shared.drain, &conn) => None,
        };
        match first {
            Some(Ok((prefix, true))) => {
                activity.set_http2(true);
                serve_h2(
                    shared,
                    Rewind::new(prefix, stream),
                    conn,
                    activity,
                    peer,
                    false,
                )
                .await
            }
            Some(Ok((prefix, false))) if !prefix.is_empty() => {
                serve_h1(shared, stream, prefix, conn, activity, peer, false).await
            }
            _ => linger(stream).await,
        }
        return;
    };
    let accepted = tokio::select! {
        r = tls.accept(stream) => r,
        why = activity.expired(&d) => {
            tracing::debug!(%peer, reason = why.label(), "closed during its TLS handshake");
            shared.metrics.count_closed(why.label());
            return;
        }
        () = until_idle_close(&shared.drain, &conn) => return,
    };
    let tls_stream = match accepted {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
            return;
        }
    };
    if tls_stream.get_ref().1.alpn_protocol() == Some(b"h2") {
        activity.set_http2(true);
        serve_h2(
            shared,
            Rewind::new(Bytes::new(), tls_stream),
            conn,
            activity,
            peer,
            true,
        )
        .await;
    } else {
        serve_h1(shared, tls_stream, Bytes::new(), conn, activity, peer, true).await;
    }
}

/// Reads until the bytes are known to be (or not be) the HTTP/2 prior-knowledge preface.
async fn read_preface(stream: &mut TcpStream) -> std::io::Result<(Bytes, bool)> {
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        if stream.read_buf(&mut buf).await? == 0 {
            return Ok((buf.freeze(), false));
        }
        let n = buf.len().min(H2_PREFACE.len());
        if buf[..n] != H2_PREFACE[..n] {
            return Ok((buf.freeze(), false));
        }
        if n == H2_PREFACE.len() {
            return Ok((buf.freeze(), true));
        }
    }
}

/// Resolves once shutdown has stopped accepting and this connection has been idle long enough to
/// close without racing its client.
async fn until_idle_close(drain: &Drain, conn: &ConnState) {
    drain.reached(Phase::Closing).await;
    loop {
        let at = conn.last_used() + SPARE_RECENTLY_USED;
        if Instant::now() >= at {
            return;
        }
        tokio::time::sleep_until(at.into()).await;
    }
}

/// What each request of one connection needs, behind a single `Arc` (one reference count per
/// request instead of three).
struct PerConn {
    shared: Arc<Shared>,
    conn: Arc<ConnState>,
    client: Client,
}

/// The service of one connection. Its future is boxed because hyper's `poll_without_shutdown`
/// (which lets us answer a request that raced an idle close) requires an `Unpin` future.
fn service(
    shared: &Arc<Shared>,
    conn: &Arc<ConnState>,
    peer: SocketAddr,
    tls: bool,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response<ProxyBody>,
    Error = Infallible,
    Future = BoxFuture,
> + Clone
+ Unpin {
    let per_conn = Arc::new(PerConn {
        shared: shared.clone(),
        conn: conn.clone(),
        client: Client::new(peer, tls),
    });
    service_fn(move |req| {
        let c = per_conn.clone();
        Box::pin(async move { c.shared.proxy(req, &c.conn, &c.client).await }) as BoxFuture
    })
}

impl Shared {
    async fn proxy(
        &self,
        req: Request<Incoming>,
        conn: &ConnState,
        client: &Client,
    ) -> Result<Response<ProxyBody>, Infallible> {
        let http1 = req.version() < Version::HTTP_2;
        if let Some(reason) = conn.on_request() {
            self.metrics
                .recycled_connections
                .get_or_create(&ReasonLabels {
                    reason: reason.label(),
                })
                .inc();
            if !http1 {
                conn.recycle_now.notify_one();
            }
        }
        let mut resp = match request::check(&req) {
            Ok(()) => {
                self.upstream
                    .forward(req, client, http1.then_some(&conn.tunnel))
                    .await?
            }
            Err(refusal) => {
                tracing::debug!(
                    method = %req.method(),
                    status = refusal.status.as_u16(),
                    reason = refusal.reason,
                    "refused a malformed request"
                );
                refusal.response(req.version())
            }
        };
        self.metrics.count_response(resp.status());
        // Decided when the response goes out, so requests in flight when closing begins are
        // told too; hyper closes the connection after a response carrying this header.
        if http1
            && resp.status() != StatusCode::SWITCHING_PROTOCOLS
            && (conn.is_recycled() || self.drain.phase() >= Phase::Closing)
        {
            resp.headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
        Ok(resp)
    }
}

async fn serve_h1<IO>(
    shared: &Arc<Shared>,
    io: IO,
    prefix: Bytes,
    conn: Arc<ConnState>,
    activity: Arc<Activity>,
    peer: SocketAddr,
    tls: bool,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut io, pending, end) = run_h1(
        shared,
        Rewind::new(prefix, io),
        &conn,
        &activity,
        peer,
        tls,
        true,
    )
    .await;
    if let H1End::Cut(why) = end {
        tracing::debug!(%peer, reason = why.label(), "connection closed");
        linger(io).await;
        return;
    }
    let upgraded = conn.tunnel.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(upstream) = upgraded {
        splice(io, pending, upstream).await;
        return;
    }
    if end == H1End::ClosedIdle {
        // Bytes that reached us in the instant we closed an idle connection are a request the
        // client already sent: answer it with `Connection: close` rather than drop it.
        let mut pending = BytesMut::from(&pending[..]);
        let mut buf = [0u8; 4096];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::ZERO, io.read(&mut buf)).await {
            pending.extend_from_slice(&buf[..n]);
        }
        if !pending.is_empty() {
            tracing::debug!(%peer, "request arrived as an idle connection closed; answering it");
            let (again, _, _) = run_h1(
                shared,
                Rewind::new(pending.freeze(), io),
                &conn,
                &activity,
                peer,
                tls,
                false,
            )
            .await;
            io = again;
        }
    }
    linger(io).await;
}

/// How [`run_h1`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum H1End {
    Done,
    /// We closed it while idle (shutdown, idle deadline, connection limit).
    ClosedIdle,
    /// A hard deadline: close without answering anything more.
    Cut(Expiry),
}

/// Runs HTTP/1 until the connection is done, without closing the socket; returns the socket,
/// bytes read but not used, and how it ended.
async fn run_h1<IO>(
    shared: &Arc<Shared>,
    io: Rewind<IO>,
    conn: &Arc<ConnState>,
    activity: &Arc<Activity>,
    peer: SocketAddr,
    tls: bool,
    keep_alive: bool,
) -> (IO, Bytes, H1End)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut http = shared.http.http1().keep_alive(keep_alive).serve_connection(
        TokioIo::new(Watched::new(io, activity.clone())),
        Tracked::new(service(shared, conn, peer, tls), activity.clone()),
    );
    let d = shared.http.deadlines;
    let mut end = H1End::Done;
    loop {
        tokio::select! {
            // The connection first: the deadlines then see what its poll just did.
            biased;
            r = std::future::poll_fn(|cx| http.poll_without_shutdown(cx)) => {
                if let Err(e) = r {
                    tracing::debug!(%peer, error = %e, "HTTP/1 connection ended with an error");
                }
                break;
            }
            why = activity.expired(&d) => {
                shared.metrics.count_closed(why.label());
                if why.is_hard() {
                    end = H1End::Cut(why);
                    break;
                }
                if end == H1End::Done {
                    Pin::new(&mut http).graceful_shutdown();
                    end = H1End::ClosedIdle;
                }
                activity.goaway();
            }
            () = until_idle_close(&shared.drain, conn), if end == H1End::Done => {
                // Busy connections only lose keep-alive; idle ones end at once.
                Pin::new(&mut http).graceful_shutdown();
                end = H1End::ClosedIdle;
            }
        }
    }
    let parts = http.into_parts();
    let (prefix, io) = parts.io.into_inner().into_inner().into_parts();
    let mut rest = BytesMut::from(&prefix[..]);
    rest.extend_from_slice(&parts.read_buf);
    (io, rest.freeze(), end)
}

async fn serve_h2<IO>(
    shared: &Arc<Shared>,
    io: Rewind<IO>,
    conn: Arc<ConnState>,
    activity: Arc<Activity>,
    peer: SocketAddr,
    tls: bool,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let http = shared.http.http2(TokioExecutor::new()).serve_connection(
        TokioIo::new(Watched::new(io, activity.clone())),
        Tracked::new(service(shared, &conn, peer, tls), activity.clone()),
    );
    tokio::pin!(http);
    let deadline = conn.deadline;
    let age = async move {
        match deadline {
            Some(d) => tokio::time::sleep_until(d.into()).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(age);
    let d = shared.http.deadlines;
    let mut goaway = false;
    loop {
        tokio::select! {
            // The connection first: the deadlines then see what its poll just did.
            biased;
            r = http.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(%peer, error = %e, "HTTP/2 connection ended with an error");
                }
                return;
            }
            why = activity.expired(&d) => {
                shared.metrics.count_closed(why.label());
                if why.is_hard() {
                    tracing::debug!(%peer, reason = why.label(), "connection closed");
                    return;
                }
                if goaway {
                    continue;
                }
            }
            () = shared.drain.reached(Phase::Closing), if !goaway => {}
            () = conn.recycle_now.notified(), if !goaway => {}
            () = &mut age, if !goaway => {
                if conn.mark_recycled() {
                    shared.metrics.recycled_connections.get_or_create(&ReasonLabels { reason: "age" }).inc();
                }
            }
        }
        // hyper's HTTP/2 graceful shutdown is the two-phase GOAWAY: streams already opened finish.
        // It waits for the client's PING ack: the grace closes the connection if none comes.
        http.as_mut().graceful_shutdown();
        activity.goaway();
        goaway = true;
    }
}

/// Carries bytes both ways between a client and the application after an HTTP/1 upgrade, until
/// either side closes (or the drain deadline cuts the connection).
async fn splice<IO>(mut client: IO, pending: Bytes, upstream: hyper::upgrade::Upgraded)
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let mut upstream = TokioIo::new(upstream);
    if !pending.is_empty() && upstream.write_all(&pending).await.is_err() {
        return;
    }
    if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
        tracing::debug!(error = %e, "upgraded connection ended with an error");
    }
}
