//! Edits applied to the text as the author wrote it: new lines at the indentation of their
//! mapping (block style) or new entries before the closing bracket (flow style and JSON).
//! Nothing else moves: comments, key order, quoting, blank lines and other documents stay
//! byte for byte.

use std::collections::HashMap;

use serde_json::Value;

use crate::plan::{Edit, Seg};
use crate::tree::{Kind, Node};

/// A change to the text: at `offset`, remove `remove` bytes and insert `insert`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextEdit {
    pub offset: usize,
    pub remove: usize,
    pub insert: String,
    /// How deep the edited collection is: of two insertions at one offset, the deeper one
    /// (a container's mapping ending where its pod's does) comes first.
    pub depth: usize,
}

/// Why an edit cannot be written into the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("{0}: not found in the document")]
    Missing(String),
    #[error("{0} is a YAML alias: edit its anchor by hand")]
    Alias(String),
    #[error("{0}: the list item spans several lines or shares its line; remove it by hand")]
    Shape(String),
}

/// Applies text edits (any order given; at one offset, deeper first, then in order given), in
/// one pass over the text.
pub fn apply(text: &str, edits: &[TextEdit]) -> String {
    let mut order: Vec<(usize, &TextEdit)> = edits.iter().enumerate().collect();
    order.sort_by(|(ia, a), (ib, b)| {
        a.offset
            .cmp(&b.offset)
            .then(b.depth.cmp(&a.depth))
            .then(ia.cmp(ib))
    });
    let mut out =
        String::with_capacity(text.len() + edits.iter().map(|e| e.insert.len()).sum::<usize>());
    let mut at = 0;
    for (_, e) in order {
        let start = e.offset.max(at).min(text.len());
        let end = (e.offset + e.remove).max(start).min(text.len());
        if !text.is_char_boundary(start) || !text.is_char_boundary(end) {
            continue;
        }
        out.push_str(&text[at..start]);
        out.push_str(&e.insert);
        at = end;
    }
    out.push_str(&text[at..]);
    out
}

/// The text edits for `edits` on one document (`text`, parsed as `root`); offsets are in
/// `text`. `json` writes new entries as JSON.
pub fn text_edits(
    text: &str,
    root: &Node,
    edits: &[Edit],
    json: bool,
) -> Result<Vec<TextEdit>, TextError> {
    let doc = Doc {
        text,
        json,
        nl: if text.contains("\r\n") { "\r\n" } else { "\n" },
        unit: indent_unit(text, root).unwrap_or(2),
    };
    // Entries added so far to each flow collection (keyed by its start): an empty `{}` that
    // got one entry needs a comma before the next.
    let mut added: HashMap<usize, usize> = HashMap::new();
    let mut out = Vec::new();
    for edit in edits {
        match edit {
            Edit::Add { at, key, value } => {
                let node = resolve(root, at)?;
                let Kind::Map(entries) = &node.kind else {
                    return Err(TextError::Missing(path_text(at)));
                };
                if doc.is_flow(node, b'{') {
                    let count = added.entry(node.start).or_default();
                    out.push(doc.flow_insert(
                        node,
                        entries.is_empty() && *count == 0,
                        &doc.flow_entry(key, value),
                        entries.last().map(|(k, _)| k.start),
                        at.len(),
                    ));
                    *count += 1;
                } else {
                    let first = entries
                        .first()
                        .map(|(k, _)| k.start)
                        .ok_or_else(|| TextError::Missing(path_text(at)))?;
                    let indent = column(text, first);
                    out.push(TextEdit {
                        offset: line_end(text, doc.end(node)),
                        remove: 0,
                        insert: format!("{}{}", doc.nl, doc.block_entry(key, value, indent)),
                        depth: at.len(),
                    });
                }
            }
            Edit::Append { at, value } => {
                let node = resolve(root, at)?;
                let Kind::Seq(items) = &node.kind else {
                    return Err(TextError::Missing(path_text(at)));
                };
                let rendered = if json {
                    value.to_string()
                } else {
                    flow_value(value)
                };
                if doc.is_flow(node, b'[') {
                    let count = added.entry(node.start).or_default();
                    out.push(doc.flow_insert(
                        node,
                        items.is_empty() && *count == 0,
                        &rendered,
                        items.last().map(|i| i.start),
                        at.len(),
                    ));
                    *count += 1;
                } else {
                    let first = items
                        .first()
                        .ok_or_else(|| TextError::Missing(path_text(at)))?;
                    let dash = dash_before(text, first.start)
                        .ok_or_else(|| TextError::Shape(path_text(at)))?;
                    out.push(TextEdit {
                        offset: line_end(text, doc.end(node)),
                        remove: 0,
                        insert: format!("{}{}- {rendered}", doc.nl, " ".repeat(column(text, dash))),
                        depth: at.len(),
                    });
                }
            }
            Edit::Remove { at, index } => {
                let node = resolve(root, at)?;
                let Kind::Seq(items) = &node.kind else {
                    return Err(TextError::Missing(path_text(at)));
                };
                let mut item_path = at.clone();
                item_path.push(Seg::Index(*index));
                let item = items
                    .get(*index)
                    .ok_or_else(|| TextError::Missing(path_text(&item_path)))?;
                if matches!(item.kind, Kind::Map(_) | Kind::Seq(_)) {
                    return Err(TextError::Shape(path_text(&item_path)));
                }
                let item_end = doc.end(item);
                if doc.is_flow(node, b'[') {
                    // With the comma that separates it from a neighbour.
                    let (from, to) = match (
                        index.checked_sub(1).and_then(|i| items.get(i)),
                        items.get(index + 1),
                    ) {
                        (_, Some(next)) => (item.start, next.start),
                        (Some(prev), None) => (doc.end(prev), item_end),
                        (None, None) => (item.start, item_end),
                    };
                    out.push(TextEdit {
                        offset: from,
                        remove: to - from,
                        insert: String::new(),
                        depth: at.len(),
                    });
                } else {
                    let dash = dash_before(text, item.start)
                        .ok_or_else(|| TextError::Shape(path_text(&item_path)))?;
                    let start = line_start(text, dash);
                    let end = line_end(text, item_end);
                    let alone = text[start..dash].trim().is_empty()
                        && !text[item_end..end]
                            .trim_start()
                            .starts_with(|c: char| c != '#');
                    if !alone {
                        return Err(TextError::Shape(path_text(&item_path)));
                    }
                    let end = if text[end..].starts_with("\r\n") {
                        end + 2
                    } else if text[end..].starts_with('\n') {
                        end + 1
                    } else {
                        end
                    };
                    out.push(TextEdit {
                        offset: start,
                        remove: end - start,
                        insert: String::new(),
                        depth: at.len(),
                    });
                }
            }
        }
    }
    Ok(out)
}

