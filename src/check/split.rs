//! Splitting one source into documents as it is read, once, holding at most one document (or
//! one `List` item) at a time.
//!
//! A YAML stream is split on document markers (`---` / `...` at column 0): YAML forbids them
//! inside content, so a line-wise split is exact and costs no parse. A document with a
//! top-level `items:` block sequence (a `kind: List`, as `kubectl get -o yaml` writes it) is not
//! held whole: each item is handed on as a document of its own as soon as it ends (its leading
//! `-` blanked, so it is a block mapping at the item's indentation and keeps its line numbers),
//! tagged with a group; when the List document ends, [`Event::GroupEnd`] says whether it really
//! was a List (`kind: List` or `…List`, which may come after the items), and the consumer keeps
//! or drops the group. A document whose first content is `{` is JSON: it is read by a streaming
//! JSON reader that hands on each item of a top-level `items` array the same way.

use super::input::{Kind, classify, sniff_kind};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::cell::Cell;
use std::fmt;
use std::io::{self, Read};

/// How a unit's text is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    Yaml,
    Json,
}

/// One document or `List` item.
#[derive(Debug)]
pub struct Unit {
    /// Its text.
    pub text: String,
    /// 1-based line of the source where it starts.
    pub line: usize,
    pub form: Form,
    /// The List it was streamed from, if any.
    pub group: Option<u64>,
}

/// What the splitter hands on, in source order.
#[derive(Debug)]
pub enum Event {
    Unit(Unit),
    /// The List document that `group`'s items came from has ended; `list` says whether it was a
    /// List (keep them) or not (drop them).
    GroupEnd {
        group: u64,
        list: bool,
    },
    /// The source could not be read from this line on (the rest of it is lost), or a document
    /// is not UTF-8 (only that document is lost).
    Unreadable {
        line: usize,
        error: io::Error,
    },
    /// A JSON document that is not valid JSON and too large to re-read as YAML.
    BadJson {
        line: usize,
        message: String,
    },
}

/// Block size for reads.
const BLOCK: usize = 256 * 1024;
/// A JSON document up to this size is kept while it is read, to be re-read as (flow-style) YAML
/// when it turns out not to be JSON.
const JSON_REPLAY: usize = 1 << 20;

/// Splits `r`, handing each event to `emit`. Group ids are taken from `next_group`.
pub fn split(r: &mut dyn Read, next_group: &mut u64, emit: &mut dyn FnMut(Event)) {
    let mut s = Splitter {
        r,
        buf: Vec::with_capacity(BLOCK * 2),
        head: 0,
        eof: false,
        line: 0,
        doc: Vec::new(),
        doc_line: 1,
        doc_content: false,
        items: Items::No,
        doc_group: None,
        next_group,
    };
    s.run(emit);
}

enum Items {
    /// No top-level `items:` block sequence in this document (so far).
    No,
    /// `items:` seen; waiting for its first entry.
    Pending,
    /// Inside the items, entries at indentation `s`; the current item and its first line.
    In { s: usize, group: u64, cur: Option<(Vec<u8>, usize)> },
}

struct Splitter<'a> {
    r: &'a mut dyn Read,
    buf: Vec<u8>,
    head: usize,
    eof: bool,
    /// Lines consumed so far.
    line: usize,
    /// The current document (without the items streamed out of it).
    doc: Vec<u8>,
    doc_line: usize,
    /// Whether the document has content besides blank and comment lines.
    doc_content: bool,
    items: Items,
    /// The group of the items streamed out of the current document, if any.
    doc_group: Option<u64>,
    next_group: &'a mut u64,
}

