//! `steady check|fix|rules|explain`: arguments and the glue between loaders, rules, reports and
//! the fixer. Exit codes: 0 no finding at or above `--fail-on`, 1 findings, 2 usage or input
//! errors (input errors win: the result is incomplete).

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::config::{Config, ConfigError};
use crate::load::{self, InputError};
use crate::report::{self, Format, Report};
use crate::rules::{self, Severity};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    Error,
    Warning,
    Info,
    Never,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Files or directories (recursive; .yaml, .yml, .json) to check; `-` reads standard input.
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Human)]
    pub output: Format,
    /// Exit 1 when a finding has at least this severity.
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    pub fail_on: FailOn,
    /// Read the workloads, Services, HPAs and budgets of the current kubeconfig context.
    #[arg(long)]
    pub cluster: bool,
    /// Namespace for --cluster (default: the context's), and for manifests that name none.
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// With --cluster: every namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Config file (default: the first .steady.yaml upward from the working directory).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Ignore any .steady.yaml.
    #[arg(long, conflicts_with = "config")]
    pub no_config: bool,
    /// Skip these rules (repeatable, or comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub disable: Vec<String>,
    /// Colour in human output.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// The most one input (a file or standard input) may hold, e.g. 512MiB or 2GiB.
    #[arg(long, value_name = "SIZE", default_value = "256MiB", value_parser = parse_size)]
    pub max_input_size: u64,
}

#[derive(Debug, clap::Args)]
pub struct FixArgs {
    /// Files or directories to fix in place.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Print a unified diff instead of writing the files.
    #[arg(long)]
    pub diff: bool,
    /// Write PodDisruptionBudgets instead of PodUnavailableBudgets for budget-missing.
    #[arg(long)]
    pub pdb: bool,
    /// Only apply the fixes of these rules (repeatable, or comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub rule: Vec<String>,
    /// Config file (default: the first .steady.yaml upward from the working directory).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Ignore any .steady.yaml.
    #[arg(long, conflicts_with = "config")]
    pub no_config: bool,
    /// The most one file may hold, e.g. 512MiB or 2GiB.
    #[arg(long, value_name = "SIZE", default_value = "256MiB", value_parser = parse_size)]
    pub max_input_size: u64,
}

/// `--max-input-size`: bytes, or a number with KiB, MiB or GiB.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {s:?}: give bytes or a number with KiB, MiB or GiB (e.g. 512MiB)"
            ));
        }
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .filter(|&n| n > 0)
        .ok_or_else(|| {
            format!(
                "{s:?} is not a size: give bytes or a number with KiB, MiB or GiB (e.g. 512MiB)"
            )
        })
}

#[derive(Debug, clap::Args)]
pub struct RulesArgs {
    /// Print the rules as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// A rule id, as `steady rules` lists them.
    pub id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("writing the output: {0}")]
    Output(#[from] std::io::Error),
}

const USAGE_ERROR: u8 = 2;

fn load_config(path: Option<&PathBuf>, none: bool) -> Result<Config, ConfigError> {
    if none {
        return Ok(Config::default());
    }
    let found = match path {
        Some(p) => Some(p.clone()),
        None => std::env::current_dir().ok().and_then(|d| Config::find(&d)),
    };
    match found {
        Some(p) => Config::load(&p),
        None => Ok(Config::default()),
    }
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(USAGE_ERROR)
}

/// A progress line on stderr, only on a terminal and only for long runs.
struct Progress {
    total: usize,
    done: AtomicUsize,
    shown: AtomicUsize,
    enabled: bool,
    what: &'static str,
}

impl Progress {
    /// `long`: show it whatever the total (a cluster scan waits on the network).
    fn new(total: usize, what: &'static str, long: bool) -> Self {
        Self {
            total,
            done: AtomicUsize::new(0),
            shown: AtomicUsize::new(0),
            enabled: (long || total >= 200) && std::io::stderr().is_terminal(),
            what,
        }
    }
    fn tick(&self, n: usize) {
        if !self.enabled {
            return;
        }
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        let pct = done * 100 / self.total.max(1);
        if self.shown.fetch_max(pct, Ordering::Relaxed) < pct {
            let width = 30;
            let filled = width * pct / 100;
            eprint!(
                "\r[{}{}] {pct:>3}% {done}/{} {}",
                "#".repeat(filled),
                " ".repeat(width - filled),
                self.total,
                self.what
            );
        }
    }
    fn finish(&self) {
        if self.enabled {
            eprint!("\r{}\r", " ".repeat(60));
        }
    }
}

/// Reads a live cluster into objects, for `--cluster`: `(namespace, all namespaces, progress)`.
/// The caller that has a kube client (`steady-ctl`) provides it; the checker talks to no cluster.
pub type ReadCluster<'a> = dyn Fn(
        Option<&str>,
        bool,
        &(dyn Fn(usize) + Sync),
    ) -> Result<Vec<crate::model::Object>, Box<dyn std::error::Error + Send + Sync>>
    + 'a;

