//! Text in, JSON values out: splits YAML and JSON streams into documents, and `*List` objects
//! into their items, each with the 1-based line where it starts.
//!
//! A broken document is reported with its line and does not stop the documents after it.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::object::FieldKey;

/// How a stream of manifests is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
}

impl Format {
    /// Picks the format from a file name, or from the content when the name does not tell
    /// (stdin): JSON when the first non-blank character opens an object or array.
    pub fn detect(file_name: Option<&str>, text: &str) -> Format {
        let lower = file_name.map(str::to_ascii_lowercase);
        match lower.as_deref() {
            Some(n) if n.ends_with(".json") => Format::Json,
            Some(n) if n.ends_with(".yaml") || n.ends_with(".yml") => Format::Yaml,
            _ if text.trim_start().starts_with(['{', '[']) => Format::Json,
            _ => Format::Yaml,
        }
    }
}

/// Resource limits for decoding.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The largest document accepted, in bytes. A `*List` document may hold many objects, so
    /// this is far above the API server's 3 MiB request limit.
    pub max_document_bytes: usize,
    /// The deepest nesting accepted (JSON and YAML).
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_document_bytes: 64 << 20,
            // serde-saphyr recurses per level; 64 levels fit a 2 MiB thread stack even in debug
            // builds, and no Kubernetes pod object comes near it.
            max_depth: 64,
        }
    }
}

/// A decoded object and the line it starts on.
#[derive(Debug, Clone, PartialEq)]
pub struct Located {
    pub line: usize,
    pub value: Value,
}

/// Why a document (or a whole file) could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct DecodeError {
    pub line: usize,
    pub message: String,
}

impl DecodeError {
    fn new(line: usize, message: impl fmt::Display) -> Self {
        DecodeError {
            line,
            message: message.to_string(),
        }
    }
}

/// Decodes every object in `bytes`, in order. `*List` objects are replaced by their items.
/// Empty documents are dropped.
pub fn decode(bytes: &[u8], format: Format, limits: &Limits) -> Vec<Result<Located, DecodeError>> {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let at = e.valid_up_to();
            let line = line_at(bytes, at);
            let byte = bytes.get(at).copied().unwrap_or_default();
            return vec![Err(DecodeError::new(
                line,
                format_args!(
                    "not UTF-8 text (byte 0x{byte:02x} at offset {at}); is this a binary file?"
                ),
            ))];
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    match format {
        Format::Yaml => decode_yaml(text, limits, &mut out),
        Format::Json => decode_json(text, limits, &mut out),
    }
    out
}

/// Line numbers of increasing offsets, counting each newline once (a list of 10,000 items on
/// one line would otherwise be scanned from its start for every item).
struct LineCursor<'a> {
    bytes: &'a [u8],
    offset: usize,
    line: usize,
}

impl<'a> LineCursor<'a> {
    fn new(bytes: &'a [u8]) -> LineCursor<'a> {
        LineCursor {
            bytes,
            offset: 0,
            line: 1,
        }
    }

    fn at(&mut self, offset: usize) -> usize {
        let offset = offset.min(self.bytes.len());
        if offset < self.offset {
            self.offset = 0;
            self.line = 1;
        }
        self.line += self.bytes[self.offset..offset]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        self.offset = offset;
        self.line
    }
}

fn line_at(bytes: &[u8], offset: usize) -> usize {
    bytes[..offset.min(bytes.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

fn human_size(bytes: usize) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
    } else {
        format!("{bytes} bytes")
    }
}

fn too_large(line: usize, size: usize, limits: &Limits) -> DecodeError {
    DecodeError::new(
        line,
        format_args!(
            "document is {}, larger than the {} limit; split it into smaller documents",
            human_size(size),
            human_size(limits.max_document_bytes)
        ),
    )
}

// ---------------------------------------------------------------------------------------------
// YAML

/// One YAML document of a stream: its text and the line of its first line.
struct YamlChunk<'a> {
    first_line: usize,
    /// Byte offset of `text` in the stream.
    offset: usize,
    text: &'a str,
}

/// Splits a YAML stream at document markers. A `---` or `...` at the start of a line always
/// ends the current document in YAML (even inside a block scalar), so splitting by lines is
/// exact, and keeps a syntax error in one document from hiding the others.
fn split_yaml(text: &str) -> Vec<YamlChunk<'_>> {
    let is_marker = |line: &str, marker: &str| {
        line.strip_prefix(marker)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\r']))
    };
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut start_line = 1;
    let mut offset = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let line_no = index + 1;
        let content = line.trim_end_matches('\n');
        if is_marker(content, "---") {
            chunks.push(YamlChunk {
                first_line: start_line,
                offset: start,
                text: &text[start..offset],
            });
            start = offset;
            start_line = line_no;
        } else if is_marker(content, "...") {
            chunks.push(YamlChunk {
                first_line: start_line,
                offset: start,
                text: &text[start..offset],
            });
            start = offset + line.len();
            start_line = line_no + 1;
        }
        offset += line.len();
    }
    chunks.push(YamlChunk {
        first_line: start_line,
        offset: start,
        text: &text[start..],
    });
    chunks
}

