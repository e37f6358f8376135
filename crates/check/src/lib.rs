//! `steady check` / `steady fix`: finds the high-availability and zero-downtime mistakes in
//! Kubernetes manifests (or a live cluster) and rewrites the ones with a safe fix.
//!
//! Layout: [`load`] and [`cluster`] turn files, stdin or a cluster into [`model::Object`]s;
//! [`rules`] are pure functions over all of them; [`report`] prints findings; [`fix`] edits the
//! YAML text at the spans [`yaml`] recorded, leaving every other byte as it was.
#![forbid(unsafe_code)]

pub mod cli;
pub mod cluster;
pub mod config;
pub mod fix;
pub mod load;
pub mod model;
pub mod report;
pub mod rules;
pub mod yaml;

pub use config::Config;
pub use rules::{Finding, Severity};

/// Loads `text` as one file and runs every rule with `cfg`: the whole checker without I/O.
pub fn check_text(file: &str, text: &str, cfg: &Config) -> (load::Loaded, Vec<Finding>) {
    let loaded = load::load_text(file, text, "default");
    let findings = rules::run(&loaded.objects, cfg);
    (loaded, findings)
}
