//! `data.inventory`: the objects Gatekeeper's sync would cache, in its layout —
//! `cluster[groupVersion][kind][name]` and `namespace[ns][groupVersion][kind][name]`.

use serde_json::{Map, Value};

/// Referential data for templates that read `data.inventory`.
#[derive(Debug, Clone)]
pub struct Inventory {
    value: regorus::Value,
    objects: usize,
}

impl Default for Inventory {
    fn default() -> Self {
        Inventory::from_objects(std::iter::empty())
    }
}

impl Inventory {
    /// Objects without an apiVersion, kind or name are left out (the API would not hold them).
    pub fn from_objects<'a>(objects: impl IntoIterator<Item = &'a Value>) -> Inventory {
        let mut cluster = Map::new();
        let mut namespaced = Map::new();
        let mut count = 0;
        for object in objects {
            let text = |pointer: &str| object.pointer(pointer).and_then(Value::as_str);
            let (Some(gv), Some(kind), Some(name)) =
                (text("/apiVersion"), text("/kind"), text("/metadata/name"))
            else {
                continue;
            };
            let root = match text("/metadata/namespace").filter(|ns| !ns.is_empty()) {
                Some(ns) => entry(&mut namespaced, ns),
                None => &mut cluster,
            };
            let by_kind = entry(entry(root, gv), kind);
            by_kind.insert(name.to_string(), object.clone());
            count += 1;
        }
        let mut data = Map::new();
        data.insert("cluster".into(), Value::Object(cluster));
        data.insert("namespace".into(), Value::Object(namespaced));
        Inventory {
            value: regorus::Value::from(Value::Object(data)),
            objects: count,
        }
    }

    pub fn len(&self) -> usize {
        self.objects
    }

    pub fn is_empty(&self) -> bool {
        self.objects == 0
    }

    pub(crate) fn rego(&self) -> regorus::Value {
        self.value.clone()
    }
}

fn entry<'m>(map: &'m mut Map<String, Value>, key: &str) -> &'m mut Map<String, Value> {
    let slot = map
        .entry(key.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    match slot {
        Value::Object(inner) => inner,
        _ => unreachable!("just made an object"),
    }
}
