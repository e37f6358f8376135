//! HTTP/1 Upgrade (WebSocket and the like) passes through the proxy: the 101 reaches the client
//! and bytes then flow both ways over the same connection.

mod common;

use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// An application that answers `/healthz`, switches any `Upgrade: echo` request to a byte echo,
/// and refuses other upgrades with 400 (hand-written: the request must arrive with its
/// `Upgrade` and `Connection: upgrade` headers intact).
async fn echo_app() -> (std::net::SocketAddr, Task) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let head = read_head(&mut s).await.to_ascii_lowercase();
                if head.starts_with("get /healthz") {
                    let _ = s
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                        )
                        .await;
                    return;
                }
                if !(head.contains("\r\nupgrade: echo") && head.contains("\r\nconnection: upgrade"))
                {
                    let _ = s
                        .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                        .await;
                    return;
                }
                let _ = s
                    .write_all(b"HTTP/1.1 101 Switching Protocols\r\nupgrade: echo\r\nconnection: upgrade\r\n\r\n")
                    .await;
                let mut buf = [0u8; 1024];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (addr, Task(task))
}

async fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut b).await {
            Ok(1) => head.push(b[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_switches_protocols_and_carries_bytes_both_ways() {
    let (app, _app_task) = echo_app().await;
    let p = proxy(app, &[]).await;
    tokio::time::timeout(Duration::from_secs(5), async {
        let mut c = TcpStream::connect(p.addr).await.expect("connect");
        c.write_all(
            b"GET /chat HTTP/1.1\r\nHost: app\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n",
        )
        .await
        .expect("send");
        let head = read_head(&mut c).await;
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        assert!(
            head.to_ascii_lowercase().contains("upgrade: echo"),
            "{head}"
        );
        for msg in [&b"ping"[..], b"a second message"] {
            c.write_all(msg).await.expect("write after the upgrade");
            let mut back = vec![0u8; msg.len()];
            c.read_exact(&mut back).await.expect("echo");
            assert_eq!(back, msg);
        }
    })
    .await
    .expect("bounded");
}
