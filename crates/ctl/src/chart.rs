//! The Helm chart's templates (charts/steady/templates), generated from the builders that render
//! `steady install` (`crate::manifests`), so the chart and the install have one source.
//!
//! The objects are rendered with the default options, a placeholder wherever Helm supplies a
//! string (the release namespace, the image, the opt-in label), and then once more with each
//! option the chart turns into a condition switched on (cert-manager, PDB mode, ServiceMonitor,
//! opt-in). What a switch adds or removes, found by comparing the two renders, becomes an
//! `{{- if }}` block; a few fixed values become `.Values` references ([`FILLS`]). The output is
//! committed; `crates/ctl/tests/chart.rs` fails when it differs from what this module writes
//! (`STEADY_UPDATE_CHART=1 cargo test -p steady-ctl --test chart` rewrites it).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::manifests::{self, CertMode, InstallOptions, Manifest, NamespaceSelection};

/// A placeholder string put into the options, and the template expression it stands for.
struct Hole {
    mark: &'static str,
    expr: &'static str,
    /// Quote the value when it is the whole scalar (an image reference or a label value may read
    /// as a number or a boolean).
    quote: bool,
}

const HOLES: [Hole; 4] = [
    Hole {
        mark: "@@namespace@@",
        expr: ".Release.Namespace",
        quote: false,
    },
    Hole {
        mark: "@@image@@",
        expr: "include \"steady.image\" .",
        quote: true,
    },
    Hole {
        mark: "@@opt-in-key@@",
        expr: ".Values.namespaceSelector.optInLabel.key",
        quote: false,
    },
    Hole {
        mark: "@@opt-in-value@@",
        expr: ".Values.namespaceSelector.optInLabel.value",
        quote: true,
    },
];

/// An install option the chart turns into a condition.
struct Switch {
    /// The Helm condition under which the option is on, and the one under which it is off.
    on: &'static str,
    off: &'static str,
    set: fn(&mut InstallOptions),
}

const SWITCHES: [Switch; 4] = [
    Switch {
        on: "eq .Values.certificates.mode \"cert-manager\"",
        off: "eq .Values.certificates.mode \"self-signed\"",
        set: |o| o.cert_mode = CertMode::CertManager,
    },
    Switch {
        on: ".Values.pdbMode",
        off: "not .Values.pdbMode",
        set: |o| o.pdb_mode = true,
    },
    Switch {
        on: ".Values.metrics.serviceMonitor.enabled",
        off: "not .Values.metrics.serviceMonitor.enabled",
        set: |o| o.service_monitor = true,
    },
    Switch {
        on: "eq .Values.namespaceSelector.mode \"opt-in\"",
        off: "eq .Values.namespaceSelector.mode \"opt-out\"",
        set: |o| {
            o.namespace_selection = NamespaceSelection::OptIn {
                key: HOLES[2].mark.into(),
                value: HOLES[3].mark.into(),
            }
        },
    },
];

