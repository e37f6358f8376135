//! The guard's manifests, built from [`InstallOptions`]: what `steady install --print` writes,
//! `steady install` applies, `deploy/steady.yaml` holds (defaults) and the Helm chart's templates
//! are generated from (`crate::chart`). Objects are JSON values built field by field, never text templates, so an option can only
//! change the fields it is meant to.

use std::fmt;

use serde_json::{Value, json};

/// Name of every namespaced object of the guard and of its cluster-scoped RBAC and webhook
/// configuration, unless [`InstallOptions::name`] says otherwise.
pub const DEFAULT_NAME: &str = "steady-guard";
pub const DEFAULT_NAMESPACE: &str = "steady-system";
/// Field manager of `steady install`'s server-side apply.
pub const FIELD_MANAGER: &str = "steady";
/// Label that takes a namespace out of the guard's reach (value [`OPT_OUT_VALUE`]) in the default
/// opt-out selection, and brings it in (value [`OPT_IN_VALUE`]) in the opt-in selection.
pub const GUARD_LABEL: &str = "steady.dev/guard";
pub const OPT_OUT_VALUE: &str = "disabled";
pub const OPT_IN_VALUE: &str = "enabled";
/// Set on everything `steady install` creates; `steady uninstall` deletes a namespace only when it
/// carries it, so installing into an existing namespace never lets uninstall remove that namespace.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "steady");

const WEBHOOK_PORT: u16 = 8443;
const ADMIN_PORT: u16 = 9090;
const TLS_DIR: &str = "/etc/steady/tls";
/// The webhook's timeoutSeconds. The guard answers within its own deadline (8 s by default) so an
/// answer always beats the API server's timeout.
const WEBHOOK_TIMEOUT_SECONDS: i32 = 10;
/// preStop keeps a stopping replica serving while the endpoints controller removes it; the grace
/// period leaves room for the guard's own drain (10 s) after it.
const PRESTOP_SLEEP_SECONDS: i64 = 10;
const TERMINATION_GRACE_SECONDS: i64 = 30;

/// Where the webhook's serving certificate comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum CertMode {
    /// The guard creates a CA and serving certificate in a Secret and patches its webhook
    /// configuration's caBundle itself (`--cert-mode self-signed`).
    #[default]
    SelfSigned,
    /// cert-manager issues the certificate and injects the CA; the guard reads the files.
    CertManager,
}

/// The webhook's `failurePolicy`: what the API server does when no guard replica answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum FailurePolicy {
    /// Refuse the disruption (drains and deletes wait until the guard is back). The default: a
    /// guard that is down is exactly when an unguarded drain does the damage, and the guard's own
    /// namespace and kube-system stay outside the webhook so it can always be restarted.
    #[default]
    #[value(name = "Fail")]
    Fail,
    /// Let the disruption through unguarded while the guard is down.
    #[value(name = "Ignore")]
    Ignore,
}

impl FailurePolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fail => "Fail",
            Self::Ignore => "Ignore",
        }
    }
}

/// Which namespaces the webhook sees. kube-system and the guard's own namespace are always out.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum NamespaceSelection {
    /// Every namespace except those labelled `steady.dev/guard=disabled`.
    #[default]
    OptOut,
    /// Only namespaces carrying this label.
    OptIn { key: String, value: String },
}

impl NamespaceSelection {
    /// Opt-in with the usual label `steady.dev/guard=enabled`.
    pub fn opt_in() -> Self {
        Self::OptIn {
            key: GUARD_LABEL.into(),
            value: OPT_IN_VALUE.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Json,
    Text,
}

impl LogFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Text => "text",
        }
    }
}

/// Requests and limits of the guard container (Kubernetes quantities, e.g. `100m`, `128Mi`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resources {
    pub cpu_request: String,
    pub memory_request: String,
    /// No CPU limit by default: throttling a webhook on the disruption path only adds latency.
    pub cpu_limit: Option<String>,
    pub memory_limit: Option<String>,
}

