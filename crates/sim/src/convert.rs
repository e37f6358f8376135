//! steady-manifest's objects in the scenario's terms: the one conversion of a Deployment or
//! StatefulSet into a scenario workload, and of a PodDisruptionBudget or PodUnavailableBudget
//! into a scenario budget's policy, shared by `steady sim --from` (manifests) and `steady plan`
//! (the live cluster's objects, decoded with the same loader model).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    self as core, Lifecycle, LifecycleHandler, PodSpec, Probe, TopologySpreadConstraint,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString as K8sIntOrString;
use steady_manifest::model::{self as manifest, BudgetInfo, Object, WorkloadKind as ManifestKind};

use crate::scenario::{
    AntiAffinity, Budget, BudgetKindSpec, Dur, IntOrString, PodManagementPolicy, Readiness,
    Strategy, StrategyType, TopologySpread, WhenUnsatisfiable, Workload, WorkloadKind,
};

/// Readiness delay of a pod template without a readinessProbe: the scenario format's own default,
/// standing in for image pull and container start.
pub const DEFAULT_READINESS_SECONDS: u64 = 10;

const HOSTNAME: &str = "kubernetes.io/hostname";
const ZONE: &str = "topology.kubernetes.io/zone";

/// The scenario format's short names for the two well-known keys.
fn short_key(key: &str) -> String {
    match key {
        HOSTNAME => "hostname".into(),
        ZONE => "zone".into(),
        other => other.into(),
    }
}

/// Whether a term's selector picks the workload's own pods: the only anti-affinity and spread the
/// model knows (the scenario format says "among a workload's own pods").
fn selects_own(sel: Option<&LabelSelector>, labels: &BTreeMap<String, String>) -> bool {
    let Some(sel) = sel else { return false };
    if sel
        .match_expressions
        .as_ref()
        .is_some_and(|e| !e.is_empty())
    {
        return false;
    }
    let ml = sel.match_labels.clone().unwrap_or_default();
    !ml.is_empty() && ml.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// Readiness: the slowest container's readinessProbe `initialDelaySeconds` (the first probe runs
/// then, and one success makes the pod Ready); when no container says (no probe, or no delay),
/// [`DEFAULT_READINESS_SECONDS`], which stands in for image pull and start.
pub fn first_probe_readiness(spec: &PodSpec) -> Dur {
    let delay = spec
        .containers
        .iter()
        .filter_map(|c| c.readiness_probe.as_ref()?.initial_delay_seconds)
        .max()
        .unwrap_or(0);
    if delay > 0 {
        Dur::secs(delay as u64)
    } else {
        Dur::secs(DEFAULT_READINESS_SECONDS)
    }
}

/// Termination: a `preStop` sleep keeps the pod terminating that long (capped by the grace
/// period); otherwise the scenario format's default.
pub fn termination(spec: &PodSpec) -> Option<Dur> {
    let sleep = spec
        .containers
        .iter()
        .filter_map(|c| c.lifecycle.as_ref()?.pre_stop.as_ref()?.sleep.as_ref())
        .map(|s| s.seconds.max(0))
        .max()?;
    let grace = spec.termination_grace_period_seconds.unwrap_or(30).max(0);
    Some(Dur::secs(sleep.min(grace) as u64))
}

/// Anti-affinity and topology spread among the workload's own pods; anything else is a note.
pub fn placement(
    spec: &PodSpec,
    labels: &BTreeMap<String, String>,
    skipped: &mut bool,
) -> (Option<AntiAffinity>, Vec<TopologySpread>) {
    let mut anti = AntiAffinity {
        required: Vec::new(),
        preferred: Vec::new(),
    };
    if let Some(a) = spec
        .affinity
        .as_ref()
        .and_then(|a| a.pod_anti_affinity.as_ref())
    {
        for t in a
            .required_during_scheduling_ignored_during_execution
            .iter()
            .flatten()
        {
            if selects_own(t.label_selector.as_ref(), labels) {
                anti.required.push(short_key(&t.topology_key));
            } else {
                *skipped = true;
            }
        }
        for w in a
            .preferred_during_scheduling_ignored_during_execution
            .iter()
            .flatten()
        {
            let t = &w.pod_affinity_term;
            if selects_own(t.label_selector.as_ref(), labels) {
                anti.preferred.push(short_key(&t.topology_key));
            } else {
                *skipped = true;
            }
        }
    }
    let mut spread = Vec::new();
    for c in spec.topology_spread_constraints.iter().flatten() {
        if selects_own(c.label_selector.as_ref(), labels) {
            spread.push(TopologySpread {
                topology_key: short_key(&c.topology_key),
                max_skew: c.max_skew.max(1) as u32,
                when_unsatisfiable: if c.when_unsatisfiable == "ScheduleAnyway" {
                    WhenUnsatisfiable::ScheduleAnyway
                } else {
                    WhenUnsatisfiable::DoNotSchedule
                },
            });
        } else {
            *skipped = true;
        }
    }
    let anti = (!anti.required.is_empty() || !anti.preferred.is_empty()).then_some(anti);
    (anti, spread)
}

/// Readiness from the slowest container's readinessProbe: its first success comes at
/// `initialDelaySeconds`, checked every `periodSeconds` (default 10), so a new pod is Ready
/// after about their sum; without a probe, the simulator's default for image pull and start.
pub fn probe_period_readiness(spec: &PodSpec) -> Dur {
    let delay = spec
        .containers
        .iter()
        .filter_map(|c| {
            let p = c.readiness_probe.as_ref()?;
            Some(
                u64::try_from(p.initial_delay_seconds.unwrap_or(0)).unwrap_or(0)
                    + u64::try_from(p.period_seconds.unwrap_or(10)).unwrap_or(10),
            )
        })
        .max();
    match delay {
        Some(d) => Dur::secs(d.min(3600)),
        None => Dur::secs(DEFAULT_READINESS_SECONDS),
    }
}

/// How a new pod's readiness delay is read from its probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadinessRule {
    /// `sim --from`: the slowest readinessProbe's `initialDelaySeconds` (the first probe runs
    /// then and one success makes the pod Ready); 10 s without one.
    FirstProbe,
    /// `plan`: `initialDelaySeconds + periodSeconds` of the slowest probe (a probe rarely
    /// succeeds at the very first instant on a live cluster); 10 s without a probe.
    ProbePeriod,
}

