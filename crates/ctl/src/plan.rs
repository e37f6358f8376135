//! `kubectl steady plan drain|rollout|scale`: reads the cluster's nodes, pods, workloads, HPAs,
//! budgets, PersistentVolumeClaims and PersistentVolumes (or a saved state with `--from-state`),
//! hands them to steady-sim's planner, and prints what the operation would do: time per node,
//! refusals, lowest availability, blockers.
//! Exit code 0 when it completes within `--timeout` with no workload at 0 available, 1 when it
//! would block or cause an outage, 2 on error. This module is the I/O; the plan is pure.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, ListParams};
use steady_api::PodUnavailableBudget;
use steady_sim::plan::{ClusterState, Operation, Target};
use steady_sim::scenario::Dur;

use crate::plugin::{KubeArgs, PluginError};

#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {
    #[command(subcommand)]
    pub op: PlanOp,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum PlanOp {
    /// Predict `kubectl drain NODE…`: evictions, refusals, time per node, blockers.
    Drain {
        #[arg(required = true, value_name = "NODE")]
        nodes: Vec<String>,
        /// Nodes drained at the same time.
        #[arg(long, default_value_t = 1, value_name = "M", allow_hyphen_values = true, value_parser = count)]
        parallel: u32,
        #[command(flatten)]
        common: Common,
    },
    /// Predict a rollout (a new pod template) of each workload: deployment/NAME or statefulset/NAME.
    Rollout {
        #[arg(required = true, value_name = "KIND/NAME")]
        targets: Vec<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Predict scaling a workload to N replicas.
    Scale {
        #[arg(value_name = "KIND/NAME")]
        target: String,
        #[arg(long, value_name = "N", allow_hyphen_values = true, value_parser = count)]
        replicas: u32,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
}

// Negative values are taken as values (`allow_hyphen_values`) so that `--timeout -5s` gets the
// duration's own message rather than clap's "unexpected argument '-5s'".
fn duration(s: &str) -> Result<Dur, String> {
    Dur::parse(s)
}

fn count(s: &str) -> Result<u32, String> {
    match s.trim().parse::<i64>() {
        Ok(n) if n < 0 => Err(format!("{n} is negative: write a count of 0 or more")),
        Ok(n) => u32::try_from(n).map_err(|_| format!("{n} is too large: at most {}", u32::MAX)),
        Err(_) => Err(format!("{s:?} is not a whole number")),
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    #[command(flatten)]
    pub kube: KubeArgs,
    /// Give up after this long, as `kubectl drain --timeout` (e.g. 10m, 1h30m) [default: 30m].
    #[arg(long, value_name = "D", value_parser = duration, allow_hyphen_values = true)]
    pub timeout: Option<Dur>,
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Human)]
    pub output: Format,
    /// Write a self-contained HTML report to FILE.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Draw available pods per workload over time to FILE.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Plan on a saved state instead of the cluster: a `steady plan -o json` output or
    /// `kubectl get nodes,pods,deploy,sts,rs,hpa,pdb,podunavailablebudgets,pvc,pv -A -o json`.
    #[arg(long, value_name = "FILE")]
    pub from_state: Option<PathBuf>,
}

impl PlanOp {
    fn common(&self) -> &Common {
        match self {
            Self::Drain { common, .. }
            | Self::Rollout { common, .. }
            | Self::Scale { common, .. } => common,
        }
    }
}

/// Reads everything a plan needs from the API server, in every namespace. PodUnavailableBudgets
/// are skipped when their CRD is not installed.
pub async fn read_state(client: &kube::Client) -> Result<ClusterState, PluginError> {
    async fn all<K>(client: &kube::Client, what: &str) -> Result<Vec<K>, PluginError>
    where
        K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        let api: Api<K> = Api::all(client.clone());
        Ok(api
            .list(&ListParams::default())
            .await
            .map_err(PluginError::api(format!("list {what}")))?
            .items)
    }
    let pubs: Api<PodUnavailableBudget> = Api::all(client.clone());
    let pod_unavailable_budgets = match pubs.list(&ListParams::default()).await {
        Ok(list) => list
            .items
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| PluginError::Encode(e.to_string()))?,
        Err(kube::Error::Api(s)) if s.code == 404 => Vec::new(),
        Err(e) => return Err(PluginError::api("list PodUnavailableBudgets")(e)),
    };
    Ok(ClusterState {
        nodes: all::<Node>(client, "nodes").await?,
        pods: all::<Pod>(client, "pods").await?,
        deployments: all::<Deployment>(client, "Deployments").await?,
        stateful_sets: all::<StatefulSet>(client, "StatefulSets").await?,
        replica_sets: all::<ReplicaSet>(client, "ReplicaSets").await?,
        horizontal_pod_autoscalers: all::<HorizontalPodAutoscaler>(
            client,
            "HorizontalPodAutoscalers",
        )
        .await?,
        pod_disruption_budgets: all::<PodDisruptionBudget>(client, "PodDisruptionBudgets").await?,
        pod_unavailable_budgets,
        persistent_volume_claims: all::<PersistentVolumeClaim>(client, "PersistentVolumeClaims")
            .await?,
        persistent_volumes: all::<PersistentVolume>(client, "PersistentVolumes").await?,
    })
}

