//! `steady fix`: text edits at the spans the YAML parser recorded. Only the inserted or replaced
//! bytes change; comments, key order, quoting and the other documents of the file stay
//! byte-for-byte as they were. A file whose edited text would not parse back to the same objects
//! is left alone and reported.

use std::collections::BTreeMap;

use crate::config::Config;
use crate::load::{self, InputError};
use crate::model::{Object, WorkloadKind};
use crate::rules::{self, Fix, pod_helpers};
use crate::yaml::{self, Node, NodeKind};

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Write PodDisruptionBudgets instead of PodUnavailableBudgets.
    pub pdb: bool,
    /// Only these rules' fixes (empty: all).
    pub only: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// The file's new text (equal to the input when nothing changed).
    pub text: String,
    /// New files to create beside the input: (file name, content).
    pub new_files: Vec<(String, String)>,
    /// One line per applied fix.
    pub applied: Vec<String>,
    pub errors: Vec<InputError>,
}

struct Edit {
    at: usize,
    remove_to: usize,
    insert: String,
    seq: usize,
}

/// Computes the fixes for one file's text.
pub fn plan(file: &str, text: &str, cfg: &Config, opts: &Options) -> Plan {
    let loaded = load::load_text(file, text, "default");
    let findings = rules::run(&loaded.objects, cfg);
    let docs = yaml::parse_stream(text.strip_prefix('\u{feff}').unwrap_or(text));
    let bom = text.len() - text.strip_prefix('\u{feff}').unwrap_or(text).len();
    let mut plan = Plan {
        text: text.to_owned(),
        errors: loaded.errors.clone(),
        ..Plan::default()
    };
    // Fixes wanted per object: rule → containers concerned.
    let mut wanted: BTreeMap<usize, BTreeMap<&'static str, Vec<String>>> = BTreeMap::new();
    for f in &findings {
        let Some(rule) = rules::find(f.rule) else {
            continue;
        };
        if rule.fix.is_none() || (!opts.only.is_empty() && !opts.only.iter().any(|o| o == f.rule)) {
            continue;
        }
        wanted
            .entry(f.object)
            .or_default()
            .entry(f.rule)
            .or_default()
            .extend(f.container.clone());
    }
    let mut edits: Vec<Edit> = Vec::new();
    for (obj, by_rule) in wanted {
        let o = &loaded.objects[obj];
        let Some(root) = object_node(&docs, o) else {
            continue;
        };
        let cannot = |rule: &str, plan: &mut Plan| {
            plan.errors.push(InputError {
                file: file.to_owned(),
                line: o.source.line,
                message: format!(
                    "{}: cannot fix {rule} automatically (flow-style YAML or unusual layout); see `steady explain {rule}`",
                    o.display()
                ),
            });
        };
        let prestop = by_rule.get("prestop-missing");
        if prestop.is_some() || by_rule.contains_key("prestop-exceeds-grace") {
            let before = edits.len();
            let containers = prestop.map(Vec::as_slice).unwrap_or_default();
            if !shutdown_edits(text, o, root, cfg, containers, &mut edits, &mut plan) {
                edits.truncate(before);
                cannot(
                    if prestop.is_some() {
                        "prestop-missing"
                    } else {
                        "prestop-exceeds-grace"
                    },
                    &mut plan,
                );
            }
        }
        for rule in by_rule.keys() {
            match rules::find(rule).and_then(|r| r.fix) {
                Some(Fix::AddSpread) => {
                    if spread_edit(text, o, root, &mut edits) {
                        plan.applied.push(format!(
                            "{}: added a hostname topologySpreadConstraint ({rule})",
                            o.display()
                        ));
                    } else {
                        cannot(rule, &mut plan);
                    }
                }
                Some(Fix::AddBudget) => {
                    let (name, content) = budget_file(o, opts.pdb);
                    plan.applied
                        .push(format!("{}: wrote {name} ({rule})", o.display()));
                    plan.new_files.push((name, content));
                }
                _ => {}
            }
        }
    }
    if edits.is_empty() {
        return plan;
    }
    for e in &mut edits {
        e.at += bom;
        e.remove_to += bom;
    }
    edits.sort_by(|a, b| b.at.cmp(&a.at).then(b.seq.cmp(&a.seq)));
    let mut out = text.to_owned();
    for e in &edits {
        out.replace_range(e.at..e.remove_to, &e.insert);
    }
    // Safety net: the result must load the same objects without a new error.
    let check = load::load_text(file, &out, "default");
    if check.objects.len() != loaded.objects.len() || check.errors.len() > loaded.errors.len() {
        plan.errors.push(InputError {
            file: file.to_owned(),
            line: 0,
            message: "the fixed text would not parse back to the same objects; file left unchanged"
                .into(),
        });
        return plan;
    }
    plan.text = out;
    plan
}

