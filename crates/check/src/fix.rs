//! `steady fix`: text edits at the spans the YAML parser recorded. Only the inserted or replaced
//! bytes change; comments, key order, quoting and the other documents of the file stay
//! byte-for-byte as they were. A file whose edited text would not parse back to the same objects
//! is left alone and reported.

use std::collections::BTreeMap;

use crate::config::Config;
use crate::load::{self, InputError};
use crate::model::{Object, WorkloadKind, removed_api};
use crate::rules::{self, Fix, object, pod_helpers};
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

/// Computes the fixes for one file's text, as if it were the whole input.
pub fn plan(file: &str, text: &str, cfg: &Config, opts: &Options) -> Plan {
    plan_all(&[(file, text)], cfg, opts)
        .pop()
        .unwrap_or_default()
}

/// Computes the fixes for every file of one input at once, one [`Plan`] per file in order. The
/// rules see all files together, as `steady check` does: a budget written by an earlier run in
/// its own file covers its workload, so a second run changes nothing.
pub fn plan_all(files: &[(&str, &str)], cfg: &Config, opts: &Options) -> Vec<Plan> {
    let mut objects: Vec<Object> = Vec::new();
    // Per file: the range of its objects in `objects`, and its load errors.
    let mut loaded = Vec::with_capacity(files.len());
    for (file, text) in files {
        let l = load::load_text(file, text, "default");
        let first = objects.len();
        objects.extend(l.objects);
        loaded.push((first..objects.len(), l.errors));
    }
    let findings = rules::run(&objects, cfg);
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
    files
        .iter()
        .zip(loaded)
        .map(|((file, text), (range, errors))| {
            let mine: BTreeMap<usize, BTreeMap<&'static str, Vec<String>>> = wanted
                .range(range.clone())
                .map(|(k, v)| (*k, v.clone()))
                .collect();
            plan_file(file, text, &objects, range.len(), errors, mine, cfg, opts)
        })
        .collect()
}

/// Why an automatic fix was not made.
enum Refusal {
    /// Flow style or a layout the text edits do not handle.
    Layout,
    /// The node to edit is anchored or an alias (the line of that node).
    Shared(usize),
}

