//! `steady serve`: the budget guard. A validating admission webhook that refuses pod deletions,
//! evictions, disruptive updates and resizes that would take an application below its
//! PodUnavailableBudget, and the controller that keeps every budget's status.
//!
//! Layout by responsibility: [`index`] (the in-memory view of the cluster), [`admission`] (review →
//! engine → response), [`writer`] (status writes with optimistic concurrency), [`controller`]
//! (status recompute), [`watches`] (the only place that opens watches), [`lease`], [`server`] (TLS
//! and certificate reload), [`certs`] (the self-signed CA, its Secret and the webhook's caBundle),
//! [`admin`], [`metrics`], [`events`]. Budget rules live in steady-budget.
#![forbid(unsafe_code)]

pub mod admin;
pub mod admission;
pub mod args;
pub mod certs;
pub mod controller;
pub mod events;
pub mod index;
pub mod lease;
pub mod metrics;
pub mod server;
pub mod watches;
pub mod writer;

pub use args::Args;

/// Resolves once the shutdown flag turns true (never, if its sender is gone without setting it).
pub async fn stopped(rx: &mut tokio::sync::watch::Receiver<bool>) {
    loop {
        if *rx.borrow_and_update() {
            return;
        }
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Each message carries its cause once, in its own text and not also as a `source`: the binary
/// prints the whole chain (`{:#}`), which repeated every cause.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot set up the Kubernetes client (kubeconfig or in-cluster config): {0}")]
    Kube(kube::Error),
    #[error(transparent)]
    Args(#[from] args::ArgsError),
    #[error(transparent)]
    Tls(#[from] server::TlsError),
    #[error(transparent)]
    Bind(steady_runtime::listen::BindError),
    #[error(transparent)]
    Lease(#[from] lease::LeaseError),
    #[error("leader election stopped; exiting so the replica restarts cleanly")]
    LeaseLost,
}

impl Error {
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Kube(_) => "kube_client",
            Self::Args(_) => "args",
            Self::Tls(e) => e.metric_label(),
            Self::Bind(_) => "bind",
            Self::Lease(_) => "lease",
            Self::LeaseLost => "lease_lost",
        }
    }
}

/// `steady serve` with the usual kubeconfig / in-cluster configuration.
pub async fn run(args: Args) -> Result<std::process::ExitCode, Error> {
    let client = kube::Client::try_default().await.map_err(Error::Kube)?;
    serve(args, client, shutdown_signal()).await
}

/// Runs the guard with a given client until `shutdown` resolves (the first signal drains, a second
/// one exits at once when `shutdown` is the signal handler).
pub async fn serve(
    args: Args,
    client: kube::Client,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<std::process::ExitCode, Error> {
    use std::sync::Arc;
    use std::time::Duration;

    args::check_renamed_variables(|k| std::env::var(k).ok())?;
    let cert_source = args.cert_source()?;
    let ready = admin::Readiness::default();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let resolver = match cert_source {
        args::CertSource::Files { cert, key } => {
            let resolver = server::CertResolver::new(&cert, &key)?;
            resolver.spawn_reloader(args.cert_reload_interval.max(Duration::from_millis(100)));
            resolver
        }
        args::CertSource::SelfSigned(config) => {
            let resolver = server::CertResolver::empty();
            // Registered before anything else so /readyz stays false until a certificate is served.
            ready.register(certs::manager::READINESS);
            tokio::spawn(certs::CertManager::new(client.clone(), config).run(
                resolver.clone(),
                ready.clone(),
                args.cert_check_interval.max(Duration::from_secs(1)),
                stop_rx.clone(),
            ));
            resolver
        }
    };
    let acceptor = server::tls_acceptor(resolver)?;
    let bind = |addr, flag| {
        steady_runtime::listen::bind(addr, flag)
            .and_then(|l| {
                tokio::net::TcpListener::from_std(l).map_err(|source| {
                    steady_runtime::listen::BindError::Other { addr, flag, source }
                })
            })
            .map_err(Error::Bind)
    };
    let webhook_listener = bind(args.listen, "listen")?;
    let admin_listener = bind(args.admin_listen, "admin-listen")?;

    let identity = args
        .identity
        .clone()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| format!("steady-guard-{}", std::process::id()));
    let metrics = Arc::new(metrics::Metrics::new());
    let index = index::SharedIndex::default();
    let dirty = Arc::new(watches::Dirty::default());
    let writer = writer::Writer::new(client.clone());
    let events = events::Events::new(client.clone(), Some(identity.clone()));

    let w = watches::Watches {
        client: client.clone(),
        index: index.clone(),
        dirty: dirty.clone(),
        ready: ready.clone(),
        metrics: metrics.clone(),
    };
    let _watch_tasks = w.spawn(args.guard_pdb_deletes);

    let (leader, mut lease_task) = lease::elect(
        client.clone(),
        &args.lease_namespace,
        &args.lease_name,
        &identity,
    )
    .await?;
    let controller = controller::Controller {
        index: index.clone(),
        writer: writer.clone(),
        events: Some(events.clone()),
        metrics: metrics.clone(),
        dirty,
        leader,
        expiry: jiff::SignedDuration::try_from(args.expiry).unwrap_or(jiff::SignedDuration::MAX),
        resync: args.resync_interval.max(Duration::from_secs(1)),
        backoff: controller::Backoffs::default(),
        ready: Some(ready.clone()),
    };
    tokio::spawn(controller.run(stop_rx.clone()));

    let admission = admission::Admission::with_readiness(
        index,
        writer,
        Some(events),
        metrics.clone(),
        admission::Config {
            deadline: args.request_deadline,
            max_attempts: args.max_attempts,
        },
        ready.clone(),
    );
    tokio::spawn(admin::serve(
        admin_listener,
        ready,
        metrics,
        stop_rx.clone(),
    ));
    let limits = server::Limits {
        max_body_bytes: args.max_body_bytes,
        http: args.http(),
        max_connections: args.max_connections(steady_runtime::fds::raise_nofile()),
    };
    tracing::info!(listen = %args.listen, admin = %args.admin_listen, pdb_mode = args.guard_pdb_deletes, identity, max_connections = limits.max_connections, "steady serve started");
    let mut webhook = tokio::spawn(server::serve(
        webhook_listener,
        acceptor,
        admission,
        limits,
        stop_rx,
        Duration::from_secs(10),
    ));

    // The first SIGTERM (or Ctrl-C) drains; a second one exits at once.
    let lost = tokio::select! {
        _ = shutdown => false,
        _ = &mut lease_task => true,
        _ = &mut webhook => false,
    };
    let _ = stop_tx.send(true);
    if lost {
        return Err(Error::LeaseLost);
    }
    tracing::info!("shutting down: draining webhook connections");
    tokio::select! {
        _ = webhook => {}
        _ = shutdown_signal() => tracing::warn!("second signal: exiting now"),
    }
    Ok(std::process::ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    match steady_runtime::signal::Signals::install() {
        Ok(mut s) => s.next().await,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
