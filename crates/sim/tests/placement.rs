//! The scenario's node constraints on their own: taints and tolerations, required node affinity
//! and claims pinned to a zone, as the scheduler applies them (Kubernetes' matching rules), and
//! the scenario errors for what the API server would reject.

use steady_sim::model::{requirement_matches, tolerates};
use steady_sim::scenario::{
    NodeSelectorOperator as Op, NodeSelectorRequirement, Taint, TaintEffect, Toleration,
    TolerationOperator,
};
use steady_sim::{Sim, load, simulate};

fn run(yaml: &str) -> Sim {
    let s = load("inline.yaml", yaml).unwrap_or_else(|e| panic!("{e}"));
    simulate(&s, 1, true).unwrap().0
}

/// Node names of the workload's live pods, by pod name.
fn placed(sim: &Sim) -> Vec<(String, Option<String>)> {
    let mut v: Vec<_> = sim
        .pods()
        .iter()
        .filter(|p| !p.gone)
        .map(|p| {
            (
                p.facts.name.clone(),
                p.node.map(|n| sim.model().nodes[n].name.clone()),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn toleration_matching_follows_kubernetes() {
    let taint = Taint {
        key: "dedicated".into(),
        value: "db".into(),
        effect: TaintEffect::NoSchedule,
    };
    let t =
        |key: &str, op: Option<TolerationOperator>, value: &str, effect: Option<TaintEffect>| {
            Toleration {
                key: key.into(),
                operator: op,
                value: value.into(),
                effect,
            }
        };
    use TolerationOperator::{Equal, Exists};
    let yes = [
        t("dedicated", None, "db", None),
        t(
            "dedicated",
            Some(Equal),
            "db",
            Some(TaintEffect::NoSchedule),
        ),
        t("dedicated", Some(Exists), "", None),
        t("dedicated", Some(Exists), "anything", None),
        t("", Some(Exists), "", None),
        t("", Some(Exists), "", Some(TaintEffect::NoSchedule)),
    ];
    let no = [
        t("dedicated", None, "web", None),
        t("dedicated", Some(Equal), "", None),
        t("other", Some(Exists), "", None),
        t("dedicated", Some(Exists), "", Some(TaintEffect::NoExecute)),
        t("", Some(Exists), "", Some(TaintEffect::NoExecute)),
        // An empty key tolerates everything only with Exists.
        t("", Some(Equal), "db", None),
        t("", None, "", None),
    ];
    for x in &yes {
        assert!(tolerates(x, &taint), "{x:?}");
    }
    for x in &no {
        assert!(!tolerates(x, &taint), "{x:?}");
    }
}

#[test]
fn node_selector_requirements_follow_kubernetes() {
    let r = |op: Op, values: &[&str]| NodeSelectorRequirement {
        key: "k".into(),
        operator: op,
        values: values.iter().map(|s| (*s).to_owned()).collect(),
    };
    let v = |s: &str| Some(s.to_owned());
    let cases: [(NodeSelectorRequirement, Option<String>, bool); 14] = [
        (r(Op::In, &["a", "b"]), v("b"), true),
        (r(Op::In, &["a"]), v("c"), false),
        (r(Op::In, &["a"]), None, false),
        (r(Op::NotIn, &["a"]), v("c"), true),
        (r(Op::NotIn, &["a"]), None, true),
        (r(Op::NotIn, &["a"]), v("a"), false),
        (r(Op::Exists, &[]), v(""), true),
        (r(Op::Exists, &[]), None, false),
        (r(Op::DoesNotExist, &[]), None, true),
        (r(Op::DoesNotExist, &[]), v("x"), false),
        (r(Op::Gt, &["5"]), v("6"), true),
        (r(Op::Gt, &["5"]), v("5"), false),
        (r(Op::Lt, &["5"]), v("-1"), true),
        // A label that is not an integer matches neither Gt nor Lt.
        (r(Op::Lt, &["5"]), v("four"), false),
    ];
    for (req, value, want) in cases {
        assert_eq!(
            requirement_matches(&req, value.as_ref()),
            want,
            "{req:?} on {value:?}"
        );
    }
}

#[test]
fn pods_go_only_where_they_tolerate_and_match() {
    let sim = run("name: t
cluster:
  nodes:
    - {name: a, zone: z1, taints: [{key: dedicated, value: db, effect: NoSchedule}]}
    - {name: b, zone: z1, labels: {disk: ssd}, taints: [{key: spot, effect: PreferNoSchedule}]}
    - {name: c, zone: z2, taints: [{key: gone, effect: NoExecute}]}
workloads:
  - {kind: Deployment, name: free, replicas: 2}
  - kind: Deployment
    name: db
    replicas: 2
    tolerations: [{key: dedicated, operator: Exists}]
    nodeAffinity: [{matchExpressions: [{key: zone, operator: In, values: [z1]}]}]
    antiAffinity: {required: [hostname]}
  - kind: StatefulSet
    name: store
    replicas: 2
    tolerations: [{operator: Exists}]
    zonalClaims: [{claim: data-store-0, zone: z1, ordinal: 0}, {claim: data-store-1, zone: z2, ordinal: 1}]
    nodeAffinity: [{matchFields: [{key: metadata.name, operator: NotIn, values: [b]}]}]
");
    let got = placed(&sim);
    let on = |name: &str| {
        got.iter()
            .filter(|(p, _)| p.starts_with(name))
            .map(|(_, n)| n.as_deref().unwrap_or("Pending"))
            .collect::<Vec<_>>()
    };
    // `free` tolerates nothing: only b (PreferNoSchedule filters nothing).
    assert_eq!(on("free-"), ["b", "b"]);
    // db: zone z1 (a, b), one per host, a's taint tolerated.
    let mut db = on("db-");
    db.sort();
    assert_eq!(db, ["a", "b"]);
    // store-0's volume is in z1 but not on b: a (c has fewer pods); store-1's in z2: c.
    assert_eq!(on("store-"), ["a", "c"]);
}

#[test]
fn a_zonal_claim_keeps_the_replacement_pending_when_its_zone_is_drained() {
    let sim = run("name: t
cluster:
  nodes: [{name: a, zone: z1}, {name: b, zone: z2}]
workloads:
  - kind: StatefulSet
    name: db
    replicas: 2
    zonalClaims: [{claim: data-db-0, zone: z1, ordinal: 0}, {claim: data-db-1, zone: z2, ordinal: 1}]
timeline:
  - {at: 1m, drain: {nodes: [a]}}
");
    // b has room, but not db-0's volume.
    assert_eq!(
        placed(&sim),
        [
            ("db-0".to_owned(), None),
            ("db-1".to_owned(), Some("b".into()))
        ]
    );
}

#[test]
fn invalid_constraints_name_the_field() {
    let err = |w: &str| {
        let yaml = format!("name: t\ncluster: {{nodes: [{{name: a}}]}}\nworkloads:\n  - {w}\n");
        match load("x.yaml", &yaml) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("loaded: {w}"),
        }
    };
    assert_eq!(
        err(
            "{kind: Deployment, name: w, replicas: 1, zonalClaims: [{claim: c, zone: z, ordinal: 0}]}"
        ),
        "scenario x.yaml: workloads[0].zonalClaims[0].ordinal: only a StatefulSet's pods have ordinals; remove it to pin every pod"
    );
    assert_eq!(
        err(
            "{kind: Deployment, name: w, replicas: 1, nodeAffinity: [{matchExpressions: [{key: k, operator: In}]}]}"
        ),
        "scenario x.yaml: workloads[0].nodeAffinity[0].matchExpressions[0].values: In takes one or more values"
    );
    assert_eq!(
        err(
            "{kind: Deployment, name: w, replicas: 1, nodeAffinity: [{matchFields: [{key: metadata.labels, operator: In, values: [a]}]}]}"
        ),
        "scenario x.yaml: workloads[0].nodeAffinity[0].matchFields[0]: matchFields takes key metadata.name with In or NotIn only (as Kubernetes)"
    );
    // Unknown operators and effects are the format's own errors.
    let yaml = "name: t\ncluster: {nodes: [{name: a, taints: [{key: k, effect: Never}]}]}\nworkloads: []\n";
    let e = load("x.yaml", yaml)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("Never") && e.contains("NoSchedule"), "{e}");
}