impl Default for Resources {
    fn default() -> Self {
        Self {
            cpu_request: "100m".into(),
            memory_request: "128Mi".into(),
            cpu_limit: None,
            memory_limit: Some("512Mi".into()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallOptions {
    pub namespace: String,
    /// Base name of the guard's objects. Change it only to run two installs side by side.
    pub name: String,
    pub image: String,
    pub replicas: i32,
    pub cert_mode: CertMode,
    pub failure_policy: FailurePolicy,
    pub namespace_selection: NamespaceSelection,
    /// Run the guard with `--guard-pdb-deletes` (PodDisruptionBudgets also guard deletes and
    /// updates) and grant it PodDisruptionBudget status writes.
    pub pdb_mode: bool,
    pub log_format: LogFormat,
    pub resources: Resources,
    /// A prometheus-operator ServiceMonitor for the admin port's /metrics.
    pub service_monitor: bool,
}

/// The image of this very version of steady.
pub fn default_image() -> String {
    format!("ghcr.io/steady-dev/steady:{}", env!("CARGO_PKG_VERSION"))
}

impl Default for InstallOptions {
    fn default() -> Self {
        Self {
            namespace: DEFAULT_NAMESPACE.into(),
            name: DEFAULT_NAME.into(),
            image: default_image(),
            replicas: 2,
            cert_mode: CertMode::default(),
            failure_policy: FailurePolicy::default(),
            namespace_selection: NamespaceSelection::default(),
            pdb_mode: false,
            log_format: LogFormat::default(),
            resources: Resources::default(),
            service_monitor: false,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OptionsError {
    #[error(
        "namespace {0:?} is not a valid namespace name: use lower-case letters, digits and '-', at most 63 characters"
    )]
    Namespace(String),
    #[error(
        "name {0:?} is not a valid object name: use lower-case letters, digits and '-', at most 50 characters"
    )]
    Name(String),
    #[error(
        "namespace {0:?} is always outside the guard's reach and cannot hold the guard: choose another namespace (default {DEFAULT_NAMESPACE})"
    )]
    ReservedNamespace(String),
    #[error("the image must not be empty")]
    Image,
    #[error(
        "replicas must be at least 1 (got {0}): with no replica the webhook refuses every protected disruption"
    )]
    Replicas(i32),
    #[error(
        "opt-in label {0:?} is not a valid label: use KEY=VALUE, e.g. {GUARD_LABEL}={OPT_IN_VALUE}"
    )]
    Label(String),
    #[error(
        "resource quantity {field}={value:?} is not a Kubernetes quantity such as 100m or 128Mi"
    )]
    Quantity { field: &'static str, value: String },
}

impl InstallOptions {
    pub fn validate(&self) -> Result<(), OptionsError> {
        if !is_dns_label(&self.namespace, 63) {
            return Err(OptionsError::Namespace(self.namespace.clone()));
        }
        if self.namespace == "kube-system" {
            return Err(OptionsError::ReservedNamespace(self.namespace.clone()));
        }
        // Room for the "-tls" and similar suffixes within 63 characters.
        if !is_dns_label(&self.name, 50) {
            return Err(OptionsError::Name(self.name.clone()));
        }
        if self.image.trim().is_empty() {
            return Err(OptionsError::Image);
        }
        if self.replicas < 1 {
            return Err(OptionsError::Replicas(self.replicas));
        }
        if let NamespaceSelection::OptIn { key, value } = &self.namespace_selection
            && !(is_label_key(key) && is_label_value(value))
        {
            return Err(OptionsError::Label(format!("{key}={value}")));
        }
        let r = &self.resources;
        let quantities = [
            ("cpu request", Some(&r.cpu_request)),
            ("memory request", Some(&r.memory_request)),
            ("cpu limit", r.cpu_limit.as_ref()),
            ("memory limit", r.memory_limit.as_ref()),
        ];
        for (field, value) in quantities {
            if let Some(v) = value
                && !is_quantity(v)
            {
                return Err(OptionsError::Quantity {
                    field,
                    value: v.clone(),
                });
            }
        }
        Ok(())
    }

