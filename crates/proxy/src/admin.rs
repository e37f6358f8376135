//! The admin listener: `/live`, `/ready`, `/metrics`, and `POST /drain` for an application's
//! preStop hook to call and block on.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

use crate::drain::{Drain, Phase, Trigger};
use crate::health::Health;
use crate::metrics::Metrics;

#[derive(Debug)]
pub struct Admin {
    pub drain: Drain,
    pub health: Health,
    pub metrics: Arc<Metrics>,
    pub registry: Registry,
}

impl Admin {
    fn respond(&self, status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
        let mut r = Response::new(Full::new(body.into()));
        *r.status_mut() = status;
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        r
    }

    async fn handle(&self, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
        Ok(match (req.method(), req.uri().path()) {
            (&Method::GET, "/live") => self.respond(StatusCode::OK, "live\n"),
            (&Method::GET, "/ready") => {
                let phase = self.drain.phase();
                if phase != Phase::Serving {
                    self.respond(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "not ready: shutting down\n",
                    )
                } else if !self.health.is_healthy() {
                    self.respond(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "not ready: the application's health check does not pass\n",
                    )
                } else {
                    self.respond(StatusCode::OK, "ready\n")
                }
            }
            (&Method::GET, "/metrics") => {
                self.metrics.drain_state.set(self.drain.phase().as_metric());
                let mut text = String::new();
                match prometheus_client::encoding::text::encode(&mut text, &self.registry) {
                    Ok(()) => {
                        let mut r = self.respond(StatusCode::OK, text);
                        r.headers_mut().insert(
                            header::CONTENT_TYPE,
                            header::HeaderValue::from_static(
                                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                            ),
                        );
                        r
                    }
                    Err(e) => self.respond(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        format!("encoding metrics failed: {e}\n"),
                    ),
                }
            }
            // GET too, because a kubelet `httpGet` preStop hook can only GET: that lets the
            // application's preStop drain the proxy without curl in the application's image.
            (&Method::POST | &Method::GET, "/drain") => {
                self.drain.begin(Trigger::DrainRequest);
                // Blocks until connections are drained, so a preStop hook holds the application's
                // SIGTERM back until no request can reach it any more.
                self.drain.finished().await;
                self.respond(StatusCode::OK, "drained\n")
            }
            (_, "/live" | "/ready" | "/metrics" | "/drain") => self.respond(
                StatusCode::METHOD_NOT_ALLOWED,
                "use GET /live, GET /ready, GET /metrics or POST /drain\n",
            ),
            _ => self.respond(
                StatusCode::NOT_FOUND,
                "not found: use GET /live, GET /ready, GET /metrics or POST /drain\n",
            ),
        })
    }
}

/// Serves the admin API until the drain has finished, then lets in-flight answers (a blocked
/// `POST /drain`) go out for at most `flush`.
pub async fn serve(listener: TcpListener, admin: Arc<Admin>, flush: Duration) {
    let graceful = GracefulShutdown::new();
    let finished = admin.drain.clone();
    let finished = finished.finished();
    tokio::pin!(finished);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "admin accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let admin = admin.clone();
                let svc = service_fn(move |req| {
                    let admin = admin.clone();
                    async move { admin.handle(req).await }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(30))
                    .serve_connection(TokioIo::new(stream), svc);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "admin connection ended with an error");
                    }
                });
            }
            () = &mut finished => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(flush, graceful.shutdown()).await;
}