/// A fixed value of the rendered object that the chart takes from values.yaml.
enum Fill {
    /// `key: {{ expr }}`
    Inline(&'static str),
    /// `key:` and the expression's YAML below it (`{{- expr | nindent N }}`).
    Block(&'static str),
}

/// (kind, JSON pointer into the default render, what replaces the value there). Every object's
/// `/metadata/labels` also becomes the chart's labels (Helm's managed-by and chart labels).
const FILLS: [(&str, &str, Fill); 6] = [
    (
        "Deployment",
        "/spec/replicas",
        Fill::Inline(".Values.replicas"),
    ),
    (
        "Deployment",
        "/spec/template/metadata/labels",
        Fill::Block("include \"steady.labels\" ."),
    ),
    (
        "Deployment",
        "/spec/template/spec/containers/0/imagePullPolicy",
        Fill::Inline(".Values.image.pullPolicy"),
    ),
    (
        "Deployment",
        "/spec/template/spec/containers/0/resources",
        Fill::Block("toYaml .Values.resources"),
    ),
    (
        "ValidatingWebhookConfiguration",
        "/webhooks/0/failurePolicy",
        Fill::Inline(".Values.failurePolicy"),
    ),
    (
        "ServiceMonitor",
        "/spec/endpoints/0/interval",
        Fill::Inline(".Values.metrics.serviceMonitor.interval"),
    ),
];

/// Whole strings the chart spells with a value.
const WORDS: [(&str, &str); 1] = [("--log-format=json", "--log-format={{ .Values.logFormat }}")];

/// Checks of values.yaml that Helm runs before rendering anything (in deployment.yaml).
const CHECKS: &str = r#"{{- if not (has .Values.certificates.mode (list "self-signed" "cert-manager")) }}
{{- fail (printf "certificates.mode must be self-signed or cert-manager, not %q" .Values.certificates.mode) }}
{{- end }}
{{- if not (has .Values.namespaceSelector.mode (list "opt-out" "opt-in")) }}
{{- fail (printf "namespaceSelector.mode must be opt-out or opt-in, not %q" .Values.namespaceSelector.mode) }}
{{- end }}
{{- if not (has .Values.failurePolicy (list "Fail" "Ignore")) }}
{{- fail (printf "failurePolicy must be Fail or Ignore, not %q" .Values.failurePolicy) }}
{{- end }}
{{- if lt (int .Values.replicas) 1 }}
{{- fail "replicas must be at least 1: with no replica the webhook refuses every protected disruption" }}
{{- end }}
"#;

const HEADER: &str = "\
# Generated from crates/ctl/src/manifests.rs (what `steady install` applies) by
# crates/ctl/src/chart.rs. Do not edit: change the renderer, then
# STEADY_UPDATE_CHART=1 cargo test -p steady-ctl --test chart
";

/// The template file each kind goes to. The Namespace (`helm install --create-namespace`) and
/// the CRD (the chart's crds/) are not templates.
fn file_of(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "ServiceAccount" => "serviceaccount.yaml",
        "ClusterRole" | "ClusterRoleBinding" | "Role" | "RoleBinding" => "rbac.yaml",
        "Service" => "service.yaml",
        "Deployment" => "deployment.yaml",
        "PodDisruptionBudget" | "PodUnavailableBudget" => "budgets.yaml",
        "Issuer" | "Certificate" => "certificate.yaml",
        "ServiceMonitor" => "servicemonitor.yaml",
        "ValidatingWebhookConfiguration" => "webhook.yaml",
        _ => return None,
    })
}

/// Every template file of the chart (name, text) but `_helpers.tpl` and `NOTES.txt`.
pub fn templates() -> Vec<(&'static str, String)> {
    let base_opts = InstallOptions {
        namespace: HOLES[0].mark.into(),
        image: HOLES[1].mark.into(),
        ..InstallOptions::default()
    };
    let base = manifests::objects(&base_opts, Value::Null);
    let mut objects: Vec<Object> = base
        .iter()
        .map(|m| Object {
            manifest: m.clone(),
            node: Node::from(&m.object),
            cond: None,
        })
        .collect();
    for switch in &SWITCHES {
        let mut opts = base_opts.clone();
        (switch.set)(&mut opts);
        for m in manifests::objects(&opts, Value::Null) {
            match base.iter().position(|b| b.kind == m.kind) {
                Some(i) => overlay(&mut objects[i].node, &base[i].object, &m.object, switch),
                None if !objects.iter().any(|o| o.manifest.kind == m.kind) => {
                    objects.push(Object {
                        node: Node::from(&m.object),
                        manifest: m,
                        cond: Some(switch.on.to_owned()),
                    })
                }
                None => {}
            }
        }
    }
    for o in &mut objects {
        if let Node::Map(entries) = &mut o.node
            && let Some(meta) = entries.iter_mut().find(|e| e.key == "metadata")
        {
            fill(
                &mut meta.node,
                "/labels",
                Fill::Block("include \"steady.labels\" ."),
            );
        }
        for (kind, pointer, how) in FILLS {
            if kind == o.manifest.kind {
                fill(&mut o.node, pointer, how);
            }
        }
    }
    let mut files: BTreeMap<&'static str, String> = BTreeMap::new();
    for o in &objects {
        let Some(file) = file_of(o.manifest.kind) else {
            continue;
        };
        let out = files.entry(file).or_insert_with(|| {
            let mut text = HEADER.to_owned();
            if file == "deployment.yaml" {
                text.push_str(CHECKS);
            }
            text
        });
        let first = out.ends_with(HEADER) || out.ends_with(CHECKS);
        if let Some(cond) = &o.cond {
            out.push_str(&format!("{{{{- if {cond} }}}}\n"));
        }
        if !first {
            out.push_str("---\n");
        }
        if let Some(note) = o.manifest.note {
            for line in note.lines() {
                out.push_str(&format!("# {line}\n"));
            }
        }
        if let Node::Map(entries) = &o.node {
            map(entries, 0, out);
        }
        if o.cond.is_some() {
            out.push_str("{{- end }}\n");
        }
    }
    files.into_iter().collect()
}