#[allow(clippy::too_many_arguments)]
fn plan_file(
    file: &str,
    text: &str,
    objects: &[Object],
    own_objects: usize,
    load_errors: Vec<InputError>,
    wanted: BTreeMap<usize, BTreeMap<&'static str, Vec<String>>>,
    cfg: &Config,
    opts: &Options,
) -> Plan {
    // Every position below is in `body`; the byte order mark goes back in front at the end.
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    let bom = &text[..text.len() - body.len()];
    // New lines take the file's own line ending.
    let eol = match body.find('\n') {
        Some(n) if n > 0 && body.as_bytes()[n - 1] == b'\r' => "\r\n",
        _ => "\n",
    };
    let docs = yaml::parse_stream(body);
    let mut plan = Plan {
        text: text.to_owned(),
        errors: load_errors,
        ..Plan::default()
    };
    let load_errors = plan.errors.len();
    let mut edits: Vec<Edit> = Vec::new();
    for (obj, by_rule) in wanted {
        let o = &objects[obj];
        let Some(root) = object_node(&docs, o) else {
            continue;
        };
        let cannot = |rule: &str, why: Refusal, plan: &mut Plan| {
            let message = match why {
                Refusal::Layout => format!(
                    "{}: cannot fix {rule} automatically (flow-style YAML or unusual layout); see `steady explain {rule}`",
                    o.display()
                ),
                Refusal::Shared(line) => format!(
                    "{}: cannot fix {rule} automatically: the YAML to edit at line {line} is shared through an anchor/alias, and an edit there would change every object that uses it; edit it by hand (see `steady explain {rule}`)",
                    o.display()
                ),
            };
            plan.errors.push(InputError {
                file: file.to_owned(),
                line: o.source.line,
                message,
            });
        };
        let prestop = by_rule.get("prestop-missing");
        if prestop.is_some() || by_rule.contains_key("prestop-exceeds-grace") {
            let before = edits.len();
            let containers = prestop.map(Vec::as_slice).unwrap_or_default();
            let ctx = EditCtx { text: body, eol };
            if let Err(why) = shutdown_edits(&ctx, o, root, cfg, containers, &mut edits, &mut plan)
            {
                edits.truncate(before);
                cannot(
                    if prestop.is_some() {
                        "prestop-missing"
                    } else {
                        "prestop-exceeds-grace"
                    },
                    why,
                    &mut plan,
                );
            }
        }
        for rule in by_rule.keys() {
            match rules::find(rule).and_then(|r| r.fix) {
                Some(Fix::AddSpread) => {
                    let ctx = EditCtx { text: body, eol };
                    match spread_edit(&ctx, o, root, &mut edits) {
                        Ok(()) => plan.applied.push(format!(
                            "{}: added a hostname topologySpreadConstraint ({rule})",
                            o.display()
                        )),
                        Err(why) => cannot(rule, why, &mut plan),
                    }
                }
                Some(Fix::AddBudget) => match budget_file(o, opts.pdb) {
                    Ok((name, content)) => {
                        plan.applied
                            .push(format!("{}: wrote {name} ({rule})", o.display()));
                        plan.new_files.push((name, content));
                    }
                    Err(why) => plan.errors.push(InputError {
                        file: file.to_owned(),
                        line: o.source.line,
                        message: format!(
                            "{}: cannot fix {rule}: {why}; the budget file is named after the object, so fix the name first (see `steady explain name-invalid`)",
                            o.display()
                        ),
                    }),
                },
                _ => {}
            }
        }
    }
    if edits.is_empty() {
        return plan;
    }
    edits.sort_by(|a, b| b.at.cmp(&a.at).then(b.seq.cmp(&a.seq)));
    let mut out = body.to_owned();
    for e in &edits {
        out.replace_range(e.at..e.remove_to, &e.insert);
    }
    out.insert_str(0, bom);
    // Safety net: the result must load the same objects without a new error. When it does not,
    // nothing of this file's plan is made or reported as made.
    let check = load::load_text(file, &out, "default");
    if check.objects.len() != own_objects || check.errors.len() > load_errors {
        plan.applied.clear();
        plan.new_files.clear();
        plan.errors.push(InputError {
            file: file.to_owned(),
            line: 0,
            message: "the fixed text would not parse back to the same objects; file left unchanged and no budget file written"
                .into(),
        });
        return plan;
    }
    plan.text = out;
    plan
}

/// The text the edits are computed against, and the line ending new lines take.
struct EditCtx<'a> {
    text: &'a str,
    eol: &'static str,
}

/// The node of an object: its document's root, or the List item on its line.
fn object_node<'a>(
    docs: &'a [Result<yaml::Document, yaml::YamlError>],
    o: &Object,
) -> Option<&'a Node> {
    let root = &docs.get(o.source.doc)?.as_ref().ok()?.root;
    if root.start.line == o.source.line && root.get("kind").and_then(Node::as_str) == Some(o.kind) {
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
fn insert_into_map(ctx: &EditCtx<'_>, map: &Node, lines: &[String], seq: usize) -> Option<Edit> {
    let text = ctx.text;
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
            None => (text.len(), ctx.eol),
        }
    };
    let mut insert = String::from(prefix);
    for l in lines {
        insert.push_str(&indent);
        insert.push_str(l);
        insert.push_str(ctx.eol);
    }
    Some(Edit {
        at,
        remove_to: at,
        insert,
        seq,
    })
}

/// Refuses an edit inside YAML that stands for more than one place.
fn unshared(n: &Node) -> Result<&Node, Refusal> {
    if n.shared {
        Err(Refusal::Shared(n.start.line))
    } else {
        Ok(n)
    }
}

