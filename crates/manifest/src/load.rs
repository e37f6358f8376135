//! Loaders: files, directories (recursive; .yaml, .yml, .json), stdin. A document that cannot be
//! read is reported with its file and line; the rest of the input still loads.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::model::{self, Object, PathSegment, Source};
use serde_json::Value;

use crate::yaml::{self, NodeKind};

/// The most one input (file or standard input) may hold: 256 MiB, far above any manifest, so
/// that `steady check /dev/zero` or a runaway pipe fails with a message instead of filling
/// memory. `--max-input-size` raises it.
pub const DEFAULT_MAX_INPUT: u64 = 256 << 20;

/// A problem with the input, reported with where it is; the run goes on without it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        } else {
            write!(f, "{}: {}", self.file, self.message)
        }
    }
}

#[derive(Debug, Default)]
pub struct Loaded {
    pub objects: Vec<Object>,
    pub errors: Vec<InputError>,
    /// Number of files read.
    pub files: usize,
    /// Kinds of the objects read but not modelled (ConfigMap, Ingress, …), with how many of
    /// each: `steady sim --from` names what it left out.
    pub skipped_kinds: BTreeMap<String, usize>,
}

/// One input to read: a path on disk or stdin (`-`).
#[derive(Debug, Clone)]
pub enum Input {
    File(PathBuf),
    Stdin,
}

/// Expands the command-line paths: directories are walked recursively (sorted, so the order of
/// findings is stable) and only .yaml, .yml and .json files inside them are read. A file named
/// explicitly is read whatever its extension.
pub fn expand(paths: &[PathBuf], errors: &mut Vec<InputError>) -> Vec<Input> {
    let mut out = Vec::new();
    for p in paths {
        if p.as_os_str() == "-" {
            out.push(Input::Stdin);
        } else if p.is_dir() {
            walk(p, &mut out, errors);
        } else if p.exists() {
            out.push(Input::File(p.clone()));
        } else {
            errors.push(InputError {
                file: p.display().to_string(),
                line: 0,
                message: "no such file or directory".into(),
            });
        }
    }
    out
}

fn walk(dir: &Path, out: &mut Vec<Input>, errors: &mut Vec<InputError>) {
    let mut entries: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) => {
            errors.push(InputError {
                file: dir.display().to_string(),
                line: 0,
                message: format!("cannot read directory: {e}"),
            });
            return;
        }
    };
    entries.sort();
    for p in entries {
        // Symlinked directories are not followed, so a link cycle cannot make the walk endless.
        let is_link = p
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink());
        if p.is_dir() {
            if !is_link {
                walk(&p, out, errors);
            }
        } else if matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) && std::fs::metadata(&p).is_ok_and(|m| m.is_file())
        {
            // Regular files only: a FIFO or a device named *.yaml in the tree would block the
            // walk forever or never end. A path named on the command line is read whatever it is.
            out.push(Input::File(p));
        }
    }
}

/// Reads every input, on all available cores, keeping the input order in the result.
///
/// Each file's objects are appended to the result as soon as the files before it are in, so at
/// most a few files' objects wait on the side: holding every file's vector until a final merge
/// would keep two copies of all objects at the peak.
pub fn load(
    inputs: &[Input],
    default_namespace: &str,
    max_input: u64,
    progress: &(dyn Fn(usize) + Sync),
) -> Loaded {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(inputs.len().max(1));
    let mut all = Loaded::default();
    if threads <= 1 || inputs.len() < 8 {
        for input in inputs {
            all.append(load_one(input, default_namespace, max_input));
            progress(1);
        }
        return all;
    }
    struct Merge {
        all: Loaded,
        next: usize,
        waiting: std::collections::BTreeMap<usize, Loaded>,
    }
    let merge = std::sync::Mutex::new(Merge {
        all,
        next: 0,
        waiting: std::collections::BTreeMap::new(),
    });
    let next_input = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next_input.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(input) = inputs.get(i) else { break };
                    let l = load_one(input, default_namespace, max_input);
                    if let Ok(mut m) = merge.lock() {
                        m.waiting.insert(i, l);
                        loop {
                            let n = m.next;
                            let Some(l) = m.waiting.remove(&n) else { break };
                            m.all.append(l);
                            m.next += 1;
                        }
                    }
                    progress(1);
                }
            });
        }
    });
    match merge.into_inner() {
        Ok(m) => m.all,
        Err(poisoned) => poisoned.into_inner().all,
    }
}

impl Loaded {
    fn append(&mut self, l: Loaded) {
        self.objects.extend(l.objects);
        self.errors.extend(l.errors);
        self.files += l.files;
        for (kind, n) in l.skipped_kinds {
            *self.skipped_kinds.entry(kind).or_default() += n;
        }
    }
}