    /// Name of the Secret holding the serving certificate (either mode).
    pub fn cert_secret(&self) -> String {
        format!("{}-tls", self.name)
    }

    /// The guard's leader-election Lease: the guard's default name, or the install's name.
    pub fn lease_name(&self) -> &str {
        &self.name
    }
}

fn is_dns_label(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_label_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.as_bytes()[s.len() - 1].is_ascii_alphanumeric()
}

fn is_label_key(s: &str) -> bool {
    match s.split_once('/') {
        Some((prefix, name)) => {
            !prefix.is_empty()
                && prefix.len() <= 253
                && prefix.split('.').all(|p| is_dns_label(p, 63))
                && is_label_name(name)
        }
        None => is_label_name(s),
    }
}

fn is_label_value(s: &str) -> bool {
    s.is_empty() || is_label_name(s)
}

/// Kubernetes quantity: a decimal number followed by an optional suffix.
fn is_quantity(s: &str) -> bool {
    const SUFFIXES: [&str; 16] = [
        "", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u",
    ];
    let digits_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(digits_end);
    !number.is_empty()
        && number.bytes().any(|b| b.is_ascii_digit())
        && number.matches('.').count() <= 1
        && SUFFIXES.contains(&suffix)
}

/// One object to apply, with how to reach its API.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub namespaced: bool,
    /// Why the object is as it is, printed as comments above it in the YAML.
    pub note: Option<&'static str>,
    pub object: Value,
}

impl Manifest {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn name(&self) -> &str {
        self.object["metadata"]["name"].as_str().unwrap_or_default()
    }

    pub fn namespace(&self) -> Option<&str> {
        self.object["metadata"]["namespace"].as_str()
    }

    /// `Kind/name` or `Kind namespace/name`, as messages name the object.
    pub fn reference(&self) -> ObjectName {
        ObjectName {
            kind: self.kind.to_owned(),
            namespace: self.namespace().map(str::to_owned),
            name: self.name().to_owned(),
        }
    }
}

