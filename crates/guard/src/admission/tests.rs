use super::review::{Answer, BadReview, Refusal, Subject, parse, response};

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/admission")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

#[test]
fn classifies_the_captured_reviews() {
    let cases = [
        ("pods-DELETE.json", "Delete"),
        ("pods-DELETE-dryrun.json", "Delete"),
        ("pods-eviction-CREATE-drain.json", "Evict"),
        ("pods-eviction-CREATE-raw.json", "Evict"),
        ("pods-UPDATE.json", "Update"),
        ("pods-status-UPDATE.json", "None"),
        ("pods-CREATE.json", "None"),
    ];
    for (file, op) in cases {
        let body = fixture(file);
        let r = parse(&body).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(!r.uid.is_empty());
        assert_eq!(
            r.subject.operation().map(|o| o.as_str()).unwrap_or("None"),
            op,
            "{file}"
        );
        assert!(!r.user.is_empty(), "{file}: the requesting user is read");
    }
    let dry = fixture("pods-DELETE-dryrun.json");
    assert!(parse(&dry).unwrap().dry_run);
    let del = fixture("pods-DELETE.json");
    assert!(matches!(
        parse(&del).unwrap().subject,
        Subject::Delete { old: Some(_) }
    ));
}

#[test]
fn refuses_what_is_not_a_review() {
    assert!(matches!(parse(b"nope"), Err(BadReview::Json(_))));
    assert!(
        matches!(parse(br#"{"kind":"Pod","apiVersion":"v1"}"#), Err(BadReview::Kind(k)) if k == "Pod")
    );
    assert!(matches!(parse(br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":""}}"#), Err(BadReview::NoUid)));
    let evict_no_name = br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"u","operation":"CREATE","subResource":"eviction","resource":{"group":"","resource":"pods"}}}"#;
    assert_eq!(
        parse(evict_no_name).unwrap_err().metric_label(),
        "bad_object"
    );
    let other_resource = br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"u","operation":"DELETE","resource":{"group":"apps","resource":"deployments"}}}"#;
    assert!(matches!(
        parse(other_resource).unwrap().subject,
        Subject::Pass("NotAPod")
    ));
}

#[test]
fn response_shape_matches_the_eviction_api() {
    let out: serde_json::Value = serde_json::from_slice(&response(
        "u1",
        &Answer::deny(Refusal {
            code: 429,
            reason: "TooManyRequests",
            message: "m".into(),
            cause: "c".into(),
            retry_after_seconds: 5,
        }),
    ))
    .unwrap();
    assert_eq!(out["response"]["uid"], "u1");
    assert_eq!(out["response"]["allowed"], false);
    assert_eq!(
        out["response"]["status"]["details"]["causes"][0]["type"],
        "DisruptionBudget"
    );
    assert_eq!(out["response"]["status"]["details"]["retryAfterSeconds"], 5);
    let ok: serde_json::Value = serde_json::from_slice(&response("u2", &Answer::allow())).unwrap();
    assert_eq!(
        ok["response"],
        serde_json::json!({"uid": "u2", "allowed": true})
    );
}

const SAMPLES: [&str; 13] = [
    "pods-CREATE.json",
    "pods-DELETE-allowed-1of2.json",
    "pods-DELETE-allowed-2of2.json",
    "pods-DELETE-bound-pod.json",
    "pods-DELETE-dryrun.json",
    "pods-DELETE-unscheduled-pod.json",
    "pods-DELETE.json",
    "pods-UPDATE.json",
    "pods-eviction-CREATE-allowed-no-deleteOptions.json",
    "pods-eviction-CREATE-drain.json",
    "pods-eviction-CREATE-raw.json",
    "pods-eviction-CREATE.json",
    "pods-status-UPDATE.json",
];

/// Reading only up to the pod gives the same uid, namespace, name, user and operation as reading
/// everything, for every review the API server sent; the probe is asked about the namespace.
#[test]
fn envelope_of_every_sample_matches_the_whole_review() {
    for file in SAMPLES {
        let body = fixture(file);
        let whole = parse(&body).unwrap_or_else(|e| panic!("{file}: {e}"));
        let asked = std::cell::RefCell::new(Vec::new());
        let short = super::review::parse_with(&body, &|ns| {
            asked.borrow_mut().push(ns.to_owned());
            false
        })
        .unwrap_or_else(|e| panic!("{file}: {e}"));
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let req = &v["request"];
        assert_eq!(short.uid, req["uid"].as_str().unwrap(), "{file}");
        assert_eq!(short.uid, whole.uid, "{file}");
        assert_eq!(
            short.namespace,
            req["namespace"].as_str().unwrap(),
            "{file}"
        );
        assert_eq!(short.name, whole.name, "{file}");
        assert_eq!(short.user, req["userInfo"]["username"].as_str().unwrap());
        assert_eq!(
            short.subject.operation(),
            whole.subject.operation(),
            "{file}"
        );
        assert_eq!(*asked.borrow(), vec![short.namespace.to_string()], "{file}");
        // Whatever needs a pod was left unread; the rest is what the whole parse says.
        match (whole.subject, short.subject) {
            (Subject::Delete { .. } | Subject::Update { .. }, Subject::Unread(_)) => {}
            (Subject::Pass(a), Subject::Pass(b)) => assert_eq!(a, b, "{file}"),
            (Subject::Evict, Subject::Evict) => {}
            (w, s) => panic!("{file}: whole {w:?}, envelope {s:?}"),
        }
    }
    // When a budget may apply, the pod is read.
    let del = fixture("pods-DELETE.json");
    let r = super::review::parse_with(&del, &|_| true).unwrap();
    assert!(matches!(r.subject, Subject::Delete { old: Some(_) }));
    let upd = fixture("pods-UPDATE.json");
    let r = super::review::parse_with(&upd, &|_| true).unwrap();
    assert!(matches!(r.subject, Subject::Update { .. }));
}

/// The DELETE sample with its `oldObject` cut short: the JSON ends inside the pod.
fn delete_with_a_broken_pod() -> Vec<u8> {
    let body = fixture("pods-DELETE.json");
    let text = std::str::from_utf8(&body).unwrap();
    let at = text.find("\"oldObject\"").unwrap();
    let mut cut = body[..at + 200].to_vec();
    cut.extend_from_slice(b"\"spec\": {\"containers\": [{");
    cut
}

#[test]
fn a_broken_pod_is_read_only_where_a_budget_may_apply() {
    let body = delete_with_a_broken_pod();
    // No budget: the pod is never read, so it cannot matter what it holds.
    let r = super::review::parse_with(&body, &|_| false).unwrap();
    assert!(matches!(
        r.subject,
        Subject::Unread(steady_budget::Operation::Delete)
    ));
    // A budget may apply: the body must be read whole, and it is not JSON.
    let e = super::review::parse_with(&body, &|_| true).unwrap_err();
    assert!(matches!(e, BadReview::Json(_)), "{e:?}");
    assert!(matches!(parse(&body), Err(BadReview::Json(_))));
}

/// In another field order (not what the API server writes) nothing is skipped before the fields
/// that decide are known: the pod comes before the namespace here, so it is read, and a broken one
/// is refused even though no budget covers the namespace.
#[test]
fn fields_after_the_pod_are_never_guessed() {
    let body = br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"u","operation":"DELETE","resource":{"group":"","resource":"pods"},"oldObject":{"metadata":{"name":"p"}},"namespace":"ns","name":"p"}}"#;
    let r = super::review::parse_with(body, &|_| false).unwrap();
    assert!(matches!(r.subject, Subject::Delete { old: Some(_) }));
    assert_eq!(r.namespace, "ns");
    let broken = br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"u","operation":"DELETE","resource":{"group":"","resource":"pods"},"oldObject":{"metadata":[},"namespace":"ns"}}"#;
    assert!(matches!(
        super::review::parse_with(broken, &|_| false),
        Err(BadReview::Json(_))
    ));
    // The envelope checks come first whatever the order: a wrong apiVersion after the request.
    let late = br#"{"kind":"AdmissionReview","request":{"uid":"u","namespace":"ns","operation":"DELETE","resource":{"group":"","resource":"pods"},"oldObject":null},"apiVersion":"admission.k8s.io/v1beta1"}"#;
    assert!(matches!(
        super::review::parse_with(late, &|_| false),
        Err(BadReview::ApiVersion(_))
    ));
    // Trailing bytes after a whole review are an error, as before.
    let mut trailing = fixture("pods-CREATE.json");
    trailing.extend_from_slice(b" {");
    assert!(matches!(parse(&trailing), Err(BadReview::Json(_))));
}

