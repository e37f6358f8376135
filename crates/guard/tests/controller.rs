//! The controller's recompute against the API double: writes only when the status changed, picks
//! up pods created after the budget, stops writing without the Lease, survives conflicts.

mod support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use steady_budget::{OwnerInfo, OwnerRef};
use steady_guard::controller::{Backoffs, Controller};
use steady_guard::index::OwnerKey;
use steady_guard::watches::Dirty;
use steady_guard::writer::Writer;
use steady_testkit::eventually;
use support::*;
use tokio::sync::watch;

const NS: &str = "shop";

fn owned_pod(name: &str) -> Value {
    let mut p = mk_pod(NS, name, "web");
    p["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1", "uid": "u", "controller": true}]);
    p
}

async fn setup(leader: bool) -> (ApiDouble, Instance, Controller, watch::Sender<bool>) {
    let double = ApiDouble::start().await;
    let mut b = mk_budget(NS, "web", "web", 1, 0, 0, 0);
    b["status"] = json!({});
    double.put_object(&pub_path(NS, "web"), b);
    let g = instance(
        &double,
        &[(NS, "web")],
        &[owned_pod("web-a"), owned_pod("web-b")],
        false,
    )
    .await;
    {
        let mut idx = g.index.write();
        idx.apply_owner(
            OwnerKey::new(NS, &OwnerRef::new("apps/v1", "Deployment", "web")),
            OwnerInfo {
                controller: None,
                replicas: Some(3),
                min_ready_seconds: None,
            },
        );
        idx.apply_owner(
            OwnerKey::new(NS, &OwnerRef::new("apps/v1", "ReplicaSet", "web-1")),
            OwnerInfo {
                controller: Some(OwnerRef::new("apps/v1", "Deployment", "web")),
                replicas: Some(3),
                min_ready_seconds: None,
            },
        );
    }
    let (tx, rx) = watch::channel(leader);
    let c = Controller {
        index: g.index.clone(),
        writer: Writer::new(double.client()),
        events: Some(steady_guard::events::Events::new(double.client(), None)),
        metrics: g.metrics.clone(),
        dirty: Arc::new(Dirty::default()),
        leader: rx,
        expiry: jiff::SignedDuration::from_secs(120),
        resync: Duration::from_secs(3600),
        backoff: Backoffs::default(),
        ready: None,
    };
    (double, g, c, tx)
}

#[tokio::test]
async fn recompute_writes_only_changes_and_follows_new_pods() {
    let (double, g, c, _tx) = setup(true).await;
    let pass = c.recompute(NS).await;
    assert_eq!(pass.written, 1, "{pass:?}");
    let st = double.object(&pub_path(NS, "web")).unwrap()["status"].clone();
    assert_eq!(
        (
            st["totalReplicas"].clone(),
            st["desiredAvailable"].clone(),
            st["currentAvailable"].clone(),
            st["unavailableAllowed"].clone()
        ),
        (json!(3), json!(2), json!(2), json!(0))
    );
    assert_eq!(st["observedGeneration"], 1);
    assert_eq!(st["conditions"][0]["reason"], "InsufficientPods");
    // Nothing changed: no write.
    let pass = c.recompute(NS).await;
    assert_eq!((pass.written, pass.unchanged), (0, 1));
    assert_eq!(double.puts(), 1);
    // A pod created after the budget: one unit allowed.
    g.index.write().apply_pod(pod_facts(&owned_pod("web-c")));
    assert_eq!(c.recompute(NS).await.written, 1);
    let st = double.object(&pub_path(NS, "web")).unwrap()["status"].clone();
    assert_eq!(
        (
            st["currentAvailable"].clone(),
            st["unavailableAllowed"].clone()
        ),
        (json!(3), json!(1))
    );
    assert_eq!(st["conditions"][0]["reason"], "SufficientPods");
}

