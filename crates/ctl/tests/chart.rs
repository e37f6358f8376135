//! The Helm chart in charts/steady, checked without helm (no helm binary is available here): its
//! metadata, its values against the README table and against `steady install`'s defaults, its CRD
//! against deploy/crd.yaml, the kinds its templates create against the rendered manifests, every
//! `.Values` reference, and the flags and RBAC the templates share with the Rust renderer.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use steady_ctl::install::{CertMode, InstallOptions, NamespaceSelection, Resources, render};
use steady_ctl::manifests;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn chart() -> PathBuf {
    root().join("charts/steady")
}

fn read(p: impl AsRef<Path>) -> String {
    let p = p.as_ref();
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn yaml(p: impl AsRef<Path>) -> Value {
    steady_api::yaml::from_str(&read(p)).expect("valid YAML")
}

fn values() -> Value {
    yaml(chart().join("values.yaml"))
}

/// Dotted paths of every leaf of `v` (an empty map counts as a leaf).
fn leaves(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(v, &p, out);
            }
        }
        _ => {
            out.insert(prefix.to_owned());
        }
    }
}

fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, k| v.get(k))
}

/// Template files, excluding helpers and NOTES.
fn templates() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(chart().join("templates"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                read(&p),
            )
        })
        .collect();
    out.sort();
    assert!(!out.is_empty());
    out
}

