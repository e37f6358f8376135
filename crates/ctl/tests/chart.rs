//! The Helm chart in charts/steady, checked without helm (no helm binary is available here): its
//! metadata, its values against the README table and against `steady install`'s defaults, its CRD
//! against deploy/crd.yaml, the kinds its templates create against the rendered manifests, every
//! `.Values` reference, and the flags and RBAC the templates share with the Rust renderer.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;
use steady_ctl::install::{CertMode, InstallOptions, NamespaceSelection, Resources, render};
use steady_ctl::manifests::{self, cluster_rules, guard_args, namespace_rules};

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
    serde_norway::from_str(&read(p)).expect("valid YAML")
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

/// The templates spell the same guard flags, RBAC and webhook as the Rust renderer.
#[test]
fn templates_share_flags_rbac_and_webhook_with_the_renderer() {
    let deployment = read(chart().join("templates/deployment.yaml"));
    for mode in [CertMode::SelfSigned, CertMode::CertManager] {
        let opts = InstallOptions {
            cert_mode: mode,
            pdb_mode: true,
            ..InstallOptions::default()
        };
        for arg in guard_args(&opts) {
            let flag = arg.split('=').next().unwrap();
            assert!(
                deployment.contains(&format!("- {flag}")),
                "deployment.yaml lacks {flag}"
            );
        }
        // Fixed values are spelled the same.
        for arg in guard_args(&opts) {
            if !arg.contains("steady-guard") && !arg.contains("log-format") {
                assert!(
                    deployment.contains(&format!("- {arg}")),
                    "deployment.yaml lacks {arg}"
                );
            }
        }
    }
    let rbac = read(chart().join("templates/rbac.yaml"));
    let all = InstallOptions {
        pdb_mode: true,
        ..InstallOptions::default()
    };
    for r in cluster_rules(&all).iter().chain(&namespace_rules(&all)) {
        let list = |k: &str| {
            r[k].as_array()
                .map(|a| {
                    a.iter()
                        .map(|x| x.as_str().unwrap())
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default()
        };
        if r.get("resourceNames").is_none() {
            let groups = list("apiGroups");
            let groups = if groups.is_empty() {
                "\"\"".to_owned()
            } else {
                groups
            };
            let block = format!(
                "- apiGroups: [{groups}]\n    resources: [{}]\n    verbs: [{}]",
                list("resources"),
                list("verbs")
            );
            assert!(rbac.contains(&block), "rbac.yaml lacks\n{block}");
        } else {
            assert!(
                rbac.contains(&format!("resources: [{}]", list("resources"))),
                "{r}"
            );
            assert!(rbac.contains(&format!("verbs: [{}]", list("verbs"))), "{r}");
        }
    }
    let rules_text: String = rbac
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    for word in ["delete", "eviction", "*", "escalate", "bind", "impersonate"] {
        assert!(!rules_text.contains(word), "rbac.yaml grants {word}");
    }
    let webhook = read(chart().join("templates/webhook.yaml"));
    let rendered = render(&InstallOptions::default()).unwrap();
    let w = &rendered
        .find("ValidatingWebhookConfiguration", "steady-guard")
        .unwrap()
        .object["webhooks"][0];
    assert!(webhook.contains(&format!(
        "expression: {}",
        w["matchConditions"][0]["expression"]
    )));
    for line in [
        "path: /validate/pods",
        "sideEffects: NoneOnDryRun",
        "timeoutSeconds: 10",
        "operations: [DELETE, UPDATE]",
        "resources: [pods/eviction]",
        "resources: [pods/resize]",
        "cert-manager.io/inject-ca-from:",
    ] {
        assert!(webhook.contains(line), "webhook.yaml lacks {line}");
    }
}
