//! `steady check` / `steady fix`: finds the high-availability and zero-downtime mistakes in
//! Kubernetes manifests (or a live cluster) and rewrites the ones with a safe fix.
//!
//! Layout: `steady-manifest` turns files and stdin into [`model::Object`]s (and `steady-ctl` a
//! live cluster, for `--cluster`); [`rules`] are pure functions over all of them; [`report`]
//! prints findings; [`fix`] edits the YAML text at the spans [`yaml`] recorded, leaving every
//! other byte as it was. [`load`], [`model`] and [`yaml`] are `steady-manifest`'s, re-exported:
//! the rules, the fixer and the reports are written against them.
#![forbid(unsafe_code)]

pub mod cli;
pub mod config;
pub mod fix;
pub mod report;
pub mod rules;

pub use steady_manifest::{load, model, yaml};

pub use config::Config;
pub use rules::{Finding, Severity};

/// Loads `text` as one file and runs every rule with `cfg`: the whole checker without I/O.
pub fn check_text(file: &str, text: &str, cfg: &Config) -> (load::Loaded, Vec<Finding>) {
    let loaded = load::load_text(file, text, "default");
    let findings = rules::run(&loaded.objects, cfg);
    (loaded, findings)
}
