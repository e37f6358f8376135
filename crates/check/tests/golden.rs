//! Golden files for every output format (tests/golden/*), and the SARIF output validated against
//! the SARIF 2.1.0 JSON schema. `UPDATE_GOLDEN=1 cargo test -p steady-check --test golden`
//! rewrites the golden files after an intended change.

use std::path::{Path, PathBuf};

use steady_check::load::{self, Loaded};
use steady_check::report::{Format, Report, render};
use steady_check::{Config, rules};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The broken example plus a file with a malformed document, with paths as a user types them.
fn input() -> Loaded {
    let mut all = Loaded::default();
    for rel in [
        "examples/check/broken/app.yaml",
        "crates/check/tests/fixtures/input/mixed.yaml",
    ] {
        let text = std::fs::read_to_string(root().join(rel)).unwrap();
        let l = load::load_text(rel, &text, "default");
        all.objects.extend(l.objects);
        all.errors.extend(l.errors);
        all.files += 1;
    }
    all
}

fn rendered(format: Format) -> String {
    let l = input();
    let findings = rules::run(&l.objects, &Config::default());
    render(
        format,
        &Report {
            objects: &l.objects,
            findings: &findings,
            input_errors: &l.errors,
            files: l.files,
        },
        false,
    )
}

fn golden(name: &str, got: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, got).unwrap();
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1)", path.display()));
    assert_eq!(got, want, "{name} differs from its golden file");
}

#[test]
fn human_golden() {
    let got = rendered(Format::Human);
    assert!(got.contains("input error: crates/check/tests/fixtures/input/mixed.yaml:"));
    assert!(!got.contains('\x1b'), "no colour when asked for none");
    golden("broken.txt", &got);
}

#[test]
fn json_golden() {
    let got = rendered(Format::Json);
    let v: serde_json::Value = serde_json::from_str(&got).unwrap();
    assert_eq!(v["version"], 1);
    assert_eq!(
        v["summary"]["findings"].as_u64().unwrap() as usize,
        v["findings"].as_array().unwrap().len()
    );
    golden("broken.json", &got);
}

#[test]
fn junit_golden() {
    let got = rendered(Format::Junit);
    assert!(got.starts_with("<?xml"));
    assert_eq!(got.matches("<testsuite ").count(), 3);
    golden("broken.junit.xml", &got);
}

#[test]
fn sarif_golden() {
    golden("broken.sarif", &rendered(Format::Sarif));
}

/// The schema is a committed copy (tests/sarif/README.md says where it comes from): the test
/// must not read other packages' sources from the cargo cache, which a fresh machine does not
/// have.
fn sarif_schema() -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sarif/sarif-schema-2.1.0.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn sarif_is_valid_sarif_2_1_0() {
    let schema = sarif_schema();
    assert_eq!(
        schema["title"],
        "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"
    );
    let validator = jsonschema::validator_for(&schema).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&rendered(Format::Sarif)).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    // The validator must reject a broken document, or the check above proves nothing.
    let mut bad = doc.clone();
    bad["runs"][0]["results"][0]["level"] = "fatal".into();
    assert!(!validator.is_valid(&bad));
    // And the typed model of serde-sarif reads it back.
    let typed: serde_sarif::sarif::Sarif = serde_json::from_value(doc.clone()).unwrap();
    assert_eq!(typed.runs.len(), 1);
    // GitHub code scanning needs a file and a line for each result.
    for r in doc["runs"][0]["results"].as_array().unwrap() {
        let loc = &r["locations"][0]["physicalLocation"];
        assert!(
            loc["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
                .ends_with(".yaml")
        );
        assert!(loc["region"]["startLine"].as_u64().unwrap() >= 1);
    }
}