struct Object {
    manifest: Manifest,
    node: Node,
    cond: Option<String>,
}

/// A rendered object on its way to a template: JSON with conditions and template text in it.
#[derive(Debug, Clone)]
enum Node {
    /// A scalar or an empty collection.
    Leaf(Value),
    /// Template text written as it is after `key: `.
    Text(String),
    /// An expression whose output is the YAML under the key.
    Block(String),
    Map(Vec<Entry>),
    Seq(Vec<Item>),
}

#[derive(Debug, Clone)]
struct Entry {
    key: String,
    node: Node,
    cond: Option<String>,
}

#[derive(Debug, Clone)]
struct Item {
    node: Node,
    cond: Option<String>,
    /// Index in the default render's array; None for an item a switch added.
    base: Option<usize>,
}

impl From<&Value> for Node {
    fn from(v: &Value) -> Self {
        match v {
            Value::Object(m) if !m.is_empty() => Node::Map(
                m.iter()
                    .map(|(k, v)| Entry {
                        key: k.clone(),
                        node: Node::from(v),
                        cond: None,
                    })
                    .collect(),
            ),
            Value::Array(a) if !a.is_empty() => Node::Seq(
                a.iter()
                    .enumerate()
                    .map(|(i, v)| Item {
                        node: Node::from(v),
                        cond: None,
                        base: Some(i),
                    })
                    .collect(),
            ),
            other => Node::Leaf(other.clone()),
        }
    }
}

fn and(cond: &Option<String>, more: &str) -> Option<String> {
    Some(match cond {
        None => more.to_owned(),
        Some(c) => format!("and ({c}) ({more})"),
    })
}

