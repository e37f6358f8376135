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

use std::io::Write;

use serde::Serialize;

use super::Report;

#[derive(Serialize)]
struct Doc<'a> {
    version: u32,
    summary: Summary,
    findings: Findings<'a>,
    #[serde(rename = "inputErrors")]
    input_errors: Vec<ErrorOut<'a>>,
}

#[derive(Serialize)]
struct Summary {
    files: usize,
    objects: usize,
    findings: usize,
    error: usize,
    warning: usize,
    info: usize,
}

/// The findings, serialised one by one (no intermediate tree: 100,000 objects stay cheap).
struct Findings<'a>(&'a Report<'a>);

#[derive(Serialize)]
struct FindingOut<'a> {
    rule: &'a str,
    severity: &'a str,
    message: &'a str,
    container: Option<&'a str>,
    object: ObjectOut<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ObjectOut<'a> {
    api_version: &'a str,
    kind: &'a str,
    namespace: &'a str,
    name: &'a str,
    file: &'a str,
    line: usize,
}

#[derive(Serialize)]
struct ErrorOut<'a> {
    file: &'a str,
    line: usize,
    message: &'a str,
}

impl Serialize for Findings<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        s.collect_seq(r.findings.iter().map(|f| {
            let o = &r.objects[f.object];
            FindingOut {
                rule: f.rule,
                severity: f.severity.as_str(),
                message: &f.message,
                container: f.container.as_deref(),
                object: ObjectOut {
                    api_version: &o.api_version,
                    kind: o.kind,
                    namespace: &o.namespace,
                    name: &o.name,
                    file: &o.source.file,
                    line: o.source.line,
                },
            }
        }))
    }
}

/// Writes the report as JSON to `w`.
pub fn write_json(r: &Report<'_>, w: &mut dyn Write) -> std::io::Result<()> {
    let c = r.counts();
    let doc = Doc {
        version: 1,
        summary: Summary {
            files: r.files,
            objects: r.objects.len(),
            findings: r.findings.len(),
            error: c.error,
            warning: c.warning,
            info: c.info,
        },
        findings: Findings(r),
        input_errors: r
            .input_errors
            .iter()
            .map(|e| ErrorOut {
                file: &e.file,
                line: e.line,
                message: &e.message,
            })
            .collect(),
    };
    serde_json::to_writer_pretty(&mut *w, &doc).map_err(std::io::Error::other)?;
    w.write_all(b"\n")
}

pub fn json(r: &Report<'_>) -> String {
    let mut buf = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = write_json(r, &mut buf);
    String::from_utf8(buf).unwrap_or_default()
}