/// How messages and errors name an object: `Deployment steady-system/steady-guard`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectName {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl fmt::Display for ObjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// The guard's objects in the order they must be applied: the CRD and everything the guard needs
/// before the guard, the webhook configuration last so the API server never calls a guard that
/// does not exist yet.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifests {
    pub objects: Vec<Manifest>,
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error(transparent)]
    Options(#[from] OptionsError),
    #[error("cannot render the PodUnavailableBudget CRD: {0}")]
    Crd(serde_json::Error),
    #[error("cannot write the manifests as YAML: {0}")]
    Yaml(#[from] serde_saphyr::SerializeError),
}

const HEADER: &str = "\
# steady budget guard: everything `steady install` applies (`steady install --print` wrote this).
# `steady install` applies it in this order and waits for the CRD; with kubectl, the CRD must be
# Established before the guard's own budget:
#   kubectl apply --server-side -f deploy/crd.yaml
#   kubectl wait --for condition=established crd/podunavailablebudgets.policy.steady.dev
#   kubectl apply --server-side --field-manager steady -f deploy/steady.yaml
";

impl Manifests {
    /// The multi-document YAML `steady install --print` writes.
    pub fn to_yaml(&self) -> Result<String, RenderError> {
        let mut out = String::from(HEADER);
        for m in &self.objects {
            out.push_str("---\n");
            if let Some(note) = m.note {
                for line in note.lines() {
                    out.push_str("# ");
                    out.push_str(line);
                    out.push('\n');
                }
            }
            out.push_str(&steady_api::yaml::to_string(&m.object)?);
        }
        Ok(out)
    }

    pub fn find(&self, kind: &str, name: &str) -> Option<&Manifest> {
        self.objects
            .iter()
            .find(|m| m.kind == kind && m.name() == name)
    }
}

/// Every object for `opts`, in apply order.
pub fn render(opts: &InstallOptions) -> Result<Manifests, RenderError> {
    opts.validate()?;
    let crd = serde_json::to_value(steady_api::crd()).map_err(RenderError::Crd)?;
    Ok(Manifests {
        objects: objects(opts, crd),
    })
}

/// [`render`] without the validation, so the chart generator can put placeholders where a
/// value comes from Helm (`crate::chart`).
pub(crate) fn objects(opts: &InstallOptions, crd: Value) -> Vec<Manifest> {
    let mut objects = vec![
        namespace(opts),
        Manifest {
            group: "apiextensions.k8s.io",
            version: "v1",
            kind: "CustomResourceDefinition",
            plural: "customresourcedefinitions",
            namespaced: false,
            note: Some(
                "The PodUnavailableBudget API (also deploy/crd.yaml). `steady uninstall` keeps it:\ndeleting it deletes every budget in the cluster.",
            ),
            object: crd,
        },
        service_account(opts),
        cluster_role(opts),
        cluster_role_binding(opts),
        role(opts),
        role_binding(opts),
        service(opts),
        deployment(opts),
        pod_disruption_budget(opts),
        own_budget(opts),
    ];
    if opts.cert_mode == CertMode::CertManager {
        objects.extend(cert_manager(opts));
    }
    if opts.service_monitor {
        objects.push(service_monitor(opts));
    }
    objects.push(webhook_configuration(opts));
    objects
}

fn labels(opts: &InstallOptions) -> Value {
    json!({
        "app.kubernetes.io/name": opts.name,
        "app.kubernetes.io/part-of": "steady",
        MANAGED_BY.0: MANAGED_BY.1,
    })
}

fn selector_labels(opts: &InstallOptions) -> Value {
    json!({ "app.kubernetes.io/name": opts.name })
}

fn meta(opts: &InstallOptions, namespaced: bool) -> Value {
    let mut m = json!({ "name": opts.name, "labels": labels(opts) });
    if namespaced {
        m["namespace"] = json!(opts.namespace);
    }
    m
}

fn namespace(opts: &InstallOptions) -> Manifest {
    Manifest {
        group: "",
        version: "v1",
        kind: "Namespace",
        plural: "namespaces",
        namespaced: false,
        note: Some(
            "The guard's pods meet the restricted Pod Security profile; the label holds everything in\nthe namespace to it. kube-system and this namespace are never guarded.",
        ),
        object: json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": opts.namespace,
                "labels": {
                    "app.kubernetes.io/part-of": "steady",
                    MANAGED_BY.0: MANAGED_BY.1,
                    "pod-security.kubernetes.io/enforce": "restricted",
                },
            },
        }),
    }
}

fn service_account(opts: &InstallOptions) -> Manifest {
    Manifest {
        group: "",
        version: "v1",
        kind: "ServiceAccount",
        plural: "serviceaccounts",
        namespaced: true,
        note: None,
        object: json!({
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": meta(opts, true),
        }),
    }
}

fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> Value {
    json!({ "apiGroups": groups, "resources": resources, "verbs": verbs })
}

/// The cluster-wide rights: read pods, budgets and the workloads whose scale sets a budget's
/// expected count; write budget status; publish Events. No verb on pods but reads, and nothing on
/// pods/eviction: the guard only ever answers yes or no.
pub fn cluster_rules(opts: &InstallOptions) -> Vec<Value> {
    let read = ["get", "list", "watch"];
    let mut rules = vec![
        rule(&[""], &["pods"], &read),
        rule(&[steady_api::GROUP], &["podunavailablebudgets"], &read),
        // The webhook and the controller write status with a resourceVersion precondition (PUT).
        rule(
            &[steady_api::GROUP],
            &["podunavailablebudgets/status"],
            &["update"],
        ),
        rule(
            &["apps"],
            &["deployments", "replicasets", "statefulsets"],
            &read,
        ),
        rule(&[""], &["replicationcontrollers"], &read),
        rule(&["argoproj.io"], &["rollouts"], &read),
        rule(&["apps.kruise.io"], &["clonesets", "statefulsets"], &read),
        rule(&["events.k8s.io"], &["events"], &["create", "patch"]),
    ];
    if opts.pdb_mode {
        rules.push(rule(&["policy"], &["poddisruptionbudgets"], &read));
        rules.push(rule(
            &["policy"],
            &["poddisruptionbudgets/status"],
            &["update"],
        ));
    }
    if opts.cert_mode == CertMode::SelfSigned {
        rules.push(json!({
            "apiGroups": ["admissionregistration.k8s.io"],
            "resources": ["validatingwebhookconfigurations"],
            "resourceNames": [opts.name],
            "verbs": ["get", "patch"],
        }));
    }
    rules
}

