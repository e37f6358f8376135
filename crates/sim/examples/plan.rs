//! `steady plan drain NODE… --from-state FILE` without the rest of the `steady` binary (no kube
//! client, no async runtime): for the benchmark. Prints the human report; exit 0 when the drain
//! completes with no workload at 0 available, 1 otherwise, 2 on bad input.
//! `cargo run --release -p steady-sim --example plan -- STATE NODE…`
use std::process::ExitCode;

use steady_sim::plan::{ClusterState, Operation, plan, report};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((path, nodes)) = args.split_first() else {
        eprintln!("usage: plan STATE NODE…");
        return ExitCode::from(2);
    };
    let run = || -> Result<bool, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        let state = ClusterState::parse(path, &text).map_err(|e| e.to_string())?;
        let op = Operation::Drain {
            nodes: nodes.to_vec(),
            parallel: 1,
        };
        let p = plan(&state, &op, None).map_err(|e| e.to_string())?;
        print!("{}", report::human(&p.report));
        Ok(p.report.passed)
    };
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
