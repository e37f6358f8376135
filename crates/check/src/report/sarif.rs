//! `-o sarif`: SARIF 2.1.0 as GitHub code scanning accepts it — every rule in
//! `tool.driver.rules`, every result with its file and the line of its object.

use serde_json::{Value, json};

use super::Report;
use crate::rules::{self, Severity};

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

fn location(file: &str, line: usize) -> Value {
    let uri = file.strip_prefix("./").unwrap_or(file);
    let mut phys = json!({"artifactLocation": {"uri": uri}});
    if line > 0 {
        phys["region"] = json!({"startLine": line});
    }
    json!({"physicalLocation": phys})
}

pub fn sarif(r: &Report<'_>) -> String {
    let all = rules::all();
    let rule_defs: Vec<Value> = all
        .iter()
        .map(|rule| {
            json!({
                "id": rule.id,
                "name": rule.id,
                "shortDescription": {"text": rule.summary},
                "fullDescription": {"text": rule.explanation},
                "help": {"text": rule.explanation},
                "defaultConfiguration": {"level": level(rule.severity)},
                "properties": {"tags": ["availability"]},
            })
        })
        .collect();
    let results: Vec<Value> = r
        .findings
        .iter()
        .map(|f| {
            let o = &r.objects[f.object];
            let idx = all.iter().position(|x| x.id == f.rule).unwrap_or(0);
            json!({
                "ruleId": f.rule,
                "ruleIndex": idx,
                "level": level(f.severity),
                "message": {"text": format!("{}: {}", o.display(), f.message)},
                "locations": [location(&o.source.file, o.source.line)],
                "partialFingerprints": {
                    "steadyObject/v1": format!("{}/{}/{}/{}/{}", f.rule, o.namespace, o.kind, o.name, f.container.as_deref().unwrap_or("")),
                },
            })
        })
        .collect();
    let notes: Vec<Value> = r
        .input_errors
        .iter()
        .map(|e| {
            json!({
                "level": "error",
                "message": {"text": e.message},
                "locations": [location(&e.file, e.line)],
            })
        })
        .collect();
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "steady",
                "informationUri": "https://github.com/steady-dev/steady",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rule_defs,
            }},
            "invocations": [{
                "executionSuccessful": r.input_errors.is_empty(),
                "toolExecutionNotifications": notes,
            }],
            "results": results,
        }],
    });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}
