//! The floor of bench/proxy: the least work any proxy on tokio can do for wrk's requests, to
//! measure how far above nginx a proxy can get on this machine at all. Not a proxy anyone should
//! run: each client connection gets its own upstream connection, and every request is assumed to
//! arrive in one read and to be answered in one read (true for wrk's `GET /` and bench_upstream's
//! `ok`), so a request costs exactly four socket calls and no HTTP parsing.
//!
//!   floor LISTEN UPSTREAM [WORKERS]
//! Same threading as `steady proxy`: one single-threaded runtime and SO_REUSEPORT listener per
//! worker.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(upstream)) = (args.next(), args.next()) else {
        eprintln!("usage: floor LISTEN UPSTREAM [WORKERS]");
        std::process::exit(2);
    };
    let listen: SocketAddr = listen.parse().expect("LISTEN is ip:port");
    let upstream: SocketAddr = upstream.parse().expect("UPSTREAM is ip:port");
    let workers: usize = args
        .next()
        .map_or(2, |w| w.parse().expect("WORKERS is a number"));
    let threads: Vec<_> = (0..workers)
        .map(|_| {
            let listener = steady_proxy::bind_reuseport(listen).expect("bind");
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                let local = tokio::task::LocalSet::new();
                local.block_on(&rt, async move {
                    let listener = TcpListener::from_std(listener).expect("listener");
                    loop {
                        let Ok((client, _)) = listener.accept().await else {
                            continue;
                        };
                        tokio::task::spawn_local(async move {
                            let _ = forward(client, upstream).await;
                        });
                    }
                })
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
}

async fn forward(mut client: TcpStream, upstream: SocketAddr) -> std::io::Result<()> {
    client.set_nodelay(true)?;
    let mut up = TcpStream::connect(upstream).await?;
    up.set_nodelay(true)?;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = client.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        up.write_all(&buf[..n]).await?;
        let n = up.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        client.write_all(&buf[..n]).await?;
    }
}
