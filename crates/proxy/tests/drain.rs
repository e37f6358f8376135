//! Acceptance tests 1–4 and 8 of issue 5: shutdown drains without failed requests.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use steady_proxy::Trigger;

/// Test 1: 64 keep-alive HTTP/1 clients + 16 HTTP/2 clients under load, shutdown with a 2 s
/// drain delay: 0 failed requests, /ready 503 within 100 ms, exit within delay + longest request + 1 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_under_load_fails_no_request() {
    let app = app(Duration::from_secs(60)).await;
    let p = proxy(
        app.addr,
        &["--drain-delay", "2s", "--drain-deadline", "10s"],
    )
    .await;
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let closed_in_flight = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    // Shutdown begins at t0; endpoints have caught up (no new requests) 200 ms before the delay
    // ends; a few 1 s requests start just before that, so they are in flight when closing begins.
    let t0 = start + Duration::from_millis(700);
    let stop_sending = t0 + Duration::from_millis(1800);
    let long_at = t0 + Duration::from_millis(1500);
    let h1 = h1_client();
    let mut tasks = Vec::new();
    for i in 0..80 {
        let client = if i < 64 { h1.clone() } else { h2_client() };
        let (ok, failed, closed) = (ok.clone(), failed.clone(), closed_in_flight.clone());
        let addr = p.addr;
        tasks.push(tokio::spawn(async move {
            let mut sent_long = i % 8 != 0;
            while Instant::now() < stop_sending {
                let path = if !sent_long && Instant::now() >= long_at {
                    sent_long = true;
                    "/slow?ms=1000"
                } else {
                    "/slow?ms=5"
                };
                match get(&client, addr, path).await {
                    Ok(r) => {
                        ok.fetch_add(1, Ordering::Relaxed);
                        if path.contains("1000")
                            && r.headers().get("connection").is_some_and(|v| v == "close")
                        {
                            closed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(e) => {
                        eprintln!("client {i} failed: {e}");
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    tokio::time::sleep_until(t0.into()).await;
    assert!(p.drain.begin(Trigger::Signal));
    let unready = tokio::time::timeout(Duration::from_millis(100), async {
        while admin_get(p.admin, "/ready").await.map(|r| r.0) != Some(503) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(unready.is_ok(), "/ready did not turn 503 within 100 ms");

    let exited = exit_within(p.done, Duration::from_secs(2 + 1 + 1)).await;
    let exit_after = t0.elapsed();
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    eprintln!("ok {ok}, failed {failed}, exit after {exit_after:?}");
    assert!(
        exited.is_some(),
        "proxy did not exit within drain delay + longest request + 1 s"
    );
    assert_eq!(failed, 0, "requests failed during the drain");
    assert!(ok > 1000, "too little load to mean anything: {ok} requests");
    assert!(
        closed_in_flight.load(Ordering::Relaxed) >= 1,
        "HTTP/1 responses in flight when closing began must carry Connection: close"
    );
}

/// Test 2: a connection opened during the drain delay is served; after it, nobody is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_connection_during_drain_delay_succeeds() {
    let app = app(Duration::from_secs(60)).await;
    let p = proxy(
        app.addr,
        &["--drain-delay", "800ms", "--drain-deadline", "2s"],
    )
    .await;
    p.drain.begin(Trigger::Api);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut c = RawConn::connect(p.addr)
        .await
        .expect("connect during the drain delay");
    let r = c.get("/").await.expect("request during the drain delay");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"ok");
    drop(c);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        tokio::net::TcpStream::connect(p.addr).await.is_err(),
        "the listener must be closed once the drain delay is over"
    );
    assert!(exit_within(p.done, Duration::from_secs(3)).await.is_some());
}

/// Test 3: 256 idle keep-alive connections each send one request at a random moment after
/// shutdown begins: every request sent during the drain delay succeeds, and no client sees an RST.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_never_reset() {
    let app = app(Duration::from_secs(60)).await;
    let delay = Duration::from_millis(1000);
    let p = proxy(app.addr, &["--drain-delay", "1s", "--drain-deadline", "5s"]).await;
    let mut conns = Vec::new();
    for _ in 0..256 {
        let mut c = RawConn::connect(p.addr).await.expect("connect");
        assert_eq!(c.get("/").await.expect("warm-up request").status, 200);
        conns.push(c);
    }
    // Idle for longer than the proxy spares recently used connections.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let t0 = Instant::now();
    p.drain.begin(Trigger::Signal);
    let mut tasks = Vec::new();
    for (i, mut c) in conns.into_iter().enumerate() {
        // Half at any moment of the first 2 s, half crowded around the end of the delay, where
        // closing idle connections races the requests.
        let wait = if i % 2 == 0 {
            Duration::from_millis(rand::random_range(0..2000))
        } else {
            Duration::from_millis(rand::random_range(980..1040))
        };
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            let sent = t0.elapsed();
            let result = c.get("/").await;
            if let Ok(r) = &result
                && r.connection_close
            {
                // The server announced the close: it must come as FIN, not RST.
                return (sent, c.closed_cleanly().await.map(|()| 200u16));
            }
            (sent, result.map(|r| r.status))
        }));
    }
    let mut during_delay = 0;
    let mut after_delay_failed = 0;
    let mut resets = 0;
    for t in tasks {
        let (sent, result) = tokio::time::timeout(Duration::from_secs(15), t)
            .await
            .expect("client bounded")
            .expect("client task");
        if result == Err(RawError::Reset) {
            resets += 1;
        }
        // A margin for the request to travel: sent during the delay means it left 20 ms before its end.
        if sent + Duration::from_millis(20) < delay {
            during_delay += 1;
            assert_eq!(
                result,
                Ok(200),
                "request sent {sent:?} after shutdown began failed"
            );
        } else if result.is_err() {
            after_delay_failed += 1;
        }
    }
    eprintln!(
        "{during_delay} requests during the delay, {after_delay_failed} failed after it, {resets} resets"
    );
    assert_eq!(resets, 0, "a client saw an RST");
    assert!(
        during_delay > 30,
        "too few requests landed in the drain delay"
    );
    assert!(exit_within(p.done, Duration::from_secs(8)).await.is_some());
}

/// Test 4: HTTP/2 streams opened before the final GOAWAY complete; none is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_streams_survive_the_goaway() {
    let app = app(Duration::from_secs(60)).await;
    let p = proxy(
        app.addr,
        &["--drain-delay", "500ms", "--drain-deadline", "5s"],
    )
    .await;
    let tcp = tokio::net::TcpStream::connect(p.addr)
        .await
        .expect("connect");
    let (client, conn) = h2::client::handshake(tcp).await.expect("h2 handshake");
    let conn_task = tokio::spawn(conn);
    let started = Instant::now();
    let mut streams = Vec::new();
    let mut drain_begun = false;
    let stop = loop {
        if !drain_begun && started.elapsed() >= Duration::from_millis(200) {
            p.drain.begin(Trigger::Signal);
            drain_begun = true;
        }
        if started.elapsed() > Duration::from_secs(3) {
            break "still opening streams 3 s in: no GOAWAY seen";
        }
        let mut ready =
            match tokio::time::timeout(Duration::from_secs(2), client.clone().ready()).await {
                Ok(Ok(r)) => r,
                Ok(Err(_)) => break "goaway",
                Err(_) => break "ready() timed out",
            };
        let req = http::Request::get(format!("http://{}/slow?ms=300", p.addr))
            .body(())
            .expect("request");
        match ready.send_request(req, true) {
            Ok((resp, _)) => streams.push(tokio::spawn(async move {
                let resp = resp.await?;
                let status = resp.status();
                let mut body = resp.into_body();
                while let Some(chunk) = body.data().await {
                    let _: Bytes = chunk?;
                }
                Ok::<_, h2::Error>(status)
            })),
            Err(_) => break "goaway",
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(stop, "goaway");
    // A stream the client opened after the first (graceful) GOAWAY and that the final GOAWAY's
    // last-stream-id leaves out was never processed: RFC 9113 §6.8 lets the client retry it, and
    // h2 reports it as a GOAWAY with NO_ERROR. The h2 client keeps opening streams until it has
    // read the first GOAWAY, so on a loaded machine one can land in that window (seen 1 run in 12
    // with the 2 cores busy). Those are counted apart; a stream that was processed and then lost,
    // or refused, still fails the test.
    let (mut refused, mut failed, mut unprocessed) = (0, 0, 0);
    let opened = streams.len();
    for s in streams {
        let r = tokio::time::timeout(Duration::from_secs(5), s)
            .await
            .expect("stream bounded")
            .expect("stream task");
        match r {
            Ok(status) => assert_eq!(status, 200),
            Err(e) => {
                eprintln!("stream opened before the final GOAWAY failed: {e}");
                if e.reason() == Some(h2::Reason::REFUSED_STREAM) {
                    refused += 1;
                } else if e.is_go_away()
                    && e.is_remote()
                    && e.reason() == Some(h2::Reason::NO_ERROR)
                {
                    unprocessed += 1;
                } else {
                    failed += 1;
                }
            }
        }
    }
    eprintln!("{opened} streams opened, {unprocessed} left out by the final GOAWAY");
    assert_eq!(refused, 0, "REFUSED_STREAM seen");
    assert_eq!(failed, 0, "streams failed");
    assert!(
        unprocessed <= 2,
        "{unprocessed} streams left out by the final GOAWAY: the two-phase GOAWAY should leave a window of one round trip"
    );
    assert!(opened > 50, "only {opened} streams opened");
    conn_task.abort();
    assert!(exit_within(p.done, Duration::from_secs(5)).await.is_some());
}

/// Test 8: a stuck request is cut at the drain deadline; with no connection the proxy exits
/// within 100 ms of the drain delay ending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_deadline_cuts_stuck_requests_and_idle_proxy_exits_at_once() {
    let app = app(Duration::from_secs(60)).await;
    let p = proxy(
        app.addr,
        &["--drain-delay", "300ms", "--drain-deadline", "700ms"],
    )
    .await;
    let mut stuck = RawConn::connect(p.addr).await.expect("connect");
    let stuck_task = tokio::spawn(async move { stuck.get("/slow?ms=60000").await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t0 = Instant::now();
    p.drain.begin(Trigger::Signal);
    assert!(exit_within(p.done, Duration::from_secs(3)).await.is_some());
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(950) && took < Duration::from_millis(1600),
        "exit {took:?} after shutdown began; expected delay 300 ms + deadline 700 ms"
    );
    let stuck = tokio::time::timeout(Duration::from_secs(2), stuck_task)
        .await
        .expect("stuck client bounded")
        .expect("task");
    assert!(stuck.is_err(), "the stuck request should have been cut");

    let p = proxy(
        app.addr,
        &["--drain-delay", "300ms", "--drain-deadline", "30s"],
    )
    .await;
    let t0 = Instant::now();
    p.drain.begin(Trigger::Signal);
    assert!(exit_within(p.done, Duration::from_secs(2)).await.is_some());
    let took = t0.elapsed();
    assert!(
        took < Duration::from_millis(400),
        "with no connection the proxy took {took:?}, more than 100 ms past the 300 ms delay"
    );
}
