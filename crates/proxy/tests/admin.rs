//! Acceptance test 9 of issue 5 and the rest of the admin API: readiness follows the
//! application, /live until exit, /drain blocks until drained and only for the pod and its node,
//! metrics.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::*;

async fn wait_ready_status(
    admin: std::net::SocketAddr,
    want: u16,
    limit: Duration,
) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() <= limit {
        if admin_get(admin, "/ready").await.map(|r| r.0) == Some(want) {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    None
}

/// Test 9: /ready follows the application's health within one check period.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_follows_the_application_health_within_one_period() {
    let app = app(Duration::from_secs(60)).await;
    let period = Duration::from_millis(200);
    let p = proxy(app.addr, &["--health-interval", "200ms"]).await;
    // A little slack for the check itself and our polling.
    let limit = period + Duration::from_millis(50);
    for round in 0..3 {
        app.healthy.store(false, Ordering::Relaxed);
        let took = wait_ready_status(p.admin, 503, limit).await;
        assert!(
            took.is_some(),
            "round {round}: /ready still 200 {limit:?} after the app turned unhealthy"
        );
        let (status, body) = admin_get(p.admin, "/ready").await.expect("ready");
        assert_eq!(status, 503);
        assert!(body.contains("health check"), "the reason is given: {body}");
        assert_eq!(admin_get(p.admin, "/live").await.map(|r| r.0), Some(200));
        app.healthy.store(true, Ordering::Relaxed);
        let took = wait_ready_status(p.admin, 200, limit).await;
        assert!(
            took.is_some(),
            "round {round}: /ready still 503 {limit:?} after the app recovered"
        );
    }
}

/// Before the application answers its health check at all, the proxy is not ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_while_the_application_is_down() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = closed.local_addr().expect("addr");
    drop(closed);
    let p = proxy_unready(addr, &["--health-interval", "100ms"]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, body) = admin_get(p.admin, "/ready").await.expect("ready answers");
    assert_eq!(status, 503, "{body}");
    assert_eq!(admin_get(p.admin, "/live").await.map(|r| r.0), Some(200));
}

