//! `steady install [--print]`: renders the guard's manifests and applies them with server-side
//! apply (field manager `steady`), the CRD first (waiting until it is Established), the webhook
//! configuration last. Running it again changes nothing that is already as rendered.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::core::params::ValidationDirective;
use kube::{Client, ResourceExt as _};

use crate::manifests::{self, GUARD_LABEL, MANAGED_BY, OPT_IN_VALUE};
pub use crate::manifests::{
    CertMode, FailurePolicy, InstallOptions, LogFormat, Manifest, Manifests, NamespaceSelection,
    ObjectName, OptionsError, RenderError, Resources, render,
};
pub use crate::uninstall::{
    UninstallArgs, UninstallOptions, Uninstalled, run_uninstall, uninstall,
};

/// How long `steady install` waits for the CRD to become Established.
pub const CRD_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(
        "cannot reach the cluster with the current kubeconfig ({0}): check KUBECONFIG and the current context, or use --print to write the manifests instead"
    )]
    Client(kube::Error),
    #[error("cannot read {object}: {error}. {hint}")]
    Read {
        object: ObjectName,
        error: kube::Error,
        hint: &'static str,
    },
    #[error("cannot apply {object}: {error}. {hint}")]
    Apply {
        object: ObjectName,
        error: kube::Error,
        hint: &'static str,
    },
    #[error("the cluster has no {api_version} {kind} API, needed for {object}: {what_to_do}")]
    MissingApi {
        object: ObjectName,
        api_version: String,
        kind: &'static str,
        what_to_do: &'static str,
    },
    #[error(
        "namespace {name} is being deleted (a recent uninstall?): wait until `kubectl get namespace {name}` finds nothing, then install again"
    )]
    NamespaceTerminating { name: String },
    #[error(
        "the CRD {name} did not become Established within {} s ({last}): check `kubectl describe crd {name}`, then run steady install again",
        timeout.as_secs()
    )]
    CrdNotEstablished {
        name: String,
        timeout: Duration,
        last: String,
    },
    #[error("cannot write to stdout: {0}")]
    Stdout(std::io::Error),
}

/// What to do about an API error, from its status code.
pub(crate) fn hint(e: &kube::Error) -> &'static str {
    match e {
        kube::Error::Api(s) => match s.code {
            401 => "The kubeconfig's credentials were refused: log in again",
            403 => {
                "The current user lacks the right: installing steady needs cluster-admin (it creates RBAC, a CRD and a webhook configuration)"
            }
            404 => "The API or namespace does not exist",
            409 => {
                "Another field manager owns a field steady sets: see the message, or remove that manager's field"
            }
            422 => {
                "The API server rejected the object as invalid: this is a bug in steady's manifests or an option value, please report it with the message"
            }
            _ => "See the message above",
        },
        _ => "Check that the API server is reachable",
    }
}

/// What happened to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Configured,
    Unchanged,
    /// An existing namespace steady did not create: used as it is, never labelled nor deleted.
    Kept,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Configured => "configured",
            Self::Unchanged => "unchanged",
            Self::Kept => "kept",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub object: ObjectName,
    pub outcome: Outcome,
}

pub fn api_resource(m: &Manifest) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(m.group, m.version, m.kind), m.plural)
}

/// The API of one rendered object (through its group, version and plural; no discovery).
pub fn dynamic_api(client: &Client, m: &Manifest) -> Api<DynamicObject> {
    let ar = api_resource(m);
    match m.namespace() {
        Some(ns) if m.namespaced => Api::namespaced_with(client.clone(), ns, &ar),
        _ => Api::all_with(client.clone(), &ar),
    }
}

/// A 404 on the object's collection (not on the object itself) means the kind is not served.
pub(crate) fn is_missing_api(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404 && s.details.as_ref().is_none_or(|d| d.name.is_empty()))
}

fn missing_api_hint(m: &Manifest) -> &'static str {
    match m.group {
        "cert-manager.io" => {
            "install cert-manager first, or use --cert-mode self-signed (the guard then manages its own certificate)"
        }
        "monitoring.coreos.com" => {
            "install the prometheus-operator CRDs first, or leave out --service-monitor"
        }
        _ => "this cluster is too old or lacks the API: steady needs Kubernetes 1.30 or newer",
    }
}

