//! The manifests `steady install` renders: the committed default (deploy/steady.yaml), the objects
//! and their names, least-privilege RBAC, the webhook's rules, and what each option changes.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use steady_ctl::install::{
    CertMode, FailurePolicy, InstallOptions, LogFormat, Manifests, NamespaceSelection,
    OptionsError, RenderError, Resources, render,
};
use steady_ctl::uninstall::{UninstallOptions, removal_order};

fn rendered(opts: &InstallOptions) -> Manifests {
    render(opts).expect("options are valid")
}

fn defaults() -> Manifests {
    rendered(&InstallOptions::default())
}

fn get<'a>(m: &'a Manifests, kind: &str) -> &'a Value {
    &m.objects
        .iter()
        .find(|o| o.kind == kind)
        .unwrap_or_else(|| panic!("no {kind} rendered"))
        .object
}

fn container(m: &Manifests) -> &Value {
    &get(m, "Deployment")["spec"]["template"]["spec"]["containers"][0]
}

fn args(m: &Manifests) -> Vec<String> {
    serde_json::from_value(container(m)["args"].clone()).unwrap()
}

fn webhook(m: &Manifests) -> &Value {
    &get(m, "ValidatingWebhookConfiguration")["webhooks"][0]
}

fn all_rules(m: &Manifests) -> Vec<Value> {
    ["ClusterRole", "Role"]
        .iter()
        .flat_map(|k| get(m, k)["rules"].as_array().unwrap().clone())
        .collect()
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn kinds(m: &Manifests) -> Vec<&str> {
    m.objects.iter().map(|o| o.kind).collect()
}

/// Every combination of the options that add or remove objects or rules.
fn variants() -> Vec<InstallOptions> {
    let mut out = Vec::new();
    for cert_mode in [CertMode::SelfSigned, CertMode::CertManager] {
        for pdb_mode in [false, true] {
            for service_monitor in [false, true] {
                for namespace_selection in
                    [NamespaceSelection::OptOut, NamespaceSelection::opt_in()]
                {
                    out.push(InstallOptions {
                        cert_mode,
                        pdb_mode,
                        service_monitor,
                        namespace_selection,
                        ..InstallOptions::default()
                    });
                }
            }
        }
    }
    out
}

#[test]
fn committed_steady_yaml_matches_install_print() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/steady.yaml");
    let generated = defaults().to_yaml().unwrap();
    if std::env::var_os("STEADY_BLESS").is_some() {
        std::fs::write(path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "deploy/steady.yaml is stale: run `steady install --print > deploy/steady.yaml` (or `STEADY_BLESS=1 cargo test -p steady-ctl --test manifests`) and commit it"
    );
}

#[test]
fn default_install_has_every_object_in_apply_order() {
    let m = defaults();
    let got: Vec<(&str, String, Option<&str>)> = m
        .objects
        .iter()
        .map(|o| (o.kind, o.name().to_owned(), o.namespace()))
        .collect();
    let ns = Some("steady-system");
    let g = "steady-guard".to_owned();
    let want = vec![
        ("Namespace", "steady-system".to_owned(), None),
        (
            "CustomResourceDefinition",
            "podunavailablebudgets.policy.steady.dev".to_owned(),
            None,
        ),
        ("ServiceAccount", g.clone(), ns),
        ("ClusterRole", g.clone(), None),
        ("ClusterRoleBinding", g.clone(), None),
        ("Role", g.clone(), ns),
        ("RoleBinding", g.clone(), ns),
        ("Service", g.clone(), ns),
        ("Deployment", g.clone(), ns),
        ("PodDisruptionBudget", g.clone(), ns),
        ("PodUnavailableBudget", g.clone(), ns),
        ("ValidatingWebhookConfiguration", g.clone(), None),
    ];
    assert_eq!(got, want);
    for o in &m.objects {
        assert_eq!(o.object["kind"], o.kind, "{}", o.kind);
        assert_eq!(o.object["apiVersion"], o.api_version(), "{}", o.kind);
        assert_eq!(o.namespaced, o.namespace().is_some(), "{}", o.kind);
    }
}

#[test]
fn the_crd_is_the_api_crate_one() {
    let m = defaults();
    let crd = get(&m, "CustomResourceDefinition");
    assert_eq!(crd, &serde_json::to_value(steady_api::crd()).unwrap());
}

/// Each built-in object is what its k8s-openapi type accepts, and the YAML reads back as the same
/// objects.
#[test]
fn objects_are_valid_kubernetes_types_and_the_yaml_round_trips() {
    use k8s_openapi::api::{
        admissionregistration::v1::ValidatingWebhookConfiguration,
        apps::v1::Deployment,
        core::v1::{Namespace, Service, ServiceAccount},
        policy::v1::PodDisruptionBudget,
        rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding},
    };
    fn typed<T: serde::de::DeserializeOwned + serde::Serialize>(v: &Value) {
        let t: T = serde_json::from_value(v.clone()).unwrap();
        // Nothing the type does not know is lost on the way.
        assert_eq!(&serde_json::to_value(t).unwrap(), v);
    }
    for opts in variants() {
        let m = rendered(&opts);
        for o in &m.objects {
            match o.kind {
                "Namespace" => typed::<Namespace>(&o.object),
                "ServiceAccount" => typed::<ServiceAccount>(&o.object),
                "ClusterRole" => typed::<ClusterRole>(&o.object),
                "ClusterRoleBinding" => typed::<ClusterRoleBinding>(&o.object),
                "Role" => typed::<Role>(&o.object),
                "RoleBinding" => typed::<RoleBinding>(&o.object),
                "Service" => typed::<Service>(&o.object),
                "Deployment" => typed::<Deployment>(&o.object),
                "PodDisruptionBudget" => typed::<PodDisruptionBudget>(&o.object),
                "PodUnavailableBudget" => {
                    let b: steady_api::PodUnavailableBudget =
                        serde_json::from_value(o.object.clone()).unwrap();
                    b.spec
                        .to_budget_spec()
                        .expect("the guard's own budget is valid");
                }
                "ValidatingWebhookConfiguration" => {
                    typed::<ValidatingWebhookConfiguration>(&o.object)
                }
                _ => {}
            }
        }
        let yaml = m.to_yaml().unwrap();
        let docs: Vec<Value> = steady_api::yaml::documents(&yaml).unwrap();
        let objects: Vec<Value> = m.objects.iter().map(|o| o.object.clone()).collect();
        assert_eq!(docs, objects);
    }
}

