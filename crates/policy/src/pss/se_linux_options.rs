//! `seLinuxOptions` (baseline): no custom SELinux user or role, and only container types.

use super::{Forbidden, VersionedCheck};
use crate::pod::{ObjectMeta, PodSpec, SeLinuxOptions};
use crate::text::{containers_phrase, join_quote, pluralize, SortedSet};

pub(super) const VERSIONS: &[VersionedCheck] = &[
    VersionedCheck::since(0, se_linux_options_1_0),
    VersionedCheck::since(31, se_linux_options_1_31),
];

const ALLOWED_TYPES_1_0: &[&str] = &["", "container_t", "container_init_t", "container_kvm_t"];
pub(super) const ALLOWED_TYPES_LATEST: &[&str] = ALLOWED_TYPES_1_31;
const ALLOWED_TYPES_1_31: &[&str] = &[
    "",
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

fn se_linux_options_1_0(meta: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    se_linux_options(meta, spec, ALLOWED_TYPES_1_0)
}

fn se_linux_options_1_31(meta: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    se_linux_options(meta, spec, ALLOWED_TYPES_1_31)
}

#[derive(Default)]
struct Findings {
    bad_types: SortedSet,
    user_set: bool,
    role_set: bool,
    fields: Vec<String>,
}

impl Findings {
    /// Records what is wrong with `opts` (found at `path`); true when something is.
    fn inspect(&mut self, opts: &SeLinuxOptions, path: &str, allowed_types: &[&str]) -> bool {
        let mut valid = true;
        if !allowed_types.contains(&opts.type_.as_str()) {
            valid = false;
            self.bad_types.insert(opts.type_.clone());
            self.fields.push(format!("{path}.type"));
        }
        if !opts.user.is_empty() {
            valid = false;
            self.user_set = true;
            self.fields.push(format!("{path}.user"));
        }
        if !opts.role.is_empty() {
            valid = false;
            self.role_set = true;
            self.fields.push(format!("{path}.role"));
        }
        !valid
    }
}

fn se_linux_options(_: &ObjectMeta, spec: &PodSpec, allowed_types: &[&str]) -> Option<Forbidden> {
    let mut found = Findings::default();
    let mut setters = Vec::new();
    if let Some(opts) = spec
        .security_context
        .as_ref()
        .and_then(|sc| sc.se_linux_options.as_ref())
    {
        if found.inspect(opts, "spec.securityContext.seLinuxOptions", allowed_types) {
            setters.push("pod".to_string());
        }
    }
    let mut containers = Vec::new();
    for (path, c) in spec.containers_with_paths() {
        if let Some(opts) = c
            .security_context
            .as_ref()
            .and_then(|sc| sc.se_linux_options.as_ref())
        {
            if found.inspect(
                opts,
                &path.field("securityContext.seLinuxOptions"),
                allowed_types,
            ) {
                containers.push(c.name.as_str());
            }
        }
    }
    if !containers.is_empty() {
        setters.push(containers_phrase(&containers));
    }
    if setters.is_empty() {
        return None;
    }
    let mut data = Vec::new();
    if !found.bad_types.is_empty() {
        data.push(format!(
            "{} {}",
            pluralize("type", "types", found.bad_types.len()),
            join_quote(&found.bad_types)
        ));
    }
    if found.user_set {
        data.push("user may not be set".to_string());
    }
    if found.role_set {
        data.push("role may not be set".to_string());
    }
    Some(Forbidden {
        reason: "seLinuxOptions".into(),
        detail: format!(
            "{} set forbidden securityContext.seLinuxOptions: {}",
            setters.join(" and "),
            data.join("; ")
        ),
        fields: found.fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pss::testing::{assert_allowed, assert_forbidden};
    use serde_json::json;

    #[test]
    fn allows_container_types_and_any_level() {
        for t in ["", "container_t", "container_init_t", "container_kvm_t"] {
            assert_allowed(
                se_linux_options_1_0,
                json!({"spec": {
                "securityContext": {"seLinuxOptions": {"type": t, "level": "s0:c1,c2"}},
                "containers": [{"name": "a", "securityContext": {"seLinuxOptions": {"type": t}}}]}}),
            );
        }
    }

    #[test]
    fn container_engine_t_is_allowed_from_1_31() {
        let pod = json!({"spec": {"containers": [{"name": "a", "securityContext": {"seLinuxOptions": {"type": "container_engine_t"}}}]}});
        assert_forbidden(
            se_linux_options_1_0,
            pod.clone(),
            "seLinuxOptions",
            r#"container "a" set forbidden securityContext.seLinuxOptions: type "container_engine_t""#,
        );
        assert_allowed(se_linux_options_1_31, pod);
    }

    #[test]
    fn pod_type() {
        assert_forbidden(
            se_linux_options_1_0,
            json!({"spec": {"securityContext": {"seLinuxOptions": {"type": "foo"}}}}),
            "seLinuxOptions",
            r#"pod set forbidden securityContext.seLinuxOptions: type "foo""#,
        );
    }

    #[test]
    fn user_and_role() {
        assert_forbidden(
            se_linux_options_1_0,
            json!({"spec": {"securityContext": {"seLinuxOptions": {"user": "u"}}}}),
            "seLinuxOptions",
            "pod set forbidden securityContext.seLinuxOptions: user may not be set",
        );
        assert_forbidden(
            se_linux_options_1_0,
            json!({"spec": {"containers": [{"name": "a", "securityContext": {"seLinuxOptions": {"role": "r"}}}]}}),
            "seLinuxOptions",
            r#"container "a" set forbidden securityContext.seLinuxOptions: role may not be set"#,
        );
    }

    #[test]
    fn everything_at_once() {
        let f = assert_forbidden(
            se_linux_options_1_0,
            json!({"spec": {
                "securityContext": {"seLinuxOptions": {"type": "bar", "user": "u", "role": "r"}},
                "containers": [
                    {"name": "a", "securityContext": {"seLinuxOptions": {"type": "foo"}}},
                    {"name": "b", "securityContext": {"seLinuxOptions": {"type": "bar"}}},
                    {"name": "c", "securityContext": {"seLinuxOptions": {"type": "container_t"}}}]}}),
            "seLinuxOptions",
            r#"pod and containers "a", "b" set forbidden securityContext.seLinuxOptions: types "bar", "foo"; user may not be set; role may not be set"#,
        );
        assert_eq!(
            f.fields[..3],
            [
                "spec.securityContext.seLinuxOptions.type".to_string(),
                "spec.securityContext.seLinuxOptions.user".to_string(),
                "spec.securityContext.seLinuxOptions.role".to_string(),
            ]
        );
    }

    #[test]
    fn upstream_shapes_at_1_31() {
        let allowed_containers = json!([
            {"name": "a", "securityContext": {"seLinuxOptions": {"type": "container_t"}}},
            {"name": "b", "securityContext": {"seLinuxOptions": {"type": "container_init_t"}}},
            {"name": "c", "securityContext": {"seLinuxOptions": {"type": "container_kvm_t"}}},
            {"name": "d", "securityContext": {"seLinuxOptions": {"type": "container_engine_t"}}}]);
        let mut all_containers = allowed_containers.as_array().unwrap().clone();
        all_containers.extend([
            json!({"name": "e", "securityContext": {"seLinuxOptions": {"type": "bar"}}}),
            json!({"name": "f", "securityContext": {"seLinuxOptions": {"user": "bar"}}}),
            json!({"name": "g", "securityContext": {"seLinuxOptions": {"role": "baz"}}}),
        ]);
        let bad_pod = json!({"seLinuxOptions": {"type": "foo", "user": "bar", "role": "baz"}});
        let cases = [
            (
                json!({"securityContext": bad_pod.clone(), "containers": all_containers.clone()}),
                r#"pod and containers "e", "f", "g" set forbidden securityContext.seLinuxOptions: types "bar", "foo"; user may not be set; role may not be set"#,
            ),
            (
                json!({"securityContext": bad_pod, "containers": allowed_containers}),
                r#"pod set forbidden securityContext.seLinuxOptions: type "foo"; user may not be set; role may not be set"#,
            ),
            (
                json!({"securityContext": {"seLinuxOptions": {}}, "containers": all_containers}),
                r#"containers "e", "f", "g" set forbidden securityContext.seLinuxOptions: type "bar"; user may not be set; role may not be set"#,
            ),
            (
                json!({"securityContext": {"seLinuxOptions": {"type": "bad"}}}),
                r#"pod set forbidden securityContext.seLinuxOptions: type "bad""#,
            ),
            (
                json!({"securityContext": {"seLinuxOptions": {"user": "bad"}}}),
                "pod set forbidden securityContext.seLinuxOptions: user may not be set",
            ),
            (
                json!({"securityContext": {"seLinuxOptions": {"role": "bad"}}}),
                "pod set forbidden securityContext.seLinuxOptions: role may not be set",
            ),
        ];
        for (spec, detail) in cases {
            assert_forbidden(
                se_linux_options_1_31,
                json!({ "spec": spec }),
                "seLinuxOptions",
                detail,
            );
        }
    }
}
