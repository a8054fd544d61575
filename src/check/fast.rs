//! A fast reader for the block-style YAML that renderers write (`helm template`, `kustomize
//! build`, `kubectl get -o yaml`), as a serde `Deserializer`, so that the workload types
//! `check` reads deserialize through it with the same visitors as through the full parser.
//!
//! Why it exists (measurements in docs/ci.md, "How fast"): the full parser (libyaml through
//! serde_yaml_ng) builds every event of every document, including probes, resources, volumes
//! and managed fields that `check` never reads; it runs at about 20 MB/s. This reader walks
//! lines: fields the target type does not read (`deserialize_ignored_any`) are skipped line by
//! line without building anything, and only names, labels, annotations, container names,
//! images, `env` and `envFrom` are built.
//!
//! Correctness never depends on it. It understands a strict subset: block mappings and block
//! sequences by indentation, single-line plain and quoted scalars, one-line flow collections
//! (only checked, and only where nothing is read), and `|`/`>` block scalars where nothing is
//! read. Anything else — anchors, aliases, tags, merge keys, multi-line flow or quoted
//! scalars, escapes in read values, tabs, CR line ends, control characters, explicit keys,
//! directives, unusual indentation — makes it return [`Fallback`], and the caller parses the
//! document with the full parser, which also gives the error message and line of a malformed
//! document. A differential test (`tests` below, and `input::tests`) compares both readers.

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};
use std::borrow::Cow;
use std::fmt;

/// The document is outside the subset this reader understands: use the full parser.
#[derive(Debug, PartialEq, Eq)]
pub struct Fallback;

impl fmt::Display for Fallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("outside the fast reader's subset")
    }
}

impl std::error::Error for Fallback {}

impl de::Error for Fallback {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Fallback
    }
}

type Result<T> = std::result::Result<T, Fallback>;

/// Nesting deeper than this is left to the full parser (which has its own limit).
const MAX_DEPTH: usize = 64;

/// Deserializes `T` from one YAML document, or says the document must go to the full parser.
pub fn from_str<T: DeserializeOwned>(doc: &str) -> Result<T> {
    if !plain_text(doc) {
        return Err(Fallback);
    }
    let mut p = Parser { src: doc, pos: 0, cur: None, depth: 0 };
    let first = p.peek().ok_or(Fallback)?;
    if first.text.starts_with('%') || first.text.starts_with("---") || is_seq_entry(first.text) {
        return Err(Fallback);
    }
    let v = T::deserialize(ValueDe { p: &mut p, slot: Slot::MapHere(first.indent) })?;
    // The top-level mapping must be the whole document.
    if p.peek().is_some() {
        return Err(Fallback);
    }
    Ok(v)
}

/// Whether every character is one the subset handles: printable ASCII and `\n`, or non-ASCII
/// text other than the characters YAML treats as line breaks, byte-order marks or
/// non-printable (C1 controls, U+2028, U+2029, U+FEFF, U+FFFE, U+FFFF).
fn plain_text(doc: &str) -> bool {
    let b = doc.as_bytes();
    // Branch-free over 64-byte blocks, so that it vectorizes: any byte outside 0x20..0x7e but `\n`.
    let odd = |c: &u8| u8::from((*c < 0x20 && *c != b'\n') || *c >= 0x7f);
    let mut blocks = b.chunks_exact(64);
    let any_odd = blocks.by_ref().any(|blk| blk.iter().fold(0u8, |acc, c| acc | odd(c)) != 0)
        || blocks.remainder().iter().any(|c| odd(c) != 0);
    if !any_odd {
        return true;
    }
    if b.iter().any(|&c| (c < 0x20 && c != b'\n') || c == 0x7f) {
        return false;
    }
    !doc.chars()
        .any(|c| matches!(c, '\u{80}'..='\u{9f}' | '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'))
}