struct Doc<'t> {
    text: &'t str,
    json: bool,
    nl: &'static str,
    unit: usize,
}

impl Doc<'_> {
    fn is_flow(&self, node: &Node, open: u8) -> bool {
        self.text.as_bytes().get(node.start) == Some(&open)
    }

    /// Where the node's text ends (after a flow collection's closing bracket).
    fn end(&self, node: &Node) -> usize {
        match &node.kind {
            Kind::Map(entries) => {
                if self.is_flow(node, b'{') {
                    return self.flow_close(node).map_or(node.start + 1, |c| c + 1);
                }
                entries.last().map_or(node.start, |(k, v)| {
                    (k.start + k.name.len()).max(self.end(v))
                })
            }
            Kind::Seq(items) => {
                if self.is_flow(node, b'[') {
                    return self.flow_close(node).map_or(node.start + 1, |c| c + 1);
                }
                items.last().map_or(node.start, |i| self.end(i))
            }
            _ => {
                if node.len > 0 {
                    node.start + node.len
                } else {
                    node.start
                }
            }
        }
    }

    /// The closing bracket of a flow collection: after its last child, past spaces, commas
    /// and comments.
    fn flow_close(&self, node: &Node) -> Option<usize> {
        let from = match &node.kind {
            Kind::Map(entries) => entries.last().map(|(_, v)| self.end(v)),
            Kind::Seq(items) => items.last().map(|i| self.end(i)),
            _ => None,
        }
        .unwrap_or(node.start + 1);
        let bytes = self.text.as_bytes();
        let mut i = from;
        while i < bytes.len() {
            match bytes[i] {
                b'}' | b']' => return Some(i),
                b'#' => {
                    while i < bytes.len() && bytes[i] != b'\n' {
                        i += 1;
                    }
                }
                // The rest of a quoted scalar whose length the parser did not report.
                _ => i += 1,
            }
        }
        None
    }

    /// Inserts an entry into a flow collection: after its last entry (on a new line at that
    /// entry's indentation when the collection spans lines), or inside an empty one.
    fn flow_insert(
        &self,
        node: &Node,
        empty: bool,
        entry: &str,
        last_entry_start: Option<usize>,
        depth: usize,
    ) -> TextEdit {
        let close = self.flow_close(node).unwrap_or(node.start + 1);
        if empty {
            return TextEdit {
                offset: node.start + 1,
                remove: 0,
                insert: entry.to_string(),
                depth,
            };
        }
        let last_end = match &node.kind {
            Kind::Map(entries) => entries.last().map(|(_, v)| self.end(v)),
            Kind::Seq(items) => items.last().map(|i| self.end(i)),
            _ => None,
        }
        .unwrap_or(close);
        let multiline = self.text[last_end..close].contains('\n');
        let insert = match last_entry_start {
            Some(start) if multiline => format!(
                ",{}{}{entry}",
                self.nl,
                " ".repeat(column(self.text, start))
            ),
            _ => format!(", {entry}"),
        };
        TextEdit {
            offset: last_end,
            remove: 0,
            insert,
            depth,
        }
    }

    fn flow_entry(&self, key: &str, value: &Value) -> String {
        if self.json {
            format!("{}: {value}", Value::String(key.to_string()))
        } else {
            format!("{}: {}", flow_scalar(key), flow_value(value))
        }
    }

    /// `key: value` as block lines at `indent` (nested mappings one unit deeper each).
    fn block_entry(&self, key: &str, value: &Value, indent: usize) -> String {
        let pad = " ".repeat(indent);
        match value {
            Value::Object(map) if !map.is_empty() => {
                let mut out = format!("{pad}{}:", flow_scalar(key));
                for (k, v) in map {
                    out.push_str(self.nl);
                    out.push_str(&self.block_entry(k, v, indent + self.unit));
                }
                out
            }
            other => format!("{pad}{}: {}", flow_scalar(key), flow_value(other)),
        }
    }
}

