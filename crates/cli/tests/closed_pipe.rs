//! `steady crd | head -1` and friends: a reader that goes away early must end the command
//! quietly, never with a panic in `println!`.

use std::io::Read as _;
use std::process::{Command, Stdio};

fn run_with_closed_stdout(args: &[&str]) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_steady"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start steady");
    // Close the read end before the command writes anything.
    drop(child.stdout.take());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr is piped")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    (child.wait().expect("wait for steady"), stderr)
}

#[test]
fn one_shot_commands_end_quietly_when_the_reader_is_gone() {
    for args in [
        &["crd"][..],
        &["install", "--print"],
        &["rules"],
        &["sim", "examples/scenarios/rollout-drain.yaml", "--compare"],
    ] {
        let (status, stderr) = run_with_closed_stdout(args);
        assert!(
            !stderr.contains("panicked"),
            "steady {args:?} panicked on a closed stdout: {stderr}"
        );
        assert_ne!(status.code(), Some(101), "steady {args:?}: {stderr}");
    }
}