/// Why an input could not be read as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    /// 1-based line of the problem, 0 when it is not about a place in the text.
    pub line: usize,
    pub message: String,
}

/// Reads one input whole, refusing more than `max` bytes and text that is not UTF-8 (with the
/// byte offset and line of the first bad byte).
pub fn read_input(input: &Input, max: u64) -> Result<String, ReadError> {
    let what = match input {
        Input::Stdin => "standard input",
        Input::File(_) => "the file",
    };
    let fail = |e: std::io::Error| ReadError {
        line: 0,
        message: match input {
            Input::Stdin => format!("cannot read standard input: {e}"),
            Input::File(_) => format!("cannot read: {e}"),
        },
    };
    let mut bytes = Vec::new();
    let read = match input {
        Input::Stdin => std::io::stdin()
            .lock()
            .take(max + 1)
            .read_to_end(&mut bytes),
        Input::File(p) => {
            std::fs::File::open(p).and_then(|f| f.take(max + 1).read_to_end(&mut bytes))
        }
    };
    read.map_err(fail)?;
    if bytes.len() as u64 > max {
        return Err(ReadError {
            line: 0,
            message: format!(
                "{what} is larger than {} (the limit for one input); if it really is one manifest, raise the limit with --max-input-size",
                human_size(max)
            ),
        });
    }
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        ReadError {
            line: 1 + memchr::memchr_iter(b'\n', &bytes[..at]).count(),
            message: format!(
                "not UTF-8 text: invalid byte 0x{:02x} at byte offset {at}; save the file as UTF-8",
                bytes[at]
            ),
        }
    })
}

/// `256 MiB`, `1.5 GiB`, `100 bytes`.
pub fn human_size(n: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if n >= size {
            return if n.is_multiple_of(size) {
                format!("{} {unit}", n / size)
            } else {
                format!("{:.1} {unit}", n as f64 / size as f64)
            };
        }
    }
    format!("{n} bytes")
}

fn load_one(input: &Input, default_namespace: &str, max_input: u64) -> Loaded {
    let name = match input {
        Input::Stdin => "-".to_owned(),
        Input::File(p) => p.display().to_string(),
    };
    match read_input(input, max_input) {
        Ok(text) => {
            let mut l = load_text(&name, &text, default_namespace);
            l.files = 1;
            l
        }
        Err(e) => Loaded {
            errors: vec![InputError {
                file: name,
                line: e.line,
                message: e.message,
            }],
            files: usize::from(matches!(input, Input::File(_))),
            ..Loaded::default()
        },
    }
}

/// Parses one file's text (any number of YAML documents, or JSON) into objects.
pub fn load_text(file: &str, text: &str, default_namespace: &str) -> Loaded {
    let file: Arc<str> = Arc::from(file);
    let mut out = Loaded::default();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // JSON is read as JSON first, as kubectl does: YAML would take what JSON refuses (a trailing
    // comma), and its errors would speak of flow mappings.
    if let Some(e) = json_error(&file, text) {
        out.errors.push(e);
        return out;
    }
    // Documents the typed decode refused: (index in out.errors, source), explained below.
    let mut refused: Vec<(usize, Source)> = Vec::new();
    for (doc_index, doc) in yaml::parse_values(text).into_iter().enumerate() {
        match doc {
            Err(e) => out.errors.push(InputError {
                file: file.to_string(),
                line: e.line,
                message: format!("malformed YAML: {}", e.message),
            }),
            Ok(doc) => {
                let source = Source {
                    file: file.clone(),
                    line: doc.line,
                    doc: doc_index,
                };
                add_value(
                    doc.value,
                    &doc.item_lines,
                    source,
                    default_namespace,
                    &mut out,
                    &mut refused,
                );
            }
        }
    }
    if !refused.is_empty() {
        // The fast decode kept no path and the fast parser no positions: parse the text again
        // with positions to point at the field itself. Only files with such an error pay.
        let trees = yaml::parse_stream(text);
        for (at, source) in refused {
            if let Some(e) = explain(&trees, &source, default_namespace) {
                out.errors[at] = e;
            }
        }
    }
    out
}

/// A text that is meant as JSON (a `.json` file, or one starting with `{` or `[`) and is not
/// valid JSON (a stream of JSON values, as `kubectl apply -f` reads): the JSON parser's error,
/// which names what JSON expected. None otherwise.
fn json_error(file: &str, text: &str) -> Option<InputError> {
    let start = text.trim_start();
    // A YAML stream whose first document happens to be in flow style stays YAML.
    let json_like = (start.starts_with('{') || start.starts_with('[')) && !text.contains("\n---");
    if !(file.ends_with(".json") || json_like) {
        return None;
    }
    let e = serde_json::Deserializer::from_str(text)
        .into_iter::<serde::de::IgnoredAny>()
        .find_map(Result::err)?;
    Some(InputError {
        file: file.to_owned(),
        line: e.line(),
        message: format!("malformed JSON: {e}"),
    })
}

