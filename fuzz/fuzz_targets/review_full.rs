//! The full read of an AdmissionReview, as the guard does it where a budget may apply: the
//! envelope, then the pod(s) it carries as typed Pods, the facts the engine needs, and whether an
//! update or resize restarts a container. Never a panic, whatever the body.
#![no_main]

use k8s_openapi::api::core::v1::Pod;
use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;
use steady_budget::{PodFacts, resize_restart, update_restart};
use steady_guard::admission::review::{Answer, Refusal, Subject, parse, response};

fn pod(raw: &RawValue) -> Option<Pod> {
    serde_json::from_str(raw.get()).ok()
}

fuzz_target!(|body: &[u8]| {
    let Ok(r) = parse(body) else { return };
    match r.subject {
        Subject::Delete { old: Some(raw) } => {
            if let Some(p) = pod(raw) {
                let _ = PodFacts::from_pod(&p);
            }
        }
        Subject::Update { old, new } | Subject::Resize { old, new } => {
            if let (Some(o), Some(n)) = (pod(old), pod(new)) {
                let _ = PodFacts::from_pod(&o);
                let (os, ns) = (o.spec.unwrap_or_default(), n.spec.unwrap_or_default());
                if let Some(restart) = update_restart(&os, &ns) {
                    let _ = restart.to_string();
                }
                if let Some(restart) = resize_restart(&os, &ns) {
                    let _ = restart.to_string();
                }
            }
        }
        _ => {}
    }
    // A refusal carrying the request's own strings is still valid JSON.
    let refusal = Refusal {
        code: 429,
        reason: "TooManyRequests",
        message: format!("cannot touch pod {}/{} ({})", r.namespace, r.name, r.user),
        cause: r.user.to_string(),
        retry_after_seconds: 0,
    };
    let out: serde_json::Value = serde_json::from_slice(&response(&r.uid, &Answer::deny(refusal)))
        .expect("the answer is JSON");
    assert_eq!(out["response"]["allowed"], false);
});
