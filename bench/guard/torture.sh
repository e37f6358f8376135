#!/usr/bin/env bash
# The guard's torture figure (issue 12), run by hand (never in CI). From the repository root:
#   STEADY_E2E_KUBECONFIG=/path/to/kubeconfig bench/guard/torture.sh
# Runs crates/cli/tests/torture_e2e.rs (release build) against the real kube-apiserver the
# kubeconfig names: seeded random trials, three `steady serve` processes, one SIGKILLed and
# restarted in half the trials. Prints one line per trial and a summary line; fails on any
# invariant violation. Knobs: STEADY_TORTURE_TRIALS (1000), STEADY_TORTURE_PARALLEL (8 trials at
# once), STEADY_TORTURE_SEED (random; printed, and reproduces the trials' choices),
# STEADY_TORTURE_ONLY (one trial of the seeded run). LOG (target/torture-<date>.log) keeps the
# whole output.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${STEADY_E2E_KUBECONFIG:?set STEADY_E2E_KUBECONFIG to the kubeconfig of a test API server}"
export STEADY_E2E_KUBECONFIG
export STEADY_TORTURE_TRIALS=${STEADY_TORTURE_TRIALS:-1000}
export STEADY_TORTURE_PARALLEL=${STEADY_TORTURE_PARALLEL:-8}
LOG=${LOG:-target/torture-$(date -u +%Y%m%dT%H%M%SZ).log}
cargo test --release -p steady --test torture_e2e --no-run
cargo test --release -p steady --test torture_e2e -- --ignored --nocapture 2>&1 | tee "$LOG"
