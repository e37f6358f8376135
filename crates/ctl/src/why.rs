//! `kubectl steady why POD`: which budgets guard a pod, and whether evicting it right now would be
//! allowed. Matching uses steady-budget's selector and owner-chain rules (the same code the guard
//! runs); the verdict comes from the API server itself through a server-side dry-run eviction, so it
//! includes everything that would decide a real eviction: native PDBs, steady's webhook, and any
//! other admission webhook.

use std::io::Write;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, DynamicObject, EvictParams, ListParams, PostParams};
use kube::core::GroupVersionKind;
use serde::Serialize;
use steady_api::PodUnavailableBudget;
use steady_budget::{
    BudgetKind, BudgetSpec, Operation, OperationSet, OwnerInfo, OwnerLookup, OwnerRef, PodFacts,
    PodPhase, Selector, resolve,
};

use crate::plugin::{KubeArgs, PluginError};
use crate::status::Format;

#[derive(Debug, Clone, clap::Args)]
pub struct WhyArgs {
    #[command(flatten)]
    pub kube: KubeArgs,

    /// The pod's name.
    pub pod: String,

    /// Output format (`table` prints sentences).
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Table)]
    pub output: Format,
}

/// Everything `why` found out about one pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WhyReport {
    pub namespace: String,
    pub pod: String,
    pub phase: String,
    pub ready: bool,
    pub terminating: bool,
    /// The pod's controllers, nearest first (`ReplicaSet web-7c9f`, `Deployment web`).
    pub owners: Vec<String>,
    pub budgets: Vec<GuardingBudget>,
    /// Budgets that name the pod but do not guard it, and things that could not be read.
    pub notes: Vec<String>,
    /// Whether steady's webhook is asked about pods in this namespace at all: a
    /// PodUnavailableBudget nobody enforces protects nothing.
    pub guard_webhook: GuardCoverage,
    pub eviction: Eviction,
}

/// steady's webhook (`pods.guard.steady.dev`) and the pod's namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum GuardCoverage {
    /// Webhook configurations whose namespaceSelector sends this namespace's pods to the guard, and
    /// those that leave it out. Both empty: no guard is registered.
    Checked {
        covering: Vec<String>,
        excluding: Vec<String>,
    },
    /// Could not be read (usually no permission to list ValidatingWebhookConfigurations).
    Unknown { reason: String },
}

/// The name steady gives its pod webhook in every install (`steady install`, Helm, deploy/).
pub const GUARD_WEBHOOK: &str = "pods.guard.steady.dev";

