//! The default output: findings grouped by object, colour on a terminal, a summary line.

use std::io::Write;

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

/// Writes the human report to `w`, object by object: nothing of the size of the output is held.
pub fn write_human(r: &Report<'_>, color: bool, w: &mut dyn Write) -> std::io::Result<()> {
    let paint = |code: &str, text: &str| {
        if color {
            format!("{code}{text}{RESET}")
        } else {
            text.to_owned()
        }
    };
    for e in r.input_errors {
        writeln!(
            w,
            "{} {}",
            paint(sev_color(Severity::Error), "input error:"),
            esc(&e.to_string())
        )?;
    }
    if !r.input_errors.is_empty() {
        w.write_all(b"\n")?;
    }
    let mut i = 0;
    let mut fixable = 0;
    let mut objects_with = 0;
    while i < r.findings.len() {
        let obj = r.findings[i].object;
        let o = &r.objects[obj];
        let loc = if o.source.line > 0 {
            format!("{}:{}", esc(&o.source.file), o.source.line)
        } else {
            esc(&o.source.file).into_owned()
        };
        objects_with += 1;
        writeln!(
            w,
            "{} {}",
            paint(BOLD, &esc(&o.display())),
            paint(DIM, &format!("({loc})"))
        )?;
        while i < r.findings.len() && r.findings[i].object == obj {
            let f = &r.findings[i];
            let has_fix = rules::find(f.rule).is_some_and(|r| r.fix.is_some());
            if has_fix {
                fixable += 1;
            }
            writeln!(
                w,
                "  {} {} {}{}",
                paint(
                    sev_color(f.severity),
                    &format!("{:<7}", f.severity.as_str())
                ),
                paint(DIM, &format!("{:<34}", f.rule)),
                esc(&f.message),
                if has_fix { " [fixable]" } else { "" }
            )?;
            i += 1;
        }
        w.write_all(b"\n")?;
    }
    let c = r.counts();
    if r.findings.is_empty() {
        writeln!(
            w,
            "{} in {} from {}",
            paint("\x1b[32m", "no findings"),
            plural(r.objects.len(), "object", "objects"),
            plural(r.files, "file", "files")
        )?;
    } else {
        writeln!(
            w,
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
        )?;
        if fixable > 0 {
            writeln!(
                w,
                "{} can be fixed with `steady fix`; `steady explain RULE` tells how to fix the others",
                plural(fixable, "finding", "findings")
            )?;
        } else {
            writeln!(w, "`steady explain RULE` tells how to fix each finding")?;
        }
    }
    if !r.input_errors.is_empty() {
        writeln!(
            w,
            "{} could not be read (listed at the top)",
            plural(r.input_errors.len(), "input", "inputs")
        )?;
    }
    Ok(())
}

pub fn human(r: &Report<'_>, color: bool) -> String {
    let mut buf = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = write_human(r, color, &mut buf);
    String::from_utf8(buf).unwrap_or_default()
}
