//! `-o json`: a stable, documented schema (version 1).
//!
//! ```json
//! {
//!   "version": 1,
//!   "summary": {"files": 1, "objects": 4, "findings": 3, "error": 1, "warning": 1, "info": 1},
//!   "findings": [{
//!     "rule": "replicas-single", "severity": "error", "message": "…",
//!     "container": null,
//!     "object": {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "default",
//!                "name": "web", "file": "app.yaml", "line": 1}
//!   }],
//!   "inputErrors": [{"file": "bad.yaml", "line": 3, "message": "…"}]
//! }
//! ```
//! Fields are only ever added; `line` is 0 for objects read from a cluster.

use serde_json::json;

use super::Report;

pub fn json(r: &Report<'_>) -> String {
    let c = r.counts();
    let findings: Vec<_> = r
        .findings
        .iter()
        .map(|f| {
            let o = &r.objects[f.object];
            json!({
                "rule": f.rule,
                "severity": f.severity.as_str(),
                "message": f.message,
                "container": f.container,
                "object": {
                    "apiVersion": o.api_version,
                    "kind": o.kind,
                    "namespace": o.namespace,
                    "name": o.name,
                    "file": &*o.source.file,
                    "line": o.source.line,
                },
            })
        })
        .collect();
    let errors: Vec<_> = r
        .input_errors
        .iter()
        .map(|e| json!({"file": e.file, "line": e.line, "message": e.message}))
        .collect();
    let doc = json!({
        "version": 1,
        "summary": {
            "files": r.files,
            "objects": r.objects.len(),
            "findings": r.findings.len(),
            "error": c.error,
            "warning": c.warning,
            "info": c.info,
        },
        "findings": findings,
        "inputErrors": errors,
    });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}
