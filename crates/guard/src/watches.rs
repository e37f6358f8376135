//! The one place that opens watches. Each watch feeds the index (apply / delete / reset on every
//! re-list), marks the namespaces whose budgets must be recomputed, and reports when its initial
//! list is in, for `/readyz`. Objects that cannot be decoded are logged and skipped, never allowed
//! to break a stream.

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::core::DeserializeGuard;
use kube::discovery::{Discovery, Scope};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use steady_api::PodUnavailableBudget;
use steady_budget::{BudgetKind, PodFacts};
use tokio::sync::Notify;

use crate::admin::Readiness;
use crate::index::{
    BudgetEntry, OwnerKey, SharedIndex, entry_from_pdb, entry_from_pub, owner_from_dynamic,
};
use crate::metrics::Metrics;

/// Namespaces whose budgets need a recompute.
#[derive(Debug, Default)]
pub struct Dirty {
    set: Mutex<BTreeSet<String>>,
    notify: Notify,
}

impl Dirty {
    pub fn mark(&self, ns: impl IntoIterator<Item = String>) {
        let mut set = self.set.lock().unwrap_or_else(PoisonError::into_inner);
        let before = set.len();
        set.extend(ns);
        if set.len() != before {
            self.notify.notify_one();
        }
    }

    pub fn take(&self) -> BTreeSet<String> {
        std::mem::take(&mut *self.set.lock().unwrap_or_else(PoisonError::into_inner))
    }

    pub async fn wait(&self) {
        self.notify.notified().await;
    }
}

#[derive(Clone)]
pub struct Watches {
    pub client: Client,
    pub index: SharedIndex,
    pub dirty: Arc<Dirty>,
    pub ready: Readiness,
    pub metrics: Arc<Metrics>,
}

/// What one watch does with its objects.
trait Feed: Send + 'static {
    type K: Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static;
    fn name(&self) -> String;
    fn apply(&self, w: &Watches, obj: Self::K);
    fn delete(&self, w: &Watches, obj: Self::K);
    fn reset(&self, w: &Watches, objs: Vec<Self::K>);
}

fn pod_ns(p: &PodFacts) -> String {
    p.namespace.clone()
}

struct Pods;
impl Feed for Pods {
    type K = Pod;
    fn name(&self) -> String {
        "pods".into()
    }
    fn apply(&self, w: &Watches, p: Pod) {
        let facts = PodFacts::from_pod(&p);
        let ns = pod_ns(&facts);
        if w.index.write().apply_pod(facts) {
            w.dirty.mark([ns]);
        }
    }
    fn delete(&self, w: &Watches, p: Pod) {
        // A name the API server generated (a ReplicaSet's, a DaemonSet's, a Job's pods) never
        // comes back; a StatefulSet's or a hand-named pod's can, so only the former are gone.
        let generated = p
            .metadata
            .generate_name
            .as_deref()
            .zip(p.metadata.name.as_deref())
            .is_some_and(|(prefix, name)| !prefix.is_empty() && name.starts_with(prefix));
        let (ns, name) = (
            p.metadata.namespace.unwrap_or_default(),
            p.metadata.name.unwrap_or_default(),
        );
        let mut index = w.index.write();
        let removed = index.delete_pod(&ns, &name);
        if generated {
            index.note_gone(&ns, &name, std::time::Instant::now());
        }
        drop(index);
        if removed || generated {
            w.dirty.mark([ns]);
        }
    }
    fn reset(&self, w: &Watches, pods: Vec<Pod>) {
        let facts = pods.iter().map(PodFacts::from_pod).collect();
        let changed = w.index.write().reset_pods(facts);
        w.dirty.mark(changed);
    }
}

struct Budgets<K>(BudgetKind, fn(&K) -> BudgetEntry);
impl<K> Feed for Budgets<K>
where
    K: Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + kube::Resource
        + Send
        + Sync
        + 'static,
{
    type K = DeserializeGuard<K>;
    fn name(&self) -> String {
        format!("{:?}s", self.0)
    }
    fn apply(&self, w: &Watches, obj: DeserializeGuard<K>) {
        match obj.0 {
            Ok(b) => {
                let entry = (self.1)(&b);
                w.metrics
                    .budget_seen(&entry.id, entry.status.unavailable_allowed);
                let ns = entry.id.namespace.clone();
                w.index.write().apply_budget(entry);
                w.dirty.mark([ns]);
            }
            Err(e) => {
                w.metrics.error("invalid_budget");
                tracing::warn!(error = %e, "skipping a budget that cannot be decoded");
            }
        }
    }
    fn delete(&self, w: &Watches, obj: DeserializeGuard<K>) {
        if let Ok(b) = obj.0 {
            let entry = (self.1)(&b);
            w.metrics.budget_gone(&entry.id);
            w.index.write().delete_budget(&entry.id);
        }
    }
    fn reset(&self, w: &Watches, objs: Vec<DeserializeGuard<K>>) {
        let entries: Vec<BudgetEntry> = objs
            .into_iter()
            .filter_map(|o| o.0.ok())
            .map(|b| (self.1)(&b))
            .collect();
        for e in &entries {
            w.metrics.budget_seen(&e.id, e.status.unavailable_allowed);
        }
        let changed = w.index.write().reset_budgets(self.0, entries);
        w.dirty.mark(changed);
    }
}