/// Applies `manifests` in order with server-side apply, calling `on_applied` after each object.
/// Waits for the CRD to be Established before the objects after it (up to `crd_timeout`).
pub async fn apply(
    client: &Client,
    manifests: &Manifests,
    crd_timeout: Duration,
    mut on_applied: impl FnMut(&Applied),
) -> Result<Vec<Applied>, InstallError> {
    // Force: steady owns these objects, so an install puts back what another manager changed
    // (kubectl's --force-conflicts). Strict: an unknown field is an error, not silently dropped.
    let params = PatchParams::apply(manifests::FIELD_MANAGER)
        .force()
        .validation(ValidationDirective::Strict);
    preflight(client, manifests).await?;
    let mut done = Vec::with_capacity(manifests.objects.len());
    for m in &manifests.objects {
        let object = m.reference();
        let api = dynamic_api(client, m);
        let before = match api.get_opt(m.name()).await {
            Ok(b) => b,
            Err(e) if is_missing_api(&e) => {
                return Err(InstallError::MissingApi {
                    object,
                    api_version: m.api_version(),
                    kind: m.kind,
                    what_to_do: missing_api_hint(m),
                });
            }
            Err(source) => {
                let hint = hint(&source);
                return Err(InstallError::Read {
                    object,
                    error: source,
                    hint,
                });
            }
        };
        if m.kind == "Namespace"
            && let Some(existing) = &before
            && existing.metadata.deletion_timestamp.is_some()
        {
            return Err(InstallError::NamespaceTerminating {
                name: m.name().to_owned(),
            });
        }
        if m.kind == "Namespace"
            && let Some(existing) = &before
            && existing.labels().get(MANAGED_BY.0).map(String::as_str) != Some(MANAGED_BY.1)
        {
            let applied = Applied {
                object,
                outcome: Outcome::Kept,
            };
            on_applied(&applied);
            done.push(applied);
            continue;
        }
        let after = api
            .patch(m.name(), &params, &Patch::Apply(&m.object))
            .await
            .map_err(|source| {
                if is_missing_api(&source) {
                    InstallError::MissingApi {
                        object: object.clone(),
                        api_version: m.api_version(),
                        kind: m.kind,
                        what_to_do: missing_api_hint(m),
                    }
                } else {
                    let hint = hint(&source);
                    InstallError::Apply {
                        object: object.clone(),
                        error: source,
                        hint,
                    }
                }
            })?;
        let outcome = match before {
            None => Outcome::Created,
            Some(b) if same_content(&b, &after) => Outcome::Unchanged,
            Some(_) => Outcome::Configured,
        };
        if m.kind == "CustomResourceDefinition" {
            wait_established(client, m.name(), crd_timeout).await?;
        }
        let applied = Applied { object, outcome };
        on_applied(&applied);
        done.push(applied);
    }
    Ok(done)
}

/// A no-op apply leaves the object as it was; only its status may have moved meanwhile (a
/// controller at work), which an install does not count as a change.
fn same_content(before: &DynamicObject, after: &DynamicObject) -> bool {
    if before.resource_version() == after.resource_version() {
        return true;
    }
    let strip = |o: &DynamicObject| {
        let mut data = o.data.clone();
        if let Some(map) = data.as_object_mut() {
            map.remove("status");
        }
        (data, o.labels().clone(), o.annotations().clone())
    };
    strip(before) == strip(after)
}

/// Kinds that come from add-ons (cert-manager, prometheus-operator) must be served before anything
/// is applied, so a missing add-on stops the install before it changes the cluster.
async fn preflight(client: &Client, manifests: &Manifests) -> Result<(), InstallError> {
    let add_on = |m: &&Manifest| matches!(m.group, "cert-manager.io" | "monitoring.coreos.com");
    for m in manifests.objects.iter().filter(add_on) {
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &api_resource(m));
        match api
            .list_metadata(&kube::api::ListParams::default().limit(1))
            .await
        {
            Ok(_) => {}
            Err(e) if is_missing_api(&e) => {
                return Err(InstallError::MissingApi {
                    object: m.reference(),
                    api_version: m.api_version(),
                    kind: m.kind,
                    what_to_do: missing_api_hint(m),
                });
            }
            Err(source) => {
                let hint = hint(&source);
                return Err(InstallError::Read {
                    object: m.reference(),
                    error: source,
                    hint,
                });
            }
        }
    }
    Ok(())
}

