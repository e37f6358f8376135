//! `steady sim`: replays drains, rollouts, scale-in and node failures against a modelled cluster,
//! deciding every disruption with steady-budget — the code the webhook runs — and reports how
//! available each workload stayed, with and without budgets. Simulated time only; deterministic
//! for a given `--seed`. The scenario format is documented in this crate's README.md.
#![forbid(unsafe_code)]

pub mod clock;
pub mod controllers;
pub mod convert;
pub mod denials;
pub mod drain;
pub mod engine;
pub mod from;
pub mod html;
pub mod in_place;
pub mod measure;
pub mod model;
pub mod ops;
pub mod plan;
pub mod plot;
pub mod report;
pub mod scale;
pub mod scenario;
pub mod scheduler;
pub mod tally;
pub mod timeline;
pub mod world;

use std::path::PathBuf;
use std::process::ExitCode;

pub use engine::Sim;
pub use report::RunReport;
pub use scenario::Scenario;

/// The scenario `steady sim` runs when given none: the README's demonstration.
pub const DEFAULT_SCENARIO: &str = include_str!("../../../examples/scenarios/rollout-drain.yaml");
pub const DEFAULT_SCENARIO_PATH: &str = "examples/scenarios/rollout-drain.yaml";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Scenario file (YAML). Without one, the built-in rollout-during-drain scenario runs.
    pub scenario: Option<PathBuf>,
    /// Also run the scenario with budgets not enforced and show both side by side.
    #[arg(long)]
    pub compare: bool,
    #[arg(short = 'o', long = "output", value_enum, default_value = "human")]
    pub output: Format,
    /// Seed for readiness delays drawn from distributions.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Draw available pods per workload over time, with operations and budget lines, to FILE.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Exit 1 if WORKLOAD ever had fewer than N available pods (with budgets enforced).
    #[arg(long = "expect-min-available", value_name = "WORKLOAD=N")]
    pub expect_min_available: Vec<String>,
    /// Write a self-contained HTML report (charts, verdict, tables) to FILE.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Print the JSON schema of the scenario format and exit.
    #[arg(long)]
    pub schema: bool,
    /// Build the scenario from manifests (files, directories, `-` for stdin), as `steady check`
    /// reads them, on a generated cluster, draining the nodes with the most guarded pods.
    #[arg(long, value_name = "PATH", num_args = 1.., conflicts_with = "scenario")]
    pub from: Vec<PathBuf>,
    /// With --from: nodes in the generated cluster [default: 6].
    #[arg(long, value_name = "N", requires = "from")]
    pub nodes: Option<u32>,
    /// With --from: zones the nodes are spread over, round-robin [default: 3].
    #[arg(long, value_name = "Z", requires = "from")]
    pub zones: Option<u32>,
    /// With --from: pods per node [default: 110, as the kubelet].
    #[arg(long, value_name = "P", requires = "from")]
    pub node_capacity: Option<u32>,
    /// With --from: how many nodes to drain, those carrying the most budget-guarded pods [default: 1].
    #[arg(long, value_name = "K", requires = "from")]
    pub drain_nodes: Option<u32>,
    /// With --from: nodes drained at the same time [default: 1].
    #[arg(long, value_name = "M", requires = "from")]
    pub parallel: Option<u32>,
    /// With --from: roll these workloads out (new pod template) as the drain starts.
    #[arg(long, value_name = "WORKLOAD", num_args = 1.., requires = "from")]
    pub rollout: Vec<String>,
    /// Print the scenario as YAML (with --from: the one built from the manifests) and exit; edit
    /// it and run it with `steady sim FILE`.
    #[arg(long)]
    pub print_scenario: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read scenario {path}: {source}; check the path")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "scenario {path} is not valid: {message}; see `steady sim --schema` or crates/sim/README.md for the format"
    )]
    Parse { path: String, message: String },
    #[error("scenario {path}: {invalid}")]
    Invalid {
        path: String,
        invalid: scenario::Invalid,
    },
    #[error("--expect-min-available {0:?}: write WORKLOAD=N, for example web=2")]
    Expect(String),
    #[error("--expect-min-available {0}: no workload of that name in the scenario")]
    ExpectUnknown(String),
    #[error("cannot write {path}: {message}")]
    Write { path: String, message: String },
    #[error("--from: {0}")]
    From(#[from] from::FromError),
}

impl Error {
    /// Every error is bad input or an unwritable output: exit code 2.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(2)
    }
}

/// Parses and validates a scenario, naming `path` in errors.
pub fn load(path: &str, text: &str) -> Result<Scenario, Error> {
    let s = scenario::parse(text).map_err(|message| Error::Parse {
        path: path.to_owned(),
        message,
    })?;
    let m = model::Model::build(&s).map_err(|invalid| Error::Invalid {
        path: path.to_owned(),
        invalid,
    })?;
    ops::build(&s, &m).map_err(|invalid| Error::Invalid {
        path: path.to_owned(),
        invalid,
    })?;
    Ok(s)
}

