//! `kubectl steady status`: every budget in a namespace (or all of them) with the counts that say
//! how close each application is to its limit. PodUnavailableBudgets come first; native
//! PodDisruptionBudgets follow in their own section, because they also decide evictions and a
//! platform team asking "what protects this cluster?" needs both. The numbers are the budgets'
//! own status, written by steady's controller and Kubernetes' disruption controller: this command
//! computes nothing.

use std::io::Write;

use jiff::Timestamp;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, ListParams};
use serde::Serialize;
use steady_api::PodUnavailableBudget;

use crate::plugin::{KubeArgs, PluginError};

#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub kube: KubeArgs,

    /// List budgets in every namespace.
    #[arg(short = 'A', long, conflicts_with = "namespace")]
    pub all_namespaces: bool,

    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Table)]
    pub output: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Yaml,
}

/// Where to list budgets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Namespace(String),
    All,
}

/// One budget as the table shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BudgetRow {
    pub namespace: String,
    pub name: String,
    /// Disruptions allowed now (`unavailableAllowed`, or a PDB's `disruptionsAllowed`).
    pub allowed: i32,
    /// Pods available now.
    pub current: i32,
    /// Pods that must stay available.
    pub desired: i32,
    /// Expected pods.
    pub total: i32,
    /// Pods in `disruptedPods`: allowed a deletion or eviction, not gone yet.
    pub disrupting: Vec<String>,
    /// The `DisruptionAllowed` condition's reason; `None` when no status was written yet.
    pub reason: Option<String>,
    pub message: Option<String>,
    pub created: Option<Timestamp>,
}

/// What `status` found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    pub pod_unavailable_budgets: Vec<BudgetRow>,
    pub pod_disruption_budgets: Vec<BudgetRow>,
    /// The PodUnavailableBudget CRD is not installed on the cluster.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub crd_missing: bool,
}

/// Lists the budgets in `scope`, sorted by namespace and name.
pub async fn status(client: &kube::Client, scope: &Scope) -> Result<StatusReport, PluginError> {
    let (pubs, pdbs): (Api<PodUnavailableBudget>, Api<PodDisruptionBudget>) = match scope {
        Scope::All => (Api::all(client.clone()), Api::all(client.clone())),
        Scope::Namespace(ns) => (
            Api::namespaced(client.clone(), ns),
            Api::namespaced(client.clone(), ns),
        ),
    };
    let mut report = StatusReport::default();
    match pubs.list(&ListParams::default()).await {
        Ok(list) => {
            report.pod_unavailable_budgets = list.items.iter().map(pub_row).collect();
        }
        Err(kube::Error::Api(s)) if s.code == 404 => report.crd_missing = true,
        Err(e) => return Err(PluginError::api("list PodUnavailableBudgets")(e)),
    }
    let list = pdbs
        .list(&ListParams::default())
        .await
        .map_err(PluginError::api("list PodDisruptionBudgets"))?;
    report.pod_disruption_budgets = list.items.iter().map(pdb_row).collect();
    for rows in [
        &mut report.pod_unavailable_budgets,
        &mut report.pod_disruption_budgets,
    ] {
        rows.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    }
    Ok(report)
}

fn pub_row(b: &PodUnavailableBudget) -> BudgetRow {
    let status = b.status.clone().unwrap_or_default();
    let condition = status.condition();
    BudgetRow {
        namespace: b.metadata.namespace.clone().unwrap_or_default(),
        name: b.metadata.name.clone().unwrap_or_default(),
        allowed: status.unavailable_allowed,
        current: status.current_available,
        desired: status.desired_available,
        total: status.total_replicas,
        disrupting: status.disrupted_pods.keys().cloned().collect(),
        reason: condition.map(|c| c.reason.clone()),
        message: condition
            .map(|c| c.message.clone())
            .filter(|m| !m.is_empty()),
        created: b.metadata.creation_timestamp.as_ref().map(|t| t.0),
    }
}

fn pdb_row(b: &PodDisruptionBudget) -> BudgetRow {
    let status = b.status.clone().unwrap_or_default();
    let condition = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "DisruptionAllowed");
    BudgetRow {
        namespace: b.metadata.namespace.clone().unwrap_or_default(),
        name: b.metadata.name.clone().unwrap_or_default(),
        allowed: status.disruptions_allowed,
        current: status.current_healthy,
        desired: status.desired_healthy,
        total: status.expected_pods,
        disrupting: status
            .disrupted_pods
            .iter()
            .flatten()
            .map(|(k, _)| k.clone())
            .collect(),
        reason: condition.map(|c| c.reason.clone()),
        message: condition
            .map(|c| c.message.clone())
            .filter(|m| !m.is_empty()),
        created: b.metadata.creation_timestamp.as_ref().map(|t| t.0),
    }
}

