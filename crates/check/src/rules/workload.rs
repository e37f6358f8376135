//! Rules on workloads as a whole: replicas, spreading, rollout settings, Services.

use k8s_openapi::api::core::v1::PodAffinityTerm;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{Ctx, Fix, Rule, Severity, selects};
use crate::model::{TopologySpreadConstraint, Workload, WorkloadKind};

fn workloads<'a>(ctx: &'a Ctx<'a>) -> impl Iterator<Item = (usize, &'a Workload)> + 'a {
    ctx.index
        .workloads
        .iter()
        .filter_map(|&i| ctx.obj(i).workload().map(|w| (i, w)))
}

fn anti_affinity_terms(w: &Workload) -> (Vec<&PodAffinityTerm>, Vec<&PodAffinityTerm>) {
    let paa = w
        .spec
        .affinity
        .as_ref()
        .and_then(|a| a.pod_anti_affinity.as_ref());
    let required = paa
        .and_then(|p| {
            p.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .map(|v| v.iter().collect())
        .unwrap_or_default();
    let preferred = paa
        .and_then(|p| {
            p.preferred_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .map(|v| v.iter().map(|t| &t.pod_affinity_term).collect())
        .unwrap_or_default();
    (required, preferred)
}

fn spread_constraints(w: &Workload) -> &[TopologySpreadConstraint] {
    w.spec.topology_spread_constraints.as_deref().unwrap_or(&[])
}

pub const REPLICAS_SINGLE: Rule = Rule {
    id: "replicas-single",
    severity: Severity::Error,
    summary: "A workload runs fewer than 2 replicas",
    explanation: "With a single replica every rollout, node drain, eviction and crash is an \
outage. A workload targeted by a HorizontalPodAutoscaler is judged by the HPA's minReplicas \
instead (see hpa-min-replicas-single); `replicas: 0` (switched off on purpose) is not reported. \
The threshold is `thresholds.minReplicas` (default 2).\n\nFix: set `spec.replicas` to at least 2 \
(3 for quorum-based services), or put the workload under an HPA with minReplicas ≥ 2.",
    fix: None,
    check: |ctx, out| {
        for (i, w) in workloads(ctx) {
            if !ctx.is_replicated(i) || ctx.index.hpa_of.contains_key(&i) {
                continue;
            }
            let r = w.replicas.unwrap_or(1);
            if r != 0 && r < ctx.t.min_replicas {
                let how = if w.replicas.is_none() {
                    "replicas is unset (defaults to 1)".to_owned()
                } else {
                    format!("replicas is {r}")
                };
                out.push(ctx.hit(
                    i,
                    None,
                    format!(
                        "{how}: any restart, rollout or drain is an outage (want ≥ {})",
                        ctx.t.min_replicas
                    ),
                ));
            }
        }
    },
};

pub const POD_BARE: Rule = Rule {
    id: "pod-bare",
    severity: Severity::Warning,
    summary: "A bare Pod has no controller",
    explanation: "A Pod created directly is not recreated when its node is drained or fails, and \
a PodDisruptionBudget cannot count it toward a percentage.\n\nFix: run it from a Deployment, \
StatefulSet or Job.",
    fix: None,
    check: |ctx, out| {
        for (i, w) in workloads(ctx) {
            if w.kind == WorkloadKind::Pod {
                out.push(
                    ctx.hit(
                        i,
                        None,
                        "a Pod without a controller is not recreated after a drain or node failure"
                            .to_owned(),
                    ),
                );
            }
        }
    },
};

pub const SELECTOR_TEMPLATE_MISMATCH: Rule = Rule {
    id: "selector-template-mismatch",
    severity: Severity::Error,
    summary: "spec.selector does not select the workload's own pod template",
    explanation: "A controller whose selector does not match its template labels is rejected by \
the API server or, for older API versions, never sees its own pods.\n\nFix: make \
`spec.selector` match `spec.template.metadata.labels` (matchLabels and matchExpressions).",
    fix: None,
    check: |ctx, out| {
        for (i, w) in workloads(ctx) {
            if w.kind == WorkloadKind::Pod {
                continue;
            }
            if let Some(sel) = &w.selector
                && !sel.selects(&w.labels)
            {
                out.push(ctx.hit(
                    i,
                    None,
                    "spec.selector does not match spec.template.metadata.labels".to_owned(),
                ));
            }
        }
    },
};

pub const SPREAD_MISSING: Rule = Rule {
    id: "spread-missing",
    severity: Severity::Warning,
    summary: "Replicas are not spread across nodes or zones",
    explanation: "Replicas alone are not availability: if the scheduler puts them on one node, \
that node is a single point of failure and draining it takes every replica at once. Either \
topologySpreadConstraints or pod anti-affinity (required or preferred) satisfy this rule, on any \
topology key, as long as their selector matches the pods' own labels. Workloads that never run \
more than one replica are not reported.\n\nFix: add a topologySpreadConstraint on \
`kubernetes.io/hostname` (and `topology.kubernetes.io/zone` in multi-zone clusters) with \
`whenUnsatisfiable: ScheduleAnyway` and a labelSelector matching the pod labels. `steady fix` adds \
the hostname one.",
    fix: Some(Fix::AddSpread),
    check: |ctx, out| {
        for (i, w) in workloads(ctx) {
            if !ctx.is_replicated(i) || ctx.max_replicas(i) < 2 {
                continue;
            }
            let (req, pref) = anti_affinity_terms(w);
            if req.is_empty() && pref.is_empty() && spread_constraints(w).is_empty() {
                out.push(ctx.hit(
                    i,
                    None,
                    format!(
                        "{} replicas with no topologySpreadConstraints or pod anti-affinity: they may all land on one node",
                        ctx.max_replicas(i)
                    ),
                ));
            }
        }
    },
};

pub const SPREAD_SELECTOR_MISMATCH: Rule = Rule {
    id: "spread-selector-mismatch",
    severity: Severity::Warning,
    summary: "Spreading rules do not select the workload's own pods",
    explanation: "Anti-affinity terms and topologySpreadConstraints only spread the pods their \
labelSelector matches. A selector that does not match the workload's own pod labels (or a \
constraint without a labelSelector) spreads nothing.\n\nFix: use the pod template's labels in the \
labelSelector of the term or constraint.",
    fix: None,
    check: |ctx, out| {
        for (i, w) in workloads(ctx) {
            if !ctx.is_replicated(i) || ctx.max_replicas(i) < 2 {
                continue;
            }
            let (req, pref) = anti_affinity_terms(w);
            let tsc = spread_constraints(w);
            if req.is_empty() && pref.is_empty() && tsc.is_empty() {
                continue;
            }
            let any = req
                .iter()
                .chain(&pref)
                .any(|t| selects(t.label_selector.as_ref(), &w.labels))
                || tsc.iter().any(|t| {
                    selects(
                        t.label_selector.as_ref().map(|s| s.to_k8s()).as_ref(),
                        &w.labels,
                    )
                });
            if !any {
                out.push(ctx.hit(
                    i,
                    None,
                    "no anti-affinity term or topologySpreadConstraint selects the workload's own pod labels".to_owned(),
                ));
            }
        }
    },
};

pub const TOPOLOGY_SPREAD_INVALID: Rule = Rule {
    id: "topology-spread-invalid",
    severity: Severity::Error,
    summary: "A topologySpreadConstraint is invalid or has no effect",
    explanation: "maxSkew must be ≥ 1, whenUnsatisfiable DoNotSchedule or ScheduleAnyway, \
topologyKey non-empty, minDomains ≥ 1 and only with DoNotSchedule; a constraint without \
labelSelector counts no pods and spreads nothing.\n\nFix: correct the constraint's fields.",
    fix: None,
    check: |ctx, out| {
        for (i, w) in workloads(ctx) {
            for (n, t) in spread_constraints(w).iter().enumerate() {
                let mut why = Vec::new();
                if t.max_skew < 1 {
                    why.push(format!("maxSkew is {} (must be ≥ 1)", t.max_skew));
                }
                if !matches!(
                    t.when_unsatisfiable.as_str(),
                    "DoNotSchedule" | "ScheduleAnyway"
                ) {
                    why.push(format!(
                        "whenUnsatisfiable {:?} is not DoNotSchedule or ScheduleAnyway",
                        t.when_unsatisfiable
                    ));
                }
                if t.topology_key.is_empty() {
                    why.push("topologyKey is empty".to_owned());
                }
                if t.label_selector.is_none() {
                    why.push("no labelSelector, so it counts no pods".to_owned());
                }
                if let Some(m) = t.min_domains {
                    if m < 1 {
                        why.push(format!("minDomains is {m} (must be ≥ 1)"));
                    } else if t.when_unsatisfiable != "DoNotSchedule" {
                        why.push("minDomains requires whenUnsatisfiable: DoNotSchedule".to_owned());
                    }
                }
                if !why.is_empty() {
                    out.push(ctx.hit(
                        i,
                        None,
                        format!("topologySpreadConstraints[{n}]: {}", why.join("; ")),
                    ));
                }
            }
        }
    },
};

pub const ANTI_AFFINITY_EXCEEDS_DOMAINS: Rule = Rule {
    id: "anti-affinity-exceeds-domains",
    severity: Severity::Error,
    summary: "Required anti-affinity allows fewer pods than the workload runs",
    explanation: "Required pod anti-affinity on a topology key puts at most one matching pod in \
each domain. With more replicas (or HPA maxReplicas, or a rolling-update surge) than domains, the \
extra pods stay Pending forever. Domain counts come from `thresholds.topologyDomains` (default \
`topology.kubernetes.io/zone: 3`).\n\nFix: use preferred anti-affinity or a topologySpreadConstraint \
with maxSkew instead, or keep replicas ≤ domains.",
    fix: None,
    check: |ctx, out| {
        for (i, w) in workloads(ctx) {
            if !ctx.is_replicated(i) {
                continue;
            }
            let (req, _) = anti_affinity_terms(w);
            let max = ctx.max_replicas(i);
            for t in req {
                if !selects(t.label_selector.as_ref(), &w.labels) {
                    continue;
                }
                if let Some(&d) = ctx.t.topology_domains.get(&t.topology_key)
                    && max > d
                {
                    out.push(ctx.hit(
                        i,
                        None,
                        format!(
                            "required anti-affinity on {} allows {d} pods, but the workload runs up to {max}: the rest stay Pending",
                            t.topology_key
                        ),
                    ));
                }
            }
        }
    },
};

pub const STRATEGY_RECREATE: Rule = Rule {
    id: "strategy-recreate",
    severity: Severity::Warning,
    summary: "A served Deployment uses the Recreate strategy",
    explanation: "Recreate deletes every old pod before starting new ones: each rollout of a \
Deployment behind a Service is a full outage.\n\nFix: use `strategy.type: RollingUpdate` (the \
default) unless two versions truly cannot run side by side.",
    fix: None,
    check: |ctx, out| {
        for (i, w) in workloads(ctx) {
            if w.kind == WorkloadKind::Deployment
                && w.strategy.as_deref() == Some("Recreate")
                && ctx.is_served(i)
            {
                out.push(ctx.hit(
                    i,
                    None,
                    "strategy Recreate stops every pod before starting new ones: each rollout is an outage".to_owned(),
                ));
            }
        }
    },
};

pub const MIN_READY_SECONDS_ZERO: Rule = Rule {
    id: "min-ready-seconds-zero",
    severity: Severity::Warning,
    summary: "A served workload has minReadySeconds 0",
    explanation: "With minReadySeconds 0 a new pod counts as available the instant its readiness \
probe first passes, so a rollout replaces old pods with new ones that may crash seconds later, \
and budgets count them too early.\n\nFix: set `spec.minReadySeconds` (e.g. 10) to how long a pod \
must stay Ready before it counts.",
    fix: None,
    check: |ctx, out| {
        for (i, w) in workloads(ctx) {
            if matches!(
                w.kind,
                WorkloadKind::Deployment | WorkloadKind::StatefulSet | WorkloadKind::DaemonSet
            ) && ctx.is_served(i)
                && w.min_ready_seconds.unwrap_or(0) == 0
            {
                out.push(ctx.hit(
                    i,
                    None,
                    "minReadySeconds is 0: a pod counts as available the moment it first turns Ready".to_owned(),
                ));
            }
        }
    },
};

pub const PROGRESS_DEADLINE_UNSET: Rule = Rule {
    id: "progress-deadline-unset",
    severity: Severity::Info,
    summary: "A Deployment does not set progressDeadlineSeconds",
    explanation: "Unset, a stuck rollout is only reported as failed after the 600 s default, and \
`kubectl rollout status` or a CD pipeline waits that long. Choosing it explicitly documents how \
long a rollout may take.\n\nFix: set `spec.progressDeadlineSeconds` to a little more than a \
normal rollout takes.",
    fix: None,
    check: |ctx, out| {
        for (i, w) in workloads(ctx) {
            if w.kind == WorkloadKind::Deployment && w.progress_deadline_seconds.is_none() {
                out.push(
                    ctx.hit(
                        i,
                        None,
                        "progressDeadlineSeconds is unset (a stuck rollout is noticed after 600 s)"
                            .to_owned(),
                    ),
                );
            }
        }
    },
};

pub const STATEFULSET_HEADLESS_SERVICE_MISSING: Rule = Rule {
    id: "statefulset-headless-service-missing",
    severity: Severity::Warning,
    summary: "A StatefulSet's serviceName names no headless Service",
    explanation: "A StatefulSet's pods get stable DNS names only through the headless Service \
named in `spec.serviceName`; without it peers cannot find each other.\n\nFix: create a Service \
with that name, `clusterIP: None`, selecting the StatefulSet's pods.",
    fix: None,
    check: |ctx, out| {
        for (i, w) in workloads(ctx) {
            let Some(name) = w.service_name.as_deref() else {
                continue;
            };
            if w.kind != WorkloadKind::StatefulSet {
                continue;
            }
            let ns = &ctx.obj(i).namespace;
            let svc = ctx
                .index
                .services
                .iter()
                .map(|&s| ctx.obj(s))
                .find(|s| s.name == name && &s.namespace == ns);
            match svc.and_then(|s| s.service()) {
                None => out.push(ctx.hit(
                    i,
                    None,
                    format!("serviceName {name:?} names no Service in namespace {ns}"),
                )),
                Some(s) if !s.headless => out.push(ctx.hit(
                    i,
                    None,
                    format!("Service {name:?} is not headless (clusterIP: None)"),
                )),
                Some(_) => {}
            }
        }
    },
};

pub const STATEFULSET_PARALLEL_QUORUM: Rule = Rule {
    id: "statefulset-parallel-quorum",
    severity: Severity::Warning,
    summary: "A quorum StatefulSet uses podManagementPolicy Parallel",
    explanation: "A budget of `maxUnavailable: 1` marks a quorum-based service (raft, \
ZooKeeper, etcd). With `podManagementPolicy: Parallel` the StatefulSet controller starts and \
stops pods all at once when scaling or recreating them — budgets do not guard that — so quorum can \
be lost.\n\nFix: use `podManagementPolicy: OrderedReady` for quorum services.",
    fix: None,
    check: |ctx, out| {
        for (i, w) in workloads(ctx) {
            if w.kind != WorkloadKind::StatefulSet
                || w.pod_management_policy.as_deref() != Some("Parallel")
            {
                continue;
            }
            let quorum = ctx
                .index
                .budgets_of
                .get(&i)
                .into_iter()
                .flatten()
                .any(|&b| {
                    ctx.obj(b).budget().is_some_and(|b| {
                    matches!(&b.max_unavailable, Some(IntOrString::Int(1)))
                        || matches!(&b.max_unavailable, Some(IntOrString::String(s)) if s == "1")
                })
                });
            if quorum {
                out.push(ctx.hit(
                    i,
                    None,
                    "podManagementPolicy Parallel on a StatefulSet guarded by maxUnavailable: 1 (quorum risk)".to_owned(),
                ));
            }
        }
    },
};

pub const SERVICE_SELECTS_NOTHING: Rule = Rule {
    id: "service-selects-nothing",
    severity: Severity::Warning,
    summary: "A Service's selector matches no workload",
    explanation: "A Service whose selector matches no pod template in its namespace has no \
endpoints: every request to it fails. Services without a selector (endpoints managed by hand) \
are not reported.\n\nFix: make `spec.selector` match the pod template labels of the workload it \
fronts (check the namespace too).",
    fix: None,
    check: |ctx, out| {
        for &s in &ctx.index.services {
            if ctx
                .index
                .selected_by_service
                .get(&s)
                .is_some_and(Vec::is_empty)
            {
                let sel = ctx
                    .obj(s)
                    .service()
                    .and_then(|x| x.selector.as_ref())
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .unwrap_or_default();
                out.push(ctx.hit(
                    s,
                    None,
                    format!(
                        "selector {sel} matches no pod template in namespace {}",
                        ctx.obj(s).namespace
                    ),
                ));
            }
        }
    },
};
