//! The command layer: exit codes, directory walking, config files, opt-out annotations, and the
//! cross-object semantics (namespaces, matchExpressions) seen from the outside.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use steady_check::cli::{self, CheckArgs, ColorChoice, ExplainArgs, FailOn, FixArgs};
use steady_check::report::Format;
use steady_check::{Config, check_text, load};

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

fn args(paths: Vec<PathBuf>) -> CheckArgs {
    CheckArgs {
        paths,
        output: Format::Json,
        fail_on: FailOn::Error,
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

#[test]
fn exit_codes() {
    let broken = repo("examples/check/broken");
    let fixed = repo("examples/check/fixed");
    assert_eq!(
        cli::check(args(vec![broken.clone()])).unwrap(),
        ExitCode::from(1)
    );
    assert_eq!(
        cli::check(args(vec![fixed.clone()])).unwrap(),
        ExitCode::SUCCESS
    );
    let mut never = args(vec![broken.clone()]);
    never.fail_on = FailOn::Never;
    assert_eq!(cli::check(never).unwrap(), ExitCode::SUCCESS);
    // The fixed example has no finding at any severity.
    let mut info = args(vec![fixed]);
    info.fail_on = FailOn::Info;
    assert_eq!(cli::check(info).unwrap(), ExitCode::SUCCESS);
    // Input errors: a malformed document, a missing path, no path at all, a bad rule id.
    let mixed = repo("crates/check/tests/fixtures/input/mixed.yaml");
    assert_eq!(cli::check(args(vec![mixed])).unwrap(), ExitCode::from(2));
    assert_eq!(
        cli::check(args(vec![PathBuf::from("/nonexistent/steady")])).unwrap(),
        ExitCode::from(2)
    );
    assert_eq!(cli::check(args(vec![])).unwrap(), ExitCode::from(2));
    let mut bad = args(vec![broken]);
    bad.disable = vec!["no-such-rule".into()];
    assert_eq!(cli::check(bad).unwrap(), ExitCode::from(2));
    assert_eq!(
        cli::explain(ExplainArgs { id: "nope".into() }).unwrap(),
        ExitCode::from(2)
    );
    assert_eq!(
        cli::explain(ExplainArgs {
            id: "prestop-exceeds-grace".into()
        })
        .unwrap(),
        ExitCode::SUCCESS
    );
}

#[test]
fn directories_are_walked_for_yaml_yml_and_json_only() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("a/b");
    std::fs::create_dir_all(&nested).unwrap();
    let svc = |name: &str| {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  selector:\n    app: x\n"
        )
    };
    std::fs::write(dir.path().join("one.yaml"), svc("one")).unwrap();
    std::fs::write(nested.join("two.yml"), svc("two")).unwrap();
    std::fs::write(
        nested.join("three.json"),
        "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"Service\",\n  \"metadata\": {\"name\": \"three\"},\n  \"spec\": {\"selector\": {\"app\": \"x\"}}\n}\n",
    )
    .unwrap();
    std::fs::write(nested.join("notes.txt"), svc("four")).unwrap();
    let mut errors = Vec::new();
    let inputs = load::expand(&[dir.path().to_owned()], &mut errors);
    assert!(errors.is_empty());
    let loaded = load::load(&inputs, "default", load::DEFAULT_MAX_INPUT, &|_| {});
    let mut names: Vec<_> = loaded.objects.iter().map(|o| o.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["one", "three", "two"]);
    assert_eq!(loaded.files, 3);
    let three = loaded.objects.iter().find(|o| o.name == "three").unwrap();
    assert_eq!(three.source.line, 1);
}

#[test]
fn many_files_load_in_parallel_in_input_order() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..40 {
        std::fs::write(
            dir.path().join(format!("f{i:02}.yaml")),
            format!("apiVersion: v1\nkind: Service\nmetadata:\n  name: s{i:02}\n"),
        )
        .unwrap();
    }
    let mut errors = Vec::new();
    let inputs = load::expand(&[dir.path().to_owned()], &mut errors);
    let loaded = load::load(&inputs, "default", load::DEFAULT_MAX_INPUT, &|_| {});
    let names: Vec<_> = loaded.objects.iter().map(|o| o.name.clone()).collect();
    let want: Vec<_> = (0..40).map(|i| format!("s{i:02}")).collect();
    assert_eq!(names, want);
}