/// A uid with escapes is unescaped on the way in and escaped again on the way out.
#[test]
fn uid_with_escapes_round_trips() {
    let body = br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"a\"b\\c\u00e9</script>","namespace":"ns","operation":"CREATE","resource":{"group":"","resource":"pods"},"object":null}}"#;
    let r = super::review::parse_with(body, &|_| false).unwrap();
    assert_eq!(r.uid, "a\"b\\c\u{e9}</script>");
    let out: serde_json::Value =
        serde_json::from_slice(&response(&r.uid, &Answer::allow())).unwrap();
    assert_eq!(out["response"]["uid"], "a\"b\\c\u{e9}</script>");
}

mod handler {
    use std::sync::Arc;

    use serde_json::Value;

    use super::{delete_with_a_broken_pod, fixture};
    use crate::admission::{Admission, BadReview, Config};
    use crate::index::SharedIndex;
    use crate::index::tests::mk_budget;
    use crate::metrics::Metrics;
    use crate::writer::Writer;

    /// An admission handler over an index with one budget (for `app=app`, no disruption allowed)
    /// in `webhook-demo`, the namespace of the captured pods. Its API client points at a closed
    /// port: none of these requests may write.
    fn handler() -> (Admission, Arc<Metrics>) {
        let index = SharedIndex::default();
        index
            .write()
            .apply_budget(mk_budget("webhook-demo", "web", "app", 0, "1"));
        let client =
            kube::Client::try_from(kube::Config::new("http://127.0.0.1:1".parse().unwrap()))
                .unwrap();
        let metrics = Arc::new(Metrics::new());
        let a = Admission::new(
            index,
            Writer::new(client),
            None,
            metrics.clone(),
            Config::default(),
        );
        (a, metrics)
    }