#[tokio::test]
async fn a_missing_owner_is_sync_failed_with_an_event() {
    let (double, g, c, _tx) = setup(true).await;
    g.index.write().delete_owner(&OwnerKey::new(
        NS,
        &OwnerRef::new("apps/v1", "Deployment", "web"),
    ));
    // The ReplicaSet still names the Deployment as its controller; it is gone from the cache.
    assert_eq!(c.recompute(NS).await.written, 1);
    let st = double.object(&pub_path(NS, "web")).unwrap()["status"].clone();
    assert_eq!(st["unavailableAllowed"], 0);
    assert_eq!(st["conditions"][0]["reason"], "SyncFailed");
    for _ in 0..100 {
        if !double.events().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(double.events()[0]["reason"], "SyncFailed");
}

#[tokio::test]
async fn no_lease_no_write_and_conflicts_are_reread() {
    let (double, g, c, tx) = setup(false).await;
    assert_eq!(c.recompute(NS).await.written, 0);
    assert_eq!(double.puts(), 0, "a replica without the Lease never writes");
    tx.send(true).unwrap();
    // Someone else wrote since the index saw the budget: conflict, re-read, then success.
    let mut b = double.object(&pub_path(NS, "web")).unwrap();
    b["status"] = json!({"observedGeneration": 1});
    double.put_object(&pub_path(NS, "web"), b);
    let pass = c.recompute(NS).await;
    assert_eq!(pass.conflicts, 1, "{pass:?}");
    let pass = c.recompute(NS).await;
    assert_eq!(pass.written, 1, "{pass:?}");
    assert!(
        g.metrics
            .encode()
            .contains(r#"steady_guard_status_write_conflicts_total{writer="controller"} 1"#)
    );
}

#[tokio::test]
async fn an_unusable_spec_is_reported_on_the_status_once() {
    let (double, g, c, _tx) = setup(true).await;
    // An object stored before the schema refused such values.
    let mut stored = double.object(&pub_path(NS, "web")).unwrap();
    stored["spec"] = json!({"selector": {"matchLabels": {"app": "web"}}, "minAvailable": "150%"});
    double.put_object(&pub_path(NS, "web"), stored);
    // Indexed as the watch would deliver it, with the resourceVersion the double gave it.
    let budget: steady_api::PodUnavailableBudget =
        serde_json::from_value(double.object(&pub_path(NS, "web")).unwrap()).unwrap();
    g.index
        .write()
        .apply_budget(steady_guard::index::entry_from_pub(&budget));
    assert_eq!(c.recompute(NS).await.written, 1);
    let st = double.object(&pub_path(NS, "web")).unwrap()["status"].clone();
    assert_eq!(st["unavailableAllowed"], 0);
    assert_eq!(st["conditions"][0]["reason"], "SyncFailed");
    let message = st["conditions"][0]["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("150%") && message.contains("fix the spec"),
        "{message}"
    );
    // Written once: the same failure is not rewritten on every pass.
    let pass = c.recompute(NS).await;
    assert_eq!((pass.written, pass.unchanged), (0, 1), "{pass:?}");
}

/// Defect 2 of issue 12: a status write refused for good (RBAC for the status removed) was retried
/// every 50 ms, forever. Now each budget backs off exponentially (100 ms doubling here, capped at
/// 1.6 s), says why in a metric and a Warning Event, and recovers as soon as writes pass again.
#[tokio::test]
async fn a_refused_status_write_backs_off_and_recovers() {
    use std::sync::atomic::Ordering;
    let (double, g, mut c, _tx) = setup(true).await;
    c.backoff = Backoffs::new(Duration::from_millis(100), Duration::from_millis(1600));
    double.refuse_status_writes.store(403, Ordering::SeqCst);
    let dirty = c.dirty.clone();
    let (stop, stopped) = watch::channel(false);
    dirty.mark([NS.to_owned()]);
    let started = std::time::Instant::now();
    let task = tokio::spawn(c.run(stopped));
    tokio::time::sleep(Duration::from_secs(4)).await;
    // Pod changes keep marking the namespace: they must not bypass the backoff.
    for _ in 0..20 {
        dirty.mark([NS.to_owned()]);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let attempts = double.status_puts();
    let elapsed = started.elapsed();
    // Delays of at least 0.1, 0.2, 0.4, 0.8, 1.6, 1.6 s: at most 6 attempts in the first 4.2 s
    // (every 50 ms before: 80). A loaded machine only makes fewer.
    let bound = 1 + (elapsed.as_secs_f64() / 0.1).log2().ceil() as usize;
    assert!(
        (2..=bound).contains(&attempts),
        "{attempts} status writes in {elapsed:?} (at most {bound})"
    );
    assert_eq!(double.puts(), 0);
    let metrics = g.metrics.encode();
    let series = format!(
        r#"steady_guard_status_write_errors_total{{namespace="{NS}",budget="web",reason="Forbidden"}} {attempts}"#
    );
    assert!(metrics.contains(&series), "{series} not in {metrics}");
    let warnings: Vec<_> = double
        .events()
        .into_iter()
        .filter(|e| e["reason"] == "StatusWriteFailed")
        .collect();
    assert!(!warnings.is_empty(), "{:?}", double.events());
    let note = warnings[0]["note"].as_str().unwrap();
    assert_eq!(warnings[0]["type"], "Warning");
    assert_eq!(warnings[0]["regarding"]["name"], "web");
    assert!(
        note.contains(&format!("PodUnavailableBudget {NS}/web"))
            && note.contains("Forbidden")
            && note.contains("podunavailablebudgets/status"),
        "{note}"
    );
    // Writes pass again: the status is written at the next retry (at most 3.2 s away).
    double.refuse_status_writes.store(0, Ordering::SeqCst);
    eventually("the status written after recovery", 20, || {
        let n = double.puts();
        async move {
            if n == 1 {
                Ok(())
            } else {
                Err(format!("{n} writes"))
            }
        }
    })
    .await;
    // And the backoff is reset: nothing more to write, nothing more attempted.
    let after = double.status_puts();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(double.status_puts(), after);
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the controller stops")
        .unwrap();
}

/// The controller computes nothing from caches that have not synced: a partial view of the pods
/// would drop the entries of pods it has not seen yet.
#[tokio::test]
async fn nothing_is_computed_before_the_caches_sync() {
    let (double, _g, mut c, _tx) = setup(true).await;
    let ready = steady_guard::admin::Readiness::default();
    ready.register("pods");
    c.ready = Some(ready.clone());
    c.resync = Duration::from_millis(200);
    let dirty = c.dirty.clone();
    let (stop, stopped) = watch::channel(false);
    dirty.mark([NS.to_owned()]);
    let task = tokio::spawn(c.run(stopped));
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(double.status_puts(), 0, "no write before the caches synced");
    ready.synced("pods");
    eventually("the status written once synced", 10, || {
        let n = double.puts();
        async move {
            if n == 1 {
                Ok(())
            } else {
                Err(format!("{n} writes"))
            }
        }
    })
    .await;
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the controller stops")
        .unwrap();
}
