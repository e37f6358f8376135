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
    /// [`Error::Bind`] of an address the user chose, with the environment variable that also
    /// sets it: in a pod the flag is often an env entry of the manifest.
    #[error(
        "{source}; another process in the pod (often the application itself) may use this port: \
         set --{flag} (or {env}) to a free port"
    )]
    Listen {
        flag: &'static str,
        env: &'static str,
        source: steady_runtime::listen::BindError,
    },
    #[error("cannot read the local address of a listener: {0}")]
    LocalAddr(std::io::Error),
    #[error("TLS: {0}")]
    Tls(#[from] steady_runtime::tls::TlsError),
    #[error("cannot install the SIGTERM handler: {0}")]
    Signal(std::io::Error),
}

impl Error {
    /// Names the option to change when binding an address from `args` failed: the user sees
    /// `--listen` rather than a bare "address in use".
    pub fn naming_the_flag(self) -> Error {
        match self {
            Error::Bind(source) => {
                let env = match source.flag() {
                    "admin-listen" => "STEADY_PROXY_ADMIN_LISTEN",
                    "listen" => "STEADY_PROXY_LISTEN",
                    _ => return Error::Bind(source),
                };
                Error::Listen {
                    flag: source.flag(),
                    env,
                    source,
                }
            }
            other => other,
        }
    }
}

/// Runs the proxy until SIGTERM (or a call to `/drain`) has drained it.
pub async fn run(args: Args) -> Result<ExitCode, Error> {
    let mut signals = steady_runtime::signal::Signals::install().map_err(Error::Signal)?;
    let proxy = Proxy::bind(args.clone()).map_err(Error::naming_the_flag)?;
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
