//! Test fixtures: a small application server, an in-process proxy, and clients (pooled hyper
//! clients and a raw HTTP/1 client that can tell an RST from an orderly close).
#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use steady_proxy::{Args, Drain, Proxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Aborts the task when dropped, so a failing test leaves nothing running.
pub struct Task(pub JoinHandle<()>);
impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The application behind the proxy.
pub struct App {
    pub addr: SocketAddr,
    pub healthy: Arc<AtomicBool>,
    pub requests: Arc<AtomicU64>,
    /// Connections the application accepted.
    pub connections: Arc<AtomicU64>,
    _task: Task,
}

/// Starts an application that answers `/healthz` (200 or 503 per `healthy`), `/slow?ms=N` after N
/// ms, anything else with `ok`. `idle_timeout` is its keep-alive timeout (hyper's header read
/// timeout closes idle connections, like most servers' keep-alive timeout).
pub async fn app(idle_timeout: Duration) -> App {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind app");
    let addr = listener.local_addr().expect("app addr");
    let healthy = Arc::new(AtomicBool::new(true));
    let requests = Arc::new(AtomicU64::new(0));
    let connections = Arc::new(AtomicU64::new(0));
    let (h, r, c) = (healthy.clone(), requests.clone(), connections.clone());
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            c.fetch_add(1, Ordering::Relaxed);
            let (h, r) = (h.clone(), r.clone());
            let svc = service_fn(move |req: Request<Incoming>| {
                let (h, r) = (h.clone(), r.clone());
                async move { Ok::<_, Infallible>(answer(req, &h, &r).await) }
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(idle_timeout)
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    App {
        addr,
        healthy,
        requests,
        connections,
        _task: Task(task),
    }
}

async fn answer(
    req: Request<Incoming>,
    healthy: &AtomicBool,
    requests: &AtomicU64,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    if path == "/healthz" {
        let ok = healthy.load(Ordering::Relaxed);
        let mut r = Response::new(Full::new(Bytes::from_static(b"health")));
        if !ok {
            *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        }
        return r;
    }
    requests.fetch_add(1, Ordering::Relaxed);
    if path == "/slow" {
        let ms: u64 = req
            .uri()
            .query()
            .and_then(|q| q.strip_prefix("ms="))
            .and_then(|v| v.parse().ok())
            .unwrap_or(100);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    if body.is_empty() {
        Response::new(Full::new(Bytes::from_static(b"ok")))
    } else {
        Response::new(Full::new(body))
    }
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: Args,
}

/// An in-process proxy.
pub struct Running {
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub drain: Drain,
    pub done: JoinHandle<Result<(), steady_proxy::Error>>,
}

/// Starts a proxy in front of `upstream` with `extra` options and waits until `/ready` is 200.
pub async fn proxy(upstream: SocketAddr, extra: &[&str]) -> Running {
    let running = proxy_unready(upstream, extra);
    let admin = running.admin;
    let ready = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if admin_get(admin, "/ready").await.map(|(s, _)| s) == Some(200) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(ready.is_ok(), "proxy did not become ready within 5 s");
    running
}

/// Starts a proxy without waiting for readiness.
pub fn proxy_unready(upstream: SocketAddr, extra: &[&str]) -> Running {
    let up = upstream.to_string();
    let mut argv = vec![
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
        "--upstream",
        &up,
    ];
    if !extra.contains(&"--health-interval") {
        argv.extend_from_slice(&["--health-interval", "100ms"]);
    }
    argv.extend_from_slice(extra);
    let args = Cli::try_parse_from(argv).expect("valid proxy options").args;
    let p = Proxy::bind(args).expect("proxy binds");
    let addr = p.local_addr().expect("addr");
    let admin = p.admin_addr().expect("admin addr");
    let drain = p.drain();
    let done = tokio::spawn(p.serve());
    Running {
        addr,
        admin,
        drain,
        done,
    }
}

/// One request on a fresh connection to the admin listener; status and body.
pub async fn admin_get(admin: SocketAddr, path: &str) -> Option<(u16, String)> {
    admin_call(admin, "GET", path).await
}

pub async fn admin_call(admin: SocketAddr, method: &str, path: &str) -> Option<(u16, String)> {
    let mut c = RawConn::connect(admin).await.ok()?;
    let r = c.send(method, path).await.ok()?;
    Some((r.status, String::from_utf8_lossy(&r.body).into_owned()))
}

pub type H1Client = Client<HttpConnector, Empty<Bytes>>;

pub fn h1_client() -> H1Client {
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(HttpConnector::new())
}

pub fn h2_client() -> H1Client {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .timer(TokioTimer::new())
        .build(HttpConnector::new())
}

/// GET through a pooled client; Err describes any failure, including a non-2xx status.
pub async fn get(
    client: &H1Client,
    addr: SocketAddr,
    path: &str,
) -> Result<Response<Bytes>, String> {
    let uri = format!("http://{addr}{path}");
    let resp = tokio::time::timeout(
        Duration::from_secs(10),
        client.get(uri.parse().map_err(|e| format!("{e}"))?),
    )
    .await
    .map_err(|_| "client timeout".to_owned())?
    .map_err(|e| format!("{e:?}"))?;
    let (parts, body) = resp.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?
        .to_bytes();
    if !parts.status.is_success() {
        return Err(format!(
            "status {}: {}",
            parts.status,
            String::from_utf8_lossy(&body)
        ));
    }
    Ok(Response::from_parts(parts, body))
}

/// How a raw request ended when it did not get a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawError {
    /// The peer reset the connection (RST).
    Reset,
    /// Orderly close (FIN) before a complete response.
    Closed,
    /// Anything else (timeout, malformed response).
    Other,
}

#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub connection_close: bool,
    /// Names and values, lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A hand-driven HTTP/1.1 keep-alive connection.
pub struct RawConn {
    stream: TcpStream,
    buf: Vec<u8>,
}

fn classify(e: &std::io::Error) -> RawError {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionReset | ConnectionAborted | BrokenPipe => RawError::Reset,
        UnexpectedEof => RawError::Closed,
        _ => RawError::Other,
    }
}

impl RawConn {
    pub async fn connect(addr: SocketAddr) -> std::io::Result<RawConn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(RawConn {
            stream,
            buf: Vec::new(),
        })
    }

    /// Connects from `source` (any address of 127/8 is local on Linux), to look like another host.
    pub async fn connect_from(
        addr: SocketAddr,
        source: std::net::IpAddr,
    ) -> std::io::Result<RawConn> {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(source, 0))?;
        let stream = socket.connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(RawConn {
            stream,
            buf: Vec::new(),
        })
    }

    /// Sends `raw` bytes as they are and reads one response; `head` when it answers a HEAD
    /// request (a Content-Length but no body).
    pub async fn send_raw(&mut self, raw: &[u8], head: bool) -> Result<RawResponse, RawError> {
        self.stream.write_all(raw).await.map_err(|e| classify(&e))?;
        tokio::time::timeout(Duration::from_secs(10), self.read_response_to(head))
            .await
            .map_err(|_| RawError::Other)?
    }

    /// Sends `raw` bytes without waiting for an answer.
    pub async fn send_raw_start(&mut self, raw: &[u8]) {
        let _ = self.stream.write_all(raw).await;
    }

    /// Reads one response (to a request that was not HEAD), bounded in time.
    pub async fn read_one(&mut self) -> Result<RawResponse, RawError> {
        tokio::time::timeout(Duration::from_secs(10), self.read_response_to(false))
            .await
            .map_err(|_| RawError::Other)?
    }

    /// Closes our sending side (the peer reads EOF) while still reading.
    pub async fn shutdown_write(&mut self) -> std::io::Result<()> {
        self.stream.shutdown().await
    }

    pub async fn get(&mut self, path: &str) -> Result<RawResponse, RawError> {
        self.send("GET", path).await
    }

    pub async fn send(&mut self, method: &str, path: &str) -> Result<RawResponse, RawError> {
        let req = format!("{method} {path} HTTP/1.1\r\nhost: test\r\ncontent-length: 0\r\n\r\n");
        self.stream
            .write_all(req.as_bytes())
            .await
            .map_err(|e| classify(&e))?;
        tokio::time::timeout(Duration::from_secs(10), self.read_response())
            .await
            .map_err(|_| RawError::Other)?
    }

    async fn fill(&mut self) -> Result<(), RawError> {
        let mut chunk = [0u8; 4096];
        match self.stream.read(&mut chunk).await {
            Ok(0) => Err(RawError::Closed),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
            Err(e) => Err(classify(&e)),
        }
    }

    async fn read_response(&mut self) -> Result<RawResponse, RawError> {
        self.read_response_to(false).await
    }

    async fn read_response_to(&mut self, is_head: bool) -> Result<RawResponse, RawError> {
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            self.fill().await?;
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).to_ascii_lowercase();
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or(RawError::Other)?;
        let mut len = 0usize;
        let mut connection_close = false;
        let mut headers = Vec::new();
        for line in head.lines() {
            if let Some(v) = line.strip_prefix("content-length:") {
                len = v.trim().parse().map_err(|_| RawError::Other)?;
            }
            if let Some(v) = line.strip_prefix("connection:") {
                connection_close |= v.contains("close");
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_owned(), value.trim().to_owned()));
            }
        }
        if is_head {
            len = 0;
        }
        while self.buf.len() < head_end + len {
            self.fill().await?;
        }
        let body = self.buf[head_end..head_end + len].to_vec();
        self.buf.drain(..head_end + len);
        Ok(RawResponse {
            status,
            connection_close,
            headers,
            body,
        })
    }

    /// After a `Connection: close` response: true when the server closes with FIN (no RST).
    pub async fn closed_cleanly(&mut self) -> Result<(), RawError> {
        let mut chunk = [0u8; 64];
        match tokio::time::timeout(Duration::from_secs(5), self.stream.read(&mut chunk)).await {
            Ok(Ok(0)) => Ok(()),
            Ok(Ok(_)) => Err(RawError::Other),
            Ok(Err(e)) => Err(classify(&e)),
            Err(_) => Err(RawError::Other),
        }
    }
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Waits for the proxy task to end; the elapsed time, or None past `limit`.
pub async fn exit_within(
    done: JoinHandle<Result<(), steady_proxy::Error>>,
    limit: Duration,
) -> Option<()> {
    match tokio::time::timeout(limit, done).await {
        Ok(Ok(Ok(()))) => Some(()),
        _ => None,
    }
}
