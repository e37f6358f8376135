//! Rules on the pod template: probes, shutdown, resources, host ports.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{Ctx, Fix, Hit, Rule, Severity};
use crate::model::{Container, LifecycleHandler, Probe, Workload, WorkloadKind};

/// Kubernetes' default `terminationGracePeriodSeconds`.
pub const DEFAULT_GRACE: i64 = 30;

/// The containers that serve traffic: those declaring ports, or every container when none does.
pub fn serving(w: &Workload) -> impl Iterator<Item = &Container> {
    let any_ports = w
        .spec
        .containers
        .iter()
        .any(|c| c.ports.as_ref().is_some_and(|p| !p.is_empty()));
    w.spec
        .containers
        .iter()
        .filter(move |c| !any_ports || c.ports.as_ref().is_some_and(|p| !p.is_empty()))
}

fn workloads<'a>(ctx: &'a Ctx<'a>) -> impl Iterator<Item = (usize, &'a Workload)> + 'a {
    ctx.index
        .workloads
        .iter()
        .filter_map(|&i| ctx.obj(i).workload().map(|w| (i, w)))
}

pub fn grace(w: &Workload) -> i64 {
    w.spec
        .termination_grace_period_seconds
        .unwrap_or(DEFAULT_GRACE)
}

/// How long the preStop hook takes, when it can be read: a native `sleep` action, or an exec
/// command that runs `sleep N` (directly or through `sh -c`). None for other hooks.
pub fn prestop_seconds(c: &Container) -> Option<i64> {
    let h: &LifecycleHandler = c.lifecycle.as_ref()?.pre_stop.as_ref()?;
    if let Some(s) = &h.sleep {
        return Some(s.seconds);
    }
    let cmd = h.exec.as_ref()?.command.as_ref()?;
    let joined = cmd.join(" ");
    let tokens: Vec<&str> = joined
        .split(|ch: char| {
            ch.is_whitespace() || matches!(ch, ';' | '&' | '|' | '(' | ')' | '"' | '\'')
        })
        .filter(|t| !t.is_empty())
        .collect();
    let mut total = None;
    for pair in tokens.windows(2) {
        if pair[0].rsplit('/').next() == Some("sleep")
            && let Some(n) = duration(pair[1])
        {
            total = Some(total.unwrap_or(0) + n);
        }
    }
    total
}

fn duration(s: &str) -> Option<i64> {
    let (num, mult) = match s.as_bytes().last()? {
        b's' => (&s[..s.len() - 1], 1.0),
        b'm' => (&s[..s.len() - 1], 60.0),
        b'h' => (&s[..s.len() - 1], 3600.0),
        _ => (s, 1.0),
    };
    let v: f64 = num.parse().ok()?;
    (v.is_finite() && v >= 0.0).then(|| (v * mult).ceil() as i64)
}

pub const PROBE_READINESS_MISSING: Rule = Rule {
    id: "probe-readiness-missing",
    severity: Severity::Error,
    summary: "A container behind a Service has no readinessProbe",
    explanation: "A Service sends traffic to a pod as soon as its containers have started when they \
have no readinessProbe, before the application can answer: every rollout, scale-out and restart \
fails requests. Only pods a Service selects are checked, and only their serving containers (those \
declaring ports).\n\nFix: add a readinessProbe on the serving port that succeeds only when the \
application can handle requests (e.g. Spring Boot's /actuator/health/readiness).",
    fix: None,
    check: |ctx, out| {
        for (i, w) in workloads(ctx) {
            if !ctx.is_served(i) {
                continue;
            }
            for c in serving(w) {
                if c.readiness_probe.is_none() {
                    out.push(ctx.hit(
                        i,
                        Some(&c.name),
                        format!(
                            "container {:?} is selected by a Service but has no readinessProbe",
                            c.name
                        ),
                    ));
                }
            }
        }
    },
};

pub const PROBE_LIVENESS_MISSING: Rule = Rule {
    id: "probe-liveness-missing",
    severity: Severity::Info,
    summary: "A container has no livenessProbe",
    explanation: "Without a livenessProbe a container that hangs (deadlock, exhausted pool) stays \
Running forever and is never restarted.\n\nFix: add a livenessProbe that checks the process itself \
(not its dependencies), with a failureThreshold loose enough not to kill a slow but healthy pod.",
    fix: None,
    check: |ctx, out| {
        for (i, w) in workloads(ctx) {
            for c in serving(w) {
                if c.liveness_probe.is_none() {
                    out.push(ctx.hit(
                        i,
                        Some(&c.name),
                        format!("container {:?} has no livenessProbe", c.name),
                    ));
                }
            }
        }
    },
};