fn all_template_text() -> String {
    std::fs::read_dir(chart().join("templates"))
        .unwrap()
        .map(|e| read(e.unwrap().path()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn chart_metadata() {
    let c = yaml(chart().join("Chart.yaml"));
    assert_eq!(c["apiVersion"], "v2", "Helm 3 chart");
    assert_eq!(c["name"], "steady");
    assert_eq!(c["type"], "application");
    assert_eq!(
        c["version"],
        env!("CARGO_PKG_VERSION"),
        "chart version follows the crates"
    );
    assert_eq!(
        c["appVersion"],
        env!("CARGO_PKG_VERSION"),
        "image tag default follows the crates"
    );
    assert!(c["description"].as_str().is_some_and(|d| !d.is_empty()));
    assert!(c["kubeVersion"].is_string());
    for f in [
        "values.yaml",
        "README.md",
        "templates/NOTES.txt",
        "templates/_helpers.tpl",
    ] {
        assert!(chart().join(f).is_file(), "{f} missing");
    }
}

#[test]
fn the_chart_crd_is_deploy_crd_yaml() {
    let committed = read(root().join("deploy/crd.yaml"));
    assert_eq!(
        read(chart().join("crds/podunavailablebudgets.yaml")),
        committed,
        "copy deploy/crd.yaml to charts/steady/crds/podunavailablebudgets.yaml"
    );
    assert_eq!(committed, steady_api::crd_yaml().unwrap());
}

#[test]
fn values_have_every_documented_key_and_the_readme_documents_every_value() {
    let v = values();
    let mut have = BTreeSet::new();
    leaves(&v, "", &mut have);
    let readme = read(chart().join("README.md"));
    let documented: BTreeSet<String> = readme
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once('`').map(|(k, _)| k.to_owned()))
        .collect();
    assert_eq!(
        have, documented,
        "values.yaml leaves vs the README's values table"
    );
    // The values issue 7 asks for.
    for key in [
        "replicas",
        "image.repository",
        "image.tag",
        "resources.requests.cpu",
        "failurePolicy",
        "namespaceSelector.mode",
        "pdbMode",
        "logFormat",
        "metrics.serviceMonitor.enabled",
        "certificates.mode",
    ] {
        assert!(have.contains(key), "values.yaml lacks {key}");
    }
}

/// The chart's defaults are `steady install`'s defaults.
#[test]
fn chart_defaults_are_the_install_defaults() {
    let v = values();
    let d = InstallOptions::default();
    assert_eq!(v["replicas"], d.replicas);
    assert_eq!(
        format!(
            "{}:{}",
            v["image"]["repository"].as_str().unwrap(),
            env!("CARGO_PKG_VERSION")
        ),
        d.image
    );
    assert_eq!(v["image"]["tag"], "", "the tag defaults to appVersion");
    assert_eq!(v["failurePolicy"], d.failure_policy.as_str());
    assert_eq!(v["logFormat"], d.log_format.as_str());
    assert_eq!(v["pdbMode"], d.pdb_mode);
    assert_eq!(v["metrics"]["serviceMonitor"]["enabled"], d.service_monitor);
    assert_eq!(d.cert_mode, CertMode::SelfSigned);
    assert_eq!(v["certificates"]["mode"], "self-signed");
    assert_eq!(d.namespace_selection, NamespaceSelection::OptOut);
    assert_eq!(v["namespaceSelector"]["mode"], "opt-out");
    assert_eq!(
        (
            v["namespaceSelector"]["optInLabel"]["key"].as_str(),
            v["namespaceSelector"]["optInLabel"]["value"].as_str()
        ),
        (Some(manifests::GUARD_LABEL), Some(manifests::OPT_IN_VALUE))
    );
    let r = Resources::default();
    assert_eq!(
        v["resources"],
        serde_json::json!({
            "requests": { "cpu": r.cpu_request, "memory": r.memory_request },
            "limits": { "memory": r.memory_limit.unwrap() },
        })
    );
    assert!(r.cpu_limit.is_none());
}

/// Together the templates create the kinds `steady install` does (with every optional part on),
/// but the Namespace (`helm install --create-namespace`) and the CRD (crds/).
#[test]
fn template_kinds_are_the_rendered_kinds() {
    let mut in_templates = BTreeSet::new();
    for (file, text) in templates() {
        let kinds: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("kind: "))
            .map(str::trim)
            .collect();
        assert!(
            !kinds.is_empty() || file.starts_with('_'),
            "{file} creates nothing"
        );
        in_templates.extend(kinds.into_iter().map(str::to_owned));
    }
    let all = InstallOptions {
        cert_mode: CertMode::CertManager,
        service_monitor: true,
        pdb_mode: true,
        ..InstallOptions::default()
    };
    let rendered: BTreeSet<String> = render(&all)
        .unwrap()
        .objects
        .iter()
        .map(|o| o.kind.to_owned())
        .filter(|k| k != "Namespace" && k != "CustomResourceDefinition")
        .collect();
    assert_eq!(in_templates, rendered);
    // And deploy/steady.yaml's kinds are the default subset of them.
    let steady_yaml: BTreeSet<String> = read(root().join("deploy/steady.yaml"))
        .lines()
        .filter_map(|l| l.strip_prefix("kind: "))
        .map(|k| k.trim().to_owned())
        .filter(|k| k != "Namespace" && k != "CustomResourceDefinition")
        .collect();
    let optional: BTreeSet<String> = ["Issuer", "Certificate", "ServiceMonitor"]
        .map(String::from)
        .into();
    assert_eq!(steady_yaml, &in_templates - &optional);
}

#[test]
fn every_values_reference_exists() {
    let v = values();
    let text = all_template_text();
    let mut refs = BTreeSet::new();
    for (i, _) in text.match_indices(".Values.") {
        let rest = &text[i + ".Values.".len()..];
        let path: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '_')
            .collect();
        refs.insert(path.trim_end_matches('.').to_owned());
    }
    assert!(refs.len() >= 10, "{refs:?}");
    for r in &refs {
        assert!(
            at(&v, r).is_some(),
            ".Values.{r} is used in a template but not in values.yaml"
        );
    }
}

#[test]
fn template_actions_are_balanced() {
    for entry in std::fs::read_dir(chart().join("templates")).unwrap() {
        let path = entry.unwrap().path();
        let text = read(&path);
        let name = path.display();
        assert_eq!(
            text.matches("{{").count(),
            text.matches("}}").count(),
            "{name}: unbalanced braces"
        );
        let mut opened = 0usize;
        let mut ended = 0usize;
        for action in text.split("{{").skip(1) {
            let body = action.trim_start_matches('-').trim_start();
            let word = body.split_whitespace().next().unwrap_or("");
            match word {
                "if" | "range" | "with" | "define" => opened += 1,
                "end" => ended += 1,
                _ => {}
            }
        }
        assert_eq!(
            opened, ended,
            "{name}: {opened} blocks opened, {ended} ended"
        );
    }
}

