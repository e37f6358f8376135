//! The container image: images/build.sh builds it from the root Containerfile around the binary
//! this test suite already built (dynamic, so the script must bring exactly its libraries), and
//! podman runs it the way the guard's Deployment does: uid 65532, read-only root filesystem and
//! nothing writable at all, no capabilities. Needs buildah, podman and runc (.ci/run installs them).
//!
//! runc, and explicit rlimits: on machines like CI's (cgroups v1 with a cgroup2 hierarchy beside
//! it, no CAP_SYS_RESOURCE) crun refuses "cgroups in hybrid mode", and podman's default rlimits
//! (nofile 1048576) are above the hard limits, which only CAP_SYS_RESOURCE could raise.

use std::path::Path;
use std::process::{Command, Output};

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// Runs a command under coreutils `timeout`, so a stuck podman fails the test instead of hanging it.
fn run(program: &str, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let out = Command::new("timeout")
        .arg("300")
        .arg(program)
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

struct Image(String);

impl Drop for Image {
    fn drop(&mut self) {
        let _ = Command::new("podman").args(["rmi", "-f", &self.0]).output();
        let _ = Command::new("buildah")
            .args(["rmi", "-f", &self.0])
            .output();
    }
}

#[test]
fn the_image_runs_steady_as_uid_65532_with_nothing_writable() {
    for tool in ["buildah", "podman", "runc"] {
        assert!(
            have(tool),
            "{tool} not found: `apt-get install buildah podman runc` (.ci/run does)"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("image.tar");
    let image = Image(format!(
        "localhost/steady-image-test:{}",
        std::process::id()
    ));
    let out = run(
        "images/build.sh",
        &[],
        &[
            ("STEADY_BIN", env!("CARGO_BIN_EXE_steady")),
            ("STEADY_IMAGE", &image.0),
            ("OUT", archive.to_str().unwrap()),
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        archive.to_str().unwrap()
    );
    // The archive, not buildah's store, is what a node gets: load it the way a user would.
    let _ = Command::new("buildah")
        .args(["rmi", "-f", &image.0])
        .output();
    run("podman", &["load", "-i", archive.to_str().unwrap()], &[]);

    let config = run(
        "podman",
        &[
            "image",
            "inspect",
            "--format",
            "{{.Config.User}} {{json .Config.Entrypoint}}",
            &image.0,
        ],
        &[],
    );
    assert_eq!(
        String::from_utf8_lossy(&config.stdout).trim(),
        r#"65532:65532 ["steady"]"#
    );

    let version = run(
        "podman",
        &[
            "run",
            "--rm",
            "--runtime=runc",
            "--ulimit=nofile=1024:1024",
            "--ulimit=nproc=1024:1024",
            "--network=none",
            "--read-only",
            "--read-only-tmpfs=false",
            "--cap-drop=ALL",
            "--security-opt=no-new-privileges",
            &image.0,
            "--version",
        ],
        &[],
    );
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        concat!("steady ", env!("CARGO_PKG_VERSION"))
    );
    // Nothing in the image but the binary and the libraries ldd names: no shell to exec.
    let shell = Command::new("podman")
        .args(["run", "--rm", "--runtime=runc", "--ulimit=nofile=1024:1024"])
        .args([
            "--ulimit=nproc=1024:1024",
            "--network=none",
            "--entrypoint=/bin/sh",
        ])
        .arg(&image.0)
        .output()
        .unwrap();
    assert!(!shell.status.success(), "the image has a /bin/sh");
}
