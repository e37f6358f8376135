//! `steady sim` without the rest of the `steady` binary: for the benchmark and for working on the
//! simulator alone. `cargo run -p steady-sim --example sim -- SCENARIO [--compare] …`
use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(name = "steady-sim")]
struct Cli {
    #[command(flatten)]
    args: steady_sim::Args,
}

fn main() -> ExitCode {
    match steady_sim::run(Cli::parse().args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
