//! Removed API versions and ReplicationControllers (issue 13 part 5): read with the current
//! type, judged by every rule, and the removed version reported with its replacement.

use steady_check::{Config, check_text};

fn findings(text: &str) -> Vec<(String, &'static str, String)> {
    let (loaded, findings) = check_text("old.yaml", text, &Config::default());
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    findings
        .iter()
        .map(|f| {
            (
                loaded.objects[f.object].display(),
                f.rule,
                f.message.clone(),
            )
        })
        .collect()
}

const POD: &str = "    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n      - name: web\n        image: x\n        ports: [{containerPort: 80}]\n";

#[test]
fn removed_workload_and_budget_versions_are_read_and_reported() {
    for (api, kind, removed, replacement) in [
        ("extensions/v1beta1", "Deployment", "1.16", "apps/v1"),
        ("apps/v1beta1", "Deployment", "1.16", "apps/v1"),
        ("apps/v1beta2", "Deployment", "1.16", "apps/v1"),
        ("extensions/v1beta1", "DaemonSet", "1.16", "apps/v1"),
        ("apps/v1beta2", "DaemonSet", "1.16", "apps/v1"),
        ("apps/v1beta1", "StatefulSet", "1.16", "apps/v1"),
        ("apps/v1beta2", "StatefulSet", "1.16", "apps/v1"),
        ("extensions/v1beta1", "ReplicaSet", "1.16", "apps/v1"),
    ] {
        // The old versions defaulted the selector to the template labels; v1beta2 required it.
        let selector = if api == "apps/v1beta2" {
            "  selector:\n    matchLabels:\n      app: web\n"
        } else {
            ""
        };
        let text = format!(
            "apiVersion: {api}\nkind: {kind}\nmetadata:\n  name: web\nspec:\n  replicas: 1\n{selector}  template:\n{POD}"
        );
        let got = findings(&text);
        let removed_finding = got
            .iter()
            .find(|(_, r, _)| *r == "api-removed")
            .unwrap_or_else(|| panic!("{api} {kind}: {got:?}"));
        assert!(
            removed_finding.2.contains(removed) && removed_finding.2.contains(replacement),
            "{}",
            removed_finding.2
        );
        assert!(removed_finding.2.contains(api), "{}", removed_finding.2);
        // The other rules run on it.
        assert!(
            got.iter().any(|(_, r, _)| *r == "probe-liveness-missing"),
            "{api} {kind}: {got:?}"
        );
        if kind != "DaemonSet" {
            assert!(
                got.iter().any(|(_, r, _)| *r == "replicas-single"),
                "{api} {kind}: {got:?}"
            );
        }
        assert!(
            !got.iter()
                .any(|(_, r, _)| *r == "selector-template-mismatch" || *r == "workload-invalid"),
            "{api} {kind}: {got:?}"
        );
    }

    // A policy/v1beta1 budget covers its workload and is judged like a policy/v1 one.
    let text = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 3\n  selector:\n    matchLabels:\n      app: web\n  template:\n{POD}---\napiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata:\n  name: web\nspec:\n  minAvailable: 3\n  selector:\n    matchLabels:\n      app: web\n"
    );
    let got = findings(&text);
    assert!(
        !got.iter().any(|(_, r, _)| *r == "budget-missing"),
        "{got:?}"
    );
    assert!(got.iter().any(|(o, r, m)| o == "PodDisruptionBudget/web"
        && *r == "api-removed"
        && m.contains("1.25")
        && m.contains("policy/v1")));
    assert!(
        got.iter().any(|(_, r, _)| *r == "budget-blocks-drain"),
        "{got:?}"
    );
}

#[test]
fn autoscaling_v2beta2_is_read_as_v2() {
    let text = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n    matchLabels:\n      app: web\n  template:\n{POD}---\napiVersion: autoscaling/v2beta2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: web\nspec:\n  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: web}}\n  maxReplicas: 5\n"
    );
    let got = findings(&text);
    assert!(
        got.iter()
            .any(|(o, r, m)| o == "HorizontalPodAutoscaler/web"
                && *r == "api-removed"
                && m.contains("1.26"))
    );
    assert!(
        got.iter().any(|(_, r, _)| *r == "hpa-min-replicas-single"),
        "{got:?}"
    );
}

#[test]
fn a_replication_controller_is_a_workload() {
    let text = format!(
        "apiVersion: v1\nkind: ReplicationController\nmetadata:\n  name: web\nspec:\n  replicas: 3\n  template:\n{POD}---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector:\n    app: web\n  ports: [{{port: 80}}]\n"
    );
    let got = findings(&text);
    for want in [
        "probe-readiness-missing",
        "probe-liveness-missing",
        "budget-missing",
        "spread-missing",
    ] {
        assert!(
            got.iter()
                .any(|(o, r, _)| o == "ReplicationController/web" && *r == want),
            "{want}: {got:?}"
        );
    }
    assert!(
        !got.iter().any(|(_, r, _)| *r == "service-selects-nothing"),
        "{got:?}"
    );
}
