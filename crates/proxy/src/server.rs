//! Wiring: binds the listeners, starts the health checks and the admin API, runs the worker
//! threads that accept and serve connections, and runs the shutdown sequence of DESIGN.md
//! "Graceful proxy".

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::admin::{self, Admin};
use crate::args::Args;
use crate::conn::{self, Shared};
use crate::drain::{Drain, Phase};
use crate::health::{self, Health};
use crate::metrics::Metrics;
use crate::recycle::Limits;
use crate::upstream::{Upstream, UpstreamConfig};
use crate::{Error, listener, tls};
use steady_runtime::ConnLimit;
use steady_runtime::deadline::{DEFAULT_GOAWAY_GRACE, Deadlines};
use steady_runtime::serve::Http;

/// Time a blocked `POST /drain` gets to send its answer once the drain has finished.
const ADMIN_FLUSH: Duration = Duration::from_secs(1);
/// Time cut connection tasks get to unwind after the drain deadline.
const CUT_GRACE: Duration = Duration::from_millis(500);

/// A bound, not yet serving proxy. Tests start it in-process and drive shutdown through
/// [`Proxy::drain`] instead of signals.
pub struct Proxy {
    args: Args,
    /// One per worker, all on the same port (SO_REUSEPORT): the kernel spreads connections.
    listeners: Vec<std::net::TcpListener>,
    admin_listener: TcpListener,
    drain: Drain,
    metrics: Arc<Metrics>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    /// Re-reads the TLS files while the proxy runs.
    _tls_reloader: Option<AbortOnDrop>,
    /// Shared by every worker: the limit is for the process.
    conn_limit: Arc<ConnLimit>,
}

impl Proxy {
    /// Binds the listeners. Must be called inside a tokio runtime (for the admin listener).
    pub fn bind(args: Args) -> Result<Proxy, Error> {
        let (tls, reloader) = match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => {
                let (acceptor, reloader) = tls::acceptor(cert, key)?;
                (Some(acceptor), Some(AbortOnDrop(reloader)))
            }
            _ => (None, None),
        };
        let workers = match args.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let listeners = if args.share_port {
            let first = steady_runtime::listen::join_unchecked(args.listen, "listen")?;
            // With port 0 the first bind picks the port; the others join it.
            let addr = first.local_addr().map_err(Error::LocalAddr)?;
            let mut all = vec![first];
            for _ in 1..workers {
                all.push(steady_runtime::listen::join_unchecked(addr, "listen")?);
            }
            all
        } else {
            steady_runtime::listen::bind_group(args.listen, workers, "listen")?
        };
        let nofile = steady_runtime::fds::raise_nofile();
        let max_connections = args.max_connections.unwrap_or_else(|| {
            // Two descriptors per connection: the client's, and one to the application while busy.
            steady_runtime::fds::default_max_connections(nofile, 2)
        });
        Ok(Proxy {
            listeners,
            admin_listener: listener::bind_admin(args.admin_listen)?,
            drain: Drain::new(),
            metrics: Arc::new(Metrics::default()),
            tls,
            _tls_reloader: reloader,
            conn_limit: ConnLimit::new(max_connections),
            args,
        })
    }

    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        self.listeners
            .first()
            .ok_or_else(|| Error::LocalAddr(std::io::Error::other("no listener")))?
            .local_addr()
            .map_err(Error::LocalAddr)
    }

    /// The connection limit in force (--max-connections or its default).
    pub fn max_connections(&self) -> usize {
        self.conn_limit.max()
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
            listeners,
            admin_listener,
            drain,
            metrics,
            tls,
            _tls_reloader,
            conn_limit,
        } = self;
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
            drain_access: admin::DrainAccess::new(admin::drain_sources(
                &args.node_ip,
                &std::fs::read_to_string("/proc/net/route").unwrap_or_default(),
            )),
        });
        let admin_task = tokio::spawn(admin::serve(admin_listener, admin, ADMIN_FLUSH));

        let (closed_tx, mut closed_rx) = mpsc::unbounded_channel();
        let workers = listeners.len();
        let mut threads = Vec::new();
        for (i, std_listener) in listeners.into_iter().enumerate() {
            let (args, drain, metrics, tls, conn_limit, closed_tx) = (
                args.clone(),
                drain.clone(),
                metrics.clone(),
                tls.clone(),
                conn_limit.clone(),
                closed_tx.clone(),
            );
            let spawned = std::thread::Builder::new()
                .name(format!("steady-proxy-{i}"))
                .spawn(move || {
                    worker(
                        std_listener,
                        args,
                        drain,
                        metrics,
                        tls,
                        conn_limit,
                        closed_tx,
                    )
                });
            match spawned {
                Ok(t) => threads.push(t),
                Err(e) => tracing::error!(error = %e, "cannot start a worker thread"),
            }
        }
        drop(closed_tx);

        drain.begun().await;
        metrics.drain_state.set(Phase::Delaying.as_metric());
        tokio::time::sleep(args.drain_delay).await;

        drain.advance(Phase::Closing);
        metrics.drain_state.set(Phase::Closing.as_metric());
        // Every worker has closed its listener and counted the connections from its backlog.
        for _ in 0..workers {
            if closed_rx.recv().await.is_none() {
                break;
            }
        }
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
        let _ = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        })
        .await;
        let _ = admin_task.await;
        tracing::info!("drained");
        Ok(())
    }
}

/// One worker thread: a single-threaded runtime with its own listener and upstream pool, so a
/// request never crosses threads (the nginx worker model; measured faster than one shared
/// work-stealing runtime on 2 cores, see bench/proxy/README.md).
fn worker(
    std_listener: std::net::TcpListener,
    args: Args,
    drain: Drain,
    metrics: Arc<Metrics>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    conn_limit: Arc<ConnLimit>,
    closed: mpsc::UnboundedSender<()>,
) {
    // Sockets and timers only: signals are the main runtime's, and a signal or process driver
    // here would be polled on every park, that is about twice per request at low concurrency.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot start a worker runtime");
            let _ = closed.send(());
            return;
        }
    };
    runtime.block_on(async move {
        let listener = match TcpListener::from_std(std_listener) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "cannot adopt a listener");
                let _ = closed.send(());
                return;
            }
        };
        let upstream = Upstream::new(
            UpstreamConfig {
                addr: args.upstream,
                idle_timeout: args.upstream_idle_timeout,
                connect_timeout: args.connect_timeout,
                request_timeout: args.request_timeout,
            },
            metrics.clone(),
        );
        let _evict = AbortOnDrop(tokio::spawn(upstream.evict_loop()));
        let shared = Arc::new(Shared {
            upstream,
            drain: drain.clone(),
            metrics,
            limits: Limits {
                max_requests: args.max_requests_per_connection,
                max_age: (!args.max_connection_age.is_zero()).then_some(args.max_connection_age),
            },
            http: Http {
                deadlines: Deadlines {
                    header: args.header_timeout,
                    idle: args.idle_timeout,
                    goaway_grace: DEFAULT_GOAWAY_GRACE,
                },
                max_header_bytes: args.max_header_bytes,
            },
            conn_limit,
            tls,
        });
        accept_loop(listener, shared).await;
        let _ = closed.send(());
        // Connection tasks live on this runtime: keep it until the drain is over.
        drain.finished().await;
    });
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        tokio::select! {
            biased;
            () = shared.drain.reached(Phase::Closing) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let counted = shared.drain.track();
                    tokio::spawn(conn::serve(shared.clone(), stream, peer, counted));
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
        let counted = shared.drain.track();
        tokio::spawn(conn::serve(shared.clone(), stream, peer, counted));
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
