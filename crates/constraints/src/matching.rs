//! A Constraint's `spec.match`, as Gatekeeper's matcher applies it: every criterion set must
//! hold, for the object or for the old object.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::review::Review;

#[derive(Debug, Default, Clone)]
pub(crate) struct Match {
    kinds: Vec<KindSelector>,
    scope: Scope,
    namespaces: Vec<Glob>,
    excluded_namespaces: Vec<Glob>,
    label_selector: Option<LabelSelector>,
    namespace_selector: Option<LabelSelector>,
    name: Option<Glob>,
    source: Source,
}

#[derive(Debug, Clone)]
struct KindSelector {
    groups: Vec<String>,
    kinds: Vec<String>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Scope {
    #[default]
    All,
    Cluster,
    Namespaced,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Source {
    #[default]
    All,
    Original,
    Generated,
}

/// `pre*`, `*suf`, `*mid*` or an exact name.
#[derive(Debug, Clone)]
struct Glob(String);

impl Glob {
    fn parse(raw: &str, field: &str) -> Result<Glob, String> {
        let inner = raw.strip_prefix('*').unwrap_or(raw);
        let inner = inner.strip_suffix('*').unwrap_or(inner);
        if inner.contains('*')
            || !inner.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | ':' | '.')
            })
        {
            return Err(format!(
                "{field}: {raw:?} is not a name or a glob (`prefix*`, `*suffix`, `*middle*`)"
            ));
        }
        Ok(Glob(raw.to_string()))
    }

    fn matches(&self, name: &str) -> bool {
        let pattern = self.0.as_str();
        match (pattern.strip_prefix('*'), pattern.strip_suffix('*')) {
            (Some(rest), _) if rest.ends_with('*') && !rest.is_empty() => {
                name.contains(&rest[..rest.len() - 1])
            }
            (Some(suffix), _) => name.ends_with(suffix),
            (None, Some(prefix)) => name.starts_with(prefix),
            (None, None) => name == pattern,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct LabelSelector {
    match_labels: BTreeMap<String, String>,
    expressions: Vec<Requirement>,
}

#[derive(Debug, Clone)]
struct Requirement {
    key: String,
    operator: Operator,
    values: Vec<String>,
}

#[derive(Debug, Clone, Copy)]
enum Operator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

impl LabelSelector {
    pub fn parse(raw: &Value, field: &str) -> Result<LabelSelector, String> {
        let Value::Object(fields) = raw else {
            return Err(format!("{field}: must be an object"));
        };
        let mut selector = LabelSelector::default();
        if let Some(labels) = fields.get("matchLabels").filter(|l| !l.is_null()) {
            let Value::Object(labels) = labels else {
                return Err(format!("{field}.matchLabels: must be a map of strings"));
            };
            for (k, v) in labels {
                let Some(v) = v.as_str() else {
                    return Err(format!("{field}.matchLabels.{k}: must be a string"));
                };
                selector.match_labels.insert(k.clone(), v.to_string());
            }
        }
        for (index, expr) in array(
            fields.get("matchExpressions"),
            &format!("{field}.matchExpressions"),
        )?
        .iter()
        .enumerate()
        {
            let at = format!("{field}.matchExpressions[{index}]");
            let key = expr.get("key").and_then(Value::as_str).unwrap_or_default();
            let operator = match expr.get("operator").and_then(Value::as_str) {
                Some("In") => Operator::In,
                Some("NotIn") => Operator::NotIn,
                Some("Exists") => Operator::Exists,
                Some("DoesNotExist") => Operator::DoesNotExist,
                other => {
                    return Err(format!(
                        "{at}.operator: {other:?} is not In, NotIn, Exists or DoesNotExist"
                    ))
                }
            };
            let values = strings(expr.get("values"), &format!("{at}.values"))?;
            match operator {
                Operator::In | Operator::NotIn if values.is_empty() => {
                    return Err(format!("{at}.values: must be non-empty for In and NotIn"))
                }
                Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
                    return Err(format!(
                        "{at}.values: must be empty for Exists and DoesNotExist"
                    ))
                }
                _ => {}
            }
            selector.expressions.push(Requirement {
                key: key.to_string(),
                operator,
                values,
            });
        }
        Ok(selector)
    }

    pub fn matches(&self, labels: Option<&serde_json::Map<String, Value>>) -> bool {
        let label = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.match_labels
            .iter()
            .all(|(k, v)| label(k) == Some(v.as_str()))
            && self.expressions.iter().all(|r| match r.operator {
                Operator::In => label(&r.key).is_some_and(|v| r.values.iter().any(|x| x == v)),
                Operator::NotIn => !label(&r.key).is_some_and(|v| r.values.iter().any(|x| x == v)),
                Operator::Exists => label(&r.key).is_some(),
                Operator::DoesNotExist => label(&r.key).is_none(),
            })
    }
}

impl Match {
    pub fn parse(raw: Option<&Value>) -> Result<Match, String> {
        let Some(raw) = raw.filter(|r| !r.is_null()) else {
            return Ok(Match::default());
        };
        let Value::Object(fields) = raw else {
            return Err("spec.match: must be an object".into());
        };
        let known = [
            "kinds",
            "scope",
            "namespaces",
            "excludedNamespaces",
            "labelSelector",
            "namespaceSelector",
            "name",
            "source",
        ];
        if let Some(unknown) = fields.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(format!(
                "spec.match.{unknown}: unknown field (known: {})",
                known.join(", ")
            ));
        }
        let mut m = Match::default();
        for (index, entry) in array(fields.get("kinds"), "spec.match.kinds")?
            .iter()
            .enumerate()
        {
            let at = format!("spec.match.kinds[{index}]");
            m.kinds.push(KindSelector {
                groups: strings(entry.get("apiGroups"), &format!("{at}.apiGroups"))?,
                kinds: strings(entry.get("kinds"), &format!("{at}.kinds"))?,
            });
        }
        m.scope = match fields.get("scope").and_then(Value::as_str) {
            None | Some("*") | Some("") => Scope::All,
            Some("Cluster") => Scope::Cluster,
            Some("Namespaced") => Scope::Namespaced,
            Some(other) => {
                return Err(format!(
                    "spec.match.scope: {other:?} is not Cluster, Namespaced or *"
                ))
            }
        };
        for (field, target) in [
            ("namespaces", &mut m.namespaces),
            ("excludedNamespaces", &mut m.excluded_namespaces),
        ] {
            let at = format!("spec.match.{field}");
            for raw in strings(fields.get(field), &at)? {
                target.push(Glob::parse(&raw, &at)?);
            }
        }
        if let Some(sel) = fields.get("labelSelector").filter(|s| !s.is_null()) {
            m.label_selector = Some(LabelSelector::parse(sel, "spec.match.labelSelector")?);
        }
        if let Some(sel) = fields.get("namespaceSelector").filter(|s| !s.is_null()) {
            m.namespace_selector = Some(LabelSelector::parse(sel, "spec.match.namespaceSelector")?);
        }
        if let Some(name) = fields.get("name").and_then(Value::as_str) {
            m.name = Some(Glob::parse(name, "spec.match.name")?);
        }
        m.source = match fields.get("source").and_then(Value::as_str) {
            None | Some("All") | Some("") => Source::All,
            Some("Original") => Source::Original,
            Some("Generated") => Source::Generated,
            Some(other) => {
                return Err(format!(
                    "spec.match.source: {other:?} is not All, Original or Generated"
                ))
            }
        };
        Ok(m)
    }

    /// Whether the constraint applies; `Err` when it cannot tell (a namespaceSelector on an
    /// object whose Namespace is unknown), which Gatekeeper turns into a violation.
    pub fn matches(&self, review: &Review) -> Result<bool, String> {
        // podsec reviews only original objects (no expansion).
        if self.source == Source::Generated {
            return Ok(false);
        }
        if !self.kind_matches(review.group(), review.kind()) || !self.scope_matches(review) {
            return Ok(false);
        }
        let mut any = false;
        for object in [review.object(), review.old_object()].into_iter().flatten() {
            if self.object_matches(review, object)? {
                any = true;
                break;
            }
        }
        Ok(any)
    }

    fn kind_matches(&self, group: &str, kind: &str) -> bool {
        self.kinds.is_empty()
            || self.kinds.iter().any(|sel| {
                (sel.groups.is_empty() || sel.groups.iter().any(|g| g == "*" || g == group))
                    && (sel.kinds.is_empty() || sel.kinds.iter().any(|k| k == "*" || k == kind))
            })
    }

    fn scope_matches(&self, review: &Review) -> bool {
        let cluster_scoped = review.is_namespace() || review.namespace().is_empty();
        match self.scope {
            Scope::All => true,
            Scope::Cluster => cluster_scoped,
            Scope::Namespaced => !cluster_scoped,
        }
    }

    fn object_matches(&self, review: &Review, object: &Value) -> Result<bool, String> {
        let metadata = object.get("metadata");
        let labels = metadata
            .and_then(|m| m.get("labels"))
            .and_then(Value::as_object);
        if let Some(selector) = &self.label_selector {
            if !selector.matches(labels) {
                return Ok(false);
            }
        }
        if let Some(glob) = &self.name {
            let name = metadata
                .and_then(|m| m.get("name"))
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty());
            let matched = match name {
                Some(name) => glob.matches(name),
                // A generateName can only be judged by a glob that a longer name would keep
                // matching: `prefix*` or `*middle*` within the prefix.
                None => metadata
                    .and_then(|m| m.get("generateName"))
                    .and_then(Value::as_str)
                    .is_some_and(|generate| {
                        let pattern = glob.0.as_str();
                        match (pattern.strip_prefix('*'), pattern.strip_suffix('*')) {
                            (Some(rest), Some(_)) if rest.ends_with('*') => {
                                generate.contains(&rest[..rest.len() - 1])
                            }
                            (None, Some(prefix)) => generate.starts_with(prefix),
                            _ => false,
                        }
                    }),
            };
            if !matched {
                return Ok(false);
            }
        }
        // The namespace an object is judged by: its own name for a Namespace; none for other
        // cluster-scoped objects, which namespace criteria never exclude.
        let namespace = if review.is_namespace() {
            metadata
                .and_then(|m| m.get("name"))
                .and_then(Value::as_str)
                .unwrap_or_default()
        } else {
            review.namespace()
        };
        let judged = review.is_namespace() || !namespace.is_empty();
        if judged {
            if !self.namespaces.is_empty() && !self.namespaces.iter().any(|g| g.matches(namespace))
            {
                return Ok(false);
            }
            if self
                .excluded_namespaces
                .iter()
                .any(|g| g.matches(namespace))
            {
                return Ok(false);
            }
        }
        if let Some(selector) = &self.namespace_selector {
            if review.is_namespace() {
                return Ok(selector.matches(labels));
            }
            if namespace.is_empty() {
                return Ok(true);
            }
            let Some(ns) = review.namespace_object() else {
                return Err(format!(
                    "namespace {namespace:?} is unknown, so namespaceSelector cannot be evaluated"
                ));
            };
            let ns_labels = ns.pointer("/metadata/labels").and_then(Value::as_object);
            return Ok(selector.matches(ns_labels));
        }
        Ok(true)
    }
}