fn shutdown_edits(
    ctx: &EditCtx<'_>,
    o: &Object,
    root: &Node,
    cfg: &Config,
    needs_prestop: &[String],
    edits: &mut Vec<Edit>,
    plan: &mut Plan,
) -> Result<(), Refusal> {
    let w = o.workload().ok_or(Refusal::Layout)?;
    let spec = unshared(pod_spec(o, root).ok_or(Refusal::Layout)?)?;
    if !is_block_map(spec) {
        return Err(Refusal::Layout);
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
    for name in needs_prestop {
        let node = containers
            .iter()
            .find(|c| c.get("name").and_then(Node::as_str) == Some(name.as_str()))
            .ok_or(Refusal::Layout)?;
        let node = unshared(node)?;
        if !is_block_map(node) {
            return Err(Refusal::Layout);
        }
        let e = match node.get("lifecycle") {
            Some(l) if is_block_map(l) => insert_into_map(
                ctx,
                unshared(l)?,
                &[
                    "preStop:".into(),
                    "  sleep:".into(),
                    format!("    seconds: {sleep}"),
                ],
                edits.len(),
            ),
            Some(_) => None,
            None => insert_into_map(
                ctx,
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
        edits.push(e.ok_or(Refusal::Layout)?);
        added.push(name.as_str());
        longest = longest.max(sleep);
    }
    let needed = longest + margin;
    let grace = pod_helpers::grace(w);
    let mut raised = false;
    if longest > 0 && grace < needed {
        let e = match spec.get("terminationGracePeriodSeconds") {
            Some(v) if matches!(v.kind, NodeKind::Scalar { .. }) => Some(Edit {
                at: unshared(v)?.start.byte,
                remove_to: v.end.byte,
                insert: needed.to_string(),
                seq: usize::MAX,
            }),
            Some(_) => None,
            None => insert_into_map(
                ctx,
                spec,
                &[format!("terminationGracePeriodSeconds: {needed}")],
                usize::MAX,
            ),
        };
        edits.push(e.ok_or(Refusal::Layout)?);
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
    Ok(())
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

fn spread_edit(
    ctx: &EditCtx<'_>,
    o: &Object,
    root: &Node,
    edits: &mut Vec<Edit>,
) -> Result<(), Refusal> {
    let spec = unshared(pod_spec(o, root).ok_or(Refusal::Layout)?)?;
    if spec.get("topologySpreadConstraints").is_some() || !is_block_map(spec) {
        return Err(Refusal::Layout);
    }
    let labels = own_labels(o);
    if labels.is_empty() {
        return Err(Refusal::Layout);
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
    edits.push(insert_into_map(ctx, spec, &lines, edits.len()).ok_or(Refusal::Layout)?);
    Ok(())
}

/// A budget for a workload that has none: (file name, YAML). Refused (with the reason) when the
/// object's name or namespace is not one the API server accepts: the file is named after the
/// object, and `../x` or a name with a newline must not choose where it goes or what it says.
pub fn budget_file(o: &Object, pdb: bool) -> Result<(String, String), String> {
    if o.name.is_empty() {
        return Err("the object has no metadata.name".to_owned());
    }
    if let Some(why) = object::name_problem(o.kind, &o.name) {
        return Err(why);
    }
    if let Some(why) = object::namespace_problem(&o.namespace) {
        return Err(why);
    }
    // A removed API version is targeted by the version that replaced it.
    let api_version =
        removed_api(&o.api_version, o.kind).map_or(o.api_version.as_str(), |r| r.replacement);
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
        Ok((
            format!("{}-pdb.yaml", o.name),
            format!(
                "# Written by `steady fix` for {} (budget-missing).\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: {}\n{ns}spec:\n  maxUnavailable: 1\n  unhealthyPodEvictionPolicy: AlwaysAllow\n  selector:\n    matchLabels:\n{labels}",
                o.display(),
                yaml_scalar(&name)
            ),
        ))
    } else {
        Ok((
            format!("{}-pub.yaml", o.name),
            format!(
                "# Written by `steady fix` for {} (budget-missing).\napiVersion: policy.steady.dev/v1alpha1\nkind: PodUnavailableBudget\nmetadata:\n  name: {}\n{ns}spec:\n  targetRef:\n    apiVersion: {}\n    kind: {}\n    name: {}\n  maxUnavailable: 1\n  unhealthyPodPolicy: AlwaysAllow\n",
                o.display(),
                yaml_scalar(&name),
                yaml_scalar(api_version),
                o.kind,
                yaml_scalar(&o.name)
            ),
        ))
    }
}
