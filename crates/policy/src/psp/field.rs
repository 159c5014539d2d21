//! Kubernetes field errors (`k8s.io/apimachinery/pkg/util/validation/field`), printed as Go
//! prints them: `<path>: <type>[: <value>][: <detail>]`.

use std::fmt;

use crate::text::go_quote;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    Invalid,
    Required,
    Forbidden,
    NotSupported,
}

impl ErrorType {
    fn as_str(self) -> &'static str {
        match self {
            ErrorType::Invalid => "Invalid value",
            ErrorType::Required => "Required value",
            ErrorType::Forbidden => "Forbidden",
            ErrorType::NotSupported => "Unsupported value",
        }
    }
}

/// The offending value, as Go's `field.Error` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadValue {
    /// nil, or a nil pointer: printed `"null"`.
    Null,
    Bool(bool),
    Int(i64),
    /// A string: printed with `%q`.
    Str(String),
    /// Anything else, already rendered the way Go renders it (`%#v`, `String()`).
    Raw(String),
}

impl fmt::Display for BadValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadValue::Null => f.write_str("\"null\""),
            BadValue::Bool(b) => write!(f, "{b}"),
            BadValue::Int(i) => write!(f, "{i}"),
            BadValue::Str(s) => f.write_str(&go_quote(s)),
            BadValue::Raw(s) => f.write_str(s),
        }
    }
}

/// One validation error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub path: String,
    pub kind: ErrorType,
    pub value: BadValue,
    pub detail: String,
}

impl FieldError {
    pub fn invalid(
        path: impl Into<String>,
        value: BadValue,
        detail: impl Into<String>,
    ) -> FieldError {
        FieldError {
            path: path.into(),
            kind: ErrorType::Invalid,
            value,
            detail: detail.into(),
        }
    }

    pub fn required(path: impl Into<String>, detail: impl Into<String>) -> FieldError {
        FieldError {
            path: path.into(),
            kind: ErrorType::Required,
            value: BadValue::Str(String::new()),
            detail: detail.into(),
        }
    }

    pub fn forbidden(path: impl Into<String>, detail: impl Into<String>) -> FieldError {
        FieldError {
            path: path.into(),
            kind: ErrorType::Forbidden,
            value: BadValue::Str(String::new()),
            detail: detail.into(),
        }
    }

    pub fn not_supported(path: impl Into<String>, value: BadValue, valid: &[&str]) -> FieldError {
        let quoted: Vec<String> = valid.iter().map(|v| go_quote(v)).collect();
        FieldError {
            path: path.into(),
            kind: ErrorType::NotSupported,
            value,
            detail: format!("supported values: {}", quoted.join(", ")),
        }
    }

    /// `ErrorBody()`: everything after the path.
    pub fn body(&self) -> String {
        let mut s = match self.kind {
            ErrorType::Required | ErrorType::Forbidden => self.kind.as_str().to_string(),
            _ => format!("{}: {}", self.kind.as_str(), self.value),
        };
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.body())
    }
}

/// A Go `field.ErrorList` printed with `%v`: `[e1 e2 …]`.
pub fn error_list(errors: &[FieldError]) -> String {
    let items: Vec<String> = errors.iter().map(ToString::to_string).collect();
    format!("[{}]", items.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_like_go() {
        let e = FieldError::invalid(
            "spec.containers[0].securityContext.privileged",
            BadValue::Bool(true),
            "Privileged containers are not allowed",
        );
        assert_eq!(e.to_string(), "spec.containers[0].securityContext.privileged: Invalid value: true: Privileged containers are not allowed");
        let e = FieldError::required(
            "spec.containers[0].securityContext.runAsNonRoot",
            "must be true",
        );
        assert_eq!(
            e.to_string(),
            "spec.containers[0].securityContext.runAsNonRoot: Required value: must be true"
        );
        let e = FieldError::forbidden("x", "");
        assert_eq!(e.to_string(), "x: Forbidden");
        let e = FieldError::invalid(
            "v",
            BadValue::Str("hostPath".into()),
            "hostPath volumes are not allowed to be used",
        );
        assert_eq!(
            e.to_string(),
            r#"v: Invalid value: "hostPath": hostPath volumes are not allowed to be used"#
        );
        assert_eq!(
            FieldError::invalid("c", BadValue::Null, "d").to_string(),
            r#"c: Invalid value: "null": d"#
        );
        assert_eq!(error_list(&[]), "[]");
        assert_eq!(
            error_list(&[
                FieldError::forbidden("a", "x"),
                FieldError::forbidden("b", "y")
            ]),
            "[a: Forbidden: x b: Forbidden: y]"
        );
    }
}
