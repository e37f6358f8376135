//! A fast path for the YAML that manifests are made of: block mappings and sequences, plain and
//! single-line quoted scalars, one-line flow collections, comments. Anything else — block scalars,
//! anchors, tags, multi-line scalars, tabs, `kind: List`, quotes and `#` on one line, … — returns
//! `None` and the caller parses the document with granit-parser instead. A differential test
//! checks that both agree wherever the fast path answers.
//!
//! Written by hand because granit-parser alone misses the checker's target (100,000 objects in
//! under 1 s, issue 13). Measured 2026-12-05 on 2 cores / 24 GiB (AMD EPYC), release build,
//! `steady check --no-config -o FORMAT DIR` on the 100,000-object corpus of bench/check (gen.py),
//! median of 5 whole-process runs (`/usr/bin/time -v` gives the same picture):
//! with this path json 0.53 s, human 0.53 s, junit 0.54 s, sarif 0.65 s; with every document
//! through granit-parser json 1.48 s, human 1.46 s, junit 1.47 s, sarif 1.60 s (2.5-2.8x); peak
//! RSS 140-143 MiB either way. Delete it when the library reaches the target on its own.

use serde_json::{Map, Value};

use super::plain_scalar;

#[derive(Clone, Copy)]
struct Line<'a> {
    indent: usize,
    text: &'a str,
    no: usize,
}

/// Parses one piece (text between document markers) holding one mapping document:
/// `Some((value, line of its first key))`, or None to let the full parser decide.
pub(super) fn parse_piece(piece: &str, first_line: usize) -> Option<(Value, usize)> {
    let mut lines = Vec::with_capacity(64);
    let bytes = piece.as_bytes();
    let mut at = 0;
    let mut next_n = 0;
    while at <= bytes.len() {
        // One pass finds the line's end and the two bytes that matter: lines are short, so a
        // separate newline search (memchr) per line would cost more in setup than in scanning.
        let mut has_hash = false;
        let mut end = bytes.len();
        for (i, &c) in bytes[at..].iter().enumerate() {
            match c {
                b'\n' => {
                    end = at + i;
                    break;
                }
                b'\t' => return None,
                b'#' => has_hash = true,
                _ => {}
            }
        }
        let raw = &piece[at..end];
        at = end + 1;
        let n = next_n;
        next_n += 1;
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let no = first_line + n;
        let mut body = raw;
        if n == 0 && body.starts_with("---") {
            body = body[3..].trim_start();
            if !(body.is_empty() || body.starts_with('#')) {
                return None;
            }
            continue;
        }
        if body.starts_with("...") || body.starts_with('%') {
            return None;
        }
        // Only a line with a `#` can carry a comment.
        let content = if has_hash { strip_comment(body)? } else { body };
        let trimmed = content.trim_end();
        let t = trimmed.trim_start();
        if t.is_empty() {
            continue;
        }
        lines.push(Line {
            indent: trimmed.len() - t.len(),
            text: t,
            no,
        });
    }
    // Empty pieces (comments, a bare `---`) go to the full parser, which knows whether they
    // make a null document.
    let first = lines.first()?;
    let line = first.no;
    let mut p = P { lines, i: 0 };
    let v = p.node(p.lines[0].indent, None)?;
    if p.i != p.lines.len() {
        return None;
    }
    if !v.is_object() {
        return None;
    }
    if v.get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k.ends_with("List"))
    {
        return None;
    }
    Some((v, line))
}

/// The line without its comment; None when quotes and `#` share the line (left to the full
/// parser).
fn strip_comment(s: &str) -> Option<&str> {
    let Some(hash) = s.find('#') else {
        return Some(s);
    };
    if s.contains(['"', '\'']) {
        return None;
    }
    let b = s.as_bytes();
    let mut i = hash;
    loop {
        if i == 0 || b[i - 1] == b' ' {
            return Some(&s[..i]);
        }
        match s[i + 1..].find('#') {
            Some(n) => i = i + 1 + n,
            None => return Some(s),
        }
    }
}

struct P<'a> {
    lines: Vec<Line<'a>>,
    i: usize,
}

impl<'a> P<'a> {
    /// Parses the node starting at the current line, whose content begins at column `indent`.
    /// `first` overrides the current line's text (the rest of a `- ` item line).
    fn node(&mut self, indent: usize, first: Option<&'a str>) -> Option<Value> {
        let text = first.unwrap_or(self.lines.get(self.i)?.text);
        if text == "-" || text.starts_with("- ") {
            self.seq(indent, first)
        } else if key_split(text).is_some() {
            self.map(indent, first)
        } else {
            None
        }
    }