async fn wait_established(
    client: &Client,
    name: &str,
    timeout: Duration,
) -> Result<(), InstallError> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last = String::from("no status yet");
    loop {
        match api.get(name).await {
            Ok(crd) => {
                let conditions = crd.status.and_then(|s| s.conditions).unwrap_or_default();
                if conditions
                    .iter()
                    .any(|c| c.type_ == "Established" && c.status == "True")
                {
                    return Ok(());
                }
                if let Some(c) = conditions
                    .iter()
                    .find(|c| c.type_ == "NamesAccepted" && c.status == "False")
                {
                    last = format!(
                        "names not accepted: {}",
                        c.message.clone().unwrap_or_default()
                    );
                }
            }
            Err(e) => last = e.to_string(),
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(InstallError::CrdNotEstablished {
                name: name.to_owned(),
                timeout,
                last,
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `steady install` on the command line.
#[derive(Debug, Clone, clap::Args)]
pub struct InstallArgs {
    /// Write the manifests to stdout as multi-document YAML instead of applying them.
    #[arg(long)]
    pub print: bool,

    /// Namespace of the guard (created if missing). kube-system and this namespace are never
    /// guarded.
    #[arg(long, short = 'n', default_value = manifests::DEFAULT_NAMESPACE)]
    pub namespace: String,

    /// Container image of the guard [default: ghcr.io/steady-dev/steady:<this version>].
    #[arg(long)]
    pub image: Option<String>,

    /// Guard replicas; every one serves the webhook.
    #[arg(long, default_value_t = 2)]
    pub replicas: i32,

    /// Where the webhook's serving certificate comes from.
    #[arg(long, value_enum, default_value_t = CertMode::SelfSigned)]
    pub cert_mode: CertMode,

    /// What the API server does with a protected disruption while no guard replica answers:
    /// Fail refuses it (drains wait), Ignore lets it through unguarded.
    #[arg(long, value_enum, ignore_case = true, default_value_t = FailurePolicy::Fail)]
    pub failure_policy: FailurePolicy,

    /// Guard only namespaces labelled steady.dev/guard=enabled (default: every namespace but those
    /// labelled steady.dev/guard=disabled).
    #[arg(long)]
    pub opt_in: bool,

    /// The label of --opt-in, as KEY=VALUE (implies --opt-in).
    #[arg(long, value_name = "KEY=VALUE")]
    pub opt_in_label: Option<String>,

    /// PodDisruptionBudgets also guard pod deletes and disruptive updates (guard flag
    /// --guard-pdb-deletes; grants PDB status writes).
    #[arg(long)]
    pub pdb_mode: bool,

    /// Log format of the guard.
    #[arg(long = "guard-log-format", value_enum, default_value_t = LogFormat::Json)]
    pub guard_log_format: LogFormat,

    #[arg(long, default_value = "100m")]
    pub cpu_request: String,
    #[arg(long, default_value = "128Mi")]
    pub memory_request: String,
    /// CPU limit (none by default: throttling slows the disruption path).
    #[arg(long)]
    pub cpu_limit: Option<String>,
    #[arg(long, default_value = "512Mi")]
    pub memory_limit: String,

    /// Add a prometheus-operator ServiceMonitor for the guard's metrics.
    #[arg(long)]
    pub service_monitor: bool,

    /// Base name of the guard's objects; change it only to run two installs side by side.
    #[arg(long, default_value = manifests::DEFAULT_NAME)]
    pub name: String,
}

impl InstallArgs {
    pub fn options(&self) -> Result<InstallOptions, OptionsError> {
        let namespace_selection = match &self.opt_in_label {
            Some(label) => {
                let (key, value) = label
                    .split_once('=')
                    .ok_or_else(|| OptionsError::Label(label.clone()))?;
                NamespaceSelection::OptIn {
                    key: key.to_owned(),
                    value: value.to_owned(),
                }
            }
            None if self.opt_in => NamespaceSelection::OptIn {
                key: GUARD_LABEL.into(),
                value: OPT_IN_VALUE.into(),
            },
            None => NamespaceSelection::OptOut,
        };
        let opts = InstallOptions {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            image: self.image.clone().unwrap_or_else(manifests::default_image),
            replicas: self.replicas,
            cert_mode: self.cert_mode,
            failure_policy: self.failure_policy,
            namespace_selection,
            pdb_mode: self.pdb_mode,
            log_format: self.guard_log_format,
            resources: Resources {
                cpu_request: self.cpu_request.clone(),
                memory_request: self.memory_request.clone(),
                cpu_limit: self.cpu_limit.clone(),
                memory_limit: Some(self.memory_limit.clone()),
            },
            service_monitor: self.service_monitor,
        };
        opts.validate()?;
        Ok(opts)
    }
}

/// Renders and applies the manifests for `opts` with `client`: what `steady install` does.
pub async fn install(
    client: &Client,
    opts: &InstallOptions,
    on_applied: impl FnMut(&Applied),
) -> Result<Vec<Applied>, InstallError> {
    let manifests = render(opts)?;
    apply(client, &manifests, CRD_TIMEOUT, on_applied).await
}

/// `steady install`: prints or applies.
pub async fn run_install(args: InstallArgs) -> Result<ExitCode, InstallError> {
    let opts = args.options().map_err(RenderError::from)?;
    let manifests = render(&opts)?;
    if args.print {
        let yaml = manifests.to_yaml()?;
        std::io::stdout()
            .write_all(yaml.as_bytes())
            .map_err(InstallError::Stdout)?;
        return Ok(ExitCode::SUCCESS);
    }
    let client = Client::try_default().await.map_err(InstallError::Client)?;
    let applied = apply(&client, &manifests, CRD_TIMEOUT, |a| {
        println!("{:<10} {}", a.outcome.as_str(), a.object);
    })
    .await?;
    let changed = applied
        .iter()
        .filter(|a| matches!(a.outcome, Outcome::Created | Outcome::Configured))
        .count();
    println!(
        "steady guard installed in namespace {} ({changed} of {} objects changed).",
        opts.namespace,
        applied.len()
    );
    match &opts.namespace_selection {
        NamespaceSelection::OptOut => println!(
            "Every namespace but kube-system and {} is guarded; label a namespace {GUARD_LABEL}=disabled to leave it out.",
            opts.namespace
        ),
        NamespaceSelection::OptIn { key, value } => println!(
            "Only namespaces labelled {key}={value} are guarded: kubectl label namespace NAME {key}={value}"
        ),
    }
    println!(
        "Watch the guard come up with: kubectl -n {} rollout status deployment/{}",
        opts.namespace, opts.name
    );
    Ok(ExitCode::SUCCESS)
}