/// A value in YAML flow style: `[ALL]`, `{type: RuntimeDefault}`, `true`.
fn flow_value(value: &Value) -> String {
    match value {
        Value::String(s) => flow_scalar(s),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(flow_value).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{}: {}", flow_scalar(k), flow_value(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

/// A string plain when YAML reads it back as the same string, quoted otherwise.
fn flow_scalar(s: &str) -> String {
    let reserved = [
        "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~",
    ];
    let plain = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '/')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
        && !reserved.contains(&s.to_ascii_lowercase().as_str());
    if plain {
        s.to_string()
    } else {
        Value::String(s.to_string()).to_string()
    }
}

fn resolve<'n>(root: &'n Node, path: &[Seg]) -> Result<&'n Node, TextError> {
    let mut node = root;
    for (i, seg) in path.iter().enumerate() {
        if node.aliased {
            return Err(TextError::Alias(path_text(&path[..i])));
        }
        node = match seg {
            Seg::Key(k) => node.get(k),
            Seg::Index(n) => node.index(*n),
        }
        .ok_or_else(|| TextError::Missing(path_text(&path[..=i])))?;
    }
    if node.aliased {
        return Err(TextError::Alias(path_text(path)));
    }
    Ok(node)
}

/// `spec.containers[0].securityContext`.
pub fn path_text(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

fn line_start(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1)
}

/// The end of the line holding `offset` (before its `\r\n` or `\n`), past a trailing comment.
fn line_end(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    let end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    if end > offset && text[..end].ends_with('\r') {
        end - 1
    } else {
        end
    }
}

fn column(text: &str, offset: usize) -> usize {
    offset - line_start(text, offset)
}

/// The `-` of a block sequence item whose content starts at `offset`, on the same line.
fn dash_before(text: &str, offset: usize) -> Option<usize> {
    let start = line_start(text, offset);
    text[start..offset].rfind('-').map(|i| start + i)
}

/// How many columns nested mappings step in, as the document does it.
fn indent_unit(text: &str, node: &Node) -> Option<usize> {
    match &node.kind {
        Kind::Map(entries) => entries.iter().find_map(|(k, v)| {
            if let Kind::Map(children) = &v.kind {
                if let Some((child, _)) = children.first() {
                    let (parent_col, child_col) =
                        (column(text, k.start), column(text, child.start));
                    if child_col > parent_col && line_start(text, child.start) > k.start {
                        return Some(child_col - parent_col);
                    }
                }
            }
            indent_unit(text, v)
        }),
        Kind::Seq(items) => items.iter().find_map(|i| indent_unit(text, i)),
        _ => None,
    }
}
