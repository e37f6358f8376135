//! `steady completion SHELL`: a script for each shell that knows the real subcommands and flags,
//! and a clear error for a shell it does not write.

use std::process::{Command, Output};

fn steady(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_steady"))
        .args(args)
        .output()
        .expect("start steady")
}

#[test]
fn each_shell_gets_a_script_naming_the_subcommands() {
    for shell in ["bash", "zsh", "fish"] {
        let out = steady(&["completion", shell]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "steady completion {shell}: {stderr}");
        let script = String::from_utf8(out.stdout).expect("UTF-8 script");
        assert!(
            script.len() > 1000,
            "{shell}: script of {} bytes",
            script.len()
        );
        for word in [
            "proxy",
            "serve",
            "check",
            "install",
            "completion",
            "--cert-mode",
        ] {
            assert!(
                script.contains(word),
                "{shell} script never mentions {word}"
            );
        }
    }
    // Each script is in its own shell's language.
    assert!(
        String::from_utf8_lossy(&steady(&["completion", "bash"]).stdout).contains("complete -F")
    );
    assert!(
        String::from_utf8_lossy(&steady(&["completion", "zsh"]).stdout)
            .starts_with("#compdef steady")
    );
    assert!(
        String::from_utf8_lossy(&steady(&["completion", "fish"]).stdout)
            .contains("complete -c steady")
    );
}

#[test]
fn an_unknown_shell_is_refused_with_the_ones_there_are() {
    let out = steady(&["completion", "tcsh"]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("'tcsh'"), "{stderr}");
    for shell in ["bash", "zsh", "fish"] {
        assert!(stderr.contains(shell), "the error lists {shell}: {stderr}");
    }
}