/// Evaluates the namespaceSelector of every steady pod webhook against the namespace's labels, with
/// steady-budget's selector rules.
async fn guard_coverage(client: &kube::Client, namespace: &str) -> GuardCoverage {
    use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
    use k8s_openapi::api::core::v1::Namespace;
    let labels = match Api::<Namespace>::all(client.clone()).get(namespace).await {
        Ok(ns) => ns.metadata.labels.unwrap_or_default(),
        Err(e) => {
            return GuardCoverage::Unknown {
                reason: format!("cannot read namespace {namespace}: {e}"),
            };
        }
    };
    let configs = match Api::<ValidatingWebhookConfiguration>::all(client.clone())
        .list(&ListParams::default())
        .await
    {
        Ok(list) => list.items,
        Err(e) => {
            return GuardCoverage::Unknown {
                reason: format!("cannot list ValidatingWebhookConfigurations: {e}"),
            };
        }
    };
    let (mut covering, mut excluding) = (Vec::new(), Vec::new());
    for c in &configs {
        let name = c.metadata.name.clone().unwrap_or_default();
        for w in c
            .webhooks
            .iter()
            .flatten()
            .filter(|w| w.name == GUARD_WEBHOOK)
        {
            // No namespaceSelector selects every namespace, as in the API server.
            let covers = match &w.namespace_selector {
                None => true,
                Some(sel) => Selector::from_k8s(sel).is_ok_and(|s| s.matches(&labels)),
            };
            if covers {
                covering.push(name.clone());
            } else {
                excluding.push(name.clone());
            }
        }
    }
    GuardCoverage::Checked {
        covering,
        excluding,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GuardingBudget {
    /// `PodUnavailableBudget` or `PodDisruptionBudget`.
    pub kind: String,
    pub name: String,
    /// `minAvailable 2`, `maxUnavailable 25%`.
    pub policy: String,
    pub allowed: i32,
    pub current: i32,
    pub desired: i32,
    pub total: i32,
    pub disrupting: usize,
    /// The `DisruptionAllowed` reason, if a status was written.
    pub reason: Option<String>,
    /// Operations this budget is consulted for.
    pub protects: Vec<String>,
    /// Who enforces it.
    pub enforced_by: String,
    /// The pod is already recorded in the budget's `disruptedPods` / `unavailablePods`.
    pub holds_pod: bool,
}

/// The API server's answer to a dry-run eviction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "camelCase")]
pub enum Eviction {
    Allowed,
    /// Refused with 429 Too Many Requests: a budget has no unit to give.
    Refused {
        code: u16,
        message: String,
    },
    /// Any other failure (no permission, webhook unreachable …).
    Failed {
        code: u16,
        message: String,
    },
}

/// Answers `why` for one pod.
pub async fn why(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<WhyReport, PluginError> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let pod = pods
        .get_opt(name)
        .await
        .map_err(PluginError::api(format!("read pod {namespace}/{name}")))?
        .ok_or_else(|| PluginError::PodNotFound {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        })?;
    let facts = PodFacts::from_pod(&pod);
    let mut notes = Vec::new();
    let owners = Owners::fetch(client, &facts, &mut notes).await;
    let chain = resolve(&facts, &owners).chain;

    let mut budgets = Vec::new();
    let pubs: Api<PodUnavailableBudget> = Api::namespaced(client.clone(), namespace);
    match pubs.list(&ListParams::default()).await {
        Ok(list) => {
            for b in &list.items {
                let bname = b.metadata.name.clone().unwrap_or_default();
                let spec = match b.spec.to_budget_spec() {
                    Ok(s) => s,
                    Err(e) => {
                        notes.push(format!(
                            "PodUnavailableBudget {bname} cannot be read ({e}); it guards nothing until fixed"
                        ));
                        continue;
                    }
                };
                if !spec.selects(&facts, &chain) {
                    continue;
                }
                if spec.ignores(&facts) {
                    notes.push(format!(
                        "PodUnavailableBudget {bname} covers the pod's workload but its ignoredPodSelector excludes this pod"
                    ));
                    continue;
                }
                let status = b.status.clone().unwrap_or_default();
                budgets.push(GuardingBudget {
                    kind: BudgetKind::PodUnavailableBudget.as_str().into(),
                    name: bname,
                    policy: spec.policy.to_string(),
                    allowed: status.unavailable_allowed,
                    current: status.current_available,
                    desired: status.desired_available,
                    total: status.total_replicas,
                    disrupting: status.disrupted_pods.len(),
                    reason: status.condition().map(|c| c.reason.clone()),
                    protects: operations(spec.protect),
                    enforced_by: "steady's admission webhook".into(),
                    holds_pod: status.holds(&facts.name),
                });
            }
        }
        Err(kube::Error::Api(s)) if s.code == 404 => notes.push(
            "the PodUnavailableBudget CRD is not installed, so only PodDisruptionBudgets were checked"
                .into(),
        ),
        Err(e) => return Err(PluginError::api("list PodUnavailableBudgets")(e)),
    }

    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), namespace);
    let list = pdbs
        .list(&ListParams::default())
        .await
        .map_err(PluginError::api("list PodDisruptionBudgets"))?;
    for b in &list.items {
        let bname = b.metadata.name.clone().unwrap_or_default();
        let Some(spec) = &b.spec else { continue };
        let spec = match BudgetSpec::from_pdb(spec, OperationSet::PDB_NATIVE) {
            Ok(s) => s,
            Err(steady_budget::BudgetSpecError::NoSelector) => continue,
            Err(e) => {
                notes.push(format!("PodDisruptionBudget {bname} cannot be read ({e})"));
                continue;
            }
        };
        if !spec.selects(&facts, &chain) {
            continue;
        }
        let status = b.status.clone().unwrap_or_default();
        let disrupted = status.disrupted_pods.unwrap_or_default();
        budgets.push(GuardingBudget {
            kind: BudgetKind::PodDisruptionBudget.as_str().into(),
            name: bname,
            policy: spec.policy.to_string(),
            allowed: status.disruptions_allowed,
            current: status.current_healthy,
            desired: status.desired_healthy,
            total: status.expected_pods,
            disrupting: disrupted.len(),
            reason: status
                .conditions
                .iter()
                .flatten()
                .find(|c| c.type_ == "DisruptionAllowed")
                .map(|c| c.reason.clone()),
            protects: operations(spec.protect),
            enforced_by: "the API server's eviction check (steady's webhook also guards Delete, \
                          Update and Resize with it when `steady serve --guard-pdb-deletes` runs)"
                .into(),
            holds_pod: disrupted.contains_key(&facts.name),
        });
    }

    let guard_webhook = guard_coverage(client, namespace).await;
    let eviction = dry_run_eviction(&pods, name, namespace).await?;
    Ok(WhyReport {
        namespace: namespace.to_owned(),
        pod: name.to_owned(),
        phase: phase_name(facts.phase).into(),
        ready: facts.ready,
        terminating: facts.terminating,
        owners: chain.iter().map(ToString::to_string).collect(),
        budgets,
        notes,
        guard_webhook,
        eviction,
    })
}