impl Splitter<'_> {
    /// Makes sure a whole line (or the rest of the stream) is buffered; returns its end
    /// (exclusive, after the `\n` if any), or `None` at the end of the stream.
    fn line_end(&mut self) -> io::Result<Option<usize>> {
        // Bytes after `head` already searched (`fill` moves `head` to 0).
        let mut scanned = 0;
        loop {
            let from = self.head + scanned;
            if let Some(i) = memchr::memchr(b'\n', &self.buf[from..]) {
                return Ok(Some(from + i + 1));
            }
            if self.eof {
                return Ok((self.head < self.buf.len()).then_some(self.buf.len()));
            }
            scanned = self.buf.len() - self.head;
            self.fill()?;
        }
    }

    /// Reads another block, dropping what has been consumed.
    fn fill(&mut self) -> io::Result<()> {
        if self.head > 0 {
            self.buf.drain(..self.head);
            self.head = 0;
        }
        let len = self.buf.len();
        self.buf.resize(len + BLOCK, 0);
        let n = loop {
            match self.r.read(&mut self.buf[len..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.buf.truncate(len);
                    return Err(e);
                }
            }
        };
        self.buf.truncate(len + n);
        self.eof = n == 0;
        Ok(())
    }

    fn run(&mut self, emit: &mut dyn FnMut(Event)) {
        loop {
            let end = match self.line_end() {
                Ok(Some(e)) => e,
                Ok(None) => break,
                Err(error) => {
                    self.finish_doc(emit);
                    emit(Event::Unreadable { line: self.line + 1, error });
                    return;
                }
            };
            let start = self.head;
            self.head = end;
            self.line += 1;
            let first = self.buf[start];
            if first == b'-' || first == b'.' {
                let l = &self.buf[start..end];
                let m = 3;
                if (l.starts_with(b"---") || l.starts_with(b"..."))
                    && matches!(l.get(m), None | Some(b' ' | b'\t' | b'\r' | b'\n'))
                {
                    let is_start = first == b'-';
                    let rest = String::from_utf8_lossy(&l[m..]).trim().to_owned();
                    self.finish_doc(emit);
                    self.doc_line = self.line + 1;
                    if is_start && !rest.is_empty() && !rest.starts_with('#') {
                        // `--- {kind: X}`: the content begins on the marker line itself.
                        self.doc_line = self.line;
                        let text = format!("   {rest}\n");
                        if rest.starts_with('{') {
                            self.json(&text, emit);
                        } else {
                            self.doc.extend_from_slice(text.as_bytes());
                            self.doc_content = true;
                        }
                    }
                    continue;
                }
            }
            if !self.doc_content {
                let l = &self.buf[start..end];
                let t = l.iter().position(|&b| b != b' ' && b != b'\t' && b != b'\r' && b != b'\n');
                match t {
                    None => {}
                    Some(i) if l[i] == b'#' => {}
                    Some(i) => {
                        self.doc_content = true;
                        if l[i] == b'{' {
                            // A JSON document: the reader takes over from this line.
                            self.head = start;
                            self.line -= 1;
                            self.json("", emit);
                            continue;
                        }
                    }
                }
            }
            self.line_of_doc(start, end, emit);
        }
        self.finish_doc(emit);
    }

    /// One line inside a YAML document.
    fn line_of_doc(&mut self, start: usize, end: usize, emit: &mut dyn FnMut(Event)) {
        let line_no = self.line;
        let l = &self.buf[start..end];
        let indent = l.iter().take_while(|&&b| b == b' ').count();
        let content = l.get(indent).is_some_and(|&b| !matches!(b, b'#' | b'\n' | b'\r'));
        match &mut self.items {
            Items::No => {
                self.doc.extend_from_slice(l);
                if indent == 0 && l.starts_with(b"items:") && is_empty_value(&l[6..]) {
                    self.items = Items::Pending;
                }
            }
            Items::Pending => {
                if !content {
                    self.doc.extend_from_slice(l);
                } else if is_dash(&l[indent..]) {
                    let group = *self.next_group;
                    *self.next_group += 1;
                    self.doc_group = Some(group);
                    self.items = Items::In { s: indent, group, cur: Some((blank_dash(l, indent), line_no)) };
                } else {
                    // `items:` is null, or not a sequence: no streaming.
                    self.items = Items::No;
                    self.doc.extend_from_slice(l);
                }
            }
            Items::In { s, group, cur } => {
                let (s, group) = (*s, *group);
                if content && indent == 0 && !(s == 0 && is_dash(l)) {
                    // A top-level key: the items have ended.
                    if let Some((text, line)) = cur.take() {
                        emit_item(text, line, group, emit);
                    }
                    self.items = Items::No;
                    self.doc.extend_from_slice(l);
                } else if content && indent == s && is_dash(&l[indent..]) {
                    if let Some((text, line)) = cur.take() {
                        emit_item(text, line, group, emit);
                    }
                    *cur = Some((blank_dash(l, indent), line_no));
                } else if let Some((text, _)) = cur {
                    text.extend_from_slice(l);
                }
            }
        }
    }

    /// Ends the current document: hands on its last item, its group's end, and the document.
    fn finish_doc(&mut self, emit: &mut dyn FnMut(Event)) {
        if let Items::In { group, cur: Some((text, line)), .. } = std::mem::replace(&mut self.items, Items::No) {
            emit_item(text, line, group, emit);
        }
        let group = self.doc_group.take();
        let doc = std::mem::take(&mut self.doc);
        let had = self.doc_content;
        self.doc_content = false;
        let line = self.doc_line;
        match String::from_utf8(doc) {
            Ok(text) => {
                if let Some(group) = group {
                    emit(Event::GroupEnd { group, list: sniff_kind(&text) == Kind::List });
                }
                if had {
                    emit(Event::Unit(Unit { text, line, form: Form::Yaml, group: None }));
                }
            }
            Err(_) => {
                if let Some(group) = group {
                    emit(Event::GroupEnd { group, list: false });
                }
                let error = io::Error::new(io::ErrorKind::InvalidData, "stream did not contain valid UTF-8");
                emit(Event::Unreadable { line, error });
            }
        }
    }

    /// Reads one JSON value from the current position (after `prefix`, text already taken
    /// from the marker line), handing on the items of a top-level `items` array one by one.
    fn json(&mut self, prefix: &str, emit: &mut dyn FnMut(Event)) {
        let doc_line = if prefix.is_empty() { self.line + 1 } else { self.doc_line };
        // The line the reader is on: the marker line when the JSON starts on it.
        let line = Cell::new(if prefix.is_empty() { self.line + 1 } else { self.line });
        let group = *self.next_group;
        *self.next_group += 1;
        let mut emitted = false;
        let mut header: Vec<(String, Box<RawValue>)> = Vec::new();
        let mut replay = Some(Vec::new());
        let prefix_used = Cell::new(0);
        let result = {
            let feed = Feed {
                prefix: prefix.as_bytes(),
                prefix_used: &prefix_used,
                s: self,
                line: &line,
                replay: &mut replay,
            };
            let mut de = serde_json::Deserializer::from_reader(feed);
            let mut on_item = |text: String, at: usize| {
                emitted = true;
                emit(Event::Unit(Unit { text, line: at, form: Form::Json, group: Some(group) }));
            };
            TopSeed { header: &mut header, line: &line, on_item: &mut on_item }.deserialize(&mut de)
        };
        // Lines consumed by the JSON reader.
        self.line = line.get() - 1;
        if result.is_ok() {
            // What follows the value on its line, and up to the next marker, is blank.
            self.doc.clear();
            self.doc_content = false;
            self.doc_line = self.line + 1;
        }
        match result {
            Ok(Top::Object) => {
                let kind = header
                    .iter()
                    .find(|(k, _)| k == "kind")
                    .and_then(|(_, v)| serde_json::from_str::<String>(v.get()).ok());
                let list = kind.as_deref().map(classify) == Some(Kind::List);
                if emitted {
                    emit(Event::GroupEnd { group, list });
                }
                let mut text = String::from("{");
                for (i, (k, v)) in header.iter().enumerate() {
                    if i > 0 {
                        text.push(',');
                    }
                    text.push_str(&serde_json::Value::String(k.clone()).to_string());
                    text.push(':');
                    text.push_str(v.get());
                }
                text.push('}');
                emit(Event::Unit(Unit { text, line: doc_line, form: Form::Json, group: None }));
            }
            Ok(Top::Other(raw)) => {
                emit(Event::Unit(Unit { text: raw.get().to_owned(), line: doc_line, form: Form::Json, group: None }));
            }
            Err(e) => {
                if emitted {
                    emit(Event::GroupEnd { group, list: false });
                }
                // Not JSON (flow-style YAML, or broken): the rest of the document is read as
                // YAML when the whole of it is still at hand, else the JSON error is reported.
                match replay {
                    Some(mut kept) if !emitted && e.is_syntax() => {
                        kept.extend_from_slice(&prefix.as_bytes()[prefix_used.get()..]);
                        self.doc = kept;
                        self.doc_content = true;
                        self.doc_line = doc_line;
                    }
                    _ => {
                        emit(Event::BadJson { line: e.line().saturating_sub(1) + doc_line, message: e.to_string() });
                        self.skip_to_marker();
                    }
                }
            }
        }
    }

    /// Skips the rest of a document that cannot be read, up to the next document marker.
    fn skip_to_marker(&mut self) {
        while let Ok(Some(end)) = self.line_end() {
            let l = &self.buf[self.head..end];
            if (l.starts_with(b"---") || l.starts_with(b"..."))
                && matches!(l.get(3), None | Some(b' ' | b'\t' | b'\r' | b'\n'))
            {
                return;
            }
            self.head = end;
            self.line += 1;
        }
    }
}

