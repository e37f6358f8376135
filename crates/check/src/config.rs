//! `.steady.yaml`: found upward from the working directory; enables or disables rules, changes
//! their severity, and sets thresholds.
//!
//! ```yaml
//! rules:
//!   disable: [priority-class-missing]
//!   enable: []            # when not empty, only these rules run
//!   severity:
//!     requests-missing: error
//! thresholds:
//!   minReplicas: 2                 # replicas-single, hpa-min-replicas-single, budget-missing
//!   shutdownMarginSeconds: 10      # prestop-exceeds-grace: preStop + margin ≤ grace
//!   preStopSleepSeconds: 10        # what `steady fix` writes for prestop-missing
//!   topologyDomains:               # anti-affinity-exceeds-domains
//!     topology.kubernetes.io/zone: 3
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::rules::Severity;

pub const FILE_NAME: &str = ".steady.yaml";

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub rules: RuleConfig,
    #[serde(default)]
    pub thresholds: Thresholds,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    #[serde(default)]
    pub enable: Vec<String>,
    #[serde(default)]
    pub disable: Vec<String>,
    #[serde(default)]
    pub severity: BTreeMap<String, Severity>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Thresholds {
    pub min_replicas: i32,
    pub shutdown_margin_seconds: i64,
    pub pre_stop_sleep_seconds: i64,
    pub topology_domains: BTreeMap<String, i32>,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            min_replicas: 2,
            shutdown_margin_seconds: 10,
            pre_stop_sleep_seconds: 10,
            topology_domains: [("topology.kubernetes.io/zone".to_owned(), 3)].into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid steady config: {source}")]
    Parse {
        path: PathBuf,
        source: steady_manifest::codec::YamlError,
    },
    #[error("{path}: unknown rule id {id:?} (see `steady rules`)")]
    UnknownRule { path: PathBuf, id: String },
}

impl Config {
    /// The first `.steady.yaml` in `start` or one of its parents.
    pub fn find(start: &Path) -> Option<PathBuf> {
        start
            .ancestors()
            .map(|d| d.join(FILE_NAME))
            .find(|p| p.is_file())
    }

    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let cfg: Config = if text.trim().is_empty() {
            Config::default()
        } else {
            steady_manifest::codec::from_str(&text).map_err(|source| ConfigError::Parse {
                path: path.to_owned(),
                source,
            })?
        };
        for id in cfg
            .rules
            .enable
            .iter()
            .chain(&cfg.rules.disable)
            .chain(cfg.rules.severity.keys())
        {
            if crate::rules::find(id).is_none() {
                return Err(ConfigError::UnknownRule {
                    path: path.to_owned(),
                    id: id.clone(),
                });
            }
        }
        Ok(cfg)
    }

    pub fn is_enabled(&self, id: &str) -> bool {
        (self.rules.enable.is_empty() || self.rules.enable.iter().any(|e| e == id))
            && !self.rules.disable.iter().any(|d| d == id)
    }

    pub fn severity(&self, id: &str, default: Severity) -> Severity {
        self.rules.severity.get(id).copied().unwrap_or(default)
    }
}
