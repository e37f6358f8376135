//! Block-style YAML for JSON values, readable by YAML 1.1 parsers such as kubectl's.
//!
//! serde_norway writes YAML 1.2, where `on`, `yes`, `n` or `1_000` are plain strings; kubectl reads
//! YAML 1.1, where they are booleans and numbers, so a label value `on` would arrive as `true` and be
//! rejected. Here a string is written plain only when it reads back as the same string in both
//! versions; anything else is double-quoted with JSON escapes, which YAML accepts as they are.

use serde_json::Value;

pub fn to_string(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => map(m, 0, &mut out),
        Value::Array(a) if !a.is_empty() => seq(a, 0, &mut out),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

/// A scalar, or `{}` / `[]` for an empty collection.
pub(crate) fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

fn is_collection(v: &Value) -> bool {
    match v {
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
        _ => false,
    }
}

fn string(s: &str) -> String {
    if is_plain_safe(s) {
        s.to_owned()
    } else {
        // A JSON string is a valid YAML double-quoted scalar.
        Value::String(s.to_owned()).to_string()
    }
}

/// Conservative: a letter or `/` first (or `-` before a letter or `-`), then letters, digits and
/// `._/=$()-`, with `:` only inside; and no word YAML 1.1 reads as a boolean or null.
pub(crate) fn is_plain_safe(s: &str) -> bool {
    const SPECIAL: [&str; 11] = [
        "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~", "=",
    ];
    let b = s.as_bytes();
    let Some(&first) = b.first() else {
        return false;
    };
    let start_ok = first.is_ascii_alphabetic()
        || first == b'/'
        || (first == b'-'
            && b.get(1)
                .is_some_and(|c| *c == b'-' || c.is_ascii_alphabetic()));
    start_ok
        && !s.ends_with(':')
        && b.iter().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(
                    c,
                    b'.' | b'_' | b'/' | b'=' | b'$' | b'(' | b')' | b'-' | b':'
                )
        })
        && !SPECIAL.iter().any(|w| s.eq_ignore_ascii_case(w))
}

fn indent(n: usize, out: &mut String) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn map(m: &serde_json::Map<String, Value>, at: usize, out: &mut String) {
    for (i, (k, v)) in m.iter().enumerate() {
        // The first key of a map inside a sequence item follows its "- ".
        if i > 0 || !out.ends_with("- ") {
            indent(at, out);
        }
        out.push_str(&string(k));
        out.push(':');
        match v {
            Value::Object(inner) if !inner.is_empty() => {
                out.push('\n');
                map(inner, at + 2, out);
            }
            Value::Array(items) if !items.is_empty() => {
                out.push('\n');
                seq(items, at, out);
            }
            other => {
                out.push(' ');
                out.push_str(&scalar(other));
                out.push('\n');
            }
        }
    }
}

fn seq(items: &[Value], at: usize, out: &mut String) {
    for item in items {
        indent(at, out);
        out.push_str("- ");
        match item {
            Value::Object(m) if is_collection(item) => map(m, at + 2, out),
            Value::Array(a) if is_collection(item) => {
                out.pop();
                out.push('\n');
                seq(a, at + 2, out);
            }
            other => {
                out.push_str(&scalar(other));
                out.push('\n');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn yaml_1_1_specials_are_quoted_and_read_back() {
        let risky = [
            "on",
            "yes",
            "Y",
            "n",
            "off",
            "NO",
            "true",
            "null",
            "~",
            "010",
            "0o10",
            "1e3",
            "1_000",
            "12:30",
            "0x1F",
            "1.0",
            ".5",
            "-",
            "-1",
            "a: b",
            "#x",
            "",
            " x",
            "x:",
            "line\nbreak",
            "q\"uote",
            "tab\there",
            "é",
            "=",
        ];
        let v = json!({ "list": risky, "map": { "on": "on", "12:30": ["yes"] } });
        let text = to_string(&v);
        for s in ["on", "yes", "Y", "n", "off", "NO", "1_000", "12:30"] {
            assert!(
                text.contains(&format!("\"{s}\"")),
                "{s} not quoted in\n{text}"
            );
        }
        let back: Value = serde_norway::from_str(&text).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn plain_where_safe_and_block_style() {
        let v = json!({
            "apiVersion": "v1",
            "args": ["serve", "--namespace=$(POD_NAMESPACE)", "--listen=0.0.0.0:8443"],
            "empty": {},
            "none": [],
            "items": [{ "a": 1, "b": { "c": true } }, [1, 2]],
        });
        let text = to_string(&v);
        assert_eq!(
            text,
            "apiVersion: v1\nargs:\n- serve\n- --namespace=$(POD_NAMESPACE)\n- --listen=0.0.0.0:8443\nempty: {}\nitems:\n- a: 1\n  b:\n    c: true\n-\n  - 1\n  - 2\nnone: []\n"
        );
        assert_eq!(serde_norway::from_str::<Value>(&text).unwrap(), v);
    }
}
