//! `steady proxy`: a sidecar between the Service and the application that owns readiness, drains
//! on shutdown without failing requests, and recycles long-lived client connections.
#![forbid(unsafe_code)]

mod admin;
mod args;
mod conn;
mod drain;
mod health;
mod listener;
mod metrics;
mod pool;
mod recycle;
mod rewind;
mod server;
mod tls;
mod upstream;

use std::process::ExitCode;

pub use args::{Args, parse_duration};
pub use drain::{Drain, Phase, Trigger};
/// The listening socket every worker binds (SO_REUSEPORT), for benchmarks built beside the proxy.
pub use listener::bind_std as bind_reuseport;
pub use server::Proxy;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Bind(#[from] steady_runtime::listen::BindError),
    #[error("cannot read the local address of a listener: {0}")]
    LocalAddr(std::io::Error),
    #[error("TLS: {0}")]
    Tls(#[from] steady_runtime::tls::TlsError),
    #[error("cannot install the SIGTERM handler: {0}")]
    Signal(std::io::Error),
}

/// Runs the proxy until SIGTERM (or `POST /drain`) has drained it.
pub async fn run(args: Args) -> Result<ExitCode, Error> {
    let mut signals = steady_runtime::signal::Signals::install().map_err(Error::Signal)?;
    let proxy = Proxy::bind(args.clone())?;
    tracing::info!(
        listen = %proxy.local_addr()?,
        admin = %proxy.admin_addr()?,
        upstream = %args.upstream,
        drain_delay = ?args.drain_delay,
        drain_deadline = ?args.drain_deadline,
        max_connections = proxy.max_connections(),
        "steady proxy serving"
    );
    let drain = proxy.drain();
    tokio::spawn(async move {
        signals.next().await;
        drain.begin(Trigger::Signal);
        // A second signal means the operator does not want to wait for the drain.
        signals.next().await;
        tracing::warn!("second termination signal: exiting without finishing the drain");
        std::process::exit(1);
    });
    proxy.serve().await?;
    Ok(ExitCode::SUCCESS)
}