/// What Helm would render, for every combination of the chart's switches, is what `steady install`
/// renders for the same options (labels aside: the chart's carry Helm's). The templates are
/// evaluated by [`helm_render`], which knows the template language the generator writes.
#[test]
fn the_chart_renders_what_steady_install_renders() {
    let modes = [CertMode::SelfSigned, CertMode::CertManager];
    let mut combinations = 0;
    for cert_mode in modes {
        for pdb_mode in [false, true] {
            for service_monitor in [false, true] {
                for opt_in in [false, true] {
                    let opts = InstallOptions {
                        cert_mode,
                        pdb_mode,
                        service_monitor,
                        failure_policy: steady_ctl::manifests::FailurePolicy::Ignore,
                        log_format: steady_ctl::manifests::LogFormat::Text,
                        replicas: 3,
                        namespace_selection: if opt_in {
                            // A label value YAML reads as a boolean: the chart must quote it.
                            NamespaceSelection::OptIn {
                                key: "team.example/steady".into(),
                                value: "true".into(),
                            }
                        } else {
                            NamespaceSelection::OptOut
                        },
                        ..InstallOptions::default()
                    };
                    let mut v = values();
                    v["certificates"]["mode"] = json!(if cert_mode == CertMode::CertManager {
                        "cert-manager"
                    } else {
                        "self-signed"
                    });
                    v["pdbMode"] = json!(pdb_mode);
                    v["metrics"]["serviceMonitor"]["enabled"] = json!(service_monitor);
                    v["namespaceSelector"]["mode"] =
                        json!(if opt_in { "opt-in" } else { "opt-out" });
                    v["namespaceSelector"]["optInLabel"] =
                        json!({ "key": "team.example/steady", "value": "true" });
                    v["failurePolicy"] = json!("Ignore");
                    v["logFormat"] = json!("text");
                    v["replicas"] = json!(3);
                    let chart_objects = helm_render(&v, "steady-system");
                    let mut expected: Vec<Value> = render(&opts)
                        .unwrap()
                        .objects
                        .into_iter()
                        .filter(|m| m.kind != "Namespace" && m.kind != "CustomResourceDefinition")
                        .map(|m| with_helm_labels(m.object))
                        .collect();
                    expected.sort_by_key(|o| {
                        (o["kind"].to_string(), o["metadata"]["name"].to_string())
                    });
                    assert_eq!(chart_objects.len(), expected.len(), "{opts:?}");
                    for (got, want) in chart_objects.iter().zip(&expected) {
                        assert_eq!(got, want, "{opts:?}");
                    }
                    combinations += 1;
                }
            }
        }
    }
    assert_eq!(combinations, 16);
}

/// A bad value stops the chart with a message, as Helm's `fail` does.
#[test]
fn the_chart_refuses_bad_values() {
    for (key, bad, says) in [
        (
            "certificates",
            json!({ "mode": "vault" }),
            "certificates.mode",
        ),
        ("failurePolicy", json!("Maybe"), "failurePolicy"),
        ("replicas", json!(0), "replicas must be at least 1"),
    ] {
        let mut v = values();
        v[key] = bad;
        let err = std::panic::catch_unwind(|| helm_render(&v, "steady-system")).unwrap_err();
        let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains(says), "{key}: {msg}");
    }
}

fn helm_labels() -> Value {
    json!({
        "app.kubernetes.io/name": "steady-guard",
        "app.kubernetes.io/part-of": "steady",
        "app.kubernetes.io/managed-by": "Helm",
        "helm.sh/chart": format!("steady-{}", env!("CARGO_PKG_VERSION")),
    })
}