/// The offset of the first ` #` (a comment start after a space), searched with memchr.
fn comment_start(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut from = 0;
    while let Some(i) = memchr::memchr(b'#', &b[from..]) {
        let k = from + i;
        if k > 0 && b[k - 1] == b' ' {
            return Some(k - 1);
        }
        from = k + 1;
    }
    None
}

/// Whether a plain scalar holds `: ` (a mapping indicator where none may be).
fn has_colon_space(s: &str) -> bool {
    let b = s.as_bytes();
    let mut from = 0;
    while let Some(i) = memchr::memchr(b':', &b[from..]) {
        let k = from + i;
        if b.get(k + 1) == Some(&b' ') {
            return true;
        }
        from = k + 1;
    }
    false
}

/// One logical line: its indentation and its text (after the indentation, trailing spaces
/// removed). A sequence entry's content (`- name: x`) becomes a line of its own, indented to
/// where that content starts.
#[derive(Clone, Copy, Debug)]
struct Line<'a> {
    indent: usize,
    text: &'a str,
}

struct Parser<'a> {
    src: &'a str,
    /// Byte offset of the next physical line not yet read.
    pos: usize,
    /// The current line, read but not consumed.
    cur: Option<Line<'a>>,
    depth: usize,
}

impl<'a> Parser<'a> {
    /// The next physical line (without its `\n`), advancing past it.
    fn physical(&mut self) -> Option<&'a str> {
        if self.pos >= self.src.len() {
            return None;
        }
        let rest = &self.src[self.pos..];
        let (line, adv) = match memchr::memchr(b'\n', rest.as_bytes()) {
            Some(i) => (&rest[..i], i + 1),
            None => (rest, rest.len()),
        };
        self.pos += adv;
        Some(line)
    }

    /// The current line, skipping blank and comment lines.
    fn peek(&mut self) -> Option<Line<'a>> {
        if self.cur.is_none() {
            while let Some(l) = self.physical() {
                let indent = l.bytes().take_while(|&b| b == b' ').count();
                let text = l[indent..].trim_end_matches(' ');
                if text.is_empty() || text.starts_with('#') {
                    continue;
                }
                self.cur = Some(Line { indent, text });
                break;
            }
        }
        self.cur
    }

    fn bump(&mut self) {
        self.cur = None;
    }

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH { Err(Fallback) } else { Ok(()) }
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// What follows a `key:` or `-` with nothing after it on its line.
    fn below(&mut self, parent: usize, compact: bool) -> Below {
        match self.peek() {
            Some(l) if l.indent > parent => {
                if is_seq_entry(l.text) {
                    Below::Seq(l.indent, false)
                } else {
                    Below::Map(l.indent)
                }
            }
            Some(l) if l.indent == parent && compact && is_seq_entry(l.text) => Below::Seq(l.indent, true),
            _ => Below::Null,
        }
    }

    /// Consumes the `-` of the sequence entry on the current line and says where its value is.
    fn seq_entry(&mut self, l: Line<'a>) -> Result<Slot<'a>> {
        let after = &l.text[1..];
        let rest = after.trim_start_matches(' ');
        if rest.is_empty() || rest.starts_with('#') {
            self.bump();
            return Ok(Slot::Below { parent: l.indent, compact: false });
        }
        if is_seq_entry(rest) || rest.starts_with('?') {
            return Err(Fallback);
        }
        if starts_key(rest)? {
            let indent = l.indent + 1 + (after.len() - rest.len());
            self.cur = Some(Line { indent, text: rest });
            return Ok(Slot::MapHere(indent));
        }
        self.bump();
        Ok(Slot::Inline { text: rest, parent: l.indent })
    }

    /// Skips a node's value without building it, checking that it is inside the subset.
    fn skip(&mut self, slot: Slot<'a>) -> Result<()> {
        self.enter()?;
        let r = match slot {
            Slot::Inline { text, parent } => self.skip_inline(text, parent),
            Slot::Below { parent, compact } => match self.below(parent, compact) {
                Below::Null => Ok(()),
                Below::Map(m) => self.skip_map(m),
                Below::Seq(s, compact) => self.skip_seq(s, compact),
            },
            Slot::MapHere(m) => self.skip_map(m),
        };
        self.leave();
        r
    }

    fn skip_map(&mut self, m: usize) -> Result<()> {
        while let Some(l) = self.peek() {
            if l.indent < m {
                break;
            }
            let slot = map_entry(self, l, m)?.1;
            self.skip(slot)?;
        }
        Ok(())
    }

    fn skip_seq(&mut self, s: usize, compact: bool) -> Result<()> {
        while let Some(l) = self.peek() {
            if l.indent < s || (l.indent == s && compact && !is_seq_entry(l.text)) {
                break;
            }
            if l.indent > s || !is_seq_entry(l.text) {
                return Err(Fallback);
            }
            let slot = self.seq_entry(l)?;
            self.skip(slot)?;
        }
        Ok(())
    }

    fn skip_inline(&mut self, text: &'a str, parent: usize) -> Result<()> {
        match text.as_bytes()[0] {
            b'[' | b'{' => skip_flow(text),
            b'|' | b'>' => self.skip_block_scalar(text, parent),
            b'"' => skip_quoted(text.as_bytes(), 0).and_then(|end| after_scalar(&text[end..])),
            _ => scalar(text).map(drop),
        }
    }

    /// Skips a `|` or `>` block scalar's content lines (nothing is read from them).
    fn skip_block_scalar(&mut self, header: &str, parent: usize) -> Result<()> {
        // `|`, `|-`, `|+` (and `>`…), then nothing or a comment; explicit indentation
        // indicators are left to the full parser.
        let h = &header[1..];
        let rest = h.strip_prefix(['-', '+']).unwrap_or(h);
        if !(rest.is_empty() || (rest.starts_with(' ') && strip_comment(rest).is_empty())) {
            return Err(Fallback);
        }
        debug_assert!(self.cur.is_none());
        let mut content: Option<usize> = None;
        let mut leading_blank = 0;
        loop {
            let save = self.pos;
            let Some(l) = self.physical() else { break };
            let indent = l.bytes().take_while(|&b| b == b' ').count();
            if indent == l.len() {
                if content.is_none() {
                    leading_blank = leading_blank.max(indent);
                }
                continue;
            }
            match content {
                None if indent <= parent => {
                    self.pos = save;
                    break;
                }
                None => {
                    if leading_blank > indent {
                        return Err(Fallback);
                    }
                    content = Some(indent);
                }
                Some(c) if indent < c => {
                    if indent > parent {
                        return Err(Fallback);
                    }
                    self.pos = save;
                    break;
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}

/// Where a node's value is.
#[derive(Clone, Copy, Debug)]
enum Slot<'a> {
    /// On the same line as its key or `-` (a scalar or a flow collection); `parent` is the
    /// indentation of the mapping or sequence holding it.
    Inline { text: &'a str, parent: usize },
    /// On the following lines: a block collection indented more than `parent` (or a sequence at
    /// `parent` when `compact`, i.e. a mapping value), or else nothing (null).
    Below { parent: usize, compact: bool },
    /// A block mapping whose first entry is the current line, at this indentation.
    MapHere(usize),
}

enum Below {
    Null,
    Map(usize),
    /// A sequence at this indentation; `true` when it is a compact one (at its key's indentation).
    Seq(usize, bool),
}

fn is_seq_entry(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

/// Removes a trailing ` #comment` (the text has no quotes where this is used).
fn strip_comment(s: &str) -> &str {
    let s = s.trim_start_matches(' ');
    if s.starts_with('#') {
        return "";
    }
    match comment_start(s) {
        Some(i) => s[..i].trim_end_matches(' '),
        None => s,
    }
}

/// Whether a sequence entry's content is a mapping (`key: value` or `key:`).
fn starts_key(text: &str) -> Result<bool> {
    match text.as_bytes()[0] {
        b'"' | b'\'' => {
            let (_, rest) = quoted(text)?;
            Ok(rest.starts_with(':') && (rest.len() == 1 || rest.as_bytes()[1] == b' '))
        }
        b'[' | b'{' | b'|' | b'>' | b'&' | b'*' | b'!' | b'%' | b'@' | b'`' | b'#' | b',' | b']' | b'}' => Ok(false),
        _ => Ok(plain_key_end(text).is_some()),
    }
}

/// The offset of the `:` ending a plain key, if the line has one before any comment.
fn plain_key_end(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(j) = memchr::memchr2(b':', b'#', &b[i..]) {
        let k = i + j;
        if b[k] == b'#' {
            if k > 0 && b[k - 1] == b' ' {
                return None;
            }
        } else if k + 1 == b.len() || b[k + 1] == b' ' {
            return Some(k);
        }
        i = k + 1;
    }
    None
}

/// Splits a mapping entry line into its key and where its value is. The line is consumed.
fn map_entry<'a>(p: &mut Parser<'a>, l: Line<'a>, m: usize) -> Result<(Cow<'a, str>, Slot<'a>)> {
    if l.indent != m || is_seq_entry(l.text) {
        return Err(Fallback);
    }
    let (key, rest) = match l.text.as_bytes()[0] {
        b'"' | b'\'' => {
            let (k, rest) = quoted(l.text)?;
            let rest = rest.strip_prefix(':').ok_or(Fallback)?;
            if !(rest.is_empty() || rest.starts_with(' ')) {
                return Err(Fallback);
            }
            (k, rest)
        }
        b'?' | b'[' | b'{' | b'|' | b'>' | b'&' | b'*' | b'!' | b'%' | b'@' | b'`' | b',' | b']' | b'}' | b'-'
        | b':' => {
            // `-x: 1` and `:x: 1` are plain keys, but rare enough to leave to the full parser.
            return Err(Fallback);
        }
        _ => {
            let i = plain_key_end(l.text).ok_or(Fallback)?;
            let k = l.text[..i].trim_end_matches(' ');
            if k == "<<" {
                return Err(Fallback);
            }
            (Cow::Borrowed(k), &l.text[i + 1..])
        }
    };
    p.bump();
    let rest = rest.trim_start_matches(' ');
    let slot = if rest.is_empty() || rest.starts_with('#') {
        Slot::Below { parent: m, compact: true }
    } else {
        Slot::Inline { text: rest, parent: m }
    };
    Ok((key, slot))
}

/// A quoted scalar at the start of `text`: its value and what follows the closing quote.
fn quoted(text: &str) -> Result<(Cow<'_, str>, &str)> {
    let b = text.as_bytes();
    match b[0] {
        b'"' => {
            let end = memchr::memchr2(b'"', b'\\', &b[1..]).ok_or(Fallback)? + 1;
            if b[end] == b'\\' {
                return Err(Fallback);
            }
            Ok((Cow::Borrowed(&text[1..end]), &text[end + 1..]))
        }
        b'\'' => {
            let mut i = 1;
            let mut owned: Option<String> = None;
            loop {
                let j = i + memchr::memchr(b'\'', &b[i..]).ok_or(Fallback)?;
                if b.get(j + 1) == Some(&b'\'') {
                    owned.get_or_insert_with(String::new).push_str(&text[i..=j]);
                    i = j + 2;
                    continue;
                }
                let v = match owned {
                    Some(mut s) => {
                        s.push_str(&text[i..j]);
                        Cow::Owned(s)
                    }
                    None => Cow::Borrowed(&text[1..j]),
                };
                return Ok((v, &text[j + 1..]));
            }
        }
        _ => Err(Fallback),
    }
}

/// Skips a double-quoted scalar starting at `b[i]` without decoding it; returns the offset after
/// its closing quote. Escapes are checked as YAML defines them (libyaml rejects others).
fn skip_quoted(b: &[u8], i: usize) -> Result<usize> {
    let mut j = i + 1;
    loop {
        let k = j + memchr::memchr2(b'"', b'\\', b.get(j..).ok_or(Fallback)?).ok_or(Fallback)?;
        if b[k] == b'"' {
            return Ok(k + 1);
        }
        let hex = |n: usize| {
            b.get(k + 2..k + 2 + n)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
                .then_some(2 + n)
                .ok_or(Fallback)
        };
        j = k + match b.get(k + 1).ok_or(Fallback)? {
            b'0' | b'a' | b'b' | b't' | b'\t' | b'n' | b'v' | b'f' | b'r' | b'e' | b' ' | b'"' | b'/' | b'\\'
            | b'N' | b'_' | b'L' | b'P' => 2,
            b'x' => hex(2)?,
            b'u' => hex(4)?,
            b'U' => hex(8)?,
            _ => return Err(Fallback),
        };
    }
}

/// What may follow a scalar on its line: nothing, or spaces and a comment.
fn after_scalar(rest: &str) -> Result<()> {
    if rest.is_empty() || (rest.starts_with(' ') && strip_comment(rest).is_empty()) { Ok(()) } else { Err(Fallback) }
}

/// A scalar on one line (with an optional trailing comment), as the full parser reads it.
#[derive(Debug, PartialEq)]
enum Scalar<'a> {
    Plain(&'a str),
    Quoted(Cow<'a, str>),
}

fn scalar(text: &str) -> Result<Scalar<'_>> {
    let b = text.as_bytes();
    match b[0] {
        b'"' | b'\'' => {
            let (v, rest) = quoted(text)?;
            if !(rest.is_empty() || (rest.starts_with(' ') && strip_comment(rest).is_empty())) {
                return Err(Fallback);
            }
            Ok(Scalar::Quoted(v))
        }
        b'[' | b']' | b'{' | b'}' | b',' | b'#' | b'&' | b'*' | b'!' | b'|' | b'>' | b'%' | b'@' | b'`' => {
            Err(Fallback)
        }
        // `-x` and `:x` are plain scalars in block context (`value: :8080`); `- x` and `: x` are
        // not. `?x` is rare enough to leave to the full parser.
        b'-' | b':' if b.len() == 1 || b[1] == b' ' => Err(Fallback),
        b'?' => Err(Fallback),
        _ => {
            let v = match comment_start(text) {
                Some(i) => text[..i].trim_end_matches(' '),
                None => text,
            };
            // `a: b` inside a value, or a value ending in `:`, is a mapping where none may be.
            if v.ends_with(':') || has_colon_space(v) {
                return Err(Fallback);
            }
            Ok(Scalar::Plain(v))
        }
    }
}

/// Checks a flow collection that opens and closes on this line (only skipped, never read).
fn skip_flow(text: &str) -> Result<()> {
    #[derive(PartialEq, Clone, Copy)]
    enum Expect {
        /// A node or the closing bracket (right after an opening bracket).
        NodeOrClose,
        /// A node (after a comma or a `:`).
        Node,
        /// A comma, the closing bracket or (in a mapping, after a key) a `:`.
        Sep,
    }
    let b = text.as_bytes();
    let mut stack = [0u8; MAX_DEPTH];
    // Whether the current mapping entry at each depth has had its `:` (one per entry).
    let mut colon = [false; MAX_DEPTH];
    let mut depth = 0;
    let mut expect = Expect::Node;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' => i += 1,
            b'[' | b'{' if expect != Expect::Sep => {
                if depth == MAX_DEPTH {
                    return Err(Fallback);
                }
                stack[depth] = if c == b'[' { b']' } else { b'}' };
                colon[depth] = false;
                depth += 1;
                expect = Expect::NodeOrClose;
                i += 1;
            }
            b']' | b'}' if expect != Expect::Node => {
                if depth == 0 || stack[depth - 1] != c {
                    return Err(Fallback);
                }
                depth -= 1;
                expect = Expect::Sep;
                i += 1;
                if depth == 0 {
                    let rest = &text[i..];
                    return if rest.is_empty() || (rest.starts_with(' ') && strip_comment(rest).is_empty()) {
                        Ok(())
                    } else {
                        Err(Fallback)
                    };
                }
            }
            b',' if expect == Expect::Sep => {
                if depth > 0 {
                    colon[depth - 1] = false;
                }
                expect = Expect::Node;
                i += 1;
            }
            b':' if expect == Expect::Sep
                && depth > 0
                && stack[depth - 1] == b'}'
                && !colon[depth - 1]
                && b.get(i + 1) == Some(&b' ') =>
            {
                colon[depth - 1] = true;
                expect = Expect::Node;
                i += 1;
            }
            b'"' if expect != Expect::Sep => {
                i = skip_quoted(b, i)?;
                expect = Expect::Sep;
            }
            b'\'' if expect != Expect::Sep => {
                let mut j = i + 1;
                loop {
                    match b.get(j) {
                        None => return Err(Fallback),
                        Some(b'\'') if b.get(j + 1) == Some(&b'\'') => j += 2,
                        Some(b'\'') => break,
                        Some(_) => j += 1,
                    }
                }
                i = j + 1;
                expect = Expect::Sep;
            }
            _ if expect != Expect::Sep => {
                // A plain scalar: not starting with an indicator, ending at a flow indicator or
                // at `: `.
                if matches!(
                    c,
                    b'#' | b'&' | b'*' | b'!' | b'|' | b'>' | b'%' | b'@' | b'`' | b'?' | b':' | b',' | b']' | b'}'
                ) || (c == b'-' && matches!(b.get(i + 1), None | Some(b' ' | b',' | b']' | b'}')))
                {
                    return Err(Fallback);
                }
                let mut j = i + 1;
                while let Some(&d) = b.get(j) {
                    if matches!(d, b',' | b'[' | b']' | b'{' | b'}')
                        || (d == b':' && matches!(b.get(j + 1), None | Some(b' ' | b',' | b']' | b'}')))
                        || (d == b'#' && b[j - 1] == b' ')
                    {
                        break;
                    }
                    j += 1;
                }
                if matches!(b.get(j), Some(b'[' | b'{' | b'#')) {
                    return Err(Fallback);
                }
                i = j;
                expect = Expect::Sep;
            }
            _ => return Err(Fallback),
        }
    }
    // Not closed on this line.
    Err(Fallback)
}

fn is_null(s: &str) -> bool {
    matches!(s, "~" | "null" | "Null" | "NULL")
}

/// Whether an inline value is exactly an empty flow collection (`[]` or `{}`), maybe commented.
fn empty_flow(text: &str, which: &str) -> bool {
    text.strip_prefix(which)
        .is_some_and(|rest| rest.is_empty() || (rest.starts_with(' ') && strip_comment(rest).is_empty()))
}

// ---------------------------------------------------------------------------------------------
// serde

struct ValueDe<'p, 'a> {
    p: &'p mut Parser<'a>,
    slot: Slot<'a>,
}

impl<'p, 'a> ValueDe<'p, 'a> {
    fn map_indent(&mut self) -> Result<Option<usize>> {
        match self.slot {
            Slot::MapHere(m) => Ok(Some(m)),
            Slot::Below { parent, compact } => match self.p.below(parent, compact) {
                Below::Null => Ok(None),
                Below::Map(m) => Ok(Some(m)),
                Below::Seq(..) => Err(Fallback),
            },
            Slot::Inline { text, .. } if empty_flow(text, "{}") => Ok(None),
            Slot::Inline { .. } => Err(Fallback),
        }
    }
}

impl<'de, 'p, 'a> de::Deserializer<'de> for ValueDe<'p, 'a> {
    type Error = Fallback;

    fn deserialize_any<V: Visitor<'de>>(self, _v: V) -> Result<V::Value> {
        Err(Fallback)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.p.skip(self.slot)?;
        v.visit_unit()
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        match self.slot {
            Slot::Inline { text, .. } => match scalar(text) {
                Ok(Scalar::Plain(s)) if is_null(s) => v.visit_none(),
                _ => v.visit_some(self),
            },
            Slot::Below { parent, compact } => match self.p.below(parent, compact) {
                Below::Null => v.visit_none(),
                _ => v.visit_some(self),
            },
            Slot::MapHere(_) => v.visit_some(self),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        match self.slot {
            Slot::Inline { text, .. } => match scalar(text)? {
                Scalar::Plain(s) => v.visit_str(s),
                Scalar::Quoted(Cow::Borrowed(s)) => v.visit_str(s),
                Scalar::Quoted(Cow::Owned(s)) => v.visit_string(s),
            },
            Slot::Below { parent, compact } => match self.p.below(parent, compact) {
                // The full parser reads a missing value as the empty plain scalar.
                Below::Null => v.visit_str(""),
                _ => Err(Fallback),
            },
            Slot::MapHere(_) => Err(Fallback),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.deserialize_str(v)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.deserialize_str(v)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        match self.slot {
            Slot::Inline { text, .. } => match scalar(text)? {
                Scalar::Plain("true" | "True" | "TRUE") => v.visit_bool(true),
                Scalar::Plain("false" | "False" | "FALSE") => v.visit_bool(false),
                _ => Err(Fallback),
            },
            _ => Err(Fallback),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(mut self, v: V) -> Result<V::Value> {
        let indent = self.map_indent()?;
        self.p.enter()?;
        let r = v.visit_map(MapAcc { p: self.p, indent, value: None });
        self.p.leave();
        r
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value> {
        self.deserialize_map(v)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        let seq = match self.slot {
            Slot::Below { parent, compact } => match self.p.below(parent, compact) {
                Below::Null => None,
                Below::Seq(s, compact) => Some((s, compact)),
                Below::Map(_) => return Err(Fallback),
            },
            Slot::Inline { text, .. } if empty_flow(text, "[]") => None,
            _ => return Err(Fallback),
        };
        self.p.enter()?;
        let r = v.visit_seq(SeqAcc { p: self.p, seq });
        self.p.leave();
        r
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, v: V) -> Result<V::Value> {
        v.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf unit unit_struct
        tuple tuple_struct enum
    }
}

struct MapAcc<'p, 'a> {
    p: &'p mut Parser<'a>,
    /// `None`: an empty mapping.
    indent: Option<usize>,
    value: Option<Slot<'a>>,
}

impl<'de, 'p, 'a> de::MapAccess<'de> for MapAcc<'p, 'a> {
    type Error = Fallback;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        let Some(m) = self.indent else { return Ok(None) };
        let Some(l) = self.p.peek() else { return Ok(None) };
        if l.indent < m {
            return Ok(None);
        }
        let (key, slot) = map_entry(self.p, l, m)?;
        self.value = Some(slot);
        match key {
            Cow::Borrowed(k) => seed.deserialize(k.into_deserializer()).map(Some),
            Cow::Owned(k) => seed.deserialize(k.into_deserializer()).map(Some),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        let slot = self.value.take().ok_or(Fallback)?;
        seed.deserialize(ValueDe { p: self.p, slot })
    }
}

struct SeqAcc<'p, 'a> {
    p: &'p mut Parser<'a>,
    /// `None`: an empty sequence; else its indentation and whether it is compact.
    seq: Option<(usize, bool)>,
}

impl<'de, 'p, 'a> de::SeqAccess<'de> for SeqAcc<'p, 'a> {
    type Error = Fallback;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        let Some((s, compact)) = self.seq else { return Ok(None) };
        let Some(l) = self.p.peek() else { return Ok(None) };
        if l.indent < s || (l.indent == s && compact && !is_seq_entry(l.text)) {
            return Ok(None);
        }
        if l.indent > s || !is_seq_entry(l.text) {
            return Err(Fallback);
        }
        let slot = self.p.seq_entry(l)?;
        seed.deserialize(ValueDe { p: self.p, slot }).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::collections::BTreeMap;

    #[derive(Deserialize, Debug, PartialEq)]
    struct Doc {
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        labels: Option<BTreeMap<String, String>>,
        #[serde(default)]
        list: Option<Vec<Item>>,
        #[serde(default)]
        flag: Option<bool>,
    }

    #[derive(Deserialize, Debug, PartialEq)]
    struct Item {
        name: String,
        #[serde(default)]
        value: Option<String>,
    }

    /// Both readers, on one document: the fast one must agree with the full one or step aside.
    fn agree(doc: &str) -> Option<Doc> {
        let full = serde_yaml_ng::from_str::<Doc>(doc);
        match from_str::<Doc>(doc) {
            Ok(fast) => {
                let full =
                    full.unwrap_or_else(|e| panic!("fast reader accepted what the full one rejects ({e}):\n{doc}"));
                assert_eq!(fast, full, "{doc}");
                Some(fast)
            }
            Err(Fallback) => None,
        }
    }

    #[test]
    fn reads_the_block_subset() {
        let d = agree(
            "# c\nname: a # trailing\nskip:\n  deep:\n  - x: [1, {a: b}, \"c, d\"]\n    y: |\n      text: [\n\n      # not a comment\n    z: 'q''s'\nlabels:\n  app.kubernetes.io/name: 'x y'\n  \"quoted key\": \"v\"\n  empty:\nlist:\n- name: A\n  value: tls://a:4222,tls://b\n-   name: B\n    value: ~\n- name: C\n  ignored: {x: 1}\nflag: True\n",
        )
        .expect("in the subset");
        assert_eq!(d.name.as_deref(), Some("a"));
        let labels = d.labels.unwrap();
        assert_eq!(labels["app.kubernetes.io/name"], "x y");
        assert_eq!(labels["quoted key"], "v");
        assert_eq!(labels["empty"], "");
        let list = d.list.unwrap();
        assert_eq!(list.len(), 3);
        assert_eq!(list[0].value.as_deref(), Some("tls://a:4222,tls://b"));
        assert_eq!(list[1].value, None);
        assert_eq!(d.flag, Some(true));
    }

    #[test]
    fn steps_aside_for_what_it_does_not_understand() {
        for doc in [
            "name: &a x\n",
            "name: *a\n",
            "name: !!str x\n",
            "labels:\n  <<: {a: b}\n",
            "name: \"a\\tb\"\n",
            "name: \"multi\n  line\"\n",
            "name: plain\n  continued\n",
            "name: |\n  block\n",
            "list: [{name: a}]\n",
            "name: a\r\n",
            "name:\ta\n",
            "? name\n: a\n",
            "skip: [a,\n  b]\n",
            "skip:\n    a: 1\n  b: 2\n",
            "name: a: b\n",
            "%YAML 1.2\n---\nname: a\n",
            "list:\n- - a\n",
            "skip: [\"sh\", \"re\\dis\"]\n",
            "skip: \"\\u00g9\"\n",
            "skip: {:a: b}\n",
            "skip: {app: e: x}\n",
        ] {
            assert_eq!(from_str::<Doc>(doc).err(), Some(Fallback), "{doc}");
        }
    }

    #[test]
    fn null_and_empty_values_read_as_the_full_parser_reads_them() {
        for doc in [
            "name:\nlabels:\nlist:\n",
            "name: null\nlabels: {}\nlist: []\n",
            "name: ''\nlabels:\n  a: null\nlist:\n- name:\n",
            "name: \"\"\nlist:\n  - name: x\n    value:\n",
            "  name: indented document\n  flag: false\n",
            "name: :8080\nlabels:\n  a: -x\n  b: :y\n",
            "name: x\nskip: [\"sh\", \"-c\", \"echo \\\"hi\\\" \\t \\u00e9 \\x41\"]\nskip2: \"a\\\\b\"\n",
        ] {
            assert!(agree(doc).is_some(), "{doc}");
        }
    }
}
