//! Bad input tried as an attacker would (issue 13 part 7): each case here crashed, hung, wrote
//! outside the directory, mangled the file or said something untrue before it was fixed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use steady_check::cli::{self, CheckArgs, ColorChoice, FailOn, FixArgs};
use steady_check::fix::{Options, plan};
use steady_check::report::{Format, Report, render};
use steady_check::{Config, check_text, load};

fn deployment(name: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: 3\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n      - name: web\n        image: x\n"
    )
}

fn only(rules: &[&str]) -> Options {
    Options {
        pdb: false,
        only: rules.iter().map(|r| (*r).to_owned()).collect(),
    }
}

fn rules_of(text: &str) -> Vec<&'static str> {
    let (loaded, findings) = check_text("t.yaml", text, &Config::default());
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    findings.iter().map(|f| f.rule).collect()
}

fn fix_args(paths: Vec<PathBuf>) -> FixArgs {
    FixArgs {
        paths,
        diff: false,
        pdb: false,
        rule: Vec::new(),
        config: None,
        no_config: true,
        max_input_size: load::DEFAULT_MAX_INPUT,
    }
}

fn check_args(paths: Vec<PathBuf>) -> CheckArgs {
    CheckArgs {
        paths,
        output: Format::Json,
        fail_on: FailOn::Never,
        cluster: false,
        namespace: None,
        all_namespaces: false,
        config: None,
        no_config: true,
        disable: Vec::new(),
        color: ColorChoice::Never,
        max_input_size: load::DEFAULT_MAX_INPUT,
    }
}

/// Every file under `dir` with its content, to compare a directory before and after.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_owned()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn fix_on_a_file_with_a_byte_order_mark_edits_the_right_bytes() {
    // Two documents: the edit positions used to be off by the BOM's three bytes, which panicked
    // at the end of the file or broke the second document.
    let text = format!(
        "\u{feff}{}---\n{}",
        deployment("a"),
        deployment("b").replace("app: web", "app: b")
    );
    let p = plan(
        "bom.yaml",
        &text,
        &Config::default(),
        &only(&["spread-missing"]),
    );
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    assert!(p.text.starts_with('\u{feff}'));
    assert_eq!(p.applied.len(), 2, "{:?}", p.applied);
    assert!(!rules_of(&p.text).contains(&"spread-missing"));
    assert_eq!(p.text.matches("topologySpreadConstraints:").count(), 2);
}

#[test]
fn fix_refuses_names_the_api_server_refuses_and_check_reports_them() {
    for name in [
        "../../escaped",
        "/tmp/steady-escaped",
        "\"a\\nkind: Secret\"",
    ] {
        let text = deployment(name);
        let (loaded, findings) = check_text("n.yaml", &text, &Config::default());
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        let f = findings
            .iter()
            .find(|f| f.rule == "name-invalid")
            .unwrap_or_else(|| panic!("{name}: no name-invalid finding"));
        assert!(f.message.contains("DNS-1123"), "{}", f.message);
        let p = plan(
            "n.yaml",
            &text,
            &Config::default(),
            &only(&["budget-missing"]),
        );
        assert!(p.new_files.is_empty(), "{name}: {:?}", p.new_files);
        assert!(p.applied.is_empty(), "{name}: {:?}", p.applied);
        assert_eq!(p.errors.len(), 1, "{:?}", p.errors);
        assert!(
            p.errors[0].message.contains("metadata.name"),
            "{}",
            p.errors[0]
        );
    }

    // Through the command: nothing is written anywhere but the directory.
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("a/b");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("app.yaml"), deployment("../../escaped")).unwrap();
    let before = snapshot(root.path());
    assert_eq!(
        cli::fix(fix_args(vec![dir.clone()])).unwrap(),
        ExitCode::from(2)
    );
    assert!(!root.path().join("escaped-pub.yaml").exists());
    let after = snapshot(root.path());
    let new: Vec<_> = after
        .iter()
        .filter(|(p, _)| !before.iter().any(|(q, _)| q == p))
        .map(|(p, _)| p)
        .collect();
    assert!(new.is_empty(), "wrote {new:?}");
}