/// The documents of a YAML stream as `(byte offset, text)`, split as [`decode`] splits them.
pub fn yaml_documents(text: &str) -> Vec<(usize, &str)> {
    split_yaml(text)
        .into_iter()
        .map(|c| (c.offset, c.text))
        .collect()
}

/// The line of a chunk's first content (skipping blank lines, comments and a bare `---`).
fn content_line(chunk: &YamlChunk<'_>) -> Option<usize> {
    chunk.text.lines().enumerate().find_map(|(i, line)| {
        let t = line.trim();
        let blank = t.is_empty() || t.starts_with('#') || t == "---";
        (!blank).then_some(chunk.first_line + i)
    })
}

/// The YAML options manifests are decoded with (YAML 1.1 scalars as kubectl reads them).
pub fn yaml_options(limits: &Limits) -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = limits.max_depth;
    // Lists of thousands of objects are normal input; the document size limit bounds these.
    budget.max_events = usize::MAX;
    budget.max_nodes = usize::MAX;
    budget.max_total_scalar_bytes = usize::MAX;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    // Kubernetes reads YAML 1.1 through sigs.k8s.io/yaml: `0644` is octal, `yes` is true.
    options.legacy_octal_numbers = true;
    options.with_snippet = false;
    options
}

/// serde-saphyr's messages, in podsec's words where serde-saphyr speaks to the programmer
/// (`set DuplicateKeyPolicy in Options`) rather than to whoever wrote the YAML.
struct YamlMessages;

impl serde_saphyr::MessageFormatter for YamlMessages {
    fn format_message<'a>(&self, err: &'a serde_saphyr::Error) -> std::borrow::Cow<'a, str> {
        match err {
            serde_saphyr::Error::DuplicateMappingKey { key: Some(key), .. } => format!(
                "duplicate key {key:?}: a mapping may hold a key once; remove or merge the repeated one"
            )
            .into(),
            serde_saphyr::Error::DuplicateMappingKey { key: None, .. } => {
                "duplicate key: a mapping may hold a key once; remove or merge the repeated one"
                    .into()
            }
            _ => serde_saphyr::MessageFormatter::format_message(
                &serde_saphyr::DefaultMessageFormatter,
                err,
            ),
        }
    }
}

/// A serde-saphyr error as a message without its position, and the position (1-based line
/// and column in the text that was parsed), for callers that print `file:line: message`.
pub fn yaml_message(err: &serde_saphyr::Error) -> (String, Option<(usize, usize)>) {
    let message = err.render_with_formatter(&YamlMessages);
    let Some(loc) = err.location() else {
        return (message, None);
    };
    let (line, column) = (loc.line() as usize, loc.column() as usize);
    let message = match message.strip_suffix(&format!(" at line {line}, column {column}")) {
        Some(stripped) => stripped.to_string(),
        None => message,
    };
    (plain_budget_message(message), Some((line, column)))
}

