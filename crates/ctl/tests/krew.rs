//! plugins/steady.yaml, the krew manifest of `kubectl steady`, against the rules krew applies:
//! `ValidatePlugin` and `validatePlatform` of krew's pkg/index/validation, and the platform checks
//! of its cmd/validate-krew-manifest (every platform selects a supported os/arch pair, no pair is
//! selected twice). On top, what makes the manifest ours: the version is the workspace's, the
//! archive is the one plugins/release.sh names, it carries the LICENSE krew-index requires, and
//! the sha256 is a real one (the archive's, when dist/ has it).

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

fn manifest_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins/steady.yaml")
}

fn manifest() -> Value {
    let path = manifest_path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    steady_api::yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

const API_VERSION: &str = "krew.googlecontainertools.github.com/v1alpha2";
/// Names Windows reserves; krew refuses them as plugin names.
const WINDOWS_FORBIDDEN: [&str; 22] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];
/// The os/arch pairs krew's validate-krew-manifest knows.
const PLATFORMS: [(&str, &str); 11] = [
    ("windows", "386"),
    ("windows", "amd64"),
    ("windows", "arm64"),
    ("linux", "386"),
    ("linux", "amd64"),
    ("linux", "arm"),
    ("linux", "arm64"),
    ("linux", "ppc64le"),
    ("darwin", "386"),
    ("darwin", "amd64"),
    ("darwin", "arm64"),
];

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// `^[\w-]+$` and not a reserved Windows name.
fn is_safe_plugin_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
        && !WINDOWS_FORBIDDEN
            .iter()
            .any(|w| w.eq_ignore_ascii_case(name))
}

