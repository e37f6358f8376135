//! Builds a scenario from Kubernetes manifests.
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0}")]
    Other(String),
}

pub fn scenario_from_manifests(
    _paths: &[PathBuf],
    _nodes: u32,
    _zones: u32,
    _drain: u32,
) -> Result<crate::Scenario, LoadError> {
    Err(LoadError::Other("not yet".into()))
}
