//! `--html FILE`: one self-contained page — the verdict, a chart per workload (inline SVG from
//! [`crate::plot`]), the workload, budget and operation tables, and every refusal with the
//! webhook's message. No scripts and nothing fetched from the network, so it can be attached to a
//! change ticket or opened from a CI artifact as is.

use std::fmt::Write as _;

use crate::engine::Sim;
use crate::report::{self, OpReport, RunReport};
use crate::scenario::Scenario;

/// Escapes text for HTML element content and double-quoted attributes.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const STYLE: &str = "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1300px;padding:0 1em;color:#222}\
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}\
.desc{color:#555;max-width:75em}\
.verdict{padding:.7em 1em;border-radius:4px;font-weight:600;margin:1em 0}\
.pass{background:#e6f4ea;border-left:5px solid #2c9f2c}.fail{background:#fce8e6;border-left:5px solid #d62728}\
table{border-collapse:collapse;margin:.5em 0}th,td{text-align:left;padding:.3em .8em;border-bottom:1px solid #eee;vertical-align:top}\
th{background:#f6f6f6}td.bad{color:#b00020;font-weight:600}\
figure{margin:1em 0}figure svg{max-width:100%;height:auto;border:1px solid #eee}\
figcaption{color:#555}code,q{font-family:ui-monospace,monospace;font-size:.92em}";

fn op_outcome(o: &OpReport) -> String {
    match (o.outcome.as_str(), o.took_seconds) {
        ("completed", Some(t)) => format!("completed in {}", report::span(t)),
        ("not started", _) => "never started".into(),
        (other, Some(t)) => format!("{} after {}", other.to_uppercase(), report::span(t)),
        (other, None) => other.to_uppercase(),
    }
}

/// The whole page. `failures` are the `--expect-min-available` lines that did not hold.
pub fn report(
    s: &Scenario,
    seed: u64,
    sim: &Sim,
    with: &RunReport,
    without: Option<&RunReport>,
    failures: &[String],
) -> String {
    let mut h = String::new();
    let name = escape(&s.name);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>steady sim: {name}</title><style>{STYLE}</style></head><body>\n"
    );
    let _ = writeln!(h, "<h1>steady sim: {name}</h1>");
    if !s.description.is_empty() {
        let _ = writeln!(h, "<p class=\"desc\">{}</p>", escape(s.description.trim()));
    }
    let _ = writeln!(
        h,
        "<p class=\"desc\">seed {seed} · simulated {} in {} events · namespace {}</p>",
        report::at(with.end_seconds),
        with.events,
        escape(&s.namespace)
    );
    let passed = with.passed() && failures.is_empty();
    let _ = writeln!(
        h,
        "<div class=\"verdict {}\">verdict: {}</div>",
        if passed { "pass" } else { "fail" },
        escape(&with.verdict())
    );
    for f in failures {
        let _ = writeln!(h, "<div class=\"verdict fail\">{}</div>", escape(f));
    }

    // Tables first: the numbers answer the question; the charts show how it happened.
    let cols = without.is_some();
    let head = |h: &mut String, first: &str| {
        let _ = if cols {
            writeln!(
                h,
                "<table><tr><th>{first}</th><th>with budgets</th><th>without budgets</th></tr>"
            )
        } else {
            writeln!(h, "<table><tr><th>{first}</th><th>with budgets</th></tr>")
        };
    };
    let cell = |bad: bool, text: String| {
        format!(
            "<td{}>{}</td>",
            if bad { " class=\"bad\"" } else { "" },
            escape(&text)
        )
    };
    let _ = writeln!(h, "<h2>Minimum available pods</h2>");
    head(&mut h, "workload");
    // Red when the workload fell below what one of its budgets needs (or, unguarded, to zero):
    // dipping below `replicas` is what a drain does and is not a fault by itself.
    let short = |r: &RunReport, w: &report::WorkloadReport| {
        let needs = r
            .budgets
            .iter()
            .filter(|b| w.budgets.contains(&b.name))
            .map(|b| b.desired_available)
            .max();
        match needs {
            Some(n) => w.min_available < n,
            None => w.min_available == 0 && w.replicas > 0,
        }
    };
    for (i, w) in with.workloads.iter().enumerate() {
        let text = |w: &report::WorkloadReport| {
            format!(
                "{} of {} at {}",
                w.min_available,
                w.replicas,
                report::at(w.min_available_at_seconds)
            )
        };
        let _ = write!(
            h,
            "<tr><td>{} ({})</td>{}",
            escape(&w.name),
            escape(&w.kind),
            cell(short(with, w), text(w))
        );
        if let Some(r) = without {
            let o = &r.workloads[i];
            h.push_str(&cell(short(r, o), text(o)));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");

    if !with.budgets.is_empty() {
        let _ = writeln!(h, "<h2>Time below budget</h2>");
        head(&mut h, "budget");
        for (i, b) in with.budgets.iter().enumerate() {
            let text = |b: &report::BudgetReport| {
                if b.below_seconds > 0.0 {
                    format!(
                        "BELOW for {} (down to {})",
                        report::span(b.below_seconds),
                        b.min_current_available
                    )
                } else {
                    "never below".into()
                }
            };
            let _ = write!(
                h,
                "<tr><td>{} {} (needs {}, {})</td>{}",
                escape(&b.kind),
                escape(&b.name),
                b.desired_available,
                escape(&b.policy),
                cell(b.below_seconds > 0.0, text(b))
            );
            if let Some(r) = without {
                let o = &r.budgets[i];
                h.push_str(&cell(o.below_seconds > 0.0, text(o)));
            }
            h.push_str("</tr>\n");
        }
        h.push_str("</table>\n");
    }

    if !with.operations.is_empty() {
        let _ = writeln!(h, "<h2>Operations</h2>");
        head(&mut h, "operation (start)");
        for (i, o) in with.operations.iter().enumerate() {
            let start = o.started_seconds.map(report::at).unwrap_or_default();
            let _ = write!(
                h,
                "<tr><td>{} <code>{start}</code></td>{}",
                escape(&o.label),
                cell(!o.ok(), op_outcome(o))
            );
            if let Some(r) = without {
                let x = &r.operations[i];
                h.push_str(&cell(!x.ok(), op_outcome(x)));
            }
            h.push_str("</tr>\n");
        }
        h.push_str("</table>\n");
    }

    let refused: Vec<(&OpReport, &crate::denials::DenialStat)> = with
        .operations
        .iter()
        .flat_map(|o| o.denials.iter().map(move |d| (o, d)))
        .collect();
    if !refused.is_empty() {
        let _ = writeln!(
            h,
            "<h2>Blocked requests (with budgets)</h2>\n<p class=\"desc\">Each refusal is the \
             webhook's answer (HTTP 429); drains retry every 5 s, workload controllers after \
             the retry delay the refusal carries.</p>"
        );
        h.push_str(
            "<table><tr><th>operation</th><th>budget</th><th>refused</th><th>between</th><th>message</th></tr>\n",
        );
        for (o, d) in refused {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} – {}</td><td><q>{}</q></td></tr>",
                escape(&o.label),
                escape(&d.budget),
                d.count,
                report::at(d.first_ms as f64 / 1000.0),
                report::at(d.last_ms as f64 / 1000.0),
                escape(&d.message)
            );
        }
        h.push_str("</table>\n");
    }
    if with.pending_pods > 0 {
        let _ = writeln!(
            h,
            "<p>{} pod(s) still Pending at the end: no node fits them (capacity, cordon, \
             anti-affinity or spread).</p>",
            with.pending_pods
        );
    }

    let _ = writeln!(
        h,
        "<h2>Available pods over time</h2>\n<p class=\"desc\">Solid: available pods. Dashed \
         colour: what each budget needs. Grey lines: an operation starts (solid) or finishes \
         (dashed).</p>"
    );
    for (i, w) in with.workloads.iter().enumerate() {
        let _ = writeln!(
            h,
            "<figure id=\"workload-{i}\" class=\"chart\"><figcaption>{} ({})</figcaption>",
            escape(&w.name),
            escape(&w.kind)
        );
        match crate::plot::workload_svg(i, sim, with, without) {
            // plotters escapes the text it writes; the SVG goes in as markup.
            Ok(svg) => h.push_str(&svg),
            Err(e) => {
                let _ = write!(h, "<p>chart not drawn: {}</p>", escape(&e));
            }
        }
        h.push_str("</figure>\n");
    }
    h.push_str("<p class=\"desc\">Generated by <code>steady sim</code>.</p>\n</body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