    fn seq(&mut self, indent: usize, mut first: Option<&'a str>) -> Option<Value> {
        let mut items = Vec::new();
        loop {
            let text = match first.take() {
                Some(t) => t,
                None => {
                    let Some(l) = self.lines.get(self.i) else {
                        break;
                    };
                    if l.indent != indent || !(l.text == "-" || l.text.starts_with("- ")) {
                        if l.indent > indent {
                            return None;
                        }
                        break;
                    }
                    l.text
                }
            };
            let rest = text[1..].trim_start();
            if rest.is_empty() {
                self.i += 1;
                items.push(self.child(indent, false)?);
                continue;
            }
            let col = indent + (text.len() - rest.len());
            if rest == "-" || rest.starts_with("- ") || key_split(rest).is_some() {
                items.push(self.node(col, Some(rest))?);
            } else {
                items.push(inline_value(rest)?);
                self.i += 1;
                self.no_continuation(indent)?;
            }
        }
        Some(Value::Array(items))
    }

    fn map(&mut self, indent: usize, mut first: Option<&'a str>) -> Option<Value> {
        let mut m = Map::new();
        loop {
            let text = match first.take() {
                Some(t) => t,
                None => {
                    let Some(l) = self.lines.get(self.i) else {
                        break;
                    };
                    if l.indent != indent {
                        if l.indent > indent {
                            return None;
                        }
                        break;
                    }
                    l.text
                }
            };
            let (key, rest) = key_split(text)?;
            self.i += 1;
            let v = if rest.is_empty() {
                self.child(indent, true)?
            } else {
                let v = inline_value(rest)?;
                self.no_continuation(indent)?;
                v
            };
            // A duplicate key is an error the full parser reports with both lines.
            if m.insert(key.to_owned(), v).is_some() {
                return None;
            }
        }
        Some(Value::Object(m))
    }

    /// The value of a key or item with nothing after it: the block below (deeper, or a
    /// sequence at the same indentation for a mapping key), else null.
    fn child(&mut self, indent: usize, is_key: bool) -> Option<Value> {
        match self.lines.get(self.i) {
            Some(l) if l.indent > indent => self.node(l.indent, None),
            Some(l)
                if is_key && l.indent == indent && (l.text == "-" || l.text.starts_with("- ")) =>
            {
                self.seq(indent, None)
            }
            _ => Some(Value::Null),
        }
    }

    /// After an inline value, a deeper line would be a multi-line scalar: not for the fast path.
    fn no_continuation(&self, indent: usize) -> Option<()> {
        match self.lines.get(self.i) {
            Some(l) if l.indent > indent => None,
            _ => Some(()),
        }
    }
}

/// `key: rest` → (key, rest). Plain keys, or quoted keys without escapes.
fn key_split(text: &str) -> Option<(&str, &str)> {
    let first = *text.as_bytes().first()?;
    if b"-[]{}&*!|>%@`?,#".contains(&first) {
        return None;
    }
    if first == b'"' || first == b'\'' {
        let end = text[1..].find(first as char)? + 1;
        let key = &text[1..end];
        if key.contains('\\') || key.contains(first as char) {
            return None;
        }
        let after = &text[end + 1..];
        let rest = after.strip_prefix(':')?;
        if !(rest.is_empty() || rest.starts_with(' ')) {
            return None;
        }
        return Some((key, rest.trim_start_matches(' ')));
    }
    // One byte scan up to the first ": ", refusing quotes and flow indicators in the key: this
    // runs for every line of every manifest, and `str::find` with a two-byte pattern sets up a
    // substring searcher on each call.
    let b = text.as_bytes();
    let mut colon = None;
    for (i, &c) in b.iter().enumerate() {
        match c {
            b':' if b.get(i + 1) == Some(&b' ') => {
                colon = Some(i);
                break;
            }
            b'"' | b'\'' | b'{' | b'[' | b',' => return None,
            _ => {}
        }
    }
    let (key, rest) = match colon {
        Some(n) => (&text[..n], text[n + 2..].trim_start_matches(' ')),
        None => (text.strip_suffix(':')?, ""),
    };
    if key.is_empty() || key.ends_with(' ') {
        return None;
    }
    Some((key, rest))
}

/// A scalar or one-line flow collection after `key: ` or `- `; must use the whole text.
fn inline_value(s: &str) -> Option<Value> {
    let first = *s.as_bytes().first()?;
    match first {
        b'{' | b'[' => {
            let mut f = Flow { s, i: 0 };
            let v = f.value()?;
            f.ws();
            (f.i == s.len()).then_some(v)
        }
        b'"' | b'\'' => {
            let (v, used) = quoted(s)?;
            (used == s.len()).then_some(Value::String(v))
        }
        b'&' | b'*' | b'!' | b'|' | b'>' | b'%' | b'@' | b'`' | b'?' | b',' | b']' | b'}' => None,
        b'-' if s == "-" || s.starts_with("- ") => None,
        _ => {
            // A byte scan: `contains(": ")` builds a substring searcher for every scalar.
            if s.as_bytes().windows(2).any(|w| w == b": ") || s.ends_with(':') {
                return None;
            }
            Some(plain_scalar(s))
        }
    }
}

