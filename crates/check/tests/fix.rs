//! `steady fix`: the fixed findings are gone, and every byte outside the edits is unchanged.

use steady_check::fix::{Options, plan};
use steady_check::{Config, check_text};

fn fixture() -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/fix/app.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn rules_on(text: &str) -> Vec<(String, &'static str)> {
    let (loaded, findings) = check_text("app.yaml", text, &Config::default());
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    findings
        .iter()
        .map(|f| (loaded.objects[f.object].display(), f.rule))
        .collect()
}

/// Removes from `new` the inserted lines (those `old` does not have, in order) and returns what
/// is left; for an insertion-only edit it equals `old`.
fn without_insertions(old: &str, new: &str) -> String {
    let diff = similar::TextDiff::from_lines(old, new);
    diff.iter_all_changes()
        .filter(|c| c.tag() != similar::ChangeTag::Insert)
        .map(|c| c.value().to_owned())
        .collect()
}

#[test]
fn fix_removes_the_fixable_findings_and_keeps_every_other_byte() {
    let old = fixture();
    let before = rules_on(&old);
    for want in [
        ("shop/Deployment/web", "prestop-missing"),
        ("shop/Deployment/web", "spread-missing"),
        ("shop/Deployment/web", "budget-missing"),
        ("shop/StatefulSet/queue", "prestop-exceeds-grace"),
    ] {
        assert!(
            before.iter().any(|(o, r)| o == want.0 && *r == want.1),
            "{want:?} {before:?}"
        );
    }
    let p = plan("app.yaml", &old, &Config::default(), &Options::default());
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    let new = &p.text;
    println!("{new}");

    // Only one existing line changed: the StatefulSet's grace period (value replaced in place,
    // its comment kept); everything else is insertions.
    let diff = similar::TextDiff::from_lines(old.as_str(), new.as_str());
    let deleted: Vec<&str> = diff
        .iter_all_changes()
        .filter(|c| c.tag() == similar::ChangeTag::Delete)
        .map(|c| c.value())
        .collect();
    assert_eq!(
        deleted,
        ["      terminationGracePeriodSeconds: 20    # too short for the hook below\n"]
    );
    assert!(
        new.contains("      terminationGracePeriodSeconds: 25    # too short for the hook below\n")
    );
    let restored = without_insertions(&old, new).replace(
        "terminationGracePeriodSeconds: 25",
        "terminationGracePeriodSeconds: 20",
    );
    assert_eq!(restored, old, "bytes outside the edits changed");
    // Untouched documents are byte-identical substrings.
    for doc in old
        .split("\n---\n")
        .filter(|d| d.contains("ConfigMap") || d.contains("kind: Service"))
    {
        assert!(new.contains(doc));
    }

    let after = rules_on(new);
    for gone in ["prestop-missing", "prestop-exceeds-grace", "spread-missing"] {
        assert!(
            !after.iter().any(|(_, r)| *r == gone),
            "{gone} still raised: {after:?}"
        );
    }
    // The inserted YAML sits at the right indentation: the Deployment's container "web" has the
    // hook, the sidecar without ports does not.
    assert!(new.contains(
        "              memory: 64Mi\n          lifecycle:\n            preStop:\n              sleep:\n                seconds: 10\n        - name: metrics"
    ));
    assert!(new.contains("      topologySpreadConstraints:\n      - maxSkew: 1\n"));
    assert!(new.contains("            app.kubernetes.io/name: web\n      # trailing comment"));

    // A budget file for the Deployment, which together with the fixed file clears budget-missing.
    let names: Vec<&str> = p.new_files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["web-pub.yaml", "queue-pub.yaml"]);
    let both = format!("{new}---\n{}---\n{}", p.new_files[0].1, p.new_files[1].1);
    assert!(!rules_on(&both).iter().any(|(_, r)| *r == "budget-missing"));

    // Idempotent: fixing the fixed text changes nothing more.
    let again = plan(
        "app.yaml",
        new,
        &Config::default(),
        &Options {
            pdb: false,
            only: vec![
                "prestop-missing".into(),
                "prestop-exceeds-grace".into(),
                "spread-missing".into(),
            ],
        },
    );
    assert_eq!(&again.text, new);
}

#[test]
fn pdb_option_writes_a_pod_disruption_budget_with_the_selector() {
    let p = plan(
        "app.yaml",
        &fixture(),
        &Config::default(),
        &Options {
            pdb: true,
            only: vec!["budget-missing".into()],
        },
    );
    assert_eq!(
        p.text,
        fixture(),
        "only a new file, the manifest is untouched"
    );
    let (name, content) = &p.new_files[0];
    assert_eq!(name, "web-pdb.yaml");
    assert!(content.contains("kind: PodDisruptionBudget"));
    assert!(content.contains("namespace: shop"));
    assert!(content.contains("      app.kubernetes.io/name: web\n"));
}

#[test]
fn flow_style_objects_are_reported_not_mangled() {
    let text = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 2, selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web}}, spec: {containers: [{name: web, image: x, ports: [{containerPort: 80}]}]}}}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {selector: {app: web}}\n";
    let p = plan(
        "flow.yaml",
        text,
        &Config::default(),
        &Options {
            pdb: false,
            only: vec!["prestop-missing".into(), "spread-missing".into()],
        },
    );
    assert_eq!(p.text, text);
    assert_eq!(p.errors.len(), 2, "{:?}", p.errors);
    assert!(p.errors[0].message.contains("cannot fix"));
}

#[test]
fn a_file_without_trailing_newline_gets_valid_yaml() {
    let text = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n      - name: web\n        image: x";
    let p = plan(
        "nl.yaml",
        text,
        &Config::default(),
        &Options {
            pdb: false,
            only: vec!["spread-missing".into()],
        },
    );
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    assert!(p.text.starts_with(text));
    assert!(
        !rules_on(&p.text)
            .iter()
            .any(|(_, r)| *r == "spread-missing")
    );
}