/// The parser's limits in words: its own text (`budget breached: Nodes { nodes: 250001 }`)
/// names a Rust type.
fn plain_budget_message(message: String) -> String {
    let Some(rest) = message.strip_prefix("budget breached: ") else {
        return message;
    };
    match rest.split([' ', '{']).next().unwrap_or_default() {
        "Depth" => NESTING_TOO_DEEP.to_string(),
        limit => format!(
            "the document is larger than the YAML parser accepts ({limit} limit); anchors (&) and aliases (*) count once per use, so expand them or split the document"
        ),
    }
}

const NESTING_TOO_DEEP: &str = "nesting is too deep";

/// Turns a serde-saphyr error into a message and an absolute line.
fn yaml_error(
    err: &serde_saphyr::Error,
    chunk: &YamlChunk<'_>,
    fallback_line: usize,
    limits: &Limits,
) -> DecodeError {
    let (mut message, position) = yaml_message(err);
    if message == NESTING_TOO_DEEP {
        message = format!(
            "nesting is deeper than the {}-level limit",
            limits.max_depth
        );
    }
    match position {
        Some((line, column)) => DecodeError::new(
            chunk.first_line + line.saturating_sub(1),
            format_args!("{message} (column {column})"),
        ),
        None => DecodeError::new(fallback_line, message),
    }
}

#[derive(Deserialize)]
struct SpannedList {
    items: Vec<serde_saphyr::Spanned<serde::de::IgnoredAny>>,
}

fn decode_yaml(text: &str, limits: &Limits, out: &mut Vec<Result<Located, DecodeError>>) {
    let options = yaml_options(limits);
    for chunk in split_yaml(text) {
        let Some(line) = content_line(&chunk) else {
            continue;
        };
        if chunk.text.len() > limits.max_document_bytes {
            out.push(Err(too_large(line, chunk.text.len(), limits)));
            continue;
        }
        let value: Value = match serde_saphyr::from_str_with_options(chunk.text, options.clone()) {
            Ok(v) => v,
            Err(e) => {
                out.push(Err(yaml_error(&e, &chunk, line, limits)));
                continue;
            }
        };
        if value.is_null() {
            continue;
        }
        if let Some(found) = list_without_items(&value) {
            out.push(Err(DecodeError::new(
                line,
                format_args!("a List's items must be a list of objects; found {found}"),
            )));
            continue;
        }
        if !is_list(&value) {
            out.push(Ok(Located { line, value }));
            continue;
        }
        // Parse again for the items' positions; only lists pay for this.
        let lines: Vec<usize> =
            serde_saphyr::from_str_with_options::<SpannedList>(chunk.text, options.clone())
                .map(|l| {
                    l.items
                        .iter()
                        .map(|i| {
                            chunk.first_line + (i.referenced.line() as usize).saturating_sub(1)
                        })
                        .collect()
                })
                .unwrap_or_default();
        push_list_items(value, line, &lines, out);
    }
}

/// For a `*List` whose `items` is there but not a list: what it is instead.
fn list_without_items(value: &Value) -> Option<&'static str> {
    let kind = value.get("kind").and_then(Value::as_str)?;
    if !kind.ends_with("List") {
        return None;
    }
    match value.get("items")? {
        Value::Array(_) | Value::Null => None,
        Value::Object(_) => Some("a map"),
        Value::String(_) => Some("a string"),
        Value::Number(_) => Some("a number"),
        Value::Bool(_) => Some("a boolean"),
    }
}

fn is_list(value: &Value) -> bool {
    value
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k.ends_with("List"))
        && value.get("items").is_some_and(Value::is_array)
}

/// The type of a typed list's items (`PodList` holds `Pod`s): the API server leaves `kind` and
/// `apiVersion` out of them, so they are taken from the list, as kubectl does.
struct ItemType {
    kind: Option<String>,
    api_version: Option<String>,
}

impl ItemType {
    fn of(list: &serde_json::Map<String, Value>) -> ItemType {
        ItemType {
            kind: list
                .get("kind")
                .and_then(Value::as_str)
                .and_then(|k| k.strip_suffix("List"))
                .filter(|k| !k.is_empty())
                .map(str::to_string),
            api_version: list
                .get("apiVersion")
                .and_then(Value::as_str)
                .map(str::to_string),
        }
    }

