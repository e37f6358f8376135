//! Span-aware YAML: every node keeps the byte range and line it came from, so findings point at a
//! file and line and `steady fix` can edit the text in place without re-serialising it.
//!
//! A stream is first split at its document markers (`---` at column 0, which YAML forbids inside
//! any scalar), and each piece is parsed on its own: a malformed document is reported with its line
//! and the documents after it still load.

use std::collections::HashMap;

use granit_parser::{Event, Parser, ScalarStyle, Span};

mod fast;
use serde_json::Value;

/// A position in the whole file: byte offset, 1-based line, 0-based column in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub byte: usize,
    pub line: usize,
    pub col: usize,
}

#[derive(Debug, Clone)]
pub struct Node {
    pub kind: NodeKind,
    pub start: Pos,
    pub end: Pos,
    /// Inside an anchored node or an alias of one: the same text stands for more than one place
    /// in the document, so an edit here would change every object that shares it.
    pub shared: bool,
}

#[derive(Debug, Clone)]
pub enum NodeKind {
    Scalar {
        value: String,
        plain: bool,
    },
    Map {
        entries: Vec<(Node, Node)>,
        flow: bool,
    },
    Seq {
        items: Vec<Node>,
        flow: bool,
    },
}

/// One parsed document of a stream.
#[derive(Debug, Clone)]
pub struct Document {
    pub root: Node,
}

/// A document that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub line: usize,
    pub message: String,
}

/// Splits `text` at document markers and parses every piece. Each entry is a document or the
/// error of the piece it came from.
pub fn parse_stream(text: &str) -> Vec<Result<Document, YamlError>> {
    let mut out = Vec::new();
    for (start, end, line) in split_documents(text) {
        parse_piece(text, start, end, line, &mut out);
    }
    out
}

/// Byte ranges `[start, end)` with their first line, cut before every `---` line.
fn split_documents(text: &str) -> Vec<(usize, usize, usize)> {
    let bytes = text.as_bytes();
    let is_marker = |at: usize| {
        let b = &bytes[at..];
        b.starts_with(b"---") && (b.len() == 3 || matches!(b[3], b' ' | b'\t' | b'\n' | b'\r'))
    };
    // Markers are searched for (SIMD memmem), not found by visiting every line: a corpus of
    // 200-object files spent 3 % of all instructions in a memchr per line here.
    let candidates = std::iter::once(0)
        .chain(memchr::memmem::find_iter(bytes, b"\n---").map(|i| i + 1))
        .filter(|&at| is_marker(at));
    let mut pieces = Vec::new();
    let (mut start, mut start_line) = (0, 1);
    let (mut counted_to, mut line) = (0, 1);
    for at in candidates {
        if at > start {
            line += memchr::memchr_iter(b'\n', &bytes[counted_to..at]).count();
            counted_to = at;
            pieces.push((start, at, start_line));
            start = at;
            start_line = line;
        }
    }
    if text.len() > start || pieces.is_empty() {
        pieces.push((start, text.len(), start_line));
    }
    pieces
}

struct Frame {
    start: Pos,
    anchor: usize,
    is_map: bool,
    flow: bool,
    items: Vec<Node>,
}

struct Locator<'a> {
    piece: &'a str,
    base_byte: usize,
    base_line: usize,
    /// Byte offset of every character, only built when the piece is not ASCII.
    char_bytes: Option<Vec<usize>>,
}

impl Locator<'_> {
    fn pos(&self, m: granit_parser::Marker) -> Pos {
        let idx = m.index();
        let byte = match &self.char_bytes {
            None => idx.min(self.piece.len()),
            Some(v) => v.get(idx).copied().unwrap_or(self.piece.len()),
        };
        Pos {
            byte: self.base_byte + byte,
            line: self.base_line + m.line().saturating_sub(1),
            col: m.col(),
        }
    }
}