/// `steady check` on files and standard input only: `--cluster` is refused.
pub fn check(args: CheckArgs) -> Result<ExitCode, Error> {
    check_in(args, None)
}

/// `steady check`, reading `--cluster` with `read_cluster`.
pub fn check_with_cluster(
    args: CheckArgs,
    read_cluster: &ReadCluster<'_>,
) -> Result<ExitCode, Error> {
    check_in(args, Some(read_cluster))
}

fn check_in(args: CheckArgs, read_cluster: Option<&ReadCluster<'_>>) -> Result<ExitCode, Error> {
    let mut cfg = match load_config(args.config.as_ref(), args.no_config) {
        Ok(c) => c,
        Err(e) => return Ok(usage(&e.to_string())),
    };
    for id in &args.disable {
        if rules::find(id).is_none() {
            return Ok(usage(&format!(
                "unknown rule id {id:?} in --disable (see `steady rules`)"
            )));
        }
        cfg.rules.disable.push(id.clone());
    }
    if args.paths.is_empty() && !args.cluster {
        return Ok(usage(
            "give files or directories to check, `-` for standard input, or --cluster",
        ));
    }
    // STEADY_TIMING=1 prints the time of each phase on stderr (for the benchmark).
    let timing = std::env::var_os("STEADY_TIMING").is_some();
    let t0 = std::time::Instant::now();
    let mut errors: Vec<InputError> = Vec::new();
    let mut objects = Vec::new();
    let mut files = 0;
    if !args.paths.is_empty() {
        let inputs = load::expand(&args.paths, &mut errors);
        let progress = Progress::new(inputs.len(), "files", false);
        let ns = args.namespace.as_deref().unwrap_or("default");
        let loaded = load::load(&inputs, ns, args.max_input_size, &|n| progress.tick(n));
        progress.finish();
        objects.extend(loaded.objects);
        errors.extend(loaded.errors);
        files += loaded.files;
    }
    if args.cluster {
        let Some(read_cluster) = read_cluster else {
            return Ok(usage(
                "--cluster is read by the steady binary (steady-ctl); this build checks files only",
            ));
        };
        let progress = Progress::new(9, "resource kinds", true);
        match read_cluster(args.namespace.as_deref(), args.all_namespaces, &|n| {
            progress.tick(n)
        }) {
            Ok(objs) => objects.extend(objs),
            Err(e) => {
                progress.finish();
                eprintln!("error: {e}");
                return Ok(ExitCode::from(USAGE_ERROR));
            }
        }
        progress.finish();
    }
    let t_load = t0.elapsed();
    let findings = rules::run(&objects, &cfg);
    let t_rules = t0.elapsed();
    let report = Report {
        objects: &objects,
        findings: &findings,
        input_errors: &errors,
        files,
    };
    let color = match args.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
        }
    };
    let mut stdout = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let written = report::write(args.output, &report, color, &mut stdout);
    if let Err(e) = written.and_then(|()| stdout.flush()) {
        // A closed pipe (`| head`) is not an error of the check.
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(e.into());
        }
    }
    if timing {
        eprintln!(
            "timing: load {:.3}s, rules {:.3}s, output {:.3}s; {} objects, {} findings",
            t_load.as_secs_f64(),
            (t_rules - t_load).as_secs_f64(),
            (t0.elapsed() - t_rules).as_secs_f64(),
            objects.len(),
            findings.len()
        );
    }
    let code = exit_code(&findings, &errors, args.fail_on);
    // The process exits right after this: freeing 100,000 objects one allocation at a time
    // would only add about 5% to the run.
    std::mem::forget(objects);
    std::mem::forget(findings);
    Ok(code)
}

/// 2 when some input could not be read, else 1 when a finding reaches `fail_on`, else 0.
pub fn exit_code(findings: &[rules::Finding], errors: &[InputError], fail_on: FailOn) -> ExitCode {
    if !errors.is_empty() {
        return ExitCode::from(USAGE_ERROR);
    }
    let threshold = match fail_on {
        FailOn::Error => Some(Severity::Error),
        FailOn::Warning => Some(Severity::Warning),
        FailOn::Info => Some(Severity::Info),
        FailOn::Never => None,
    };
    match threshold {
        Some(t) if findings.iter().any(|f| f.severity >= t) => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    }
}