pub const PROBE_IDENTICAL: Rule = Rule {
    id: "probe-identical",
    severity: Severity::Warning,
    summary: "readinessProbe and livenessProbe are identical",
    explanation: "When readiness and liveness are the same probe with the same thresholds, a pod \
that is only busy or waiting for a dependency is restarted instead of being taken out of the \
Service for a moment; restarts cascade under load. Probes that differ only in thresholds are not \
reported.\n\nFix: point liveness at a cheaper endpoint that checks only the process, or give it a \
higher failureThreshold than readiness.",
    fix: None,
    check: |ctx, out| {
        for (i, w) in workloads(ctx) {
            for c in &w.spec.containers {
                if let (Some(r), Some(l)) = (&c.readiness_probe, &c.liveness_probe)
                    && r == l
                {
                    out.push(ctx.hit(
                        i,
                        Some(&c.name),
                        format!(
                            "container {:?}: readinessProbe and livenessProbe are identical",
                            c.name
                        ),
                    ));
                }
            }
        }
    },
};

fn probe_port(p: &Probe) -> Option<&IntOrString> {
    p.port()
}

pub const PROBE_PORT_NOT_EXPOSED: Rule = Rule {
    id: "probe-port-not-exposed",
    severity: Severity::Error,
    summary: "A probe uses a named port the container does not declare",
    explanation: "A probe on a named port that the container does not declare can never succeed: \
the pod never becomes Ready (readiness) or is restarted forever (liveness). Numeric ports are not \
reported, since they work without a declaration.\n\nFix: declare the port under \
`containers[].ports` with that name, or use the port number.",
    fix: None,
    check: |ctx, out| {
        for (i, w) in workloads(ctx) {
            for c in &w.spec.containers {
                let probes = [
                    ("readinessProbe", &c.readiness_probe),
                    ("livenessProbe", &c.liveness_probe),
                    ("startupProbe", &c.startup_probe),
                ];
                for (what, p) in probes {
                    let Some(IntOrString::String(name)) = p.as_deref().and_then(probe_port) else {
                        continue;
                    };
                    let declared = c
                        .ports
                        .iter()
                        .flatten()
                        .any(|p| p.name.as_deref() == Some(name.as_str()));
                    if !declared {
                        out.push(ctx.hit(
                            i,
                            Some(&c.name),
                            format!(
                                "container {:?}: {what} uses port {name:?}, which the container does not declare",
                                c.name
                            ),
                        ));
                    }
                }
            }
        }
    },
};

pub const PRESTOP_MISSING: Rule = Rule {
    id: "prestop-missing",
    severity: Severity::Warning,
    summary: "A container behind a Service has no preStop hook",
    explanation: "When a pod is deleted, endpoints and every node's forwarding rules are updated \
asynchronously, while the container gets SIGTERM at once: for a few seconds traffic still arrives \
at a process that is shutting down, and those requests fail (races 1 and 6 of BACKGROUND.md).\n\n\
Fix: add `lifecycle.preStop.sleep.seconds` (native since Kubernetes 1.30, GA 1.34), e.g. 10, so the \
pod keeps serving while the endpoints catch up, and keep terminationGracePeriodSeconds above the \
sleep plus the application's own drain time. `steady fix` adds both.",
    fix: Some(Fix::AddPreStop),
    check: |ctx, out| {
        for (i, w) in workloads(ctx) {
            if !ctx.is_served(i) {
                continue;
            }
            for c in serving(w) {
                let has = c.lifecycle.as_ref().is_some_and(|l| l.pre_stop.is_some());
                if !has {
                    out.push(ctx.hit(
                        i,
                        Some(&c.name),
                        format!(
                            "container {:?} is selected by a Service but has no preStop hook: it stops before endpoints are updated",
                            c.name
                        ),
                    ));
                }
            }
        }
    },
};

