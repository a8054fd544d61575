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
        span: None,
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
    /// The current document (without the items streamed out of it): `doc`, then the lines of
    /// `buf` in `span` (kept in the buffer and copied once, not line by line).
    doc: Vec<u8>,
    span: Option<(usize, usize)>,
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

    /// Reads another block, dropping what has been consumed (except the document's span).
    fn fill(&mut self) -> io::Result<()> {
        let cut = self.span.map_or(self.head, |(a, _)| a.min(self.head));
        if cut > 0 {
            self.buf.drain(..cut);
            self.head -= cut;
            if let Some((a, b)) = &mut self.span {
                *a -= cut;
                *b -= cut;
            }
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
                            // A JSON document: the reader takes over from this line (the
                            // blank and comment lines before it are dropped).
                            self.span = None;
                            self.doc.clear();
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
                if indent == 0 && l.starts_with(b"items:") && is_empty_value(&l[6..]) {
                    self.items = Items::Pending;
                }
                self.push_line(start, end);
            }
            Items::Pending => {
                if !content {
                    self.push_line(start, end);
                } else if is_dash(&l[indent..]) {
                    let group = *self.next_group;
                    *self.next_group += 1;
                    self.doc_group = Some(group);
                    self.items = Items::In { s: indent, group, cur: Some((blank_dash(l, indent), line_no)) };
                } else {
                    // `items:` is null, or not a sequence: no streaming.
                    self.items = Items::No;
                    self.push_line(start, end);
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
                    self.push_line(start, end);
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
        if !matches!(self.items, Items::No) {
            // While items stream, the buffer must not keep the document's first lines.
            self.flush_span();
        }
    }

    /// Adds the buffered line `start..end` to the document.
    fn push_line(&mut self, start: usize, end: usize) {
        match &mut self.span {
            Some((_, b)) if *b == start => *b = end,
            _ => {
                self.flush_span();
                self.span = Some((start, end));
            }
        }
    }

    fn flush_span(&mut self) {
        if let Some((a, b)) = self.span.take() {
            self.doc.extend_from_slice(&self.buf[a..b]);
        }
    }

    /// Ends the current document: hands on its last item, its group's end, and the document.
    fn finish_doc(&mut self, emit: &mut dyn FnMut(Event)) {
        self.flush_span();
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
                emit(Event::Unreadable { line, error: not_utf8() });
            }
        }
    }

    /// Reads one JSON value from the current position (after `prefix`, text taken from a
    /// marker line), handing on each item of a top-level `items` array as soon as it ends.
    ///
    /// Only the structure around the items is checked here (braces, brackets, strings, commas,
    /// colons); each item and the rest of the object are parsed by serde_json afterwards, which
    /// reports anything malformed inside them. A byte loop finds an item's end: serde_json read
    /// from a stream asks for one byte at a time and ran at about 66 MB/s (docs/ci.md, "How fast").
    fn json(&mut self, prefix: &str, emit: &mut dyn FnMut(Event)) {
        let doc_line = if prefix.is_empty() { self.line + 1 } else { self.doc_line };
        if !prefix.is_empty() {
            // Read the marker line's text as if it were a line of its own.
            self.buf.splice(self.head..self.head, prefix.bytes());
            self.line -= 1;
        }
        let group = *self.next_group;
        *self.next_group += 1;
        let mut j = Json { replay: Some(Vec::new()), emitted: false, header: Vec::new(), top: None };
        let result = self.json_value(&mut j, group, emit);
        if result.is_ok() {
            // What follows the value on its line, and up to the next marker, is blank.
            self.doc.clear();
            self.doc_content = false;
            self.doc_line = self.line + 1;
        }
        match result {
            Ok(()) => {
                if let Some(top) = j.top {
                    match String::from_utf8(top) {
                        Ok(text) => emit(Event::Unit(Unit { text, line: doc_line, form: Form::Json, group: None })),
                        Err(_) => emit(Event::Unreadable { line: doc_line, error: not_utf8() }),
                    }
                    return;
                }
                let kind = j
                    .header
                    .iter()
                    .find(|(k, _)| k == b"\"kind\"")
                    .and_then(|(_, v)| serde_json::from_slice::<String>(v).ok());
                let list = kind.as_deref().map(classify) == Some(Kind::List);
                if j.emitted {
                    emit(Event::GroupEnd { group, list });
                }
                let mut text = vec![b'{'];
                for (i, (k, v)) in j.header.iter().enumerate() {
                    if i > 0 {
                        text.push(b',');
                    }
                    text.extend_from_slice(k);
                    text.push(b':');
                    text.extend_from_slice(v);
                }
                text.push(b'}');
                match String::from_utf8(text) {
                    Ok(text) => emit(Event::Unit(Unit { text, line: doc_line, form: Form::Json, group: None })),
                    Err(_) => emit(Event::Unreadable { line: doc_line, error: not_utf8() }),
                }
            }
            Err(JsonError::Io(error)) => {
                if j.emitted {
                    emit(Event::GroupEnd { group, list: false });
                }
                emit(Event::Unreadable { line: self.line + 1, error });
            }
            Err(JsonError::Syntax(message)) => {
                if j.emitted {
                    emit(Event::GroupEnd { group, list: false });
                }
                // Not JSON (flow-style YAML, or broken): the rest of the document is read as
                // YAML when the whole of it is still at hand, else the error is reported.
                match j.replay {
                    Some(kept) if !j.emitted => {
                        self.doc = kept;
                        self.doc_content = true;
                        self.doc_line = doc_line;
                    }
                    _ => {
                        emit(Event::BadJson { line: self.line + 1, message });
                        self.skip_to_marker();
                    }
                }
            }
        }
    }

    /// The byte at the reading position, reading more when needed.
    fn jpeek(&mut self) -> Result<Option<u8>, JsonError> {
        if self.head >= self.buf.len() {
            if self.eof {
                return Ok(None);
            }
            self.fill().map_err(JsonError::Io)?;
            if self.head >= self.buf.len() {
                return Ok(None);
            }
        }
        Ok(Some(self.buf[self.head]))
    }

    /// Consumes `n` buffered bytes, counting lines and keeping them for a replay as YAML.
    fn jconsume(&mut self, n: usize, j: &mut Json) {
        let s = &self.buf[self.head..self.head + n];
        self.line += memchr::memchr_iter(b'\n', s).count();
        if let Some(r) = &mut j.replay {
            if r.len() + n > JSON_REPLAY {
                j.replay = None;
            } else {
                r.extend_from_slice(s);
            }
        }
        self.head += n;
    }

    fn jskip_ws(&mut self, j: &mut Json) -> Result<Option<u8>, JsonError> {
        while let Some(b) = self.jpeek()? {
            if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                return Ok(Some(b));
            }
            self.jconsume(1, j);
        }
        Ok(None)
    }

    fn jexpect(&mut self, want: u8, what: &str, j: &mut Json) -> Result<(), JsonError> {
        match self.jskip_ws(j)? {
            Some(b) if b == want => {
                self.jconsume(1, j);
                Ok(())
            }
            _ => Err(JsonError::Syntax(format!("expected {what}"))),
        }
    }

    /// Captures one whole JSON value (its bytes, unparsed).
    fn jtake(&mut self, j: &mut Json) -> Result<Vec<u8>, JsonError> {
        let mut out = Vec::new();
        let first = self.jskip_ws(j)?.ok_or_else(|| JsonError::Syntax("expected a value".into()))?;
        if !matches!(first, b'{' | b'[' | b'"') {
            // A number, true, false or null: up to the next delimiter.
            while let Some(b) = self.jpeek()? {
                if matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                    break;
                }
                out.push(b);
                self.jconsume(1, j);
            }
            return if out.is_empty() { Err(JsonError::Syntax("expected a value".into())) } else { Ok(out) };
        }
        let (mut depth, mut in_str, mut esc) = (0usize, false, false);
        loop {
            if self.jpeek()?.is_none() {
                return Err(JsonError::Syntax("unexpected end of input inside a value".into()));
            }
            let chunk = &self.buf[self.head..];
            let mut end = None;
            for (i, &b) in chunk.iter().enumerate() {
                if in_str {
                    if esc {
                        esc = false;
                    } else if b == b'\\' {
                        esc = true;
                    } else if b == b'"' {
                        in_str = false;
                        if depth == 0 {
                            end = Some(i + 1);
                            break;
                        }
                    }
                } else {
                    match b {
                        b'"' => in_str = true,
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                end = Some(i + 1);
                                break;
                            }
                        }
                        _ => {}
                    }
                }
            }
            let n = end.unwrap_or(chunk.len());
            out.extend_from_slice(&chunk[..n]);
            self.jconsume(n, j);
            if end.is_some() {
                return Ok(out);
            }
        }
    }

    /// The top-level value: an object's fields go to the header, except the items of `items`,
    /// which are handed on one by one; any other value is kept whole.
    fn json_value(&mut self, j: &mut Json, group: u64, emit: &mut dyn FnMut(Event)) -> Result<(), JsonError> {
        if self.jskip_ws(j)? != Some(b'{') {
            j.top = Some(self.jtake(j)?);
            return Ok(());
        }
        self.jconsume(1, j);
        if self.jskip_ws(j)? == Some(b'}') {
            self.jconsume(1, j);
            return Ok(());
        }
        loop {
            if self.jskip_ws(j)? != Some(b'"') {
                return Err(JsonError::Syntax("expected an object key".into()));
            }
            let key = self.jtake(j)?;
            self.jexpect(b':', "`:` after an object key", j)?;
            if key == b"\"items\"" && self.jskip_ws(j)? == Some(b'[') {
                self.jconsume(1, j);
                if self.jskip_ws(j)? == Some(b']') {
                    self.jconsume(1, j);
                } else {
                    loop {
                        self.jskip_ws(j)?;
                        let at = self.line + 1;
                        let item = self.jtake(j)?;
                        j.emitted = true;
                        match String::from_utf8(item) {
                            Ok(text) => {
                                emit(Event::Unit(Unit { text, line: at, form: Form::Json, group: Some(group) }))
                            }
                            Err(_) => emit(Event::Unreadable { line: at, error: not_utf8() }),
                        }
                        match self.jskip_ws(j)? {
                            Some(b',') => self.jconsume(1, j),
                            Some(b']') => {
                                self.jconsume(1, j);
                                break;
                            }
                            _ => return Err(JsonError::Syntax("expected `,` or `]` after an item".into())),
                        }
                    }
                }
            } else {
                let value = self.jtake(j)?;
                j.header.push((key, value));
            }
            match self.jskip_ws(j)? {
                Some(b',') => self.jconsume(1, j),
                Some(b'}') => {
                    self.jconsume(1, j);
                    return Ok(());
                }
                _ => return Err(JsonError::Syntax("expected `,` or `}` after an object value".into())),
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
            emit(Event::Unreadable { line, error: not_utf8() });
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

/// The state of one JSON document being read.
struct Json {
    /// The bytes consumed, while they are few enough to re-read the document as YAML.
    replay: Option<Vec<u8>>,
    /// Whether any item was handed on.
    emitted: bool,
    /// The object's fields other than `items`: raw key and raw value.
    header: Vec<(Vec<u8>, Vec<u8>)>,
    /// A top-level value that is not an object.
    top: Option<Vec<u8>>,
}

enum JsonError {
    Io(io::Error),
    Syntax(String),
}

fn not_utf8() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "stream did not contain valid UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(s: &str) -> Vec<String> {
        events_from(&mut s.as_bytes())
    }

    /// What `split` emits reading `r`, one line per event.
    fn events_from(r: &mut dyn Read) -> Vec<String> {
        let mut g = 0;
        let mut out = Vec::new();
        split(r, &mut g, &mut |e| {
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

    /// A reader that hands out at most `k` bytes per read, so that lines, documents, items and
    /// JSON values straddle the buffer's refills.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.1.min(out.len()).min(self.0.len());
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn the_same_events_whatever_the_read_sizes() {
        let input = "# head\napiVersion: v1\nkind: ConfigMap\ndata:\n  a: |\n    ---x\n---\napiVersion: v1\nitems:\n- kind: Pod\n  metadata:\n    name: p\n\n- kind: ConfigMap\nkind: List\n--- {kind: ConfigMap, data: {a: b}}\n---\n{\"kind\": \"List\", \"items\": [{\"kind\": \"Pod\", \"s\": \"a}]\\\"\"},\n {\"kind\": \"ConfigMap\"}]}\n---\n{not: json}\n...\nlast: doc\n";
        let expected = events(input);
        assert_eq!(expected.len(), 12, "{expected:#?}");
        for k in [1, 2, 3, 7, 64, 4096] {
            let got = events_from(&mut Trickle(input.as_bytes(), k));
            assert_eq!(got, expected, "reads of {k} bytes");
        }
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