struct Owners {
    group: String,
    kind: String,
}
impl Owners {
    fn key_info(&self, o: &DynamicObject) -> Option<(OwnerKey, steady_budget::OwnerInfo)> {
        owner_from_dynamic(o, &self.group, &self.kind)
    }
}
impl Feed for Owners {
    type K = DynamicObject;
    fn name(&self) -> String {
        if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }
    fn apply(&self, w: &Watches, o: DynamicObject) {
        if let Some((k, v)) = self.key_info(&o) {
            let ns = k.namespace.clone();
            if w.index.write().apply_owner(k, v) {
                w.dirty.mark([ns]);
            }
        }
    }
    fn delete(&self, w: &Watches, o: DynamicObject) {
        if let Some((k, _)) = self.key_info(&o)
            && w.index.write().delete_owner(&k)
        {
            w.dirty.mark([k.namespace]);
        }
    }
    fn reset(&self, w: &Watches, objs: Vec<DynamicObject>) {
        let owners = objs.iter().filter_map(|o| self.key_info(o)).collect();
        let changed = w
            .index
            .write()
            .reset_owners(&self.group, &self.kind, owners);
        w.dirty.mark(changed);
    }
}

fn is_forbidden(e: &watcher::Error) -> bool {
    matches!(e, watcher::Error::InitialListFailed(kube::Error::Api(s)) | watcher::Error::WatchStartFailed(kube::Error::Api(s)) if s.is_forbidden() || s.is_not_found())
}

/// Runs one watch forever. `optional`: a watch the guard can live without (a scalable kind it has
/// no RBAC for) is counted as synced when refused, so it cannot hold readiness back.
async fn run_feed<F: Feed>(w: Watches, api: Api<F::K>, feed: F, optional: bool)
where
    F::K: kube::Resource + Clone + std::fmt::Debug + Send + 'static,
    <F::K as kube::Resource>::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    let stream = watcher::watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    consume(w, stream, feed, optional).await;
}

/// Feeds one watch's events into the index until the stream ends; shared by typed and dynamic
/// watches, which differ only in how their stream is made.
async fn consume<F: Feed>(
    w: Watches,
    mut stream: futures::stream::BoxStream<'static, Result<Event<F::K>, watcher::Error>>,
    feed: F,
    optional: bool,
) {
    let name = feed.name();
    w.ready.register(&name);
    let mut buffer = Vec::new();
    loop {
        match stream.try_next().await {
            Ok(Some(Event::Init)) => buffer.clear(),
            Ok(Some(Event::InitApply(o))) => buffer.push(o),
            Ok(Some(Event::InitDone)) => {
                feed.reset(&w, std::mem::take(&mut buffer));
                w.ready.synced(&name);
                tracing::info!(cache = %name, "cache synced");
            }
            Ok(Some(Event::Apply(o))) => feed.apply(&w, o),
            Ok(Some(Event::Delete(o))) => feed.delete(&w, o),
            Ok(None) => return,
            Err(e) => {
                w.metrics.error("watch");
                if optional && is_forbidden(&e) {
                    w.ready.synced(&name);
                }
                tracing::warn!(cache = %name, error = %e, "watch error; retrying");
            }
        }
    }
}

impl Watches {
    /// Starts the pod and budget watches, and the owner watches for every namespaced kind with a
    /// scale subresource (discovery is repeated so CRDs installed later are picked up).
    pub fn spawn(&self, pdb_mode: bool) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = vec![
            tokio::spawn(run_feed(
                self.clone(),
                Api::<Pod>::all(self.client.clone()),
                Pods,
                false,
            )),
            tokio::spawn(run_feed(
                self.clone(),
                Api::<DeserializeGuard<PodUnavailableBudget>>::all(self.client.clone()),
                Budgets::<PodUnavailableBudget>(BudgetKind::PodUnavailableBudget, entry_from_pub),
                false,
            )),
        ];
        if pdb_mode {
            tasks.push(tokio::spawn(run_feed(
                self.clone(),
                Api::<DeserializeGuard<PodDisruptionBudget>>::all(self.client.clone()),
                Budgets::<PodDisruptionBudget>(BudgetKind::PodDisruptionBudget, entry_from_pdb),
                false,
            )));
        }
        // Readiness waits for the first discovery too.
        self.ready.register("discovery");
        let w = self.clone();
        tasks.push(tokio::spawn(async move { w.discover_owners().await }));
        tasks
    }

    async fn discover_owners(self) {
        let mut watched: HashSet<(String, String)> = HashSet::new();
        loop {
            match Discovery::new(self.client.clone()).run().await {
                Ok(d) => {
                    for group in d.groups() {
                        for (ar, caps) in group.recommended_resources() {
                            let scalable =
                                caps.subresources.iter().any(|(s, _)| s.plural == "scale");
                            if !scalable || caps.scope != Scope::Namespaced {
                                continue;
                            }
                            if !watched.insert((ar.group.clone(), ar.kind.clone())) {
                                continue;
                            }
                            tracing::info!(kind = %ar.kind, group = %ar.group, "watching a scalable owner kind");
                            let builtin = matches!(ar.group.as_str(), "apps" | "");
                            let feed = Owners {
                                group: ar.group.clone(),
                                kind: ar.kind.clone(),
                            };
                            let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &ar);
                            tokio::spawn(run_dynamic(self.clone(), api, ar, feed, !builtin));
                        }
                    }
                    self.ready.synced("discovery");
                }
                Err(e) => {
                    self.metrics.error("discovery");
                    tracing::warn!(error = %e, "API discovery failed; retrying");
                }
            }
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
    }
}

/// `run_feed` for dynamic objects (their type information is a value, not a type).
async fn run_dynamic(
    w: Watches,
    api: Api<DynamicObject>,
    _ar: ApiResource,
    feed: Owners,
    optional: bool,
) {
    let stream = watcher::watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    consume(w, stream, feed, optional).await;
}