/// The event parser serde-saphyr is built on (the one YAML family of the binary), without
/// comment events: nothing here keeps comments.
/// A syntax error of `piece` (which starts at line `first`), with the parser's words. An error
/// found at the end of the input is placed on the piece's last line: the parser names the line
/// after the final newline, which an editor does not show. A quoted scalar left open is reported
/// by the parser as bad indentation of the lines after it, so the message says what to look for.
fn scan_error(e: &granit_parser::ScanError, piece: &str, first: usize) -> YamlError {
    let last = first + piece.trim_end_matches(['\n', '\r']).lines().count().max(1) - 1;
    let line = (first + e.marker().line().saturating_sub(1)).min(last);
    let mut info = e.info().to_owned();
    if info.contains("quoted scalar") {
        info.push_str(" (is a quote left open?)");
    }
    YamlError {
        line,
        message: format!("{info} (in the document starting at line {first})"),
    }
}

fn new_parser(piece: &str) -> Parser<'_, granit_parser::StrInput<'_>> {
    Parser::new_from_str_with_options(piece, granit_parser::options! { emit_comments: false })
}

fn parse_piece(
    text: &str,
    start: usize,
    end: usize,
    line: usize,
    out: &mut Vec<Result<Document, YamlError>>,
) {
    let piece = &text[start..end];
    let loc = Locator {
        piece,
        base_byte: start,
        base_line: line,
        char_bytes: if piece.is_ascii() {
            None
        } else {
            Some(piece.char_indices().map(|(i, _)| i).collect())
        },
    };
    let mut parser = new_parser(piece);
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, (Node, usize)> = HashMap::new();
    // Nodes copied by alias expansion in this piece; bounded so a "billion laughs" document is an
    // error, not an exhausted memory.
    let mut expanded = 0usize;
    let mut root: Option<Node> = None;
    // Bounded: every event consumes input, and the stream ends at the piece's end.
    while let Some(ev) = parser.next_event() {
        let (ev, span): (Event<'_>, Span) = match ev {
            Ok(x) => x,
            Err(e) => {
                out.push(Err(scan_error(&e, piece, line)));
                return;
            }
        };
        let node = match ev {
            // Comments are not asked for (`new_parser`), anchor metadata and unresolved aliases
            // are only emitted on request.
            Event::StreamStart | Event::Anchor(..) | Event::UnresolvedAlias(_) => continue,
            Event::StreamEnd => break,
            Event::DocumentStart(..) => {
                root = None;
                stack.clear();
                continue;
            }
            Event::DocumentEnd => {
                if let Some(r) = root.take() {
                    out.push(Ok(Document { root: r }));
                }
                continue;
            }
            Event::Alias(id) => match anchors.get(&id) {
                Some((n, size)) => {
                    expanded += size;
                    if expanded > MAX_ALIAS_NODES {
                        out.push(Err(YamlError {
                            line: loc.pos(span.start).line,
                            message: format!(
                                "aliases expand to more than {MAX_ALIAS_NODES} nodes (document starting at line {line})"
                            ),
                        }));
                        return;
                    }
                    n.clone()
                }
                None => {
                    out.push(Err(YamlError {
                        line: loc.pos(span.start).line,
                        message: "alias refers to an unknown anchor".into(),
                    }));
                    return;
                }
            },
            Event::Scalar(value, style, anchor, tag) => {
                let plain = matches!(style, ScalarStyle::Plain)
                    && !tag
                        .as_ref()
                        .is_some_and(|t| t.suffix() == "str" || t.handle() == "!");
                let n = Node {
                    kind: NodeKind::Scalar {
                        value: value.into_owned(),
                        plain,
                    },
                    start: loc.pos(span.start),
                    end: loc.pos(span.end),
                    shared: anchor != 0,
                };
                if anchor != 0 {
                    anchors.insert(anchor, (n.clone(), 1));
                }
                n
            }
            Event::MappingStart(_, anchor, _) | Event::SequenceStart(_, anchor, _) => {
                let is_map = matches!(ev, Event::MappingStart(..));
                let start_pos = loc.pos(span.start);
                let first = text.as_bytes().get(start_pos.byte).copied();
                let flow = if is_map {
                    first == Some(b'{')
                } else {
                    first == Some(b'[')
                };
                if stack.len() >= MAX_DEPTH {
                    out.push(Err(YamlError {
                        line: start_pos.line,
                        message: format!(
                            "nested deeper than {MAX_DEPTH} levels (document starting at line {line})"
                        ),
                    }));
                    return;
                }
                stack.push(Frame {
                    start: start_pos,
                    anchor,
                    is_map,
                    flow,
                    items: Vec::new(),
                });
                continue;
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let Some(f) = stack.pop() else { continue };
                let end_pos = f
                    .items
                    .last()
                    .map(|n| n.end)
                    .unwrap_or_else(|| loc.pos(span.end));
                let end_pos = if f.flow { loc.pos(span.end) } else { end_pos };
                let kind = if f.is_map {
                    let mut entries = Vec::with_capacity(f.items.len() / 2);
                    let mut it = f.items.into_iter();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        entries.push((k, v));
                    }
                    NodeKind::Map {
                        entries,
                        flow: f.flow,
                    }
                } else {
                    NodeKind::Seq {
                        items: f.items,
                        flow: f.flow,
                    }
                };
                let mut n = Node {
                    kind,
                    start: f.start,
                    end: end_pos,
                    shared: false,
                };
                if f.anchor != 0 {
                    n.mark_shared();
                    let size = n.size();
                    anchors.insert(f.anchor, (n.clone(), size));
                }
                n
            }
            // `Event::Comment` (granit's `comments` feature, which serde-saphyr turns on): never
            // emitted here either.
            #[allow(unreachable_patterns)]
            _ => continue,
        };
        match stack.last_mut() {
            Some(f) => f.items.push(node),
            None => root = Some(node),
        }
    }
    if let Some(r) = root.take() {
        out.push(Ok(Document { root: r }));
    }
}