/// Runs a scenario once.
pub fn simulate(
    s: &Scenario,
    seed: u64,
    enforce: bool,
) -> Result<(Sim, RunReport), scenario::Invalid> {
    let mut sim = Sim::new(s, seed, enforce)?;
    sim.run();
    let r = report::build(&sim);
    Ok((sim, r))
}

/// The scenario as YAML that `steady sim FILE` reads back, headed by a comment saying so.
pub fn scenario_yaml(s: &Scenario) -> String {
    let body = steady_manifest::codec::to_string(s).unwrap_or_default();
    format!(
        "# steady sim scenario (format: crates/sim/README.md, `steady sim --schema`).\n\
         # Edit it and run: steady sim THIS_FILE --compare\n{body}"
    )
}

fn parse_expect(e: &str) -> Result<(String, i32), Error> {
    let (w, n) = e.split_once('=').ok_or_else(|| Error::Expect(e.into()))?;
    let n: i32 = n.trim().parse().map_err(|_| Error::Expect(e.into()))?;
    Ok((w.trim().to_owned(), n))
}

/// Runs `steady sim`. Bad input is reported here, on stderr with exit code 2 (the binary would
/// turn a returned error into 1, which means "the simulation found a problem").
pub fn run(args: Args) -> Result<ExitCode, Error> {
    match try_run(args) {
        Ok(code) => Ok(code),
        Err(e) => {
            eprintln!("error: {e}");
            Ok(e.exit_code())
        }
    }
}

fn try_run(args: Args) -> Result<ExitCode, Error> {
    if args.schema {
        println!(
            "{}",
            serde_json::to_string_pretty(&scenario::schema()).unwrap_or_default()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut banner = None;
    let (path, s) = if !args.from.is_empty() {
        let built = from::build(&from::FromOptions {
            paths: args.from.clone(),
            nodes: args.nodes.unwrap_or(6),
            zones: args.zones.unwrap_or(3),
            node_capacity: args.node_capacity,
            drain_nodes: args.drain_nodes.unwrap_or(1),
            parallel: args.parallel,
            rollout: args.rollout.clone(),
        })?;
        for n in &built.notes {
            eprintln!("note: {n}");
        }
        ("(built from manifests)".to_owned(), built.scenario)
    } else if let Some(p) = &args.scenario {
        let path = p.display().to_string();
        let text = std::fs::read_to_string(p).map_err(|source| Error::Read {
            path: path.clone(),
            source,
        })?;
        let s = load(&path, &text)?;
        (path, s)
    } else {
        banner = Some(format!(
            "no scenario given: running the built-in {DEFAULT_SCENARIO_PATH} (pass a file to run your own)"
        ));
        (
            DEFAULT_SCENARIO_PATH.to_owned(),
            load(DEFAULT_SCENARIO_PATH, DEFAULT_SCENARIO)?,
        )
    };
    if args.print_scenario {
        print!("{}", scenario_yaml(&s));
        return Ok(ExitCode::SUCCESS);
    }
    let expects = args
        .expect_min_available
        .iter()
        .map(|e| parse_expect(e))
        .collect::<Result<Vec<_>, _>>()?;
    for (w, _) in &expects {
        if !s.workloads.iter().any(|x| &x.name == w) {
            return Err(Error::ExpectUnknown(w.clone()));
        }
    }
    let invalid = |invalid| Error::Invalid {
        path: path.clone(),
        invalid,
    };
    let (sim, with) = simulate(&s, args.seed, true).map_err(invalid)?;
    let without = if args.compare {
        Some(simulate(&s, args.seed, false).map_err(invalid)?.1)
    } else {
        None
    };
    let mut failures = Vec::new();
    for (w, n) in &expects {
        if let Some(r) = with.workloads.iter().find(|x| &x.name == w)
            && r.min_available < *n
        {
            failures.push(format!(
                "expectation failed: {w} fell to {} available at {}, expected at least {n}",
                r.min_available,
                report::at(r.min_available_at_seconds)
            ));
        }
    }
    if let Some(file) = &args.svg {
        plot::write_svg(file, &s.name, &sim, &with, without.as_ref()).map_err(|message| {
            Error::Write {
                path: file.display().to_string(),
                message,
            }
        })?;
    }
    if let Some(file) = &args.html {
        let page = html::report(&s, args.seed, &sim, &with, without.as_ref(), &failures);
        std::fs::write(file, page).map_err(|e| Error::Write {
            path: file.display().to_string(),
            message: e.to_string(),
        })?;
    }
    match args.output {
        Format::Json => {
            let v = serde_json::json!({
                "scenario": s.name,
                "seed": args.seed,
                "withBudgets": with,
                "withoutBudgets": without,
                "passed": with.passed() && failures.is_empty(),
                "verdict": with.verdict(),
                "expectationFailures": failures,
            });
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        }
        Format::Human => {
            if let Some(b) = banner {
                println!("{b}");
            }
            print!(
                "{}",
                report::human(&s.name, &s.description, args.seed, &with, without.as_ref())
            );
            for f in &failures {
                println!("{f}");
            }
            if let Some(file) = &args.svg {
                println!("chart written to {}", file.display());
            }
            if let Some(file) = &args.html {
                println!("report written to {}", file.display());
            }
        }
    }
    Ok(if with.passed() && failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
