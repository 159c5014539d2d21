//! The parameters schema of a template: the structural subset of OpenAPI v3 the API server
//! applies to a Constraint's `spec.parameters` — type checks, enums, required fields, defaults,
//! and pruning of fields the schema does not know.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

#[derive(Debug, Default, Clone)]
pub(crate) struct Schema {
    types: Vec<String>,
    properties: BTreeMap<String, Schema>,
    items: Option<Box<Schema>>,
    /// `additionalProperties` as a schema (a map's values).
    additional: Option<Box<Schema>>,
    /// Fields the schema does not name are kept instead of pruned.
    preserve_unknown: bool,
    int_or_string: bool,
    nullable: bool,
    enumeration: Vec<Value>,
    required: Vec<String>,
    default: Option<Value>,
}

/// Deeper schemas than this are refused rather than walked.
const MAX_DEPTH: usize = 64;

impl Schema {
    /// The parameters schema; `legacy` (v1beta1/v1alpha1's `legacySchema`) keeps unknown fields
    /// at every object or untyped level, and a missing schema accepts anything.
    pub fn parameters(raw: Option<&Value>, legacy: bool) -> Result<Schema, String> {
        match raw {
            None | Some(Value::Null) => Ok(Schema {
                preserve_unknown: true,
                ..Schema::default()
            }),
            Some(raw) => Schema::read(raw, legacy, "openAPIV3Schema", 0),
        }
    }

    fn read(raw: &Value, legacy: bool, at: &str, depth: usize) -> Result<Schema, String> {
        if depth > MAX_DEPTH {
            return Err(format!("{at}: nested deeper than {MAX_DEPTH} levels"));
        }
        let Value::Object(fields) = raw else {
            return Err(format!("{at}: must be an object"));
        };
        let mut schema = Schema::default();
        match fields.get("type") {
            None | Some(Value::Null) => {}
            Some(Value::String(t)) if !t.is_empty() => schema.types.push(t.clone()),
            Some(Value::String(_)) => {}
            Some(Value::Array(ts)) => {
                schema.types = ts
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            }
            Some(_) => return Err(format!("{at}.type: must be a string")),
        }
        for t in &schema.types {
            if !matches!(
                t.as_str(),
                "object" | "array" | "string" | "integer" | "number" | "boolean" | "null"
            ) {
                return Err(format!("{at}.type: unknown type {t:?}"));
            }
        }
        if let Some(Value::Object(props)) = fields.get("properties") {
            for (name, sub) in props {
                let sub = Schema::read(sub, legacy, &format!("{at}.properties.{name}"), depth + 1)?;
                schema.properties.insert(name.clone(), sub);
            }
        }
        if let Some(items) = fields.get("items").filter(|i| i.is_object()) {
            schema.items = Some(Box::new(Schema::read(
                items,
                legacy,
                &format!("{at}.items"),
                depth + 1,
            )?));
        }
        match fields.get("additionalProperties") {
            Some(Value::Bool(true)) => schema.preserve_unknown = true,
            Some(sub @ Value::Object(_)) => {
                schema.additional = Some(Box::new(Schema::read(
                    sub,
                    legacy,
                    &format!("{at}.additionalProperties"),
                    depth + 1,
                )?))
            }
            _ => {}
        }
        let flag = |name: &str| fields.get(name).and_then(Value::as_bool).unwrap_or(false);
        schema.preserve_unknown |= flag("x-kubernetes-preserve-unknown-fields");
        schema.int_or_string = flag("x-kubernetes-int-or-string");
        schema.nullable = flag("nullable");
        if let Some(Value::Array(values)) = fields.get("enum") {
            schema.enumeration = values.clone();
        }
        if let Some(Value::Array(required)) = fields.get("required") {
            schema.required = required
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect();
        }
        schema.default = fields.get("default").cloned();
        let untyped = schema.types.is_empty() || schema.types.iter().any(|t| t == "object");
        if legacy && untyped {
            schema.preserve_unknown = true;
        }
        Ok(schema)
    }

    /// The parameters as the API server would store them: checked, pruned, defaulted.
    pub fn apply(&self, parameters: &Value) -> Result<Value, String> {
        let mut value = parameters.clone();
        let mut errors = Vec::new();
        self.walk(&mut value, "spec.parameters", &mut errors, 0);
        if errors.is_empty() {
            Ok(value)
        } else {
            Err(errors.join("; "))
        }
    }

