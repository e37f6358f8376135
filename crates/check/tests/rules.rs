//! One pass and one fail fixture per rule (tests/fixtures/rules/<id>/{pass,fail}.yaml): the fail
//! fixture must raise the rule, the pass fixture must not. A rule without fixtures fails the test.

use steady_check::{Config, check_text, rules};

fn fixture(id: &str, which: &str) -> (String, String) {
    let path = format!(
        "{}/tests/fixtures/rules/{id}/{which}.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("rule {id} needs a {which} fixture at {path}: {e}"));
    (path, text)
}

#[test]
fn every_rule_fires_on_its_fail_fixture_and_not_on_its_pass_fixture() {
    let cfg = Config::default();
    let mut problems = Vec::new();
    for rule in rules::all() {
        for (which, want) in [("fail", true), ("pass", false)] {
            let (path, text) = fixture(rule.id, which);
            let (loaded, findings) = check_text(&path, &text, &cfg);
            assert!(loaded.errors.is_empty(), "{path}: {:?}", loaded.errors);
            assert!(!loaded.objects.is_empty(), "{path}: no objects");
            let got: Vec<_> = findings.iter().filter(|f| f.rule == rule.id).collect();
            if got.is_empty() == want {
                problems.push(format!(
                    "{}: {which} fixture {} ({:?})",
                    rule.id,
                    if want { "raised nothing" } else { "raised it" },
                    got.iter().map(|f| &f.message).collect::<Vec<_>>()
                ));
            }
            // Every finding names an object of the fixture with a line in the file.
            for f in &findings {
                assert!(loaded.objects[f.object].source.line > 0);
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn rules_have_unique_kebab_ids_summaries_and_fix_explanations() {
    let mut ids = std::collections::BTreeSet::new();
    for r in rules::all() {
        assert!(ids.insert(r.id), "duplicate id {}", r.id);
        assert!(
            r.id.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
            "{}",
            r.id
        );
        assert!(
            !r.summary.is_empty() && !r.summary.contains('\n'),
            "{}",
            r.id
        );
        assert!(r.explanation.contains("Fix:"), "{} explains no fix", r.id);
    }
    assert!(ids.len() >= 30);
}