/// The node of an object: its document's root, or the List item on its line.
fn object_node<'a>(
    docs: &'a [Result<yaml::Document, yaml::YamlError>],
    o: &Object,
) -> Option<&'a Node> {
    let root = &docs.get(o.source.doc)?.as_ref().ok()?.root;
    if root.start.line == o.source.line && root.get("kind").and_then(Node::as_str) == Some(&o.kind)
    {
        return Some(root);
    }
    root.get("items")?
        .items()
        .iter()
        .find(|i| i.start.line == o.source.line)
}

fn pod_spec<'a>(o: &Object, root: &'a Node) -> Option<&'a Node> {
    match o.workload()?.kind {
        WorkloadKind::Pod => root.get("spec"),
        _ => root.get("spec")?.get("template")?.get("spec"),
    }
}

fn is_block_map(n: &Node) -> bool {
    matches!(&n.kind, NodeKind::Map { flow: false, entries } if !entries.is_empty())
}

/// Inserts `lines` (relative indentation) as new keys at the end of block mapping `map`.
fn insert_into_map(text: &str, map: &Node, lines: &[String], seq: usize) -> Option<Edit> {
    let NodeKind::Map {
        entries,
        flow: false,
    } = &map.kind
    else {
        return None;
    };
    let (first_key, _) = entries.first()?;
    let (_, last_val) = entries.last()?;
    let indent = " ".repeat(first_key.start.col);
    let end = last_val.end.byte.max(first_key.end.byte);
    let bytes = text.as_bytes();
    let (at, prefix) = if end > 0 && bytes.get(end - 1) == Some(&b'\n') {
        (end, "")
    } else {
        match text[end..].find('\n') {
            Some(n) => (end + n + 1, ""),
            None => (text.len(), "\n"),
        }
    };
    let mut insert = String::from(prefix);
    for l in lines {
        insert.push_str(&indent);
        insert.push_str(l);
        insert.push('\n');
    }
    Some(Edit {
        at,
        remove_to: at,
        insert,
        seq,
    })
}

fn shutdown_edits(
    text: &str,
    o: &Object,
    root: &Node,
    cfg: &Config,
    needs_prestop: &[String],
    edits: &mut Vec<Edit>,
    plan: &mut Plan,
) -> bool {
    let Some(w) = o.workload() else { return false };
    let Some(spec) = pod_spec(o, root) else {
        return false;
    };
    if !is_block_map(spec) {
        return false;
    }
    let sleep = cfg.thresholds.pre_stop_sleep_seconds;
    let margin = cfg.thresholds.shutdown_margin_seconds;
    let mut longest = 0;
    let mut added = Vec::new();
    let containers = spec.get("containers").map(Node::items).unwrap_or_default();
    for c in &w.spec.containers {
        if let Some(s) = pod_helpers::prestop_seconds(c) {
            longest = longest.max(s);
        }
    }
    {
        for name in needs_prestop {
            let Some(node) = containers
                .iter()
                .find(|c| c.get("name").and_then(Node::as_str) == Some(name.as_str()))
            else {
                return false;
            };
            if !is_block_map(node) {
                return false;
            }
            let e = match node.get("lifecycle") {
                Some(l) if is_block_map(l) => insert_into_map(
                    text,
                    l,
                    &[
                        "preStop:".into(),
                        "  sleep:".into(),
                        format!("    seconds: {sleep}"),
                    ],
                    edits.len(),
                ),
                Some(_) => None,
                None => insert_into_map(
                    text,
                    node,
                    &[
                        "lifecycle:".into(),
                        "  preStop:".into(),
                        "    sleep:".into(),
                        format!("      seconds: {sleep}"),
                    ],
                    edits.len(),
                ),
            };
            let Some(e) = e else { return false };
            edits.push(e);
            added.push(name.as_str());
            longest = longest.max(sleep);
        }
    }
    let needed = longest + margin;
    let grace = pod_helpers::grace(w);
    let mut raised = false;
    if longest > 0 && grace < needed {
        let e = match spec.get("terminationGracePeriodSeconds") {
            Some(v) if matches!(v.kind, NodeKind::Scalar { .. }) => Some(Edit {
                at: v.start.byte,
                remove_to: v.end.byte,
                insert: needed.to_string(),
                seq: usize::MAX,
            }),
            Some(_) => None,
            None => insert_into_map(
                text,
                spec,
                &[format!("terminationGracePeriodSeconds: {needed}")],
                usize::MAX,
            ),
        };
        let Some(e) = e else { return false };
        edits.push(e);
        raised = true;
    }
    for name in added {
        plan.applied.push(format!(
            "{}: container {name:?}: added preStop sleep {sleep}s (prestop-missing)",
            o.display()
        ));
    }
    if raised {
        plan.applied.push(format!(
            "{}: terminationGracePeriodSeconds {grace} → {needed} (covers preStop {longest}s + {margin}s margin)",
            o.display()
        ));
    }
    true
}