fn emit_item(mut text: Vec<u8>, line: usize, group: u64, emit: &mut dyn FnMut(Event)) {
    // Trailing blank and comment lines belong to no item; they do no harm either.
    text.shrink_to_fit();
    match String::from_utf8(text) {
        Ok(text) => emit(Event::Unit(Unit { text, line, form: Form::Yaml, group: Some(group) })),
        Err(_) => {
            let error = io::Error::new(io::ErrorKind::InvalidData, "stream did not contain valid UTF-8");
            emit(Event::Unreadable { line, error });
        }
    }
}

/// Whether the rest of a `key:` line holds no value (only spaces and maybe a comment).
fn is_empty_value(rest: &[u8]) -> bool {
    let t: &[u8] = match rest.iter().position(|&b| b != b' ') {
        Some(i) => &rest[i..],
        None => return true,
    };
    matches!(t[0], b'\n' | b'\r' | b'#')
}

/// Whether a line's text (after its indentation) is a block sequence entry.
fn is_dash(t: &[u8]) -> bool {
    t.first() == Some(&b'-') && matches!(t.get(1), None | Some(b' ' | b'\n' | b'\r'))
}

/// The first line of an item with its `-` blanked.
fn blank_dash(l: &[u8], indent: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 * 1024);
    v.extend_from_slice(l);
    v[indent] = b' ';
    v
}