pub fn fix(args: FixArgs) -> Result<ExitCode, Error> {
    let cfg = match load_config(args.config.as_ref(), args.no_config) {
        Ok(c) => c,
        Err(e) => return Ok(usage(&e.to_string())),
    };
    for id in &args.rule {
        match rules::find(id) {
            Some(r) if r.fix.is_some() => {}
            Some(_) => return Ok(usage(&format!("rule {id:?} has no automatic fix"))),
            None => {
                return Ok(usage(&format!(
                    "unknown rule id {id:?} (see `steady rules`)"
                )));
            }
        }
    }
    let opts = crate::fix::Options {
        pdb: args.pdb,
        only: args.rule.clone(),
    };
    let mut errors = Vec::new();
    let inputs = load::expand(&args.paths, &mut errors);
    // Every file is read before any is planned: the rules judge the whole input together.
    let mut files: Vec<(PathBuf, String, String)> = Vec::new();
    for input in &inputs {
        let load::Input::File(path) = input else {
            errors.push(InputError {
                file: "-".into(),
                line: 0,
                message: "steady fix rewrites files; standard input cannot be fixed".into(),
            });
            continue;
        };
        let name = path.display().to_string();
        match load::read_input(input, args.max_input_size) {
            Ok(text) => files.push((path.clone(), name, text)),
            Err(e) => errors.push(InputError {
                file: name,
                line: e.line,
                message: e.message,
            }),
        }
    }
    let texts: Vec<(&str, &str)> = files
        .iter()
        .map(|(_, name, text)| (name.as_str(), text.as_str()))
        .collect();
    let plans = crate::fix::plan_all(&texts, &cfg, &opts);
    let mut stdout = std::io::stdout().lock();
    let mut changed = 0;
    // New files of this run, so two workloads of one name in one directory are not both written
    // to one file.
    let mut new_paths = std::collections::HashSet::new();
    for ((path, name, text), plan) in files.iter().zip(plans) {
        errors.extend(plan.errors.iter().cloned());
        let mut outputs: Vec<(PathBuf, String, String)> = Vec::new();
        if plan.text != *text {
            outputs.push((path.clone(), text.clone(), plan.text.clone()));
        }
        for (file_name, content) in &plan.new_files {
            let p = path.with_file_name(file_name);
            let old = std::fs::read_to_string(&p).unwrap_or_default();
            if !old.is_empty() || p.exists() || !new_paths.insert(p.clone()) {
                errors.push(InputError {
                    file: p.display().to_string(),
                    line: 0,
                    message: "exists already; not overwritten".into(),
                });
                continue;
            }
            outputs.push((p, old, content.clone()));
        }
        for (p, old, new) in outputs {
            changed += 1;
            if args.diff {
                let d = similar::TextDiff::from_lines(&old, &new);
                let shown = p.display().to_string();
                let (a, b) = if p.is_absolute() {
                    (shown.clone(), shown)
                } else {
                    (format!("a/{shown}"), format!("b/{shown}"))
                };
                let a = if old.is_empty() {
                    "/dev/null".to_owned()
                } else {
                    a
                };
                write!(
                    stdout,
                    "{}",
                    d.unified_diff().context_radius(3).header(&a, &b)
                )?;
            } else {
                std::fs::write(&p, new)?;
                eprintln!("fixed {}", p.display());
            }
        }
        for n in &plan.applied {
            eprintln!(
                "  {}: {}",
                report::escape_controls(name),
                report::escape_controls(n)
            );
        }
    }
    for e in &errors {
        eprintln!("error: {}", report::escape_controls(&e.to_string()));
    }
    if changed == 0 && errors.is_empty() {
        eprintln!("nothing to fix");
    }
    Ok(if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(USAGE_ERROR)
    })
}

pub fn rules(args: RulesArgs) -> Result<ExitCode, Error> {
    let mut out = String::new();
    if args.json {
        let v: Vec<_> = rules::all()
            .iter()
            .map(|r| {
                serde_json::json!({
                    "id": r.id,
                    "severity": r.severity.as_str(),
                    "summary": r.summary,
                    "explanation": r.explanation,
                    "fixable": r.fix.is_some(),
                })
            })
            .collect();
        out = serde_json::to_string_pretty(&v).unwrap_or_default();
        out.push('\n');
    } else {
        for r in rules::all() {
            out.push_str(&format!(
                "{:<37} {:<8}{} {}\n",
                r.id,
                r.severity.as_str(),
                if r.fix.is_some() { "fix" } else { "   " },
                r.summary
            ));
        }
    }
    std::io::stdout().lock().write_all(out.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

pub fn explain(args: ExplainArgs) -> Result<ExitCode, Error> {
    let Some(r) = rules::find(&args.id) else {
        return Ok(usage(&format!(
            "unknown rule id {:?} (see `steady rules`)",
            args.id
        )));
    };
    let text = format!(
        "{} ({}){}\n{}\n\n{}\n\nOpt out per object with the annotation `steady.dev/ignore: {}`.\n",
        r.id,
        r.severity,
        if r.fix.is_some() {
            ", fixable with `steady fix`"
        } else {
            ""
        },
        r.summary,
        r.explanation,
        r.id
    );
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
