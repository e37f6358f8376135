//! Defects 5 and 6 of issue 15: strict HTTP/1 (RFC 9112/9110) and a client's broken body blamed
//! on the client. Every case is written as raw bytes on a TCP connection, so what is tested is what
//! a client (or an attacker) sends, not what a well-behaved client library would.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};

/// What the application saw of each request: method, target and Host.
type Seen = Arc<Mutex<Vec<String>>>;

/// An application that records every request it gets and answers `ok`.
async fn recording_app() -> (SocketAddr, Seen, Task) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let log = log.clone();
            let svc = service_fn(move |req: Request<Incoming>| {
                let log = log.clone();
                async move {
                    if req.uri().path() != "/healthz" {
                        let host = req
                            .headers()
                            .get("host")
                            .and_then(|h| h.to_str().ok())
                            .unwrap_or("-")
                            .to_owned();
                        log.lock().expect("lock").push(format!(
                            "{} {} {host}",
                            req.method(),
                            req.uri()
                        ));
                    }
                    let _ = req.into_body().collect().await;
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
                }
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, seen, Task(task))
}

async fn metrics(admin: SocketAddr) -> String {
    admin_get(admin, "/metrics").await.expect("metrics").1
}

/// Each malformed request gets the status the RFCs ask for, and none reaches the application.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_are_refused_with_the_rfc_status() {
    let (app, seen, _app) = recording_app().await;
    let p = proxy(app, &[]).await;
    let cases: &[(&str, &str, u16)] = &[
        (
            "two Host headers",
            "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            400,
        ),
        ("HTTP/1.1 without Host", "GET / HTTP/1.1\r\n\r\n", 400),
        (
            "a coding before chunked (identity)",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n",
            501,
        ),
        (
            "a coding before chunked (gzip)",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
            501,
        ),
        (
            "codings on two lines",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            501,
        ),
        (
            "final coding not chunked",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
            400,
        ),
        (
            "a target that is not a path",
            "GET abc HTTP/1.1\r\nHost: a\r\n\r\n",
            400,
        ),
        (
            "CONNECT",
            "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
            405,
        ),
        (
            "differing Content-Lengths",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
            400,
        ),
        (
            "obs-fold",
            "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n  folded\r\n\r\n",
            400,
        ),
        ("bare CR", "GET / HTTP/1.1\r\nHost: a\rX-A: 1\r\n\r\n", 400),
        (
            "Transfer-Encoding on HTTP/1.0",
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400,
        ),
    ];
    for (what, raw, want) in cases {
        let mut c = RawConn::connect(p.addr).await.expect("connect");
        let r = c
            .send_raw(raw.as_bytes(), false)
            .await
            .unwrap_or_else(|e| panic!("{what}: no answer ({e:?})"));
        assert_eq!(r.status, *want, "{what}: {}", r.text());
        assert!(
            c.closed_cleanly().await.is_ok(),
            "{what}: the connection is closed after the refusal"
        );
    }
    // hyper's own 400s happen before the request is ours; our refusals say why.
    let mut c = RawConn::connect(p.addr).await.expect("connect");
    let r = c
        .send_raw(
            b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
            false,
        )
        .await
        .expect("answer");
    assert!(r.text().contains("not a forward proxy"), "{}", r.text());
    assert!(r.header("allow").is_some_and(|a| a.contains("get")));
    assert!(
        seen.lock().expect("lock").is_empty(),
        "forwarded: {:?}",
        seen.lock().expect("lock")
    );
    assert!(!metrics(p.admin).await.contains("upstream_errors_total{"));
}

/// CL+TE (the classic smuggling pair) is framed by Transfer-Encoding alone and the connection is
/// closed after it, so the bytes after the chunked body never become a second request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_length_with_transfer_encoding_smuggles_nothing() {
    let (app, seen, _app) = recording_app().await;
    let p = proxy(app, &[]).await;
    let mut c = RawConn::connect(p.addr).await.expect("connect");
    let raw = "POST /first HTTP/1.1\r\nHost: a\r\nContent-Length: 48\r\nTransfer-Encoding: chunked\r\n\r\n\
               0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";
    let r = c.send_raw(raw.as_bytes(), false).await.expect("answer");
    assert_eq!(r.status, 200);
    assert!(c.closed_cleanly().await.is_ok());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen, vec!["POST /first a".to_owned()]);
}

