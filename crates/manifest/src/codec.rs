//! YAML in and out with one library, serde-saphyr (kube already brings it), and one set of options:
//! every file steady reads by hand (scenarios, `.steady.yaml`, cluster states) and every document
//! it prints (`steady crd`, `steady install --print`, `-o yaml`, `--print-scenario`).
//!
//! It lives in steady-manifest, the crate with no kube, tokio or rustls below it, so the simulator
//! can read scenarios with it; steady-api re-exports it as `steady_api::yaml`.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_saphyr::options::{DuplicateKeyPolicy, NonFiniteFloatPolicy};
use serde_saphyr::{MessageFormatter, UserMessageFormatter};

/// A document that could not be read: where, in which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}{}", field_prefix(.field), at(*.line, *.column))]
pub struct YamlError {
    /// The field path (`workloads[0].replicas`), when the error is inside a value.
    pub field: Option<String>,
    /// 1-based; 0 when the library did not say.
    pub line: u64,
    pub column: u64,
    pub message: String,
}

fn field_prefix(field: &Option<String>) -> String {
    field.as_ref().map(|f| format!("{f}: ")).unwrap_or_default()
}

fn at(line: u64, column: u64) -> String {
    if line == 0 {
        String::new()
    } else {
        format!(" at line {line} column {column}")
    }
}

/// Options for YAML written by people or by kubectl:
/// - scalars resolve as YAML 1.2 core does (and as serde_yaml did before): `on`, `yes`, `0755`,
///   `1_000` stay strings where the target takes anything, and `.inf` is read as JSON does (null);
/// - a key given twice is an error naming it, not a silent last-wins;
/// - alias expansion is bounded, so a "billion laughs" document fails in milliseconds. An alias
///   bomb only grows where serde buffers a value (`serde_json::Value`, untagged enums such as a
///   scenario's durations). The caps (100k replayed or anchored events, a tenth of the library's
///   default) are far above any real file (kubectl writes no aliases) and keep a bomb's cost at
///   at 0.25 s and 56 MB in a debug build of `steady sim` (at the default 1M: 2.4 s, 195 MB);
/// - nesting is capped at 128 levels, serde_yaml's limit, and the event and node budgets are
///   lifted to sizes no hand-written file reaches but a `kubectl get pods -A -o yaml` of a large
///   cluster may (those grow with the input, unlike aliases).
fn read_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: 128,
            max_events: 200_000_000,
            max_nodes: 100_000_000,
            max_total_scalar_bytes: 1 << 30,
            max_recorded_anchor_events: 100_000,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: 100_000,
            max_replay_stack_depth: 32,
        },
        duplicate_keys: DuplicateKeyPolicy::Error,
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        underscored_numbers_as_strings: true,
        non_finite_float_policy: NonFiniteFloatPolicy::PassThrough,
        with_snippet: false,
    }
}

/// Reads one YAML document into `T`; errors carry the field path, line and column.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    let mut field = None;
    serde_saphyr::with_deserializer_from_str_with_options(text, read_options(), |de| {
        serde_path_to_error::deserialize(de).map_err(|e| {
            field = Some(e.path().to_string());
            e.into_inner()
        })
    })
    .map_err(|e| error(e, field, text))
}

/// Reads every document of a multi-document stream (`---` separated); empty documents are null.
pub fn documents<T: DeserializeOwned>(text: &str) -> Result<Vec<T>, YamlError> {
    serde_saphyr::from_str_multiple_with_options(text, read_options())
        .map_err(|e| error(e, None, text))
}

fn error(e: serde_saphyr::Error, field: Option<String>, text: &str) -> YamlError {
    let location = e.location();
    let (line, column) = location.map(|l| (l.line(), l.column())).unwrap_or_default();
    // serde_path_to_error says `` or `.` for the root and `?` where serde gave it no key.
    let mut field = field.filter(|f| !f.is_empty() && f != "." && !f.contains('?'));
    let message = match e.without_snippet() {
        // The path ends in the unknown key itself; the message names it already.
        serde_saphyr::Error::SerdeUnknownField { .. } => {
            field = field.and_then(|f| parent(&f));
            UserMessageFormatter.format_message(&e).into_owned()
        }
        // The library says only "invalid u64"; the value written is what the reader needs.
        serde_saphyr::Error::InvalidScalar { ty, .. } => {
            let written = location.and_then(|l| {
                let span = l.span();
                let start = usize::try_from(span.byte_offset()?).ok()?;
                let len = usize::try_from(span.byte_len()?).ok()?;
                text.get(start..start.checked_add(len)?)
            });
            match written {
                Some(w) => format!("invalid value {w:?}, expected {ty}"),
                None => format!("invalid value, expected {ty}"),
            }
        }
        _ => UserMessageFormatter.format_message(&e).into_owned(),
    };
    YamlError {
        field: field.map(|f| printable(&f)),
        line,
        column,
        message: printable(&message),
    }
}

/// `workloads[0].replica` → `workloads[0]`; a top-level key has no parent.
fn parent(path: &str) -> Option<String> {
    let cut = path.rfind(['.', '['])?;
    Some(path[..cut].to_owned()).filter(|up| !up.is_empty())
}

