//! The admin listener both servers can share: `/livez` and `/readyz` (the paths Kubernetes users
//! expect, with `/live` and `/ready` as aliases), `/metrics`, HEAD answered like GET. It has its
//! own small connection budget and deadlines, so a flood on it cannot starve the probes, and a
//! flood on the main listener never touches it.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use tokio::net::TcpListener;

use crate::deadline::{Activity, DEFAULT_GOAWAY_GRACE, Deadlines};
use crate::limit::{Admission, ConnLimit};
use crate::serve::{Http, serve_connection};

/// What the admin paths report.
pub trait Probes: Send + Sync + 'static {
    /// `Err(reason)` answers 503 with the reason.
    fn ready(&self) -> Result<(), String>;
    /// The OpenMetrics exposition.
    fn metrics(&self) -> String;
}

/// Connections the admin listener serves at once: probes, a scraper and an operator's curl.
pub const ADMIN_MAX_CONNECTIONS: usize = 64;

const ADMIN_HTTP: Http = Http {
    deadlines: Deadlines {
        header: Duration::from_secs(5),
        idle: Duration::from_secs(60),
        goaway_grace: DEFAULT_GOAWAY_GRACE,
    },
    max_header_bytes: 16 * 1024,
};

const TEXT: &str = "text/plain; charset=utf-8";
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

fn reply(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    r
}

/// The answer to one admin request.
pub fn answer<P: Probes + ?Sized>(
    probes: &P,
    method: &Method,
    path: &str,
) -> Response<Full<Bytes>> {
    if method != Method::GET && method != Method::HEAD {
        let mut r = reply(
            StatusCode::METHOD_NOT_ALLOWED,
            TEXT,
            "the admin paths answer GET and HEAD\n".into(),
        );
        r.headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    // hyper sends a HEAD answer's headers (Content-Length included) without its body.
    match path {
        "/livez" | "/live" => reply(StatusCode::OK, TEXT, "ok\n".into()),
        "/readyz" | "/ready" => match probes.ready() {
            Ok(()) => reply(StatusCode::OK, TEXT, "ready\n".into()),
            Err(why) => reply(StatusCode::SERVICE_UNAVAILABLE, TEXT, format!("{why}\n")),
        },
        "/metrics" => reply(StatusCode::OK, OPENMETRICS, probes.metrics()),
        _ => reply(
            StatusCode::NOT_FOUND,
            TEXT,
            "admin paths: /livez /readyz /metrics (also /live /ready)\n".into(),
        ),
    }
}

/// Serves the admin paths until `stop` resolves.
pub async fn serve(listener: TcpListener, probes: Arc<dyn Probes>, stop: impl Future<Output = ()>) {
    let limit = ConnLimit::new(ADMIN_MAX_CONNECTIONS);
    tokio::pin!(stop);
    loop {
        let (stream, _) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    tracing::debug!(error = %e, "admin accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => return,
        };
        let activity = Arc::new(Activity::new(false));
        let permit = match limit.admit(&activity) {
            Admission::Admitted(p) | Admission::AdmittedByShedding(p) => p,
            Admission::Full => continue,
        };
        let probes = probes.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let r = answer(&*probes, req.method(), req.uri().path());
                async move { Ok::<_, Infallible>(r) }
            });
            serve_connection(&ADMIN_HTTP, stream, activity, svc, std::future::pending()).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(Result<(), String>);
    impl Probes for Fixed {
        fn ready(&self) -> Result<(), String> {
            self.0.clone()
        }
        fn metrics(&self) -> String {
            "# EOF\n".into()
        }
    }

    #[test]
    fn kubernetes_paths_and_the_old_aliases_answer_alike() {
        let ready = Fixed(Ok(()));
        let waiting = Fixed(Err("waiting for caches: pods".into()));
        for (live, ready_path) in [("/livez", "/readyz"), ("/live", "/ready")] {
            assert_eq!(answer(&waiting, &Method::GET, live).status(), 200);
            assert_eq!(answer(&ready, &Method::GET, ready_path).status(), 200);
            assert_eq!(answer(&waiting, &Method::GET, ready_path).status(), 503);
            assert_eq!(answer(&waiting, &Method::HEAD, ready_path).status(), 503);
        }
        assert_eq!(answer(&ready, &Method::GET, "/nope").status(), 404);
        assert_eq!(answer(&ready, &Method::POST, "/readyz").status(), 405);
        let m = answer(&ready, &Method::GET, "/metrics");
        assert!(
            m.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("application/openmetrics-text")
        );
    }

    #[tokio::test]
    async fn the_admin_listener_answers_over_http() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let task = tokio::spawn(serve(
            l,
            Arc::new(Fixed(Err("waiting for caches: pods".into()))),
            std::future::pending(),
        ));
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /readyz HTTP/1.0\r\n\r\n").await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        assert!(out.starts_with("HTTP/1.0 503"), "{out}");
        assert!(out.ends_with("waiting for caches: pods\n"), "{out}");
        task.abort();
    }
}