/// A document decoded straight to JSON, the checker's fast path (no span tree): the value, the
/// line of its first node, and for a top-level mapping the lines of the entries of its `items`
/// sequence (for `kind: List`).
#[derive(Debug, Clone)]
pub struct ValueDoc {
    pub value: Value,
    pub line: usize,
    pub item_lines: Vec<usize>,
}

/// Like [`parse_stream`], decoding each document to JSON directly.
pub fn parse_values(text: &str) -> Vec<Result<ValueDoc, YamlError>> {
    let mut out = Vec::new();
    for (start, end, line) in split_documents(text) {
        values_piece(&text[start..end], line, &mut out);
    }
    out
}

enum VFrame {
    Map {
        map: serde_json::Map<String, Value>,
        key: Option<String>,
        /// Every key so far with its line, searched only for the first line of a duplicate.
        key_lines: Vec<(String, usize)>,
        anchor: usize,
    },
    Seq {
        items: Vec<Value>,
        anchor: usize,
        is_items: bool,
    },
}

fn value_size(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(value_size).sum::<usize>(),
        Value::Object(m) => 1 + m.values().map(value_size).sum::<usize>(),
        _ => 1,
    }
}

fn values_piece(piece: &str, line: usize, out: &mut Vec<Result<ValueDoc, YamlError>>) {
    if let Some((value, line)) = fast::parse_piece(piece, line) {
        out.push(Ok(ValueDoc {
            value,
            line,
            item_lines: Vec::new(),
        }));
        return;
    }
    values_piece_full(piece, line, out);
}