/// krew's semver.Parse: a leading `v`, then MAJOR.MINOR.PATCH without leading zeros, optional
/// `-pre-release` and `+build` (apimachinery's ParseSemantic).
fn is_semver(v: &str) -> bool {
    let Some(rest) = v.strip_prefix('v') else {
        return false;
    };
    let (core, build) = rest.split_once('+').unwrap_or((rest, ""));
    let (core, pre) = core.split_once('-').unwrap_or((core, ""));
    let number = |s: &str| {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'))
    };
    let ident = |s: &str| {
        !s.is_empty()
            && s.split('.')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    };
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| number(p))
        && (pre.is_empty() || ident(pre))
        && (build.is_empty() || ident(build))
        && !rest.ends_with(['-', '+'])
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// metav1.LabelSelector semantics over the labels {os, arch}.
fn selects(selector: &Value, os: &str, arch: &str) -> bool {
    let label = |k: &str| match k {
        "os" => Some(os),
        "arch" => Some(arch),
        _ => None,
    };
    let labels_ok = selector["matchLabels"]
        .as_object()
        .is_none_or(|m| m.iter().all(|(k, v)| label(k) == v.as_str()));
    let expressions_ok = selector["matchExpressions"].as_array().is_none_or(|exprs| {
        exprs.iter().all(|e| {
            let value = label(str_at(e, "/key"));
            let values: Vec<&str> = e["values"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            match str_at(e, "/operator") {
                "In" => value.is_some_and(|v| values.contains(&v)),
                "NotIn" => value.is_none_or(|v| !values.contains(&v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                _ => false,
            }
        })
    });
    labels_ok && expressions_ok
}

fn validate_selector(selector: &Value) -> Result<(), String> {
    if selector.is_null() {
        return Err("nil selector is not supported".into());
    }
    let labels = selector.get("matchLabels").filter(|v| !v.is_null());
    let exprs = selector.get("matchExpressions").filter(|v| !v.is_null());
    let expr_count = exprs.and_then(Value::as_array).map_or(0, Vec::len);
    if labels.is_none() && expr_count == 0 {
        return Err("empty selector is not supported".into());
    }
    let mut keys: Vec<String> = labels
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    keys.extend(
        exprs
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|e| str_at(e, "/key").to_owned()),
    );
    if let Some(k) = keys.iter().find(|k| *k != "os" && *k != "arch") {
        return Err(format!(
            "selector key {k:?} not supported (only os and arch)"
        ));
    }
    if labels.is_some_and(|l| l.as_object().is_none_or(|m| m.is_empty())) {
        return Err("`matchLabels` specified but empty".into());
    }
    if exprs.is_some() && expr_count == 0 {
        return Err("`matchExpressions` specified but empty".into());
    }
    Ok(())
}

fn validate_platform(p: &Value) -> Result<(), String> {
    if str_at(p, "/uri").is_empty() {
        return Err("`uri` has to be set".into());
    }
    let sha = str_at(p, "/sha256");
    if sha.is_empty() {
        return Err("`sha256` sum has to be set".into());
    }
    if !is_sha256(sha) {
        return Err(format!(
            "`sha256` value {sha} is not valid, must match ^[a-f0-9]{{64}}$"
        ));
    }
    if str_at(p, "/bin").is_empty() {
        return Err("`bin` has to be set".into());
    }
    match p.get("files").filter(|f| !f.is_null()) {
        None => {}
        Some(files) => {
            let files = files.as_array().ok_or("`files` must be a list")?;
            if files.is_empty() {
                return Err("`files` has to be unspecified or non-empty".into());
            }
            for op in files {
                if str_at(op, "/from").is_empty() {
                    return Err("`files`: `from` field has to be set".into());
                }
                if str_at(op, "/to").is_empty() {
                    return Err("`files`: `to` field has to be set".into());
                }
            }
        }
    }
    validate_selector(p.get("selector").unwrap_or(&Value::Null))
        .map_err(|e| format!("invalid platform selector: {e}"))
}

/// krew's ValidatePlugin for a manifest file named `<name>.yaml`, then validate-krew-manifest's
/// platform coverage checks.
fn validate(name: &str, p: &Value) -> Result<(), String> {
    if str_at(p, "/apiVersion") != API_VERSION {
        return Err(format!("apiVersion must be {API_VERSION}"));
    }
    if str_at(p, "/kind") != "Plugin" {
        return Err("kind must be Plugin".into());
    }
    if !is_safe_plugin_name(name) {
        return Err(format!("the plugin name {name:?} is not allowed"));
    }
    if str_at(p, "/metadata/name") != name {
        return Err(format!("plugin should be named {name:?} like its file"));
    }
    if str_at(p, "/spec/shortDescription").is_empty() {
        return Err("should have a short description".into());
    }
    let platforms = p["spec"]["platforms"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if platforms.is_empty() {
        return Err("should have a platform specified".into());
    }
    let version = str_at(p, "/spec/version");
    if version.is_empty() {
        return Err("should have a version specified".into());
    }
    if !is_semver(version) {
        return Err(format!(
            "failed to parse plugin version {version:?} (vMAJOR.MINOR.PATCH)"
        ));
    }
    for (i, pl) in platforms.iter().enumerate() {
        validate_platform(pl)
            .map_err(|e| format!("spec.platforms[{i}] is badly constructed: {e}"))?;
    }
    for (i, pl) in platforms.iter().enumerate() {
        if !PLATFORMS
            .iter()
            .any(|(os, arch)| selects(&pl["selector"], os, arch))
        {
            return Err(format!(
                "spec.platforms[{i}]'s selector matches no supported platform"
            ));
        }
    }
    for (os, arch) in PLATFORMS {
        let matching: Vec<usize> = platforms
            .iter()
            .enumerate()
            .filter(|(_, pl)| selects(&pl["selector"], os, arch))
            .map(|(i, _)| i)
            .collect();
        if matching.len() > 1 {
            return Err(format!(
                "spec.platforms {matching:?} overlap on {os}/{arch}"
            ));
        }
    }
    Ok(())
}

#[test]
fn the_manifest_passes_krews_validation() {
    let path = manifest_path();
    assert_eq!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml"),
        "krew wants .yaml"
    );
    let name = path.file_stem().unwrap().to_str().unwrap();
    validate(name, &manifest()).unwrap_or_else(|e| panic!("plugins/steady.yaml: {e}"));
}

#[test]
fn the_manifest_is_this_version_of_steady() {
    let m = manifest();
    let version = format!("v{}", env!("CARGO_PKG_VERSION"));
    assert_eq!(
        m["spec"]["version"],
        version.as_str(),
        "run plugins/release.sh"
    );
    assert!(
        m["spec"]["homepage"]
            .as_str()
            .is_some_and(|h| h.starts_with("https://"))
    );
    let short = str_at(&m, "/spec/shortDescription");
    // `kubectl krew search` shows it in one column: a few words.
    assert!(
        short.chars().count() <= 50,
        "shortDescription of {} characters",
        short.len()
    );
    assert!(!str_at(&m, "/spec/description").trim().is_empty());
    for p in m["spec"]["platforms"].as_array().unwrap() {
        let os = str_at(p, "/selector/matchLabels/os");
        let arch = str_at(p, "/selector/matchLabels/arch");
        let archive = format!("steady-{version}-{os}-{arch}.tar.gz");
        assert_eq!(
            str_at(p, "/uri"),
            format!("https://github.com/steady-dev/steady/releases/download/{version}/{archive}"),
            "the archive plugins/release.sh builds, under the release tag"
        );
        // kubectl runs the symlink krew makes, kubectl-steady, so the binary starts as the plugin.
        assert_eq!(p["bin"], "steady");
        let from: Vec<&str> = p["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| str_at(f, "/from"))
            .collect();
        assert!(
            from.contains(&"steady") && from.contains(&"LICENSE"),
            "{from:?}"
        );
        let sha = str_at(p, "/sha256");
        assert!(
            sha.bytes().any(|b| b != b'0'),
            "sha256 is a placeholder: run plugins/release.sh"
        );
        // When the archive is here (after plugins/release.sh), the manifest names its sum.
        let local = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../dist")
            .join(&archive);
        if local.is_file() {
            let out = std::process::Command::new("sha256sum")
                .arg(&local)
                .output()
                .unwrap();
            let sum = String::from_utf8_lossy(&out.stdout);
            assert_eq!(
                sum.split_whitespace().next(),
                Some(sha),
                "{} changed since release.sh",
                local.display()
            );
        }
    }
    assert!(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../LICENSE")
            .is_file()
    );
}

/// The validator refuses what krew refuses: each case breaks one rule of a valid manifest.
#[test]
fn the_validator_refuses_what_krew_refuses() {
    let good = manifest();
    assert!(validate("steady", &good).is_ok());
    let cases: Vec<(&str, &str, Value)> = vec![
        (
            "/apiVersion",
            "apiVersion",
            json!("krew.googlecontainertools.github.com/v1alpha1"),
        ),
        ("/kind", "kind", json!("Plugins")),
        ("/metadata/name", "named", json!("other")),
        ("/spec/shortDescription", "short description", json!("")),
        ("/spec/version", "version", json!("0.1.0")),
        ("/spec/version", "version", json!("v0.1")),
        ("/spec/version", "version", json!("v01.1.0")),
        ("/spec/platforms", "platform", json!([])),
        ("/spec/platforms/0/uri", "uri", json!("")),
        ("/spec/platforms/0/sha256", "sha256", json!("")),
        (
            "/spec/platforms/0/sha256",
            "sha256",
            json!("ABCDEF".repeat(10) + "ABCD"),
        ),
        ("/spec/platforms/0/sha256", "sha256", json!("abc")),
        ("/spec/platforms/0/bin", "bin", json!("")),
        ("/spec/platforms/0/files", "files", json!([])),
        ("/spec/platforms/0/files", "from", json!([{ "to": "." }])),
        (
            "/spec/platforms/0/files",
            "to",
            json!([{ "from": "steady" }]),
        ),
        ("/spec/platforms/0/selector", "nil selector", Value::Null),
        ("/spec/platforms/0/selector", "empty selector", json!({})),
        (
            "/spec/platforms/0/selector",
            "not supported",
            json!({ "matchLabels": { "os": "linux", "distro": "debian" } }),
        ),
        (
            "/spec/platforms/0/selector",
            "matchLabels",
            json!({ "matchLabels": {}, "matchExpressions": [{ "key": "os", "operator": "Exists" }] }),
        ),
        (
            "/spec/platforms/0/selector",
            "matches no supported",
            json!({ "matchLabels": { "os": "plan9" } }),
        ),
    ];
    for (pointer, says, value) in cases {
        let mut bad = good.clone();
        *bad.pointer_mut(pointer)
            .unwrap_or_else(|| panic!("{pointer}")) = value.clone();
        let err = validate("steady", &bad).expect_err(&format!("{pointer} = {value} accepted"));
        assert!(err.contains(says), "{pointer} = {value}: {err}");
    }
    assert!(validate("CON", &good).is_err() && validate("a b", &good).is_err());
    // Two platforms that both select linux/amd64.
    let mut overlap = good.clone();
    let first = overlap["spec"]["platforms"][0].clone();
    let mut second = first.clone();
    second["selector"] =
        json!({ "matchExpressions": [{ "key": "os", "operator": "In", "values": ["linux"] }] });
    overlap["spec"]["platforms"] = json!([first, second]);
    assert!(
        validate("steady", &overlap)
            .unwrap_err()
            .contains("overlap")
    );
    // `files` may be left out: krew then extracts everything.
    let mut no_files = good;
    no_files["spec"]["platforms"][0]
        .as_object_mut()
        .unwrap()
        .remove("files");
    assert!(validate("steady", &no_files).is_ok());
}