/// `kubectl steady status`.
pub async fn run(
    args: &StatusArgs,
    out: &mut impl Write,
) -> Result<std::process::ExitCode, PluginError> {
    let (client, namespace) = args.kube.connect().await?;
    let scope = if args.all_namespaces {
        Scope::All
    } else {
        Scope::Namespace(namespace)
    };
    let report = status(&client, &scope).await?;
    match args.output {
        Format::Table => out.write_all(render(&report, &scope, Timestamp::now()).as_bytes())?,
        Format::Json => {
            let s = serde_json::to_string_pretty(&report)
                .map_err(|e| PluginError::Encode(e.to_string()))?;
            writeln!(out, "{s}")?;
        }
        Format::Yaml => out.write_all(
            steady_api::yaml::to_string(&report)
                .map_err(|e| PluginError::Encode(e.to_string()))?
                .as_bytes(),
        )?,
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// The human-readable answer: one aligned table per kind of budget, or a sentence saying there is
/// nothing and how to start.
pub fn render(report: &StatusReport, scope: &Scope, now: Timestamp) -> String {
    let mut out = String::new();
    if report.crd_missing {
        out.push_str(
            "PodUnavailableBudgets: the CRD is not installed on this cluster; run `steady install` \
             (see docs/install.md).\n",
        );
    }
    let all = *scope == Scope::All;
    let sections = [
        ("PodUnavailableBudgets", &report.pod_unavailable_budgets),
        ("PodDisruptionBudgets", &report.pod_disruption_budgets),
    ];
    let mut printed = false;
    for (title, rows) in sections {
        if rows.is_empty() {
            continue;
        }
        if printed {
            out.push('\n');
        }
        printed = true;
        out.push_str(title);
        out.push('\n');
        out.push_str(&table(rows, all, now));
    }
    if !printed {
        let (place, ns) = match scope {
            Scope::All => ("in any namespace".to_owned(), None),
            Scope::Namespace(ns) => (format!("in namespace {ns}"), Some(ns.as_str())),
        };
        out.push_str(&format!(
            "No PodUnavailableBudgets or PodDisruptionBudgets {place}.\n\
             Nothing limits how many pods may be deleted, evicted or updated at once. To protect a \
             Deployment, create a budget:\n\n{}\n\n\
             Walk-through: docs/first-budget.md\n",
            example(ns)
        ));
    }
    out
}

/// A budget for a Deployment named `web`, as a command to paste.
fn example(namespace: Option<&str>) -> String {
    let ns = namespace.map(|n| format!(" -n {n}")).unwrap_or_default();
    [
        format!("  kubectl apply{ns} -f - <<EOF"),
        "  apiVersion: policy.steady.dev/v1alpha1".into(),
        "  kind: PodUnavailableBudget".into(),
        "  metadata:".into(),
        "    name: web".into(),
        "  spec:".into(),
        "    targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}".into(),
        "    maxUnavailable: 1".into(),
        "  EOF".into(),
    ]
    .join("\n")
}

fn table(rows: &[BudgetRow], all_namespaces: bool, now: Timestamp) -> String {
    let mut header = vec![
        "NAME",
        "ALLOWED",
        "CURRENT",
        "DESIRED",
        "TOTAL",
        "DISRUPTING",
        "AGE",
        "REASON",
    ];
    if all_namespaces {
        header.insert(0, "NAMESPACE");
    }
    let mut cells: Vec<Vec<String>> = vec![header.iter().map(|h| (*h).to_owned()).collect()];
    for r in rows {
        let mut line = vec![
            r.name.clone(),
            r.allowed.to_string(),
            r.current.to_string(),
            r.desired.to_string(),
            r.total.to_string(),
            r.disrupting.len().to_string(),
            r.created
                .map(|c| human_age(now.duration_since(c).as_secs()))
                .unwrap_or_else(|| "<unknown>".into()),
            match r.reason.as_deref() {
                // The normal state says nothing worth a column.
                Some("SufficientPods") => String::new(),
                Some(other) => other.to_owned(),
                None => "NoStatusYet".to_owned(),
            },
        ];
        if all_namespaces {
            line.insert(0, r.namespace.clone());
        }
        cells.push(line);
    }
    align(&cells)
}

/// Columns padded to their widest cell and separated by three spaces, as kubectl prints them.
fn align(cells: &[Vec<String>]) -> String {
    let columns = cells.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in cells {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                let pad = widths[i] - cell.chars().count() + 3;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// kubectl's age format (`HumanDuration` in k8s.io/apimachinery): more precision for young
/// objects, less for old ones.
pub fn human_age(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    let s = seconds.max(0);
    if s < 120 {
        return format!("{s}s");
    }
    let minutes = s / 60;
    if minutes < 10 {
        return match s % 60 {
            0 => format!("{minutes}m"),
            rest => format!("{minutes}m{rest}s"),
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        return match minutes % 60 {
            0 => format!("{hours}h"),
            rest => format!("{hours}h{rest}m"),
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        return match hours % 24 {
            0 => format!("{}d", hours / 24),
            rest => format!("{}d{rest}h", hours / 24),
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    let years = hours / 24 / 365;
    if hours < 24 * 365 * 8 {
        return match (hours / 24) % 365 {
            0 => format!("{years}y"),
            rest => format!("{years}y{rest}d"),
        };
    }
    format!("{years}y")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(ns: &str, name: &str, allowed: i32, reason: Option<&str>) -> BudgetRow {
        BudgetRow {
            namespace: ns.into(),
            name: name.into(),
            allowed,
            current: 3,
            desired: 2,
            total: 3,
            disrupting: vec!["web-1".into()],
            reason: reason.map(str::to_owned),
            message: None,
            created: Some(Timestamp::from_second(1_000).unwrap()),
        }
    }

    #[test]
    fn ages_read_like_kubectl() {
        for (secs, want) in [
            (0, "0s"),
            (119, "119s"),
            (120, "2m"),
            (125, "2m5s"),
            (600, "10m"),
            (179 * 60, "179m"),
            (3 * 3600 + 20 * 60, "3h20m"),
            (47 * 3600, "47h"),
            (3 * 86400 + 4 * 3600, "3d4h"),
            (30 * 86400, "30d"),
            (3 * 365 * 86400 + 86400, "3y1d"),
            (9 * 365 * 86400, "9y"),
        ] {
            assert_eq!(human_age(secs), want, "{secs} s");
        }
    }

    #[test]
    fn table_is_aligned_and_shows_only_unusual_reasons() {
        let report = StatusReport {
            pod_unavailable_budgets: vec![
                row("shop", "web", 1, Some("SufficientPods")),
                row("shop", "checkout-frontend", 0, Some("InsufficientPods")),
            ],
            pod_disruption_budgets: vec![],
            crd_missing: false,
        };
        let now = Timestamp::from_second(1_000 + 3 * 3600).unwrap();
        let text = render(&report, &Scope::Namespace("shop".into()), now);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "PodUnavailableBudgets");
        assert_eq!(
            lines[1],
            "NAME                ALLOWED   CURRENT   DESIRED   TOTAL   DISRUPTING   AGE   REASON"
        );
        assert_eq!(
            lines[2],
            "web                 1         3         2         3       1            3h"
        );
        assert_eq!(
            lines[3],
            "checkout-frontend   0         3         2         3       1            3h    InsufficientPods"
        );
        assert_eq!(lines.len(), 4, "{text}");
    }

    #[test]
    fn all_namespaces_adds_the_namespace_column_and_a_pdb_section() {
        let report = StatusReport {
            pod_unavailable_budgets: vec![row("a", "x", 1, None)],
            pod_disruption_budgets: vec![row("b", "y", 0, Some("InsufficientPods"))],
            crd_missing: false,
        };
        let text = render(&report, &Scope::All, Timestamp::from_second(1_005).unwrap());
        assert!(
            text.starts_with("PodUnavailableBudgets\nNAMESPACE   NAME"),
            "{text}"
        );
        assert!(text.contains("a           x      1 "), "{text}");
        assert!(text.contains("NoStatusYet"), "{text}");
        assert!(
            text.contains("\n\nPodDisruptionBudgets\nNAMESPACE"),
            "{text}"
        );
        assert!(text.contains("InsufficientPods"), "{text}");
    }

    #[test]
    fn nothing_found_says_how_to_create_a_budget() {
        let text = render(
            &StatusReport::default(),
            &Scope::Namespace("shop".into()),
            Timestamp::now(),
        );
        assert!(
            text.starts_with("No PodUnavailableBudgets or PodDisruptionBudgets in namespace shop."),
            "{text}"
        );
        assert!(
            text.contains(
                "\n\n  kubectl apply -n shop -f - <<EOF\n  apiVersion: policy.steady.dev/v1alpha1\n"
            ),
            "{text}"
        );
        assert!(text.contains("\n  EOF\n\nWalk-through"), "{text}");
        let missing = StatusReport {
            crd_missing: true,
            ..Default::default()
        };
        let text = render(&missing, &Scope::All, Timestamp::now());
        assert!(text.contains("the CRD is not installed"), "{text}");
        assert!(text.contains("steady install"), "{text}");
    }
}