fn values_piece_full(piece: &str, line: usize, out: &mut Vec<Result<ValueDoc, YamlError>>) {
    let mut parser = new_parser(piece);
    let mut stack: Vec<VFrame> = Vec::new();
    let mut anchors: HashMap<usize, (Value, usize)> = HashMap::new();
    let mut expanded = 0usize;
    let mut root: Option<Value> = None;
    let mut root_line = line;
    let mut item_lines = Vec::new();
    let at = |m: granit_parser::Marker| line + m.line().saturating_sub(1);
    while let Some(ev) = parser.next_event() {
        let (ev, span) = match ev {
            Ok(x) => x,
            Err(e) => {
                out.push(Err(scan_error(&e, piece, line)));
                return;
            }
        };
        let value = match ev {
            // Comments are not asked for (`new_parser`), anchor metadata and unresolved aliases
            // are only emitted on request.
            Event::StreamStart | Event::Anchor(..) | Event::UnresolvedAlias(_) => continue,
            Event::StreamEnd => break,
            Event::DocumentStart(..) => {
                root = None;
                stack.clear();
                item_lines.clear();
                continue;
            }
            Event::DocumentEnd => {
                if let Some(r) = root.take() {
                    out.push(Ok(ValueDoc {
                        value: r,
                        line: root_line,
                        item_lines: std::mem::take(&mut item_lines),
                    }));
                }
                continue;
            }
            Event::Alias(id) => match anchors.get(&id) {
                Some((v, size)) => {
                    expanded += size;
                    if expanded > MAX_ALIAS_NODES {
                        out.push(Err(YamlError {
                            line: at(span.start),
                            message: format!(
                                "aliases expand to more than {MAX_ALIAS_NODES} nodes (document starting at line {line})"
                            ),
                        }));
                        return;
                    }
                    v.clone()
                }
                None => {
                    out.push(Err(YamlError {
                        line: at(span.start),
                        message: "alias refers to an unknown anchor".into(),
                    }));
                    return;
                }
            },
            Event::Scalar(text, style, anchor, tag) => {
                if stack.is_empty() {
                    root_line = at(span.start);
                }
                if let Some(VFrame::Map {
                    map,
                    key: key @ None,
                    key_lines,
                    ..
                }) = stack.last_mut()
                {
                    let k = text.into_owned();
                    let l = at(span.start);
                    if map.contains_key(&k) {
                        out.push(Err(duplicate_key(&k, key_lines, l)));
                        return;
                    }
                    key_lines.push((k.clone(), l));
                    *key = Some(k);
                    continue;
                }
                let plain = matches!(style, ScalarStyle::Plain)
                    && !tag
                        .as_ref()
                        .is_some_and(|t| t.suffix() == "str" || t.handle() == "!");
                let v = if plain {
                    plain_scalar(&text)
                } else {
                    Value::String(text.into_owned())
                };
                if anchor != 0 {
                    anchors.insert(anchor, (v.clone(), 1));
                }
                v
            }
            Event::MappingStart(_, anchor, _) | Event::SequenceStart(_, anchor, _) => {
                let l = at(span.start);
                if stack.len() >= MAX_DEPTH {
                    out.push(Err(YamlError {
                        line: l,
                        message: format!(
                            "nested deeper than {MAX_DEPTH} levels (document starting at line {line})"
                        ),
                    }));
                    return;
                }
                if stack.is_empty() {
                    root_line = l;
                }
                let is_map = matches!(ev, Event::MappingStart(..));
                if stack.len() == 2 && matches!(stack[1], VFrame::Seq { is_items: true, .. }) {
                    item_lines.push(l);
                }
                let is_items = !is_map
                    && stack.len() == 1
                    && matches!(&stack[0], VFrame::Map { key: Some(k), .. } if k == "items");
                stack.push(if is_map {
                    VFrame::Map {
                        map: serde_json::Map::new(),
                        key: None,
                        key_lines: Vec::new(),
                        anchor,
                    }
                } else {
                    VFrame::Seq {
                        items: Vec::new(),
                        anchor,
                        is_items,
                    }
                });
                continue;
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let (v, anchor) = match stack.pop() {
                    Some(VFrame::Map { map, anchor, .. }) => (Value::Object(map), anchor),
                    Some(VFrame::Seq { items, anchor, .. }) => (Value::Array(items), anchor),
                    None => continue,
                };
                if anchor != 0 {
                    let size = value_size(&v);
                    anchors.insert(anchor, (v.clone(), size));
                }
                v
            }
            // `Event::Comment` (granit's `comments` feature, which serde-saphyr turns on): never
            // emitted here either.
            #[allow(unreachable_patterns)]
            _ => continue,
        };
        match stack.last_mut() {
            None => root = Some(value),
            Some(VFrame::Map {
                map,
                key,
                key_lines,
                ..
            }) => match key.take() {
                Some(k) => {
                    map.insert(k, value);
                }
                None => {
                    // A collection used as a key: its JSON text is the key.
                    let k = value.to_string();
                    let l = at(span.start);
                    if map.contains_key(&k) {
                        out.push(Err(duplicate_key(&k, key_lines, l)));
                        return;
                    }
                    key_lines.push((k.clone(), l));
                    *key = Some(k);
                }
            },
            Some(VFrame::Seq { items, .. }) => items.push(value),
        }
    }
    if let Some(r) = root.take() {
        out.push(Ok(ValueDoc {
            value: r,
            line: root_line,
            item_lines,
        }));
    }
}

