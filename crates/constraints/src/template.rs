//! ConstraintTemplates: read, checked as Gatekeeper checks them, compiled once.

use std::sync::Arc;

use serde_json::Value;

use crate::cel::CelProgram;
use crate::rego::RegoProgram;
use crate::schema::Schema;
use crate::{api_group, ADMISSION_TARGET, TEMPLATES_GROUP};

/// Which engine runs a template that carries code for both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum EnginePreference {
    /// Gatekeeper's order: CEL (`K8sNativeValidation`) when present, else Rego.
    #[default]
    Gatekeeper,
    /// Rego whenever the template has it (to test a template's Rego half).
    Rego,
    /// CEL whenever the template has it.
    Cel,
}

/// The engine a compiled template runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Rego,
    Cel,
}

impl Engine {
    pub fn label(self) -> &'static str {
        match self {
            Engine::Rego => "Rego",
            Engine::Cel => "K8sNativeValidation",
        }
    }
}

/// What is wrong with a ConstraintTemplate; the template's name is added by the caller.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("apiVersion {0:?} is not a ConstraintTemplate version: use templates.gatekeeper.sh/v1 (or v1beta1, v1alpha1)")]
    Version(String),
    #[error("metadata.name is missing")]
    MissingName,
    #[error("spec.crd.spec.names.kind is missing")]
    MissingKind,
    #[error("metadata.name {name:?} must equal spec.crd.spec.names.kind {kind:?} in lowercase ({lower:?})")]
    NameKindMismatch {
        name: String,
        kind: String,
        lower: String,
    },
    #[error("spec.targets must hold exactly one target, found {0}")]
    TargetCount(usize),
    #[error(
        "spec.targets[0].target is {0:?}; the only supported target is admission.k8s.gatekeeper.sh"
    )]
    UnknownTarget(String),
    #[error("spec.targets[0] has no code: give `rego` or a `code` entry with engine Rego or K8sNativeValidation")]
    NoCode,
    #[error("spec.targets[0].code[{index}].engine {engine:?} is not supported (Rego, K8sNativeValidation)")]
    UnknownEngine { index: usize, engine: String },
    #[error("spec.targets[0].operations: {0}")]
    Operations(String),
    #[error("{field}: {message}")]
    Field { field: String, message: String },
    #[error("parameters schema: {0}")]
    Schema(String),
    #[error("rego: {0}")]
    Rego(String),
    #[error("CEL: {0}")]
    Cel(String),
}

