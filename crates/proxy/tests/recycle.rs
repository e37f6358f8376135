//! Acceptance tests 5–7 of issue 5: recycling by count and by age, and the application's
//! keep-alive timeout never failing a request.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use tokio::net::{TcpListener, TcpStream};

/// Test 5: with N = 100 the 100th response carries `Connection: close`, the connection then
/// closes with FIN, and a pooled client sees no error across many recycles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_requests_closes_after_the_nth_response() {
    let app = app(Duration::from_secs(60)).await;
    let p = proxy(app.addr, &["--max-requests-per-connection", "100"]).await;
    let mut c = RawConn::connect(p.addr).await.expect("connect");
    for i in 1..=100 {
        let r = c.get("/").await.expect("request on a recycled connection");
        assert_eq!(r.status, 200);
        assert_eq!(r.connection_close, i == 100, "response {i}");
    }
    assert_eq!(
        c.closed_cleanly().await,
        Ok(()),
        "close after the 100th response must be a FIN"
    );

    let client = h1_client();
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (client, errors, addr) = (client.clone(), errors.clone(), p.addr);
        tasks.push(tokio::spawn(async move {
            for _ in 0..150 {
                if let Err(e) = get(&client, addr, "/").await {
                    eprintln!("{e}");
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(30), t)
            .await
            .expect("bounded")
            .expect("task");
    }
    assert_eq!(errors.load(Ordering::Relaxed), 0);
    let (_, metrics) = admin_get(p.admin, "/metrics").await.expect("metrics");
    let recycled = metric(
        &metrics,
        "steady_proxy_recycled_connections_total{reason=\"requests\"}",
    );
    // The raw connection, plus: 600 requests leave at most 4 × 99 on connections never recycled.
    assert!(
        recycled >= 3.0,
        "expected at least 3 recycled connections, metric says {recycled}"
    );
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(name)
                .map(|v| v.trim().parse().unwrap_or(f64::NAN))
        })
        .unwrap_or(0.0)
}

/// Stands in for kube-proxy: each new TCP connection goes to the next backend, round robin.
struct Balancer {
    addr: SocketAddr,
    backends: Arc<Mutex<Vec<SocketAddr>>>,
    /// (backend index, opened, closed) of each finished connection.
    closed: Arc<Mutex<Vec<(usize, Instant, Instant)>>>,
    _task: Task,
}

async fn balancer(first: SocketAddr) -> Balancer {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind balancer");
    let addr = listener.local_addr().expect("addr");
    let backends = Arc::new(Mutex::new(vec![first]));
    let closed = Arc::new(Mutex::new(Vec::new()));
    let (b, c) = (backends.clone(), closed.clone());
    let next = Arc::new(AtomicUsize::new(0));
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                continue;
            };
            let (idx, backend) = {
                let list = b.lock().expect("lock");
                let idx = next.fetch_add(1, Ordering::Relaxed) % list.len();
                (idx, list[idx])
            };
            let c = c.clone();
            tokio::spawn(async move {
                let opened = Instant::now();
                if let Ok(mut server) = TcpStream::connect(backend).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
                c.lock().expect("lock").push((idx, opened, Instant::now()));
            });
        }
    });
    Balancer {
        addr,
        backends,
        closed,
        _task: Task(task),
    }
}