/// An absolute-form target's authority replaces the Host header (RFC 9112 §3.2.2), and the
/// application gets the origin form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absolute_form_target_sets_the_host() {
    let (app, seen, _app) = recording_app().await;
    let p = proxy(app, &[]).await;
    let mut c = RawConn::connect(p.addr).await.expect("connect");
    let r = c
        .send_raw(
            b"GET http://real.example/x?y=1 HTTP/1.1\r\nHost: other.example\r\n\r\n",
            false,
        )
        .await
        .expect("answer");
    assert_eq!(r.status, 200);
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen, vec!["GET /x?y=1 real.example".to_owned()]);
}

/// Defect 5: a broken chunked body and a body cut short are the client's fault: 400, counted as
/// 4xx, never 502 "the application did not answer" nor an upstream error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_request_body_is_a_400_not_a_502() {
    let (app, _seen, _app) = recording_app().await;
    let p = proxy(app, &[]).await;
    let cases: &[(&str, &[u8])] = &[
        (
            "a chunk size that is not hex",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        ),
        (
            "a chunk size that overflows",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff1\r\nhello\r\n0\r\n\r\n",
        ),
        (
            "a chunk without its CRLF",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
        ),
    ];
    let mut sent = 0;
    for (what, raw) in cases {
        let mut c = RawConn::connect(p.addr).await.expect("connect");
        let r = c.send_raw(raw, false).await.expect("answer");
        sent += 1;
        assert_eq!(r.status, 400, "{what}: {}", r.text());
        assert!(
            !r.text().contains("did not answer"),
            "{what}: blamed on the application: {}",
            r.text()
        );
    }
    // A body cut short: Content-Length 100, 10 bytes, then the client stops sending.
    let mut c = RawConn::connect(p.addr).await.expect("connect");
    c.send_raw_start(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789")
        .await;
    c.shutdown_write().await.expect("half-close");
    let r = c.read_one().await.expect("answer");
    sent += 1;
    assert_eq!(r.status, 400, "truncated: {}", r.text());

    let text = metrics(p.admin).await;
    assert!(
        text.contains(&format!(
            "steady_proxy_requests_total{{class=\"4xx\"}} {sent}"
        )),
        "{text}"
    );
    assert!(!text.contains("class=\"5xx\""), "{text}");
    assert!(!text.contains("upstream_errors_total{"), "{text}");
}

/// The application's address stays in the log: a 502's body gives the reason only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_502_does_not_reveal_the_application_address() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = closed.local_addr().expect("addr");
    drop(closed);
    let p = proxy_unready(addr, &[]);
    let mut c = RawConn::connect(p.addr).await.expect("connect");
    let r = c.get("/").await.expect("answer");
    assert_eq!(r.status, 502);
    let body = r.text();
    assert!(body.contains("(connect)"), "{body}");
    for leak in [
        addr.to_string(),
        addr.port().to_string(),
        "127.0.0.1".to_owned(),
    ] {
        assert!(!body.contains(&leak), "the body reveals {leak}: {body}");
    }
}

/// CONNECT over HTTP/2 is refused the same way, and the 405 arrives as a valid HTTP/2 response
/// (no connection-specific header).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_over_http2_is_a_405() {
    let (app, seen, _app) = recording_app().await;
    let p = proxy(app, &[]).await;
    let tcp = tokio::net::TcpStream::connect(p.addr)
        .await
        .expect("connect");
    let (client, conn) = h2::client::handshake(tcp).await.expect("h2 handshake");
    let _conn = Task(tokio::spawn(async move {
        let _ = conn.await;
    }));
    let mut client = client.ready().await.expect("ready");
    let req = Request::connect("example.com:443")
        .body(())
        .expect("request");
    let (resp, _) = client.send_request(req, true).expect("sent");
    let resp = tokio::time::timeout(Duration::from_secs(10), resp)
        .await
        .expect("bounded")
        .expect("a response, not a stream error");
    assert_eq!(resp.status(), 405);
    assert!(resp.headers().get("connection").is_none());
    assert!(seen.lock().expect("lock").is_empty());
}
