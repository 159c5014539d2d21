//! Splits a JSON stream into its objects without parsing them: the elements of a list's
//! `items` (or of a top-level array), or whole top-level objects. Only the object being read is
//! buffered, so a 100k-pod `v1/List` costs the memory of its largest item. Each object is then
//! parsed from a byte slice, which serde_json does several times faster than from a reader.

use std::io::{ErrorKind, Read};

/// What the splitter hands over.
pub enum Piece<'a> {
    /// One object's JSON text, the line it starts on, and for list items their `apiVersion`
    /// and `kind` when they are plain strings (noticed while splitting, to spare a parse).
    Object {
        json: &'a [u8],
        line: usize,
        type_meta: Option<(&'a str, &'a str)>,
    },
    /// A list element that is not an object.
    NotAnObject { line: usize },
    /// A top-level object with an `items` list whose `kind` is not a `*List`: its items were
    /// handed over, the object itself was not.
    NotAList { line: usize, kind: String },
    /// The stream cannot be read further (a syntax error, truncation, an I/O error).
    Broken { message: String },
}

const CHUNK: usize = 1 << 16;
/// The largest object read (the API server's own limit on a request is 3 MiB).
const MAX_OBJECT: usize = 64 << 20;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Container {
    Object,
    Array,
}

struct Splitter {
    buf: Vec<u8>,
    /// Next byte to scan.
    pos: usize,
    line: usize,
    stack: Vec<Container>,
    in_string: bool,
    escaped: bool,
    /// The last string completed directly inside the top-level object, as a candidate key.
    last_top_string: Option<(usize, usize)>,
    /// The key whose value comes next in the top-level object.
    key_is_items: bool,
    /// Depth of the array whose elements are handed over, when inside it.
    items_depth: Option<usize>,
    top_has_items: bool,
    /// Where the current element (or top-level object) starts, and its line.
    start: Option<(usize, usize)>,
    /// A scalar element being skipped.
    in_scalar: bool,
    /// Where the string being read starts, and whether it has escapes.
    string_start: usize,
    string_escaped: bool,
    /// The current element's last own key, and which of its own fields comes next; offsets
    /// are relative to the element's start.
    element_key: Option<(usize, usize)>,
    element_expect: Option<TypeField>,
    element_api_version: Option<(usize, usize)>,
    element_kind: Option<(usize, usize)>,
    /// The top-level object's line, whether its current key is `kind`, and its kind.
    top_line: usize,
    top_key_is_kind: bool,
    top_kind: Option<String>,
}

#[derive(Clone, Copy)]
enum TypeField {
    ApiVersion,
    Kind,
}

/// Calls `on_piece` for every object in `reader`, in order. Stops at the first syntax error
/// in the stream's structure (a truncated file) after handing over everything before it.
pub fn split<R: Read>(mut reader: R, on_piece: &mut dyn FnMut(Piece<'_>)) {
    let mut s = Splitter {
        buf: Vec::with_capacity(CHUNK * 2),
        pos: 0,
        line: 1,
        stack: Vec::new(),
        in_string: false,
        escaped: false,
        last_top_string: None,
        key_is_items: false,
        items_depth: None,
        top_has_items: false,
        start: None,
        in_scalar: false,
        string_start: 0,
        string_escaped: false,
        element_key: None,
        element_expect: None,
        element_api_version: None,
        element_kind: None,
        top_line: 0,
        top_key_is_kind: false,
        top_kind: None,
    };
    loop {
        if s.pos == s.buf.len() {
            match s.refill(&mut reader) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    on_piece(Piece::Broken {
                        message: format!("cannot read further: {e}"),
                    });
                    return;
                }
            }
        }
        if let Err(message) = s.scan(on_piece) {
            on_piece(Piece::Broken { message });
            return;
        }
    }
    if !s.stack.is_empty() || s.in_string {
        on_piece(Piece::Broken {
            message: format!(
                "EOF while parsing: the snapshot ends inside {} at line {} (truncated?)",
                if s.in_string { "a string" } else { "an object" },
                s.line
            ),
        });
    }
}