/// Keys and messages quote the input: control characters are escaped so an error prints as the
/// one line it is.
fn printable(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

/// Block-style YAML that YAML 1.1 readers (kubectl, Helm) read back as the same values: strings
/// such as `on`, `yes`, `010` or `12:30` are quoted, multi-line strings are `|` blocks, and a long
/// line stays one line.
pub fn to_string<T: Serialize>(v: &T) -> Result<String, serde_saphyr::SerializeError> {
    serde_saphyr::to_string_with_options(
        v,
        serde_saphyr::ser_options! {
            folded_wrap_chars: usize::MAX,
        },
    )
}

/// One scalar (or `{}` / `[]`) on one line, quoted as [`to_string`] quotes it; for writers that lay
/// out the block structure themselves (the Helm chart generator).
pub fn scalar<T: Serialize>(v: &T) -> Result<String, serde_saphyr::SerializeError> {
    let text = serde_saphyr::to_string_with_options(
        v,
        serde_saphyr::ser_options! {
            prefer_block_scalars: false,
        },
    )?;
    Ok(text.trim_end_matches('\n').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn yaml_1_1_words_are_quoted_and_read_back() {
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
            "trailing\n",
            "q\"uote",
            "tab\there",
            "é",
            "=",
            "<<",
            "2001-12-14",
        ];
        let v = json!({ "list": risky, "map": { "on": "on", "12:30": ["yes"] }, "e": {}, "l": [] });
        let text = to_string(&v).unwrap();
        for s in [
            "on", "yes", "Y", "n", "off", "NO", "1_000", "12:30", "=", "<<",
        ] {
            assert!(
                text.contains(&format!("\"{s}\"")),
                "{s} not quoted in\n{text}"
            );
        }
        assert!(
            text.contains("e: {}\n") && text.contains("l: []\n"),
            "{text}"
        );
        let back: Value = from_str(&text).unwrap();
        assert_eq!(back, v);
        for s in risky {
            let one = scalar(&s).unwrap();
            assert!(!one.contains('\n'), "{one}");
            assert_eq!(from_str::<String>(&one).unwrap(), s, "{one}");
        }
    }

    #[test]
    fn block_style_with_sequences_at_the_key_indentation() {
        let v = json!({
            "apiVersion": "v1",
            "args": ["serve", "--namespace=$(POD_NAMESPACE)", "--listen=0.0.0.0:8443"],
            "items": [{ "a": 1, "b": { "c": true } }],
            "text": "two\nlines",
        });
        assert_eq!(
            to_string(&v).unwrap(),
            "apiVersion: v1\nargs:\n- serve\n- --namespace=$(POD_NAMESPACE)\n- --listen=0.0.0.0:8443\nitems:\n- a: 1\n  b:\n    c: true\ntext: |-\n  two\n  lines\n"
        );
    }

    #[test]
    fn errors_name_the_field_line_and_column() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Item {
            #[allow(dead_code)]
            n: u32,
        }
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Doc {
            #[allow(dead_code)]
            items: Vec<Item>,
        }
        let e = from_str::<Doc>("items:\n  - n: 1\n  - n: two\n").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("items[1].n"), "{e}");
        assert_eq!((e.line, e.column), (3, 8), "{e}");
        assert_eq!(
            e.to_string(),
            "items[1].n: invalid value \"two\", expected u32 at line 3 column 8"
        );

        let e = from_str::<Doc>("items:\n  - n: 1\n    m: 2\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "items[0]: unknown field `m`, expected one of n at line 3 column 5"
        );
        let e = from_str::<Doc>("other: 1\n").unwrap_err();
        assert_eq!(e.field, None, "{e}");

        let e = from_str::<Doc>("items: []\nitems: []\n").unwrap_err();
        assert!(
            e.message.contains("duplicate") && e.message.contains("items"),
            "{e}"
        );
        assert_eq!(e.line, 2, "{e}");

        let e = from_str::<Doc>("items: []\n\"\\u0001\": 1\n").unwrap_err();
        assert!(e.message.contains("unknown field"), "{e}");
        assert!(!e.to_string().contains('\u{1}'), "{e}");
    }

    /// Nine levels of nine-fold aliases would be 387 million strings.
    pub(crate) fn alias_bomb() -> String {
        let mut text = String::from("- &l0 [x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let refs = vec![format!("*l{}", i - 1); 9].join(", ");
            text.push_str(&format!("- &l{i} [{refs}]\n"));
        }
        text
    }

    #[test]
    fn an_alias_bomb_is_refused_quickly() {
        let start = std::time::Instant::now();
        let e = from_str::<Value>(&alias_bomb()).unwrap_err();
        assert!(e.message.contains("too large or too complex"), "{e}");
        assert!(start.elapsed() < std::time::Duration::from_secs(10));
        // Anchors and a few aliases are ordinary YAML.
        let v: Value = from_str("a: &x [1, 2]\nb: *x\n").unwrap();
        assert_eq!(v["b"], json!([1, 2]));
    }

    #[test]
    fn scalars_resolve_as_yaml_1_2_core() {
        let v: Value =
            from_str("a: on\nb: yes\nc: 0755\nd: 1_000\ne: true\nf: 0x1F\ng: 1e3\nh: ~\ni: .inf\n")
                .unwrap();
        assert_eq!(
            v,
            json!({"a": "on", "b": "yes", "c": "0755", "d": "1_000", "e": true, "f": 31, "g": 1000.0, "h": null, "i": null})
        );
    }
}
