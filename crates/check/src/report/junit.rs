//! `-o junit`: one test suite per file, one test case per object; a case fails with one
//! `<failure>` per finding on that object.

use std::io::Write;

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

/// Writes the report as JUnit XML to `w`, one test case at a time.
pub fn write_junit(r: &Report<'_>, w: &mut dyn Write) -> std::io::Result<()> {
    // Objects grouped by file, in input order; a file's objects are mostly consecutive, so the
    // group is found from the last one first.
    let mut files: Vec<(&str, Vec<usize>)> = Vec::new();
    let mut group: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (i, o) in r.objects.iter().enumerate() {
        let file: &str = &o.source.file;
        match group.get(file) {
            Some(&g) => files[g].1.push(i),
            None => {
                group.insert(file, files.len());
                files.push((file, vec![i]));
            }
        }
    }
    // Findings are sorted by object: each object's findings are one range of them.
    let mut first: Vec<u32> = vec![u32::MAX; r.objects.len()];
    let mut count: Vec<u32> = vec![0; r.objects.len()];
    for (n, f) in r.findings.iter().enumerate() {
        if first[f.object] == u32::MAX {
            first[f.object] = n as u32;
        }
        count[f.object] += 1;
    }
    let findings_of = |o: usize| {
        let from = first[o] as usize;
        let n = count[o] as usize;
        r.findings[from.min(r.findings.len())..(from + n).min(r.findings.len())].iter()
    };
    let failing = count.iter().filter(|&&n| n > 0).count();
    w.write_all(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")?;
    writeln!(
        w,
        "<testsuites name=\"steady check\" tests=\"{}\" failures=\"{}\" errors=\"{}\">",
        r.objects.len(),
        failing,
        r.input_errors.len()
    )?;
    for (file, objs) in &files {
        let fails = objs.iter().filter(|&&o| count[o] > 0).count();
        writeln!(
            w,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\">",
            esc(file),
            objs.len(),
            fails
        )?;
        for &o in objs {
            let obj = &r.objects[o];
            let name = format!("{}:{} {}", obj.source.file, obj.source.line, obj.display());
            if count[o] == 0 {
                writeln!(
                    w,
                    "    <testcase classname=\"{}\" name=\"{}\"/>",
                    esc(file),
                    esc(&name)
                )?;
                continue;
            }
            writeln!(
                w,
                "    <testcase classname=\"{}\" name=\"{}\">",
                esc(file),
                esc(&name)
            )?;
            for f in findings_of(o) {
                writeln!(
                    w,
                    "      <failure type=\"{}\" message=\"{}: {}\">{} {}: {}</failure>",
                    f.severity,
                    f.rule,
                    esc(&f.message),
                    f.severity,
                    f.rule,
                    esc(&f.message)
                )?;
            }
            w.write_all(b"    </testcase>\n")?;
        }
        w.write_all(b"  </testsuite>\n")?;
    }
    if !r.input_errors.is_empty() {
        writeln!(
            w,
            "  <testsuite name=\"input\" tests=\"{0}\" failures=\"0\" errors=\"{0}\">",
            r.input_errors.len()
        )?;
        for e in r.input_errors {
            writeln!(
                w,
                "    <testcase classname=\"{}\" name=\"{}:{}\">\n      <error message=\"{}\"/>\n    </testcase>",
                esc(&e.file),
                esc(&e.file),
                e.line,
                esc(&e.message)
            )?;
        }
        w.write_all(b"  </testsuite>\n")?;
    }
    w.write_all(b"</testsuites>\n")
}

pub fn junit(r: &Report<'_>) -> String {
    let mut buf = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = write_junit(r, &mut buf);
    String::from_utf8(buf).unwrap_or_default()
}
