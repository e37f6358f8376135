//! Acceptance test 9 of issue 5 and the rest of the admin API: readiness follows the
//! application, /live until exit, POST /drain blocks until drained, metrics.

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
    let in_flight = tokio::spawn(async move { c.get("/slow?ms=800").await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let t0 = Instant::now();
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
        took >= Duration::from_millis(750),
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