#[test]
fn fix_twice_changes_nothing_the_second_time() {
    let dir = tempfile::tempdir().unwrap();
    let original = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/check/broken/app.yaml"
    ))
    .unwrap();
    std::fs::write(dir.path().join("app.yaml"), &original).unwrap();
    assert_eq!(
        cli::fix(fix_args(vec![dir.path().to_owned()])).unwrap(),
        ExitCode::SUCCESS
    );
    let first = snapshot(dir.path());
    assert!(first.len() > 1, "the first run writes budget files");
    // The budgets written beside the manifest cover their workloads on the second run.
    assert_eq!(
        cli::fix(fix_args(vec![dir.path().to_owned()])).unwrap(),
        ExitCode::SUCCESS
    );
    assert_eq!(snapshot(dir.path()), first);
    let texts: Vec<(String, String)> = first
        .iter()
        .map(|(p, b)| {
            (
                p.display().to_string(),
                String::from_utf8(b.clone()).unwrap(),
            )
        })
        .collect();
    let pairs: Vec<(&str, &str)> = texts
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    for p in steady_check::fix::plan_all(&pairs, &Config::default(), &Options::default()) {
        assert!(p.applied.is_empty(), "{:?}", p.applied);
        assert!(p.new_files.is_empty(), "{:?}", p.new_files);
    }
}

#[test]
fn fix_refuses_to_edit_yaml_shared_through_an_anchor() {
    let text = "\
apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: a}
  spec:
    replicas: 3
    selector: {matchLabels: {app: a}}
    template:
      metadata: {labels: {app: a}}
      spec: &pod
        containers:
        - name: web
          image: x
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: b}
  spec:
    replicas: 3
    selector: {matchLabels: {app: b}}
    template:
      metadata: {labels: {app: b}}
      spec: *pod
";
    let p = plan(
        "alias.yaml",
        text,
        &Config::default(),
        &only(&["spread-missing", "prestop-missing"]),
    );
    assert_eq!(p.text, text, "the shared pod spec was edited");
    assert!(p.applied.is_empty(), "{:?}", p.applied);
    assert!(!p.errors.is_empty());
    for e in &p.errors {
        assert!(e.message.contains("anchor"), "{e}");
        // The first line of the shared pod spec (`containers:`, under `spec: &pod`).
        assert!(e.message.contains("line 13"), "{e}");
        assert!(e.message.starts_with("Deployment/"), "{e}");
    }
}

#[test]
fn fix_keeps_crlf_line_endings() {
    let text = format!("{}---\n{}", deployment("a"), deployment("b")).replace('\n', "\r\n");
    let p = plan(
        "crlf.yaml",
        &text,
        &Config::default(),
        &only(&["spread-missing", "prestop-missing"]),
    );
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    assert_ne!(p.text, text);
    let lf_only = p
        .text
        .match_indices('\n')
        .filter(|(i, _)| !p.text[..*i].ends_with('\r'))
        .count();
    assert_eq!(lf_only, 0, "LF-only lines in:\n{}", p.text);
    assert!(!rules_of(&p.text).contains(&"spread-missing"));

    // And a CRLF file without a final line break.
    let text = deployment("a").trim_end().replace('\n', "\r\n");
    let p = plan(
        "crlf.yaml",
        &text,
        &Config::default(),
        &only(&["spread-missing"]),
    );
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    assert!(!p.text.replace("\r\n", "").contains('\n'), "{:?}", p.text);
}

#[cfg(unix)]
#[test]
fn a_fifo_in_a_directory_is_not_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.yaml"), deployment("a")).unwrap();
    let fifo = dir.path().join("b.yaml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let mut errors = Vec::new();
    let inputs = load::expand(&[dir.path().to_owned()], &mut errors);
    assert!(errors.is_empty(), "{errors:?}");
    // Reading the FIFO would block forever: it must not be among the inputs.
    let files: Vec<_> = inputs
        .iter()
        .map(|i| match i {
            load::Input::File(p) => p.clone(),
            load::Input::Stdin => PathBuf::from("-"),
        })
        .collect();
    assert_eq!(files, [dir.path().join("a.yaml")]);
    // Named on the command line it is still an input.
    let inputs = load::expand(std::slice::from_ref(&fifo), &mut errors);
    assert_eq!(inputs.len(), 1);
}

