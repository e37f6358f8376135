//! Leader election with a Lease (kube-lease-manager): every replica serves the webhook; only the
//! holder writes the controller's status recomputes. The flag this publishes is read before every
//! controller write, so losing the Lease stops writes at once. (Webhook unit-taking does not need
//! the Lease: it is protected by the resourceVersion precondition on every replica.)

use kube::Client;
use kube_lease_manager::{LeaseManagerBuilder, LeaseManagerError};
use tokio::sync::watch;

#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("cannot set up the Lease {namespace}/{name}: {source}")]
    Setup {
        namespace: String,
        name: String,
        source: LeaseManagerError,
    },
}

/// Starts the election; the receiver is true while this replica holds the Lease. The returned
/// handle ends if the election task dies, which the caller treats as fatal.
pub async fn elect(
    client: Client,
    namespace: &str,
    name: &str,
    identity: &str,
) -> Result<(watch::Receiver<bool>, tokio::task::JoinHandle<()>), LeaseError> {
    let manager = LeaseManagerBuilder::new(client, name)
        .with_namespace(namespace)
        .with_identity(identity)
        .with_duration(15)
        .with_grace(5)
        .build()
        .await
        .map_err(|source| LeaseError::Setup {
            namespace: namespace.into(),
            name: name.into(),
            source,
        })?;
    let (rx, handle) = manager.watch().await;
    let (tx, out) = watch::channel(false);
    let mut rx2 = rx.clone();
    let task = tokio::spawn(async move {
        // Forward the lease state; keep `rx` alive so the manager keeps running.
        let _keep = rx;
        let _ = tx.send(*rx2.borrow_and_update());
        loop {
            if rx2.changed().await.is_err() {
                let _ = tx.send(false);
                break;
            }
            let leader = *rx2.borrow_and_update();
            tracing::info!(leader, "lease state changed");
            let _ = tx.send(leader);
        }
        match handle.await {
            Ok(Ok(_)) => tracing::warn!("lease manager stopped"),
            Ok(Err(e)) => tracing::error!(error = %e, "lease manager failed"),
            Err(e) => tracing::error!(error = %e, "lease manager task died"),
        }
    });
    Ok((out, task))
}
