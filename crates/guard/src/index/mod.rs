//! The guard's in-memory index: every pod (trimmed to [`PodFacts`]), every budget with its last
//! known status and `resourceVersion`, and every scalable owner's replicas. The watches in
//! [`crate::watches`] apply, delete and reset objects here; the admission handler and the controller
//! only read. Nothing in this module talks to the API server, so it is tested with plain values.

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use steady_budget::{
    BudgetId, BudgetKind, BudgetSpec, BudgetStatus, OwnerInfo, OwnerLookup, OwnerRef, PodFacts,
    PodPhase, Resolution,
};

mod convert;
pub use convert::{RawBudget, entry_from_pdb, entry_from_pub, owner_from_dynamic, status_to_pdb};

#[cfg(test)]
pub(crate) mod tests;

/// One budget as the guard knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetEntry {
    pub id: BudgetId,
    pub uid: Option<String>,
    /// `metadata.generation`.
    pub generation: i64,
    /// Opaque; sent back as the precondition of the next status write.
    pub resource_version: String,
    /// The engine's spec, or why the stored spec cannot be used.
    pub spec: Result<BudgetSpec, String>,
    /// The object's spec as stored, so a status write can send the whole object back.
    pub raw: RawBudget,
    pub status: BudgetStatus,
}

/// Names an owner object: namespace, API group (versions are one object), kind, name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OwnerKey {
    pub namespace: String,
    pub group: String,
    pub kind: String,
    pub name: String,
}

impl OwnerKey {
    pub fn new(namespace: &str, owner: &OwnerRef) -> Self {
        Self {
            namespace: namespace.to_owned(),
            group: owner.group().to_owned(),
            kind: owner.kind.clone(),
            name: owner.name.clone(),
        }
    }
}

/// A pod as the index keeps it: the facts of [`PodFacts`] without the namespace (the map key
/// holds it), with label strings and owner references shared between pods (every pod of a
/// ReplicaSet has the same ones). Stored by name, so the name is not kept twice.
#[derive(Debug, Clone)]
struct Stored {
    name: Box<str>,
    labels: Box<[(Arc<str>, Arc<str>)]>,
    controller: Option<Arc<OwnerRef>>,
    phase: PodPhase,
    ready: bool,
    terminating: bool,
    ready_changed: Option<Timestamp>,
    created: Option<Timestamp>,
}

/// Set membership is by name (as `Borrow<str>` requires); [`Stored::same`] compares everything.
impl PartialEq for Stored {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for Stored {}

impl Hash for Stored {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}
impl Borrow<str> for Stored {
    fn borrow(&self) -> &str {
        &self.name
    }
}

/// Shared strings and owner references.
#[derive(Debug, Default)]
struct Interner {
    strings: HashSet<Arc<str>>,
    owners: HashSet<Arc<OwnerRef>>,
}

impl Interner {
    fn string(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.strings.get(s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        self.strings.insert(a.clone());
        a
    }

    fn owner(&mut self, o: OwnerRef) -> Arc<OwnerRef> {
        if let Some(a) = self.owners.get(&o) {
            return a.clone();
        }
        let a = Arc::new(o);
        self.owners.insert(a.clone());
        a
    }

    /// Drops what no pod uses any more.
    fn collect(&mut self) {
        self.strings.retain(|s| Arc::strong_count(s) > 1);
        self.owners.retain(|o| Arc::strong_count(o) > 1);
    }

    fn compact(&mut self, p: PodFacts) -> Stored {
        let PodFacts {
            namespace: _,
            name,
            labels,
            controller,
            phase,
            ready,
            ready_changed,
            terminating,
            created,
        } = p;
        Stored {
            name: name.into_boxed_str(),
            labels: labels
                .iter()
                .map(|(k, v)| (self.string(k), self.string(v)))
                .collect(),
            controller: controller.map(|o| self.owner(o)),
            phase,
            ready,
            terminating,
            ready_changed,
            created,
        }
    }
}

impl Stored {
    fn same(&self, o: &Stored) -> bool {
        self.name == o.name
            && self.labels == o.labels
            && self.controller == o.controller
            && self.phase == o.phase
            && self.ready == o.ready
            && self.terminating == o.terminating
            && self.ready_changed == o.ready_changed
            && self.created == o.created
    }

