//! `steady uninstall`: deletes what `steady install` created in reverse order, the webhook
//! configuration first so no pod is ever held up by a guard that is going away. The CRD, and with
//! it every PodUnavailableBudget in the cluster, stays unless `--delete-crd`.

use std::collections::BTreeSet;
use std::process::ExitCode;

use kube::api::{Api, DeleteParams, ListParams};
use kube::{Client, ResourceExt as _};
use serde_json::json;
use steady_api::PodUnavailableBudget;

use crate::install::{dynamic_api, hint, is_missing_api};
use crate::manifests::{
    self, CertMode, InstallOptions, MANAGED_BY, Manifest, ObjectName, RenderError, render,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UninstallOptions {
    pub namespace: String,
    pub name: String,
    /// Also delete the CRD, which deletes every PodUnavailableBudget in the cluster.
    pub delete_crd: bool,
}

impl Default for UninstallOptions {
    fn default() -> Self {
        Self {
            namespace: manifests::DEFAULT_NAMESPACE.into(),
            name: manifests::DEFAULT_NAME.into(),
            delete_crd: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UninstallError {
    #[error(transparent)]
    Options(#[from] RenderError),
    #[error(
        "cannot reach the cluster with the current kubeconfig ({0}): check KUBECONFIG and the current context"
    )]
    Client(kube::Error),
    #[error(
        "cannot delete {object}: {error}. {hint}; run steady uninstall again once it is fixed (objects already deleted are skipped)"
    )]
    Delete {
        object: ObjectName,
        error: kube::Error,
        hint: &'static str,
    },
    #[error("cannot read {object}: {error}. {hint}")]
    Read {
        object: ObjectName,
        error: kube::Error,
        hint: &'static str,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    Deleted,
    /// Not there (never created, or deleted earlier).
    Absent,
    /// Left in place on purpose: the CRD without --delete-crd, or a namespace steady did not create.
    Kept,
}

impl Removal {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deleted => "deleted",
            Self::Absent => "absent",
            Self::Kept => "kept",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uninstalled {
    pub object: ObjectName,
    pub removal: Removal,
}

/// Objects to remove, in order. Built from the install with every optional part switched on, so an
/// install made with any options is removed without repeating them; plus what the guard creates at
/// run time in its namespace (its certificate Secret and its Lease).
pub fn removal_order(opts: &UninstallOptions) -> Result<Vec<Manifest>, RenderError> {
    let all = InstallOptions {
        namespace: opts.namespace.clone(),
        name: opts.name.clone(),
        cert_mode: CertMode::CertManager,
        service_monitor: true,
        pdb_mode: true,
        ..InstallOptions::default()
    };
    let mut objects = render(&all)?.objects;
    objects.reverse();
    let runtime = [
        Manifest {
            group: "",
            version: "v1",
            kind: "Secret",
            plural: "secrets",
            namespaced: true,
            note: None,
            object: json!({ "metadata": { "name": all.cert_secret(), "namespace": all.namespace } }),
        },
        Manifest {
            group: "coordination.k8s.io",
            version: "v1",
            kind: "Lease",
            plural: "leases",
            namespaced: true,
            note: None,
            object: json!({ "metadata": { "name": all.lease_name(), "namespace": all.namespace } }),
        },
    ];
    // Before the namespace and the CRD, after everything else.
    let at = objects
        .iter()
        .position(|m| m.kind == "CustomResourceDefinition" || m.kind == "Namespace")
        .unwrap_or(objects.len());
    objects.splice(at..at, runtime);
    Ok(objects)
}

/// Deletes the guard installed as `opts` says, calling `on_removed` after each object.
pub async fn uninstall(
    client: &Client,
    opts: &UninstallOptions,
    mut on_removed: impl FnMut(&Uninstalled),
) -> Result<Vec<Uninstalled>, UninstallError> {
    let mut done = Vec::new();
    for m in removal_order(opts)? {
        let object = m.reference();
        let removal = if m.kind == "CustomResourceDefinition" && !opts.delete_crd {
            Removal::Kept
        } else if m.kind == "Namespace" {
            remove_namespace(client, &m).await?
        } else {
            delete(client, &m).await?
        };
        let u = Uninstalled { object, removal };
        on_removed(&u);
        done.push(u);
    }
    Ok(done)
}

async fn delete(client: &Client, m: &Manifest) -> Result<Removal, UninstallError> {
    let api = dynamic_api(client, m);
    match api.delete(m.name(), &DeleteParams::background()).await {
        Ok(_) => Ok(Removal::Deleted),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(Removal::Absent),
        Err(e) if is_missing_api(&e) => Ok(Removal::Absent),
        Err(source) => {
            let hint = hint(&source);
            Err(UninstallError::Delete {
                object: m.reference(),
                error: source,
                hint,
            })
        }
    }
}

/// A namespace is deleted only when steady created it (it carries steady's managed-by label).
async fn remove_namespace(client: &Client, m: &Manifest) -> Result<Removal, UninstallError> {
    let api = dynamic_api(client, m);
    match api.get_opt(m.name()).await {
        Ok(None) => Ok(Removal::Absent),
        Ok(Some(ns)) if ns.labels().get(MANAGED_BY.0).map(String::as_str) == Some(MANAGED_BY.1) => {
            delete(client, m).await
        }
        Ok(Some(_)) => Ok(Removal::Kept),
        Err(source) => {
            let hint = hint(&source);
            Err(UninstallError::Read {
                object: m.reference(),
                error: source,
                hint,
            })
        }
    }
}

/// Budgets the CRD's deletion would take with it, by namespace.
pub async fn budgets_in_cluster(client: &Client) -> Result<Vec<(String, String)>, kube::Error> {
    let api: Api<PodUnavailableBudget> = Api::all(client.clone());
    match api.list_metadata(&ListParams::default()).await {
        Ok(list) => Ok(list
            .items
            .iter()
            .map(|b| (b.namespace().unwrap_or_default(), b.name_any()))
            .collect()),
        Err(e) if is_missing_api(&e) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// `steady uninstall` on the command line.
#[derive(Debug, Clone, clap::Args)]
pub struct UninstallArgs {
    /// Namespace the guard was installed in.
    #[arg(long, short = 'n', default_value = manifests::DEFAULT_NAMESPACE)]
    pub namespace: String,

    /// Base name the guard was installed with.
    #[arg(long, default_value = manifests::DEFAULT_NAME)]
    pub name: String,

    /// Also delete the PodUnavailableBudget CRD. This deletes EVERY PodUnavailableBudget in the
    /// cluster, in every namespace.
    #[arg(long)]
    pub delete_crd: bool,
}

/// `steady uninstall`.
pub async fn run_uninstall(args: UninstallArgs) -> Result<ExitCode, UninstallError> {
    let opts = UninstallOptions {
        namespace: args.namespace,
        name: args.name,
        delete_crd: args.delete_crd,
    };
    // Reject bad names before touching the cluster.
    removal_order(&opts)?;
    let client = Client::try_default()
        .await
        .map_err(UninstallError::Client)?;
    if opts.delete_crd {
        let crd = ObjectName {
            kind: "CustomResourceDefinition".into(),
            namespace: None,
            name: format!("podunavailablebudgets.{}", steady_api::GROUP),
        };
        let budgets = budgets_in_cluster(&client)
            .await
            .map_err(|source| UninstallError::Read {
                hint: hint(&source),
                object: crd,
                error: source,
            })?;
        let namespaces: BTreeSet<&str> = budgets.iter().map(|(ns, _)| ns.as_str()).collect();
        println!(
            "--delete-crd: deleting the CRD deletes every PodUnavailableBudget in the cluster: {} budget(s) in {} namespace(s).",
            budgets.len(),
            namespaces.len()
        );
    }
    uninstall(&client, &opts, |u| {
        println!("{:<8} {}", u.removal.as_str(), u.object)
    })
    .await?;
    println!("steady guard removed from namespace {}.", opts.namespace);
    if !opts.delete_crd {
        println!(
            "The PodUnavailableBudget CRD and every budget are kept (steady uninstall --delete-crd removes them all)."
        );
    }
    Ok(ExitCode::SUCCESS)
}