    fn fill(&self, item: &mut Value) {
        let Some(kind) = &self.kind else { return };
        let Value::Object(map) = item else { return };
        if map.contains_key("kind") {
            return;
        }
        map.insert("kind".into(), Value::String(kind.clone()));
        if let (false, Some(v)) = (map.contains_key("apiVersion"), &self.api_version) {
            map.insert("apiVersion".into(), Value::String(v.clone()));
        }
    }
}

fn push_list_items(
    list: Value,
    list_line: usize,
    lines: &[usize],
    out: &mut Vec<Result<Located, DecodeError>>,
) {
    let Value::Object(mut map) = list else { return };
    let Some(Value::Array(items)) = map.remove("items") else {
        return;
    };
    let item_type = ItemType::of(&map);
    for (i, mut item) in items.into_iter().enumerate() {
        let line = lines.get(i).copied().unwrap_or(list_line);
        item_type.fill(&mut item);
        if is_list(&item) {
            push_list_items(item, line, &[], out);
        } else {
            out.push(Ok(Located { line, value: item }));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Field lines

/// The 1-based line, in `text` (one YAML document or JSON object, as [`decode`] was given
/// it), where the value at `field` starts; `None` when the path is not found. For errors only:
/// the text is parsed again, following the path and skipping everything else.
pub fn field_line(text: &str, format: Format, field: &[FieldKey]) -> Option<usize> {
    if field.is_empty() {
        return None;
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let seek = Seek {
        rest: field,
        text,
        yaml: format == Format::Yaml,
    };
    match format {
        Format::Yaml => serde_saphyr::with_deserializer_from_str_with_options(
            text,
            yaml_options(&Limits::default()),
            |de| seek.deserialize(de),
        )
        .ok()
        .flatten(),
        Format::Json => {
            let mut de = serde_json::Deserializer::from_str(text);
            seek.deserialize(&mut de).ok().flatten()
        }
    }
}

/// Follows `rest` down a document; yields the line of the value at its end.
#[derive(Clone, Copy)]
struct Seek<'p, 'de> {
    rest: &'p [FieldKey],
    text: &'de str,
    yaml: bool,
}

impl<'de> Seek<'_, 'de> {
    /// The value at the end of the path: its line, from serde-saphyr's span (YAML) or from
    /// where its raw text sits in `text` (JSON).
    fn leaf<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        if self.yaml {
            let spanned =
                <serde_saphyr::Spanned<serde::de::IgnoredAny> as Deserialize>::deserialize(d)?;
            return Ok(Some(spanned.referenced.line() as usize));
        }
        let raw = <&'de RawValue as Deserialize<'de>>::deserialize(d)?;
        let offset = (raw.get().as_ptr() as usize).checked_sub(self.text.as_ptr() as usize);
        Ok(offset.map(|o| line_at(self.text.as_bytes(), o)))
    }

    fn next<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        match self.rest {
            [_] => self.leaf(d),
            [_, rest @ ..] => Seek { rest, ..self }.deserialize(d),
            [] => <serde::de::IgnoredAny as Deserialize>::deserialize(d).map(|_| None),
        }
    }
}

impl<'de> DeserializeSeed<'de> for Seek<'_, 'de> {
    type Value = Option<usize>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_any(self)
    }
}

/// Hands one value to [`Seek::next`] from `next_value_seed`/`next_element_seed`.
struct Step<'p, 'de>(Seek<'p, 'de>);

impl<'de> DeserializeSeed<'de> for Step<'_, 'de> {
    type Value = Option<usize>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        self.0.next(d)
    }
}