    fn facts(&self, namespace: &str) -> PodFacts {
        PodFacts {
            namespace: namespace.to_owned(),
            name: self.name.to_string(),
            labels: self
                .labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            controller: self.controller.as_deref().cloned(),
            phase: self.phase,
            ready: self.ready,
            ready_changed: self.ready_changed,
            terminating: self.terminating,
            created: self.created,
        }
    }
}

#[derive(Debug, Default)]
pub struct Index {
    /// namespace → pods.
    pods: HashMap<String, HashSet<Stored>>,
    interner: Interner,
    deletes_since_collect: usize,
    /// namespace → owner kind/group/name → info.
    owners: HashMap<OwnerKey, OwnerInfo>,
    /// namespace → budgets, in a stable order (the order units are taken in).
    budgets: HashMap<String, BTreeMap<BudgetId, Arc<BudgetEntry>>>,
    /// namespace → pods seen deleted under a name the API server generated, with when: such a
    /// name never comes back, so a budget's entry for it is no disruption in progress any more.
    gone: HashMap<String, HashMap<String, Instant>>,
    gone_count: usize,
}

/// Tombstones older than this are forgotten; an entry whose tombstone is gone waits for its own
/// expiry instead (the default is 2 minutes), which is the safe side.
const GONE_KEEP: Duration = Duration::from_secs(3600);
/// At most this many tombstones are kept (a few MiB); past it the oldest go first.
const MAX_GONE: usize = 100_000;

/// The index shared by the watches, the webhook and the controller.
#[derive(Debug, Clone, Default)]
pub struct SharedIndex(Arc<RwLock<Index>>);

impl SharedIndex {
    pub fn read(&self) -> RwLockReadGuard<'_, Index> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that matters
        // more than refusing every request would, so keep serving.
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn write(&self) -> RwLockWriteGuard<'_, Index> {
        self.0.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Index {
    // ---- pods ----

    /// Inserts or replaces a pod. Returns whether anything a budget depends on changed.
    pub fn apply_pod(&mut self, pod: PodFacts) -> bool {
        let namespace = pod.namespace.clone();
        let stored = self.interner.compact(pod);
        if let Some(gone) = self.gone.get_mut(&namespace)
            && gone.remove(&*stored.name).is_some()
        {
            // A pod holds the name again after all: it is not gone.
            self.gone_count -= 1;
        }
        let ns = self.pods.entry(namespace).or_default();
        match ns.get(&*stored.name) {
            Some(old) if old.same(&stored) => false,
            _ => {
                ns.replace(stored);
                true
            }
        }
    }

    pub fn delete_pod(&mut self, namespace: &str, name: &str) -> bool {
        let Some(ns) = self.pods.get_mut(namespace) else {
            return false;
        };
        let removed = ns.remove(name);
        if ns.is_empty() {
            self.pods.remove(namespace);
        }
        self.deletes_since_collect += 1;
        if self.deletes_since_collect > 10_000 {
            self.deletes_since_collect = 0;
            self.interner.collect();
        }
        removed
    }

    /// Records that the watch saw pod `name` deleted, and the API server generated that name
    /// (`metadata.generateName`), so no pod will take it again.
    pub fn note_gone(&mut self, namespace: &str, name: &str, now: Instant) {
        if self.gone_count >= MAX_GONE {
            self.forget_gone(now);
        }
        let names = self.gone.entry(namespace.to_owned()).or_default();
        if names.insert(name.to_owned(), now).is_none() {
            self.gone_count += 1;
        }
    }

    /// Whether pod `name` of `namespace` was seen deleted under a generated name.
    pub fn is_gone(&self, namespace: &str, name: &str) -> bool {
        self.gone
            .get(namespace)
            .is_some_and(|names| names.contains_key(name))
    }

    /// Drops tombstones older than [`GONE_KEEP`]; when that frees too little, the older half.
    fn forget_gone(&mut self, now: Instant) {
        let mut keep_after = now.checked_sub(GONE_KEEP);
        if self.gone_count >= MAX_GONE {
            let mut times: Vec<Instant> = self
                .gone
                .values()
                .flat_map(|m| m.values().copied())
                .collect();
            let mid = times.len() / 2;
            let (_, median, _) = times.select_nth_unstable(mid);
            keep_after = keep_after.max(Some(*median));
        }
        let Some(after) = keep_after else { return };
        for names in self.gone.values_mut() {
            names.retain(|_, at| *at > after);
        }
        self.gone.retain(|_, names| !names.is_empty());
        self.gone_count = self.gone.values().map(HashMap::len).sum();
    }

    /// Replaces every pod (a watch's initial list or a re-list). Returns the namespaces whose
    /// pods changed.
    pub fn reset_pods(&mut self, pods: Vec<PodFacts>) -> BTreeSet<String> {
        let mut next: HashMap<String, HashSet<Stored>> = HashMap::new();
        for p in pods {
            let ns = p.namespace.clone();
            let stored = self.interner.compact(p);
            next.entry(ns).or_default().replace(stored);
        }
        let mut changed = BTreeSet::new();
        for (ns, pods) in &next {
            let same = self.pods.get(ns).is_some_and(|old| {
                old.len() == pods.len()
                    && pods
                        .iter()
                        .all(|p| old.get(&*p.name).is_some_and(|o| o.same(p)))
            });
            if !same {
                changed.insert(ns.clone());
            }
        }
        changed.extend(
            self.pods
                .keys()
                .filter(|ns| !next.contains_key(*ns))
                .cloned(),
        );
        self.pods = next;
        self.interner.collect();
        self.deletes_since_collect = 0;
        changed
    }

    pub fn pod(&self, namespace: &str, name: &str) -> Option<PodFacts> {
        self.pods
            .get(namespace)
            .and_then(|ns| ns.get(name))
            .map(|s| s.facts(namespace))
    }

    pub fn namespace_pods(&self, namespace: &str) -> Vec<PodFacts> {
        self.pods
            .get(namespace)
            .map(|ns| ns.iter().map(|s| s.facts(namespace)).collect())
            .unwrap_or_default()
    }

    pub fn pod_count(&self) -> usize {
        self.pods.values().map(HashSet::len).sum()
    }

    // ---- owners ----

    /// Returns whether the owner's replicas, controller or minReadySeconds changed.
    pub fn apply_owner(&mut self, key: OwnerKey, info: OwnerInfo) -> bool {
        match self.owners.get(&key) {
            Some(old) if *old == info => false,
            _ => {
                self.owners.insert(key, info);
                true
            }
        }
    }

    pub fn delete_owner(&mut self, key: &OwnerKey) -> bool {
        self.owners.remove(key).is_some()
    }

    /// Replaces every owner of one kind (one watch's re-list). Returns the namespaces touched.
    pub fn reset_owners(
        &mut self,
        group: &str,
        kind: &str,
        owners: Vec<(OwnerKey, OwnerInfo)>,
    ) -> BTreeSet<String> {
        let mut changed = BTreeSet::new();
        let fresh: HashMap<OwnerKey, OwnerInfo> = owners.into_iter().collect();
        self.owners.retain(|k, v| {
            if k.group != group || k.kind != kind {
                return true;
            }
            let keep = fresh.get(k) == Some(v);
            if !keep {
                changed.insert(k.namespace.clone());
            }
            keep
        });
        for (k, v) in fresh {
            if let std::collections::hash_map::Entry::Vacant(slot) = self.owners.entry(k) {
                changed.insert(slot.key().namespace.clone());
                slot.insert(v);
            }
        }
        changed
    }

    /// Walks a pod's owner chain over this index.
    pub fn resolve(&self, pod: &PodFacts) -> Resolution {
        steady_budget::resolve(pod, self)
    }

    // ---- budgets ----

    pub fn apply_budget(&mut self, entry: BudgetEntry) -> bool {
        let ns = self.budgets.entry(entry.id.namespace.clone()).or_default();
        match ns.get(&entry.id) {
            Some(old) if **old == entry => false,
            _ => {
                ns.insert(entry.id.clone(), Arc::new(entry));
                true
            }
        }
    }

    pub fn delete_budget(&mut self, id: &BudgetId) -> bool {
        let Some(ns) = self.budgets.get_mut(&id.namespace) else {
            return false;
        };
        let removed = ns.remove(id).is_some();
        if ns.is_empty() {
            self.budgets.remove(&id.namespace);
        }
        removed
    }

    /// Replaces every budget of one kind. Returns the namespaces touched.
    pub fn reset_budgets(
        &mut self,
        kind: BudgetKind,
        entries: Vec<BudgetEntry>,
    ) -> BTreeSet<String> {
        let mut changed = BTreeSet::new();
        let fresh: HashMap<BudgetId, BudgetEntry> =
            entries.into_iter().map(|e| (e.id.clone(), e)).collect();
        for ns in self.budgets.values_mut() {
            ns.retain(|id, e| {
                if id.kind != kind || fresh.get(id).is_some_and(|f| f == &**e) {
                    return true;
                }
                changed.insert(id.namespace.clone());
                false
            });
        }
        self.budgets.retain(|_, ns| !ns.is_empty());
        for (id, e) in fresh {
            let ns = self.budgets.entry(id.namespace.clone()).or_default();
            if let std::collections::btree_map::Entry::Vacant(slot) = ns.entry(id) {
                changed.insert(slot.key().namespace.clone());
                slot.insert(Arc::new(e));
            }
        }
        changed
    }

    /// Whether any budget lives in the namespace: the webhook's fast path.
    pub fn has_budgets(&self, namespace: &str) -> bool {
        self.budgets.contains_key(namespace)
    }

    pub fn budgets_in(&self, namespace: &str) -> Vec<Arc<BudgetEntry>> {
        self.budgets
            .get(namespace)
            .map(|ns| ns.values().cloned().collect())
            .unwrap_or_default()
    }

    pub fn budget(&self, id: &BudgetId) -> Option<Arc<BudgetEntry>> {
        self.budgets
            .get(&id.namespace)
            .and_then(|ns| ns.get(id))
            .cloned()
    }

    pub fn all_budgets(&self) -> Vec<Arc<BudgetEntry>> {
        self.budgets
            .values()
            .flat_map(|ns| ns.values().cloned())
            .collect()
    }

    pub fn budget_namespaces(&self) -> Vec<String> {
        self.budgets.keys().cloned().collect()
    }
}

impl OwnerLookup for Index {
    fn owner(&self, namespace: &str, owner: &OwnerRef) -> Option<OwnerInfo> {
        self.owners.get(&OwnerKey::new(namespace, owner)).cloned()
    }
}
