//! Timeline operations as a scenario's timeline names them: drains, cordon, uncordon,
//! rollouts, scaling, HPA-like steps, in-place updates and resizes, and node failures, checked
//! against the model. Each records when it started and finished, and every refusal it met, by
//! budget; `timeline` runs them.

use std::collections::BTreeMap;

use steady_budget::{Operation, resize_restart, update_restart};

use crate::denials::DenialStat;
use crate::drain::DrainOp;
use crate::in_place::{InPlaceOp, image_change, resource_change};
use crate::model::{Model, nodes_of_zone};
use crate::scenario::{Invalid, Scenario, Step};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Outcome {
    NotStarted,
    Running,
    Done,
    TimedOut,
}

pub enum OpKind {
    Drain(DrainOp),
    InPlace(InPlaceOp),
    Cordon(Vec<usize>),
    Uncordon(Vec<usize>),
    Rollout(usize),
    Scale(usize, i32),
    Hpa {
        workload: usize,
        steps: Vec<i32>,
        every: u64,
        applied: usize,
    },
    Fail {
        node: usize,
        recover: Option<u64>,
    },
}

pub struct Op {
    pub name: Option<String>,
    pub label: String,
    pub at: u64,
    pub after: Option<usize>,
    pub kind: OpKind,
    pub started: Option<u64>,
    pub finished: Option<u64>,
    pub outcome: Outcome,
    pub denials: BTreeMap<String, DenialStat>,
}

fn invalid(field: String, message: impl Into<String>) -> Invalid {
    Invalid {
        field,
        message: message.into(),
    }
}

pub fn build(s: &Scenario, m: &Model) -> Result<Vec<Op>, Invalid> {
    let names: Vec<Option<&str>> = s.timeline.iter().map(|t| t.name.as_deref()).collect();
    let mut ops = Vec::new();
    for (i, step) in s.timeline.iter().enumerate() {
        let f = format!("timeline[{i}]");
        let after = match &step.after {
            None => None,
            Some(a) => {
                let j = names
                    .iter()
                    .position(|n| *n == Some(a.as_str()))
                    .ok_or_else(|| {
                        invalid(
                            format!("{f}.after"),
                            format!("no step is named {a:?}; give that step `name: {a}`"),
                        )
                    })?;
                if j >= i {
                    return Err(invalid(
                        format!("{f}.after"),
                        format!("step {a:?} must come earlier in the timeline"),
                    ));
                }
                Some(j)
            }
        };
        let (label, kind) = op_kind(step, &f, m)?;
        ops.push(Op {
            name: step.name.clone(),
            label,
            at: step.at.map(|d| d.0).unwrap_or(0),
            after,
            kind,
            started: None,
            finished: None,
            outcome: Outcome::NotStarted,
            denials: BTreeMap::new(),
        });
    }
    Ok(ops)
}

fn node(m: &Model, name: &str, field: &str) -> Result<usize, Invalid> {
    m.node_index.get(name).copied().ok_or_else(|| {
        invalid(
            field.to_owned(),
            format!("node {name:?} is not in the cluster; check cluster.nodes"),
        )
    })
}

fn workload(m: &Model, name: &str, field: &str) -> Result<usize, Invalid> {
    m.workload_index.get(name).copied().ok_or_else(|| {
        invalid(
            field.to_owned(),
            format!("workload {name:?} is not in workloads"),
        )
    })
}