#[test]
fn config_file_disables_rules_changes_severity_and_is_found_upward() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("deep/er");
    std::fs::create_dir_all(&sub).unwrap();
    let path = dir.path().join(".steady.yaml");
    std::fs::write(
        &path,
        "rules:\n  disable: [spread-missing]\n  severity:\n    prestop-missing: error\nthresholds:\n  shutdownMarginSeconds: 0\n",
    )
    .unwrap();
    assert_eq!(Config::find(&sub), Some(path.clone()));
    let cfg = Config::load(&path).unwrap();
    let text = std::fs::read_to_string(repo("examples/check/broken/app.yaml")).unwrap();
    let (_, findings) = check_text("app.yaml", &text, &cfg);
    assert!(!findings.iter().any(|f| f.rule == "spread-missing"));
    let p = findings
        .iter()
        .find(|f| f.rule == "prestop-missing")
        .unwrap();
    assert_eq!(p.severity, steady_check::Severity::Error);
    // With a zero margin, a 30 s preStop fits the default 30 s grace period.
    assert!(!findings.iter().any(|f| f.rule == "prestop-exceeds-grace"));
    let (_, default) = check_text("app.yaml", &text, &Config::default());
    assert!(default.iter().any(|f| f.rule == "prestop-exceeds-grace"));

    std::fs::write(&path, "rules:\n  disable: [no-such-rule]\n").unwrap();
    assert!(
        Config::load(&path)
            .unwrap_err()
            .to_string()
            .contains("no-such-rule")
    );
    std::fs::write(&path, "rulez: {}\n").unwrap();
    assert!(Config::load(&path).is_err());
}

/// A config error names the file, the field, the line and the column.
#[test]
fn config_errors_say_where() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".steady.yaml");
    let error = |text: &str| {
        std::fs::write(&path, text).unwrap();
        Config::load(&path).unwrap_err().to_string()
    };
    let e = error("rules:\n  disable: [spread-missing]\nthresholds:\n  minReplica: 2\n");
    assert!(
        e.contains(".steady.yaml is not a valid steady config"),
        "{e}"
    );
    assert!(
        e.contains("thresholds: unknown field `minReplica`") && e.contains("at line 4 column 3"),
        "{e}"
    );
    let e = error("thresholds:\n  minReplicas: two\n");
    assert!(
        e.contains(
            "thresholds.minReplicas: invalid value \"two\", expected i32 at line 2 column 16"
        ),
        "{e}"
    );
    let e = error("rules:\n  severity:\n    requests-missing: fatal\n");
    assert!(
        e.contains("rules.severity.requests-missing: unknown variant `fatal`"),
        "{e}"
    );
}

/// A key given twice is refused by name rather than one of the two silently winning.
#[test]
fn config_with_a_duplicate_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".steady.yaml");
    std::fs::write(
        &path,
        "rules:\n  disable: [spread-missing]\nrules:\n  disable: []\n",
    )
    .unwrap();
    let e = Config::load(&path).unwrap_err().to_string();
    assert!(e.contains("duplicate") && e.contains("`rules`"), "{e}");
    assert!(e.contains("line 3"), "{e}");
}