#[test]
fn rbac_never_grants_pod_deletion_or_eviction_nor_wildcards() {
    for opts in variants() {
        let m = rendered(&opts);
        for r in all_rules(&m) {
            let resources = strings(&r["resources"]);
            let verbs = strings(&r["verbs"]);
            assert!(!resources.contains(&"*") && !verbs.contains(&"*"), "{r}");
            assert!(!strings(&r["apiGroups"]).contains(&"*"), "{r}");
            assert!(!resources.contains(&"pods/eviction"), "{r}");
            if resources.contains(&"pods") {
                assert_eq!(verbs, ["get", "list", "watch"], "{r}");
            }
            // Nothing is deleted by the guard, anywhere.
            assert!(!verbs.iter().any(|v| v.starts_with("delete")), "{r}");
        }
    }
}

#[test]
fn rbac_is_exactly_what_the_guard_needs() {
    let m = defaults();
    let cluster = get(&m, "ClusterRole")["rules"].clone();
    assert_eq!(
        cluster,
        json!([
            { "apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"] },
            { "apiGroups": ["policy.steady.dev"], "resources": ["podunavailablebudgets"], "verbs": ["get", "list", "watch"] },
            { "apiGroups": ["policy.steady.dev"], "resources": ["podunavailablebudgets/status"], "verbs": ["update"] },
            { "apiGroups": ["apps"], "resources": ["deployments", "replicasets", "statefulsets"], "verbs": ["get", "list", "watch"] },
            { "apiGroups": [""], "resources": ["replicationcontrollers"], "verbs": ["get", "list", "watch"] },
            { "apiGroups": ["argoproj.io"], "resources": ["rollouts"], "verbs": ["get", "list", "watch"] },
            { "apiGroups": ["apps.kruise.io"], "resources": ["clonesets", "statefulsets"], "verbs": ["get", "list", "watch"] },
            { "apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"] },
            { "apiGroups": ["admissionregistration.k8s.io"], "resources": ["validatingwebhookconfigurations"], "resourceNames": ["steady-guard"], "verbs": ["get", "patch"] },
        ])
    );
    let ns = get(&m, "Role")["rules"].clone();
    assert_eq!(
        ns,
        json!([
            { "apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"] },
            { "apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "resourceNames": ["steady-guard"], "verbs": ["get", "update", "patch"] },
            { "apiGroups": [""], "resources": ["secrets"], "verbs": ["create"] },
            { "apiGroups": [""], "resources": ["secrets"], "resourceNames": ["steady-guard-tls"], "verbs": ["get", "update"] },
        ])
    );
    for kind in ["ClusterRoleBinding", "RoleBinding"] {
        assert_eq!(
            get(&m, kind)["subjects"],
            json!([{ "kind": "ServiceAccount", "name": "steady-guard", "namespace": "steady-system" }])
        );
    }
}

