//! The default output: findings grouped by object, colour on a terminal, a summary line.

use std::fmt::Write as _;

use super::{Report, escape_controls as esc, plural};
use crate::rules::{self, Severity};

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";

fn sev_color(s: Severity) -> &'static str {
    match s {
        Severity::Error => "\x1b[31m",
        Severity::Warning => "\x1b[33m",
        Severity::Info => "\x1b[36m",
    }
}

pub fn human(r: &Report<'_>, color: bool) -> String {
    let paint = |code: &str, text: &str| {
        if color {
            format!("{code}{text}{RESET}")
        } else {
            text.to_owned()
        }
    };
    let mut out = String::new();
    for e in r.input_errors {
        let _ = writeln!(
            out,
            "{} {}",
            paint(sev_color(Severity::Error), "input error:"),
            esc(&e.to_string())
        );
    }
    if !r.input_errors.is_empty() {
        out.push('\n');
    }
    let mut i = 0;
    let mut fixable = 0;
    while i < r.findings.len() {
        let obj = r.findings[i].object;
        let o = &r.objects[obj];
        let loc = if o.source.line > 0 {
            format!("{}:{}", esc(&o.source.file), o.source.line)
        } else {
            esc(&o.source.file).into_owned()
        };
        let _ = writeln!(
            out,
            "{} {}",
            paint(BOLD, &esc(&o.display())),
            paint(DIM, &format!("({loc})"))
        );
        while i < r.findings.len() && r.findings[i].object == obj {
            let f = &r.findings[i];
            let has_fix = rules::find(f.rule).is_some_and(|r| r.fix.is_some());
            if has_fix {
                fixable += 1;
            }
            let _ = writeln!(
                out,
                "  {} {} {}{}",
                paint(
                    sev_color(f.severity),
                    &format!("{:<7}", f.severity.as_str())
                ),
                paint(DIM, &format!("{:<34}", f.rule)),
                esc(&f.message),
                if has_fix { " [fixable]" } else { "" }
            );
            i += 1;
        }
        out.push('\n');
    }
    let c = r.counts();
    let objects_with = {
        let mut v: Vec<usize> = r.findings.iter().map(|f| f.object).collect();
        v.dedup();
        v.len()
    };
    if r.findings.is_empty() {
        let _ = writeln!(
            out,
            "{} in {} from {}",
            paint("\x1b[32m", "no findings"),
            plural(r.objects.len(), "object", "objects"),
            plural(r.files, "file", "files")
        );
    } else {
        let _ = writeln!(
            out,
            "{} ({}, {}, {}) in {} of {} from {}",
            plural(r.findings.len(), "finding", "findings"),
            paint(
                sev_color(Severity::Error),
                &plural(c.error, "error", "errors")
            ),
            paint(
                sev_color(Severity::Warning),
                &plural(c.warning, "warning", "warnings")
            ),
            paint(sev_color(Severity::Info), &format!("{} info", c.info)),
            plural(objects_with, "object", "objects"),
            r.objects.len(),
            plural(r.files, "file", "files")
        );
        if fixable > 0 {
            let _ = writeln!(
                out,
                "{} can be fixed with `steady fix`; `steady explain RULE` tells how to fix the others",
                plural(fixable, "finding", "findings")
            );
        } else {
            let _ = writeln!(out, "`steady explain RULE` tells how to fix each finding");
        }
    }
    if !r.input_errors.is_empty() {
        let _ = writeln!(
            out,
            "{} could not be read (listed at the top)",
            plural(r.input_errors.len(), "input", "inputs")
        );
    }
    out
}
