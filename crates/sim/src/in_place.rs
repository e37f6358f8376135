//! In-place changes: an update or resize of every pod of a workload, `parallel` pods at a time,
//! each asked of the budgets as the webhook is asked; a refusal is retried every 5 s.

use std::collections::VecDeque;

use k8s_openapi::api::core::v1::{Container, ContainerResizePolicy, PodSpec, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use steady_budget::{Denial, Operation, Restart};

use crate::clock::{Clock, Ev};
use crate::denials::DRAIN_RETRY_MS;
use crate::world::World;

/// An in-place change of every pod of a workload, `parallel` pods at a time.
pub struct InPlaceOp {
    pub workload: usize,
    /// `Update` or `Resize`: what the webhook is asked.
    pub operation: Operation,
    /// Why the change restarts a container, as steady-budget's `update_restart` /
    /// `resize_restart` judge it; None: not a disruption, applied without asking.
    pub restart: Option<Restart>,
    pub parallel: usize,
    pub queue: VecDeque<usize>,
    /// (pod, restarted yet)
    pub active: Vec<(usize, bool)>,
    pub changed: usize,
}

impl InPlaceOp {
    pub fn new(w: usize, operation: Operation, restart: Option<Restart>, parallel: usize) -> Self {
        Self {
            workload: w,
            operation,
            restart,
            parallel,
            queue: VecDeque::new(),
            active: Vec::new(),
            changed: 0,
        }
    }

    /// The change starts: every live pod of the workload is queued. Returns true when it is
    /// done at once (no container restarts).
    pub fn start(&mut self, world: &mut World) -> bool {
        if self.restart.is_some() {
            // The change asks for each pod by id, the unbound ones too.
            world.record_unbound_of(self.workload);
        }
        let unbound = world.pending().in_runs(self.workload);
        let pods: VecDeque<usize> = world.model().workloads[self.workload]
            .pods
            .iter()
            .copied()
            .filter(|&p| !world.pods()[p].gone && !world.pods()[p].facts.terminating)
            .collect();
        if self.restart.is_none() {
            // No container restarts: not a disruption, so the webhook allows it without asking
            // a budget, and every pod keeps serving.
            self.changed = pods.len() + unbound;
            return true;
        }
        self.queue = pods;
        // `advance` starts the first `parallel` pods at this instant.
        false
    }

    /// Asks for pod `p`'s change (operation `op`); allowed, its container restarts: not Ready
    /// until the workload's readiness delay has passed, still on its node. Refused: retried in
    /// 5 s, and the refusal returned.
    pub fn change(
        &mut self,
        world: &mut World,
        clock: &mut Clock,
        op: usize,
        p: usize,
    ) -> Result<(), Box<Denial>> {
        if !self.active.contains(&(p, false)) {
            return Ok(());
        }
        let pod = &world.pods()[p];
        if pod.gone || pod.facts.terminating {
            return Ok(());
        }
        match world.ask(p, self.operation) {
            Ok(()) => {
                if let Some(a) = self.active.iter_mut().find(|a| a.0 == p) {
                    a.1 = true;
                    self.changed += 1;
                }
                world.restart(clock, p);
                Ok(())
            }
            Err(d) => {
                clock.push_repeat(world.now(), DRAIN_RETRY_MS, Ev::InPlace { op, pod: p });
                Err(d)
            }
        }
    }

    /// Moves the change (operation `i`) on: pods whose restart is over (available again, or
    /// gone) leave the active set and the next ones are asked for. Returns true when the last
    /// pod is done.
    pub fn advance(&mut self, world: &World, clock: &mut Clock, i: usize) -> bool {
        let pods = world.pods();
        self.active.retain(|&(p, restarted)| {
            let pod = &pods[p];
            if pod.gone || pod.facts.terminating {
                return false;
            }
            !(restarted && world.available(p))
        });
        while self.active.len() < self.parallel
            && let Some(p) = self.queue.pop_front()
        {
            if !pods[p].gone && !pods[p].facts.terminating {
                self.active.push((p, false));
                clock.push(world.now(), Ev::InPlace { op: i, pod: p });
            }
        }
        self.active.is_empty() && self.queue.is_empty()
    }
}

fn container(image: &str) -> Container {
    Container {
        name: "app".into(),
        image: Some(image.into()),
        ..Container::default()
    }
}

/// The pod spec before and after an in-place update: a new image, as a controller that updates
/// pods in place writes it.
pub fn image_change() -> (PodSpec, PodSpec) {
    let spec = |image| PodSpec {
        containers: vec![container(image)],
        ..PodSpec::default()
    };
    (spec("app:1"), spec("app:2"))
}

/// The pod spec before and after a resize that doubles `resource`, with `policy` as the
/// container's resizePolicy for it.
pub fn resource_change(resource: &str, policy: &str) -> (PodSpec, PodSpec) {
    let spec = |amount: &str| {
        let mut c = container("app:1");
        c.resources = Some(ResourceRequirements {
            requests: Some([(resource.to_owned(), Quantity(amount.into()))].into()),
            ..ResourceRequirements::default()
        });
        c.resize_policy = Some(vec![ContainerResizePolicy {
            resource_name: resource.to_owned(),
            restart_policy: policy.to_owned(),
        }]);
        PodSpec {
            containers: vec![c],
            ..PodSpec::default()
        }
    };
    let (old, new) = if resource == "cpu" {
        ("500m", "1")
    } else {
        ("256Mi", "512Mi")
    };
    (spec(old), spec(new))
}
