//! Kubernetes RBAC, evaluated offline from Role, ClusterRole, RoleBinding and
//! ClusterRoleBinding objects, as the RBAC authorizer decides: the subjects a binding names,
//! the rules of the role it refers to (with ClusterRole aggregation), wildcards, and
//! `resourceNames`. Indexed by subject so a decision looks only at the bindings that can apply.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRule {
    #[serde(default)]
    pub verbs: Vec<String>,
    #[serde(default)]
    pub api_groups: Vec<String>,
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default)]
    pub resource_names: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelectorRequirement {
    pub key: String,
    pub operator: String,
    #[serde(default)]
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

impl LabelSelector {
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|e| {
                let value = labels.get(&e.key);
                match e.operator.as_str() {
                    "In" => value.is_some_and(|v| e.values.contains(v)),
                    "NotIn" => !value.is_some_and(|v| e.values.contains(v)),
                    "Exists" => value.is_some(),
                    "DoesNotExist" => value.is_none(),
                    _ => false,
                }
            })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AggregationRule {
    #[serde(default)]
    pub cluster_role_selectors: Vec<LabelSelector>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct RbacMeta {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// A Role or ClusterRole.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Role {
    #[serde(default)]
    pub metadata: RbacMeta,
    #[serde(default)]
    pub rules: Vec<PolicyRule>,
    #[serde(default)]
    pub aggregation_rule: Option<AggregationRule>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleRef {
    #[serde(default)]
    pub api_group: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subject {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub api_group: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
}

/// A RoleBinding or ClusterRoleBinding.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Binding {
    #[serde(default)]
    pub metadata: RbacMeta,
    #[serde(default)]
    pub role_ref: RoleRef,
    #[serde(default)]
    pub subjects: Vec<Subject>,
}

/// A user as the API server sees it: name and groups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserIdentity {
    pub name: String,
    pub groups: Vec<String>,
}

impl UserIdentity {
    /// A user with the groups Kubernetes adds: `system:authenticated` for everyone but
    /// `system:anonymous`, plus `system:serviceaccounts` and `system:serviceaccounts:<ns>` for
    /// service accounts.
    pub fn with_default_groups(name: &str, mut groups: Vec<String>) -> UserIdentity {
        if let Some(namespace) = name
            .strip_prefix("system:serviceaccount:")
            .and_then(|r| r.split_once(':'))
            .map(|(ns, _)| ns)
        {
            for g in [
                "system:serviceaccounts".to_string(),
                format!("system:serviceaccounts:{namespace}"),
            ] {
                if !groups.contains(&g) {
                    groups.push(g);
                }
            }
        }
        if name != "system:anonymous" && !groups.iter().any(|g| g == "system:authenticated") {
            groups.push("system:authenticated".into());
        }
        UserIdentity {
            name: name.to_string(),
            groups,
        }
    }

    /// A service account's identity (`system:serviceaccount:<ns>:<name>` and its groups).
    pub fn service_account(namespace: &str, name: &str) -> UserIdentity {
        UserIdentity::with_default_groups(
            &format!("system:serviceaccount:{namespace}:{name}"),
            Vec::new(),
        )
    }
}

/// What a request asks to do, for authorization.
#[derive(Debug, Clone, Copy)]
pub struct ResourceAttributes<'a> {
    pub verb: &'a str,
    pub api_group: &'a str,
    pub resource: &'a str,
    pub name: &'a str,
    /// Empty for cluster-scoped requests.
    pub namespace: &'a str,
}

/// The group kube-apiserver authorizes for every request, before any authorizer is asked.
pub const SYSTEM_MASTERS: &str = "system:masters";

/// The binding (and role) that allowed a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// `ClusterRoleBinding/name` or `RoleBinding/namespace/name`.
    pub binding: String,
    /// `ClusterRole/name` or `Role/namespace/name`.
    pub role: String,
    /// The subject of the binding that matched (`User alice`, `Group system:authenticated`, …).
    pub subject: String,
}

/// Something wrong in the RBAC objects, reported rather than guessed at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RbacProblem {
    pub binding: String,
    pub message: String,
}