/// POST /drain (a preStop hook) turns /ready 503 at once, blocks until the drain has finished,
/// and the in-flight request still completes; /live stays 200 until then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_drain_blocks_until_drained() {
    let app = app(Duration::from_secs(60)).await;
    let p = proxy(
        app.addr,
        &["--drain-delay", "400ms", "--drain-deadline", "5s"],
    )
    .await;
    let mut c = RawConn::connect(p.addr).await.expect("connect");
    // Timed from before the request is sent: the application answers no earlier than 800 ms
    // after that, so a drain that waits for it cannot answer earlier either. (Timed from after
    // the sleep below, an oversleep of 0.2 ms failed the test.)
    let t0 = Instant::now();
    let in_flight = tokio::spawn(async move { c.get("/slow?ms=800").await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let admin = p.admin;
    let drain_call = tokio::spawn(async move { admin_call(admin, "POST", "/drain").await });
    assert!(
        wait_ready_status(p.admin, 503, Duration::from_millis(100))
            .await
            .is_some()
    );
    assert_eq!(admin_get(p.admin, "/live").await.map(|r| r.0), Some(200));
    let answer = tokio::time::timeout(Duration::from_secs(5), drain_call)
        .await
        .expect("drain call bounded")
        .expect("task");
    let took = t0.elapsed();
    assert_eq!(answer.map(|a| a.0), Some(200));
    assert!(
        took >= Duration::from_millis(800),
        "POST /drain answered after {took:?}, before the in-flight request ended"
    );
    let r = in_flight
        .await
        .expect("task")
        .expect("in-flight request completes");
    assert_eq!(r.status, 200);
    assert!(
        r.connection_close,
        "in-flight response after the delay carries Connection: close"
    );
    assert!(exit_within(p.done, Duration::from_secs(2)).await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_report_requests_connections_and_drain_state() {
    let app = app(Duration::from_secs(60)).await;
    let p = proxy(app.addr, &["--drain-delay", "2s"]).await;
    let mut c = RawConn::connect(p.addr).await.expect("connect");
    for _ in 0..3 {
        assert_eq!(c.get("/").await.expect("request").status, 200);
    }
    let (_, text) = admin_get(p.admin, "/metrics").await.expect("metrics");
    for line in [
        "steady_proxy_requests_total{class=\"2xx\"} 3",
        "steady_proxy_active_connections 1",
        "steady_proxy_drain_state 0",
        "steady_proxy_upstream_healthy 1",
    ] {
        assert!(text.contains(line), "missing `{line}` in\n{text}");
    }
    p.drain.begin(steady_proxy::Trigger::Api);
    let (_, text) = admin_get(p.admin, "/metrics").await.expect("metrics");
    assert!(text.contains("steady_proxy_drain_state 1"), "{text}");
}

fn drain_request(method: &str, path: &str, header: bool) -> Vec<u8> {
    let extra = if header { "x-steady-drain: 1\r\n" } else { "" };
    format!("{method} {path} HTTP/1.1\r\nhost: pod\r\n{extra}content-length: 0\r\n\r\n")
        .into_bytes()
}

/// Defect 1 of issue 15: `/drain` from another address (any method, any query, with or without
/// the header) is refused with the reason, and the proxy keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_from_another_address_is_forbidden() {
    let app = app(Duration::from_secs(60)).await;
    let p = proxy(app.addr, &["--drain-delay", "200ms"]).await;
    let other: std::net::IpAddr = "127.0.0.2".parse().expect("ip");
    for (method, path, header) in [
        ("GET", "/drain", false),
        ("GET", "/drain?x=1", false),
        ("POST", "/drain", true),
    ] {
        let mut c = RawConn::connect_from(p.admin, other)
            .await
            .expect("connect from 127.0.0.2");
        let r = c
            .send_raw(&drain_request(method, path, header), false)
            .await
            .expect("an answer");
        assert_eq!(r.status, 403, "{method} {path}: {}", r.text());
        assert!(
            r.text().contains("127.0.0.2") && r.text().contains("--node-ip"),
            "the reason names the caller and the flag: {}",
            r.text()
        );
    }
    assert_eq!(p.drain.phase(), steady_proxy::Phase::Serving);
    assert_eq!(admin_get(p.admin, "/ready").await.map(|r| r.0), Some(200));
    let mut c = RawConn::connect(p.addr).await.expect("connect");
    assert_eq!(c.get("/").await.expect("still serving").status, 200);
}

/// The kubelet's preStop hook comes from the node's address (--node-ip) and sets the header; from
/// that address without the header it is refused, saying which header to set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_from_the_node_needs_the_header() {
    let app = app(Duration::from_secs(60)).await;
    let p = proxy(
        app.addr,
        &["--node-ip", "127.0.0.3", "--drain-delay", "200ms"],
    )
    .await;
    let node: std::net::IpAddr = "127.0.0.3".parse().expect("ip");
    let mut c = RawConn::connect_from(p.admin, node).await.expect("connect");
    let r = c
        .send_raw(&drain_request("GET", "/drain", false), false)
        .await
        .expect("an answer");
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("X-Steady-Drain"), "{}", r.text());
    assert_eq!(p.drain.phase(), steady_proxy::Phase::Serving);

    let mut c = RawConn::connect_from(p.admin, node).await.expect("connect");
    let r = c
        .send_raw(&drain_request("GET", "/drain", true), false)
        .await
        .expect("the hook's call blocks until drained, then answers");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(exit_within(p.done, Duration::from_secs(3)).await.is_some());
}

/// HEAD answers like GET (status, no body); a CORS preflight for /drain is never granted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_answers_like_get_and_other_methods_are_refused() {
    let app = app(Duration::from_secs(60)).await;
    let p = proxy(app.addr, &[]).await;
    let mut c = RawConn::connect(p.admin).await.expect("connect");
    for path in ["/live", "/ready", "/metrics"] {
        let req = format!("HEAD {path} HTTP/1.1\r\nhost: pod\r\n\r\n");
        let r = c.send_raw(req.as_bytes(), true).await.expect("answer");
        assert_eq!(r.status, 200, "HEAD {path}");
        assert!(r.body.is_empty());
    }
    // The connection is still in step: no body was sent after the HEAD answers.
    let r = c.get("/live").await.expect("answer");
    assert_eq!((r.status, r.text().as_str()), (200, "live\n"));

    let preflight = "OPTIONS /drain HTTP/1.1\r\nhost: pod\r\norigin: http://evil.example\r\n\
                     access-control-request-method: GET\r\n\
                     access-control-request-headers: x-steady-drain\r\n\r\n";
    let r = c
        .send_raw(preflight.as_bytes(), false)
        .await
        .expect("answer");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("get, post"));
    assert!(r.header("access-control-allow-origin").is_none());
    assert_eq!(p.drain.phase(), steady_proxy::Phase::Serving);
    let (status, body) = admin_call(p.admin, "PUT", "/live").await.expect("answer");
    assert_eq!(status, 405);
    assert!(body.contains("GET or POST /drain"), "{body}");
}
