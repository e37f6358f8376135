//! SIGTERM on a real process: `run` (what `steady proxy` calls) drains and exits. The process is
//! the `proxy` example, which `cargo test` builds next to this test binary; it is `steady_proxy::run`
//! with the same arguments as `steady proxy`.

mod common;

use std::time::{Duration, Instant};

use common::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_and_exits_the_real_process() {
    let exe = std::env::current_exe()
        .expect("test binary path")
        .parent()
        .and_then(|deps| deps.parent())
        .map(|dir| dir.join("examples").join("proxy"))
        .expect("target dir");
    assert!(
        exe.exists(),
        "{} missing: run through `cargo test`, which builds examples",
        exe.display()
    );
    let app = app(Duration::from_secs(60)).await;
    let (port, admin_port) = (free_port(), free_port());
    let mut child = tokio::process::Command::new(&exe)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--admin-listen", &format!("127.0.0.1:{admin_port}")])
        .args(["--upstream", &app.addr.to_string()])
        .args([
            "--health-interval",
            "100ms",
            "--drain-delay",
            "500ms",
            "--drain-deadline",
            "3s",
        ])
        .env("STEADY_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the proxy process");
    let admin: std::net::SocketAddr = format!("127.0.0.1:{admin_port}").parse().expect("addr");
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let ready = tokio::time::timeout(Duration::from_secs(10), async {
        while admin_get(admin, "/ready").await.map(|r| r.0) != Some(200) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(ready.is_ok(), "the process never became ready");
    let mut conn = RawConn::connect(addr).await.expect("connect");
    assert_eq!(conn.get("/").await.expect("request").status, 200);

    let pid = child
        .id()
        .and_then(|id| rustix::process::Pid::from_raw(id as i32))
        .expect("pid");
    let t0 = Instant::now();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("SIGTERM");
    let unready = tokio::time::timeout(Duration::from_millis(100), async {
        while admin_get(admin, "/ready").await.map(|r| r.0) != Some(503) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(unready.is_ok(), "/ready not 503 within 100 ms of SIGTERM");
    // Still serving on a kept-alive connection during the drain delay.
    assert_eq!(
        conn.get("/")
            .await
            .expect("request during the drain delay")
            .status,
        200
    );
    drop(conn);
    let status = tokio::time::timeout(Duration::from_secs(2), child.wait())
        .await
        .expect("the process exits within drain delay + 1.5 s")
        .expect("wait");
    assert!(status.success(), "exit status {status}");
    assert!(
        t0.elapsed() >= Duration::from_millis(480),
        "exited before the drain delay: {:?}",
        t0.elapsed()
    );
}