impl TemplateError {
    pub(crate) fn field(field: impl Into<String>, message: impl Into<String>) -> TemplateError {
        TemplateError::Field {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A compiled ConstraintTemplate.
#[derive(Debug)]
pub struct Template {
    name: String,
    kind: String,
    parameters: Schema,
    operations: Option<Vec<String>>,
    program: Program,
}

#[derive(Debug)]
pub(crate) enum Program {
    Rego(Arc<RegoProgram>),
    Cel(Arc<CelProgram>),
}

impl Template {
    /// Reads and compiles a ConstraintTemplate object.
    pub fn from_json(object: &Value, prefer: EnginePreference) -> Result<Template, TemplateError> {
        let api_version = object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let version = match api_version.rsplit_once('/') {
            Some((TEMPLATES_GROUP, v @ ("v1" | "v1beta1" | "v1alpha1"))) => v,
            _ => return Err(TemplateError::Version(api_version.to_string())),
        };
        debug_assert_eq!(api_group(api_version), TEMPLATES_GROUP);
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or(TemplateError::MissingName)?;
        let kind = object
            .pointer("/spec/crd/spec/names/kind")
            .and_then(Value::as_str)
            .filter(|k| !k.is_empty())
            .ok_or(TemplateError::MissingKind)?;
        if name != kind.to_lowercase() {
            return Err(TemplateError::NameKindMismatch {
                name: name.to_string(),
                kind: kind.to_string(),
                lower: kind.to_lowercase(),
            });
        }
        let validation = object.pointer("/spec/crd/spec/validation");
        let legacy_default = version != "v1";
        let legacy = validation
            .and_then(|v| v.get("legacySchema"))
            .and_then(Value::as_bool)
            .unwrap_or(legacy_default);
        let raw_schema = validation.and_then(|v| v.get("openAPIV3Schema"));
        let parameters = Schema::parameters(raw_schema, legacy).map_err(TemplateError::Schema)?;

        let targets = match object.pointer("/spec/targets") {
            Some(Value::Array(targets)) => targets.as_slice(),
            None | Some(Value::Null) => &[],
            Some(_) => return Err(TemplateError::field("spec.targets", "must be a list")),
        };
        let [target] = targets else {
            return Err(TemplateError::TargetCount(targets.len()));
        };
        let target_name = target.get("target").and_then(Value::as_str).unwrap_or("");
        if target_name != ADMISSION_TARGET {
            return Err(TemplateError::UnknownTarget(target_name.to_string()));
        }
        let operations = operations(target.get("operations"))?;
        let (rego, cel) = code_sources(target)?;
        let program = match (rego, cel, prefer) {
            (Some(rego), _, EnginePreference::Rego) | (Some(rego), None, _) => {
                Program::Rego(Arc::new(RegoProgram::compile(kind, rego)?))
            }
            (_, Some(cel), _) => Program::Cel(Arc::new(CelProgram::compile(cel)?)),
            (None, None, _) => return Err(TemplateError::NoCode),
        };
        Ok(Template {
            name: name.to_string(),
            kind: kind.to_string(),
            parameters,
            operations,
            program,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The kind of this template's constraints.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    pub fn engine(&self) -> Engine {
        match self.program {
            Program::Rego(_) => Engine::Rego,
            Program::Cel(_) => Engine::Cel,
        }
    }

    /// Whether its Rego reads `data.inventory` (referential data).
    pub fn uses_inventory(&self) -> bool {
        matches!(&self.program, Program::Rego(p) if p.uses_inventory())
    }

    pub(crate) fn parameters(&self) -> &Schema {
        &self.parameters
    }

    pub(crate) fn program(&self) -> &Program {
        &self.program
    }

    /// Whether the webhook evaluates this template for an operation (`operations` filters at the
    /// webhook only; audit and gator evaluate every object).
    pub(crate) fn handles_operation(&self, operation: &str) -> bool {
        match &self.operations {
            None => matches!(operation, "CREATE" | "UPDATE" | ""),
            Some(ops) => operation.is_empty() || ops.iter().any(|o| o == "*" || o == operation),
        }
    }
}

fn operations(raw: Option<&Value>) -> Result<Option<Vec<String>>, TemplateError> {
    let Some(raw) = raw.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let Value::Array(items) = raw else {
        return Err(TemplateError::Operations("must be a list".into()));
    };
    let mut ops = Vec::with_capacity(items.len());
    for item in items {
        match item.as_str() {
            Some(op @ ("*" | "CREATE" | "UPDATE" | "DELETE" | "CONNECT")) => {
                ops.push(op.to_string())
            }
            _ => {
                return Err(TemplateError::Operations(format!(
                    "{item} is not one of *, CREATE, UPDATE, DELETE, CONNECT"
                )))
            }
        }
    }
    if ops.len() > 1 && ops.iter().any(|o| o == "*") {
        return Err(TemplateError::Operations(
            "`*` must be the only operation when present".into(),
        ));
    }
    Ok(Some(ops))
}

/// The Rego source (`rego`/`libs`/`version`) and the CEL source of a target, in Gatekeeper's
/// precedence: a legacy `rego` replaces any `code` Rego entry and is always Rego v0.
fn code_sources(target: &Value) -> Result<(Option<RegoSource>, Option<&Value>), TemplateError> {
    let mut rego = None;
    let mut cel = None;
    if let Some(code) = target.get("code").filter(|c| !c.is_null()) {
        let Value::Array(entries) = code else {
            return Err(TemplateError::field(
                "spec.targets[0].code",
                "must be a list",
            ));
        };
        for (index, entry) in entries.iter().enumerate() {
            let engine = entry.get("engine").and_then(Value::as_str).unwrap_or("");
            let source = entry.get("source").unwrap_or(&Value::Null);
            match engine {
                "Rego" => rego = Some(RegoSource::from_code(index, source)?),
                "K8sNativeValidation" => cel = Some(source),
                other => {
                    return Err(TemplateError::UnknownEngine {
                        index,
                        engine: other.to_string(),
                    })
                }
            }
        }
    }
    if let Some(legacy) = target.get("rego").and_then(Value::as_str) {
        if !legacy.trim().is_empty() {
            rego = Some(RegoSource {
                module: legacy.to_string(),
                libs: string_list(target.get("libs"), "spec.targets[0].libs")?,
                v1: false,
            });
        }
    }
    Ok((rego, cel))
}

/// A template's Rego: the module that defines `violation`, its libraries, its syntax version.
#[derive(Debug)]
pub(crate) struct RegoSource {
    pub module: String,
    pub libs: Vec<String>,
    pub v1: bool,
}

impl RegoSource {
    fn from_code(index: usize, source: &Value) -> Result<RegoSource, TemplateError> {
        let field = format!("spec.targets[0].code[{index}].source");
        let module = source
            .get("rego")
            .and_then(Value::as_str)
            .ok_or_else(|| TemplateError::field(format!("{field}.rego"), "is missing"))?;
        let v1 = match source.get("version").and_then(Value::as_str) {
            None | Some("v0") | Some("") => false,
            Some("v1") => true,
            Some(other) => {
                return Err(TemplateError::field(
                    format!("{field}.version"),
                    format!("{other:?} is not v0 or v1"),
                ))
            }
        };
        Ok(RegoSource {
            module: module.to_string(),
            libs: string_list(source.get("libs"), &format!("{field}.libs"))?,
            v1,
        })
    }
}

fn string_list(raw: Option<&Value>, field: &str) -> Result<Vec<String>, TemplateError> {
    match raw {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| TemplateError::field(field, "must be a list of strings"))
            })
            .collect(),
        Some(_) => Err(TemplateError::field(field, "must be a list of strings")),
    }
}