    fn in_namespace(body: &[u8], from: &str, to: &str) -> Vec<u8> {
        let text = std::str::from_utf8(body).unwrap();
        text.replace(
            &format!("\"namespace\": \"{from}\""),
            &format!("\"namespace\": \"{to}\""),
        )
        .into_bytes()
    }

    async fn answer(a: &Admission, body: &[u8]) -> Result<Value, BadReview> {
        a.review(body)
            .await
            .map(|out| serde_json::from_slice(&out).expect("the answer is JSON"))
    }

    #[tokio::test]
    async fn covered_namespace_gets_the_full_decision_and_others_the_fast_path() {
        let (a, m) = handler();
        let body = fixture("pods-DELETE.json");
        let out = answer(&a, &body).await.unwrap();
        assert_eq!(out["response"]["allowed"], false, "{out}");
        assert_eq!(out["response"]["status"]["code"], 429, "{out}");
        assert_eq!(
            out["response"]["uid"],
            "6f9c3373-45f2-4594-acf5-a9d5f0dc3055"
        );

        let elsewhere = in_namespace(&body, "webhook-demo", "no-budget-here");
        assert_ne!(elsewhere, body);
        let out = answer(&a, &elsewhere).await.unwrap();
        assert_eq!(
            out["response"],
            serde_json::json!({"uid": "6f9c3373-45f2-4594-acf5-a9d5f0dc3055", "allowed": true})
        );
        let text = m.encode();
        assert!(
            text.contains(
                r#"steady_guard_decisions_total{operation="Delete",result="allowed",reason="NoBudget"} 1"#
            ),
            "{text}"
        );
    }

