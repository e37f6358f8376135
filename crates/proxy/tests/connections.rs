//! Client connection deadlines, the connection limit, the request-head cap and the listening
//! port, as a hostile or careless client meets them. Everything on loopback, bounded in time.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use steady_testkit::h2stall::{PREFACE, Stall, frame, get_block};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the server closes; returns when, and whether a GOAWAY frame came first.
async fn until_closed(s: &mut TcpStream) -> (Instant, bool) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut seen = Vec::new();
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
    let at = Instant::now();
    // Walk the server's frames (it sends no preface).
    let mut goaway = false;
    let mut i = 0;
    while i + 9 <= seen.len() {
        let len =
            usize::from(seen[i]) << 16 | usize::from(seen[i + 1]) << 8 | usize::from(seen[i + 2]);
        goaway |= seen[i + 3] == 0x7;
        i += 9 + len;
    }
    (at, goaway)
}

async fn stall(addr: SocketAddr, how: Stall) -> Duration {
    let started = Instant::now();
    let mut s = TcpStream::connect(addr).await.unwrap();
    how.send(&mut s, false, "test").await;
    let (at, _) = until_closed(&mut s).await;
    at - started
}

/// Issue: 2,000 h2c connections that stalled in a header block, or after the preface, stayed open
/// past 35 s with `--header-timeout 3s`. Now each is closed at the header deadline, even though
/// the idle deadline is long and one of them has a request behind it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_h2c_clients_are_closed_at_the_header_deadline() {
    let app = app(Duration::from_secs(60)).await;
    let p = proxy(
        app.addr,
        &[
            "--header-timeout",
            "2s",
            "--idle-timeout",
            "120s",
            "--workers",
            "2",
        ],
    )
    .await;
    let header = Duration::from_secs(2);
    let kinds = Stall::ALL;
    let tasks: Vec<_> = (0..201)
        .map(|i| {
            let how = kinds[i % 3];
            let addr = p.addr;
            tokio::spawn(async move { (how, stall(addr, how).await) })
        })
        .collect();
    let all = tokio::time::timeout(Duration::from_secs(30), futures::future::join_all(tasks))
        .await
        .expect("every stalled connection closed within 30 s");
    for r in all {
        let (how, took) = r.unwrap();
        assert!(
            took >= header - Duration::from_millis(300) && took <= header + Duration::from_secs(6),
            "{how:?} closed after {took:?}; header deadline {header:?}"
        );
    }
    assert_eq!(admin_get(p.admin, "/ready").await.map(|r| r.0), Some(200));
    assert_eq!(closed(p.admin, "header_timeout").await, 201);
}

