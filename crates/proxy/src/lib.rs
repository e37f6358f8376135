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
mod request;
mod rewind;
mod server;
mod tls;
mod upstream;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

pub use args::{Args, parse_duration};
pub use drain::{Drain, Phase, Trigger};
/// The listening socket every worker binds (SO_REUSEPORT), for benchmarks built beside the proxy.
pub use listener::bind_std as bind_reuseport;
pub use server::Proxy;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot listen on {addr}: {source}; is another process using the port?")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// [`Error::Bind`] of an address the user chose, with the option that chose it.
    #[error(
        "cannot listen on {addr} ({flag}): {source}; another process in the pod (often the \
         application itself) may use this port: set {flag} (or {env}) to a free port"
    )]
    Listen {
        flag: &'static str,
        env: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot read the local address of a listener: {0}")]
    LocalAddr(std::io::Error),
    #[error("cannot read TLS file {path}: {source}")]
    TlsFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("TLS setup failed: {0}")]
    Tls(String),
    #[error("cannot install the SIGTERM handler: {0}")]
    Signal(std::io::Error),
}

impl Error {
    /// Names the option to change when binding an address from `args` failed: the user sees
    /// `--listen` rather than a bare "address in use".
    pub fn naming_the_flag(self, args: &Args) -> Error {
        match self {
            Error::Bind { addr, source } => {
                let (flag, env) = if addr == args.admin_listen {
                    ("--admin-listen", "STEADY_PROXY_ADMIN_LISTEN")
                } else if addr == args.listen {
                    ("--listen", "STEADY_PROXY_LISTEN")
                } else {
                    return Error::Bind { addr, source };
                };
                Error::Listen {
                    flag,
                    env,
                    addr,
                    source,
                }
            }
            other => other,
        }
    }
}

/// Runs the proxy until SIGTERM (or a call to `/drain`) has drained it.
pub async fn run(args: Args) -> Result<ExitCode, Error> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).map_err(Error::Signal)?;
    let mut int = signal(SignalKind::interrupt()).map_err(Error::Signal)?;
    let proxy = Proxy::bind(args.clone()).map_err(|e| e.naming_the_flag(&args))?;
    tracing::info!(
        listen = %proxy.local_addr()?,
        admin = %proxy.admin_addr()?,
        upstream = %args.upstream,
        drain_delay = ?args.drain_delay,
        drain_deadline = ?args.drain_deadline,
        "steady proxy serving"
    );
    let drain = proxy.drain();
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        drain.begin(Trigger::Signal);
        // A second signal means the operator does not want to wait for the drain.
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::warn!("second termination signal: exiting without finishing the drain");
        std::process::exit(1);
    });
    proxy.serve().await?;
    Ok(ExitCode::SUCCESS)
}