/// The rights in the guard's own namespace: its leader Lease and, when it manages its own
/// certificate, the Secret that holds it.
pub fn namespace_rules(opts: &InstallOptions) -> Vec<Value> {
    let mut rules = vec![
        // `create` cannot be limited to a name; the rest can.
        rule(&["coordination.k8s.io"], &["leases"], &["create"]),
        json!({
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": [opts.lease_name()],
            "verbs": ["get", "update", "patch"],
        }),
    ];
    if opts.cert_mode == CertMode::SelfSigned {
        // The guard reads and rewrites only its own Secret (by name, never a list or a watch),
        // so the other Secrets of the namespace stay out of its reach.
        rules.push(rule(&[""], &["secrets"], &["create"]));
        rules.push(json!({
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": [opts.cert_secret()],
            "verbs": ["get", "update"],
        }));
    }
    rules
}

fn cluster_role(opts: &InstallOptions) -> Manifest {
    Manifest {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        kind: "ClusterRole",
        plural: "clusterroles",
        namespaced: false,
        note: Some(
            "Least privilege: read pods and workloads, write budget status, publish Events. No right to\ndelete or evict pods. The guard watches every kind with a scale subresource it finds through\ndiscovery; add a rule for other scalable kinds you use.",
        ),
        object: json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": meta(opts, false),
            "rules": cluster_rules(opts),
        }),
    }
}

fn subjects(opts: &InstallOptions) -> Value {
    json!([{ "kind": "ServiceAccount", "name": opts.name, "namespace": opts.namespace }])
}

fn cluster_role_binding(opts: &InstallOptions) -> Manifest {
    Manifest {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        kind: "ClusterRoleBinding",
        plural: "clusterrolebindings",
        namespaced: false,
        note: None,
        object: json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": meta(opts, false),
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": opts.name },
            "subjects": subjects(opts),
        }),
    }
}

fn role(opts: &InstallOptions) -> Manifest {
    Manifest {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        kind: "Role",
        plural: "roles",
        namespaced: true,
        note: Some(
            "In the guard's namespace only: the leader Lease (only its holder writes budget status\nfrom the controller) and, with self-signed certificates, the Secret that holds them.",
        ),
        object: json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": meta(opts, true),
            "rules": namespace_rules(opts),
        }),
    }
}

fn role_binding(opts: &InstallOptions) -> Manifest {
    Manifest {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        kind: "RoleBinding",
        plural: "rolebindings",
        namespaced: true,
        note: None,
        object: json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": meta(opts, true),
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": opts.name },
            "subjects": subjects(opts),
        }),
    }
}

fn service(opts: &InstallOptions) -> Manifest {
    Manifest {
        group: "",
        version: "v1",
        kind: "Service",
        plural: "services",
        namespaced: true,
        note: None,
        object: json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta(opts, true),
            "spec": {
                "selector": selector_labels(opts),
                "ports": [
                    { "name": "webhook", "port": 443, "targetPort": "webhook", "protocol": "TCP" },
                    { "name": "admin", "port": ADMIN_PORT, "targetPort": "admin", "protocol": "TCP" },
                ],
            },
        }),
    }
}

