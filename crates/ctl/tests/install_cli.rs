//! `steady install` / `steady uninstall` command lines turned into options.

use clap::Parser;
use steady_ctl::install::{
    CertMode, FailurePolicy, InstallArgs, InstallOptions, LogFormat, NamespaceSelection,
    OptionsError, UninstallArgs,
};

#[derive(Parser)]
struct Install {
    #[command(flatten)]
    args: InstallArgs,
}

#[derive(Parser)]
struct Uninstall {
    #[command(flatten)]
    args: UninstallArgs,
}

fn install(argv: &[&str]) -> InstallArgs {
    Install::try_parse_from(std::iter::once("install").chain(argv.iter().copied()))
        .unwrap_or_else(|e| panic!("{argv:?}: {e}"))
        .args
}

#[test]
fn no_flags_means_the_default_install() {
    let a = install(&[]);
    assert!(!a.print);
    assert_eq!(a.options().unwrap(), InstallOptions::default());
}

#[test]
fn every_flag_reaches_its_option() {
    let a = install(&[
        "--print",
        "-n",
        "guard",
        "--image",
        "r.example/steady:1",
        "--replicas",
        "3",
        "--cert-mode",
        "cert-manager",
        "--failure-policy",
        "ignore",
        "--opt-in",
        "--pdb-mode",
        "--guard-log-format",
        "text",
        "--cpu-request",
        "50m",
        "--memory-request",
        "64Mi",
        "--cpu-limit",
        "1",
        "--memory-limit",
        "1Gi",
        "--service-monitor",
        "--name",
        "g",
    ]);
    assert!(a.print);
    let o = a.options().unwrap();
    assert_eq!(o.namespace, "guard");
    assert_eq!(o.name, "g");
    assert_eq!(o.image, "r.example/steady:1");
    assert_eq!(o.replicas, 3);
    assert_eq!(o.cert_mode, CertMode::CertManager);
    assert_eq!(o.failure_policy, FailurePolicy::Ignore);
    assert_eq!(o.namespace_selection, NamespaceSelection::opt_in());
    assert!(o.pdb_mode && o.service_monitor);
    assert_eq!(o.log_format, LogFormat::Text);
    assert_eq!(o.resources.cpu_request, "50m");
    assert_eq!(o.resources.memory_request, "64Mi");
    assert_eq!(o.resources.cpu_limit.as_deref(), Some("1"));
    assert_eq!(o.resources.memory_limit.as_deref(), Some("1Gi"));
}

#[test]
fn opt_in_label() {
    let o = install(&["--opt-in-label", "team.example/guarded=yes"])
        .options()
        .unwrap();
    assert_eq!(
        o.namespace_selection,
        NamespaceSelection::OptIn {
            key: "team.example/guarded".into(),
            value: "yes".into()
        }
    );
    let err = install(&["--opt-in-label", "no-equals-sign"])
        .options()
        .unwrap_err();
    assert_eq!(err, OptionsError::Label("no-equals-sign".into()));
    assert!(err.to_string().contains("KEY=VALUE"), "{err}");
}

#[test]
fn bad_values_are_refused_by_the_parser_or_the_options() {
    assert!(Install::try_parse_from(["install", "--cert-mode", "vault"]).is_err());
    assert!(Install::try_parse_from(["install", "--replicas", "two"]).is_err());
    let err = install(&["--replicas", "0"]).options().unwrap_err();
    assert_eq!(err, OptionsError::Replicas(0));
}

#[test]
fn uninstall_flags() {
    let a = Uninstall::try_parse_from(["uninstall"]).unwrap().args;
    assert_eq!(
        (a.namespace.as_str(), a.name.as_str(), a.delete_crd),
        ("steady-system", "steady-guard", false)
    );
    let a = Uninstall::try_parse_from(["uninstall", "-n", "x", "--delete-crd"])
        .unwrap()
        .args;
    assert_eq!((a.namespace.as_str(), a.delete_crd), ("x", true));
}