/// A quoted scalar at the start of `s`: (value, bytes used).
fn quoted(s: &str) -> Option<(String, usize)> {
    let q = s.as_bytes()[0];
    let mut out = String::new();
    let b = s.as_bytes();
    let mut i = 1;
    let mut start = 1;
    while i < b.len() {
        let c = b[i];
        if q == b'\'' && c == b'\'' {
            out.push_str(&s[start..i]);
            if b.get(i + 1) == Some(&b'\'') {
                out.push('\'');
                i += 2;
                start = i;
                continue;
            }
            return Some((out, i + 1));
        }
        if q == b'"' && c == b'"' {
            out.push_str(&s[start..i]);
            return Some((out, i + 1));
        }
        if q == b'"' && c == b'\\' {
            out.push_str(&s[start..i]);
            let e = *b.get(i + 1)?;
            match e {
                b'"' => out.push('"'),
                b'\\' => out.push('\\'),
                b'/' => out.push('/'),
                b'n' => out.push('\n'),
                b't' => out.push('\t'),
                b'r' => out.push('\r'),
                b'0' => out.push('\0'),
                b'u' => {
                    let hex = s.get(i + 2..i + 6)?;
                    let cp = u32::from_str_radix(hex, 16).ok()?;
                    out.push(char::from_u32(cp)?);
                    i += 4;
                }
                _ => return None,
            }
            i += 2;
            start = i;
            continue;
        }
        i += 1;
    }
    None
}

struct Flow<'a> {
    s: &'a str,
    i: usize,
}

impl Flow<'_> {
    fn ws(&mut self) {
        while self.s.as_bytes().get(self.i) == Some(&b' ') {
            self.i += 1;
        }
    }
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }
    fn value(&mut self) -> Option<Value> {
        self.ws();
        match self.peek()? {
            b'{' => {
                self.i += 1;
                let mut m = Map::new();
                self.ws();
                if self.peek()? == b'}' {
                    self.i += 1;
                    return Some(Value::Object(m));
                }
                loop {
                    self.ws();
                    let k = match self.scalar(true)? {
                        Value::String(s) => s,
                        Value::Null => return None,
                        other => other.to_string(),
                    };
                    self.ws();
                    if self.peek()? != b':' {
                        return None;
                    }
                    self.i += 1;
                    self.ws();
                    let v = match self.peek()? {
                        b',' | b'}' => Value::Null,
                        _ => self.value()?,
                    };
                    if m.insert(k, v).is_some() {
                        return None;
                    }
                    self.ws();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b'}' => {
                            self.i += 1;
                            return Some(Value::Object(m));
                        }
                        _ => return None,
                    }
                }
            }
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.peek()? == b']' {
                    self.i += 1;
                    return Some(Value::Array(items));
                }
                loop {
                    items.push(self.value()?);
                    self.ws();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            return Some(Value::Array(items));
                        }
                        _ => return None,
                    }
                }
            }
            _ => self.scalar(false),
        }
    }
    /// A scalar inside a flow collection; `key` stops plain scalars at `:` too.
    fn scalar(&mut self, key: bool) -> Option<Value> {
        let rest = &self.s[self.i..];
        match *rest.as_bytes().first()? {
            b'"' | b'\'' => {
                let (v, used) = quoted(rest)?;
                self.i += used;
                Some(Value::String(v))
            }
            b'&' | b'*' | b'!' | b'|' | b'>' | b'%' | b'@' | b'`' | b'?' | b'{' | b'[' | b'#'
            | b'-' => {
                // A plain scalar may start with '-' followed by a digit (a negative number).
                if rest.starts_with('-') && rest.as_bytes().get(1).is_some_and(u8::is_ascii_digit) {
                    self.plain(rest, key)
                } else {
                    None
                }
            }
            _ => self.plain(rest, key),
        }
    }
    fn plain(&mut self, rest: &str, key: bool) -> Option<Value> {
        let b = rest.as_bytes();
        let mut end = 0;
        while end < b.len() {
            match b[end] {
                b',' | b']' | b'}' | b'[' | b'{' => break,
                b':' if key || b.get(end + 1).is_none_or(|c| b" ,]}".contains(c)) => break,
                b'#' => return None,
                _ => end += 1,
            }
        }
        let text = rest[..end].trim_end();
        if text.is_empty() {
            return None;
        }
        self.i += end;
        Some(plain_scalar(text))
    }
}
