//! `--cluster`: placeholder.
use crate::model::Object;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ClusterError(String);

pub fn load(
    _ns: Option<&str>,
    _all: bool,
    _progress: &dyn Fn(usize),
) -> Result<Vec<Object>, ClusterError> {
    Err(ClusterError("--cluster is not built yet".into()))
}
