//! Defect 9 of issue 15: the defaults leave the application its usual port, and a port that is
//! taken is reported with the option to change.

use std::time::Duration;

use clap::Parser;
use steady_proxy::Args;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: Args,
}

fn parse(argv: &[&str]) -> Args {
    let mut all = vec!["proxy"];
    all.extend_from_slice(argv);
    Cli::try_parse_from(all).expect("valid options").args
}

#[test]
fn default_ports_leave_the_application_its_usual_port() {
    let a = parse(&[]);
    assert_eq!(a.upstream.port(), 8080, "the application keeps port 8080");
    for taken in [a.listen.port(), a.admin_listen.port()] {
        assert!(
            taken != 8080 && taken != 8081 && taken != a.upstream.port(),
            "the proxy takes {taken}, an application's usual port"
        );
    }
    assert!(a.node_ip.is_empty());
    let a = parse(&["--node-ip", "10.0.0.7,fd00::7"]);
    assert_eq!(a.node_ip.len(), 2);
}

/// Binding a port another process holds fails at start and names the option that chose it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_port_names_the_flag_to_change() {
    // A plain listener (no SO_REUSEPORT), as an application would hold it.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").to_string();
    for (flag, env) in [
        ("--listen", "STEADY_PROXY_LISTEN"),
        ("--admin-listen", "STEADY_PROXY_ADMIN_LISTEN"),
    ] {
        let other = if flag == "--listen" {
            "--admin-listen"
        } else {
            "--listen"
        };
        let args = parse(&[
            flag,
            &port,
            other,
            "127.0.0.1:0",
            "--upstream",
            "127.0.0.1:9",
        ]);
        let ran = tokio::time::timeout(Duration::from_secs(10), steady_proxy::run(args))
            .await
            .expect("fails at once, does not serve");
        let err = ran.expect_err("the port is taken").to_string();
        assert!(
            err.contains(flag) && err.contains(env) && err.contains(&port),
            "{err}"
        );
    }
}
