//! docs/metrics.md and deploy/grafana-dashboard.json against the code: the guard's and the proxy's
//! metric registries are built (the proxy's read from its own /metrics endpoint) and every metric
//! they register must be in the docs table, every row of the table must still exist, and every
//! PromQL expression of the dashboard must name only metrics that exist.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

fn repo_file(rel: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// `# TYPE name kind` lines of a Prometheus/OpenMetrics text exposition.
fn families(exposition: &str) -> BTreeMap<String, String> {
    exposition
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?.to_owned(), it.next()?.to_owned()))
        })
        .collect()
}

/// The series names Prometheus stores for each family, with the family's type.
fn series(families: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (name, kind) in families {
        let names: Vec<String> = match kind.as_str() {
            "counter" => vec![format!("{name}_total")],
            "histogram" => ["_bucket", "_sum", "_count"]
                .iter()
                .map(|s| format!("{name}{s}"))
                .collect(),
            _ => vec![name.clone()],
        };
        for n in names {
            out.insert(n, kind.clone());
        }
    }
    out
}

/// prometheus-client writes a labelled family only once it has a child, so every family gets one.
fn guard_exposition() -> String {
    use steady_guard::metrics::{DecisionLabels, Metrics, WriterLabels};
    let m = Metrics::new();
    m.decisions
        .get_or_create(&DecisionLabels {
            operation: "Evict",
            result: "denied",
            reason: "InsufficientPods",
        })
        .inc();
    m.budget_seen(&steady_budget::BudgetId::pub_("shop", "web"), 1);
    let writer = WriterLabels { writer: "webhook" };
    m.write_conflicts.get_or_create(&writer).inc();
    m.status_writes.get_or_create(&writer).inc();
    m.status_write_failed(&steady_budget::BudgetId::pub_("shop", "web"), "Forbidden");
    m.request_duration.observe(0.001);
    m.error("watch");
    m.encode()
}

/// The names each crate's metrics module registers, read from its source, so a family the test
/// does not exercise still shows up as missing rather than slipping through.
fn registered_in_source() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (file, prefix) in [
        ("crates/guard/src/metrics.rs", ""),
        ("crates/proxy/src/metrics.rs", "steady_proxy_"),
    ] {
        let src = repo_file(file);
        for chunk in src.split(".register(").skip(1) {
            let name = chunk
                .split('"')
                .nth(1)
                .unwrap_or_else(|| panic!("{file}: a register( call without a literal name"));
            names.insert(format!("{prefix}{name}"));
        }
    }
    names
}