#[test]
fn one_input_is_capped() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.yaml");
    std::fs::write(&big, deployment("a").repeat(100)).unwrap();
    let e = load::read_input(&load::Input::File(big.clone()), 1024).unwrap_err();
    assert!(e.message.contains("larger than 1 KiB"), "{}", e.message);
    assert!(e.message.contains("--max-input-size"), "{}", e.message);
    assert!(load::read_input(&load::Input::File(big.clone()), 1 << 20).is_ok());
    let mut a = check_args(vec![big]);
    a.max_input_size = 1024;
    assert_eq!(cli::check(a).unwrap(), ExitCode::from(2));
    // An endless device ends at the cap instead of filling memory.
    if Path::new("/dev/zero").exists() {
        let e = load::read_input(&load::Input::File("/dev/zero".into()), 1 << 20).unwrap_err();
        assert!(e.message.contains("larger than 1 MiB"), "{}", e.message);
    }
    assert_eq!(cli::parse_size("256MiB"), Ok(256 << 20));
    assert_eq!(cli::parse_size("2GiB"), Ok(2 << 30));
    assert_eq!(cli::parse_size("1000"), Ok(1000));
    assert!(
        cli::parse_size("2GB")
            .unwrap_err()
            .contains("KiB, MiB or GiB")
    );
    assert!(cli::parse_size("0").is_err());
    assert!(cli::parse_size("99999999999999GiB").is_err());
}

fn errors_of(file: &str, text: &str) -> Vec<(usize, String)> {
    let (loaded, _) = check_text(file, text, &Config::default());
    loaded
        .errors
        .iter()
        .map(|e| (e.line, e.message.clone()))
        .collect()
}

#[test]
fn schema_errors_name_the_field_and_its_line() {
    let text = deployment("web").replace("replicas: 3", "replicas: \"abc\"");
    let errors = errors_of("s.yaml", &text);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, 6, "{errors:?}");
    assert!(errors[0].1.contains("at spec.replicas"), "{errors:?}");
    assert!(errors[0].1.contains("string"), "{errors:?}");

    let text = deployment("web").replace("replicas: 3", "replicas: 123456789012345678901234567890");
    let errors = errors_of("s.yaml", &text);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, 6, "{errors:?}");
    assert!(errors[0].1.contains("out of range"), "{errors:?}");
    assert!(!errors[0].1.contains("string"), "{errors:?}");

    // A field in the pod spec (decoded on its own) and in a List item: the path from the object.
    let text = deployment("web").replace("image: x", "image: x\n        ports: {a: b}");
    let errors = errors_of("s.yaml", &text);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, 18, "{errors:?}");
    assert!(
        errors[0]
            .1
            .contains("at spec.template.spec.containers[0].ports"),
        "{errors:?}"
    );
}

#[test]
fn workloads_the_api_server_rejects_are_reported_as_invalid() {
    let cases = [
        ("replicas: 3", "replicas: -1", "negative"),
        (
            "    matchLabels:\n      app: web",
            "    matchExpressions:\n    - {key: app, operator: Likes, values: [web]}",
            "Likes",
        ),
        (
            "    matchLabels:\n      app: web",
            "    matchExpressions:\n    - {key: app, operator: In, values: []}",
            "needs at least one value",
        ),
        (
            "    matchLabels:\n      app: web",
            "    matchExpressions:\n    - {key: app, operator: Exists, values: [web]}",
            "must not list values",
        ),
        (
            "    matchLabels:\n      app: web",
            "    matchLabels:\n      app: web\n    matchExpressions:\n    - {key: '', operator: Exists}",
            "empty key",
        ),
        (
            "  selector:\n    matchLabels:\n      app: web",
            "  selector: {}",
            "empty",
        ),
    ];
    for (from, to, why) in cases {
        let text = deployment("web").replace(from, to);
        assert_ne!(text, deployment("web"), "{from}");
        let (loaded, findings) = check_text("w.yaml", &text, &Config::default());
        assert!(loaded.errors.is_empty(), "{to}: {:?}", loaded.errors);
        let f = findings
            .iter()
            .find(|f| f.rule == "workload-invalid")
            .unwrap_or_else(|| panic!("{to}: not reported as invalid"));
        assert!(f.message.contains(why), "{to}: {}", f.message);
    }
    assert!(!rules_of(&deployment("web")).contains(&"workload-invalid"));
}

