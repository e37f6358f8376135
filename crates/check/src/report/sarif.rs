//! `-o sarif`: SARIF 2.1.0 as GitHub code scanning accepts it — every rule in
//! `tool.driver.rules`, every result with its file and the line of its object.
//!
//! Written as a stream: the results are serialised one by one from the findings, never held as a
//! JSON tree (a `serde_json::Value` of 285,000 results took 3.2 GiB). Fields are declared in
//! alphabetical order, the order the tree's sorted maps printed them in, so the output is the
//! same byte for byte.

use std::io::Write;

use serde::Serialize;

use super::Report;
use crate::rules::{self, Severity};

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

#[derive(Serialize)]
struct Doc<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    runs: [Run<'a>; 1],
    version: &'static str,
}

#[derive(Serialize)]
struct Run<'a> {
    invocations: [Invocation<'a>; 1],
    results: Results<'a>,
    tool: Tool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Invocation<'a> {
    execution_successful: bool,
    tool_execution_notifications: Vec<Notification<'a>>,
}

#[derive(Serialize)]
struct Notification<'a> {
    level: &'static str,
    locations: [Location<'a>; 1],
    message: Text<'a>,
}

#[derive(Serialize)]
struct Text<'a> {
    text: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location<'a> {
    physical_location: Physical<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Physical<'a> {
    artifact_location: Artifact<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<Region>,
}

#[derive(Serialize)]
struct Artifact<'a> {
    uri: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: usize,
}

fn location(file: &str, line: usize) -> Location<'_> {
    Location {
        physical_location: Physical {
            artifact_location: Artifact {
                uri: file.strip_prefix("./").unwrap_or(file),
            },
            region: (line > 0).then_some(Region { start_line: line }),
        },
    }
}

#[derive(Serialize)]
struct Tool {
    driver: Driver,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver {
    information_uri: &'static str,
    name: &'static str,
    rules: Vec<RuleDef>,
    version: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RuleDef {
    default_configuration: Level,
    full_description: Text<'static>,
    help: Text<'static>,
    id: &'static str,
    name: &'static str,
    properties: Properties,
    short_description: Text<'static>,
}

#[derive(Serialize)]
struct Level {
    level: &'static str,
}

#[derive(Serialize)]
struct Properties {
    tags: [&'static str; 1],
}

/// The results, serialised one by one from the findings.
struct Results<'a>(&'a Report<'a>);

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResultOut<'a> {
    level: &'static str,
    locations: [Location<'a>; 1],
    message: OwnedText,
    partial_fingerprints: Fingerprints,
    rule_id: &'a str,
    rule_index: usize,
}

#[derive(Serialize)]
struct OwnedText {
    text: String,
}

#[derive(Serialize)]
struct Fingerprints {
    #[serde(rename = "steadyObject/v1")]
    steady_object: String,
}

impl Serialize for Results<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let all = rules::all();
        s.collect_seq(r.findings.iter().map(|f| {
            let o = &r.objects[f.object];
            ResultOut {
                level: level(f.severity),
                locations: [location(&o.source.file, o.source.line)],
                message: OwnedText {
                    text: format!("{}: {}", o.display(), f.message),
                },
                partial_fingerprints: Fingerprints {
                    steady_object: format!(
                        "{}/{}/{}/{}/{}",
                        f.rule,
                        o.namespace,
                        o.kind,
                        o.name,
                        f.container.as_deref().unwrap_or("")
                    ),
                },
                rule_id: f.rule,
                rule_index: all.iter().position(|x| x.id == f.rule).unwrap_or(0),
            }
        }))
    }
}

/// Writes the report as SARIF to `w`.
pub fn write_sarif(r: &Report<'_>, w: &mut dyn Write) -> std::io::Result<()> {
    let rules = rules::all()
        .iter()
        .map(|rule| RuleDef {
            default_configuration: Level {
                level: level(rule.severity),
            },
            full_description: Text {
                text: rule.explanation,
            },
            help: Text {
                text: rule.explanation,
            },
            id: rule.id,
            name: rule.id,
            properties: Properties {
                tags: ["availability"],
            },
            short_description: Text { text: rule.summary },
        })
        .collect();
    let notes = r
        .input_errors
        .iter()
        .map(|e| Notification {
            level: "error",
            locations: [location(&e.file, e.line)],
            message: Text { text: &e.message },
        })
        .collect();
    let doc = Doc {
        schema: "https://json.schemastore.org/sarif-2.1.0.json",
        runs: [Run {
            invocations: [Invocation {
                execution_successful: r.input_errors.is_empty(),
                tool_execution_notifications: notes,
            }],
            results: Results(r),
            tool: Tool {
                driver: Driver {
                    information_uri: "https://github.com/steady-dev/steady",
                    name: "steady",
                    rules,
                    version: env!("CARGO_PKG_VERSION"),
                },
            },
        }],
        version: "2.1.0",
    };
    serde_json::to_writer_pretty(&mut *w, &doc).map_err(std::io::Error::other)?;
    w.write_all(b"\n")
}

pub fn sarif(r: &Report<'_>) -> String {
    let mut buf = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = write_sarif(r, &mut buf);
    String::from_utf8(buf).unwrap_or_default()
}