/// POST pods/NAME/eviction?dryRun=All: decided by the API server and every admission webhook,
/// written nowhere.
async fn dry_run_eviction(
    pods: &Api<Pod>,
    name: &str,
    namespace: &str,
) -> Result<Eviction, PluginError> {
    let params = EvictParams {
        post_options: PostParams {
            dry_run: true,
            ..Default::default()
        },
        ..Default::default()
    };
    match pods.evict(name, &params).await {
        Ok(_) => Ok(Eviction::Allowed),
        Err(kube::Error::Api(s)) if s.code == 429 => Ok(Eviction::Refused {
            code: s.code,
            message: full_message(&s),
        }),
        Err(kube::Error::Api(s)) if s.code == 404 => Err(PluginError::PodNotFound {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }),
        Err(kube::Error::Api(s)) => Ok(Eviction::Failed {
            code: s.code,
            message: full_message(&s),
        }),
        Err(e) => Err(PluginError::api(format!(
            "ask the API server about evicting pod {namespace}/{name}"
        ))(e)),
    }
}

/// The API server's eviction handler says which PDB refused only in the status causes
/// ("The disruption budget web needs 2 healthy pods and has 2 currently"); the webhook's refusal
/// carries it in the message itself. Both go to the user, without repeating a cause the message
/// already contains.
fn full_message(s: &kube::core::Status) -> String {
    let mut message = s.message.clone();
    for cause in s.details.iter().flat_map(|d| d.causes.iter()) {
        if !cause.message.is_empty() && !message.contains(&cause.message) {
            message = format!("{} — {}", message.trim_end_matches('.'), cause.message);
        }
    }
    message
}

fn operations(set: OperationSet) -> Vec<String> {
    Operation::ALL
        .into_iter()
        .filter(|op| set.contains(*op))
        .map(|op| op.as_str().to_owned())
        .collect()
}

fn phase_name(p: PodPhase) -> &'static str {
    match p {
        PodPhase::Pending => "Pending",
        PodPhase::Running => "Running",
        PodPhase::Succeeded => "Succeeded",
        PodPhase::Failed => "Failed",
        PodPhase::Unknown => "Unknown",
    }
}

/// The pod's owners, read from the API server one link at a time. Which link to read next is
/// decided by steady-budget's `resolve` (it reports the first owner it does not know), so depth
/// limits and cycle handling are the engine's, not a copy.
struct Owners(Vec<(OwnerRef, Option<OwnerInfo>)>);

impl OwnerLookup for Owners {
    fn owner(&self, _namespace: &str, owner: &OwnerRef) -> Option<OwnerInfo> {
        self.0
            .iter()
            .find(|(r, _)| r.same_object(owner))
            .and_then(|(_, info)| info.clone())
    }
}

impl Owners {
    async fn fetch(client: &kube::Client, pod: &PodFacts, notes: &mut Vec<String>) -> Self {
        let mut owners = Owners(Vec::new());
        loop {
            let Some(missing) = resolve(pod, &owners).missing else {
                return owners;
            };
            if owners.0.iter().any(|(r, _)| r.same_object(&missing)) {
                // Already tried and not readable: the chain ends here.
                return owners;
            }
            let info = match read_owner(client, &pod.namespace, &missing).await {
                Ok(info) => info,
                Err(e) => {
                    notes.push(format!(
                        "owner {missing} could not be read ({e}); budgets targeting a workload above it are not matched"
                    ));
                    None
                }
            };
            owners.0.push((missing, info));
        }
    }
}

