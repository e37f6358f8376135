//! `--html FILE`: one self-contained page with a chart per workload, names escaped.

use steady_sim::{html, load, simulate};

const SCENARIO: &str = r#"
name: "demo <script>alert(1)</script>"
description: "a & b"
cluster:
  generate: {count: 3, zones: 3}
workloads:
  - {kind: Deployment, name: "we<b>b", replicas: 3, labels: {app: web}}
  - {kind: StatefulSet, name: db, replicas: 3}
  - {kind: Deployment, name: api, replicas: 2}
budgets:
  - {kind: PodDisruptionBudget, name: "p&q", selector: {app: web}, maxUnavailable: 1}
timeline:
  - {at: 5s, drain: {nodes: [node-0]}}
"#;

#[test]
fn one_chart_per_workload_and_names_escaped() {
    let s = load("t.yaml", SCENARIO).unwrap();
    let (sim, with) = simulate(&s, 1, true).unwrap();
    let without = simulate(&s, 1, false).unwrap().1;
    let page = html::report(&s, 1, &sim, &with, Some(&without), &[]);
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert_eq!(page.matches("<figure").count(), 3);
    assert_eq!(page.matches("<svg").count(), 3);
    assert_eq!(page.matches("</svg>").count(), 3);
    // Names are text, never markup: in the page and in the charts' <text> elements.
    assert!(!page.contains("<script"), "unescaped scenario name");
    assert!(page.contains("demo &lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!page.contains("we<b>b"));
    assert!(page.contains("we&lt;b&gt;b"));
    assert!(page.contains("p&amp;q") && !page.contains("p&q"));
    assert!(page.contains("a &amp; b"));
    // Self-contained: nothing loaded from elsewhere (the SVG namespace is an identifier).
    let without_ns = page.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    for needle in ["http://", "https://", " src=", "<link", "@import"] {
        assert!(!without_ns.contains(needle), "{needle} in page");
    }
    // The verdict, the tables and the refusals are there.
    assert!(page.contains("verdict: PASS"), "{}", with.verdict());
    assert!(page.contains("<h2>Operations</h2>") && page.contains("drain node-0"));
}

#[test]
fn blocked_drain_is_shown_as_failed_with_the_budget() {
    let text = SCENARIO.replace("maxUnavailable: 1}", "maxUnavailable: 0}");
    let s = load("t.yaml", &text).unwrap();
    let (sim, with) = simulate(&s, 1, true).unwrap();
    let page = html::report(&s, 1, &sim, &with, None, &["expectation failed: x".into()]);
    assert!(page.contains("verdict fail"));
    assert!(page.contains("BLOCKED"));
    assert!(page.contains("<h2>Blocked requests (with budgets)</h2>"));
    assert!(page.contains("PodDisruptionBudget p&amp;q"));
    assert!(page.contains("expectation failed: x"));
    assert_eq!(page.matches("<svg").count(), 3);
}
