//! Budget status reads and writes against the API server. Every write carries the
//! `resourceVersion` the decision was made on, so the API server refuses it (409) when anyone —
//! another webhook replica, the controller, the eviction handler — wrote in between. That
//! precondition, not a lock in this process, is what keeps concurrent requests from over-admitting.

use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};
use steady_api::PodUnavailableBudget;
use steady_budget::{BudgetId, BudgetKind, BudgetStatus};

use crate::index::{BudgetEntry, RawBudget, entry_from_pdb, entry_from_pub};

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The budget changed since it was read (HTTP 409).
    #[error("the budget changed since it was read")]
    Conflict,
    #[error("the budget no longer exists")]
    NotFound,
    #[error("the API server refused or failed the request: {0}")]
    Api(#[source] kube::Error),
    #[error("the stored budget does not match its kind")]
    Mismatch,
}

impl WriteError {
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Conflict => "conflict",
            Self::NotFound => "not_found",
            Self::Api(_) => "api",
            Self::Mismatch => "mismatch",
        }
    }

    /// Why, in the API server's words (`Forbidden`, `Invalid`, `InternalError`, …; `Unreachable`
    /// when no answer came): the `reason` label of the failure metric and of the Warning Event. A
    /// bounded set, as metric labels must be.
    pub fn reason(&self) -> &str {
        match self {
            Self::Conflict => "Conflict",
            Self::NotFound => "NotFound",
            Self::Mismatch => "Mismatch",
            Self::Api(kube::Error::Api(s)) if !s.reason.is_empty() => &s.reason,
            Self::Api(kube::Error::Api(_)) => "Unknown",
            Self::Api(_) => "Unreachable",
        }
    }

    /// What went wrong in one line for people (a Warning Event): the API server's own message
    /// when it answered, not the debug dump of its Status object that `Display` carries.
    pub fn detail(&self) -> String {
        match self {
            Self::Api(kube::Error::Api(s)) if !s.message.is_empty() => s.message.clone(),
            other => other.to_string(),
        }
    }

    fn from_kube(e: kube::Error) -> Self {
        match &e {
            kube::Error::Api(s) if s.is_conflict() => Self::Conflict,
            kube::Error::Api(s) if s.is_not_found() => Self::NotFound,
            _ => Self::Api(e),
        }
    }
}

#[derive(Clone)]
pub struct Writer {
    client: Client,
}

impl Writer {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Reads the budget as the API server has it now.
    pub async fn read(&self, id: &BudgetId) -> Result<BudgetEntry, WriteError> {
        match id.kind {
            BudgetKind::PodUnavailableBudget => {
                let api: Api<PodUnavailableBudget> =
                    Api::namespaced(self.client.clone(), &id.namespace);
                api.get(&id.name)
                    .await
                    .map(|b| entry_from_pub(&b))
                    .map_err(WriteError::from_kube)
            }
            BudgetKind::PodDisruptionBudget => {
                let api: Api<PodDisruptionBudget> =
                    Api::namespaced(self.client.clone(), &id.namespace);
                api.get(&id.name)
                    .await
                    .map(|b| entry_from_pdb(&b))
                    .map_err(WriteError::from_kube)
            }
        }
    }

    /// Writes `status` on the budget, on condition that it is still at `entry.resource_version`.
    /// Returns the budget as stored after the write.
    pub async fn write(
        &self,
        entry: &BudgetEntry,
        status: &BudgetStatus,
    ) -> Result<BudgetEntry, WriteError> {
        let metadata = ObjectMeta {
            name: Some(entry.id.name.clone()),
            namespace: Some(entry.id.namespace.clone()),
            resource_version: Some(entry.resource_version.clone()),
            uid: entry.uid.clone(),
            generation: Some(entry.generation),
            ..Default::default()
        };
        let pp = PostParams {
            dry_run: false,
            field_manager: Some("steady-guard".into()),
        };
        match (&entry.raw, entry.id.kind) {
            (RawBudget::Pub(spec), BudgetKind::PodUnavailableBudget) => {
                let api: Api<PodUnavailableBudget> =
                    Api::namespaced(self.client.clone(), &entry.id.namespace);
                let obj = PodUnavailableBudget {
                    metadata,
                    spec: spec.clone(),
                    status: Some(status.clone()),
                };
                api.replace_status(&entry.id.name, &pp, &obj)
                    .await
                    .map(|b| entry_from_pub(&b))
                    .map_err(WriteError::from_kube)
            }
            (RawBudget::Pdb(spec), BudgetKind::PodDisruptionBudget) => {
                let api: Api<PodDisruptionBudget> =
                    Api::namespaced(self.client.clone(), &entry.id.namespace);
                let obj = PodDisruptionBudget {
                    metadata,
                    spec: Some(spec.clone()),
                    status: Some(crate::index::status_to_pdb(status)),
                };
                api.replace_status(&entry.id.name, &pp, &obj)
                    .await
                    .map(|b| entry_from_pdb(&b))
                    .map_err(WriteError::from_kube)
            }
            _ => Err(WriteError::Mismatch),
        }
    }
}
