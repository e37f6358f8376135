//! Leader election with a Lease (kube-lease-manager): every replica serves the webhook; only the
//! holder writes the controller's status recomputes. The flag this publishes is read before every
//! controller write, so losing the Lease stops writes at once. (Webhook unit-taking does not need
//! the Lease: it is protected by the resourceVersion precondition on every replica.)

use kube::Client;
use kube_lease_manager::{LeaseManagerBuilder, LeaseManagerError};
use tokio::sync::watch;

/// Why the election could not start, said once: the causes are folded into one line (the kube
/// error under the lease manager's error used to be printed four times, nested).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    #[error(
        "the Lease namespace {namespace:?} does not exist: create it (steady install does), or set --lease-namespace / STEADY_LEASE_NAMESPACE to the namespace steady runs in"
    )]
    NamespaceMissing { namespace: String },
    #[error(
        "the guard may not read or write the Lease {namespace}/{name} ({message}): grant its ServiceAccount get/create/update on leases.coordination.k8s.io in {namespace} (steady install does), or set --lease-namespace / STEADY_LEASE_NAMESPACE"
    )]
    Forbidden {
        namespace: String,
        name: String,
        message: String,
    },
    #[error("cannot set up the Lease {namespace}/{name}: {message}")]
    Setup {
        namespace: String,
        name: String,
        message: String,
    },
}

impl LeaseError {
    /// Classifies the lease manager's error; only the innermost message is kept.
    pub fn from_manager(namespace: &str, name: &str, e: LeaseManagerError) -> Self {
        let (namespace, name) = (namespace.to_owned(), name.to_owned());
        match e {
            LeaseManagerError::KubeError(kube::Error::Api(s)) => {
                let about_namespace = s
                    .details
                    .as_ref()
                    .is_some_and(|d| d.kind == "namespaces" && d.name == namespace);
                if s.is_not_found() && about_namespace {
                    Self::NamespaceMissing { namespace }
                } else if s.is_forbidden() {
                    Self::Forbidden {
                        namespace,
                        name,
                        message: s.message,
                    }
                } else {
                    Self::Setup {
                        namespace,
                        name,
                        message: format!("{} ({})", s.message, s.reason),
                    }
                }
            }
            other => Self::Setup {
                namespace,
                name,
                message: other.to_string(),
            },
        }
    }
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
        .map_err(|e| LeaseError::from_manager(namespace, name, e))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(body: serde_json::Value) -> LeaseManagerError {
        LeaseManagerError::KubeError(kube::Error::Api(
            serde_json::from_value::<kube::core::Status>(body)
                .unwrap()
                .boxed(),
        ))
    }

    /// Issue 12 defect 5: the answer kube-apiserver v1.36 gives to a Lease created in a namespace
    /// that does not exist, said once and in one line, with the flag and the variable to change.
    #[test]
    fn a_missing_namespace_is_said_once_with_the_way_out() {
        let e = api_error(
            serde_json::json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": "namespaces \"steady-system\" not found",
            "reason": "NotFound", "details": {"name": "steady-system", "kind": "namespaces"},
            "code": 404}),
        );
        let err = crate::Error::from(LeaseError::from_manager("steady-system", "steady-guard", e));
        let text = err.to_string();
        assert_eq!(
            text,
            "the Lease namespace \"steady-system\" does not exist: create it (steady install does), or set --lease-namespace / STEADY_LEASE_NAMESPACE to the namespace steady runs in"
        );
        assert!(!text.contains('\n'));
        assert_eq!(
            text.matches("not found").count() + text.matches("ApiError").count(),
            0
        );
        // Nothing under it for `{:#}` (anyhow's chain) to print again.
        assert!(std::error::Error::source(&err).is_none());
    }

    #[test]
    fn other_failures_keep_the_innermost_message_once() {
        let e = api_error(
            serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
            "message": "leases.coordination.k8s.io \"steady-guard\" is forbidden: User \"x\" cannot get resource \"leases\"",
            "reason": "Forbidden", "code": 403}),
        );
        let text = LeaseError::from_manager("steady-system", "steady-guard", e).to_string();
        assert!(
            text.contains("may not read or write the Lease steady-system/steady-guard"),
            "{text}"
        );
        assert_eq!(text.matches("is forbidden").count(), 1, "{text}");
        // A Lease that is missing (not its namespace) is no namespace problem.
        let e = api_error(
            serde_json::json!({"status": "Failure", "message": "leases.coordination.k8s.io \"steady-guard\" not found",
            "reason": "NotFound", "details": {"name": "steady-guard", "group": "coordination.k8s.io", "kind": "leases"}, "code": 404}),
        );
        let err = LeaseError::from_manager("steady-system", "steady-guard", e);
        assert!(matches!(err, LeaseError::Setup { .. }), "{err}");
        assert_eq!(err.to_string().matches("not found").count(), 1, "{err}");
    }
}