impl<'de> Visitor<'de> for Seek<'_, 'de> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a mapping or a sequence")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<usize>, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<String>()? {
            match self.rest.first() {
                Some(FieldKey::Key(want)) if found.is_none() && key == *want => {
                    found = map.next_value_seed(Step(self))?;
                }
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(found)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<usize>, A::Error> {
        let mut found = None;
        let mut index = 0;
        loop {
            let here = matches!(self.rest.first(), Some(FieldKey::Index(i)) if *i == index);
            let more = if here {
                match seq.next_element_seed(Step(self))? {
                    Some(line) => {
                        found = line;
                        true
                    }
                    None => false,
                }
            } else {
                seq.next_element::<serde::de::IgnoredAny>()?.is_some()
            };
            if !more {
                return Ok(found);
            }
            index += 1;
        }
    }
    // A scalar where the path goes on: not found.
    fn visit_bool<E>(self, _: bool) -> Result<Option<usize>, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Option<usize>, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Option<usize>, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Option<usize>, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Option<usize>, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Option<usize>, E> {
        Ok(None)
    }
    fn visit_none<E>(self) -> Result<Option<usize>, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        self.deserialize(d)
    }
}

// ---------------------------------------------------------------------------------------------
// JSON

#[derive(Deserialize)]
struct Header<'a> {
    #[serde(default, borrow)]
    kind: Option<std::borrow::Cow<'a, str>>,
}

#[derive(Deserialize)]
struct RawList<'a> {
    #[serde(borrow)]
    items: Vec<&'a RawValue>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default, rename = "apiVersion")]
    api_version: Option<String>,
}

fn decode_json(text: &str, limits: &Limits, out: &mut Vec<Result<Located, DecodeError>>) {
    let base = text.as_ptr() as usize;
    let mut lines = LineCursor::new(text.as_bytes());
    let mut line_of = |raw: &RawValue| lines.at(raw.get().as_ptr() as usize - base);
    let stream = serde_json::Deserializer::from_str(text).into_iter::<&RawValue>();
    for doc in stream {
        let raw = match doc {
            Ok(raw) => raw,
            Err(e) => {
                // The stream cannot resynchronise after a syntax error; the rest is lost.
                out.push(Err(DecodeError::new(e.line(), json_message(&e))));
                break;
            }
        };
        let line = line_of(raw);
        if raw.get().len() > limits.max_document_bytes {
            out.push(Err(too_large(line, raw.get().len(), limits)));
            continue;
        }
        let header: Option<Header> = serde_json::from_str(raw.get()).ok();
        let list_kind = header
            .and_then(|h| h.kind)
            .is_some_and(|k| k.ends_with("List"));
        if list_kind {
            if let Ok(list) = serde_json::from_str::<RawList>(raw.get()) {
                let mut header = serde_json::Map::new();
                header.extend(list.kind.map(|k| ("kind".to_string(), Value::String(k))));
                header.extend(
                    list.api_version
                        .map(|v| ("apiVersion".to_string(), Value::String(v))),
                );
                let item_type = ItemType::of(&header);
                for item in list.items {
                    let mut parsed = parse_json_value(item.get(), line_of(item), limits);
                    if let Ok(located) = &mut parsed {
                        item_type.fill(&mut located.value);
                    }
                    out.push(parsed);
                }
                continue;
            }
        }
        match parse_json_value(raw.get(), line, limits) {
            Ok(v) if v.value.is_null() => {}
            other => out.push(other),
        }
    }
}

fn json_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    match text.strip_suffix(&suffix) {
        Some(stripped) => format!("{stripped} (column {})", e.column()),
        None => text,
    }
}

/// Parses one JSON object, rejecting duplicate keys (which YAML decoding rejects too).
fn parse_json_value(
    text: &str,
    first_line: usize,
    limits: &Limits,
) -> Result<Located, DecodeError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = StrictValue {
        depth_left: limits.max_depth,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v))
    .map_err(|e| DecodeError::new(first_line + e.line().saturating_sub(1), json_message(&e)))?;
    Ok(Located {
        line: first_line,
        value,
    })
}

/// Deserializes a `serde_json::Value`, failing on duplicate object keys and on nesting deeper
/// than the limit.
#[derive(Clone, Copy)]
struct StrictValue {
    depth_left: usize,
}

