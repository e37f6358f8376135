//! Wiring: binds the listeners, starts the health checks and the admin API, accepts connections,
//! and runs the shutdown sequence of DESIGN.md "Graceful proxy".

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::admin::{self, Admin};
use crate::args::Args;
use crate::conn::{self, Shared};
use crate::drain::{Drain, Phase};
use crate::health::{self, Health};
use crate::metrics::Metrics;
use crate::recycle::Limits;
use crate::upstream::{Upstream, UpstreamConfig};
use crate::{Error, listener, tls};

/// Time a blocked `POST /drain` gets to send its answer once the drain has finished.
const ADMIN_FLUSH: Duration = Duration::from_secs(1);
/// Time cut connection tasks get to unwind after the drain deadline.
const CUT_GRACE: Duration = Duration::from_millis(500);

/// A bound, not yet serving proxy. Tests start it in-process and drive shutdown through
/// [`Proxy::drain`] instead of signals.
pub struct Proxy {
    args: Args,
    listener: TcpListener,
    admin_listener: TcpListener,
    drain: Drain,
    metrics: Arc<Metrics>,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Proxy {
    /// Binds both listeners. Must be called inside a tokio runtime.
    pub fn bind(args: Args) -> Result<Proxy, Error> {
        let tls = match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => Some(tls::acceptor(cert, key)?),
            _ => None,
        };
        Ok(Proxy {
            listener: listener::bind(args.listen)?,
            admin_listener: listener::bind(args.admin_listen)?,
            drain: Drain::new(),
            metrics: Arc::new(Metrics::default()),
            tls,
            args,
        })
    }

    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        self.listener.local_addr().map_err(Error::LocalAddr)
    }

    pub fn admin_addr(&self) -> Result<SocketAddr, Error> {
        self.admin_listener.local_addr().map_err(Error::LocalAddr)
    }

    /// The handle that starts shutdown (what SIGTERM and `POST /drain` call).
    pub fn drain(&self) -> Drain {
        self.drain.clone()
    }

    /// Serves until shutdown has run to its end.
    pub async fn serve(self) -> Result<(), Error> {
        let Proxy {
            args,
            listener,
            admin_listener,
            drain,
            metrics,
            tls,
        } = self;
        let upstream = Upstream::new(
            UpstreamConfig {
                addr: args.upstream,
                idle_timeout: args.upstream_idle_timeout,
                connect_timeout: args.connect_timeout,
                request_timeout: args.request_timeout,
            },
            metrics.clone(),
        );
        let shared = Arc::new(Shared {
            upstream,
            drain: drain.clone(),
            metrics: metrics.clone(),
            limits: Limits {
                max_requests: args.max_requests_per_connection,
                max_age: (!args.max_connection_age.is_zero()).then_some(args.max_connection_age),
            },
            header_timeout: args.header_timeout,
            tls,
        });
        let health = Health::default();
        let health_task = AbortOnDrop(tokio::spawn(health::check_loop(
            health.clone(),
            args.upstream,
            args.health_path.clone(),
            args.health_interval,
            metrics.clone(),
        )));
        let admin = Arc::new(Admin {
            drain: drain.clone(),
            health,
            registry: metrics.registry(),
            metrics: metrics.clone(),
        });
        let admin_task = tokio::spawn(admin::serve(admin_listener, admin, ADMIN_FLUSH));
        let accept_task = tokio::spawn(accept_loop(listener, shared));

        drain.begun().await;
        metrics.drain_state.set(Phase::Delaying.as_metric());
        tokio::time::sleep(args.drain_delay).await;

        drain.advance(Phase::Closing);
        metrics.drain_state.set(Phase::Closing.as_metric());
        let _ = accept_task.await;
        tracing::info!(
            connections = drain.connections(),
            "drain delay over: no longer accepting, closing connections"
        );
        if !drain.wait_no_connections(args.drain_deadline).await {
            tracing::warn!(
                connections = drain.connections(),
                deadline = ?args.drain_deadline,
                "drain deadline reached: cutting the remaining connections"
            );
        }
        drain.advance(Phase::Stopped);
        metrics.drain_state.set(Phase::Stopped.as_metric());
        let _ = drain.wait_no_connections(CUT_GRACE).await;
        drain.mark_finished();
        drop(health_task);
        let _ = admin_task.await;
        tracing::info!("drained");
        Ok(())
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        tokio::select! {
            biased;
            () = shared.drain.reached(Phase::Closing) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    tokio::spawn(conn::serve(shared.clone(), stream, peer));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    for (stream, peer) in listener::take_backlog(&listener) {
        tokio::spawn(conn::serve(shared.clone(), stream, peer));
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
