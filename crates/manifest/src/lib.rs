//! Kubernetes manifests in, pod-bearing objects out.
//!
//! [`source`] turns YAML or JSON text into objects with line numbers; [`object`] tells which
//! objects hold pods, decodes their pod (template) and applies the API server's defaults.
//! No file or network I/O: callers hand in bytes.

pub mod object;
pub mod objects_only;
pub mod patch;
pub mod source;

pub use object::{
    classify, decode_workload_json, field_keys, is_not_kubernetes, FieldKey, Namespace, Object,
    ObjectError, Workload, WorkloadKind,
};
pub use objects_only::{from_json_str, ObjectsOnly};
pub use source::{
    decode, field_line, yaml_documents, yaml_message, yaml_options, DecodeError, Format, Limits,
    Located,
};
