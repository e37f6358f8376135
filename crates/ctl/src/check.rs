//! `steady check`: the checker's command (arguments, rules, reports) from `steady-check`, with
//! `--cluster` read here, where the kube client is. The checker itself talks to no cluster, so
//! what needs only manifests (`steady sim --from`, tests) builds without kube and tokio.

use std::process::ExitCode;

use steady_check::cli::{self, CheckArgs};

/// Runs `steady check` with `--cluster` available.
pub fn check(args: CheckArgs) -> Result<ExitCode, cli::Error> {
    cli::check_with_cluster(args, &|namespace, all, progress| {
        crate::cluster::load(namespace, all, progress).map_err(Into::into)
    })
}
