//! A YAML (or JSON) document as a tree with byte positions: what an edit needs to find where a
//! mapping or list ends, how it is indented, and whether it is written in flow style.
//!
//! Scalars are typed by serde-saphyr with the options podsec decodes manifests with (YAML 1.1
//! booleans and octals, as kubectl reads them), so the JSON form equals what `check` sees.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_saphyr::Spanned;

/// One node: its value and where it is in the document's text.
#[derive(Debug, Clone)]
pub struct Node {
    pub kind: Kind,
    /// Byte offset of the node's first character.
    pub start: usize,
    /// Byte length as the parser reports it (scalars; 0 when unknown).
    pub len: usize,
    /// The node is an alias of an anchor defined elsewhere: editing it would edit the anchor.
    pub aliased: bool,
}

#[derive(Debug, Clone)]
pub enum Kind {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Map(Vec<(Key, Node)>),
    Seq(Vec<Node>),
}

#[derive(Debug, Clone)]
pub struct Key {
    pub name: String,
    pub start: usize,
}

impl Node {
    fn from_spanned(s: Spanned<Kind>) -> Node {
        let span = s.referenced.span();
        let defined = s.defined.span();
        Node {
            start: span.byte_offset().unwrap_or(0) as usize,
            len: span.byte_len().unwrap_or(0) as usize,
            aliased: span.byte_offset() != defined.byte_offset(),
            kind: s.value,
        }
    }

    /// The JSON value the node stands for.
    pub fn to_json(&self) -> Value {
        match &self.kind {
            Kind::Null => Value::Null,
            Kind::Bool(b) => Value::Bool(*b),
            Kind::Int(i) => Value::from(*i),
            Kind::UInt(u) => Value::from(*u),
            Kind::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Kind::Str(s) => Value::String(s.clone()),
            Kind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.name.clone(), v.to_json()))
                    .collect(),
            ),
            Kind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
        }
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            Kind::Map(entries) => entries.iter().find(|(k, _)| k.name == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The node at `path` from this one.
    pub fn at(&self, path: &[crate::Seg]) -> Option<&Node> {
        path.iter().try_fold(self, |node, seg| match seg {
            crate::Seg::Key(k) => node.get(k),
            crate::Seg::Index(i) => node.index(*i),
        })
    }

    pub fn index(&self, i: usize) -> Option<&Node> {
        match &self.kind {
            Kind::Seq(items) => items.get(i),
            _ => None,
        }
    }
}

/// Parses one document (the text of one `---` chunk).
pub fn parse(text: &str, options: serde_saphyr::Options) -> Result<Node, String> {
    serde_saphyr::from_str_with_options::<Spanned<Kind>>(text, options)
        .map(Node::from_spanned)
        .map_err(|e| podsec_manifest::yaml_message(&e).0)
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Kind, D::Error> {
        deserializer.deserialize_any(KindVisitor)
    }
}

struct KindVisitor;

impl<'de> Visitor<'de> for KindVisitor {
    type Value = Kind;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Kind, E> {
        Ok(Kind::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Kind, E> {
        Ok(Kind::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Kind, E> {
        Ok(Kind::UInt(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Kind, E> {
        Ok(Kind::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Kind, E> {
        Ok(Kind::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Kind, E> {
        Ok(Kind::Str(v))
    }
    fn visit_unit<E>(self) -> Result<Kind, E> {
        Ok(Kind::Null)
    }
    fn visit_none<E>(self) -> Result<Kind, E> {
        Ok(Kind::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Kind, D::Error> {
        Kind::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Kind, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Kind>>()? {
            items.push(Node::from_spanned(item));
        }
        Ok(Kind::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Kind, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<KeyText>>()? {
            let value = map.next_value::<Spanned<Kind>>()?;
            entries.push((
                Key {
                    name: key.value.0,
                    start: key.referenced.span().byte_offset().unwrap_or(0) as usize,
                },
                Node::from_spanned(value),
            ));
        }
        Ok(Kind::Map(entries))
    }
}

/// A mapping key as text (Kubernetes objects have string keys; numbers and booleans are
/// spelled as written).
struct KeyText(String);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<KeyText, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = KeyText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping key")
            }
            fn visit_str<E>(self, v: &str) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<KeyText, E> {
                Ok(KeyText("null".into()))
            }
        }
        deserializer.deserialize_any(V)
    }
}
