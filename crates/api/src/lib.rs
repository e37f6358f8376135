//! The `PodUnavailableBudget` custom resource (`policy.steady.dev/v1alpha1`, short name `pub`) and
//! its CustomResourceDefinition. The API server itself enforces the spec's exactly-one-of and value
//! rules through the CEL rules in the schema; [`PodUnavailableBudgetSpec::to_budget_spec`] turns a
//! spec into the engine's plain [`steady_budget::BudgetSpec`].
#![forbid(unsafe_code)]

mod crd;
mod types;
/// The YAML reader and writer every steady command shares (it lives in steady-manifest).
pub use steady_manifest::codec as yaml;

pub use crd::{CrdError, crd, crd_yaml};
pub use types::{
    PodUnavailableBudget, PodUnavailableBudgetSpec, ProtectOperation, SpecError, TargetReference,
    UnhealthyPodPolicy,
};

/// The API group of steady's resources.
pub const GROUP: &str = "policy.steady.dev";
/// The one served version.
pub const VERSION: &str = "v1alpha1";

#[cfg(test)]
mod tests;