struct CompiledBinding {
    id: String,
    role: String,
    /// `None` for ClusterRoleBindings.
    namespace: Option<String>,
    rules: Vec<PolicyRule>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum SubjectKey {
    User(String),
    Group(String),
}

/// RBAC objects compiled for fast decisions.
#[derive(Default)]
pub struct Rbac {
    bindings: Vec<CompiledBinding>,
    /// Subject -> (binding index, subject description).
    by_subject: HashMap<SubjectKey, Vec<(usize, String)>>,
}

fn matches(list: &[String], value: &str) -> bool {
    list.iter().any(|v| v == "*" || v == value)
}

fn rule_allows(rule: &PolicyRule, a: &ResourceAttributes<'_>) -> bool {
    matches(&rule.verbs, a.verb)
        && matches(&rule.api_groups, a.api_group)
        && matches(&rule.resources, a.resource)
        && (rule.resource_names.is_empty() || rule.resource_names.iter().any(|n| n == a.name))
}

impl Rbac {
    /// Compiles the objects. Bindings to roles that do not exist grant nothing and are
    /// reported.
    pub fn build(
        roles: &[Role],
        cluster_roles: &[Role],
        role_bindings: &[Binding],
        cluster_role_bindings: &[Binding],
    ) -> (Rbac, Vec<RbacProblem>) {
        let mut problems = Vec::new();
        let cluster_rules: HashMap<&str, Vec<PolicyRule>> = cluster_roles
            .iter()
            .map(|cr| {
                let mut rules = cr.rules.clone();
                if let Some(aggregation) = &cr.aggregation_rule {
                    for other in cluster_roles {
                        if other.metadata.name != cr.metadata.name
                            && aggregation
                                .cluster_role_selectors
                                .iter()
                                .any(|s| s.matches(&other.metadata.labels))
                        {
                            rules.extend(other.rules.iter().cloned());
                        }
                    }
                }
                (cr.metadata.name.as_str(), rules)
            })
            .collect();
        let namespaced_rules: HashMap<(&str, &str), &Vec<PolicyRule>> = roles
            .iter()
            .map(|r| {
                (
                    (r.metadata.namespace.as_str(), r.metadata.name.as_str()),
                    &r.rules,
                )
            })
            .collect();
        let mut rbac = Rbac::default();
        let all = role_bindings
            .iter()
            .map(|b| (b, true))
            .chain(cluster_role_bindings.iter().map(|b| (b, false)));
        for (binding, namespaced) in all {
            let ns = binding.metadata.namespace.as_str();
            let id = if namespaced {
                format!("RoleBinding/{ns}/{}", binding.metadata.name)
            } else {
                format!("ClusterRoleBinding/{}", binding.metadata.name)
            };
            let rr = &binding.role_ref;
            let (role, rules) = match (rr.kind.as_str(), namespaced) {
                ("ClusterRole", _) => (
                    format!("ClusterRole/{}", rr.name),
                    cluster_rules.get(rr.name.as_str()).cloned(),
                ),
                ("Role", true) => (
                    format!("Role/{ns}/{}", rr.name),
                    namespaced_rules
                        .get(&(ns, rr.name.as_str()))
                        .map(|r| (*r).clone()),
                ),
                (kind, _) => {
                    problems.push(RbacProblem {
                        binding: id,
                        message: format!("roleRef kind {kind:?} is not valid here"),
                    });
                    continue;
                }
            };
            let Some(rules) = rules else {
                problems.push(RbacProblem {
                    binding: id.clone(),
                    message: format!("refers to {role}, which does not exist; it grants nothing"),
                });
                continue;
            };
            let index = rbac.bindings.len();
            for s in &binding.subjects {
                let key = match s.kind.as_str() {
                    "User" => SubjectKey::User(s.name.clone()),
                    "Group" => SubjectKey::Group(s.name.clone()),
                    "ServiceAccount" => {
                        let sa_ns = if s.namespace.is_empty() {
                            ns
                        } else {
                            s.namespace.as_str()
                        };
                        SubjectKey::User(format!("system:serviceaccount:{sa_ns}:{}", s.name))
                    }
                    other => {
                        problems.push(RbacProblem {
                            binding: id.clone(),
                            message: format!(
                                "subject kind {other:?} is not User, Group or ServiceAccount"
                            ),
                        });
                        continue;
                    }
                };
                rbac.by_subject
                    .entry(key)
                    .or_default()
                    .push((index, format!("{} {}", s.kind, s.name)));
            }
            rbac.bindings.push(CompiledBinding {
                id,
                role,
                namespace: namespaced.then(|| ns.to_string()),
                rules,
            });
        }
        (rbac, problems)
    }