/// The arguments of the guard container.
pub fn guard_args(opts: &InstallOptions) -> Vec<String> {
    let mut args = vec![
        "serve".to_owned(),
        format!("--listen=0.0.0.0:{WEBHOOK_PORT}"),
        format!("--admin-listen=0.0.0.0:{ADMIN_PORT}"),
        format!("--log-format={}", opts.log_format.as_str()),
    ];
    match opts.cert_mode {
        CertMode::SelfSigned => args.extend([
            "--cert-mode=self-signed".to_owned(),
            "--namespace=$(POD_NAMESPACE)".to_owned(),
            format!("--cert-secret={}", opts.cert_secret()),
            format!("--webhook-configuration={}", opts.name),
            format!("--service-name={}", opts.name),
        ]),
        CertMode::CertManager => args.extend([
            "--cert-mode=files".to_owned(),
            format!("--tls-cert-file={TLS_DIR}/tls.crt"),
            format!("--tls-key-file={TLS_DIR}/tls.key"),
        ]),
    }
    args.push(format!("--lease-name={}", opts.lease_name()));
    if opts.pdb_mode {
        args.push("--guard-pdb-deletes".to_owned());
    }
    args
}

fn resources(r: &Resources) -> Value {
    let mut limits = serde_json::Map::new();
    if let Some(cpu) = &r.cpu_limit {
        limits.insert("cpu".into(), json!(cpu));
    }
    if let Some(mem) = &r.memory_limit {
        limits.insert("memory".into(), json!(mem));
    }
    let mut v = json!({ "requests": { "cpu": r.cpu_request, "memory": r.memory_request } });
    if !limits.is_empty() {
        v["limits"] = Value::Object(limits);
    }
    v
}

fn field_env(name: &str, path: &str) -> Value {
    json!({ "name": name, "valueFrom": { "fieldRef": { "fieldPath": path } } })
}

fn deployment(opts: &InstallOptions) -> Manifest {
    let selector = selector_labels(opts);
    let mut volume_mounts = vec![json!({ "name": "tmp", "mountPath": "/tmp" })];
    // The root filesystem is read-only; /tmp is the one writable place, small and in memory.
    let mut volumes =
        vec![json!({ "name": "tmp", "emptyDir": { "medium": "Memory", "sizeLimit": "16Mi" } })];
    if opts.cert_mode == CertMode::CertManager {
        volume_mounts.push(json!({ "name": "tls", "mountPath": TLS_DIR, "readOnly": true }));
        volumes.push(json!({ "name": "tls", "secret": { "secretName": opts.cert_secret() } }));
    }
    let container = json!({
        "name": "guard",
        "image": opts.image,
        "imagePullPolicy": "IfNotPresent",
        "args": guard_args(opts),
        "env": [
            // POD_NAMESPACE feeds --namespace (the Secret's and the Service's namespace).
            field_env("POD_NAMESPACE", "metadata.namespace"),
            field_env("STEADY_LEASE_NAMESPACE", "metadata.namespace"),
            field_env("STEADY_IDENTITY", "metadata.name"),
        ],
        "ports": [
            { "name": "webhook", "containerPort": WEBHOOK_PORT, "protocol": "TCP" },
            { "name": "admin", "containerPort": ADMIN_PORT, "protocol": "TCP" },
        ],
        // Ready only once every cache has synced: the API server is never sent to a replica
        // that would answer from an empty index.
        "readinessProbe": {
            "httpGet": { "path": "/readyz", "port": "admin" },
            "periodSeconds": 5,
            "failureThreshold": 2,
        },
        "livenessProbe": {
            "httpGet": { "path": "/livez", "port": "admin" },
            "initialDelaySeconds": 10,
            "periodSeconds": 10,
            "failureThreshold": 3,
        },
        "lifecycle": { "preStop": { "sleep": { "seconds": PRESTOP_SLEEP_SECONDS } } },
        "resources": resources(&opts.resources),
        "securityContext": {
            "allowPrivilegeEscalation": false,
            "readOnlyRootFilesystem": true,
            "capabilities": { "drop": ["ALL"] },
        },
        "volumeMounts": volume_mounts,
    });
    Manifest {
        group: "apps",
        version: "v1",
        kind: "Deployment",
        plural: "deployments",
        namespaced: true,
        note: Some(
            "Every replica serves the webhook; the Lease holder also writes budget status.\nSpread over nodes (required) and zones (preferred); a rollout never lowers the ready count.",
        ),
        object: json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta(opts, true),
            "spec": {
                "replicas": opts.replicas,
                "minReadySeconds": 5,
                "progressDeadlineSeconds": 300,
                "revisionHistoryLimit": 5,
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": { "maxSurge": 1, "maxUnavailable": 0 },
                },
                "selector": { "matchLabels": selector },
                "template": {
                    "metadata": { "labels": labels(opts) },
                    "spec": {
                        "serviceAccountName": opts.name,
                        "priorityClassName": "system-cluster-critical",
                        "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
                        "topologySpreadConstraints": [{
                            "maxSkew": 1,
                            "topologyKey": "kubernetes.io/hostname",
                            "whenUnsatisfiable": "DoNotSchedule",
                            "labelSelector": { "matchLabels": selector },
                        }],
                        "affinity": {
                            "podAntiAffinity": {
                                "preferredDuringSchedulingIgnoredDuringExecution": [{
                                    "weight": 100,
                                    "podAffinityTerm": {
                                        "topologyKey": "topology.kubernetes.io/zone",
                                        "labelSelector": { "matchLabels": selector },
                                    },
                                }],
                            },
                        },
                        "securityContext": {
                            "runAsNonRoot": true,
                            "runAsUser": 65532,
                            "runAsGroup": 65532,
                            "seccompProfile": { "type": "RuntimeDefault" },
                        },
                        "containers": [container],
                        "volumes": volumes,
                    },
                },
            },
        }),
    }
}