fn op_kind(step: &Step, f: &str, m: &Model) -> Result<(String, OpKind), Invalid> {
    let set = [
        step.drain.is_some(),
        step.cordon.is_some(),
        step.uncordon.is_some(),
        step.rollout.is_some(),
        step.scale.is_some(),
        step.hpa.is_some(),
        step.fail_node.is_some(),
        step.update.is_some(),
        step.resize.is_some(),
    ];
    if set.iter().filter(|x| **x).count() != 1 {
        return Err(invalid(
            f.to_owned(),
            "each step needs exactly one of drain, cordon, uncordon, rollout, scale, hpa, failNode, update, resize",
        ));
    }
    if let Some(u) = &step.update {
        let w = workload(m, &u.workload, &format!("{f}.update.workload"))?;
        let parallel = parallel_of(u.parallel, &format!("{f}.update.parallel"))?;
        let (old, new) = image_change();
        return Ok((
            format!("in-place update {}", u.workload),
            OpKind::InPlace(InPlaceOp::new(
                w,
                Operation::Update,
                update_restart(&old, &new),
                parallel,
            )),
        ));
    }
    if let Some(r) = &step.resize {
        let w = workload(m, &r.workload, &format!("{f}.resize.workload"))?;
        let parallel = parallel_of(r.parallel, &format!("{f}.resize.parallel"))?;
        let resource = r.resource.as_deref().unwrap_or("cpu");
        let policy = r.restart_policy.as_deref().unwrap_or("NotRequired");
        if !matches!(resource, "cpu" | "memory") {
            return Err(invalid(
                format!("{f}.resize.resource"),
                format!("{resource:?} is not cpu or memory"),
            ));
        }
        if !matches!(policy, "NotRequired" | "RestartContainer") {
            return Err(invalid(
                format!("{f}.resize.restartPolicy"),
                format!("{policy:?} is not NotRequired or RestartContainer"),
            ));
        }
        let (old, new) = resource_change(resource, policy);
        return Ok((
            format!("resize {} {resource}", r.workload),
            OpKind::InPlace(InPlaceOp::new(
                w,
                Operation::Resize,
                resize_restart(&old, &new),
                parallel,
            )),
        ));
    }
    if let Some(d) = &step.drain {
        let mut nodes = Vec::new();
        for n in &d.nodes {
            nodes.push(node(m, n, &format!("{f}.drain.nodes"))?);
        }
        for z in &d.zones {
            let zn = nodes_of_zone(&m.nodes, z);
            if zn.is_empty() {
                return Err(invalid(
                    format!("{f}.drain.zones"),
                    format!("no node is in zone {z:?}"),
                ));
            }
            nodes.extend(zn);
        }
        if nodes.is_empty() {
            return Err(invalid(
                format!("{f}.drain"),
                "name nodes or zones to drain",
            ));
        }
        let parallel = d.parallel.unwrap_or(1);
        if parallel == 0 {
            return Err(invalid(format!("{f}.drain.parallel"), "must be at least 1"));
        }
        let what = if !d.zones.is_empty() {
            d.zones.join(", ")
        } else if nodes.len() > 3 {
            format!("{} nodes", nodes.len())
        } else {
            d.nodes.join(", ")
        };
        let label = if parallel > 1 {
            format!("drain {what} ({parallel} at a time)")
        } else {
            format!("drain {what}")
        };
        return Ok((
            label,
            OpKind::Drain(DrainOp {
                nodes,
                next: 0,
                active: Vec::new(),
                parallel: parallel as usize,
                timeout: d.timeout.map(|t| t.0),
                uncordon: d.uncordon,
                downtime: d.downtime.map(|t| t.0).unwrap_or(0),
                drained: Vec::new(),
                node_started: BTreeMap::new(),
            }),
        ));
    }
    if let Some(c) = step.cordon.as_ref().or(step.uncordon.as_ref()) {
        let nodes = c
            .nodes
            .iter()
            .map(|n| node(m, n, &format!("{f}.nodes")))
            .collect::<Result<Vec<_>, _>>()?;
        let verb = if step.cordon.is_some() {
            "cordon"
        } else {
            "uncordon"
        };
        let label = format!("{verb} {}", c.nodes.join(", "));
        let kind = if step.cordon.is_some() {
            OpKind::Cordon(nodes)
        } else {
            OpKind::Uncordon(nodes)
        };
        return Ok((label, kind));
    }
    if let Some(r) = &step.rollout {
        let w = workload(m, &r.workload, &format!("{f}.rollout.workload"))?;
        return Ok((format!("rollout {}", r.workload), OpKind::Rollout(w)));
    }
    if let Some(s) = &step.scale {
        let w = workload(m, &s.workload, &format!("{f}.scale.workload"))?;
        return Ok((
            format!("scale {} to {}", s.workload, s.replicas),
            OpKind::Scale(w, s.replicas as i32),
        ));
    }
    if let Some(h) = &step.hpa {
        let w = workload(m, &h.workload, &format!("{f}.hpa.workload"))?;
        if h.replicas.is_empty() {
            return Err(invalid(
                format!("{f}.hpa.replicas"),
                "list at least one replica count",
            ));
        }
        let steps: Vec<String> = h.replicas.iter().map(u32::to_string).collect();
        return Ok((
            format!("hpa {} {}", h.workload, steps.join("→")),
            OpKind::Hpa {
                workload: w,
                steps: h.replicas.iter().map(|r| *r as i32).collect(),
                every: h.every.map(|d| d.0).unwrap_or(30_000),
                applied: 0,
            },
        ));
    }
    let fnode = step
        .fail_node
        .as_ref()
        .ok_or_else(|| invalid(f.to_owned(), "empty step"))?;
    let n = node(m, &fnode.node, &format!("{f}.failNode.node"))?;
    Ok((
        format!("node {} fails", fnode.node),
        OpKind::Fail {
            node: n,
            recover: fnode.recover_after.map(|d| d.0),
        },
    ))
}

fn parallel_of(p: Option<u32>, field: &str) -> Result<usize, Invalid> {
    match p.unwrap_or(1) {
        0 => Err(invalid(field.to_owned(), "must be at least 1")),
        n => Ok(n as usize),
    }
}
