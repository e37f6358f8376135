//! Forwarding behaviour: errors with a reason instead of hangs, timeouts, streamed bodies, and
//! TLS with HTTP/1.1 and HTTP/2 chosen by ALPN.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_down_is_a_502_with_a_reason_not_a_hang() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = closed.local_addr().expect("addr");
    drop(closed);
    let p = proxy_unready(addr, &[]);
    let mut c = RawConn::connect(p.addr).await.expect("connect");
    let start = Instant::now();
    let r = c.get("/").await.expect("an answer, not a hang");
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(r.status, 502);
    let body = String::from_utf8_lossy(&r.body);
    // The reason is given; the address is only logged (tests/strict.rs).
    assert!(body.contains("connect"), "{body}");
    let (_, metrics) = admin_get(p.admin, "/metrics").await.expect("metrics");
    assert!(
        metrics.contains("steady_proxy_upstream_errors_total{reason=\"connect\"}"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_application_gets_a_504_at_the_request_timeout() {
    let app = app(Duration::from_secs(60)).await;
    let p = proxy(app.addr, &["--request-timeout", "300ms"]).await;
    let mut c = RawConn::connect(p.addr).await.expect("connect");
    let start = Instant::now();
    let r = c.get("/slow?ms=3000").await.expect("answer");
    let took = start.elapsed();
    assert_eq!(r.status, 504);
    assert!(
        took >= Duration::from_millis(290) && took < Duration::from_millis(1500),
        "{took:?}"
    );
    assert_eq!(
        c.get("/").await.expect("connection still usable").status,
        200
    );
}

/// A 4 MiB body sent in chunks comes back whole through the proxy (HTTP/1 and HTTP/2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_stream_through() {
    let app = app(Duration::from_secs(60)).await;
    let p = proxy(app.addr, &[]).await;
    for h2 in [false, true] {
        let client: Client<HttpConnector, StreamBody<_>> = Client::builder(TokioExecutor::new())
            .http2_only(h2)
            .build(HttpConnector::new());
        let chunks: Vec<Result<Frame<Bytes>, std::io::Error>> = (0..64u8)
            .map(|i| Ok(Frame::data(Bytes::from(vec![i; 64 * 1024]))))
            .collect();
        let req = http::Request::post(format!("http://{}/echo", p.addr))
            .body(StreamBody::new(futures::stream::iter(chunks)))
            .expect("request");
        let resp = tokio::time::timeout(Duration::from_secs(10), client.request(req))
            .await
            .expect("bounded")
            .expect("response");
        assert_eq!(resp.status(), 200);
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        assert_eq!(body.len(), 64 * 64 * 1024, "h2={h2}");
        assert!(
            body.chunks(64 * 1024)
                .enumerate()
                .all(|(i, c)| c.iter().all(|b| *b == i as u8))
        );
    }
}

/// TLS: ALPN h2 gets HTTP/2, http/1.1 gets HTTP/1.1; both are proxied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_http1_and_http2_by_alpn() {
    let app = app(Duration::from_secs(60)).await;
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert_path, key_path) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::write(&cert_path, key.cert.pem()).expect("write cert");
    std::fs::write(&key_path, key.signing_key.serialize_pem()).expect("write key");
    let (cert_arg, key_arg) = (
        cert_path.to_string_lossy().into_owned(),
        key_path.to_string_lossy().into_owned(),
    );
    let p = proxy(app.addr, &["--tls-cert", &cert_arg, "--tls-key", &key_arg]).await;

    let mut roots = rustls::RootCertStore::empty();
    roots.add(key.cert.der().clone()).expect("root");
    for alpn in [&b"h2"[..], &b"http/1.1"[..]] {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots.clone())
            .with_no_client_auth();
        config.alpn_protocols = vec![alpn.to_vec()];
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = tokio::net::TcpStream::connect(p.addr)
            .await
            .expect("connect");
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
        let tls = connector.connect(name, tcp).await.expect("handshake");
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(alpn));
        let io = TokioIo::new(tls);
        let req = http::Request::get("https://localhost/")
            .body(Full::new(Bytes::new()))
            .expect("req");
        let resp = if alpn == b"h2" {
            let (mut send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                .await
                .expect("h2");
            tokio::spawn(conn);
            send.send_request(req).await.expect("h2 response")
        } else {
            let (mut send, conn) = hyper::client::conn::http1::handshake(io).await.expect("h1");
            tokio::spawn(conn);
            send.send_request(req).await.expect("h1 response")
        };
        assert_eq!(resp.status(), 200);
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        assert_eq!(&body[..], b"ok");
    }
}
