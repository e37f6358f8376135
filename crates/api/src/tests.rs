use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::core::ObjectMeta;
use serde_json::json;
use steady_budget::{Operation, Policy, Target};

use super::*;

fn budget(spec: serde_json::Value) -> PodUnavailableBudget {
    serde_json::from_value(json!({
        "apiVersion": "policy.steady.dev/v1alpha1",
        "kind": "PodUnavailableBudget",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": spec,
    }))
    .expect("test budget deserializes")
}

/// The messages the API server would give, evaluated client-side over the generated schema.
fn schema_errors(b: &PodUnavailableBudget) -> Vec<String> {
    match kube::core::cel::validate_cel(b) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.to_string().lines().map(str::to_owned).collect(),
    }
}

#[test]
fn schema_accepts_good_budgets() {
    for spec in [
        json!({"selector": {"matchLabels": {"app": "web"}}, "maxUnavailable": 1}),
        json!({"selector": {"matchLabels": {"app": "web"}}, "minAvailable": "60%"}),
        json!({"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "maxUnavailable": "100%"}),
        json!({"targetRef": {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db"}, "minAvailable": 0}),
        json!({"selector": {}, "maxUnavailable": "0%", "protectOperations": ["Delete", "Evict"]}),
    ] {
        let b = budget(spec.clone());
        assert_eq!(schema_errors(&b), Vec::<String>::new(), "{spec}");
        b.spec
            .to_budget_spec()
            .unwrap_or_else(|e| panic!("{spec}: {e}"));
    }
}

#[test]
fn schema_refuses_both_or_neither_target_with_a_readable_message() {
    let both = budget(json!({
        "selector": {"matchLabels": {"app": "web"}},
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "maxUnavailable": 1
    }));
    let errors = schema_errors(&both).join("\n");
    assert!(
        errors.contains("set exactly one of spec.selector and spec.targetRef"),
        "{errors}"
    );
    assert_eq!(both.spec.to_budget_spec(), Err(SpecError::Target("both")));

    let neither = budget(json!({"maxUnavailable": 1}));
    let errors = schema_errors(&neither).join("\n");
    assert!(
        errors.contains("set exactly one of spec.selector and spec.targetRef"),
        "{errors}"
    );
}

#[test]
fn schema_refuses_both_or_neither_policy() {
    for spec in [
        json!({"selector": {}, "minAvailable": 1, "maxUnavailable": 1}),
        json!({"selector": {}}),
    ] {
        let errors = schema_errors(&budget(spec.clone())).join("\n");
        assert!(
            errors.contains("set exactly one of spec.minAvailable and spec.maxUnavailable"),
            "{spec}: {errors}"
        );
    }
}

#[test]
fn schema_refuses_bad_values() {
    for (field, value) in [
        ("maxUnavailable", json!("150%")),
        ("maxUnavailable", json!(-1)),
        ("minAvailable", json!("abc")),
        ("minAvailable", json!("10.5%")),
        ("minAvailable", json!("101%")),
        ("minAvailable", json!(" 5")),
    ] {
        let b = budget(json!({"selector": {}, field: value}));
        let errors = schema_errors(&b).join("\n");
        assert!(
            errors.contains(&format!("{field} must be an integer >= 0")),
            "{field}={value}: {errors}"
        );
        assert!(b.spec.to_budget_spec().is_err(), "{field}={value} converts");
    }
}

#[test]
fn converts_to_the_engine_spec() {
    let spec = PodUnavailableBudgetSpec {
        selector: Some(LabelSelector {
            match_labels: Some([("app".to_owned(), "web".to_owned())].into()),
            match_expressions: None,
        }),
        max_unavailable: Some(IntOrString::String("25%".into())),
        protect_operations: Some(vec![ProtectOperation::Evict, ProtectOperation::Resize]),
        unhealthy_pod_policy: Some(UnhealthyPodPolicy::AlwaysAllow),
        total_replicas: Some(8),
        ..Default::default()
    };
    let b = spec.to_budget_spec().unwrap();
    assert!(matches!(b.target, Target::Selector(ref s) if s.to_string() == "app=web"));
    assert_eq!(
        b.policy,
        Policy::MaxUnavailable(steady_budget::IntOrPercent::Percent(25))
    );
    assert!(b.protect.contains(Operation::Evict) && b.protect.contains(Operation::Resize));
    assert!(!b.protect.contains(Operation::Delete) && !b.protect.contains(Operation::Update));
    assert_eq!(
        b.unhealthy_pod_policy,
        steady_budget::UnhealthyPodPolicy::AlwaysAllow
    );
    assert_eq!(b.total_replicas, Some(8));

    let default_ops = PodUnavailableBudgetSpec {
        protect_operations: None,
        unhealthy_pod_policy: None,
        ..spec
    };
    let b = default_ops.to_budget_spec().unwrap();
    assert!(Operation::ALL.iter().all(|op| b.protect.contains(*op)));
    assert_eq!(
        b.unhealthy_pod_policy,
        steady_budget::UnhealthyPodPolicy::IfHealthyBudget
    );
}

#[test]
fn conversion_names_the_field_at_fault() {
    let spec = PodUnavailableBudgetSpec {
        target_ref: Some(TargetReference {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            name: "web".into(),
        }),
        min_available: Some(IntOrString::String("150%".into())),
        ..Default::default()
    };
    let msg = spec.to_budget_spec().unwrap_err().to_string();
    assert!(
        msg.starts_with("spec.minAvailable:") && msg.contains("150%"),
        "{msg}"
    );
}

#[test]
fn status_round_trips_through_the_wire_form() {
    let mut b = budget(json!({"selector": {}, "maxUnavailable": 1}));
    b.metadata = ObjectMeta {
        name: Some("web".into()),
        ..b.metadata
    };
    b.status = Some(steady_budget::BudgetStatus {
        observed_generation: 3,
        unavailable_allowed: 1,
        disrupted_pods: [("web-1".to_owned(), "2026-11-22T03:00:06Z".parse().unwrap())].into(),
        ..Default::default()
    });
    let wire = serde_json::to_value(&b).unwrap();
    assert_eq!(
        wire["status"]["disruptedPods"]["web-1"],
        "2026-11-22T03:00:06Z"
    );
    assert_eq!(wire["status"]["observedGeneration"], 3);
    let back: PodUnavailableBudget = serde_json::from_value(wire).unwrap();
    assert_eq!(back.status, b.status);
}

#[test]
fn crd_has_the_names_and_columns_of_the_design() {
    let crd = crd();
    assert_eq!(
        crd.metadata.name.as_deref(),
        Some("podunavailablebudgets.policy.steady.dev")
    );
    assert_eq!(crd.spec.names.short_names, Some(vec!["pub".to_owned()]));
    assert_eq!(crd.spec.scope, "Namespaced");
    let v = &crd.spec.versions[0];
    assert_eq!(v.name, VERSION);
    let columns: Vec<_> = v
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(columns, ["Allowed", "Current", "Desired", "Total", "Age"]);
    assert!(
        v.subresources
            .as_ref()
            .and_then(|s| s.status.as_ref())
            .is_some()
    );
    assert!(!crd_yaml().unwrap().contains("nullable"));
}

#[test]
fn committed_crd_matches_the_generated_one() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/crd.yaml");
    let generated = crd_yaml().unwrap();
    if std::env::var_os("STEADY_BLESS").is_some() {
        std::fs::write(path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "deploy/crd.yaml is stale: run `steady crd > deploy/crd.yaml` (or `STEADY_BLESS=1 cargo test -p steady-api`) and commit it"
    );
}