    pub fn binding_count(&self) -> usize {
        self.bindings.len()
    }

    /// Every subject that a binding allows the request for (cluster-wide bindings and the
    /// request namespace's bindings), with the grant. Scans all bindings: for reports, not for
    /// admission.
    pub fn subjects_allowed(&self, attrs: &ResourceAttributes<'_>) -> Vec<Grant> {
        let mut out = Vec::new();
        for candidates in self.by_subject.values() {
            for (index, subject) in candidates {
                let b = &self.bindings[*index];
                if b.namespace
                    .as_deref()
                    .is_some_and(|ns| ns != attrs.namespace)
                {
                    continue;
                }
                if b.rules.iter().any(|r| rule_allows(r, attrs)) {
                    out.push(Grant {
                        binding: b.id.clone(),
                        role: b.role.clone(),
                        subject: subject.clone(),
                    });
                }
            }
        }
        out.sort_by(|a, b| (&a.subject, &a.binding).cmp(&(&b.subject, &b.binding)));
        out.dedup();
        out
    }

    /// The first binding (cluster-wide ones included) that allows the request, if any.
    /// Members of `system:masters` are allowed everything without one: kube-apiserver's
    /// privileged-group authorizer runs before RBAC and never consults it for them.
    pub fn allows(&self, user: &UserIdentity, attrs: &ResourceAttributes<'_>) -> Option<Grant> {
        if user.groups.iter().any(|g| g == SYSTEM_MASTERS) {
            return Some(Grant {
                binding: "the system:masters group (authorized before RBAC)".into(),
                role: "every permission".into(),
                subject: format!("Group {SYSTEM_MASTERS}"),
            });
        }
        let keys = std::iter::once(SubjectKey::User(user.name.clone()))
            .chain(user.groups.iter().map(|g| SubjectKey::Group(g.clone())));
        for key in keys {
            let Some(candidates) = self.by_subject.get(&key) else {
                continue;
            };
            for (index, subject) in candidates {
                let b = &self.bindings[*index];
                if let Some(ns) = &b.namespace {
                    if ns != attrs.namespace {
                        continue;
                    }
                }
                if b.rules.iter().any(|r| rule_allows(r, attrs)) {
                    return Some(Grant {
                        binding: b.id.clone(),
                        role: b.role.clone(),
                        subject: subject.clone(),
                    });
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(name: &str, ns: &str, rules: serde_json::Value) -> Role {
        serde_json::from_value(
            serde_json::json!({"metadata": {"name": name, "namespace": ns}, "rules": rules}),
        )
        .expect("role")
    }

    fn binding(
        name: &str,
        ns: &str,
        kind: &str,
        role: &str,
        subjects: serde_json::Value,
    ) -> Binding {
        serde_json::from_value(serde_json::json!({"metadata": {"name": name, "namespace": ns},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role}, "subjects": subjects})).expect("binding")
    }

    fn use_psp<'a>(group: &'a str, name: &'a str, ns: &'a str) -> ResourceAttributes<'a> {
        ResourceAttributes {
            verb: "use",
            api_group: group,
            resource: "podsecuritypolicies",
            name,
            namespace: ns,
        }
    }

    #[test]
    fn role_bindings_apply_in_their_namespace_only() {
        let cr = role(
            "allow-all-clusterrole",
            "",
            serde_json::json!([{"apiGroups": ["policy"], "resources": ["podsecuritypolicies"], "verbs": ["use"], "resourceNames": ["allow-all"]}]),
        );
        let rb = binding(
            "allow-all-rolebinding",
            "dmz",
            "ClusterRole",
            "allow-all-clusterrole",
            serde_json::json!([{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "system:authenticated"}]),
        );
        let (rbac, problems) = Rbac::build(&[], &[cr], &[rb], &[]);
        assert!(problems.is_empty());
        let user = UserIdentity::with_default_groups("k8user", vec![]);
        let grant = rbac
            .allows(&user, &use_psp("policy", "allow-all", "dmz"))
            .expect("granted in dmz");
        assert_eq!(grant.binding, "RoleBinding/dmz/allow-all-rolebinding");
        assert_eq!(grant.subject, "Group system:authenticated");
        assert!(rbac
            .allows(&user, &use_psp("policy", "allow-all", "default"))
            .is_none());
        assert!(
            rbac.allows(&user, &use_psp("policy", "deny-all", "dmz"))
                .is_none(),
            "resourceNames restrict"
        );
        assert!(
            rbac.allows(&user, &use_psp("extensions", "allow-all", "dmz"))
                .is_none(),
            "the rule names the policy group only"
        );
    }

    #[test]
    fn wildcards_in_extensions_grant_every_policy() {
        let cr = role(
            "everything-extensions",
            "",
            serde_json::json!([{"apiGroups": ["extensions"], "resources": ["*"], "verbs": ["*"]}]),
        );
        let crb = binding(
            "sa-extensions",
            "",
            "ClusterRole",
            "everything-extensions",
            serde_json::json!([{"kind": "ServiceAccount", "name": "app", "namespace": "app-test"}]),
        );
        let (rbac, _) = Rbac::build(&[], &[cr], &[], &[crb]);
        let sa = UserIdentity::service_account("app-test", "app");
        assert!(rbac
            .allows(&sa, &use_psp("extensions", "anything", "app-test"))
            .is_some());
        assert!(rbac
            .allows(&sa, &use_psp("policy", "anything", "app-test"))
            .is_none());
    }

    #[test]
    fn service_account_subjects_default_to_the_binding_namespace_and_groups_are_added() {
        let r = role(
            "psp:unprivileged",
            "team",
            serde_json::json!([{"apiGroups": ["policy"], "resources": ["podsecuritypolicies"], "verbs": ["use"], "resourceNames": ["unprivileged"]}]),
        );
        let rb = binding(
            "default:psp:unprivileged",
            "team",
            "Role",
            "psp:unprivileged",
            serde_json::json!([{"kind": "ServiceAccount", "name": "default"}]),
        );
        let (rbac, _) = Rbac::build(&[r], &[], &[rb], &[]);
        assert!(rbac
            .allows(
                &UserIdentity::service_account("team", "default"),
                &use_psp("policy", "unprivileged", "team")
            )
            .is_some());
        let sa = UserIdentity::service_account("team", "x");
        assert!(sa
            .groups
            .contains(&"system:serviceaccounts:team".to_string()));
        assert!(sa.groups.contains(&"system:authenticated".to_string()));
        assert!(
            !UserIdentity::with_default_groups("system:anonymous", vec![])
                .groups
                .contains(&"system:authenticated".to_string())
        );
    }

    #[test]
    fn aggregated_cluster_roles_and_missing_roles() {
        let aggregate: Role =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "psp-users"},
            "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"psp": "true"}}]}}))
            .expect("role");
        let part: Role = serde_json::from_value(serde_json::json!({"metadata": {"name": "psp-a", "labels": {"psp": "true"}},
            "rules": [{"apiGroups": ["policy"], "resources": ["podsecuritypolicies"], "verbs": ["use"], "resourceNames": ["a"]}]})).expect("role");
        let crb = binding(
            "users",
            "",
            "ClusterRole",
            "psp-users",
            serde_json::json!([{"kind": "User", "name": "alice"}]),
        );
        let dangling = binding(
            "dangling",
            "x",
            "Role",
            "nope",
            serde_json::json!([{"kind": "User", "name": "alice"}]),
        );
        let (rbac, problems) = Rbac::build(&[], &[aggregate, part], &[dangling], &[crb]);
        let alice = UserIdentity::with_default_groups("alice", vec![]);
        assert_eq!(
            rbac.allows(&alice, &use_psp("policy", "a", "any"))
                .map(|g| g.role),
            Some("ClusterRole/psp-users".into())
        );
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].binding, "RoleBinding/x/dangling");
        assert!(problems[0]
            .message
            .contains("Role/x/nope, which does not exist"));
    }

    #[test]
    fn selectors_support_expressions() {
        let labels: BTreeMap<String, String> = [("a".to_string(), "1".to_string())].into();
        let sel = |op: &str, values: &[&str]| LabelSelector {
            match_labels: BTreeMap::new(),
            match_expressions: vec![LabelSelectorRequirement {
                key: "a".into(),
                operator: op.into(),
                values: values.iter().map(|v| v.to_string()).collect(),
            }],
        };
        assert!(sel("In", &["1", "2"]).matches(&labels));
        assert!(!sel("NotIn", &["1"]).matches(&labels));
        assert!(sel("Exists", &[]).matches(&labels));
        assert!(!sel("DoesNotExist", &[]).matches(&labels));
    }
}