/// The bytes of the source from the splitter's position, for the JSON reader: counts lines
/// and keeps a copy of the first [`JSON_REPLAY`] bytes.
struct Feed<'a, 'b> {
    /// Text taken from a marker line, served first.
    prefix: &'a [u8],
    prefix_used: &'a Cell<usize>,
    s: &'a mut Splitter<'b>,
    line: &'a Cell<usize>,
    replay: &'a mut Option<Vec<u8>>,
}

impl Read for Feed<'_, '_> {
    // The JSON reader asks for one byte at a time; lines are counted as bytes are consumed, so
    // that each item's line is known when it starts.
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let from_prefix = self.prefix_used.get() < self.prefix.len();
        let src: &[u8] = if from_prefix {
            &self.prefix[self.prefix_used.get()..]
        } else {
            if self.s.head >= self.s.buf.len() {
                if self.s.eof {
                    return Ok(0);
                }
                self.s.fill()?;
                if self.s.head >= self.s.buf.len() {
                    return Ok(0);
                }
            }
            &self.s.buf[self.s.head..]
        };
        let n = out.len().min(src.len());
        out[..n].copy_from_slice(&src[..n]);
        let newlines = out[..n].iter().filter(|&&b| b == b'\n').count();
        if newlines > 0 {
            self.line.set(self.line.get() + newlines);
        }
        if let Some(r) = self.replay {
            if r.len() + n > JSON_REPLAY {
                *self.replay = None;
            } else {
                r.extend_from_slice(&out[..n]);
            }
        }
        if from_prefix {
            self.prefix_used.set(self.prefix_used.get() + n);
        } else {
            self.s.head += n;
        }
        Ok(n)
    }
}

