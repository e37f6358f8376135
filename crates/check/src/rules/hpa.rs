//! Rules on HorizontalPodAutoscalers and their targets.

use super::{Ctx, Rule, Severity};

fn hpas<'a>(ctx: &'a Ctx<'a>) -> impl Iterator<Item = (usize, &'a crate::model::HpaInfo)> + 'a {
    ctx.index
        .hpas
        .iter()
        .filter_map(|&i| ctx.obj(i).hpa().map(|h| (i, h)))
}

pub const HPA_MIN_REPLICAS_SINGLE: Rule = Rule {
    id: "hpa-min-replicas-single",
    severity: Severity::Error,
    summary: "An HPA may scale its target down to 1 replica",
    explanation: "When load is low the autoscaler scales down to minReplicas (default 1); from \
then on every restart, rollout or drain is an outage. The threshold is \
`thresholds.minReplicas` (default 2).\n\nFix: set `spec.minReplicas` to at least 2.",
    fix: None,
    check: |ctx, out| {
        for (i, h) in hpas(ctx) {
            let min = h.min_replicas.unwrap_or(1);
            if min < ctx.t.min_replicas {
                out.push(ctx.hit(
                    i,
                    None,
                    format!(
                        "minReplicas is {}{}: at low load the target runs a single replica (want ≥ {})",
                        min,
                        if h.min_replicas.is_none() { " (unset)" } else { "" },
                        ctx.t.min_replicas
                    ),
                ));
            }
        }
    },
};

pub const HPA_MAX_NOT_ABOVE_MIN: Rule = Rule {
    id: "hpa-max-not-above-min",
    severity: Severity::Warning,
    summary: "An HPA's maxReplicas is not above minReplicas",
    explanation: "With maxReplicas ≤ minReplicas the autoscaler can never scale: it is a fixed \
replica count in disguise.\n\nFix: raise maxReplicas, or drop the HPA and set replicas.",
    fix: None,
    check: |ctx, out| {
        for (i, h) in hpas(ctx) {
            let min = h.min_replicas.unwrap_or(1);
            if h.max_replicas <= min {
                out.push(ctx.hit(
                    i,
                    None,
                    format!(
                        "maxReplicas {} is not above minReplicas {min}: it never scales",
                        h.max_replicas
                    ),
                ));
            }
        }
    },
};

pub const HPA_TARGET_MISSING: Rule = Rule {
    id: "hpa-target-missing",
    severity: Severity::Warning,
    summary: "An HPA's scaleTargetRef names no workload in the input",
    explanation: "An HPA whose target does not exist (wrong name, kind or namespace) scales \
nothing. Only targets of kinds the checker reads (Deployment, StatefulSet, ReplicaSet) are \
reported.\n\nFix: correct `spec.scaleTargetRef`.",
    fix: None,
    check: |ctx, out| {
        for (i, h) in hpas(ctx) {
            if matches!(
                h.target_kind.as_str(),
                "Deployment" | "StatefulSet" | "ReplicaSet"
            ) && !ctx.index.target_of.contains_key(&i)
            {
                out.push(ctx.hit(
                    i,
                    None,
                    format!(
                        "scaleTargetRef {}/{} matches no workload in namespace {}",
                        h.target_kind,
                        h.target_name,
                        ctx.obj(i).namespace
                    ),
                ));
            }
        }
    },
};

pub const HPA_TARGET_SETS_REPLICAS: Rule = Rule {
    id: "hpa-target-sets-replicas",
    severity: Severity::Warning,
    summary: "A workload managed by an HPA also sets spec.replicas",
    explanation: "Every `kubectl apply` (or GitOps sync) of the manifest resets the replica count \
the autoscaler chose, scaling the workload down under load.\n\nFix: remove `spec.replicas` from \
the manifest of a workload an HPA manages.",
    fix: None,
    check: |ctx, out| {
        for (&w, &h) in &ctx.index.hpa_of {
            if let Some(r) = ctx.obj(w).workload().and_then(|x| x.replicas) {
                out.push(ctx.hit(
                    w,
                    None,
                    format!(
                        "replicas: {r} is set although HorizontalPodAutoscaler {} manages the scale: each apply resets it",
                        ctx.obj(h).name
                    ),
                ));
            }
        }
    },
};

pub const HPA_UTILIZATION_WITHOUT_REQUESTS: Rule = Rule {
    id: "hpa-utilization-without-requests",
    severity: Severity::Error,
    summary: "An HPA targets utilization of a resource its pods do not request",
    explanation: "Utilization is usage divided by the request. If a container of the target has \
no request for that resource, the autoscaler cannot compute it (FailedGetResourceMetric) and \
never scales.\n\nFix: set `resources.requests` for that resource on every container of the \
target, or use an AverageValue target.",
    fix: None,
    check: |ctx, out| {
        let mut pairs: Vec<(usize, usize)> =
            ctx.index.target_of.iter().map(|(&h, &w)| (h, w)).collect();
        pairs.sort_unstable();
        for (h, w) in pairs {
            let (Some(info), Some(wl)) = (ctx.obj(h).hpa(), ctx.obj(w).workload()) else {
                continue;
            };
            for (res, only) in &info.utilization {
                for c in &wl.spec.containers {
                    if only.as_ref().is_some_and(|o| o != &c.name) {
                        continue;
                    }
                    let has = c
                        .resources
                        .as_ref()
                        .and_then(|r| r.requests.as_ref())
                        .is_some_and(|r| r.contains(res));
                    if !has {
                        out.push(ctx.hit(
                            h,
                            Some(&c.name),
                            format!(
                                "targets {res} utilization but container {:?} of {} has no {res} request",
                                c.name,
                                ctx.obj(w).display()
                            ),
                        ));
                    }
                }
            }
        }
    },
};
