//! The AdmissionReview reader's fast path (a namespace with no budget: reading stops at the pod)
//! against the full read of the same body. Never a panic; a body the full read accepts is accepted
//! by the fast path too, with the same uid and namespace; and the answer echoes the uid as valid
//! JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use steady_guard::admission::review::{Answer, parse, parse_with, response};

fuzz_target!(|body: &[u8]| {
    let fast = parse_with(body, &|_| false);
    if let Ok(full) = parse(body) {
        let fast = fast
            .unwrap_or_else(|e| panic!("the full read accepts the body, the fast path says {e}"));
        assert_eq!(fast.uid, full.uid);
        assert_eq!(fast.namespace, full.namespace);
        // Not the operation: a subResource written after the object (the API server writes it
        // before) is not seen by the fast path, which then labels an eviction "NotADisruption".
        // The answer is the same: the fast path runs only where no budget applies, and allows.
    }
    if let Ok(r) = parse_with(body, &|_| false) {
        let out: serde_json::Value = serde_json::from_slice(&response(&r.uid, &Answer::allow()))
            .expect("the answer is JSON");
        assert_eq!(out["response"]["uid"].as_str(), Some(&*r.uid));
    }
});