#[test]
fn duplicate_keys_are_errors_naming_both_lines() {
    let text = deployment("web").replace("  replicas: 3\n", "  replicas: 3\n  replicas: 1\n");
    let errors = errors_of("d.yaml", &text);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, 7);
    assert!(errors[0].1.contains("lines 6 and 7"), "{errors:?}");
    // The same in a document the fast path leaves to the full parser (an anchor), and in flow
    // style.
    let text = deployment("web").replace("  replicas: 3\n", "  replicas: &r 3\n  replicas: 1\n");
    let errors = errors_of("d.yaml", &text);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].1.contains("lines 6 and 7"), "{errors:?}");
    let text = deployment("web").replace("name: web\nspec", "{name: web, name: api}\nspec");
    let text = text.replace("metadata:\n  {", "metadata: {");
    let errors = errors_of("d.yaml", &text);
    assert_eq!(errors.len(), 1, "{text}\n{errors:?}");
    assert!(errors[0].1.contains("duplicate key \"name\""), "{errors:?}");
}

#[test]
fn invalid_utf8_gives_the_byte_offset_and_broken_json_is_called_json() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    let mut bytes = b"apiVersion: v1\nkind: Service\nmetadata:\n  name: ".to_vec();
    let offset = bytes.len();
    bytes.extend_from_slice(&[0xff, 0xfe, b'\n']);
    std::fs::write(&bad, &bytes).unwrap();
    let e = load::read_input(&load::Input::File(bad), 1 << 20).unwrap_err();
    assert_eq!(e.line, 4);
    assert!(
        e.message.contains(&format!("byte offset {offset}")),
        "{}",
        e.message
    );

    // A trailing comma (YAML's flow style takes it, JSON and kubectl do not) and a missing brace.
    let json = "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"Service\",\n  \"metadata\": {\"name\": \"a\",}\n}\n";
    let unclosed = "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"Service\",\n  \"metadata\": {\"name\": \"a\"\n";
    for (text, line) in [(json, 4), (unclosed, 5)] {
        for file in ["s.json", "s.yaml"] {
            let errors = errors_of(file, text);
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert!(errors[0].1.starts_with("malformed JSON"), "{errors:?}");
            assert!(!errors[0].1.contains("YAML"), "{errors:?}");
            assert_eq!(errors[0].0, line, "{errors:?}");
        }
    }
    // YAML in flow style is still YAML when the stream has more documents.
    let flow = "{apiVersion: v1, kind: Service, metadata: {name: a}}\n---\nkind: ConfigMap\n";
    assert!(errors_of("f.yaml", flow).is_empty());
}

#[test]
fn human_output_escapes_control_characters_from_manifests() {
    let text = deployment("\"web\\e]0;owned\\a\\e[2J\"");
    let (loaded, findings) = check_text("c.yaml", &text, &Config::default());
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    assert!(loaded.objects[0].name.contains('\x1b'));
    let out = render(
        Format::Human,
        &Report {
            objects: &loaded.objects,
            findings: &findings,
            input_errors: &loaded.errors,
            files: 1,
        },
        false,
    );
    assert!(!out.contains('\x1b') && !out.contains('\x07'), "{out:?}");
    assert!(out.contains("web\\u{1b}]0;owned\\u{7}"), "{out}");
    // With colour, the only escapes are steady's own colour codes.
    let coloured = render(
        Format::Human,
        &Report {
            objects: &loaded.objects,
            findings: &findings,
            input_errors: &loaded.errors,
            files: 1,
        },
        true,
    );
    assert!(!coloured.contains("\x1b]") && !coloured.contains('\x07'));
    assert!(!coloured.contains("\x1b[2J"));
}
