//! Never panic on input: every prefix of real manifests, and some hostile documents, load and
//! check (and plan fixes) without a panic, each malformed document reported with a line.

use steady_check::fix::{Options, plan};
use steady_check::{Config, check_text};

#[test]
fn every_prefix_of_the_examples_checks_without_panic() {
    let cfg = Config::default();
    for rel in ["broken/app.yaml", "fixed/app.yaml"] {
        let text = std::fs::read_to_string(format!(
            "{}/../../examples/check/{rel}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let mut cuts = 0;
        for (i, _) in text.char_indices().step_by(7) {
            let prefix = &text[..i];
            let (loaded, _) = check_text("p.yaml", prefix, &cfg);
            for e in &loaded.errors {
                assert!(e.line >= 1, "{e}");
            }
            let _ = plan("p.yaml", prefix, &cfg, &Options::default());
            cuts += 1;
        }
        assert!(cuts > 100);
    }
}

#[test]
fn hostile_documents_are_reported_or_ignored() {
    let cases = [
        "- just\n- a list\n",
        "plain scalar\n",
        "kind: Deployment\napiVersion: apps/v1\nspec: [1, 2]\n",
        "kind: Deployment\nspec:\n  replicas: 99999999999999999999\n",
        "kind: Service\nspec: {selector: {app: *nope}}\n",
        "a: &x [*x]\n",
        "kind: PodDisruptionBudget\napiVersion: policy/v1\nmetadata: {name: p}\nspec: {minAvailable: \"-5%\", selector: {matchExpressions: [{key: a, operator: Has}]}}\n",
        "\t\tkind: x\n",
        "---\n---\n...\n---\n",
        "kind: List\nitems: 3\n",
        "{\"kind\": \"Service\", \"apiVersion\": \"v1\", \"metadata\": {\"name\": \"j\"}}",
    ];
    for c in cases {
        let (loaded, findings) = check_text("h.yaml", c, &Config::default());
        for e in &loaded.errors {
            assert!(e.line >= 1, "{c:?}: {e}");
        }
        let _ = findings;
    }
    // The invalid budget is loaded and reported as such, not dropped.
    let (_, findings) = check_text("h.yaml", cases[6], &Config::default());
    let invalid = findings
        .iter()
        .find(|f| f.rule == "budget-invalid")
        .unwrap();
    assert!(invalid.message.contains("negative"), "{}", invalid.message);
    assert!(invalid.message.contains("Has"), "{}", invalid.message);
    // A wrongly typed field is an input error with the field's path and line.
    let (loaded, _) = check_text("h.yaml", cases[2], &Config::default());
    assert_eq!(loaded.errors.len(), 1, "{:?}", loaded.errors);
    assert_eq!(loaded.errors[0].line, 3);
    assert!(
        loaded.errors[0].message.contains("at spec:"),
        "{}",
        loaded.errors[0]
    );
}
