//! `steady serve`: the budget guard. A validating admission webhook that refuses pod deletions,
//! evictions, disruptive updates and resizes that would take an application below its
//! PodUnavailableBudget, and the controller that keeps every budget's status.
//!
//! Layout by responsibility: [`index`] (the in-memory view of the cluster), [`admission`] (review →
//! engine → response), [`writer`] (status writes with optimistic concurrency), [`controller`]
//! (status recompute), [`watches`] (the only place that opens watches), [`lease`], [`server`] (TLS
//! and certificate reload), [`admin`], [`metrics`], [`events`]. Budget rules live in steady-budget.
#![forbid(unsafe_code)]

pub mod admin;
pub mod admission;
pub mod args;
pub mod events;
pub mod index;
pub mod metrics;
pub mod server;
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

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("steady serve is not built yet")]
    NotBuilt,
}

impl Error {
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::NotBuilt => "not_built",
        }
    }
}

pub async fn run(_args: Args) -> Result<std::process::ExitCode, Error> {
    Err(Error::NotBuilt)
}