fn pod_disruption_budget(opts: &InstallOptions) -> Manifest {
    Manifest {
        group: "policy",
        version: "v1",
        kind: "PodDisruptionBudget",
        plural: "poddisruptionbudgets",
        namespaced: true,
        note: Some(
            "The guard's namespace is outside its own webhook (it must never wait on itself), so the\nAPI server's own eviction check keeps drains from taking both replicas at once.",
        ),
        object: json!({
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": meta(opts, true),
            "spec": {
                "maxUnavailable": 1,
                "unhealthyPodEvictionPolicy": "AlwaysAllow",
                "selector": { "matchLabels": selector_labels(opts) },
            },
        }),
    }
}

fn own_budget(opts: &InstallOptions) -> Manifest {
    Manifest {
        group: steady_api::GROUP,
        version: steady_api::VERSION,
        kind: "PodUnavailableBudget",
        plural: "podunavailablebudgets",
        namespaced: true,
        note: Some(
            "The guard's own budget, kept by its controller so `kubectl steady status` shows how many\nguard replicas may go; the PodDisruptionBudget above is what holds evictions here.",
        ),
        object: json!({
            "apiVersion": format!("{}/{}", steady_api::GROUP, steady_api::VERSION),
            "kind": "PodUnavailableBudget",
            "metadata": meta(opts, true),
            "spec": {
                "targetRef": { "apiVersion": "apps/v1", "kind": "Deployment", "name": opts.name },
                "maxUnavailable": 1,
                "unhealthyPodPolicy": "AlwaysAllow",
            },
        }),
    }
}

fn cert_manager(opts: &InstallOptions) -> [Manifest; 2] {
    let issuer = format!("{}-selfsigned", opts.name);
    let mut issuer_meta = meta(opts, true);
    issuer_meta["name"] = json!(issuer);
    [
        Manifest {
            group: "cert-manager.io",
            version: "v1",
            kind: "Issuer",
            plural: "issuers",
            namespaced: true,
            note: Some(
                "cert-manager mode: cert-manager issues the serving certificate and injects its CA into\nthe webhook configuration; the guard only reads the files.",
            ),
            object: json!({
                "apiVersion": "cert-manager.io/v1",
                "kind": "Issuer",
                "metadata": issuer_meta,
                "spec": { "selfSigned": {} },
            }),
        },
        Manifest {
            group: "cert-manager.io",
            version: "v1",
            kind: "Certificate",
            plural: "certificates",
            namespaced: true,
            note: None,
            object: json!({
                "apiVersion": "cert-manager.io/v1",
                "kind": "Certificate",
                "metadata": meta(opts, true),
                "spec": {
                    "secretName": opts.cert_secret(),
                    "dnsNames": [
                        format!("{}.{}.svc", opts.name, opts.namespace),
                        format!("{}.{}.svc.cluster.local", opts.name, opts.namespace),
                    ],
                    "issuerRef": { "name": issuer, "kind": "Issuer" },
                },
            }),
        },
    ]
}