    fn walk(&self, value: &mut Value, at: &str, errors: &mut Vec<String>, depth: usize) {
        if depth > MAX_DEPTH {
            errors.push(format!("{at}: nested deeper than {MAX_DEPTH} levels"));
            return;
        }
        if value.is_null() && (self.nullable || self.types.is_empty()) {
            return;
        }
        if !self.type_matches(value) {
            errors.push(format!(
                "{at}: Invalid value: {}: must be of type {}",
                json_type(value),
                self.types.join(" or ")
            ));
            return;
        }
        if !self.enumeration.is_empty() && !self.enumeration.contains(value) {
            let allowed: Vec<String> = self.enumeration.iter().map(Value::to_string).collect();
            errors.push(format!(
                "{at}: Unsupported value: {value}: supported values: {}",
                allowed.join(", ")
            ));
        }
        match value {
            Value::Object(fields) => self.walk_object(fields, at, errors, depth),
            Value::Array(items) => {
                if let Some(item_schema) = &self.items {
                    for (index, item) in items.iter_mut().enumerate() {
                        item_schema.walk(item, &format!("{at}[{index}]"), errors, depth + 1);
                    }
                }
            }
            _ => {}
        }
    }

    fn walk_object(
        &self,
        fields: &mut Map<String, Value>,
        at: &str,
        errors: &mut Vec<String>,
        depth: usize,
    ) {
        for (name, sub) in &self.properties {
            if !fields.contains_key(name) {
                if let Some(default) = &sub.default {
                    fields.insert(name.clone(), default.clone());
                }
            }
        }
        for name in &self.required {
            if !fields.contains_key(name) {
                errors.push(format!("{at}.{name}: Required value"));
            }
        }
        let names: Vec<String> = fields.keys().cloned().collect();
        for name in names {
            let path = format!("{at}.{name}");
            if let Some(sub) = self.properties.get(&name) {
                if let Some(field) = fields.get_mut(&name) {
                    sub.walk(field, &path, errors, depth + 1);
                }
            } else if let Some(additional) = &self.additional {
                if let Some(field) = fields.get_mut(&name) {
                    additional.walk(field, &path, errors, depth + 1);
                }
            } else if !self.preserve_unknown {
                fields.remove(&name);
            }
        }
    }

    fn type_matches(&self, value: &Value) -> bool {
        if self.types.is_empty() {
            return true;
        }
        if self.int_or_string && (value.is_string() || value.is_i64() || value.is_u64()) {
            return true;
        }
        self.types.iter().any(|t| match t.as_str() {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => {
                value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "null" => value.is_null(),
            _ => false,
        })
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema(raw: Value, legacy: bool) -> Schema {
        Schema::parameters(Some(&raw), legacy).unwrap_or_default()
    }

    #[test]
    fn types_are_checked_with_the_path() {
        let s = schema(
            json!({"type": "object", "properties": {"images": {"type": "array", "items": {"type": "string"}}}}),
            false,
        );
        let err = s
            .apply(&json!({"images": ["a", 3]}))
            .err()
            .unwrap_or_default();
        assert_eq!(
            err,
            "spec.parameters.images[1]: Invalid value: number: must be of type string"
        );
        assert!(s.apply(&json!({"images": "a"})).is_err());
    }

    #[test]
    fn unknown_fields_are_pruned_unless_legacy_or_preserved() {
        let raw = json!({"type": "object", "properties": {"a": {"type": "string"}}});
        assert_eq!(
            schema(raw.clone(), false)
                .apply(&json!({"a": "x", "b": 1}))
                .ok(),
            Some(json!({"a": "x"}))
        );
        assert_eq!(
            schema(raw, true).apply(&json!({"a": "x", "b": 1})).ok(),
            Some(json!({"a": "x", "b": 1}))
        );
        let missing = Schema::parameters(None, false).unwrap_or_default();
        assert_eq!(
            missing.apply(&json!({"z": [1]})).ok(),
            Some(json!({"z": [1]}))
        );
    }

    #[test]
    fn defaults_enums_and_required() {
        let s = schema(
            json!({"type": "object", "required": ["mode"], "properties": {
            "mode": {"type": "string", "enum": ["a", "b"]},
            "level": {"type": "integer", "default": 3}}}),
            false,
        );
        assert_eq!(
            s.apply(&json!({"mode": "a"})).ok(),
            Some(json!({"mode": "a", "level": 3}))
        );
        assert!(s
            .apply(&json!({"mode": "c"}))
            .err()
            .unwrap_or_default()
            .contains("Unsupported value"));
        assert!(s
            .apply(&json!({}))
            .err()
            .unwrap_or_default()
            .contains("spec.parameters.mode: Required value"));
    }
}