async fn proxy_exposition() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: steady_proxy::Args,
    }
    // Nothing listens on the upstream port: /metrics answers regardless.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream = closed.local_addr().unwrap().to_string();
    drop(closed);
    let args = <Cli as clap::Parser>::try_parse_from([
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
        "--upstream",
        &upstream,
        "--max-requests-per-connection",
        "1",
    ])
    .expect("valid proxy options")
    .args;
    let proxy = steady_proxy::Proxy::bind(args).expect("proxy binds");
    let (front, admin) = (proxy.local_addr().unwrap(), proxy.admin_addr().unwrap());
    let task = tokio::spawn(proxy.serve());
    // One request to the dead application: a 502 (requests, upstream_errors) on a connection that
    // is recycled after one request (recycled_connections).
    let mut s = tokio::net::TcpStream::connect(front).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        s.read_to_end(&mut reply),
    )
    .await;
    let mut body = String::new();
    for _ in 0..50 {
        if let Ok(mut s) = tokio::net::TcpStream::connect(admin).await {
            s.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
                .await
                .unwrap();
            s.read_to_string(&mut body).await.unwrap();
            if body.contains("# TYPE") {
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    task.abort();
    assert!(
        body.contains("# TYPE steady_proxy_"),
        "the proxy's /metrics answered: {body}"
    );
    body
}

/// Every metric of both parts, as series names with their types.
async fn exposed() -> BTreeMap<String, String> {
    let mut fams = families(&guard_exposition());
    fams.extend(families(&proxy_exposition().await));
    let unseen: Vec<_> = registered_in_source()
        .into_iter()
        .filter(|n| !fams.contains_key(n))
        .collect();
    assert!(
        unseen.is_empty(),
        "registered in code but not in the encoded registries (give the family a child in this test): {unseen:?}"
    );
    series(&fams)
}

/// `| `name` | type | …` rows of docs/metrics.md.
fn documented() -> BTreeMap<String, String> {
    repo_file("docs/metrics.md")
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| {
            let (name, rest) = l.split_once('`')?;
            let kind = rest.trim_start_matches([' ', '|']).split(' ').next()?;
            Some((name.to_owned(), kind.to_owned()))
        })
        .filter(|(name, _)| name.starts_with("steady_"))
        .collect()
}

#[tokio::test]
async fn every_metric_is_documented_and_every_documented_metric_exists() {
    let code = exposed().await;
    let docs = documented();
    let missing: Vec<_> = code.keys().filter(|k| !docs.contains_key(*k)).collect();
    assert!(
        missing.is_empty(),
        "metrics registered in code but not in docs/metrics.md: {missing:?}"
    );
    let stale: Vec<_> = docs.keys().filter(|k| !code.contains_key(*k)).collect();
    assert!(
        stale.is_empty(),
        "docs/metrics.md lists metrics the code no longer has: {stale:?}"
    );
    for (name, kind) in &code {
        assert_eq!(&docs[name], kind, "type of {name} in docs/metrics.md");
    }
}

/// Identifiers in a PromQL expression that name steady's metrics.
fn metric_names(expr: &str) -> BTreeSet<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|t| t.starts_with("steady_"))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn the_dashboard_is_valid_and_queries_only_existing_metrics() {
    let code = exposed().await;
    let text = repo_file("deploy/grafana-dashboard.json");
    let dash: serde_json::Value =
        serde_json::from_str(&text).expect("deploy/grafana-dashboard.json is JSON");
    let schema = dash["schemaVersion"].as_i64().expect("schemaVersion");
    assert!((36..=41).contains(&schema), "schemaVersion {schema}");
    assert!(dash["title"].is_string() && dash["uid"].is_string());
    let vars = dash["templating"]["list"].as_array().expect("templating");
    assert!(
        vars.iter().any(|v| v["type"] == "datasource"
            && v["query"] == "prometheus"
            && v["name"] == "datasource"),
        "a Prometheus data source variable named datasource"
    );

    let mut used = BTreeSet::new();
    let mut check = |what: &str, expr: &str| {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "{what}: names no steady metric: {expr}");
        for n in &names {
            assert!(
                code.contains_key(n),
                "{what}: {n} is not a metric of the guard or the proxy: {expr}"
            );
        }
        used.extend(names);
    };
    for v in vars.iter().filter(|v| v["type"] == "query") {
        let q = v["query"]["query"]
            .as_str()
            .or(v["query"].as_str())
            .unwrap();
        check(&format!("variable {}", v["name"]), q);
    }
    let mut ids = BTreeSet::new();
    let panels = dash["panels"].as_array().expect("panels");
    for p in panels {
        assert!(
            ids.insert(p["id"].as_i64().expect("panel id")),
            "unique ids"
        );
        let grid = &p["gridPos"];
        assert!(grid["w"].as_i64().unwrap() + grid["x"].as_i64().unwrap() <= 24);
        if p["type"] == "row" {
            continue;
        }
        let title = p["title"].as_str().expect("panel title");
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{title}");
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title} has a query");
        for t in targets {
            check(title, t["expr"].as_str().expect("expr"));
        }
    }
    // The panels the issue asks for.
    for needed in [
        "steady_guard_decisions_total",
        "steady_budget_unavailable_allowed",
        "steady_guard_status_write_conflicts_total",
        "steady_guard_request_duration_seconds_bucket",
        "steady_proxy_requests_total",
        "steady_proxy_upstream_errors_total",
        "steady_proxy_active_connections",
        "steady_proxy_drain_state",
    ] {
        assert!(used.contains(needed), "the dashboard shows {needed}");
    }
}

#[test]
fn structured_logs_are_documented() {
    let ops = repo_file("docs/operations.md");
    for needle in ["--log-format json", "STEADY_LOG_FORMAT", "STEADY_LOG"] {
        assert!(ops.contains(needle), "docs/operations.md mentions {needle}");
    }
}
