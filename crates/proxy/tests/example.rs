//! examples/proxy/deployment.yaml, read as written, agrees with the proxy: every STEADY_PROXY_*
//! variable is an option with a valid value, the ports, paths and the preStop hook match what the
//! proxy serves and accepts, and the grace period covers the drain.

use std::collections::BTreeMap;
use std::time::Duration;

use clap::Parser;
use serde_json::Value;
use steady_proxy::Args;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: Args,
}

fn documents() -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/proxy/deployment.yaml"
    );
    let text = std::fs::read_to_string(path).expect("the example exists");
    serde_saphyr::from_str_multiple(&text).expect("YAML")
}

fn kind<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"].as_str() == Some(kind))
        .unwrap_or_else(|| panic!("no {kind} in the example"))
}

fn named<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array()
        .and_then(|s| s.iter().find(|c| c["name"].as_str() == Some(name)))
        .unwrap_or_else(|| panic!("no entry named {name}"))
}

fn port(container: &Value, name: &str) -> u16 {
    let p = named(&container["ports"], name)["containerPort"]
        .as_u64()
        .expect("containerPort");
    u16::try_from(p).expect("port")
}

#[test]
fn the_example_manifest_matches_the_proxy() {
    let docs = documents();
    let pod = &kind(&docs, "Deployment")["spec"]["template"]["spec"];
    let sidecar = named(&pod["initContainers"], "steady-proxy");
    assert_eq!(
        sidecar["restartPolicy"].as_str(),
        Some("Always"),
        "a native sidecar"
    );
    assert_eq!(sidecar["args"][0].as_str(), Some("proxy"));

    // Every variable as the option it stands for; the node's address comes from the downward API.
    let mut argv = vec!["proxy".to_owned()];
    let mut from_fields = BTreeMap::new();
    for var in sidecar["env"].as_array().expect("env") {
        let name = var["name"].as_str().expect("name");
        let flag = name
            .strip_prefix("STEADY_PROXY_")
            .unwrap_or_else(|| panic!("{name} is not a proxy variable"))
            .to_ascii_lowercase()
            .replace('_', "-");
        let value = match var["value"].as_str() {
            Some(v) => v.to_owned(),
            None => {
                let field = var["valueFrom"]["fieldRef"]["fieldPath"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{name}: neither value nor fieldRef"));
                from_fields.insert(name.to_owned(), field.to_owned());
                "10.0.0.7".to_owned()
            }
        };
        argv.push(format!("--{flag}"));
        argv.push(value);
    }
    let args = Cli::try_parse_from(&argv)
        .unwrap_or_else(|e| panic!("the example's variables are not valid options: {e}"))
        .args;
    assert_eq!(
        from_fields.get("STEADY_PROXY_NODE_IP").map(String::as_str),
        Some("status.hostIP"),
        "the node's address comes from the downward API"
    );

    assert_eq!(port(sidecar, "http"), args.listen.port());
    let admin = port(sidecar, "admin");
    assert_eq!(admin, args.admin_listen.port());
    assert_eq!(
        sidecar["readinessProbe"]["httpGet"]["path"].as_str(),
        Some("/ready")
    );
    assert_eq!(
        sidecar["livenessProbe"]["httpGet"]["path"].as_str(),
        Some("/live")
    );

    // The application listens where the proxy forwards, and its preStop drains the proxy the way
    // the admin listener accepts from the kubelet: GET /drain with the header.
    let app = named(&pod["containers"], "app");
    let listen = format!("-listen={}", args.upstream);
    assert!(
        app["args"]
            .as_array()
            .expect("args")
            .iter()
            .any(|a| a.as_str() == Some(&listen)),
        "the application listens on {}",
        args.upstream
    );
    let hook = &app["lifecycle"]["preStop"]["httpGet"];
    assert_eq!(hook["path"].as_str(), Some("/drain"));
    assert_eq!(hook["port"].as_u64(), Some(u64::from(admin)));
    let header = named(&hook["httpHeaders"], "X-Steady-Drain");
    assert_eq!(header["value"].as_str(), Some("1"));

    // The Service reaches the proxy, not the application.
    let service = kind(&docs, "Service");
    assert_eq!(
        service["spec"]["ports"][0]["targetPort"].as_str(),
        Some("http")
    );

    // SIGKILL never cuts the drain: delay + deadline + a margin for the application's own exit.
    let grace = Duration::from_secs(
        pod["terminationGracePeriodSeconds"]
            .as_u64()
            .expect("terminationGracePeriodSeconds"),
    );
    let needed = args.drain_delay + args.drain_deadline + Duration::from_secs(5);
    assert!(grace >= needed, "grace {grace:?} < {needed:?}");
}
