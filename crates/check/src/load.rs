//! Loaders: files, directories (recursive; .yaml, .yml, .json), stdin. A document that cannot be
//! read is reported with its file and line; the rest of the input still loads.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::model::{self, Object, Source};
use serde_json::Value;

use crate::yaml;

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
        ) {
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
    progress: &(dyn Fn(usize) + Sync),
) -> Loaded {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(inputs.len().max(1));
    let mut all = Loaded::default();
    if threads <= 1 || inputs.len() < 8 {
        for input in inputs {
            all.append(load_one(input, default_namespace));
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
                    let l = load_one(input, default_namespace);
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
    }
}

fn load_one(input: &Input, default_namespace: &str) -> Loaded {
    let (name, text) = match input {
        Input::Stdin => {
            let mut s = String::new();
            match std::io::stdin().read_to_string(&mut s) {
                Ok(_) => ("-".to_owned(), s),
                Err(e) => {
                    return Loaded {
                        errors: vec![InputError {
                            file: "-".into(),
                            line: 0,
                            message: format!("cannot read standard input: {e}"),
                        }],
                        ..Loaded::default()
                    };
                }
            }
        }
        Input::File(p) => {
            let name = p.display().to_string();
            match std::fs::read(p) {
                Ok(bytes) => match String::from_utf8(bytes) {
                    Ok(s) => (name, s),
                    Err(_) => {
                        return Loaded {
                            errors: vec![InputError {
                                file: name,
                                line: 0,
                                message: "not UTF-8 text".into(),
                            }],
                            files: 1,
                            ..Loaded::default()
                        };
                    }
                },
                Err(e) => {
                    return Loaded {
                        errors: vec![InputError {
                            file: name,
                            line: 0,
                            message: format!("cannot read: {e}"),
                        }],
                        ..Loaded::default()
                    };
                }
            }
        }
    };
    let mut l = load_text(&name, &text, default_namespace);
    l.files = 1;
    l
}

/// Parses one file's text (any number of YAML documents, or JSON) into objects.
pub fn load_text(file: &str, text: &str, default_namespace: &str) -> Loaded {
    let file: Arc<str> = Arc::from(file);
    let mut out = Loaded::default();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
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
                );
            }
        }
    }
    out
}

fn add_value(
    mut value: Value,
    item_lines: &[usize],
    source: Source,
    default_namespace: &str,
    out: &mut Loaded,
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
            add_value(item, &[], s, default_namespace, out);
        }
        return;
    }
    let line = source.line;
    let file = source.file.clone();
    match model::decode(value, source, default_namespace) {
        Ok(Some(o)) => out.objects.push(o),
        Ok(None) => {}
        Err(e) => out.errors.push(InputError {
            file: file.to_string(),
            line,
            message: e.to_string(),
        }),
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
        assert_eq!(l.errors[1].line, 15);
        assert!(l.errors[1].message.contains("Deployment"));
    }
}
