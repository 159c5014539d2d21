//! Splits a YAML stream into its objects without parsing them, line by line: every document
//! of a multi-document stream, and the entries of a document's top-level `items:` block
//! sequence one by one (what `kubectl get … -o yaml` prints is one `v1/List` document). Only
//! the object being read is buffered, so a 100k-pod list costs the memory of its largest item.
//!
//! Any Kubernetes document with a top-level `items:` block sequence is a `*List`; its other
//! top-level fields (`apiVersion`, `kind: List`, `metadata`) describe the wrapper and are
//! dropped. A flow sequence (`items: [...]`) is not split: the document is handed over whole.

use std::io::BufRead;

/// One object's YAML text and the line it starts on. An item's text keeps its indentation,
/// with its `-` replaced by a space: a block mapping indented as a whole is still valid YAML
/// and its lines keep their numbers relative to `line`.
pub struct YamlPiece {
    pub text: Vec<u8>,
    pub line: usize,
}

/// What the splitter hands over.
pub enum Piece {
    Object(YamlPiece),
    /// An object larger than the limit: skipped.
    TooLarge {
        line: usize,
    },
    /// A document with a top-level `items:` sequence whose `kind` is not a `*List`: its
    /// entries were handed over, the document itself was not.
    NotAList {
        line: usize,
        kind: String,
    },
    /// The stream cannot be read further (an I/O error).
    Broken {
        message: String,
    },
}

/// The largest object read (the API server's own limit on a request is 3 MiB).
pub(crate) const MAX_OBJECT: usize = 64 << 20;

enum State {
    /// Collecting a document (or a list's header) whole.
    Document,
    /// Inside a top-level `items:`; the sequence's indentation once its first entry is seen.
    Items { indent: Option<usize> },
    /// After a list's items: the wrapper's remaining fields, dropped.
    ListTail,
}

struct Splitter<'a> {
    on_piece: &'a mut dyn FnMut(Piece),
    state: State,
    current: Vec<u8>,
    current_line: usize,
    /// The current object has passed the limit: its remaining lines are skipped.
    oversized: bool,
    /// Whether `current` holds anything but blank lines and comments.
    has_content: bool,
    /// The document's first line, its top-level `kind`, and whether its items were split.
    document_line: usize,
    document_kind: Option<String>,
    split_items: bool,
}

/// Calls `on_piece` for every object in `reader`, in order.
pub fn split<R: BufRead>(mut reader: R, on_piece: &mut dyn FnMut(Piece)) {
    let mut s = Splitter {
        on_piece,
        state: State::Document,
        current: Vec::new(),
        current_line: 1,
        oversized: false,
        has_content: false,
        document_line: 1,
        document_kind: None,
        split_items: false,
    };
    let mut line = Vec::new();
    let mut number = 0usize;
    loop {
        line.clear();
        // A line is read up to the object limit: a longer one marks its object too large and
        // the rest of it is skipped, so memory stays bounded.
        let read = read_line_bounded(&mut reader, &mut line);
        match read {
            Ok(LineRead::End) => break,
            Ok(LineRead::Line) => {
                number += 1;
                s.line(&line, number);
            }
            Ok(LineRead::TooLong) => {
                number += 1;
                s.line_too_long(number);
            }
            Err(e) => {
                s.flush();
                (s.on_piece)(Piece::Broken {
                    message: format!("cannot read past line {number}: {e}"),
                });
                return;
            }
        }
    }
    s.end_document();
}

enum LineRead {
    Line,
    TooLong,
    End,
}

fn read_line_bounded<R: BufRead>(reader: &mut R, line: &mut Vec<u8>) -> std::io::Result<LineRead> {
    let limit = MAX_OBJECT as u64 + 1;
    if std::io::Read::take(&mut *reader, limit).read_until(b'\n', line)? == 0 {
        return Ok(LineRead::End);
    }
    if line.len() <= MAX_OBJECT || line.ends_with(b"\n") {
        return Ok(LineRead::Line);
    }
    // Skip to the end of the line, a buffer at a time.
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(LineRead::TooLong);
        }
        match buf.iter().position(|&b| b == b'\n') {
            Some(i) => {
                reader.consume(i + 1);
                return Ok(LineRead::TooLong);
            }
            None => {
                let n = buf.len();
                reader.consume(n);
            }
        }
    }
}

