//! Operator-facing commands: `steady install` / `steady uninstall` and the kubectl plugin
//! (`kubectl steady status`, `kubectl steady why`). They translate the cluster into the engine's
//! plain data and print the answer; the rules themselves live in `steady-budget`.
#![forbid(unsafe_code)]

pub mod chart;
pub mod install;
pub mod manifests;
pub mod plan;
pub mod plugin;
pub mod status;
pub mod uninstall;
pub mod why;