impl StrictValue {
    fn nested<E: serde::de::Error>(self) -> Result<StrictValue, E> {
        match self.depth_left.checked_sub(1) {
            Some(depth_left) => Ok(StrictValue { depth_left }),
            None => Err(E::custom("nesting is deeper than the depth limit")),
        }
    }
}

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let inner = self.nested()?;
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(inner)? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        use serde::de::Error;
        let inner = self.nested()?;
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(A::Error::custom(format_args!("duplicate key {key:?}")));
            }
            let value = map.next_value_seed(inner)?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn yaml(text: &str) -> Vec<Result<Located, DecodeError>> {
        decode(text.as_bytes(), Format::Yaml, &Limits::default())
    }

    fn json_docs(text: &str) -> Vec<Result<Located, DecodeError>> {
        decode(text.as_bytes(), Format::Json, &Limits::default())
    }

    #[test]
    fn multi_document_yaml_keeps_lines_and_skips_empty_documents() {
        let docs = yaml("# comment\n---\na: 1\n---\n---\n\nb: 2\n...\n--- {c: 3}\n");
        let got: Vec<_> = docs
            .into_iter()
            .map(|d| d.map(|l| (l.line, l.value)))
            .collect();
        assert_eq!(
            got,
            vec![
                Ok((3, json!({"a": 1}))),
                Ok((7, json!({"b": 2}))),
                Ok((9, json!({"c": 3})))
            ]
        );
    }

    #[test]
    fn a_broken_document_does_not_hide_the_next() {
        let docs = yaml("a: [1, 2\n---\nb: 2\n---\nc: 1\nc: 2\n");
        assert_eq!(docs.len(), 3);
        let e = docs[0].as_ref().expect_err("unclosed bracket");
        assert_eq!(e.line, 1);
        assert_eq!(docs[1].as_ref().map(|l| l.line), Ok(3));
        let dup = docs[2].as_ref().expect_err("duplicate key");
        assert_eq!(dup.line, 6);
        assert!(
            dup.message.starts_with("duplicate key \"c\": "),
            "{}",
            dup.message
        );
        assert!(
            !dup.message.contains("DuplicateKeyPolicy"),
            "{}",
            dup.message
        );
    }

    #[test]
    fn yaml_1_1_scalars_read_as_kubernetes_reads_them() {
        let docs = yaml("a: yes\nb: \"yes\"\nc: 0644\nd: off\n");
        assert_eq!(
            docs[0].as_ref().map(|l| &l.value),
            Ok(&json!({"a": true, "b": "yes", "c": 420, "d": false}))
        );
    }

    #[test]
    fn list_items_get_their_own_lines() {
        let text = "apiVersion: v1\nkind: List\nitems:\n- kind: Pod\n  metadata: {name: a}\n- kind: Pod\n  metadata: {name: b}\n";
        let lines: Vec<_> = yaml(text).into_iter().map(|d| d.map(|l| l.line)).collect();
        assert_eq!(lines, vec![Ok(4), Ok(6)]);
        let text = "{\"kind\": \"PodList\",\n \"items\": [\n  {\"kind\": \"Pod\"},\n  {\"kind\": \"Pod\"}]}";
        let lines: Vec<_> = json_docs(text)
            .into_iter()
            .map(|d| d.map(|l| l.line))
            .collect();
        assert_eq!(lines, vec![Ok(3), Ok(4)]);
    }

    #[test]
    fn typed_list_items_take_kind_and_api_version_from_the_list() {
        let text = "apiVersion: v1\nkind: PodList\nitems:\n- metadata: {name: a}\n- kind: Other\n  metadata: {name: b}\n";
        let kinds: Vec<_> = yaml(text)
            .into_iter()
            .map(|d| d.map(|l| (l.value["kind"].clone(), l.value["apiVersion"].clone())))
            .collect();
        assert_eq!(
            kinds,
            vec![
                Ok((json!("Pod"), json!("v1"))),
                Ok((json!("Other"), Value::Null))
            ]
        );
        let text = "{\"apiVersion\": \"v1\", \"kind\": \"NamespaceList\", \"items\": [{\"metadata\": {}}]}";
        let docs = json_docs(text);
        assert_eq!(
            docs[0].as_ref().map(|l| l.value["kind"].clone()),
            Ok(json!("Namespace"))
        );
        // A plain `List` says nothing about its items.
        let docs = yaml("kind: List\nitems:\n- metadata: {name: a}\n");
        assert_eq!(
            docs[0].as_ref().map(|l| l.value.get("kind").cloned()),
            Ok(None)
        );
    }

    #[test]
    fn json_streams_duplicates_and_errors() {
        let docs = json_docs("{\"a\": 1}\n{\"b\": 2}\n");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].as_ref().map(|l| l.line), Ok(2));
        let dup = json_docs("{\"a\": 1,\n \"a\": 2}");
        let e = dup[0].as_ref().expect_err("duplicate key");
        assert!(e.message.contains("duplicate key \"a\""), "{}", e.message);
        assert_eq!(e.line, 2);
        let bad = json_docs("{\"a\": 1}\n{\"b\": }");
        assert!(bad[0].is_ok());
        assert_eq!(bad[1].as_ref().map_err(|e| e.line), Err(2));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        let docs = json_docs(&deep);
        assert!(docs[0].is_err());
        let deep_yaml = (0..10_000)
            .map(|i| format!("{}a:\n", " ".repeat(i)))
            .collect::<String>();
        let docs = yaml(&deep_yaml);
        let e = docs[0].as_ref().expect_err("too deep");
        assert!(
            e.message
                .starts_with("nesting is deeper than the 64-level limit"),
            "{}",
            e.message
        );
        assert_eq!(e.line, 65);
        let flow = "a: ".to_string() + &"[".repeat(10_000);
        assert!(yaml(&flow)[0].is_err());
    }

    #[test]
    fn binary_input_is_reported_with_its_position() {
        let docs = decode(
            b"a: 1\n\xff\xfe\x00garbage",
            Format::Yaml,
            &Limits::default(),
        );
        assert_eq!(docs.len(), 1);
        let e = docs[0].as_ref().expect_err("binary");
        assert_eq!(e.line, 2);
        assert!(e.message.contains("not UTF-8"), "{}", e.message);
    }

    #[test]
    fn oversized_documents_are_refused_before_parsing() {
        let limits = Limits {
            max_document_bytes: 100,
            ..Limits::default()
        };
        let text = format!("a: 1\n---\nbig: \"{}\"\n---\nc: 3\n", "x".repeat(200));
        let docs = decode(text.as_bytes(), Format::Yaml, &limits);
        assert_eq!(docs.len(), 3);
        assert!(docs[0].is_ok() && docs[2].is_ok());
        let e = docs[1].as_ref().expect_err("too large");
        assert_eq!(e.line, 3);
        assert!(
            e.message.contains("larger than the 100 bytes limit"),
            "{}",
            e.message
        );
    }

    #[test]
    fn field_lines_are_found_in_yaml_and_json() {
        let path = [
            FieldKey::Key("spec".into()),
            FieldKey::Key("containers".into()),
            FieldKey::Index(1),
            FieldKey::Key("securityContext".into()),
            FieldKey::Key("privileged".into()),
        ];
        let yaml = "kind: Pod\nspec:\n  containers:\n  - name: a\n  - name: b\n    securityContext:\n      runAsUser: 1\n      privileged: \"yes\"\n";
        assert_eq!(field_line(yaml, Format::Yaml, &path), Some(8));
        let json = "{\"kind\": \"Pod\",\n \"spec\": {\"containers\": [{\"name\": \"a\"},\n  {\"name\": \"b\", \"securityContext\":\n   {\"privileged\": \"yes\"}}]}}";
        assert_eq!(field_line(json, Format::Json, &path), Some(4));
        assert_eq!(field_line(yaml, Format::Yaml, &path[..2]), Some(4));
        assert_eq!(
            field_line(yaml, Format::Yaml, &[FieldKey::Key("nope".into())]),
            None
        );
    }

    #[test]
    fn detects_formats() {
        assert_eq!(Format::detect(Some("a.JSON"), "x: 1"), Format::Json);
        assert_eq!(Format::detect(Some("a.yml"), "{}"), Format::Yaml);
        assert_eq!(Format::detect(None, "  \n{\"a\":1}"), Format::Json);
        assert_eq!(Format::detect(None, "a: 1"), Format::Yaml);
    }
}