impl Splitter {
    /// Drops what is no longer needed (everything before the object being read), then reads
    /// another chunk.
    fn refill<R: Read>(&mut self, reader: &mut R) -> std::io::Result<usize> {
        let keep = self.start.map_or(self.pos, |(start, _)| start);
        if keep > 0 {
            self.buf.drain(..keep);
            self.pos -= keep;
            self.string_start = self.string_start.saturating_sub(keep);
            if let Some((start, line)) = self.start {
                self.start = Some((start - keep, line));
            }
            if let Some((a, b)) = self.last_top_string {
                self.last_top_string = a.checked_sub(keep).zip(b.checked_sub(keep));
            }
        }
        if self.buf.len() > MAX_OBJECT {
            return Err(std::io::Error::other(format!(
                "an object starting at line {} is larger than {} MiB",
                self.start.map_or(self.line, |(_, line)| line),
                MAX_OBJECT >> 20
            )));
        }
        let old = self.buf.len();
        self.buf.resize(old + CHUNK, 0);
        loop {
            match reader.read(&mut self.buf[old..]) {
                Ok(n) => {
                    self.buf.truncate(old + n);
                    return Ok(n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.buf.truncate(old);
                    return Err(e);
                }
            }
        }
    }

    /// Scans the buffered bytes from `pos`, handing over every element that ends in them.
    fn scan(&mut self, on_piece: &mut dyn FnMut(Piece<'_>)) -> Result<(), String> {
        while self.pos < self.buf.len() {
            if self.in_string {
                // Strings are most of the text: jump to the next quote or backslash.
                if self.escaped {
                    self.escaped = false;
                    self.pos += 1;
                    continue;
                }
                match memchr::memchr2(b'"', b'\\', &self.buf[self.pos..]) {
                    None => {
                        self.pos = self.buf.len();
                        return Ok(());
                    }
                    Some(i) => {
                        let at = self.pos + i;
                        self.pos = at + 1;
                        if self.buf[at] == b'\\' {
                            self.escaped = true;
                            self.string_escaped = true;
                        } else {
                            self.in_string = false;
                            self.element_string(at);
                            if self.stack.len() == 1 && self.stack[0] == Container::Object {
                                if let Some((a, _)) = self.last_top_string {
                                    self.last_top_string = Some((a, at));
                                    if std::mem::take(&mut self.top_key_is_kind) {
                                        self.top_kind = Some(
                                            String::from_utf8_lossy(&self.buf[a..at]).into_owned(),
                                        );
                                    }
                                }
                            }
                        }
                    }
                }
                continue;
            }
            let b = self.buf[self.pos];
            let at = self.pos;
            self.pos += 1;
            let depth = self.stack.len();
            if self.in_scalar && Some(depth) == self.items_depth {
                match b {
                    b',' | b']' => {
                        self.in_scalar = false;
                        if let Some((_, line)) = self.start.take() {
                            on_piece(Piece::NotAnObject { line });
                        }
                        if b == b']' {
                            self.close(b, at, on_piece)?;
                        }
                    }
                    b'"' => self.in_string = true,
                    b'\n' => self.line += 1,
                    b'{' | b'[' | b'}' => {
                        return Err(format!("unexpected {:?} at line {}", b as char, self.line))
                    }
                    _ => {}
                }
                continue;
            }
            match b {
                b'\n' => self.line += 1,
                b' ' | b'\t' | b'\r' => {}
                b'"' => {
                    if depth == 0 {
                        return Err(format!(
                            "expected an object or a list at line {}, found a string",
                            self.line
                        ));
                    }
                    self.in_string = true;
                    self.string_start = at + 1;
                    self.string_escaped = false;
                    if depth == 1 && self.stack[0] == Container::Object {
                        self.last_top_string = Some((at + 1, at + 1));
                    }
                    self.element_scalar_start(depth, at);
                }
                b':' => {
                    if self.at_element_level(depth) {
                        self.element_expect =
                            self.element_key
                                .and_then(|(a, z)| match self.element_bytes(a, z) {
                                    b"apiVersion" => Some(TypeField::ApiVersion),
                                    b"kind" => Some(TypeField::Kind),
                                    _ => None,
                                });
                    }
                    if depth == 1 && self.stack[0] == Container::Object {
                        let key = self.last_top_string.map(|(a, z)| &self.buf[a..z]);
                        self.key_is_items = key == Some(b"items".as_slice());
                        self.top_key_is_kind = key == Some(b"kind".as_slice());
                    }
                }
                b'{' | b'[' => {
                    if depth == 0 {
                        self.top_has_items = false;
                        self.top_line = self.line;
                        self.top_kind = None;
                        if b == b'[' {
                            self.items_depth = Some(1);
                        } else {
                            self.start = Some((at, self.line));
                        }
                    } else if Some(depth) == self.items_depth && self.start.is_none() {
                        self.start = Some((at, self.line));
                        self.element_key = None;
                        self.element_expect = None;
                        self.element_api_version = None;
                        self.element_kind = None;
                    } else if depth == 1 && b == b'[' && self.key_is_items {
                        self.items_depth = Some(2);
                        self.top_has_items = true;
                        // The list's own fields are not needed: only its items are.
                        self.start = None;
                    }
                    self.stack.push(if b == b'{' {
                        Container::Object
                    } else {
                        Container::Array
                    });
                }
                b'}' | b']' => self.close(b, at, on_piece)?,
                b',' => {
                    if depth == 1 {
                        self.key_is_items = false;
                        self.top_key_is_kind = false;
                    }
                    if self.at_element_level(depth) {
                        self.element_key = None;
                        self.element_expect = None;
                    }
                }
                _ => {
                    if depth == 0 {
                        return Err(format!(
                            "expected an object or a list at line {}, found {:?}",
                            self.line, b as char
                        ));
                    }
                    self.element_scalar_start(depth, at);
                }
            }
        }
        Ok(())
    }

    /// Directly inside a list item that is an object (where its own keys are).
    fn at_element_level(&self, depth: usize) -> bool {
        !self.in_scalar && self.start.is_some() && self.items_depth.is_some_and(|d| depth == d + 1)
    }

    fn element_bytes(&self, a: usize, z: usize) -> &[u8] {
        let base = self.start.map_or(0, |(start, _)| start);
        &self.buf[base + a..base + z]
    }

    /// A string ended at `at`: an item's own key, or the value of its apiVersion or kind.
    fn element_string(&mut self, at: usize) {
        if !self.at_element_level(self.stack.len()) {
            return;
        }
        let base = self.start.map_or(0, |(start, _)| start);
        let range = (self.string_start - base, at - base);
        match self.element_expect.take() {
            Some(_) if self.string_escaped => {}
            Some(TypeField::ApiVersion) => self.element_api_version = Some(range),
            Some(TypeField::Kind) => self.element_kind = Some(range),
            None => self.element_key = Some(range),
        }
    }

    /// A number, literal or string directly in the items array: not an object.
    fn element_scalar_start(&mut self, depth: usize, at: usize) {
        if Some(depth) == self.items_depth && self.start.is_none() {
            self.start = Some((at, self.line));
            self.in_scalar = true;
        }
    }

    fn close(
        &mut self,
        b: u8,
        at: usize,
        on_piece: &mut dyn FnMut(Piece<'_>),
    ) -> Result<(), String> {
        let expected = if b == b'}' {
            Container::Object
        } else {
            Container::Array
        };
        if self.stack.pop() != Some(expected) {
            return Err(format!("unexpected {:?} at line {}", b as char, self.line));
        }
        let depth = self.stack.len();
        if Some(depth) == self.items_depth {
            if let Some((start, line)) = self.start.take() {
                let json = &self.buf[start..=at];
                let text = |range: Option<(usize, usize)>| {
                    range.and_then(|(a, z)| std::str::from_utf8(&json[a..z]).ok())
                };
                let type_meta = text(self.element_api_version).zip(text(self.element_kind));
                if json[0] == b'{' {
                    on_piece(Piece::Object {
                        json,
                        line,
                        type_meta,
                    });
                } else {
                    on_piece(Piece::NotAnObject { line });
                }
            }
        } else if Some(depth + 1) == self.items_depth {
            // The items array itself closed.
            self.items_depth = None;
        } else if depth == 0 {
            if let Some((start, line)) = self.start.take() {
                if !self.top_has_items {
                    on_piece(Piece::Object {
                        json: &self.buf[start..=at],
                        line,
                        type_meta: None,
                    });
                }
            }
            if self.top_has_items {
                if let Some(kind) = self.top_kind.take().filter(|k| !k.ends_with("List")) {
                    on_piece(Piece::NotAList {
                        line: self.top_line,
                        kind,
                    });
                }
            }
            self.last_top_string = None;
            self.key_is_items = false;
            self.top_key_is_kind = false;
            self.top_has_items = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits `text` read `chunk` bytes at a time, describing each piece.
    fn pieces(text: &str, chunk: usize) -> Vec<String> {
        struct Trickle<'a>(&'a [u8], usize);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = self.0.len().min(self.1).min(buf.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut out = Vec::new();
        split(Trickle(text.as_bytes(), chunk), &mut |p| {
            out.push(match p {
                Piece::Object {
                    json,
                    line,
                    type_meta,
                } => match type_meta {
                    Some((api_version, kind)) => format!(
                        "{line}:{api_version}/{kind}:{}",
                        String::from_utf8_lossy(json)
                    ),
                    None => format!("{line}:{}", String::from_utf8_lossy(json)),
                },
                Piece::NotAnObject { line } => format!("{line}:not an object"),
                Piece::NotAList { line, kind } => format!("{line}:not a list: {kind}"),
                Piece::Broken { message } => format!("broken: {message}"),
            })
        });
        out
    }

    #[test]
    fn list_items_are_handed_over_one_by_one_whatever_the_chunking() {
        let text = "{\"apiVersion\": \"v1\", \"kind\": \"List\", \"metadata\": {\"x\": [1, {\"items\": []}]},\n \"items\": [\n  {\"a\": \"}]\\\"{\"},\n  {\"b\": [1, 2, {\"c\": {}}]},\n  {\"metadata\": {\"kind\": \"x\"}, \"kind\": \"Pod\", \"apiVersion\": \"v1\", \"spec\": \"kind\"}\n]}\n";
        for chunk in [1, 2, 3, 7, 64, 1 << 16] {
            assert_eq!(
                pieces(text, chunk),
                [
                    "3:{\"a\": \"}]\\\"{\"}",
                    "4:{\"b\": [1, 2, {\"c\": {}}]}",
                    "5:v1/Pod:{\"metadata\": {\"kind\": \"x\"}, \"kind\": \"Pod\", \"apiVersion\": \"v1\", \"spec\": \"kind\"}"
                ],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn single_objects_and_arrays_of_objects_are_read_too() {
        assert_eq!(
            pieces(
                "{\"kind\": \"Pod\"}\n{\"kind\": \"Namespace\"}\n[{\"a\": 1}, {\"b\": 2}]",
                5
            ),
            [
                "1:{\"kind\": \"Pod\"}",
                "2:{\"kind\": \"Namespace\"}",
                "3:{\"a\": 1}",
                "3:{\"b\": 2}"
            ]
        );
    }

    #[test]
    fn elements_that_are_not_objects_are_named_and_skipped() {
        assert_eq!(
            pieces("{\"items\": [1, \"x,]\", null, [2], {\"ok\": true}]}", 4),
            [
                "1:not an object",
                "1:not an object",
                "1:not an object",
                "1:not an object",
                "1:{\"ok\": true}"
            ]
        );
    }

    #[test]
    fn truncation_and_broken_structure_end_the_stream_after_what_came_before() {
        let out = pieces("{\"items\": [{\"a\": 1},\n{\"b\": ", 3);
        assert_eq!(out[0], "1:{\"a\": 1}");
        assert_eq!(
            out[1],
            "broken: EOF while parsing: the snapshot ends inside an object at line 2 (truncated?)"
        );
        assert_eq!(out.len(), 2);
        assert_eq!(
            pieces("{\"items\": [{\"a\": 1]}", 3),
            ["broken: unexpected ']' at line 1"]
        );
        assert_eq!(
            pieces("garbage", 3),
            ["broken: expected an object or a list at line 1, found 'g'"]
        );
    }
}