/// Puts into `node` (which renders `base` when every switch is off) what `switch` changes:
/// `variant` is the render with it on.
fn overlay(node: &mut Node, base: &Value, variant: &Value, switch: &Switch) {
    if base == variant {
        return;
    }
    match (node, base, variant) {
        (Node::Map(entries), Value::Object(b), Value::Object(v)) => {
            for (k, bv) in b {
                let entry = entries
                    .iter_mut()
                    .find(|e| &e.key == k)
                    .expect("every key of the default render is in the tree");
                match v.get(k) {
                    None => entry.cond = and(&entry.cond, switch.off),
                    Some(vv) => overlay(&mut entry.node, bv, vv, switch),
                }
            }
            for (k, vv) in v.iter().filter(|(k, _)| !b.contains_key(*k)) {
                let at = entries
                    .iter()
                    .position(|e| e.key.as_str() > k.as_str())
                    .unwrap_or(entries.len());
                entries.insert(
                    at,
                    Entry {
                        key: k.clone(),
                        node: Node::from(vv),
                        cond: Some(switch.on.to_owned()),
                    },
                );
            }
        }
        (Node::Seq(items), Value::Array(b), Value::Array(v)) => {
            if b.len() == v.len() {
                // Same length: the same items, some of them changed inside.
                for (i, (bi, vi)) in b.iter().zip(v).enumerate() {
                    let item = items.iter_mut().find(|it| it.base == Some(i)).unwrap();
                    overlay(&mut item.node, bi, vi, switch);
                }
                return;
            }
            let pairs = lcs(b, v);
            let matched_base: Vec<usize> = pairs.iter().map(|p| p.0).collect();
            for (i, _) in b
                .iter()
                .enumerate()
                .filter(|(i, _)| !matched_base.contains(i))
            {
                let item = items.iter_mut().find(|it| it.base == Some(i)).unwrap();
                item.cond = and(&item.cond, switch.off);
            }
            for (j, vj) in v.iter().enumerate() {
                if pairs.iter().any(|p| p.1 == j) {
                    continue;
                }
                // After the item of the default render that comes before it, and after whatever
                // other switches put there.
                let after = pairs.iter().rev().find(|p| p.1 < j).map(|p| p.0);
                let mut at = match after {
                    Some(bi) => items.iter().position(|it| it.base == Some(bi)).unwrap() + 1,
                    None => 0,
                };
                while at < items.len() && items[at].base.is_none() {
                    at += 1;
                }
                items.insert(
                    at,
                    Item {
                        node: Node::from(vj),
                        cond: Some(switch.on.to_owned()),
                        base: None,
                    },
                );
            }
        }
        (node, Value::Array(_) | Value::Object(_), _)
        | (node, _, Value::Array(_) | Value::Object(_)) => {
            panic!("a switch changes a collection into something else: {node:?}")
        }
        (node, b, v) => {
            *node = Node::Text(format!(
                "{{{{ if {} }}}}{}{{{{ else }}}}{}{{{{ end }}}}",
                switch.on,
                scalar(v),
                scalar(b)
            ));
        }
    }
}

