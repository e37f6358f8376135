//! Refusals met by an operation or a workload's controller, tallied by budget.

use std::collections::BTreeMap;

use steady_budget::Denial;

/// `kubectl drain` retries a refused eviction after this long, whatever the server suggests;
/// an in-place change is retried as often.
pub const DRAIN_RETRY_MS: u64 = 5_000;

/// One refusal pattern: the same budget refusing the same kind of request.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DenialStat {
    pub budget: String,
    pub count: u64,
    pub first_ms: u64,
    pub last_ms: u64,
    /// The webhook's message for the latest refusal.
    pub message: String,
    /// The `DisruptionBudget` cause, in the eviction API's words.
    pub cause: String,
    pub code: u16,
}

/// The key a refusal is tallied under: the budget that refused.
pub fn label(d: &Denial) -> String {
    format!("{} {}", d.budget.kind.as_str(), d.budget.name)
}

/// Adds `tries` refusals, the last one at `now`, to a tally keyed by budget (more than one when
/// the clock skipped identical retries: see `clock`).
pub fn tally(
    map: &mut BTreeMap<String, DenialStat>,
    budget: String,
    d: &Denial,
    now: u64,
    tries: u64,
) {
    let e = map.entry(budget.clone()).or_insert_with(|| DenialStat {
        budget,
        count: 0,
        first_ms: now,
        last_ms: now,
        message: String::new(),
        cause: String::new(),
        code: d.code,
    });
    e.count = e.count.saturating_add(tries);
    e.last_ms = now;
    e.message.clone_from(&d.message);
    e.cause.clone_from(&d.cause);
}
