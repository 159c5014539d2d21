//! JSON as CEL values that cost nothing to copy. The interpreter copies a value whenever it
//! binds it (each element a comprehension visits, each list `+`, each variable's result): with
//! cel's own map a copy is deep, so `containers.map(c, …)` copied every container. Here an
//! object is an `Arc`'d sorted slice of fields, so a copy is a reference count; arrays are cel's
//! own lists (their copies copy only these handles), scalars cel's own scalars.

use std::sync::Arc;

use cel::common::traits::{self, Container, Indexer, Iterable, Sizer, Zeroer};
use cel::common::types::{
    CelBool, CelDouble, CelInt, CelList, CelNull, CelString, CelUInt, Type, MAP_TYPE,
};
use cel::common::value::{CowVal, Val};
use cel::ExecutionError;
use serde_json::Value;

/// One converted JSON value, owned and shareable across every template a review runs.
#[derive(Debug)]
pub(crate) struct CelData(Box<dyn Val>);

impl Clone for CelData {
    fn clone(&self) -> CelData {
        CelData(self.0.clone_as_boxed())
    }
}

impl CelData {
    pub fn null() -> CelData {
        CelData(Box::new(CelNull))
    }

    /// JSON to CEL: integers stay integers (CEL compares `int` and `double` differently).
    pub fn from_json(value: &Value) -> CelData {
        CelData(convert(value))
    }

    pub fn from_val(value: Box<dyn Val>) -> CelData {
        CelData(value)
    }

    pub fn into_val(self) -> Box<dyn Val> {
        self.0
    }

    pub fn to_val(&self) -> Box<dyn Val> {
        self.0.clone_as_boxed()
    }
}

fn convert(value: &Value) -> Box<dyn Val> {
    match value {
        Value::Null => Box::new(CelNull),
        Value::Bool(b) => Box::new(CelBool::from(*b)),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Box::new(CelInt::from(i)),
            (None, Some(u)) => Box::new(CelUInt::from(u)),
            _ => Box::new(CelDouble::from(n.as_f64().unwrap_or(f64::NAN))),
        },
        Value::String(s) => Box::new(CelString::from(s.clone())),
        Value::Array(items) => {
            Box::new(CelList::from(items.iter().map(convert).collect::<Vec<_>>()))
        }
        Value::Object(fields) => {
            let mut entries: Vec<(CelString<'static>, Box<dyn Val>)> = fields
                .iter()
                .map(|(k, v)| (CelString::from(k.clone()), convert(v)))
                .collect();
            entries.sort_by(|a, b| a.0.inner().cmp(b.0.inner()));
            Box::new(JsonMap(entries.into()))
        }
    }
}

/// A JSON object: fields sorted by name (looked up by binary search), shared.
#[derive(Debug, Clone)]
pub(crate) struct JsonMap(Arc<[(CelString<'static>, Box<dyn Val>)]>);

impl JsonMap {
    fn find(&self, key: &str) -> Option<&(dyn Val + 'static)> {
        self.0
            .binary_search_by(|(k, _)| k.inner().cmp(key))
            .ok()
            .map(|i| self.0[i].1.as_ref())
    }
}

fn map_key(key: &dyn Val) -> Result<&str, ExecutionError> {
    key.downcast_ref::<CelString>()
        .map(|s| s.inner())
        .ok_or_else(|| ExecutionError::UnexpectedType {
            got: key.get_type().name().to_owned(),
            want: "string map key".to_owned(),
        })
}

impl Val for JsonMap {
    fn get_type(&self) -> &Type {
        <Self as Val>::cel_type()
    }

    fn cel_type() -> &'static Type {
        &MAP_TYPE
    }

    fn as_container(&self) -> Option<&dyn Container> {
        Some(self)
    }

    fn as_indexer<'b, 'v>(&'b self) -> Option<&'b (dyn Indexer + 'v)>
    where
        Self: 'v,
    {
        Some(self)
    }

    fn as_iterable<'b, 'v>(&'b self) -> Option<&'b (dyn Iterable + 'v)>
    where
        Self: 'v,
    {
        Some(self)
    }

    fn as_sizer(&self) -> Option<&dyn Sizer> {
        Some(self)
    }

    fn as_zeroer(&self) -> Option<&dyn Zeroer> {
        Some(self)
    }

    /// Equal to any map with the same keys and equal values (a JSON object or a map literal).
    fn equals(&self, other: &dyn Val) -> bool {
        if other.get_type().name() != MAP_TYPE.name() {
            return false;
        }
        let same_size = other
            .as_sizer()
            .is_some_and(|s| *s.size().inner() == self.0.len() as i64);
        let Some(indexer) = other.as_indexer().filter(|_| same_size) else {
            return false;
        };
        self.0.iter().all(|(k, v)| {
            indexer
                .get(k as &dyn Val)
                .is_ok_and(|other_value| v.equals(other_value.as_ref()))
        })
    }

    fn clone_as_boxed<'v>(&self) -> Box<dyn Val + 'v>
    where
        Self: 'v,
    {
        Box::new(self.clone())
    }
}

impl Container for JsonMap {
    /// A key of another type is simply absent: JSON objects have string keys only.
    fn contains(&self, key: &dyn Val) -> Result<bool, ExecutionError> {
        Ok(key
            .downcast_ref::<CelString>()
            .is_some_and(|k| self.find(k.inner()).is_some()))
    }
}

impl Indexer for JsonMap {
    fn get<'b, 'v>(&'b self, key: &dyn Val) -> Result<CowVal<'b, 'v>, ExecutionError>
    where
        Self: 'v,
    {
        let key = map_key(key)?;
        self.find(key)
            .map(CowVal::Borrowed)
            .ok_or_else(|| ExecutionError::no_such_key(key))
    }

    fn steal<'v>(self: Box<Self>, key: &dyn Val) -> Result<Box<dyn Val + 'v>, ExecutionError>
    where
        Self: 'v,
    {
        self.get(key).map(CowVal::into_owned)
    }
}

impl Iterable for JsonMap {
    fn iter<'b, 'v>(&'b self) -> Box<dyn traits::Iterator<'b, 'v> + 'b>
    where
        Self: 'v,
    {
        Box::new(Keys {
            entries: &self.0,
            next: 0,
        })
    }
}

/// A map's keys, in order, as comprehensions over a map see them.
struct Keys<'b> {
    entries: &'b [(CelString<'static>, Box<dyn Val>)],
    next: usize,
}

impl<'b, 'v> traits::Iterator<'b, 'v> for Keys<'b> {
    fn next(&mut self) -> Option<&'b (dyn Val + 'v)> {
        let entry = self.entries.get(self.next)?;
        self.next += 1;
        Some(&entry.0)
    }
}

impl Sizer for JsonMap {
    fn size(&self) -> CelInt {
        CelInt::from(self.0.len() as i64)
    }
}

impl Zeroer for JsonMap {
    fn is_zero_value(&self) -> bool {
        self.0.is_empty()
    }
}