impl Splitter<'_> {
    fn line(&mut self, line: &[u8], number: usize) {
        let content = trim_end(line);
        if is_document_marker(content) {
            self.end_document();
            self.document_line = number + 1;
            self.state = State::Document;
            self.current_line = number + 1;
            // `--- {kind: Pod, …}` or `--- !tag`: the document starts on the marker's line.
            let after = content[3..].trim_ascii_start();
            if content.starts_with(b"---") && !after.is_empty() && !after.starts_with(b"#") {
                self.append(line, number, false);
            }
            return;
        }
        let indent = content.iter().take_while(|&&b| b == b' ').count();
        let rest = &content[indent..];
        if indent == 0 {
            if let Some(kind) = rest.strip_prefix(b"kind:") {
                let kind = String::from_utf8_lossy(kind.trim_ascii());
                self.document_kind = Some(kind.trim_matches(['"', '\'']).to_string());
            }
        }
        let insignificant = rest.is_empty() || rest.starts_with(b"#");
        match self.state {
            State::Document => {
                // Directives (`%YAML 1.2`) belong to the next document's start.
                let insignificant = insignificant || (!self.has_content && rest.starts_with(b"%"));
                self.append(line, number, insignificant);
                if indent == 0 && is_block_items_key(rest) {
                    // Probably a list: its first entry drops the wrapper read so far.
                    self.state = State::Items { indent: None };
                }
            }
            State::Items { indent: seq } => {
                if insignificant {
                    if !self.current.is_empty() {
                        self.append(line, number, true);
                    }
                    return;
                }
                let is_entry = rest == b"-" || rest.starts_with(b"- ");
                match seq {
                    None if is_entry => self.start_item(line, indent, number),
                    // `items:` is empty or not a sequence of entries: not split, the document
                    // is read whole.
                    None => {
                        self.state = State::Document;
                        self.append(line, number, false);
                    }
                    Some(seq) if indent == seq && is_entry => {
                        self.flush();
                        self.start_item(line, indent, number);
                    }
                    Some(seq) if indent > seq => self.append(line, number, false),
                    // The first field after the entries.
                    Some(_) => {
                        self.flush();
                        self.state = State::ListTail;
                    }
                }
            }
            State::ListTail => {}
        }
    }

    fn line_too_long(&mut self, number: usize) {
        if self.current.is_empty() {
            self.current_line = number;
        }
        self.oversized = true;
        self.current.clear();
    }

    fn start_item(&mut self, line: &[u8], indent: usize, number: usize) {
        self.split_items = true;
        self.state = State::Items {
            indent: Some(indent),
        };
        self.discard(number);
        let mut text = line.to_vec();
        if let Some(dash) = text.get_mut(indent) {
            *dash = b' ';
        }
        self.append(&text, number, false);
    }

    fn append(&mut self, line: &[u8], number: usize, insignificant: bool) {
        if self.oversized {
            return;
        }
        if self.current.is_empty() {
            self.current_line = number;
        }
        if self.current.len() + line.len() > MAX_OBJECT {
            self.oversized = true;
            self.current.clear();
            return;
        }
        self.current.extend_from_slice(line);
        if !line.ends_with(b"\n") {
            self.current.push(b'\n');
        }
        self.has_content |= !insignificant;
    }

    /// Drops what was collected (a list's wrapper): the next object starts at `next_line`.
    fn discard(&mut self, next_line: usize) {
        self.current.clear();
        self.has_content = false;
        self.oversized = false;
        self.current_line = next_line;
    }

    /// The document is over: hands over what is pending, then says so if its items were
    /// split although it is not a `*List`.
    fn end_document(&mut self) {
        self.flush();
        if std::mem::take(&mut self.split_items) {
            if let Some(kind) = self.document_kind.take().filter(|k| !k.ends_with("List")) {
                (self.on_piece)(Piece::NotAList {
                    line: self.document_line,
                    kind,
                });
            }
        }
        self.document_kind = None;
    }

    fn flush(&mut self) {
        if self.oversized {
            (self.on_piece)(Piece::TooLarge {
                line: self.current_line,
            });
        } else if self.has_content && !matches!(self.state, State::ListTail) {
            (self.on_piece)(Piece::Object(YamlPiece {
                text: std::mem::take(&mut self.current),
                line: self.current_line,
            }));
        }
        self.discard(self.current_line);
    }
}

fn trim_end(line: &[u8]) -> &[u8] {
    let end = line
        .iter()
        .rposition(|b| !b" \t\r\n".contains(b))
        .map_or(0, |i| i + 1);
    &line[..end]
}

/// `---` or `...` (alone, or `---` followed by content such as a tag, which is rare in
/// manifests and handled as a plain marker).
fn is_document_marker(content: &[u8]) -> bool {
    (content.starts_with(b"---") || content.starts_with(b"..."))
        && content.get(3).is_none_or(|b| *b == b' ' || *b == b'\t')
}