enum Top {
    /// A JSON object: its fields other than `items` are in the header.
    Object,
    /// Any other JSON value.
    Other(Box<RawValue>),
}

struct TopSeed<'a> {
    header: &'a mut Vec<(String, Box<RawValue>)>,
    line: &'a Cell<usize>,
    on_item: &'a mut dyn FnMut(String, usize),
}

impl<'de> DeserializeSeed<'de> for TopSeed<'_> {
    type Value = Top;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Top, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TopSeed<'_> {
    type Value = Top;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Top, A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "items" {
                map.next_value_seed(ItemsSeed { line: self.line, on_item: &mut *self.on_item })?;
            } else {
                let v: Box<RawValue> = map.next_value()?;
                self.header.push((key, v));
            }
        }
        Ok(Top::Object)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Top, A::Error> {
        // Not an object: kept as `[]` (no Kubernetes object), its elements not read.
        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        Ok(Top::Other(raw("[]")))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Top, E> {
        Ok(Top::Other(raw("null")))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Top, E> {
        Ok(Top::Other(raw("null")))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Top, E> {
        Ok(Top::Other(raw("null")))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Top, E> {
        Ok(Top::Other(raw("null")))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Top, E> {
        Ok(Top::Other(raw("null")))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Top, E> {
        Ok(Top::Other(raw("null")))
    }
}

fn raw(s: &str) -> Box<RawValue> {
    RawValue::from_string(s.to_owned()).unwrap_or_else(|_| RawValue::NULL.to_owned())
}

struct ItemsSeed<'a> {
    line: &'a Cell<usize>,
    on_item: &'a mut dyn FnMut(String, usize),
}

impl<'de> DeserializeSeed<'de> for ItemsSeed<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ItemsSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some((item, at)) = seq.next_element_seed(ItemSeed { line: self.line })? {
            (self.on_item)(Box::<str>::from(item).into_string(), at);
        }
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_entry::<de::IgnoredAny, de::IgnoredAny>()?.is_some() {}
        Ok(())
    }
}

/// One item, with the line it starts on (read when its first byte has been consumed).
struct ItemSeed<'a> {
    line: &'a Cell<usize>,
}

impl<'de> DeserializeSeed<'de> for ItemSeed<'_> {
    type Value = (Box<RawValue>, usize);

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        let at = self.line.get();
        Ok((serde::Deserialize::deserialize(d)?, at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(s: &str) -> Vec<String> {
        let mut g = 0;
        let mut out = Vec::new();
        split(&mut s.as_bytes(), &mut g, &mut |e| {
            out.push(match e {
                Event::Unit(u) => format!(
                    "{:?}@{}{}:{}",
                    u.form,
                    u.line,
                    u.group.map(|g| format!("g{g}")).unwrap_or_default(),
                    u.text
                ),
                Event::GroupEnd { group, list } => format!("end g{group} {list}"),
                Event::Unreadable { line, .. } => format!("unreadable@{line}"),
                Event::BadJson { line, .. } => format!("badjson@{line}"),
            })
        });
        out
    }

    #[test]
    fn splits_on_markers_with_line_numbers() {
        let e = events("a: 1\n---\nb: 2\nc: 3\n--- # comment\nd: 4\n...\n---\ne: 5\n");
        assert_eq!(e, ["Yaml@1:a: 1\n", "Yaml@3:b: 2\nc: 3\n", "Yaml@6:d: 4\n", "Yaml@9:e: 5\n"]);
        let e = events("---\nkind: ConfigMap\ndata:\n  x: ---\n  y: |\n    ----\n");
        assert_eq!(e, ["Yaml@2:kind: ConfigMap\ndata:\n  x: ---\n  y: |\n    ----\n"]);
        assert_eq!(events("--- {kind: ConfigMap}\n"), ["Yaml@1:   {kind: ConfigMap}\n"]);
        assert_eq!(events("# only\n\n---\n"), Vec::<String>::new());
    }

    #[test]
    fn streams_list_items_and_tells_whether_it_was_a_list() {
        let e = events(
            "apiVersion: v1\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n# c\n- kind: Deployment\n  spec:\n    x: 1\nkind: List\nmetadata: {}\n",
        );
        assert_eq!(
            e,
            [
                "Yaml@3g0:  apiVersion: v1\n  kind: ConfigMap\n# c\n",
                "Yaml@6g0:  kind: Deployment\n  spec:\n    x: 1\n",
                "end g0 true",
                "Yaml@1:apiVersion: v1\nitems:\nkind: List\nmetadata: {}\n",
            ]
        );
        let e = events("kind: Thing\nitems:\n  - a: 1\n  - b: 2\n");
        assert_eq!(e, ["Yaml@3g0:    a: 1\n", "Yaml@4g0:    b: 2\n", "end g0 false", "Yaml@1:kind: Thing\nitems:\n"]);
        // Not a block sequence: not streamed.
        assert_eq!(events("kind: List\nitems: []\n"), ["Yaml@1:kind: List\nitems: []\n"]);
    }

    #[test]
    fn streams_json_items() {
        let e = events(
            "{\"apiVersion\": \"v1\",\n \"items\": [\n  {\"kind\": \"ConfigMap\"},\n  {\"kind\": \"Pod\"}\n ],\n \"kind\": \"List\"}\n---\na: 1\n",
        );
        assert_eq!(
            e,
            [
                "Json@3g0:{\"kind\": \"ConfigMap\"}",
                "Json@4g0:{\"kind\": \"Pod\"}",
                "end g0 true",
                "Json@1:{\"apiVersion\":\"v1\",\"kind\":\"List\"}",
                "Yaml@8:a: 1\n",
            ]
        );
        // Flow-style YAML is not JSON: read as YAML.
        assert_eq!(events("{kind: ConfigMap, data: {a: b}}\n"), ["Yaml@1:{kind: ConfigMap, data: {a: b}}\n"]);
        assert_eq!(events("--- {kind: ConfigMap}\n"), ["Yaml@1:   {kind: ConfigMap}\n"]);
    }

    #[test]
    fn invalid_utf8_spoils_one_document_only() {
        let mut input = b"a: 1\n---\nb: \xff\n---\nc: 3\n".to_vec();
        input.extend_from_slice(b"");
        let mut g = 0;
        let mut out = Vec::new();
        split(&mut input.as_slice(), &mut g, &mut |e| {
            out.push(match e {
                Event::Unit(u) => u.text,
                Event::Unreadable { line, .. } => format!("bad@{line}"),
                other => format!("{other:?}"),
            })
        });
        assert_eq!(out, ["a: 1\n", "bad@3", "c: 3\n"]);
    }
}
