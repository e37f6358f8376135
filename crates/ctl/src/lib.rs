//! Operator-facing commands: `steady install` / `steady uninstall`, the kubectl plugin
//! (`kubectl steady status`, `kubectl steady why`) and `steady check --cluster`. They translate the
//! cluster into the engine's (or the checker's) plain data and print the answer; the rules
//! themselves live in `steady-budget` and `steady-check`.
#![forbid(unsafe_code)]

pub mod chart;
pub mod check;
pub mod cluster;
pub mod install;
pub mod manifests;
pub mod plan;
pub mod plugin;
pub mod status;
pub mod uninstall;
pub mod why;
