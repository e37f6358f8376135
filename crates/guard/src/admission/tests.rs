use super::review::{Answer, BadReview, Refusal, Subject, parse, response};

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/samples/admission")
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
    let out = response(
        "u1",
        &Answer::deny(Refusal {
            code: 429,
            reason: "TooManyRequests",
            message: "m".into(),
            cause: "c".into(),
            retry_after_seconds: 5,
        }),
    );
    assert_eq!(out["response"]["uid"], "u1");
    assert_eq!(out["response"]["allowed"], false);
    assert_eq!(
        out["response"]["status"]["details"]["causes"][0]["type"],
        "DisruptionBudget"
    );
    assert_eq!(out["response"]["status"]["details"]["retryAfterSeconds"], 5);
    let ok = response("u2", &Answer::allow());
    assert_eq!(
        ok["response"],
        serde_json::json!({"uid": "u2", "allowed": true})
    );
}
