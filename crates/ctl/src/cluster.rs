//! `--cluster`: reads Deployments, StatefulSets, DaemonSets, ReplicaSets, Pods, Services,
//! HorizontalPodAutoscalers, PodDisruptionBudgets and PodUnavailableBudgets through the current
//! kubeconfig context, and turns them into the same [`Object`]s as the file loader (file
//! `cluster`, line 0), so `steady check`'s rules judge a cluster exactly as they judge files.
//! Pods and ReplicaSets owned by a controller are judged through their owner.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, ListParams};
use kube::{Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;

use steady_manifest::model::{self, Object, Source};

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[from] std::io::Error),
    #[error("cannot connect to the cluster (current kubeconfig context): {0}")]
    Connect(#[source] kube::Error),
    #[error("listing {kind}: {source}")]
    List {
        kind: &'static str,
        #[source]
        source: kube::Error,
    },
}

/// Reads the cluster. `namespace` None means the context's default namespace, unless `all`.
pub fn load(
    namespace: Option<&str>,
    all: bool,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Vec<Object>, ClusterError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(load_async(namespace, all, progress))
}

async fn load_async(
    namespace: Option<&str>,
    all: bool,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Vec<Object>, ClusterError> {
    let client = Client::try_default().await.map_err(ClusterError::Connect)?;
    let ns = match (all, namespace) {
        (true, _) => None,
        (false, Some(n)) => Some(n.to_owned()),
        (false, None) => Some(client.default_namespace().to_owned()),
    };
    let file: Arc<str> = Arc::from("cluster");
    let mut out = Vec::new();
    let default_ns = ns.clone().unwrap_or_else(|| "default".to_owned());
    macro_rules! read {
        ($t:ty, $kind:literal, $optional:expr) => {{
            list::<$t>(
                &client,
                ns.as_deref(),
                $kind,
                $optional,
                &file,
                &default_ns,
                &mut out,
            )
            .await?;
            progress(1);
        }};
    }
    read!(Deployment, "Deployment", false);
    read!(StatefulSet, "StatefulSet", false);
    read!(DaemonSet, "DaemonSet", false);
    read!(ReplicaSet, "ReplicaSet", false);
    read!(Pod, "Pod", false);
    read!(Service, "Service", false);
    read!(HorizontalPodAutoscaler, "HorizontalPodAutoscaler", false);
    read!(PodDisruptionBudget, "PodDisruptionBudget", false);
    // The CRD may not be installed: a 404 just means there are no PodUnavailableBudgets.
    read!(
        steady_api::PodUnavailableBudget,
        "PodUnavailableBudget",
        true
    );
    Ok(out)
}

async fn list<K>(
    client: &Client,
    ns: Option<&str>,
    kind: &'static str,
    optional: bool,
    file: &Arc<str>,
    default_ns: &str,
    out: &mut Vec<Object>,
) -> Result<(), ClusterError>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
{
    let api: Api<K> = match ns {
        Some(n) => Api::namespaced(client.clone(), n),
        None => Api::all(client.clone()),
    };
    let mut params = ListParams::default().limit(500);
    loop {
        let page = match api.list(&params).await {
            Ok(p) => p,
            Err(kube::Error::Api(s)) if optional && s.code == 404 => return Ok(()),
            Err(source) => return Err(ClusterError::List { kind, source }),
        };
        for item in &page.items {
            let Ok(mut v) = serde_json::to_value(item) else {
                continue;
            };
            // List items come without apiVersion/kind; put them back for the decoder.
            v["apiVersion"] = K::api_version(&()).into_owned().into();
            v["kind"] = kind.into();
            let source = Source {
                file: file.clone(),
                line: 0,
                doc: out.len(),
            };
            // Objects the API server accepted decode; a failure here would be a version skew, and
            // the object is skipped rather than failing the scan.
            if let Ok(Some(o)) = model::decode(v, source, default_ns) {
                out.push(o);
            }
        }
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(c) => params = params.continue_token(&c),
            None => return Ok(()),
        }
    }
}
