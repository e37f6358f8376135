//! Kubernetes Events: refusals (on the budget and on the pod, naming the requesting user), and the
//! controller's NotDeleted / SyncFailed. Publishing never delays an answer: each Event is sent from
//! its own task, and a failure is only logged.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use steady_budget::{BudgetEvent, BudgetKind, Operation, PodFacts};

use crate::index::BudgetEntry;

#[derive(Clone)]
pub struct Events {
    recorder: Recorder,
}

pub fn budget_ref(b: &BudgetEntry) -> ObjectReference {
    let api_version = match b.id.kind {
        BudgetKind::PodUnavailableBudget => "policy.steady.dev/v1alpha1",
        BudgetKind::PodDisruptionBudget => "policy/v1",
    };
    let kind = b.id.kind.as_str();
    ObjectReference {
        api_version: Some(api_version.into()),
        kind: Some(kind.into()),
        name: Some(b.id.name.clone()),
        namespace: Some(b.id.namespace.clone()),
        uid: b.uid.clone(),
        ..Default::default()
    }
}

fn pod_ref(pod: &PodFacts) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        name: Some(pod.name.clone()),
        namespace: Some(pod.namespace.clone()),
        ..Default::default()
    }
}

/// Event notes are limited to 1 kB by the API server.
fn clip(mut s: String) -> String {
    if s.len() > 1000 {
        let mut end = 997;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push_str("...");
    }
    s
}

impl Events {
    pub fn new(client: Client, instance: Option<String>) -> Self {
        Self {
            recorder: Recorder::new(
                client,
                Reporter {
                    controller: "steady-guard".into(),
                    instance,
                },
            ),
        }
    }

    fn publish(&self, ev: Event, regarding: ObjectReference) {
        let recorder = self.recorder.clone();
        tokio::spawn(async move {
            if let Err(e) = recorder.publish(&ev, &regarding).await {
                tracing::warn!(error = %e, object = ?regarding.name, reason = %ev.reason, "cannot publish an Event");
            }
        });
    }

    /// A refusal: one Event on the budget (related: the pod) and one on the pod (related: the budget).
    pub fn refused(
        &self,
        budget: &BudgetEntry,
        pod: &PodFacts,
        op: Operation,
        user: &str,
        message: &str,
    ) {
        let user = if user.is_empty() {
            "an unknown user"
        } else {
            user
        };
        let note = clip(format!("{user} was refused: {message}"));
        let action = op.as_str().to_owned();
        let (b, p) = (budget_ref(budget), pod_ref(pod));
        self.publish(
            Event {
                type_: EventType::Warning,
                reason: "DisruptionRefused".into(),
                note: Some(note.clone()),
                action: action.clone(),
                secondary: Some(p.clone()),
            },
            b.clone(),
        );
        self.publish(
            Event {
                type_: EventType::Warning,
                reason: "DisruptionRefused".into(),
                note: Some(note),
                action,
                secondary: Some(b),
            },
            p,
        );
    }

    /// The controller could not write a budget's status; it retries after `retry_in`.
    pub fn status_write_failed(
        &self,
        budget: &BudgetEntry,
        reason: &str,
        error: &str,
        retry_in: std::time::Duration,
    ) {
        let what_to_do = match reason {
            "Forbidden" => {
                "check that the guard's ServiceAccount may update podunavailablebudgets/status (steady install grants it)"
            }
            "Invalid" => {
                "the status no longer fits the installed CRD: install the CRD of this steady version"
            }
            _ => "check the API server and the guard's logs",
        };
        self.publish(
            Event {
                type_: EventType::Warning,
                reason: "StatusWriteFailed".into(),
                note: Some(clip(format!(
                    "cannot write the status of {} {}/{} ({reason}): {error}; retrying in {}s; {what_to_do}",
                    budget.id.kind.as_str(),
                    budget.id.namespace,
                    budget.id.name,
                    retry_in.as_secs().max(1),
                ))),
                action: "WriteStatus".into(),
                secondary: None,
            },
            budget_ref(budget),
        );
    }

    /// The controller's events on a budget.
    pub fn budget_event(&self, budget: &BudgetEntry, ev: &BudgetEvent) {
        self.publish(
            Event {
                type_: EventType::Warning,
                reason: ev.reason().into(),
                note: Some(clip(ev.message())),
                action: "Recompute".into(),
                secondary: None,
            },
            budget_ref(budget),
        );
    }
}