/// Nine levels of nine-fold aliases (387 million strings if expanded) fail at once.
#[test]
fn config_alias_bomb_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".steady.yaml");
    let mut text = String::from("rules:\n  disable:\n    - &l0 [x, x, x, x, x, x, x, x, x]\n");
    for i in 1..9 {
        let refs = vec![format!("*l{}", i - 1); 9].join(", ");
        text.push_str(&format!("    - &l{i} [{refs}]\n"));
    }
    std::fs::write(&path, text).unwrap();
    let start = std::time::Instant::now();
    let e = Config::load(&path).unwrap_err().to_string();
    assert!(e.contains("rules.disable[0]"), "{e}");
    assert!(start.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn ignore_annotation_on_object_or_template() {
    let text = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: a
  annotations:
    steady.dev/ignore: replicas-single, progress-deadline-unset
spec:
  selector: {matchLabels: {app: a}}
  template:
    metadata:
      labels: {app: a}
      annotations:
        steady.dev/ignore: requests-missing
    spec:
      containers: [{name: a, image: x}]
";
    let (_, findings) = check_text("a.yaml", text, &Config::default());
    let rules: Vec<_> = findings.iter().map(|f| f.rule).collect();
    for gone in [
        "replicas-single",
        "progress-deadline-unset",
        "requests-missing",
    ] {
        assert!(!rules.contains(&gone), "{gone} in {rules:?}");
    }
    assert!(rules.contains(&"priority-class-missing"), "{rules:?}");
    let (_, all) = check_text(
        "a.yaml",
        &text.replace("steady.dev/ignore", "x"),
        &Config::default(),
    );
    assert!(all.iter().any(|f| f.rule == "replicas-single"));
}

#[test]
fn namespaces_and_match_expressions_are_respected() {
    let dep = |ns: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: {ns}}}\nspec:\n  replicas: 3\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web, track: stable}}}}\n    spec: {{containers: [{{name: web, image: x}}]}}\n"
        )
    };
    let pdb = "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: web, namespace: a}\nspec:\n  maxUnavailable: 1\n  selector:\n    matchExpressions:\n    - {key: app, operator: In, values: [web, api]}\n    - {key: track, operator: NotIn, values: [canary]}\n";
    let text = format!("{}---\n{}---\n{pdb}", dep("a"), dep("b"));
    let (loaded, findings) = check_text("ns.yaml", &text, &Config::default());
    let missing: Vec<_> = findings
        .iter()
        .filter(|f| f.rule == "budget-missing")
        .map(|f| loaded.objects[f.object].namespace.as_str())
        .collect();
    assert_eq!(missing, ["b"], "the budget in a covers only a");
    // A NotIn that excludes the pods makes the budget select nothing.
    let text = text.replace("values: [canary]", "values: [stable]");
    let (_, findings) = check_text("ns.yaml", &text, &Config::default());
    assert!(findings.iter().any(|f| f.rule == "budget-selects-nothing"));
}

#[test]
fn fix_diff_leaves_files_alone_and_fix_writes_them() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.yaml");
    let original = std::fs::read_to_string(repo("examples/check/broken/app.yaml")).unwrap();
    std::fs::write(&file, &original).unwrap();
    let fix = |diff: bool| FixArgs {
        paths: vec![file.clone()],
        diff,
        pdb: false,
        rule: Vec::new(),
        config: None,
        no_config: true,
        max_input_size: load::DEFAULT_MAX_INPUT,
    };
    assert_eq!(cli::fix(fix(true)).unwrap(), ExitCode::SUCCESS);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), original);
    assert!(!dir.path().join("api-pub.yaml").exists());
    assert_eq!(cli::fix(fix(false)).unwrap(), ExitCode::SUCCESS);
    let fixed = std::fs::read_to_string(&file).unwrap();
    assert_ne!(fixed, original);
    assert!(dir.path().join("api-pub.yaml").exists());
    let mut a = args(vec![dir.path().to_owned()]);
    a.fail_on = FailOn::Never;
    let (loaded, findings) = {
        let mut errors = Vec::new();
        let inputs = load::expand(&a.paths, &mut errors);
        let l = load::load(&inputs, "default", load::DEFAULT_MAX_INPUT, &|_| {});
        let f = steady_check::rules::run(&l.objects, &Config::default());
        (l, f)
    };
    assert!(loaded.errors.is_empty());
    for gone in [
        "prestop-missing",
        "prestop-exceeds-grace",
        "spread-missing",
        "budget-missing",
    ] {
        assert!(!findings.iter().any(|f| f.rule == gone), "{gone} after fix");
    }
}

#[test]
fn autoscaling_v1_hpa_is_read_and_judged_with_its_target() {
    let text = "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: x
        resources: {requests: {memory: 64Mi}}
---
apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 2
  maxReplicas: 4
  targetCPUUtilizationPercentage: 60
";
    let (loaded, findings) = check_text("v1.yaml", text, &Config::default());
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let rules: Vec<_> = findings.iter().map(|f| f.rule).collect();
    assert!(
        rules.contains(&"hpa-utilization-without-requests"),
        "{rules:?}"
    );
    // HPA-aware: minReplicas 2 satisfies the replica rules although spec.replicas is unset.
    assert!(!rules.contains(&"replicas-single"), "{rules:?}");
    assert!(!rules.contains(&"hpa-min-replicas-single"), "{rules:?}");
    assert!(rules.contains(&"budget-missing"), "{rules:?}");
}