/// The API server refuses a manifest with a key twice in one mapping (strict decoding), and
/// which of the two values a YAML library keeps differs from one library to the next.
fn duplicate_key(key: &str, earlier: &[(String, usize)], second: usize) -> YamlError {
    let first = earlier
        .iter()
        .find(|(k, _)| k == key)
        .map_or(second, |(_, l)| *l);
    YamlError {
        line: second,
        message: format!(
            "duplicate key {key:?} at lines {first} and {second}: the API server rejects it; keep one"
        ),
    }
}

const MAX_ALIAS_NODES: usize = 100_000;
/// Kubernetes objects nest about 15 levels; recursion over deeper trees could exhaust the stack.
const MAX_DEPTH: usize = 100;

impl Node {
    fn mark_shared(&mut self) {
        self.shared = true;
        match &mut self.kind {
            NodeKind::Scalar { .. } => {}
            NodeKind::Seq { items, .. } => items.iter_mut().for_each(Node::mark_shared),
            NodeKind::Map { entries, .. } => {
                for (k, v) in entries {
                    k.mark_shared();
                    v.mark_shared();
                }
            }
        }
    }

    /// Number of nodes in this tree.
    pub fn size(&self) -> usize {
        match &self.kind {
            NodeKind::Scalar { .. } => 1,
            NodeKind::Seq { items, .. } => 1 + items.iter().map(Node::size).sum::<usize>(),
            NodeKind::Map { entries, .. } => {
                1 + entries
                    .iter()
                    .map(|(k, v)| k.size() + v.size())
                    .sum::<usize>()
            }
        }
    }