/// Index pairs of a longest common subsequence of `a` and `b`.
fn lcs(a: &[Value], b: &[Value]) -> Vec<(usize, usize)> {
    let mut len = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            len[i][j] = if a[i] == b[j] {
                len[i + 1][j + 1] + 1
            } else {
                len[i + 1][j].max(len[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            out.push((i, j));
            i += 1;
            j += 1;
        } else if len[i + 1][j] >= len[i][j + 1] {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// Replaces the value at `pointer` (indices are the default render's) with a values.yaml one.
fn fill(node: &mut Node, pointer: &str, how: Fill) {
    let mut at = node;
    for part in pointer.split('/').skip(1) {
        at = match at {
            Node::Map(entries) => {
                &mut entries
                    .iter_mut()
                    .find(|e| e.key == part)
                    .unwrap_or_else(|| panic!("{pointer}: no {part}"))
                    .node
            }
            Node::Seq(items) => {
                let i: usize = part.parse().expect("an index");
                &mut items
                    .iter_mut()
                    .find(|it| it.base == Some(i))
                    .unwrap_or_else(|| panic!("{pointer}: no item {i}"))
                    .node
            }
            other => panic!("{pointer}: {part} is inside {other:?}"),
        };
    }
    *at = match how {
        Fill::Inline(expr) => Node::Text(format!("{{{{ {expr} }}}}")),
        Fill::Block(expr) => Node::Block(expr.to_owned()),
    };
}

fn indent(n: usize, out: &mut String) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// The condition that is true exactly when `cond` is false, when `cond` is a switch's.
fn complement(cond: &str) -> Option<&'static str> {
    SWITCHES.iter().find_map(|s| {
        if s.on == cond {
            Some(s.off)
        } else if s.off == cond {
            Some(s.on)
        } else {
            None
        }
    })
}

/// Writes `items` in runs of one condition each: `{{- if }}` around a run, `{{- else }}` when
/// the next run has the opposite condition.
fn conditional<T>(
    items: &[T],
    cond: impl Fn(&T) -> &Option<String>,
    at: usize,
    out: &mut String,
    mut write: impl FnMut(usize, &T, &mut String),
) {
    let mut runs: Vec<(&Option<String>, std::ops::Range<usize>)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match runs.last_mut() {
            Some((c, r)) if *c == cond(item) => r.end = i + 1,
            _ => runs.push((cond(item), i..i + 1)),
        }
    }
    let mut k = 0;
    while k < runs.len() {
        let (c, r) = runs[k].clone();
        if let Some(c) = c {
            indent(at, out);
            out.push_str(&format!("{{{{- if {c} }}}}\n"));
        }
        r.for_each(|i| write(i, &items[i], out));
        if let Some(c) = c {
            if let Some((Some(next), r2)) = runs.get(k + 1).cloned()
                && complement(c) == Some(next.as_str())
            {
                indent(at, out);
                out.push_str("{{- else }}\n");
                r2.for_each(|i| write(i, &items[i], out));
                k += 1;
            }
            indent(at, out);
            out.push_str("{{- end }}\n");
        }
        k += 1;
    }
}

/// A string with its placeholders made template expressions.
fn text(s: &str) -> String {
    if let Some((_, t)) = WORDS.iter().find(|(w, _)| *w == s) {
        return (*t).to_owned();
    }
    if let Some(h) = HOLES.iter().find(|h| h.mark == s) {
        let pipe = if h.quote { " | quote" } else { "" };
        return format!("{{{{ {}{pipe} }}}}", h.expr);
    }
    if !HOLES.iter().any(|h| s.contains(h.mark)) {
        return scalar(&Value::String(s.to_owned()));
    }
    let sample = HOLES
        .iter()
        .fold(s.to_owned(), |t, h| t.replace(h.mark, "x"));
    assert!(
        scalar(&Value::String(sample.clone())) == sample,
        "{s:?} needs quoting around its template expressions"
    );
    HOLES.iter().fold(s.to_owned(), |t, h| {
        t.replace(h.mark, &format!("{{{{ {} }}}}", h.expr))
    })
}

fn leaf(v: &Value) -> String {
    match v {
        Value::String(s) => text(s),
        other => scalar(other),
    }
}

/// A scalar (or `{}` / `[]`) quoted as `steady install --print` quotes it, on one line.
fn scalar(v: &Value) -> String {
    steady_api::yaml::scalar(v).expect("a JSON value has a YAML form")
}

/// The value after `key:` (same layout as `steady_api::yaml::to_string`: block style, sequences at
/// the key's indentation).
fn value(node: &Node, at: usize, out: &mut String) {
    match node {
        Node::Leaf(v) => out.push_str(&format!(" {}\n", leaf(v))),
        Node::Text(t) => out.push_str(&format!(" {t}\n")),
        Node::Block(expr) => {
            out.push('\n');
            indent(at + 2, out);
            out.push_str(&format!("{{{{- {expr} | nindent {} }}}}\n", at + 2));
        }
        Node::Map(entries) => {
            out.push('\n');
            map(entries, at + 2, out);
        }
        Node::Seq(items) => {
            out.push('\n');
            seq(items, at, out);
        }
    }
}

fn map(entries: &[Entry], at: usize, out: &mut String) {
    conditional(
        entries,
        |e| &e.cond,
        at,
        out,
        |i, e, out| {
            // The first key of a map inside a sequence item follows its "- ".
            if i > 0 || !out.ends_with("- ") {
                indent(at, out);
            }
            out.push_str(&text(&e.key));
            out.push(':');
            value(&e.node, at, out);
        },
    );
}

fn seq(items: &[Item], at: usize, out: &mut String) {
    conditional(
        items,
        |it| &it.cond,
        at,
        out,
        |_, item, out| {
            indent(at, out);
            match &item.node {
                // A condition on the item's first key goes on its own line, below the "-".
                Node::Map(entries) if entries[0].cond.is_some() => {
                    out.push_str("-\n");
                    map(entries, at + 2, out);
                }
                Node::Map(entries) => {
                    out.push_str("- ");
                    map(entries, at + 2, out);
                }
                Node::Seq(inner) => {
                    out.push_str("-\n");
                    seq(inner, at + 2, out);
                }
                Node::Leaf(v) => out.push_str(&format!("- {}\n", leaf(v))),
                Node::Text(t) => out.push_str(&format!("- {t}\n")),
                Node::Block(expr) => panic!("a block ({expr}) as a sequence item"),
            }
        },
    );
}