/// Test 6: a client pool pinned to the first replica spreads onto a second one within 1.2 × the
/// maximum connection age, and connections close spread over the ±10% jitter window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_age_rebalances_a_pinned_pool() {
    let age = Duration::from_secs(2);
    let (app_a, app_b) = (
        app(Duration::from_secs(60)).await,
        app(Duration::from_secs(60)).await,
    );
    let opts = [
        "--max-connection-age",
        "2s",
        "--max-requests-per-connection",
        "0",
    ];
    let (pa, pb) = (
        proxy(app_a.addr, &opts).await,
        proxy(app_b.addr, &opts).await,
    );
    let lb = balancer(pa.addr).await;
    let client = h1_client();
    let start = Instant::now();
    let end = start + Duration::from_millis(300) + age.mul_f64(1.2) + Duration::from_millis(100);
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (client, errors, addr) = (client.clone(), errors.clone(), lb.addr);
        tasks.push(tokio::spawn(async move {
            while Instant::now() < end {
                if let Err(e) = get(&client, addr, "/slow?ms=2").await {
                    eprintln!("{e}");
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let b_started = Instant::now();
    lb.backends.lock().expect("lock").push(pb.addr);
    // Share of B over sliding 400 ms windows, sampled every 100 ms.
    let mut samples = vec![(Instant::now(), 0u64, 0u64)];
    let mut reached = None;
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (a, b) = (
            app_a.requests.load(Ordering::Relaxed),
            app_b.requests.load(Ordering::Relaxed),
        );
        samples.push((Instant::now(), a, b));
        if samples.len() > 4 {
            let (_, a0, b0) = samples[samples.len() - 5];
            let (da, db) = (a - a0, b - b0);
            let share = db as f64 / (da + db).max(1) as f64;
            if reached.is_none() && share >= 0.4 {
                reached = Some(b_started.elapsed());
            }
        }
    }
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(10), t)
            .await
            .expect("bounded")
            .expect("task");
    }
    assert_eq!(
        errors.load(Ordering::Relaxed),
        0,
        "recycling failed requests"
    );
    let reached = reached.expect("replica B never reached 40% of the requests");
    assert!(
        reached <= age.mul_f64(1.2),
        "B reached 40% only after {reached:?}"
    );

    // Connections the pool opened to A before B existed: each closed at its jittered age.
    let closed = lb.closed.lock().expect("lock").clone();
    let lifetimes: Vec<Duration> = closed
        .iter()
        .filter(|(idx, opened, _)| *idx == 0 && *opened < b_started)
        .map(|(_, o, c)| *c - *o)
        .collect();
    assert!(
        lifetimes.len() >= 8,
        "only {} early connections closed",
        lifetimes.len()
    );
    for l in &lifetimes {
        assert!(
            *l >= age.mul_f64(0.9) - Duration::from_millis(20)
                && *l <= age.mul_f64(1.1) + Duration::from_millis(300),
            "a connection lived {l:?}, outside the jitter window of {age:?} ±10%"
        );
    }
    let spread = lifetimes.iter().max().copied().unwrap_or_default()
        - lifetimes.iter().min().copied().unwrap_or_default();
    assert!(
        spread >= age.mul_f64(0.1),
        "close times bunched within {spread:?}"
    );
}

/// Test 7: the application closes idle keep-alive connections after 1 s; requests spaced around
/// that never fail (the pool drops connections before the application does; GETs also retry).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn application_keep_alive_timeout_fails_nothing() {
    let app = app(Duration::from_secs(1)).await;
    let p = proxy(app.addr, &["--upstream-idle-timeout", "900ms"]).await;
    // Same application, proxy left at its default idle timeout (equal to the application's):
    // the boundary race is left to the retry of idempotent requests.
    let p_default = proxy(app.addr, &[]).await;
    let gaps = [850u64, 950, 990, 1000, 1010, 1050];
    let mut tasks = Vec::new();
    for i in 0..4u64 {
        for (method, addr) in [("POST", p.addr), ("GET", p_default.addr)] {
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(i * 7)).await;
                let mut c = RawConn::connect(addr).await.expect("connect");
                let mut failures = 0;
                for gap in gaps {
                    if c.send(method, "/").await.map(|r| r.status) != Ok(200) {
                        failures += 1;
                    }
                    tokio::time::sleep(Duration::from_millis(gap)).await;
                }
                failures
            }));
        }
    }
    let mut failures = 0;
    for t in tasks {
        failures += tokio::time::timeout(Duration::from_secs(15), t)
            .await
            .expect("bounded")
            .expect("task");
    }
    assert_eq!(failures, 0);
    assert!(
        app.connections.load(Ordering::Relaxed) >= 8,
        "the application's timeout never closed a pooled connection; the test proved nothing"
    );
}