async fn read_owner(
    client: &kube::Client,
    namespace: &str,
    owner: &OwnerRef,
) -> Result<Option<OwnerInfo>, kube::Error> {
    let (group, version) = match owner.api_version.rsplit_once('/') {
        Some((g, v)) => (g, v),
        None => ("", owner.api_version.as_str()),
    };
    let gvk = GroupVersionKind::gvk(group, version, &owner.kind);
    let (resource, _) = kube::discovery::pinned_kind(client, &gvk).await?;
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
    let Some(obj) = api.get_opt(&owner.name).await? else {
        return Ok(None);
    };
    let controller = obj
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
        .map(|o| OwnerRef::new(&o.api_version, &o.kind, &o.name));
    let spec = obj.data.get("spec");
    let int = |field: &str| {
        spec.and_then(|s| s.get(field))
            .and_then(serde_json::Value::as_i64)
            .and_then(|v| i32::try_from(v).ok())
    };
    Ok(Some(OwnerInfo {
        controller,
        replicas: int("replicas"),
        min_ready_seconds: int("minReadySeconds"),
    }))
}

/// `kubectl steady why POD`.
pub async fn run(
    args: &WhyArgs,
    out: &mut impl Write,
) -> Result<std::process::ExitCode, PluginError> {
    let (client, namespace) = args.kube.connect().await?;
    let report = why(&client, &namespace, &args.pod).await?;
    match args.output {
        Format::Table => out.write_all(render(&report).as_bytes())?,
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

/// The answer in sentences.
pub fn render(r: &WhyReport) -> String {
    let mut out = String::new();
    let mut state = vec![r.phase.clone()];
    state.push(if r.ready { "Ready" } else { "not Ready" }.into());
    if r.terminating {
        state.push("terminating".into());
    }
    out.push_str(&format!(
        "Pod {}/{} ({})",
        r.namespace,
        r.pod,
        state.join(", ")
    ));
    if !r.owners.is_empty() {
        out.push_str(&format!(", owned by {}", r.owners.join(" → ")));
    }
    out.push_str("\n\n");
    if r.budgets.is_empty() {
        out.push_str(&format!(
            "No budget guards this pod: no PodUnavailableBudget or PodDisruptionBudget in namespace {} \
             selects it, so it may be deleted, evicted or updated at any time.\n",
            r.namespace
        ));
    } else {
        let n = r.budgets.len();
        out.push_str(&format!(
            "Guarded by {n} budget{}:\n",
            if n == 1 { "" } else { "s" }
        ));
        for b in &r.budgets {
            out.push_str(&format!("  {} {} ({})\n", b.kind, b.name, b.policy));
            let mut counts = format!(
                "    allowed {}, current {}, desired {}, total {}, disrupting {}",
                b.allowed, b.current, b.desired, b.total, b.disrupting
            );
            match b.reason.as_deref() {
                Some("SufficientPods") => {}
                Some(other) => counts.push_str(&format!(" ({other})")),
                None => counts.push_str(" (no status yet)"),
            }
            out.push_str(&counts);
            out.push('\n');
            out.push_str(&format!(
                "    protects {}: {}\n",
                if b.protects.is_empty() {
                    "nothing".to_owned()
                } else {
                    b.protects.join(", ")
                },
                b.enforced_by
            ));
            if b.holds_pod {
                out.push_str(
                    "    this pod is already counted as disrupted by it (a retry costs no unit)\n",
                );
            }
        }
    }
    if r.budgets
        .iter()
        .any(|b| b.kind == BudgetKind::PodUnavailableBudget.as_str())
    {
        match &r.guard_webhook {
            GuardCoverage::Checked { covering, .. } if !covering.is_empty() => {}
            GuardCoverage::Checked { excluding, .. } if !excluding.is_empty() => {
                out.push_str(&format!(
                    "Note: steady's webhook ({}) leaves namespace {} out (its namespaceSelector), so \
                     nothing enforces the PodUnavailableBudgets above\n",
                    excluding.join(", "),
                    r.namespace
                ));
            }
            GuardCoverage::Checked { .. } => out.push_str(
                "Note: no steady webhook is registered in this cluster, so nothing enforces the \
                 PodUnavailableBudgets above (see `steady install`)\n",
            ),
            GuardCoverage::Unknown { reason } => out.push_str(&format!(
                "Note: whether steady's webhook covers namespace {} is unknown ({reason})\n",
                r.namespace
            )),
        }
    }
    for note in &r.notes {
        out.push_str(&format!("Note: {note}\n"));
    }
    out.push('\n');
    match &r.eviction {
        Eviction::Allowed => out.push_str("Evicting it now: allowed (server-side dry run).\n"),
        Eviction::Refused { code, message } => out.push_str(&format!(
            "Evicting it now: refused (HTTP {code}, server-side dry run): {message}\n"
        )),
        Eviction::Failed { code, message } => out.push_str(&format!(
            "Evicting it now: would fail (HTTP {code}, server-side dry run): {message}\n"
        )),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(budgets: Vec<GuardingBudget>, eviction: Eviction) -> WhyReport {
        WhyReport {
            namespace: "shop".into(),
            pod: "web-1".into(),
            phase: "Running".into(),
            ready: true,
            terminating: false,
            owners: vec!["ReplicaSet web-7c9f".into(), "Deployment web".into()],
            budgets,
            notes: vec![],
            guard_webhook: GuardCoverage::Checked {
                covering: vec!["steady-guard".into()],
                excluding: vec![],
            },
            eviction,
        }
    }

    #[test]
    fn an_unguarded_pod_is_said_to_be_unguarded() {
        let text = render(&report(vec![], Eviction::Allowed));
        assert!(
            text.starts_with(
                "Pod shop/web-1 (Running, Ready), owned by ReplicaSet web-7c9f → Deployment web\n"
            ),
            "{text}"
        );
        assert!(text.contains("No budget guards this pod"), "{text}");
        assert!(text.ends_with("Evicting it now: allowed (server-side dry run).\n"));
    }

    #[test]
    fn a_refusal_names_the_budget_counts_and_message() {
        let b = GuardingBudget {
            kind: "PodUnavailableBudget".into(),
            name: "web".into(),
            policy: "maxUnavailable 1".into(),
            allowed: 0,
            current: 2,
            desired: 2,
            total: 3,
            disrupting: 1,
            reason: Some("InsufficientPods".into()),
            protects: operations(OperationSet::ALL),
            enforced_by: "steady's admission webhook".into(),
            holds_pod: false,
        };
        let text = render(&report(
            vec![b],
            Eviction::Refused {
                code: 429,
                message: "budget web allows 0".into(),
            },
        ));
        assert!(text.contains("Guarded by 1 budget:\n  PodUnavailableBudget web (maxUnavailable 1)\n    allowed 0, current 2, desired 2, total 3, disrupting 1 (InsufficientPods)\n    protects Delete, Evict, Update, Resize: steady's admission webhook\n"), "{text}");
        assert!(
            text.ends_with(
                "Evicting it now: refused (HTTP 429, server-side dry run): budget web allows 0\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_budget_nobody_enforces_is_pointed_out() {
        let b = GuardingBudget {
            kind: "PodUnavailableBudget".into(),
            name: "web".into(),
            policy: "maxUnavailable 1".into(),
            allowed: 1,
            current: 3,
            desired: 2,
            total: 3,
            disrupting: 0,
            reason: Some("SufficientPods".into()),
            protects: operations(OperationSet::ALL),
            enforced_by: "steady's admission webhook".into(),
            holds_pod: false,
        };
        let mut r = report(vec![b], Eviction::Allowed);
        assert!(!render(&r).contains("Note:"));
        r.guard_webhook = GuardCoverage::Checked {
            covering: vec![],
            excluding: vec!["steady-guard".into()],
        };
        assert!(render(&r).contains("Note: steady's webhook (steady-guard) leaves namespace shop out (its namespaceSelector), so nothing enforces the PodUnavailableBudgets above\n"));
        r.guard_webhook = GuardCoverage::Checked {
            covering: vec![],
            excluding: vec![],
        };
        assert!(render(&r).contains("Note: no steady webhook is registered"));
    }

    #[test]
    fn pdbs_protect_evictions_natively() {
        assert_eq!(operations(OperationSet::PDB_NATIVE), vec!["Evict"]);
        assert_eq!(
            operations(OperationSet::PDB_MODE),
            vec!["Delete", "Update", "Resize"]
        );
    }
}