    /// The value of `key` when this node is a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            NodeKind::Map { entries, .. } => entries
                .iter()
                .find(|(k, _)| matches!(&k.kind, NodeKind::Scalar { value, .. } if value == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The key node of `key` when this node is a mapping.
    pub fn key(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            NodeKind::Map { entries, .. } => entries
                .iter()
                .find(|(k, _)| matches!(&k.kind, NodeKind::Scalar { value, .. } if value == key))
                .map(|(k, _)| k),
            _ => None,
        }
    }

    pub fn items(&self) -> &[Node] {
        match &self.kind {
            NodeKind::Seq { items, .. } => items,
            _ => &[],
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    /// Converts to JSON with the YAML 1.2 core schema for plain scalars.
    pub fn to_json(&self) -> Value {
        match &self.kind {
            NodeKind::Scalar { value, plain } => {
                if *plain {
                    plain_scalar(value)
                } else {
                    Value::String(value.clone())
                }
            }
            NodeKind::Seq { items, .. } => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeKind::Map { entries, .. } => {
                let mut m = serde_json::Map::with_capacity(entries.len());
                for (k, v) in entries {
                    let key = match &k.kind {
                        NodeKind::Scalar { value, .. } => value.clone(),
                        _ => k.to_json().to_string(),
                    };
                    m.insert(key, v.to_json());
                }
                Value::Object(m)
            }
        }
    }
}

fn plain_scalar(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let b = s.as_bytes();
    let first = b[0];
    if !(first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.')) {
        return Value::String(s.to_owned());
    }
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit()) {
        if let Ok(n) = s.parse::<i64>() {
            return Value::from(n);
        }
        if let Ok(n) = s.parse::<u64>() {
            return Value::from(n);
        }
        // Still an integer to YAML, too large for 64 bits: a float, as kubectl's YAML reader
        // makes it, so a schema error calls it a number out of range and not a string.
        if let Ok(f) = s.parse::<f64>()
            && let Some(n) = serde_json::Number::from_f64(f)
        {
            return Value::Number(n);
        }
    } else if let Some(hex) = s.strip_prefix("0x") {
        if let Ok(n) = i64::from_str_radix(hex, 16) {
            return Value::from(n);
        }
    } else if let Some(oct) = s.strip_prefix("0o") {
        if let Ok(n) = i64::from_str_radix(oct, 8) {
            return Value::from(n);
        }
    } else if digits.bytes().any(|c| c.is_ascii_digit())
        && digits
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'-' | b'+'))
        && let Ok(f) = s.parse::<f64>()
        && let Some(n) = serde_json::Number::from_f64(f)
    {
        return Value::Number(n);
    }
    Value::String(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_lines_and_errors() {
        let text = "# head\na: 1\n---\nb: [1, 2\n---\nkind: X\nname: \"ü\"\n";
        let docs = parse_stream(text);
        assert_eq!(docs.len(), 3);
        let a = docs[0].as_ref().unwrap();
        assert_eq!(a.root.start.line, 2);
        assert_eq!(a.root.to_json(), serde_json::json!({"a": 1}));
        assert!(docs[1].as_ref().unwrap_err().line >= 4);
        let c = docs[2].as_ref().unwrap();
        assert_eq!(c.root.start.line, 6);
        let name = c.root.get("name").unwrap();
        assert_eq!(&text[name.start.byte..name.end.byte], "\"ü\"");
    }

    /// Errors at the end of the input sit on the last line there is, in both parsers' paths
    /// (span tree and values), and an open quote is named as the likely cause.
    #[test]
    fn an_open_quote_at_the_end_is_placed_on_its_line() {
        for quote in ['\'', '"'] {
            let text = format!("kind: ConfigMap\ndata:\n  a: {quote}abc\n");
            let e = parse_stream(&text).pop().unwrap().unwrap_err();
            assert_eq!(e.line, 3, "{e:?}");
            assert!(e.message.contains("is a quote left open?"), "{e:?}");
            let e = parse_values(&format!("---\n{text}"))
                .pop()
                .unwrap()
                .err()
                .unwrap();
            assert_eq!(e.line, 4, "{e:?}");
            assert!(e.message.contains("is a quote left open?"), "{e:?}");
        }
        // A bracket left open is placed where it opens, not after the end.
        let e = parse_stream("kind: X\na: [1, 2\n")
            .pop()
            .unwrap()
            .unwrap_err();
        assert_eq!(e.line, 2, "{e:?}");
    }

    /// The line-by-line split this replaced, kept as the reference.
    fn split_by_lines(text: &str) -> Vec<(usize, usize, usize)> {
        let mut pieces = Vec::new();
        let (mut start, mut start_line, mut offset) = (0, 1, 0);
        for (line, l) in (1..).zip(text.split_inclusive('\n')) {
            let b = l.as_bytes();
            let is_marker = b.starts_with(b"---")
                && (b.len() == 3 || matches!(b[3], b' ' | b'\t' | b'\n' | b'\r'));
            if is_marker && offset > start {
                pieces.push((start, offset, start_line));
                start = offset;
                start_line = line;
            }
            offset += l.len();
        }
        if offset > start || pieces.is_empty() {
            pieces.push((start, offset, start_line));
        }
        pieces
    }

    #[test]
    fn documents_split_at_markers_only() {
        let cases = [
            "",
            "---",
            "---\n",
            "a: 1\n",
            "---\na: 1\n---\nb: 2\n",
            "a: 1\n---\n---\nb: 2",
            "a: 1\n--- # c\nb: 2\n---\tx\n---\r\nc: 3\n",
            "a: '---'\nb: ---\n----\n---x\n ---\n---",
            "\n\n---\n\n\n---\n\n",
            "ü: 1\n---\nkind: X\n",
        ];
        for text in cases {
            assert_eq!(split_documents(text), split_by_lines(text), "{text:?}");
        }
        // And every prefix of a real multi-document file.
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/check/broken/app.yaml"
        ))
        .unwrap();
        for end in (0..=text.len()).filter(|&e| text.is_char_boundary(e)) {
            assert_eq!(split_documents(&text[..end]), split_by_lines(&text[..end]));
        }
    }

    #[test]
    fn plain_scalars_follow_the_core_schema() {
        let docs = parse_stream("a: 007\nb: '7'\nc: 1.5\nd: yes\ne: ~\nf: 0x1F\ng: -3\nh: 1.2.3\n");
        assert_eq!(
            docs[0].as_ref().unwrap().root.to_json(),
            serde_json::json!({"a": 7, "b": "7", "c": 1.5, "d": "yes", "e": null, "f": 31, "g": -3, "h": "1.2.3"})
        );
    }

    #[test]
    fn the_fast_path_agrees_with_the_span_tree() {
        let text = "# c\na: &x {k: [1, '2', yes, ~]}\nb: *x\n---\nkind: List\nitems:\n- {kind: A}\n-\n  kind: B\n---\n{\"j\": [1.5, true]}\n";
        let trees = parse_stream(text);
        let values = parse_values(text);
        assert_eq!(trees.len(), values.len());
        for (t, v) in trees.iter().zip(&values) {
            let (t, v) = (t.as_ref().unwrap(), v.as_ref().unwrap());
            assert_eq!(t.root.to_json(), v.value);
            assert_eq!(t.root.start.line, v.line);
        }
        assert_eq!(values[1].as_ref().unwrap().item_lines, [7, 9]);
    }

    /// Every manifest in the repository, and every variant of them with one line removed or
    /// shifted: wherever the fast path answers, the full parser gives the same document.
    #[test]
    fn fast_path_agrees_with_the_full_parser() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
        let mut files = Vec::new();
        let mut dirs = vec![
            std::path::PathBuf::from(root).join("examples/check"),
            std::path::PathBuf::from(root).join("crates/check/tests/fixtures"),
        ];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|x| x == "yaml") {
                    files.push(std::fs::read_to_string(p).unwrap());
                }
            }
        }
        assert!(files.len() > 70);
        let (mut fast_hits, mut compared) = (0, 0);
        let mut check = |text: &str| {
            for (start, end, line) in split_documents(text) {
                let piece = &text[start..end];
                compared += 1;
                if let Some((v, l)) = fast::parse_piece(piece, line) {
                    fast_hits += 1;
                    let mut full = Vec::new();
                    values_piece_full(piece, line, &mut full);
                    match full.as_slice() {
                        [Ok(d)] => {
                            assert_eq!(d.value, v, "{piece}");
                            assert_eq!(d.line, l, "{piece}");
                        }
                        other => panic!(
                            "fast path accepted what the parser gives as {other:?}:\n{piece}"
                        ),
                    }
                }
            }
        };
        for f in &files {
            check(f);
            let lines: Vec<&str> = f.split_inclusive('\n').collect();
            for i in 0..lines.len() {
                let mut v = lines.clone();
                v.remove(i);
                check(&v.concat());
                let shifted = format!(" {}", lines[i]);
                let mut v = lines.clone();
                v[i] = &shifted;
                check(&v.concat());
                let unshifted = lines[i].strip_prefix("  ").unwrap_or(lines[i]);
                let mut v = lines.clone();
                v[i] = unshifted;
                check(&v.concat());
            }
        }
        assert!(
            fast_hits * 2 > compared,
            "fast path used for {fast_hits} of {compared}"
        );
    }

    #[test]
    fn deep_nesting_is_refused() {
        let doc = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let docs = parse_stream(&doc);
        // granit-parser has its own nesting limit; either way it is an error, not a crash.
        assert!(docs[0].is_err());
        let doc = format!("{}1{}", "[".repeat(120), "]".repeat(120));
        let docs = parse_stream(&doc);
        assert!(
            docs[0]
                .as_ref()
                .unwrap_err()
                .message
                .contains("nested deeper")
        );
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut doc = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            doc.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let docs = parse_stream(&doc);
        assert!(
            docs[0]
                .as_ref()
                .unwrap_err()
                .message
                .contains("aliases expand")
        );
    }

    #[test]
    fn anchors_and_aliases_are_resolved() {
        let docs = parse_stream("a: &x {k: v}\nb: *x\n");
        assert_eq!(
            docs[0].as_ref().unwrap().root.to_json(),
            serde_json::json!({"a": {"k": "v"}, "b": {"k": "v"}})
        );
    }
}
