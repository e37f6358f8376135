//! The install manifests in deploy/ parse, carry every object, and keep the properties the guard
//! depends on: evictions and resizes are seen, dry runs are allowed, the guard never waits on
//! itself, and it has no right to delete or evict pods.

use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::rbac::v1::ClusterRole;

fn documents() -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/steady.yaml"
    ))
    .unwrap();
    steady_api::yaml::documents::<serde_json::Value>(&text)
        .expect("every document in deploy/steady.yaml is YAML")
        .into_iter()
        .filter(|v| !v.is_null())
        .collect()
}

fn find<T: serde::de::DeserializeOwned>(docs: &[serde_json::Value], kind: &str) -> T {
    let doc = docs
        .iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("deploy/steady.yaml has no {kind}"));
    serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{kind}: {e}"))
}

#[test]
fn carries_every_object() {
    let docs = documents();
    let kinds: Vec<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
    for kind in [
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Deployment",
        "PodDisruptionBudget",
        "Service",
        "ValidatingWebhookConfiguration",
    ] {
        assert!(
            kinds.contains(&kind),
            "deploy/steady.yaml lacks a {kind}: {kinds:?}"
        );
    }
}

#[test]
fn webhook_sees_evictions_and_resizes_and_allows_dry_runs() {
    let docs = documents();
    let config: ValidatingWebhookConfiguration = find(&docs, "ValidatingWebhookConfiguration");
    let webhook = &config.webhooks.unwrap()[0];
    assert_eq!(webhook.side_effects, "NoneOnDryRun");
    assert_eq!(
        webhook
            .client_config
            .service
            .as_ref()
            .unwrap()
            .path
            .as_deref(),
        Some("/validate/pods")
    );
    let rules = webhook.rules.clone().unwrap();
    let covers = |resource: &str, op: &str| {
        rules.iter().any(|r| {
            r.resources.iter().flatten().any(|x| x == resource)
                && r.operations.iter().flatten().any(|o| o == op)
        })
    };
    assert!(covers("pods", "DELETE") && covers("pods", "UPDATE"));
    assert!(covers("pods/eviction", "CREATE"));
    assert!(covers("pods/resize", "UPDATE"));
    let conditions = webhook.match_conditions.clone().unwrap();
    assert!(
        conditions[0]
            .expression
            .contains("object.spec != oldObject.spec")
    );
    let timeout = webhook.timeout_seconds.unwrap();
    assert!(
        timeout > 8,
        "timeoutSeconds {timeout} must exceed the guard's 8 s request deadline"
    );
    let excluded = webhook
        .namespace_selector
        .as_ref()
        .unwrap()
        .match_expressions
        .clone()
        .unwrap();
    let values = excluded[0].values.clone().unwrap();
    assert!(
        values.contains(&"kube-system".to_owned()) && values.contains(&"steady-system".to_owned())
    );
}

#[test]
fn rbac_grants_no_pod_deletion_or_eviction() {
    let role: ClusterRole = find(&documents(), "ClusterRole");
    for rule in role.rules.unwrap() {
        let pods = rule
            .resources
            .iter()
            .flatten()
            .any(|r| r.starts_with("pods"));
        if pods {
            for verb in &rule.verbs {
                assert!(
                    ["get", "list", "watch"].contains(&verb.as_str()),
                    "pods: {verb}"
                );
            }
            assert!(
                !rule
                    .resources
                    .iter()
                    .flatten()
                    .any(|r| r == "pods/eviction")
            );
        }
        assert!(!rule.verbs.iter().any(|v| v == "*"), "no wildcard verbs");
    }
}

#[test]
fn guard_runs_two_spread_replicas_with_probes() {
    let d: Deployment = find(&documents(), "Deployment");
    let spec = d.spec.unwrap();
    assert_eq!(spec.replicas, Some(2));
    let pod = spec.template.spec.unwrap();
    assert!(pod.topology_spread_constraints.is_some());
    let c = &pod.containers[0];
    assert_eq!(
        c.readiness_probe
            .as_ref()
            .unwrap()
            .http_get
            .as_ref()
            .unwrap()
            .path
            .as_deref(),
        Some("/readyz")
    );
    assert_eq!(
        c.liveness_probe
            .as_ref()
            .unwrap()
            .http_get
            .as_ref()
            .unwrap()
            .path
            .as_deref(),
        Some("/livez")
    );
    let args = c.args.clone().unwrap();
    assert_eq!(args[0], "serve");
}