fn service_monitor(opts: &InstallOptions) -> Manifest {
    Manifest {
        group: "monitoring.coreos.com",
        version: "v1",
        kind: "ServiceMonitor",
        plural: "servicemonitors",
        namespaced: true,
        note: Some("prometheus-operator scrapes the admin port's /metrics."),
        object: json!({
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "ServiceMonitor",
            "metadata": meta(opts, true),
            "spec": {
                "selector": { "matchLabels": selector_labels(opts) },
                "endpoints": [{ "port": "admin", "path": "/metrics", "interval": "30s" }],
            },
        }),
    }
}

/// The webhook's namespaceSelector: kube-system and the guard's own namespace are never guarded
/// (the guard must never wait on itself, nor the control plane on the guard).
pub fn namespace_selector(opts: &InstallOptions) -> Value {
    let never = json!({
        "key": "kubernetes.io/metadata.name",
        "operator": "NotIn",
        "values": ["kube-system", opts.namespace],
    });
    match &opts.namespace_selection {
        NamespaceSelection::OptOut => json!({
            "matchExpressions": [
                never,
                { "key": GUARD_LABEL, "operator": "NotIn", "values": [OPT_OUT_VALUE] },
            ],
        }),
        NamespaceSelection::OptIn { key, value } => json!({
            "matchLabels": { key: value },
            "matchExpressions": [never],
        }),
    }
}

fn webhook_configuration(opts: &InstallOptions) -> Manifest {
    let mut metadata = meta(opts, false);
    if opts.cert_mode == CertMode::CertManager {
        metadata["annotations"] = json!({
            "cert-manager.io/inject-ca-from": format!("{}/{}", opts.namespace, opts.name),
        });
    }
    let pod_rule = |operations: &[&str], resource: &str| {
        json!({
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "operations": operations,
            "resources": [resource],
            "scope": "Namespaced",
        })
    };
    Manifest {
        group: "admissionregistration.k8s.io",
        version: "v1",
        kind: "ValidatingWebhookConfiguration",
        plural: "validatingwebhookconfigurations",
        namespaced: false,
        note: Some(
            "Applied last, after the guard. Evictions never reach pod DELETE webhooks (the API server\ndeletes the pod internally), hence pods/eviction; in-place resize arrives only on pods/resize.\nThe matchCondition keeps metadata-only edits away from the guard entirely. failurePolicy\nFail: while no replica answers, protected disruptions wait rather than go unguarded.\nThe caBundle is not set here: the guard (self-signed) or cert-manager's CA injector owns it.",
        ),
        object: json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": metadata,
            "webhooks": [{
                "name": "pods.guard.steady.dev",
                "admissionReviewVersions": ["v1"],
                "clientConfig": {
                    "service": {
                        "name": opts.name,
                        "namespace": opts.namespace,
                        "path": "/validate/pods",
                        "port": 443,
                    },
                },
                "rules": [
                    pod_rule(&["DELETE", "UPDATE"], "pods"),
                    pod_rule(&["CREATE"], "pods/eviction"),
                    pod_rule(&["UPDATE"], "pods/resize"),
                ],
                "matchConditions": [{
                    "name": "spec-changes-only",
                    "expression": "request.operation != 'UPDATE' || object.spec != oldObject.spec",
                }],
                "sideEffects": "NoneOnDryRun",
                "failurePolicy": opts.failure_policy.as_str(),
                "timeoutSeconds": WEBHOOK_TIMEOUT_SECONDS,
                "matchPolicy": "Equivalent",
                "namespaceSelector": namespace_selector(opts),
            }],
        }),
    }
}