/// Why a plan could not be made: bad input (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum PlanCmdError {
    #[error(transparent)]
    Plugin(#[from] PluginError),
    #[error(transparent)]
    State(#[from] steady_sim::plan::StateError),
    #[error(transparent)]
    Plan(#[from] steady_sim::plan::PlanError),
    #[error("cannot write {path}: {message}")]
    Write { path: String, message: String },
}

/// Runs `plan`: prints the report and returns 0 (completes, no outage) or 1; errors are printed
/// here with exit code 2, since the binary would turn them into 1, which means "it would fail".
pub async fn run(args: &PlanArgs, out: &mut impl Write) -> Result<ExitCode, PluginError> {
    match try_run(args, out).await {
        Ok(code) => Ok(code),
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(2))
        }
    }
}

async fn try_run(args: &PlanArgs, out: &mut impl Write) -> Result<ExitCode, PlanCmdError> {
    let common = args.op.common();
    let (state, namespace) = match &common.from_state {
        Some(path) => {
            let shown = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|source| {
                steady_sim::plan::StateError::Read {
                    path: shown.clone(),
                    source,
                }
            })?;
            let ns = common
                .kube
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into());
            (ClusterState::parse(&shown, &text)?, ns)
        }
        None => {
            let (client, ns) = common.kube.connect().await?;
            (read_state(&client).await?, ns)
        }
    };
    let op = match &args.op {
        PlanOp::Drain {
            nodes, parallel, ..
        } => Operation::Drain {
            nodes: nodes.clone(),
            parallel: *parallel,
        },
        PlanOp::Rollout { targets, .. } => Operation::Rollout {
            targets: targets
                .iter()
                .map(|t| Target::parse(t, &namespace))
                .collect::<Result<_, _>>()?,
        },
        PlanOp::Scale {
            target, replicas, ..
        } => Operation::Scale {
            target: Target::parse(target, &namespace)?,
            replicas: *replicas,
        },
    };
    let plan = steady_sim::plan::plan(&state, &op, common.timeout)?;
    let write_err = |path: &PathBuf, message: String| PlanCmdError::Write {
        path: path.display().to_string(),
        message,
    };
    if let Some(file) = &common.svg {
        steady_sim::plot::write_svg(file, &plan.built.scenario.name, &plan.sim, &plan.run, None)
            .map_err(|m| write_err(file, m))?;
    }
    if let Some(file) = &common.html {
        let findings: Vec<String> = plan
            .report
            .blockers
            .iter()
            .map(|b| format!("{} — fix: {}", b.reason, b.fix))
            .collect();
        let page = steady_sim::html::report(
            &plan.built.scenario,
            1,
            &plan.sim,
            &plan.run,
            None,
            &findings,
        );
        std::fs::write(file, page).map_err(|e| write_err(file, e.to_string()))?;
    }
    let text = match common.output {
        Format::Json => {
            let v = serde_json::json!({ "plan": plan.report, "state": state });
            let mut s =
                serde_json::to_string_pretty(&v).map_err(|e| PluginError::Encode(e.to_string()))?;
            s.push('\n');
            s
        }
        Format::Human => {
            let mut s = steady_sim::plan::report::human(&plan.report);
            for (flag, file) in [("chart", &common.svg), ("report", &common.html)] {
                if let Some(f) = file {
                    s.push_str(&format!("{flag} written to {}\n", f.display()));
                }
            }
            s
        }
    };
    out.write_all(text.as_bytes())
        .map_err(PluginError::Output)?;
    Ok(if plan.report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
