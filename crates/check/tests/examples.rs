//! The example app: the broken version reports its mistakes, the fixed one passes clean.

use steady_check::report::{Format, Report, render};
use steady_check::{Config, Severity, check_text};

fn run(path: &str) -> (Vec<(String, &'static str)>, String) {
    let full = format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&full).unwrap();
    let (loaded, findings) = check_text(path, &text, &Config::default());
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let report = Report {
        objects: &loaded.objects,
        findings: &findings,
        input_errors: &loaded.errors,
        files: 1,
    };
    let human = render(Format::Human, &report, false);
    let ids = findings
        .iter()
        .map(|f| (loaded.objects[f.object].display(), f.rule))
        .collect();
    (ids, human)
}

#[test]
fn broken_example_reports_the_typical_mistakes() {
    let (ids, human) = run("examples/check/broken/app.yaml");
    println!("{human}");
    for want in [
        ("Deployment/web", "hpa-target-sets-replicas"),
        ("Deployment/web", "prestop-exceeds-grace"),
        ("Deployment/web", "probe-identical"),
        ("Deployment/web", "spread-missing"),
        ("HorizontalPodAutoscaler/web", "hpa-min-replicas-single"),
        (
            "HorizontalPodAutoscaler/web",
            "hpa-utilization-without-requests",
        ),
        ("PodDisruptionBudget/web", "budget-blocks-drain"),
        ("Deployment/api", "strategy-recreate"),
        ("Deployment/api", "probe-readiness-missing"),
        ("Deployment/api", "prestop-missing"),
        ("Deployment/api", "budget-missing"),
    ] {
        assert!(
            ids.iter().any(|(o, r)| o == want.0 && *r == want.1),
            "missing {want:?} in\n{human}"
        );
    }
    assert!(human.contains("errors"), "{human}");
}

#[test]
fn fixed_example_passes_clean() {
    let (ids, human) = run("examples/check/fixed/app.yaml");
    assert!(ids.is_empty(), "{human}");
    assert!(human.starts_with("no findings in 7 objects"), "{human}");
    let _ = Severity::Error;
}

/// The proxy's example (docs/proxy.md) is what we tell users to deploy: nothing to report.
#[test]
fn proxy_example_passes_clean() {
    let (ids, human) = run("examples/proxy/deployment.yaml");
    assert!(ids.is_empty(), "{human}");
}