fn with_helm_labels(mut o: Value) -> Value {
    o["metadata"]["labels"] = helm_labels();
    if o["kind"] == "Deployment" {
        o["spec"]["template"]["metadata"]["labels"] = helm_labels();
    }
    o
}

/// Renders charts/steady/templates/*.yaml like `helm template` for the template language the
/// generator writes: `if`/`else`/`end` with `eq`, `not`, `and`, `has`/`list`, `lt`/`int`; `fail`;
/// `.Values`, `.Release.Namespace`, `quote`, `nindent`, `toYaml` and the chart's two helpers.
/// Returns the objects sorted by kind and name; panics with the message of a `fail`.
fn helm_render(values: &Value, namespace: &str) -> Vec<Value> {
    let mut objects = Vec::new();
    for (_, text) in templates() {
        let out = eval_template(&text, values, namespace);
        for doc in out.split("\n---\n") {
            let v: Value = steady_api::yaml::from_str(doc).unwrap_or_else(|e| panic!("{e}\n{doc}"));
            if !v.is_null() {
                objects.push(v);
            }
        }
    }
    objects.sort_by_key(|o| (o["kind"].to_string(), o["metadata"]["name"].to_string()));
    objects
}

fn eval_template(text: &str, values: &Value, namespace: &str) -> String {
    let mut out = String::new();
    // Whether the text at this depth is written: one entry per open `if`, with whether a branch
    // was already taken.
    let mut stack: Vec<(bool, bool)> = Vec::new();
    let live = |stack: &[(bool, bool)]| stack.iter().all(|(on, _)| *on);
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let (before, after) = rest.split_at(open);
        let close = after.find("}}").expect("closed action");
        let mut action = &after[2..close];
        rest = &after[close + 2..];
        if live(&stack) {
            out.push_str(before);
        }
        if let Some(a) = action.strip_prefix('-') {
            action = a;
            if live(&stack) {
                let trimmed = out.trim_end().len();
                out.truncate(trimmed);
            }
        }
        let action = action.trim();
        if let Some(cond) = action.strip_prefix("if ") {
            let on = live(&stack) && truthy(&eval(cond, values, namespace));
            stack.push((on, on));
        } else if action == "else" {
            let outer = live(&stack[..stack.len() - 1]);
            let (on, taken) = stack.last_mut().unwrap();
            *on = outer && !*taken;
            *taken |= *on;
        } else if action == "end" {
            stack.pop().expect("an open if");
        } else if let Some(msg) = action.strip_prefix("fail ") {
            if live(&stack) {
                panic!(
                    "{}",
                    eval(msg, values, namespace).as_str().unwrap_or_default()
                );
            }
        } else if live(&stack) {
            let v = eval(action, values, namespace);
            out.push_str(&match v {
                Value::String(s) => s,
                other => other.to_string(),
            });
        }
    }
    assert!(stack.is_empty(), "unclosed if");
    out.push_str(rest);
    out
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Splits a pipeline or an argument list at top level (outside parentheses and quotes).
fn split_top(s: &str, sep: char) -> Vec<String> {
    let (mut parts, mut cur, mut depth, mut quoted) = (Vec::new(), String::new(), 0, false);
    for c in s.chars() {
        match c {
            '"' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            _ => {}
        }
        if c == sep && depth == 0 && !quoted {
            parts.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    parts.push(cur);
    parts
        .into_iter()
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}

fn eval(expr: &str, values: &Value, namespace: &str) -> Value {
    let stages = split_top(expr, '|');
    let mut v = call(&stages[0], values, namespace, None);
    for stage in &stages[1..] {
        v = call(stage, values, namespace, Some(v));
    }
    v
}

fn call(expr: &str, values: &Value, namespace: &str, piped: Option<Value>) -> Value {
    let expr = expr.trim();
    if let Some(inner) = expr.strip_prefix('(').and_then(|e| e.strip_suffix(')')) {
        return eval(inner, values, namespace);
    }
    let mut words = split_top(expr, ' ');
    if let Some(p) = piped {
        words.push(String::new());
        let arg = |w: &str| eval_arg(w, values, namespace);
        return match words[0].as_str() {
            "quote" => json!(format!(
                "\"{}\"",
                p.as_str().map(str::to_owned).unwrap_or(p.to_string())
            )),
            "nindent" => {
                let n: usize = words[1].parse().unwrap();
                let pad = " ".repeat(n);
                let s = p.as_str().unwrap();
                json!(s.lines().map(|l| format!("\n{pad}{l}")).collect::<String>())
            }
            other => panic!("unknown pipeline function {other} ({:?})", arg(&words[1])),
        };
    }
    let arg = |i: usize| eval_arg(&words[i], values, namespace);
    match words[0].as_str() {
        "eq" => json!(arg(1) == arg(2)),
        "not" => json!(!truthy(&arg(1))),
        "and" => json!(truthy(&arg(1)) && truthy(&arg(2))),
        "has" => json!(arg(2).as_array().unwrap().contains(&arg(1))),
        "list" => Value::Array((1..words.len()).map(arg).collect()),
        "lt" => json!(arg(1).as_f64().unwrap() < arg(2).as_f64().unwrap()),
        "int" => json!(arg(1).as_f64().unwrap_or(0.0) as i64),
        "printf" => {
            let format = arg(1);
            json!(format.as_str().unwrap().replace("%q", &arg(2).to_string()))
        }
        "toYaml" => json!(
            steady_api::yaml::to_string(&arg(1))
                .unwrap()
                .trim_end()
                .to_owned()
        ),
        "include" => match arg(1).as_str().unwrap() {
            "steady.labels" => json!(
                steady_api::yaml::to_string(&helm_labels())
                    .unwrap()
                    .trim_end()
                    .to_owned()
            ),
            "steady.image" => json!(format!(
                "{}:{}",
                values["image"]["repository"].as_str().unwrap(),
                values["image"]["tag"]
                    .as_str()
                    .filter(|t| !t.is_empty())
                    .unwrap_or(env!("CARGO_PKG_VERSION"))
            )),
            other => panic!("unknown helper {other}"),
        },
        _ if words.len() == 1 => eval_arg(&words[0], values, namespace),
        other => panic!("unknown function {other} in {expr}"),
    }
}

fn eval_arg(word: &str, values: &Value, namespace: &str) -> Value {
    if word.starts_with('(') {
        return eval(word, values, namespace);
    }
    if let Some(s) = word.strip_prefix('"').and_then(|w| w.strip_suffix('"')) {
        return json!(s);
    }
    if let Ok(n) = word.parse::<i64>() {
        return json!(n);
    }
    if word == ".Release.Namespace" {
        return json!(namespace);
    }
    if word == "." {
        return Value::Null;
    }
    if let Some(path) = word.strip_prefix(".Values.") {
        return at(values, path).cloned().unwrap_or(Value::Null);
    }
    panic!("unknown argument {word}")
}

/// The templates are what `steady_ctl::chart` generates from the renderer of `steady install`:
/// one source for both. `STEADY_UPDATE_CHART=1` writes them instead of comparing.
#[test]
fn templates_are_generated_from_the_renderer() {
    let dir = chart().join("templates");
    let update = std::env::var_os("STEADY_UPDATE_CHART").is_some();
    let generated = steady_ctl::chart::templates();
    let mut stale = Vec::new();
    for (file, text) in &generated {
        let path = dir.join(file);
        if update {
            std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(*file);
        }
    }
    assert!(
        stale.is_empty(),
        "charts/steady/templates/{stale:?} differ from what the renderer generates: \
         STEADY_UPDATE_CHART=1 cargo test -p steady-ctl --test chart, then commit them"
    );
    // No hand-written template is left beside the generated ones.
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".yaml"))
        .collect();
    on_disk.sort();
    let names: Vec<String> = generated.iter().map(|(f, _)| (*f).to_owned()).collect();
    assert_eq!(on_disk, names);
}
