//! `PodSecurityConfiguration` (`pod-security.admission.config.k8s.io` v1, v1beta1, v1alpha1),
//! alone or inside an `AdmissionConfiguration`, decoded strictly and validated as upstream does.

use std::collections::HashSet;

use podsec_manifest::{field_keys, field_line, yaml_message, FieldKey, Format, ObjectsOnly};
use podsec_policy::{Level, LevelVersion, Policy, Version};
use serde::de::DeserializeOwned;
use serde::Deserialize;

/// The admission configuration in force: defaults for unlabelled namespaces, and exemptions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Configuration {
    pub defaults: Policy,
    pub exemptions: Exemptions,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Exemptions {
    pub usernames: HashSet<String>,
    pub namespaces: HashSet<String>,
    pub runtime_classes: HashSet<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A field of the wrong type, an unknown field, a YAML syntax error. `line` is in the
    /// file read (for [`ConfigError::InPluginFile`], that file), `field` the path to the
    /// value at fault (empty when the document as a whole is).
    #[error("{}", decode_message(.line, .field, .message))]
    Decode {
        line: Option<usize>,
        field: String,
        message: String,
    },
    /// A problem in the file the AdmissionConfiguration's PodSecurity plugin names with
    /// `path:`.
    #[error("in {path}: {error}")]
    InPluginFile {
        path: String,
        error: Box<ConfigError>,
    },
    #[error("{}; expected {expected}", crate::review::found_type(.api_version, .kind))]
    UnknownKind {
        api_version: String,
        kind: String,
        expected: &'static str,
    },
    #[error("the AdmissionConfiguration has no PodSecurity plugin")]
    NoPlugin,
    #[error(
        "the PodSecurity plugin in the AdmissionConfiguration has neither configuration nor path"
    )]
    EmptyPlugin,
    /// `message` is the reader's, and should name the file it opened (`path` is as written).
    #[error("cannot read the PodSecurity plugin's configuration (path: {path}): {message} (a relative path is read from the AdmissionConfiguration's directory)")]
    Read { path: String, message: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TypeMeta {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PodSecurityConfigurationDoc {
    #[serde(rename = "apiVersion")]
    _api_version: String,
    #[serde(rename = "kind")]
    _kind: String,
    #[serde(default)]
    defaults: DefaultsDoc,
    #[serde(default)]
    exemptions: ExemptionsDoc,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DefaultsDoc {
    #[serde(default)]
    enforce: String,
    #[serde(default, rename = "enforce-version")]
    enforce_version: String,
    #[serde(default)]
    audit: String,
    #[serde(default, rename = "audit-version")]
    audit_version: String,
    #[serde(default)]
    warn: String,
    #[serde(default, rename = "warn-version")]
    warn_version: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ExemptionsDoc {
    #[serde(default)]
    usernames: Vec<String>,
    #[serde(default)]
    namespaces: Vec<String>,
    #[serde(default)]
    runtime_classes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdmissionConfigurationDoc {
    #[serde(rename = "apiVersion")]
    _api_version: String,
    #[serde(rename = "kind")]
    _kind: String,
    #[serde(default)]
    plugins: Vec<PluginDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PluginDoc {
    name: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    configuration: Option<serde_json::Value>,
}

const PSA_GROUP_VERSIONS: [&str; 3] = [
    "pod-security.admission.config.k8s.io/v1",
    "pod-security.admission.config.k8s.io/v1beta1",
    "pod-security.admission.config.k8s.io/v1alpha1",
];
const EXPECTED_ANY: &str = "kind PodSecurityConfiguration (apiVersion pod-security.admission.config.k8s.io/v1, v1beta1 or v1alpha1) or kind AdmissionConfiguration (apiVersion apiserver.config.k8s.io/v1 or v1alpha1)";
const EXPECTED_PLUGIN: &str = "the PodSecurity plugin's configuration to be kind PodSecurityConfiguration (apiVersion pod-security.admission.config.k8s.io/v1, v1beta1 or v1alpha1)";
const APISERVER_GROUP_VERSIONS: [&str; 2] = [
    "apiserver.config.k8s.io/v1",
    "apiserver.config.k8s.io/v1alpha1",
];

fn yaml_options() -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    options.with_snippet = false;
    options
}

fn decode_message(line: &Option<usize>, field: &str, message: &str) -> String {
    let mut out = String::new();
    if let Some(line) = line {
        out.push_str(&format!("line {line}: "));
    }
    if !field.is_empty() {
        out.push_str(field);
        out.push_str(": ");
    }
    out.push_str(message);
    out
}

/// `plugins[0].configuration.defaults`: a field path as the configuration spells it.
fn render_path(field: &[FieldKey]) -> String {
    let mut out = String::new();
    for key in field {
        match key {
            FieldKey::Key(k) if out.is_empty() => out.push_str(k),
            FieldKey::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            FieldKey::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Decodes YAML (or JSON) text strictly; an error names the line in `text` and the field.
fn decode<T: DeserializeOwned>(text: &str) -> Result<T, ConfigError> {
    let mut field = Vec::new();
    let result =
        serde_saphyr::with_deserializer_from_str_with_options(text, yaml_options(), |de| {
            serde_path_to_error::deserialize(ObjectsOnly(de)).map_err(|e| {
                field = field_keys(e.path());
                e.into_inner()
            })
        });
    result.map_err(|e| {
        let (message, position) = yaml_message(&e);
        ConfigError::Decode {
            line: position.map(|(line, _)| line),
            field: render_path(&field),
            message,
        }
    })
}

/// Decodes a value already read from `text` at `prefix` (an embedded plugin configuration)
/// without re-serializing it: an error names the field's line in `text`.
fn decode_value<T: DeserializeOwned>(
    value: &serde_json::Value,
    text: &str,
    prefix: &[FieldKey],
) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(ObjectsOnly(value)).map_err(|e| {
        let mut field = prefix.to_vec();
        field.extend(field_keys(e.path()));
        ConfigError::Decode {
            line: field_line(text, Format::Yaml, &field),
            field: render_path(&field),
            message: e.into_inner().to_string(),
        }
    })
}

impl Configuration {
    /// Decodes and validates a configuration file. `read_path` reads the file an
    /// `AdmissionConfiguration` plugin entry points to with `path` (relative paths are the
    /// caller's to resolve); the admission crate itself does no I/O.
    pub fn parse(
        text: &str,
        read_path: &dyn Fn(&str) -> Result<String, String>,
    ) -> Result<Configuration, ConfigError> {
        let meta: TypeMeta = decode(text)?;
        if meta.kind == "PodSecurityConfiguration"
            && PSA_GROUP_VERSIONS.contains(&meta.api_version.as_str())
        {
            let doc: PodSecurityConfigurationDoc = decode(text)?;
            return doc.validate();
        }
        if meta.kind == "AdmissionConfiguration"
            && APISERVER_GROUP_VERSIONS.contains(&meta.api_version.as_str())
        {
            let doc: AdmissionConfigurationDoc = decode(text)?;
            let (index, plugin) = doc
                .plugins
                .into_iter()
                .enumerate()
                .find(|(_, p)| p.name == "PodSecurity")
                .ok_or(ConfigError::NoPlugin)?;
            // The embedded configuration must itself be a PodSecurityConfiguration.
            let psa_kind = |meta: TypeMeta| {
                if meta.kind == "PodSecurityConfiguration"
                    && PSA_GROUP_VERSIONS.contains(&meta.api_version.as_str())
                {
                    Ok(())
                } else {
                    Err(ConfigError::UnknownKind {
                        api_version: meta.api_version,
                        kind: meta.kind,
                        expected: EXPECTED_PLUGIN,
                    })
                }
            };
            let doc: PodSecurityConfigurationDoc =
                match (plugin.configuration, plugin.path.as_str()) {
                    (Some(value), _) => {
                        // Decoded from the value read, not from a re-serialized copy: errors name
                        // the field and its line in this file.
                        let prefix = [
                            FieldKey::Key("plugins".into()),
                            FieldKey::Index(index),
                            FieldKey::Key("configuration".into()),
                        ];
                        psa_kind(decode_value(&value, text, &prefix)?)?;
                        decode_value(&value, text, &prefix)?
                    }
                    (None, "") => return Err(ConfigError::EmptyPlugin),
                    (None, path) => {
                        let inner = read_path(path).map_err(|message| ConfigError::Read {
                            path: path.into(),
                            message,
                        })?;
                        let in_file = |error| ConfigError::InPluginFile {
                            path: path.into(),
                            error: Box::new(error),
                        };
                        psa_kind(decode(&inner).map_err(in_file)?).map_err(in_file)?;
                        decode(&inner).map_err(in_file)?
                    }
                };
            return doc.validate();
        }
        Err(ConfigError::UnknownKind {
            api_version: meta.api_version,
            kind: meta.kind,
            expected: EXPECTED_ANY,
        })
    }
}

impl PodSecurityConfigurationDoc {
    fn validate(self) -> Result<Configuration, ConfigError> {
        let mut errors = Vec::new();
        let d = &self.defaults;
        let level = |path: &str, value: &str, errors: &mut Vec<String>| -> Level {
            let value = if value.is_empty() {
                "privileged"
            } else {
                value
            };
            Level::parse(value).unwrap_or_else(|e| {
                errors.push(format!(
                    "{path}: Invalid value: {}: {e}",
                    podsec_policy::go_quote(value)
                ));
                Level::Privileged
            })
        };
        let version = |path: &str, value: &str, errors: &mut Vec<String>| -> Version {
            let value = if value.is_empty() { "latest" } else { value };
            Version::parse(value).unwrap_or_else(|e| {
                errors.push(format!(
                    "{path}: Invalid value: {}: {e}",
                    podsec_policy::go_quote(value)
                ));
                Version::Latest
            })
        };
        let enforce = LevelVersion::new(
            level("defaults.enforce", &d.enforce, &mut errors),
            version("defaults.enforce-version", &d.enforce_version, &mut errors),
        );
        let warn = LevelVersion::new(
            level("defaults.warn", &d.warn, &mut errors),
            version("defaults.warn-version", &d.warn_version, &mut errors),
        );
        let audit = LevelVersion::new(
            level("defaults.audit", &d.audit, &mut errors),
            version("defaults.audit-version", &d.audit_version, &mut errors),
        );
        let e = self.exemptions;
        let namespaces = unique(
            "exemptions.namespaces",
            e.namespaces,
            dns1123_label_errors,
            &mut errors,
        );
        let runtime_classes = unique(
            "exemptions.runtimeClasses",
            e.runtime_classes,
            dns1123_subdomain_errors,
            &mut errors,
        );
        let usernames = unique(
            "exemptions.usernames",
            e.usernames,
            |u| {
                if u.is_empty() {
                    vec!["username must not be empty".into()]
                } else {
                    vec![]
                }
            },
            &mut errors,
        );
        if !errors.is_empty() {
            return Err(ConfigError::Invalid(crate::review::aggregate(&errors)));
        }
        Ok(Configuration {
            defaults: Policy {
                enforce,
                audit,
                warn,
            },
            exemptions: Exemptions {
                usernames,
                namespaces,
                runtime_classes,
            },
        })
    }
}

fn unique(
    path: &str,
    values: Vec<String>,
    check: impl Fn(&str) -> Vec<String>,
    errors: &mut Vec<String>,
) -> HashSet<String> {
    let mut set = HashSet::new();
    for (i, v) in values.into_iter().enumerate() {
        let problems = check(&v);
        if !problems.is_empty() {
            errors.push(format!(
                "{path}[{i}]: Invalid value: {}: {}",
                podsec_policy::go_quote(&v),
                problems.join(", ")
            ));
        } else if set.contains(&v) {
            errors.push(format!(
                "{path}[{i}]: Duplicate value: {}",
                podsec_policy::go_quote(&v)
            ));
        } else {
            set.insert(v);
        }
    }
    set
}

fn is_label(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    !b.is_empty()
        && b.first().is_some_and(alnum)
        && b.last().is_some_and(alnum)
        && b.iter().all(|c| alnum(c) || *c == b'-')
}

/// apimachinery `IsDNS1123Label`, with its messages.
pub(crate) fn dns1123_label_errors(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 63 {
        errs.push("must be no more than 63 characters".to_string());
    }
    if !is_label(s) {
        errs.push("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')".to_string());
    }
    errs
}

/// apimachinery `IsDNS1123Subdomain`, with its messages.
pub(crate) fn dns1123_subdomain_errors(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 253 {
        errs.push("must be no more than 253 characters".to_string());
    }
    if !s.split('.').all(is_label) {
        errs.push(r"a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".to_string());
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_files(_: &str) -> Result<String, String> {
        Err("no files in this test".into())
    }

    #[test]
    fn reads_every_version_alone_and_embedded() {
        for gv in PSA_GROUP_VERSIONS {
            let text = format!("apiVersion: {gv}\nkind: PodSecurityConfiguration\ndefaults:\n  enforce: baseline\n  enforce-version: v1.30\n  warn: restricted\nexemptions:\n  usernames: [admin]\n  namespaces: [kube-system]\n  runtimeClasses: [kata]\n");
            let c = Configuration::parse(&text, &no_files).expect("valid");
            assert_eq!(
                c.defaults.enforce,
                LevelVersion::new(Level::Baseline, Version::Minor(30))
            );
            assert_eq!(
                c.defaults.warn,
                LevelVersion::new(Level::Restricted, Version::Latest)
            );
            assert_eq!(
                c.defaults.audit,
                LevelVersion::new(Level::Privileged, Version::Latest)
            );
            assert!(c.exemptions.namespaces.contains("kube-system"));
            assert!(c.exemptions.usernames.contains("admin"));
            assert!(c.exemptions.runtime_classes.contains("kata"));
        }
        let embedded = "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n- name: Other\n  configuration: {}\n- name: PodSecurity\n  configuration:\n    apiVersion: pod-security.admission.config.k8s.io/v1\n    kind: PodSecurityConfiguration\n    defaults: {enforce: restricted}\n";
        let c = Configuration::parse(embedded, &no_files).expect("valid");
        assert_eq!(c.defaults.enforce.level, Level::Restricted);
        let by_path = "apiVersion: apiserver.config.k8s.io/v1alpha1\nkind: AdmissionConfiguration\nplugins:\n- name: PodSecurity\n  path: psa.yaml\n";
        let read = |p: &str| -> Result<String, String> {
            assert_eq!(p, "psa.yaml");
            Ok("apiVersion: pod-security.admission.config.k8s.io/v1beta1\nkind: PodSecurityConfiguration\ndefaults: {audit: baseline}\n".into())
        };
        assert_eq!(
            Configuration::parse(by_path, &read)
                .expect("valid")
                .defaults
                .audit
                .level,
            Level::Baseline
        );
    }

    #[test]
    fn empty_defaults_are_privileged_latest() {
        let c = Configuration::parse(
            "apiVersion: pod-security.admission.config.k8s.io/v1\nkind: PodSecurityConfiguration\n",
            &no_files,
        )
        .expect("valid");
        assert_eq!(c, Configuration::default());
    }

    #[test]
    fn decoding_is_strict() {
        let unknown = "apiVersion: pod-security.admission.config.k8s.io/v1\nkind: PodSecurityConfiguration\ndefaults: {enforce: baseline, enfoce: x}\n";
        assert!(
            matches!(Configuration::parse(unknown, &no_files), Err(ConfigError::Decode { line: Some(3), ref message, .. }) if message.contains("enfoce"))
        );
        let dup = "apiVersion: pod-security.admission.config.k8s.io/v1\nkind: PodSecurityConfiguration\ndefaults:\n  enforce: baseline\n  enforce: restricted\n";
        assert!(
            matches!(Configuration::parse(dup, &no_files), Err(ConfigError::Decode { line: Some(5), ref message, .. }) if message.starts_with("duplicate key \"enforce\""))
        );
        // An embedded configuration is not re-serialized: the line is the file's.
        let embedded = "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n- name: PodSecurity\n  configuration:\n    apiVersion: pod-security.admission.config.k8s.io/v1\n    kind: PodSecurityConfiguration\n    exemptions:\n      usernames: {admin: true}\n";
        let e = Configuration::parse(embedded, &no_files).expect_err("a mapping is not a list");
        assert_eq!(
            e.to_string(),
            "line 9: plugins[0].configuration.exemptions.usernames: invalid type: map, expected a sequence"
        );
        let wrong =
            "apiVersion: pod-security.admission.config.k8s.io/v2\nkind: PodSecurityConfiguration\n";
        assert_eq!(
            Configuration::parse(wrong, &no_files).map_err(|e| e.to_string()),
            Err(format!("found apiVersion \"pod-security.admission.config.k8s.io/v2\", kind \"PodSecurityConfiguration\"; expected {EXPECTED_ANY}"))
        );
        assert_eq!(
            Configuration::parse("defaults: {enforce: baseline}\n", &no_files)
                .map_err(|e| e.to_string()),
            Err(format!(
                "apiVersion and kind are missing; expected {EXPECTED_ANY}"
            ))
        );
        let no_plugin =
            "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins: []\n";
        assert_eq!(
            Configuration::parse(no_plugin, &no_files),
            Err(ConfigError::NoPlugin)
        );
    }

    #[test]
    fn validates_like_upstream() {
        let text = "apiVersion: pod-security.admission.config.k8s.io/v1\nkind: PodSecurityConfiguration\ndefaults: {enforce: strict, audit-version: '1.2'}\nexemptions:\n  namespaces: [ok, Bad_NS, ok]\n  runtimeClasses: [a.b, -x]\n  usernames: ['', u, u]\n";
        let Err(ConfigError::Invalid(message)) = Configuration::parse(text, &no_files) else {
            panic!("must be invalid")
        };
        for expected in [
            r#"defaults.enforce: Invalid value: "strict": must be one of privileged, baseline, restricted"#,
            r#"defaults.audit-version: Invalid value: "1.2": must be "latest" or "v1.x""#,
            r#"exemptions.namespaces[1]: Invalid value: "Bad_NS": a lowercase RFC 1123 label must consist of"#,
            r#"exemptions.namespaces[2]: Duplicate value: "ok""#,
            r#"exemptions.runtimeClasses[1]: Invalid value: "-x": a lowercase RFC 1123 subdomain"#,
            r#"exemptions.usernames[0]: Invalid value: "": username must not be empty"#,
            r#"exemptions.usernames[2]: Duplicate value: "u""#,
        ] {
            assert!(
                message.contains(expected),
                "missing {expected:?} in {message}"
            );
        }
        assert_eq!(
            dns1123_label_errors(&"a".repeat(64)),
            vec!["must be no more than 63 characters".to_string()]
        );
    }
}