#[test]
fn the_webhook_sees_exactly_the_four_disruptions() {
    for opts in variants() {
        let m = rendered(&opts);
        let w = webhook(&m);
        let mut seen = BTreeSet::new();
        for r in w["rules"].as_array().unwrap() {
            assert_eq!(strings(&r["apiGroups"]), [""]);
            assert_eq!(strings(&r["apiVersions"]), ["v1"]);
            assert_eq!(r["scope"], "Namespaced");
            for res in strings(&r["resources"]) {
                for op in strings(&r["operations"]) {
                    assert!(
                        seen.insert((res.to_owned(), op.to_owned())),
                        "{res} {op} twice"
                    );
                }
            }
        }
        let want: BTreeSet<(String, String)> = [
            ("pods", "DELETE"),
            ("pods", "UPDATE"),
            ("pods/eviction", "CREATE"),
            ("pods/resize", "UPDATE"),
        ]
        .iter()
        .map(|(r, o)| (r.to_string(), o.to_string()))
        .collect();
        assert_eq!(seen, want);
        assert_eq!(w["clientConfig"]["service"]["path"], "/validate/pods");
        assert_eq!(w["sideEffects"], "NoneOnDryRun");
        assert_eq!(w["timeoutSeconds"], 10);
        assert_eq!(
            w["matchConditions"][0]["expression"],
            "request.operation != 'UPDATE' || object.spec != oldObject.spec"
        );
        assert!(
            w["clientConfig"].get("caBundle").is_none(),
            "the caBundle belongs to the guard or cert-manager"
        );
        // Whatever the selection, the guard never sees kube-system nor its own namespace.
        assert_eq!(
            w["namespaceSelector"]["matchExpressions"][0],
            json!({ "key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system", "steady-system"] })
        );
        // Applied last: nothing calls the guard before everything it needs exists.
        assert_eq!(kinds(&m).last(), Some(&"ValidatingWebhookConfiguration"));
    }
}