fn yaml_scalar(s: &str) -> String {
    let simple = !s.is_empty()
        && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'))
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n"
        );
    if simple {
        s.to_owned()
    } else {
        serde_json::to_string(s).unwrap_or_default()
    }
}

/// The labels to select the workload's own pods: its selector's matchLabels when it has them,
/// else the template labels.
fn own_labels(o: &Object) -> Vec<(String, String)> {
    let Some(w) = o.workload() else {
        return Vec::new();
    };
    let from_sel: Vec<(String, String)> = w
        .selector
        .as_ref()
        .map(|s| {
            s.match_labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    if !from_sel.is_empty() {
        from_sel
    } else {
        w.labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

fn spread_edit(text: &str, o: &Object, root: &Node, edits: &mut Vec<Edit>) -> bool {
    let Some(spec) = pod_spec(o, root) else {
        return false;
    };
    if spec.get("topologySpreadConstraints").is_some() || !is_block_map(spec) {
        return false;
    }
    let labels = own_labels(o);
    if labels.is_empty() {
        return false;
    }
    let mut lines = vec![
        "topologySpreadConstraints:".to_owned(),
        "- maxSkew: 1".to_owned(),
        "  topologyKey: kubernetes.io/hostname".to_owned(),
        "  whenUnsatisfiable: ScheduleAnyway".to_owned(),
        "  labelSelector:".to_owned(),
        "    matchLabels:".to_owned(),
    ];
    for (k, v) in labels {
        lines.push(format!("      {}: {}", yaml_scalar(&k), yaml_scalar(&v)));
    }
    match insert_into_map(text, spec, &lines, edits.len()) {
        Some(e) => {
            edits.push(e);
            true
        }
        None => false,
    }
}

/// A budget for a workload that has none: (file name, YAML).
pub fn budget_file(o: &Object, pdb: bool) -> (String, String) {
    let ns = if o.namespace == "default" {
        String::new()
    } else {
        format!("  namespace: {}\n", yaml_scalar(&o.namespace))
    };
    let name = format!("{}-budget", o.name);
    if pdb {
        let mut labels = String::new();
        for (k, v) in own_labels(o) {
            labels.push_str(&format!("      {}: {}\n", yaml_scalar(&k), yaml_scalar(&v)));
        }
        (
            format!("{}-pdb.yaml", o.name),
            format!(
                "# Written by `steady fix` for {} (budget-missing).\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: {}\n{ns}spec:\n  maxUnavailable: 1\n  unhealthyPodEvictionPolicy: AlwaysAllow\n  selector:\n    matchLabels:\n{labels}",
                o.display(),
                yaml_scalar(&name)
            ),
        )
    } else {
        (
            format!("{}-pub.yaml", o.name),
            format!(
                "# Written by `steady fix` for {} (budget-missing).\napiVersion: policy.steady.dev/v1alpha1\nkind: PodUnavailableBudget\nmetadata:\n  name: {}\n{ns}spec:\n  targetRef:\n    apiVersion: {}\n    kind: {}\n    name: {}\n  maxUnavailable: 1\n  unhealthyPodPolicy: AlwaysAllow\n",
                o.display(),
                yaml_scalar(&name),
                yaml_scalar(&o.api_version),
                o.kind,
                yaml_scalar(&o.name)
            ),
        )
    }
}