    /// A pod the guard cannot read is refused (400) wherever a budget could apply; where none
    /// does, the pod is not read and the request is allowed, since nothing it holds could change
    /// the answer.
    #[tokio::test]
    async fn a_broken_pod_is_refused_where_a_budget_could_apply() {
        let (a, _) = handler();
        let broken = delete_with_a_broken_pod();
        assert!(matches!(answer(&a, &broken).await, Err(BadReview::Json(_))));
        let elsewhere = in_namespace(&broken, "webhook-demo", "no-budget-here");
        let out = answer(&a, &elsewhere).await.unwrap();
        assert_eq!(out["response"]["allowed"], true, "{out}");
    }

    /// Until the caches have synced, an empty index does not count as "no budget": the pod is
    /// read and the disruption refused.
    #[tokio::test]
    async fn not_ready_reads_everything() {
        let client =
            kube::Client::try_from(kube::Config::new("http://127.0.0.1:1".parse().unwrap()))
                .unwrap();
        let ready = crate::admin::Readiness::default();
        ready.register("pods");
        let a = Admission::with_readiness(
            SharedIndex::default(),
            Writer::new(client),
            None,
            Arc::new(Metrics::new()),
            Config::default(),
            ready.clone(),
        );
        let broken = delete_with_a_broken_pod();
        assert!(matches!(answer(&a, &broken).await, Err(BadReview::Json(_))));
        let out = answer(&a, &fixture("pods-DELETE.json")).await.unwrap();
        assert_eq!(out["response"]["status"]["code"], 429, "{out}");
        ready.synced("pods");
        let out = answer(&a, &broken).await.unwrap();
        assert_eq!(out["response"]["allowed"], true, "{out}");
    }
}

/// A captured review with `edit` applied to its request, as bytes.
fn edited(file: &str, edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(&fixture(file)).unwrap();
    edit(&mut v["request"]);
    serde_json::to_vec(&v).unwrap()
}

/// Every place a request can carry a dry run makes it one: `kubectl drain --dry-run=server` sends
/// the dry run only inside the Eviction (`deleteOptions.dryRun`) with the request's `dryRun` false.
#[test]
fn a_dry_run_is_read_from_every_place_a_request_can_carry_one() {
    use serde_json::json;
    let dry = |body: &[u8]| parse(body).unwrap().dry_run;
    // As captured: none of these is a dry run.
    for file in SAMPLES.iter().filter(|f| !f.contains("dryrun")) {
        assert!(!dry(&fixture(file)), "{file}");
    }
    // The eviction body's own DeleteOptions.
    let body = edited("pods-eviction-CREATE-drain.json", |r| {
        r["object"]["deleteOptions"] = json!({"dryRun": ["All"]});
    });
    assert!(dry(&body), "deleteOptions.dryRun of the Eviction");
    // An empty list is no dry run (the API server sends `deleteOptions: {}` for a real drain).
    let body = edited("pods-eviction-CREATE-drain.json", |r| {
        r["object"]["deleteOptions"] = json!({"dryRun": []});
    });
    assert!(!dry(&body));
    // The eviction's CreateOptions (`?dryRun=All` on the eviction POST).
    let body = edited("pods-eviction-CREATE-raw.json", |r| {
        r["options"]["dryRun"] = json!(["All"]);
    });
    assert!(dry(&body), "options.dryRun of an eviction");
    // DELETE options with the request flag false.
    let body = edited("pods-DELETE-dryrun.json", |r| r["dryRun"] = json!(false));
    assert!(dry(&body), "options.dryRun of a DELETE");
    // UpdateOptions of an update and of a resize.
    for sub in [None, Some("resize")] {
        let body = edited("pods-UPDATE.json", |r| {
            r["options"]["dryRun"] = json!(["All"]);
            if let Some(sub) = sub {
                r["subResource"] = json!(sub);
            }
        });
        assert!(dry(&body), "UpdateOptions.dryRun, subresource {sub:?}");
    }
    // An Eviction that is not one is a bad request, not a silent "no dry run".
    let body = edited("pods-eviction-CREATE-drain.json", |r| {
        r["object"]["deleteOptions"] = json!({"dryRun": "All"});
    });
    assert!(matches!(parse(&body), Err(BadReview::NotAnEviction(_))));
}