fn array<'a>(raw: Option<&'a Value>, field: &str) -> Result<&'a [Value], String> {
    match raw {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(format!("{field}: must be a list")),
    }
}

fn strings(raw: Option<&Value>, field: &str) -> Result<Vec<String>, String> {
    array(raw, field)?
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("{field}: must be a list of strings"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(ns: &str, name: &str, labels: Value) -> Review {
        Review::from_object(
            json!({"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": name, "namespace": ns, "labels": labels}}),
            Some(json!({"apiVersion": "v1", "kind": "Namespace",
                        "metadata": {"name": ns, "labels": {"team": "a"}}})),
        )
    }

    fn matches(m: Value, review: &Review) -> Result<bool, String> {
        Match::parse(Some(&m))?.matches(review)
    }

    #[test]
    fn kinds_need_group_and_kind() {
        let p = pod("default", "p", json!({}));
        assert_eq!(
            matches(
                json!({"kinds": [{"apiGroups": [""], "kinds": ["Pod"]}]}),
                &p
            ),
            Ok(true)
        );
        assert_eq!(
            matches(
                json!({"kinds": [{"apiGroups": ["apps"], "kinds": ["Pod"]}]}),
                &p
            ),
            Ok(false)
        );
        assert_eq!(
            matches(json!({"kinds": [{"apiGroups": ["*"], "kinds": ["*"]}]}), &p),
            Ok(true)
        );
        assert_eq!(
            matches(
                json!({"kinds": [{"apiGroups": [""], "kinds": ["Service"]}]}),
                &p
            ),
            Ok(false)
        );
    }

    #[test]
    fn namespace_globs() {
        let p = pod("kube-system", "p", json!({}));
        assert_eq!(matches(json!({"namespaces": ["kube-*"]}), &p), Ok(true));
        assert_eq!(matches(json!({"namespaces": ["*-system"]}), &p), Ok(true));
        assert_eq!(matches(json!({"namespaces": ["*be-sy*"]}), &p), Ok(true));
        assert_eq!(matches(json!({"namespaces": ["default"]}), &p), Ok(false));
        assert_eq!(
            matches(json!({"excludedNamespaces": ["kube-*"]}), &p),
            Ok(false)
        );
        assert!(Match::parse(Some(&json!({"namespaces": ["a*b"]}))).is_err());
    }

    #[test]
    fn cluster_scoped_objects_are_not_judged_by_namespace() {
        let node = Review::from_object(
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}}),
            None,
        );
        assert_eq!(matches(json!({"namespaces": ["prod"]}), &node), Ok(true));
        assert_eq!(
            matches(
                json!({"namespaceSelector": {"matchLabels": {"x": "y"}}}),
                &node
            ),
            Ok(true)
        );
        assert_eq!(matches(json!({"scope": "Namespaced"}), &node), Ok(false));
        let ns = Review::from_object(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod", "labels": {"x": "y"}}}),
            None,
        );
        assert_eq!(
            matches(json!({"excludedNamespaces": ["prod"]}), &ns),
            Ok(false)
        );
        assert_eq!(
            matches(
                json!({"namespaceSelector": {"matchLabels": {"x": "y"}}}),
                &ns
            ),
            Ok(true)
        );
        assert_eq!(matches(json!({"scope": "Cluster"}), &ns), Ok(true));
    }

    #[test]
    fn selectors_and_names() {
        let p = pod("default", "web-1", json!({"app": "web"}));
        assert_eq!(
            matches(
                json!({"labelSelector": {"matchLabels": {"app": "web"}}}),
                &p
            ),
            Ok(true)
        );
        assert_eq!(
            matches(
                json!({"labelSelector": {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}}),
                &p
            ),
            Ok(false)
        );
        assert_eq!(
            matches(
                json!({"labelSelector": {"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}}),
                &p
            ),
            Ok(true)
        );
        assert_eq!(
            matches(
                json!({"namespaceSelector": {"matchLabels": {"team": "a"}}}),
                &p
            ),
            Ok(true)
        );
        assert_eq!(
            matches(
                json!({"namespaceSelector": {"matchLabels": {"team": "b"}}}),
                &p
            ),
            Ok(false)
        );
        assert_eq!(matches(json!({"name": "web-*"}), &p), Ok(true));
        assert_eq!(matches(json!({"name": "db"}), &p), Ok(false));
        assert!(Match::parse(Some(
            &json!({"labelSelector": {"matchExpressions": [{"key": "a", "operator": "Gt"}]}})
        ))
        .is_err());
    }

    #[test]
    fn source_generated_never_matches_original_objects() {
        let p = pod("default", "p", json!({}));
        assert_eq!(matches(json!({"source": "Generated"}), &p), Ok(false));
        assert_eq!(matches(json!({"source": "Original"}), &p), Ok(true));
        assert_eq!(matches(json!({"source": "All"}), &p), Ok(true));
        assert!(Match::parse(Some(&json!({"source": "Some"}))).is_err());
        assert!(
            Match::parse(Some(&json!({"kinds": [], "nmespaces": []}))).is_err(),
            "unknown fields"
        );
    }

    #[test]
    fn an_unknown_namespace_is_an_error_for_namespace_selectors() {
        let p = Review::from_object(
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "gone"}}),
            None,
        );
        assert!(matches(
            json!({"namespaceSelector": {"matchLabels": {"a": "b"}}}),
            &p
        )
        .is_err());
        assert_eq!(matches(json!({"namespaces": ["gone"]}), &p), Ok(true));
    }

    #[test]
    fn the_old_object_can_match() {
        let request = json!({"uid": "u", "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "namespace": "default", "operation": "UPDATE",
            "object": {"metadata": {"name": "p", "labels": {"app": "new"}}},
            "oldObject": {"metadata": {"name": "p", "labels": {"app": "old"}}}});
        let review = Review::from_request(request, None);
        assert_eq!(
            matches(
                json!({"labelSelector": {"matchLabels": {"app": "old"}}}),
                &review
            ),
            Ok(true)
        );
        assert_eq!(
            matches(
                json!({"labelSelector": {"matchLabels": {"app": "other"}}}),
                &review
            ),
            Ok(false)
        );
    }
}