pub const PRESTOP_EXCEEDS_GRACE: Rule = Rule {
    id: "prestop-exceeds-grace",
    severity: Severity::Error,
    summary: "preStop sleep plus a drain margin does not fit in terminationGracePeriodSeconds",
    explanation: "The preStop hook runs inside terminationGracePeriodSeconds (default 30). When the \
hook's sleep plus the time the application needs to finish in-flight requests after SIGTERM is \
longer than the grace period, the kubelet sends SIGKILL mid-request. The margin is \
`thresholds.shutdownMarginSeconds` (default 10); sleeps are read from the native `sleep` action \
and from exec hooks running `sleep N`.\n\nFix: raise terminationGracePeriodSeconds to at least \
the preStop sleep plus the margin (e.g. preStop 40 s, grace 50 s), or shorten the sleep. \
`steady fix` raises the grace period.",
    fix: Some(Fix::RaiseGrace),
    check: |ctx, out| {
        for (i, w) in workloads(ctx) {
            let g = grace(w);
            for c in &w.spec.containers {
                let Some(s) = prestop_seconds(c) else {
                    continue;
                };
                if s + ctx.t.shutdown_margin_seconds > g {
                    out.push(ctx.hit(
                        i,
                        Some(&c.name),
                        format!(
                            "container {:?}: preStop sleeps {s}s; with a {}s drain margin that needs terminationGracePeriodSeconds ≥ {}, it is {g}",
                            c.name,
                            ctx.t.shutdown_margin_seconds,
                            s + ctx.t.shutdown_margin_seconds
                        ),
                    ));
                }
            }
        }
    },
};

pub const REQUESTS_MISSING: Rule = Rule {
    id: "requests-missing",
    severity: Severity::Warning,
    summary: "A container has no CPU or memory request",
    explanation: "Without requests the scheduler packs pods onto nodes that cannot run them under \
load, they are the first evicted under node pressure, and CPU-utilization autoscaling cannot \
work.\n\nFix: set `resources.requests.cpu` and `resources.requests.memory` from observed usage.",
    fix: None,
    check: |ctx, out| {
        for (i, w) in workloads(ctx) {
            for c in &w.spec.containers {
                let req = c.resources.as_ref().and_then(|r| r.requests.as_ref());
                let missing: Vec<&str> = ["cpu", "memory"]
                    .into_iter()
                    .filter(|k| !req.is_some_and(|r| r.iter().any(|x| x == k)))
                    .collect();
                if !missing.is_empty() {
                    out.push(ctx.hit(
                        i,
                        Some(&c.name),
                        format!(
                            "container {:?} has no {} request",
                            c.name,
                            missing.join(" or ")
                        ),
                    ));
                }
            }
        }
    },
};

pub const HOST_PORT: Rule = Rule {
    id: "host-port",
    severity: Severity::Warning,
    summary: "A container binds a hostPort",
    explanation: "A hostPort allows one such pod per node: surge pods of a rolling update stay \
Pending on nodes that already run one, and replicas cannot exceed the node count. DaemonSets are \
not reported.\n\nFix: remove hostPort and reach the pods through a Service.",
    fix: None,
    check: |ctx, out| {
        for (i, w) in workloads(ctx) {
            if w.kind == WorkloadKind::DaemonSet {
                continue;
            }
            for c in &w.spec.containers {
                for p in c.ports.iter().flatten() {
                    if let Some(h) = p.host_port.filter(|h| *h != 0) {
                        out.push(ctx.hit(
                            i,
                            Some(&c.name),
                            format!("container {:?} binds hostPort {h}", c.name),
                        ));
                    }
                }
            }
        }
    },
};

pub const PRIORITY_CLASS_MISSING: Rule = Rule {
    id: "priority-class-missing",
    severity: Severity::Info,
    summary: "A workload has no priorityClassName",
    explanation: "Without a priority class the pods share the default priority with every batch \
job: under pressure they may be preempted or left Pending while less important pods run.\n\nFix: \
set `priorityClassName` to a class that reflects how important the service is.",
    fix: None,
    check: |ctx, out| {
        for (i, w) in workloads(ctx) {
            if matches!(w.kind, WorkloadKind::Pod | WorkloadKind::ReplicaSet) {
                continue;
            }
            if w.spec
                .priority_class_name
                .as_deref()
                .is_none_or(str::is_empty)
            {
                out.push(ctx.hit(i, None, "no priorityClassName".to_owned()));
            }
        }
    },
};

#[allow(dead_code)]
fn _unused(_: &Hit) {}