/// `items:` with nothing after it but a comment: a block sequence follows.
fn is_block_items_key(rest: &[u8]) -> bool {
    let Some(after) = rest
        .strip_prefix(b"items:")
        .or_else(|| rest.strip_prefix(b"\"items\":"))
    else {
        return false;
    };
    let after = after.trim_ascii_start();
    after.is_empty() || after.starts_with(b"#")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(text: &str) -> Vec<(String, usize)> {
        let mut out = Vec::new();
        split(text.as_bytes(), &mut |p| match p {
            Piece::Object(p) => out.push((String::from_utf8_lossy(&p.text).into_owned(), p.line)),
            Piece::TooLarge { line } => out.push(("TOO LARGE".into(), line)),
            Piece::NotAList { line, kind } => out.push((format!("not a list: {kind}"), line)),
            Piece::Broken { message } => out.push((message, 0)),
        });
        out
    }

    #[test]
    fn kubectl_list_items_are_handed_over_one_by_one() {
        let text = "apiVersion: v1\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: a\n  spec:\n    containers:\n    - name: c\n      args:\n      - |\n        multi\n        line\n- apiVersion: v1\n  kind: Namespace\n  metadata:\n    name: n\nkind: List\nmetadata:\n  resourceVersion: \"\"\n";
        let got = pieces(text);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].1, 3);
        assert!(got[0].0.starts_with("  apiVersion: v1\n  kind: Pod\n"));
        assert!(got[0].0.ends_with("        line\n"));
        assert_eq!(
            got[1],
            (
                "  apiVersion: v1\n  kind: Namespace\n  metadata:\n    name: n\n".into(),
                14
            )
        );
    }

    #[test]
    fn indented_sequences_and_comments() {
        let text = "kind: List\nitems:   # the objects\n  # first\n  -   kind: Pod\n      metadata: {name: a}\n\n  - kind: Pod\n    metadata: {name: b}\n";
        let got = pieces(text);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].1, 4);
        assert!(got[0]
            .0
            .starts_with("      kind: Pod\n      metadata: {name: a}\n"));
        assert_eq!(got[1].0, "    kind: Pod\n    metadata: {name: b}\n");
    }

    #[test]
    fn documents_without_items_are_handed_over_whole() {
        let text = "# leading comment\n---\nkind: Namespace\nmetadata:\n  name: a\n---\n---\nkind: Pod\nitems: [1, 2]\n...\n";
        let got = pieces(text);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(
            got[0],
            ("kind: Namespace\nmetadata:\n  name: a\n".into(), 3)
        );
        assert_eq!(got[1], ("kind: Pod\nitems: [1, 2]\n".into(), 8));
    }

    #[test]
    fn content_on_the_document_marker_line_is_kept() {
        let got = pieces("--- {kind: Namespace, metadata: {name: a}}\n--- # comment\nkind: Pod\n");
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(
            got[0],
            ("--- {kind: Namespace, metadata: {name: a}}\n".into(), 1)
        );
        assert_eq!(got[1], ("kind: Pod\n".into(), 3));
        let docs = podsec_manifest::decode(
            got[0].0.as_bytes(),
            podsec_manifest::Format::Yaml,
            &podsec_manifest::Limits::default(),
        );
        let value = &docs[0].as_ref().expect("decodes").value;
        assert_eq!(value["metadata"]["name"], "a");
    }

    #[test]
    fn items_that_are_not_a_block_sequence_leave_the_document_whole() {
        let flow = "apiVersion: v1\nitems: []\nkind: List\n";
        assert_eq!(pieces(flow), [(flow.to_string(), 1)]);
        let null = "apiVersion: v1\nitems:\nkind: List\nmetadata: {}\n";
        assert_eq!(pieces(null), [(null.to_string(), 1)]);
        let mapping = "apiVersion: x/v1\nkind: Widget\nitems:\n  color: red\n";
        assert_eq!(pieces(mapping), [(mapping.to_string(), 1)]);
    }

    #[test]
    fn directives_do_not_make_a_document_of_their_own() {
        let got = pieces("%YAML 1.2\n---\nkind: Pod\n");
        assert_eq!(got, [("kind: Pod\n".to_string(), 3)]);
    }

    #[test]
    fn an_overlong_line_marks_its_object_too_large_and_the_next_one_is_read() {
        let mut text = String::from("items:\n- kind: Pod\n  data: ");
        text.push_str(&"x".repeat(MAX_OBJECT + 10));
        text.push_str("\n- kind: Namespace\n");
        let got = pieces(&text);
        assert_eq!(
            got.len(),
            2,
            "{:?}",
            got.iter().map(|g| g.1).collect::<Vec<_>>()
        );
        assert_eq!(got[0], ("TOO LARGE".to_string(), 2));
        assert_eq!(got[1], ("  kind: Namespace\n".to_string(), 4));
    }

    #[test]
    fn each_item_decodes_as_its_own_document() {
        let text = "items:\n- kind: Pod\n  metadata:\n    name: a\n    labels: {x: \"1\"}\n  spec:\n    containers:\n    - name: c\n      image: nginx\n";
        let got = pieces(text);
        let docs = podsec_manifest::decode(
            got[0].0.as_bytes(),
            podsec_manifest::Format::Yaml,
            &podsec_manifest::Limits::default(),
        );
        let value = &docs[0].as_ref().expect("item decodes").value;
        assert_eq!(value["metadata"]["labels"]["x"], "1");
        assert_eq!(value["spec"]["containers"][0]["image"], "nginx");
    }
}