/// `steady_proxy_closed_connections_total{reason}` from the admin listener.
async fn closed(admin: SocketAddr, reason: &str) -> u64 {
    let (_, text) = admin_get(admin, "/metrics").await.expect("metrics");
    let prefix = format!("steady_proxy_closed_connections_total{{reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0, |v| v.trim().parse().expect("a count"))
}

/// Issue: after GOAWAY the proxy waited forever for a PING ack. A client that never answers a
/// frame gets GOAWAY at the connection's maximum age and is closed the grace (10 s) later.
#[tokio::test]
async fn http2_max_age_sends_goaway_and_closes_a_silent_client_after_the_grace() {
    let app = app(Duration::from_secs(60)).await;
    let p = proxy(
        app.addr,
        &[
            "--max-connection-age",
            "1s",
            "--header-timeout",
            "30s",
            "--idle-timeout",
            "120s",
        ],
    )
    .await;
    let started = Instant::now();
    let mut s = TcpStream::connect(p.addr).await.unwrap();
    let mut out = PREFACE.to_vec();
    out.extend(frame(0x4, 0, 0, &[]));
    out.extend(frame(0x1, 0x5, 1, &get_block(false, "test")));
    s.write_all(&out).await.unwrap();
    let (at, goaway) = tokio::time::timeout(Duration::from_secs(30), until_closed(&mut s))
        .await
        .expect("closed within 30 s");
    let took = at - started;
    assert!(goaway, "GOAWAY before the close");
    // Age 1 s (+-10 %) plus the 10 s grace.
    assert!(
        took >= Duration::from_secs(10) && took <= Duration::from_secs(18),
        "{took:?}"
    );
}

/// The header deadline is not an idle timeout any more: a keep-alive connection reused after
/// longer than the header deadline is served, on HTTP/1 and HTTP/2.
#[tokio::test]
async fn a_connection_idle_longer_than_the_header_deadline_is_still_served() {
    let app = app(Duration::from_secs(60)).await;
    let p = proxy(
        app.addr,
        &["--header-timeout", "300ms", "--idle-timeout", "5s"],
    )
    .await;
    let mut h1 = RawConn::connect(p.addr).await.unwrap();
    assert_eq!(h1.get("/").await.unwrap().status, 200);
    let h2 = h2_client();
    get(&h2, p.addr, "/").await.unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let r = h1
        .get("/")
        .await
        .expect("HTTP/1 connection reused after 1.2 s");
    assert_eq!(r.status, 200);
    get(&h2, p.addr, "/")
        .await
        .expect("HTTP/2 connection reused after 1.2 s");
}

/// One request on a raw keep-alive connection; the whole response (the test app answers `ok`).
async fn raw_get(s: &mut TcpStream) -> String {
    s.write_all(b"GET / HTTP/1.1\r\nhost: test\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while !out.ends_with(b"\r\n\r\nok") {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .expect("response within 10 s")
            .unwrap();
        assert!(n > 0, "closed before the response");
        out.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Issue: 21,000 idle connections used up the file descriptors; a normal client timed out and
/// /ready stopped answering. With the limit full of idle connections, a newcomer is served (the
/// oldest idle one is closed for it) and the admin listener answers.
#[tokio::test]
async fn a_full_connection_limit_sheds_the_oldest_idle_connection_and_admin_answers() {
    let app = app(Duration::from_secs(60)).await;
    let p = proxy(
        app.addr,
        &[
            "--max-connections",
            "20",
            "--workers",
            "2",
            "--idle-timeout",
            "120s",
        ],
    )
    .await;
    let mut idle = Vec::new();
    for _ in 0..20 {
        let mut s = TcpStream::connect(p.addr).await.unwrap();
        assert!(raw_get(&mut s).await.starts_with("HTTP/1.1 200"));
        idle.push(s);
    }
    let mut newcomer = TcpStream::connect(p.addr).await.unwrap();
    let r = raw_get(&mut newcomer).await;
    assert!(
        r.starts_with("HTTP/1.1 200"),
        "a new client is served at the limit: {r}"
    );
    assert_eq!(admin_get(p.admin, "/ready").await.map(|r| r.0), Some(200));
    // The oldest idle connection was closed to make room, with an orderly close (no RST).
    let mut oldest = idle.remove(0);
    let mut buf = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(10), oldest.read(&mut buf))
        .await
        .expect("the oldest idle connection closed within 10 s");
    assert_eq!(closed.unwrap(), 0, "orderly close");
    assert_eq!(self::closed(p.admin, "shed").await, 1);
    // The others are still served.
    for s in idle.iter_mut() {
        assert!(raw_get(s).await.starts_with("HTTP/1.1 200"));
    }
}

/// Issue: 400 KB of header buffer per connection. A head over --max-header-bytes gets 431 on
/// HTTP/1, and each of many slow clients holding an unfinished big head is refused at the cap
/// instead of buffered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_heads_are_capped_and_slow_big_heads_are_refused_at_the_cap() {
    let app = app(Duration::from_secs(60)).await;
    let p = proxy(app.addr, &["--max-header-bytes", "16384", "--workers", "2"]).await;
    // A complete head within the cap is served.
    let mut s = TcpStream::connect(p.addr).await.unwrap();
    let ok = format!(
        "GET / HTTP/1.1\r\nhost: test\r\nx-pad: {}\r\n\r\n",
        "a".repeat(8000)
    );
    s.write_all(ok.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 1024];
    let n = s.read(&mut buf).await.unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    // 500 clients each trickling an unfinished head past the cap: all refused with 431.
    let tasks: Vec<_> = (0..500)
        .map(|_| {
            let addr = p.addr;
            tokio::spawn(async move {
                let mut s = TcpStream::connect(addr).await.unwrap();
                let mut head = b"GET / HTTP/1.1\r\nhost: test\r\n".to_vec();
                for i in 0..40 {
                    head.extend_from_slice(format!("x-h{i}: {}\r\n", "b".repeat(1000)).as_bytes());
                }
                // No final CRLF: the head never ends.
                let _ = s.write_all(&head).await;
                let mut out = Vec::new();
                let _ = s.read_to_end(&mut out).await;
                String::from_utf8_lossy(&out).into_owned()
            })
        })
        .collect();
    let all = tokio::time::timeout(Duration::from_secs(60), futures::future::join_all(tasks))
        .await
        .expect("every oversized head refused within 60 s");
    for r in all {
        let out = r.unwrap();
        assert!(out.starts_with("HTTP/1.1 431"), "{out:?}");
    }
    // HTTP/2: a header list over the cap is refused too.
    let h2 = h2_client();
    let req = http::Request::get(format!("http://{}/", p.addr))
        .header("x-pad", "c".repeat(20_000))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    match h2.request(req).await {
        Ok(resp) => assert_eq!(resp.status(), 431),
        Err(e) => {
            let e = format!("{e:?}");
            assert!(
                e.contains("REFUSED")
                    || e.contains("431")
                    || e.contains("Reset")
                    || e.contains("PROTOCOL"),
                "{e}"
            );
        }
    }
    assert_eq!(admin_get(p.admin, "/ready").await.map(|r| r.0), Some(200));
}

/// Issue: workers bind with SO_REUSEPORT, so a proxy started on a port another process listens
/// on (with SO_REUSEPORT, as a second proxy does) joined it and took part of its traffic.
#[tokio::test]
async fn a_port_another_process_listens_on_is_refused_with_the_flag_to_change() {
    let foreign = steady_proxy::bind_reuseport("127.0.0.1:0".parse().unwrap()).unwrap();
    let taken = foreign.local_addr().unwrap();
    let exe = std::env::current_exe()
        .expect("test binary path")
        .parent()
        .and_then(|deps| deps.parent())
        .map(|dir| dir.join("examples").join("proxy"))
        .expect("target dir");
    let out = tokio::time::timeout(
        Duration::from_secs(20),
        tokio::process::Command::new(&exe)
            .args(["--listen", &taken.to_string()])
            .args(["--admin-listen", "127.0.0.1:0"])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the proxy exits at once")
    .expect("run the proxy");
    assert!(!out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("address in use") && stderr.contains("--listen"),
        "{stderr}"
    );
    // The in-place restart recipe asks for it: --share-port joins the listener on purpose.
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: steady_proxy::Args,
    }
    let t = taken.to_string();
    let argv = [
        "proxy",
        "--listen",
        &t,
        "--admin-listen",
        "127.0.0.1:0",
        "--share-port",
    ];
    let args = <Cli as clap::Parser>::try_parse_from(argv).unwrap().args;
    let beside = steady_proxy::Proxy::bind(args).expect("--share-port joins the listener");
    assert_eq!(beside.local_addr().unwrap(), taken);
    drop(foreign);
}

/// The certificate served to a TLS client, and nothing else: a handshake that trusts anything.
async fn served_certificate(addr: SocketAddr) -> Vec<u8> {
    #[derive(Debug)]
    struct TrustAll(Arc<rustls::crypto::CryptoProvider>);
    impl rustls::client::danger::ServerCertVerifier for TrustAll {
        fn verify_server_cert(
            &self,
            _: &rustls::pki_types::CertificateDer<'_>,
            _: &[rustls::pki_types::CertificateDer<'_>],
            _: &rustls::pki_types::ServerName<'_>,
            _: &[u8],
            _: rustls::pki_types::UnixTime,
        ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            _: &[u8],
            _: &rustls::pki_types::CertificateDer<'_>,
            _: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
        }
        fn verify_tls13_signature(
            &self,
            _: &[u8],
            _: &rustls::pki_types::CertificateDer<'_>,
            _: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(TrustAll(provider)))
        .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(
            rustls::pki_types::ServerName::try_from("localhost").unwrap(),
            tcp,
        )
        .await
        .unwrap();
    tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

/// Issue: TLS mode loaded its certificate once. Rotated files are served to new connections
/// without a restart (the webhook's resolver, now shared).
#[tokio::test]
async fn the_tls_certificate_is_reloaded_when_its_files_change() {
    let app = app(Duration::from_secs(60)).await;
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    let write = |c: &rcgen::CertifiedKey<rcgen::KeyPair>| {
        // Key first, certificate last: the reloader swaps only a pair that fits.
        std::fs::write(&key, c.signing_key.serialize_pem()).unwrap();
        std::fs::write(&cert, c.cert.pem()).unwrap();
    };
    let first = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    write(&first);
    let (c, k) = (
        cert.to_string_lossy().into_owned(),
        key.to_string_lossy().into_owned(),
    );
    let p = proxy(app.addr, &["--tls-cert", &c, "--tls-key", &k]).await;
    assert_eq!(served_certificate(p.addr).await, first.cert.der().to_vec());
    let second = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    write(&second);
    let rotated = tokio::time::timeout(Duration::from_secs(20), async {
        while served_certificate(p.addr).await != second.cert.der().to_vec() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(
        rotated.is_ok(),
        "the new certificate was not served within 20 s"
    );
}