#[test]
fn default_guard_deployment() {
    let m = defaults();
    let d = get(&m, "Deployment");
    assert_eq!(d["spec"]["replicas"], 2);
    let c = container(&m);
    assert_eq!(
        c["image"],
        format!("ghcr.io/steady-dev/steady:{}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        args(&m),
        [
            "serve",
            "--listen=0.0.0.0:8443",
            "--admin-listen=0.0.0.0:9090",
            "--log-format=json",
            "--cert-mode=self-signed",
            "--namespace=$(POD_NAMESPACE)",
            "--cert-secret=steady-guard-tls",
            "--webhook-configuration=steady-guard",
            "--service-name=steady-guard",
            "--lease-name=steady-guard",
        ]
    );
    assert_eq!(c["env"][0]["name"], "POD_NAMESPACE");
    assert_eq!(
        c["env"][0]["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.namespace"
    );
    assert_eq!(
        c["readinessProbe"]["httpGet"],
        json!({ "path": "/readyz", "port": "admin" })
    );
    assert_eq!(
        c["livenessProbe"]["httpGet"],
        json!({ "path": "/livez", "port": "admin" })
    );
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let grace = pod["terminationGracePeriodSeconds"].as_i64().unwrap();
    let pre_stop = c["lifecycle"]["preStop"]["sleep"]["seconds"]
        .as_i64()
        .unwrap();
    assert!(
        pre_stop < grace,
        "preStop {pre_stop}s must end within the grace period {grace}s"
    );
    assert!(pod["topologySpreadConstraints"].is_array());
    assert!(pod["affinity"]["podAntiAffinity"].is_object());
    // No certificate volume in self-signed mode: the guard keeps it in a Secret it manages.
    assert!(
        !pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["name"] == "tls")
    );
    assert_eq!(get(&m, "PodDisruptionBudget")["spec"]["maxUnavailable"], 1);
    let own = get(&m, "PodUnavailableBudget");
    assert_eq!(own["spec"]["maxUnavailable"], 1);
    assert_eq!(
        own["spec"]["targetRef"],
        json!({ "apiVersion": "apps/v1", "kind": "Deployment", "name": "steady-guard" })
    );
    assert_eq!(webhook(&m)["failurePolicy"], "Fail");
    assert_eq!(
        webhook(&m)["namespaceSelector"]["matchExpressions"][1],
        json!({ "key": "steady.dev/guard", "operator": "NotIn", "values": ["disabled"] })
    );
}

#[test]
fn the_default_install_passes_steady_check() {
    for opts in variants() {
        let yaml = rendered(&opts).to_yaml().unwrap();
        let (_, findings) =
            steady_check::check_text("steady.yaml", &yaml, &steady_check::Config::default());
        assert!(findings.is_empty(), "{opts:?}: {findings:#?}");
    }
}

#[test]
fn namespace_and_name_move_every_reference() {
    let opts = InstallOptions {
        namespace: "guard-ns".into(),
        name: "g2".into(),
        ..InstallOptions::default()
    };
    let m = rendered(&opts);
    for o in &m.objects {
        if o.namespaced {
            assert_eq!(o.namespace(), Some("guard-ns"), "{}", o.kind);
        }
        if !matches!(o.kind, "Namespace" | "CustomResourceDefinition") {
            assert_eq!(o.name(), "g2", "{}", o.kind);
        }
    }
    assert_eq!(get(&m, "Namespace")["metadata"]["name"], "guard-ns");
    let w = webhook(&m);
    assert_eq!(w["clientConfig"]["service"]["namespace"], "guard-ns");
    assert_eq!(w["clientConfig"]["service"]["name"], "g2");
    assert_eq!(
        strings(&w["namespaceSelector"]["matchExpressions"][0]["values"]),
        ["kube-system", "guard-ns"]
    );
    assert!(args(&m).contains(&"--cert-secret=g2-tls".to_owned()));
    assert!(args(&m).contains(&"--webhook-configuration=g2".to_owned()));
    assert!(args(&m).contains(&"--service-name=g2".to_owned()));
    assert_eq!(
        get(&m, "ClusterRoleBinding")["subjects"][0]["namespace"],
        "guard-ns"
    );
    let rules = get(&m, "ClusterRole")["rules"].as_array().unwrap().clone();
    assert_eq!(rules.last().unwrap()["resourceNames"], json!(["g2"]));
    assert!(!m.to_yaml().unwrap().contains("steady-system"));
}

#[test]
fn cert_manager_mode() {
    let m = rendered(&InstallOptions {
        cert_mode: CertMode::CertManager,
        ..InstallOptions::default()
    });
    let a = args(&m);
    assert!(a.contains(&"--cert-mode=files".to_owned()));
    assert!(a.contains(&"--tls-cert-file=/etc/steady/tls/tls.crt".to_owned()));
    assert!(a.contains(&"--tls-key-file=/etc/steady/tls/tls.key".to_owned()));
    assert!(
        !a.iter()
            .any(|x| x.starts_with("--cert-secret") || x.starts_with("--webhook-configuration"))
    );
    assert_eq!(
        get(&m, "ValidatingWebhookConfiguration")["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
        "steady-system/steady-guard"
    );
    let cert = get(&m, "Certificate");
    assert_eq!(cert["spec"]["secretName"], "steady-guard-tls");
    assert_eq!(
        strings(&cert["spec"]["dnsNames"]),
        [
            "steady-guard.steady-system.svc",
            "steady-guard.steady-system.svc.cluster.local"
        ]
    );
    assert_eq!(
        cert["spec"]["issuerRef"]["name"],
        get(&m, "Issuer")["metadata"]["name"]
    );
    let pod = &get(&m, "Deployment")["spec"]["template"]["spec"];
    assert!(
        pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["secret"]["secretName"] == "steady-guard-tls")
    );
    assert!(
        container(&m)["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["mountPath"] == "/etc/steady/tls")
    );
    // No Secret or webhook configuration rights: cert-manager does that work.
    for r in all_rules(&m) {
        assert!(!strings(&r["resources"]).contains(&"secrets"), "{r}");
        assert!(
            !strings(&r["resources"]).contains(&"validatingwebhookconfigurations"),
            "{r}"
        );
    }
    // The self-signed default has no cert-manager objects nor annotation.
    let d = defaults();
    assert!(!kinds(&d).contains(&"Certificate") && !kinds(&d).contains(&"Issuer"));
    assert!(
        get(&d, "ValidatingWebhookConfiguration")["metadata"]
            .get("annotations")
            .is_none()
    );
}

#[test]
fn pdb_mode_adds_the_flag_and_only_then_pdb_rights() {
    let d = defaults();
    assert!(!args(&d).contains(&"--guard-pdb-deletes".to_owned()));
    assert!(
        !all_rules(&d)
            .iter()
            .any(|r| strings(&r["apiGroups"]) == ["policy"])
    );
    let m = rendered(&InstallOptions {
        pdb_mode: true,
        ..InstallOptions::default()
    });
    assert!(args(&m).contains(&"--guard-pdb-deletes".to_owned()));
    let policy: Vec<Value> = all_rules(&m)
        .into_iter()
        .filter(|r| strings(&r["apiGroups"]) == ["policy"])
        .collect();
    assert_eq!(
        policy,
        vec![
            json!({ "apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": ["get", "list", "watch"] }),
            json!({ "apiGroups": ["policy"], "resources": ["poddisruptionbudgets/status"], "verbs": ["update"] }),
        ]
    );
}

#[test]
fn plain_options_change_their_fields() {
    let opts = InstallOptions {
        image: "registry.example/steady:dev".into(),
        replicas: 3,
        failure_policy: FailurePolicy::Ignore,
        log_format: LogFormat::Text,
        resources: Resources {
            cpu_request: "250m".into(),
            memory_request: "256Mi".into(),
            cpu_limit: Some("1".into()),
            memory_limit: None,
        },
        ..InstallOptions::default()
    };
    let m = rendered(&opts);
    assert_eq!(container(&m)["image"], "registry.example/steady:dev");
    assert_eq!(get(&m, "Deployment")["spec"]["replicas"], 3);
    assert_eq!(webhook(&m)["failurePolicy"], "Ignore");
    assert!(args(&m).contains(&"--log-format=text".to_owned()));
    assert_eq!(
        container(&m)["resources"],
        json!({ "requests": { "cpu": "250m", "memory": "256Mi" }, "limits": { "cpu": "1" } })
    );
    // Everything else is as in the default.
    let d = defaults();
    for kind in [
        "ClusterRole",
        "Role",
        "Service",
        "PodDisruptionBudget",
        "Namespace",
    ] {
        assert_eq!(get(&m, kind), get(&d, kind), "{kind}");
    }
}

#[test]
fn opt_in_selection() {
    let m = rendered(&InstallOptions {
        namespace_selection: NamespaceSelection::OptIn {
            key: "example.com/guarded".into(),
            value: "yes".into(),
        },
        ..InstallOptions::default()
    });
    let sel = &webhook(&m)["namespaceSelector"];
    assert_eq!(sel["matchLabels"], json!({ "example.com/guarded": "yes" }));
    assert_eq!(
        sel["matchExpressions"].as_array().unwrap().len(),
        1,
        "only the always-excluded names"
    );
    assert_eq!(
        NamespaceSelection::opt_in(),
        NamespaceSelection::OptIn {
            key: "steady.dev/guard".into(),
            value: "enabled".into()
        }
    );
}

#[test]
fn service_monitor_only_when_asked() {
    assert!(!kinds(&defaults()).contains(&"ServiceMonitor"));
    let m = rendered(&InstallOptions {
        service_monitor: true,
        ..InstallOptions::default()
    });
    let sm = get(&m, "ServiceMonitor");
    assert_eq!(sm["spec"]["endpoints"][0]["port"], "admin");
    assert_eq!(sm["spec"]["endpoints"][0]["path"], "/metrics");
    assert_eq!(
        sm["spec"]["selector"]["matchLabels"],
        get(&m, "Service")["spec"]["selector"]
    );
}

#[test]
fn bad_options_are_refused_with_a_reason() {
    let bad = |f: fn(&mut InstallOptions)| {
        let mut o = InstallOptions::default();
        f(&mut o);
        match render(&o) {
            Err(RenderError::Options(e)) => e,
            other => panic!("expected an option error, got {other:?}"),
        }
    };
    assert_eq!(bad(|o| o.replicas = 0), OptionsError::Replicas(0));
    assert_eq!(
        bad(|o| o.namespace = "Steady_System".into()),
        OptionsError::Namespace("Steady_System".into())
    );
    assert_eq!(
        bad(|o| o.namespace = "kube-system".into()),
        OptionsError::ReservedNamespace("kube-system".into())
    );
    assert_eq!(bad(|o| o.image = " ".into()), OptionsError::Image);
    assert_eq!(
        bad(|o| o.name = "-x".into()),
        OptionsError::Name("-x".into())
    );
    assert_eq!(
        bad(|o| o.namespace_selection = NamespaceSelection::OptIn {
            key: "bad key".into(),
            value: "x".into()
        }),
        OptionsError::Label("bad key=x".into())
    );
    assert_eq!(
        bad(|o| o.resources.memory_request = "lots".into()),
        OptionsError::Quantity {
            field: "memory request",
            value: "lots".into()
        }
    );
    let msg = bad(|o| o.replicas = -1).to_string();
    assert!(msg.contains("at least 1"), "{msg}");
}

#[test]
fn uninstall_removes_the_webhook_first_and_keeps_the_crd_last() {
    let order = removal_order(&UninstallOptions::default()).unwrap();
    let k: Vec<&str> = order.iter().map(|m| m.kind).collect();
    assert_eq!(k.first(), Some(&"ValidatingWebhookConfiguration"));
    assert_eq!(&k[k.len() - 2..], ["CustomResourceDefinition", "Namespace"]);
    // Everything any install can create, and what the guard creates at run time.
    for kind in [
        "Certificate",
        "Issuer",
        "ServiceMonitor",
        "Secret",
        "Lease",
        "Deployment",
        "PodUnavailableBudget",
    ] {
        assert!(k.contains(&kind), "{kind} missing from {k:?}");
    }
    let secret = order.iter().find(|m| m.kind == "Secret").unwrap();
    assert_eq!(
        (secret.name(), secret.namespace()),
        ("steady-guard-tls", Some("steady-system"))
    );
}

/// kubectl reads YAML 1.1: a label value such as `on` must be quoted or it arrives as `true`.
#[test]
fn yaml_1_1_words_in_options_stay_strings() {
    let m = rendered(&InstallOptions {
        namespace_selection: NamespaceSelection::OptIn {
            key: "example.com/guard".into(),
            value: "on".into(),
        },
        ..InstallOptions::default()
    });
    let yaml = m.to_yaml().unwrap();
    assert!(yaml.contains("example.com/guard: \"on\""), "{yaml}");
}
