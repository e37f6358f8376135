//! Output formats: human (default), json, sarif, junit. Every formatter reads the same
//! [`Report`] and writes to an `io::Write` as it goes ([`write`]): the memory of a run is the
//! objects and findings, never a copy of the output. [`render`] gives the same bytes as a
//! `String`, so golden tests cover them byte for byte.

use crate::load::InputError;
use crate::model::Object;
use crate::rules::{Finding, Severity};

mod human;
mod json;
mod junit;
mod sarif;

pub use human::{human, write_human};
pub use json::{json, write_json};
pub use junit::{junit, write_junit};
pub use sarif::{sarif, write_sarif};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
    Sarif,
    Junit,
}

pub struct Report<'a> {
    pub objects: &'a [Object],
    /// Ordered by object, as [`crate::rules::run`] returns them: the formats write one object's
    /// findings together.
    pub findings: &'a [Finding],
    pub input_errors: &'a [InputError],
    pub files: usize,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub error: usize,
    pub warning: usize,
    pub info: usize,
}

impl Report<'_> {
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for f in self.findings {
            match f.severity {
                Severity::Error => c.error += 1,
                Severity::Warning => c.warning += 1,
                Severity::Info => c.info += 1,
            }
        }
        c
    }
}

/// Writes the report in `format` to `w`.
pub fn write(
    format: Format,
    r: &Report<'_>,
    color: bool,
    w: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    match format {
        Format::Human => write_human(r, color, w),
        Format::Json => write_json(r, w),
        Format::Sarif => write_sarif(r, w),
        Format::Junit => write_junit(r, w),
    }
}

pub fn render(format: Format, r: &Report<'_>, color: bool) -> String {
    match format {
        Format::Human => human(r, color),
        Format::Json => json(r),
        Format::Sarif => sarif(r),
        Format::Junit => junit(r),
    }
}

/// `s` with every control character (ESC, BEL, newline, C1 codes, …) written as an escape
/// (`\u{1b}`, `\n`): names, messages and paths come from manifests, and printed raw to a
/// terminal they could move the cursor, retitle the window or hide other lines.
pub fn escape_controls(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
