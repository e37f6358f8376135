//! `-o junit`: one test suite per file, one test case per object; a case fails with one
//! `<failure>` per finding on that object.

use std::fmt::Write as _;

use super::Report;

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => {}
            c => o.push(c),
        }
    }
    o
}

pub fn junit(r: &Report<'_>) -> String {
    // Objects grouped by file, in input order.
    let mut files: Vec<(&str, Vec<usize>)> = Vec::new();
    for (i, o) in r.objects.iter().enumerate() {
        match files.iter_mut().find(|(f, _)| *f == &*o.source.file) {
            Some((_, v)) => v.push(i),
            None => files.push((&o.source.file, vec![i])),
        }
    }
    let mut by_object: Vec<Vec<usize>> = vec![Vec::new(); r.objects.len()];
    for (n, f) in r.findings.iter().enumerate() {
        by_object[f.object].push(n);
    }
    let failing = by_object.iter().filter(|v| !v.is_empty()).count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"steady check\" tests=\"{}\" failures=\"{}\" errors=\"{}\">",
        r.objects.len(),
        failing,
        r.input_errors.len()
    );
    for (file, objs) in &files {
        let fails = objs.iter().filter(|&&o| !by_object[o].is_empty()).count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\">",
            esc(file),
            objs.len(),
            fails
        );
        for &o in objs {
            let obj = &r.objects[o];
            let name = format!("{}:{} {}", obj.source.file, obj.source.line, obj.display());
            if by_object[o].is_empty() {
                let _ = writeln!(
                    out,
                    "    <testcase classname=\"{}\" name=\"{}\"/>",
                    esc(file),
                    esc(&name)
                );
                continue;
            }
            let _ = writeln!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\">",
                esc(file),
                esc(&name)
            );
            for &n in &by_object[o] {
                let f = &r.findings[n];
                let _ = writeln!(
                    out,
                    "      <failure type=\"{}\" message=\"{}: {}\">{} {}: {}</failure>",
                    f.severity,
                    f.rule,
                    esc(&f.message),
                    f.severity,
                    f.rule,
                    esc(&f.message)
                );
            }
            out.push_str("    </testcase>\n");
        }
        out.push_str("  </testsuite>\n");
    }
    if !r.input_errors.is_empty() {
        let _ = writeln!(
            out,
            "  <testsuite name=\"input\" tests=\"{0}\" failures=\"0\" errors=\"{0}\">",
            r.input_errors.len()
        );
        for e in r.input_errors {
            let _ = writeln!(
                out,
                "    <testcase classname=\"{}\" name=\"{}:{}\">\n      <error message=\"{}\"/>\n    </testcase>",
                esc(&e.file),
                esc(&e.file),
                e.line,
                esc(&e.message)
            );
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}