/// Found by reasoning over the fuzz target review_fast's property (the fast path accepts whatever
/// the full read accepts): an eviction whose `name` comes after its Eviction object was a 400 on
/// the fast path only. The API server writes `name` first; any order must give the same answer.
#[test]
fn an_eviction_named_after_its_object_is_read_the_same_on_both_paths() {
    let body = br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"u","resource":{"group":"","resource":"pods"},"subResource":"eviction","namespace":"ns","operation":"CREATE","object":{"kind":"Eviction","apiVersion":"policy/v1","metadata":{"name":"p"}},"name":"p"}}"#;
    let full = parse(body).unwrap();
    let fast = super::review::parse_with(body, &|_| false).unwrap();
    assert_eq!(
        (&*fast.name, fast.subject.operation()),
        (&*full.name, full.subject.operation())
    );
    assert_eq!(fast.name, "p");
}

/// Found by the fuzz target review_fast (fuzz/README.md): a `subResource` written after the
/// object is not seen by the fast path, which then classifies an eviction as no disruption. The
/// API server writes it first; in any order the fast path must still answer (no 400) for the same
/// uid and namespace, and what it answers is "allowed", as the full read would where no budget is.
#[test]
fn a_sub_resource_after_the_object_still_gets_an_answer_on_the_fast_path() {
    let body = br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"u","resource":{"group":"","resource":"pods"},"name":"p","namespace":"ns","operation":"CREATE","object":{"kind":"Eviction","apiVersion":"policy/v1"},"subResource":"eviction"}}"#;
    let full = parse(body).unwrap();
    assert!(matches!(full.subject, Subject::Evict));
    let fast = super::review::parse_with(body, &|_| false).unwrap();
    assert_eq!(
        (&*fast.uid, &*fast.namespace),
        (&*full.uid, &*full.namespace)
    );
    assert!(
        matches!(fast.subject, Subject::Pass(_) | Subject::Evict),
        "{:?}",
        fast.subject
    );
}

/// Found by the fuzz target review_fast: a field repeated after the pod (here `namespace`) was
/// read as its first value by the fast path and as its last by the full read. A repeated envelope
/// field is now refused (400), as serde's derive does; the API server never repeats one.
#[test]
fn a_repeated_envelope_field_is_refused_not_read_two_ways() {
    let body = br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"u","resource":{"group":"","resource":"pods"},"name":"p","namespace":"a","operation":"DELETE","oldObject":{"metadata":{"name":"p"}},"namespace":"b"}}"#;
    let err = parse(body).unwrap_err();
    assert!(
        err.to_string().contains("duplicate field `namespace`"),
        "{err}"
    );
    // Before the pod, both paths see it.
    let body = br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"u","uid":"v","resource":{"group":"","resource":"pods"},"namespace":"a","operation":"DELETE","oldObject":null}}"#;
    assert!(super::review::parse_with(body, &|_| false).is_err());
    // Every captured review is still read.
    for file in SAMPLES {
        parse(&fixture(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    }
}