/// The scenario's kind for the manifest's; None for kinds simulated through their owner or not
/// at all.
pub fn kind(k: ManifestKind) -> Option<WorkloadKind> {
    match k {
        ManifestKind::Deployment => Some(WorkloadKind::Deployment),
        ManifestKind::StatefulSet => Some(WorkloadKind::StatefulSet),
        _ => None,
    }
}

pub fn int_or_string(v: &K8sIntOrString) -> IntOrString {
    match v {
        K8sIntOrString::Int(n) => IntOrString::Int(i64::from(*n)),
        K8sIntOrString::String(s) => IntOrString::String(s.clone()),
    }
}

/// The k8s-openapi pod spec holding what the loader kept of a workload's pod template, for the
/// readiness, termination and placement readings.
pub fn pod_spec(m: &manifest::PodSpec) -> PodSpec {
    PodSpec {
        containers: m
            .containers
            .iter()
            .map(|c| core::Container {
                name: c.name.clone(),
                readiness_probe: c.readiness_probe.as_ref().map(|p| Probe {
                    initial_delay_seconds: p.initial_delay_seconds(),
                    period_seconds: p.period_seconds(),
                    ..Probe::default()
                }),
                lifecycle: c.lifecycle.as_ref().map(|l| Lifecycle {
                    pre_stop: l.pre_stop.as_ref().map(|h| LifecycleHandler {
                        sleep: h.sleep.clone(),
                        ..LifecycleHandler::default()
                    }),
                    ..Lifecycle::default()
                }),
                ..core::Container::default()
            })
            .collect(),
        termination_grace_period_seconds: m.termination_grace_period_seconds,
        affinity: m.affinity.as_deref().cloned(),
        topology_spread_constraints: m.topology_spread_constraints.as_ref().map(|v| {
            v.iter()
                .map(|t| TopologySpreadConstraint {
                    label_selector: t.label_selector.as_ref().map(|s| s.to_k8s()),
                    max_skew: t.max_skew,
                    min_domains: t.min_domains,
                    topology_key: t.topology_key.clone(),
                    when_unsatisfiable: t.when_unsatisfiable.clone(),
                    ..TopologySpreadConstraint::default()
                })
                .collect()
        }),
        node_selector: m.node_selector.as_deref().cloned(),
        tolerations: m.tolerations.as_deref().map(<[_]>::to_vec),
        volumes: m.claim_names.as_ref().map(|names| {
            names
                .iter()
                .map(|n| core::Volume {
                    name: n.clone(),
                    persistent_volume_claim: Some(core::PersistentVolumeClaimVolumeSource {
                        claim_name: n.clone(),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .collect()
        }),
        ..PodSpec::default()
    }
}

/// A Deployment's strategy: `Recreate`, or `RollingUpdate` when it sets `maxSurge` or
/// `maxUnavailable` (None: the defaults, 25 % each); None for a StatefulSet.
pub fn strategy(kind: WorkloadKind, w: &manifest::Workload) -> Option<Strategy> {
    match kind {
        WorkloadKind::StatefulSet => None,
        WorkloadKind::Deployment if w.strategy.as_deref() == Some("Recreate") => Some(Strategy {
            type_: StrategyType::Recreate,
            max_surge: None,
            max_unavailable: None,
        }),
        WorkloadKind::Deployment => {
            let surge = w.max_surge.as_ref().map(int_or_string);
            let unavailable = w.max_unavailable.as_ref().map(int_or_string);
            (surge.is_some() || unavailable.is_some()).then_some(Strategy {
                type_: StrategyType::RollingUpdate,
                max_surge: surge,
                max_unavailable: unavailable,
            })
        }
    }
}

/// Why a workload could not be converted: the field and what is wrong with it.
#[derive(Debug)]
pub struct Unconvertible(pub String);

/// A workload as the scenario says it, with `replicas` decided by the caller (`--from` counts an
/// HPA's minimum, a plan the live `spec.replicas`); `skipped` is set when anti-affinity or
/// spread terms select other pods than the workload's own. Namespace, running pods and zonal
/// claims are the caller's to add. A negative `minReadySeconds` reads as 0.
pub fn workload(
    o: &Object,
    w: &manifest::Workload,
    kind: WorkloadKind,
    replicas: u32,
    rule: ReadinessRule,
    skipped: &mut bool,
) -> Result<Workload, Unconvertible> {
    let spec = pod_spec(&w.spec);
    let labels = w.labels.to_map();
    let (anti_affinity, topology_spread) = placement(&spec, &labels, skipped);
    let object = String::new();
    let unconvertible = |e: crate::plan::PlanError| match e {
        crate::plan::PlanError::Object { message, .. } => Unconvertible(message),
        other => Unconvertible(other.to_string()),
    };
    let node_affinity =
        crate::plan::placement::node_affinity(&spec, &object).map_err(unconvertible)?;
    let tolerations = crate::plan::placement::tolerations(&spec, &object).map_err(unconvertible)?;
    let readiness = match rule {
        ReadinessRule::FirstProbe => first_probe_readiness(&spec),
        ReadinessRule::ProbePeriod => probe_period_readiness(&spec),
    };
    Ok(Workload {
        kind,
        name: o.name.clone(),
        namespace: None,
        replicas,
        strategy: strategy(kind, w),
        pod_management_policy: match (kind, w.pod_management_policy.as_deref()) {
            (WorkloadKind::StatefulSet, Some("Parallel")) => Some(PodManagementPolicy::Parallel),
            _ => None,
        },
        min_ready_seconds: w.min_ready_seconds.unwrap_or(0).max(0) as u32,
        readiness: Some(Readiness {
            fixed: Some(readiness),
            ..Readiness::default()
        }),
        termination: termination(&spec),
        anti_affinity,
        topology_spread,
        node_selector: spec.node_selector.clone().unwrap_or_default(),
        node_affinity,
        tolerations,
        zonal_claims: Vec::new(),
        labels,
        pods: Vec::new(),
    })
}

/// A budget's kind, policy and options as the scenario says them; selector, targetRef and
/// namespace are the caller's to resolve. A PodDisruptionBudget's `unhealthyPodEvictionPolicy`
/// other than `AlwaysAllow` reads as `IfHealthyBudget` (left unset), as Kubernetes' eviction
/// handler and steady's guard read it.
pub fn budget(o: &Object, b: &BudgetInfo) -> Budget {
    Budget {
        kind: if b.is_pub {
            BudgetKindSpec::PodUnavailableBudget
        } else {
            BudgetKindSpec::PodDisruptionBudget
        },
        name: o.name.clone(),
        namespace: None,
        selector: None,
        target_ref: None,
        min_available: b.min_available.as_ref().map(int_or_string),
        max_unavailable: b.max_unavailable.as_ref().map(int_or_string),
        protect_operations: b.protect_operations.clone(),
        unhealthy_pod_policy: if b.is_pub {
            b.unhealthy_policy.clone()
        } else {
            b.unhealthy_policy.clone().filter(|p| p == "AlwaysAllow")
        },
    }
}