/// The schema error of the object at `source`, with the path of the field and the line of that
/// field. None when the object cannot be found again (then the first message stands).
fn explain(
    trees: &[Result<yaml::Document, yaml::YamlError>],
    source: &Source,
    default_namespace: &str,
) -> Option<InputError> {
    let root = &trees.get(source.doc)?.as_ref().ok()?.root;
    let node = if root.start.line == source.line {
        root
    } else {
        root.get("items")?
            .items()
            .iter()
            .find(|i| i.start.line == source.line)?
    };
    let e = model::decode_explained(node.to_json(), source.clone(), default_namespace)?;
    // The line of the deepest part of the path the document has: the key itself, or the item.
    let (mut at, mut line) = (node, source.line);
    for seg in &e.path {
        let next = match seg {
            PathSegment::Key(k) => at.key(k).map(|key| (key.start.line, at.get(k))),
            PathSegment::Index(i) => at.items().get(*i).map(|n| (n.start.line, Some(n))),
        };
        match next {
            Some((l, Some(n))) => {
                line = l;
                at = n;
            }
            Some((l, None)) => {
                line = l;
                break;
            }
            None => break,
        }
    }
    let mut detail = e.source.to_string();
    // A number too large for the field reaches serde as a float or an unsigned integer: say
    // what it is.
    if let NodeKind::Scalar { value, plain: true } = &at.kind
        && !e.path.is_empty()
        && value
            .strip_prefix(['-', '+'])
            .unwrap_or(value)
            .bytes()
            .all(|b| b.is_ascii_digit())
        && (detail.starts_with("invalid type: floating point")
            || detail.starts_with("invalid value: integer"))
    {
        let expected = detail
            .rsplit_once("expected ")
            .map_or("the field's type", |(_, x)| x);
        detail = format!("{value} is out of range for {expected}");
    }
    let path = model::field_path(&e.path);
    Some(InputError {
        file: source.file.to_string(),
        line,
        message: if path.is_empty() {
            format!("{} does not match the Kubernetes schema: {detail}", e.kind)
        } else {
            format!(
                "{} does not match the Kubernetes schema at {path}: {detail}",
                e.kind
            )
        },
    })
}

fn add_value(
    mut value: Value,
    item_lines: &[usize],
    source: Source,
    default_namespace: &str,
    out: &mut Loaded,
    refused: &mut Vec<(usize, Source)>,
) {
    if !value.is_object() {
        // Empty documents and plain values are not objects; nothing to check.
        return;
    }
    let kind = value
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if kind == "List" || (kind.ends_with("List") && value.get("items").is_some()) {
        let items = match value.get_mut("items").map(Value::take) {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        };
        for (n, item) in items.into_iter().enumerate() {
            let s = Source {
                line: item_lines.get(n).copied().unwrap_or(source.line),
                ..source.clone()
            };
            add_value(item, &[], s, default_namespace, out, refused);
        }
        return;
    }
    let line = source.line;
    let file = source.file.clone();
    // Owned only for the few objects of a kind the model has no shape for.
    let skipped = (!kind.is_empty() && !model::KINDS.contains(&kind)).then(|| kind.to_owned());
    match model::decode(value, source.clone(), default_namespace) {
        Ok(Some(o)) => out.objects.push(o),
        Ok(None) => {
            if let Some(kind) = skipped {
                *out.skipped_kinds.entry(kind).or_default() += 1;
            }
        }
        Err(e) => {
            refused.push((out.errors.len(), source));
            out.errors.push(InputError {
                file: file.to_string(),
                line,
                message: e.to_string(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_multi_documents_and_a_broken_document() {
        let text = "\
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: a}
- apiVersion: v1
  kind: Service
  metadata: {name: b, namespace: prod}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ok}
spec:
  replicas: \"three\"
---
kind: ConfigMap
metadata: {name: ignored}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
";
        let l = load_text("f.yaml", text, "default");
        let names: Vec<_> = l
            .objects
            .iter()
            .map(|o| (o.name.as_str(), o.namespace.as_str(), o.source.line))
            .collect();
        assert_eq!(
            names,
            [
                ("a", "default", 4),
                ("b", "prod", 7),
                ("web", "default", 24)
            ]
        );
        assert_eq!(l.errors.len(), 2, "{:?}", l.errors);
        assert!(l.errors[0].line >= 11 && l.errors[0].line <= 14);
        // The schema error points at the field itself, with its path.
        assert_eq!(l.errors[1].line, 19);
        assert!(
            l.errors[1].message.contains("Deployment")
                && l.errors[1].message.contains("at spec.replicas"),
            "{}",
            l.errors[1]
        );
    }
}
