//! One PodSecurityPolicy as a provider: `MutatePod` (the defaults it sets) and `ValidatePod`
//! (the field errors it reports), in the plugin's order.

use super::field::{BadValue, FieldError};
use super::model::{
    PodSecurityPolicy, APPARMOR_ALLOWED_ANNOTATION, APPARMOR_DEFAULT_ANNOTATION,
    SECCOMP_ALLOWED_ANNOTATION, SECCOMP_DEFAULT_ANNOTATION,
};
use super::strategy::{
    seccomp_annotation_for_field, AppArmorStrategy, CapabilitiesStrategy, GroupStrategy,
    SeLinuxStrategy, SeccompStrategy, Strategy, StrategyError, SysctlStrategy, UserStrategy,
    APPARMOR_PREFIX, SECCOMP_CONTAINER_PREFIX, SECCOMP_POD,
};
use crate::pod::{
    Container, ContainerPath, ObjectMeta, PodSecurityContext, PodSpec, SecurityContext,
    VolumeSource, VolumeType,
};

/// Why a PSP cannot be used. The plugin logged these and skipped the policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("error creating provider for PSP {name}: {message}")]
pub struct ProviderError {
    pub name: String,
    pub message: String,
}

/// A PodSecurityPolicy ready to default and validate pods.
#[derive(Debug, Clone)]
pub struct Provider {
    pub psp: PodSecurityPolicy,
    run_as_user: UserStrategy,
    run_as_group: GroupStrategy,
    se_linux: SeLinuxStrategy,
    app_armor: AppArmorStrategy,
    seccomp: SeccompStrategy,
    fs_group: GroupStrategy,
    supplemental_groups: GroupStrategy,
    capabilities: CapabilitiesStrategy,
    sysctls: SysctlStrategy,
}

/// The PSP volume type name of a volume (`cephFS`, not the field name `cephfs`), or `None` for
/// sources PodSecurityPolicy never knew (image volumes).
fn fs_type(t: VolumeType) -> Option<&'static str> {
    match t {
        VolumeType::Cephfs => Some("cephFS"),
        VolumeType::Image => None,
        other => Some(other.field_name()),
    }
}

fn has_path_prefix(path: &str, prefix: &str) -> bool {
    let path = path.strip_suffix('/').unwrap_or(path);
    let prefix = prefix.strip_suffix('/').unwrap_or(prefix);
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Keeps a built strategy, or records why it could not be built: the plugin reports every
/// unusable strategy of a policy at once.
fn built<S>(errors: &mut Vec<StrategyError>, strategy: Result<S, StrategyError>) -> Option<S> {
    match strategy {
        Ok(s) => Some(s),
        Err(e) => {
            errors.push(e);
            None
        }
    }
}

/// Mutable access to every container in visiting order, with its path.
fn containers_mut(spec: &mut PodSpec) -> Vec<(ContainerPath, &mut Container)> {
    use crate::pod::ContainerKind::*;
    let tag = |kind| move |(index, c)| (ContainerPath { kind, index }, c);
    spec.init_containers
        .iter_mut()
        .enumerate()
        .map(tag(Init))
        .chain(spec.containers.iter_mut().enumerate().map(tag(Regular)))
        .chain(
            spec.ephemeral_containers
                .iter_mut()
                .enumerate()
                .map(tag(Ephemeral)),
        )
        .collect()
}

/// Sets a container field if the effective value differs (the plugin's effective setters).
fn set_container<T: PartialEq + Clone>(
    container_sc: &mut Option<SecurityContext>,
    effective: Option<T>,
    value: Option<T>,
    field: impl FnOnce(&mut SecurityContext) -> &mut Option<T>,
) {
    if effective == value || (container_sc.is_none() && value.is_none()) {
        return;
    }
    *field(container_sc.get_or_insert_with(SecurityContext::default)) = value;
}

impl Provider {
    /// Builds the strategies; fails as the plugin's factory did.
    pub fn new(psp: &PodSecurityPolicy) -> Result<Provider, ProviderError> {
        let spec = &psp.spec;
        let mut errors = Vec::new();
        let run_as_user = built(&mut errors, UserStrategy::build(&spec.run_as_user));
        let run_as_group = match &spec.run_as_group {
            None => Some(GroupStrategy::run_as_any()),
            Some(o) => built(&mut errors, GroupStrategy::build(o, "RunAsGroup")),
        };
        let se_linux = built(&mut errors, SeLinuxStrategy::build(&spec.se_linux));
        let fs_group = built(&mut errors, GroupStrategy::build(&spec.fs_group, "FSGroup"));
        let supplemental_groups = built(
            &mut errors,
            GroupStrategy::build(&spec.supplemental_groups, "SupplementalGroups"),
        );
        let (
            Some(run_as_user),
            Some(run_as_group),
            Some(se_linux),
            Some(fs_group),
            Some(supplemental_groups),
        ) = (
            run_as_user,
            run_as_group,
            se_linux,
            fs_group,
            supplemental_groups,
        )
        else {
            // Kubernetes' aggregate error: one error as itself, several as `[a, b]`.
            let message = match errors.as_slice() {
                [one] => one.to_string(),
                all => {
                    let texts: Vec<String> = all.iter().map(ToString::to_string).collect();
                    format!("[{}]", texts.join(", "))
                }
            };
            return Err(ProviderError {
                name: psp.name().to_string(),
                message,
            });
        };
        let app_armor = AppArmorStrategy::new(
            psp.annotation(APPARMOR_ALLOWED_ANNOTATION),
            psp.annotation(APPARMOR_DEFAULT_ANNOTATION),
        );
        let seccomp = SeccompStrategy::new(
            psp.annotation(SECCOMP_ALLOWED_ANNOTATION),
            psp.annotation(SECCOMP_DEFAULT_ANNOTATION),
        );
        let capabilities = CapabilitiesStrategy::new(
            &spec.default_add_capabilities,
            &spec.required_drop_capabilities,
            &spec.allowed_capabilities,
        );
        let sysctls = SysctlStrategy::new(&spec.allowed_unsafe_sysctls, &spec.forbidden_sysctls);
        Ok(Provider {
            psp: psp.clone(),
            run_as_user,
            run_as_group,
            se_linux,
            app_armor,
            seccomp,
            fs_group,
            supplemental_groups,
            capabilities,
            sysctls,
        })
    }

    pub fn name(&self) -> &str {
        self.psp.name()
    }

    /// `MutatePod`: applies this policy's defaults.
    pub fn mutate(&self, meta: &mut ObjectMeta, spec: &mut PodSpec) {
        let psp = &self.psp.spec;
        // Pod level: written only when set, so an untouched pod keeps no securityContext.
        let sc = &mut spec.security_context;
        if sc.as_ref().is_none_or(|s| s.supplemental_groups.is_empty()) {
            if let Some(min) = self.supplemental_groups.generate(&[]) {
                sc.get_or_insert_with(PodSecurityContext::default)
                    .supplemental_groups = vec![min];
            }
        }
        if sc.as_ref().and_then(|s| s.fs_group).is_none() {
            if let Some(g) = self.fs_group.generate(&[]) {
                sc.get_or_insert_with(PodSecurityContext::default).fs_group = Some(g);
            }
        }
        if sc
            .as_ref()
            .and_then(|s| s.se_linux_options.as_ref())
            .is_none()
        {
            if let Some(o) = self.se_linux.generate(None) {
                sc.get_or_insert_with(PodSecurityContext::default)
                    .se_linux_options = Some(o);
            }
        }
        let pod_profile = match meta.annotations.get(SECCOMP_POD).filter(|v| !v.is_empty()) {
            Some(existing) => existing.clone(),
            None => match spec
                .security_context
                .as_ref()
                .and_then(|s| s.seccomp_profile.as_ref())
            {
                Some(field) => seccomp_annotation_for_field(field),
                None => self.seccomp.generate("").unwrap_or_default(),
            },
        };
        if !pod_profile.is_empty() {
            meta.annotations
                .insert(SECCOMP_POD.to_string(), pod_profile);
        }
        if let Some(rc) = &psp.runtime_class {
            if spec.runtime_class_name.is_none() {
                spec.runtime_class_name = rc.default_runtime_class_name.clone();
            }
        }

        let pod_sc = spec.security_context.clone().unwrap_or_default();
        for (_, c) in containers_mut(spec) {
            let own = c.security_context.clone().unwrap_or_default();
            let effective_user = own.run_as_user.or(pod_sc.run_as_user);
            if effective_user.is_none() {
                let non_root = own.run_as_non_root.or(pod_sc.run_as_non_root);
                set_container(
                    &mut c.security_context,
                    effective_user,
                    self.run_as_user.generate((non_root, effective_user)),
                    |s| &mut s.run_as_user,
                );
            }
            let effective_group = own.run_as_group.or(pod_sc.run_as_group);
            if effective_group.is_none() {
                set_container(
                    &mut c.security_context,
                    effective_group,
                    self.run_as_group.generate(effective_group.as_slice()),
                    |s| &mut s.run_as_group,
                );
            }
            let effective_selinux = own
                .se_linux_options
                .clone()
                .or(pod_sc.se_linux_options.clone());
            if effective_selinux.is_none() {
                let generated = self.se_linux.generate(effective_selinux.as_ref());
                set_container(&mut c.security_context, effective_selinux, generated, |s| {
                    &mut s.se_linux_options
                });
            }
            let key = format!("{APPARMOR_PREFIX}{}", c.name);
            let current = meta.annotations.get(&key).map_or("", String::as_str);
            if let Some(profile) = self.app_armor.generate(current) {
                meta.annotations.insert(key, profile);
            }
            let own = c.security_context.clone().unwrap_or_default();
            let non_root = own.run_as_non_root.or(pod_sc.run_as_non_root);
            let user = own.run_as_user.or(pod_sc.run_as_user);
            if non_root.is_none() && user.is_none() && psp.run_as_user.rule == "MustRunAsNonRoot" {
                set_container(&mut c.security_context, non_root, Some(true), |s| {
                    &mut s.run_as_non_root
                });
            }
            if let Some(caps) = self.capabilities.generate(own.capabilities.as_ref()) {
                set_container(
                    &mut c.security_context,
                    own.capabilities.clone(),
                    Some(caps),
                    |s| &mut s.capabilities,
                );
            }
            if psp.read_only_root_filesystem && own.read_only_root_filesystem.is_none() {
                set_container(&mut c.security_context, None, Some(true), |s| {
                    &mut s.read_only_root_filesystem
                });
            }
            let own = c.security_context.clone().unwrap_or_default();
            if let (Some(default), None) = (
                psp.default_allow_privilege_escalation,
                own.allow_privilege_escalation,
            ) {
                set_container(&mut c.security_context, None, Some(default), |s| {
                    &mut s.allow_privilege_escalation
                });
            }
            let own = c.security_context.clone().unwrap_or_default();
            if !psp.allows_privilege_escalation() && own.allow_privilege_escalation.is_none() {
                set_container(&mut c.security_context, None, Some(false), |s| {
                    &mut s.allow_privilege_escalation
                });
            }
        }
    }

    /// `ValidatePod`: every field error this policy finds, in the plugin's order.
    pub fn validate(&self, meta: &ObjectMeta, spec: &PodSpec) -> Vec<FieldError> {
        let psp = &self.psp.spec;
        let mut errors = Vec::new();
        let pod_sc = spec.security_context.clone().unwrap_or_default();
        errors.extend(
            self.fs_group
                .validate("spec.securityContext.fsGroup", pod_sc.fs_group.as_slice()),
        );
        errors.extend(self.supplemental_groups.validate(
            "spec.securityContext.supplementalGroups",
            pod_sc.supplemental_groups.as_slice(),
        ));

        // Seccomp, pod level: the annotation wins over the field.
        let pod_profile = match meta.annotations.get(SECCOMP_POD).filter(|v| !v.is_empty()) {
            Some(a) => a.clone(),
            None => pod_sc
                .seccomp_profile
                .as_ref()
                .map(seccomp_annotation_for_field)
                .unwrap_or_default(),
        };
        errors.extend(self.seccomp.validate(
            &format!("pod.metadata.annotations[{SECCOMP_POD}]"),
            pod_profile.as_str(),
        ));
        if pod_sc.se_linux_options.is_some() || self.se_linux.must_run_as.is_some() {
            errors.extend(self.se_linux.validate(
                "spec.securityContext.seLinuxOptions",
                pod_sc.se_linux_options.as_ref(),
            ));
        }
        for (allowed, set, name, message) in [
            (
                psp.host_network,
                spec.host_network,
                "hostNetwork",
                "Host network is not allowed to be used",
            ),
            (
                psp.host_pid,
                spec.host_pid,
                "hostPID",
                "Host PID is not allowed to be used",
            ),
            (
                psp.host_ipc,
                spec.host_ipc,
                "hostIPC",
                "Host IPC is not allowed to be used",
            ),
        ] {
            if !allowed && set {
                errors.push(FieldError::invalid(
                    format!("spec.securityContext.{name}"),
                    BadValue::Bool(true),
                    message,
                ));
            }
        }
        for (i, s) in pod_sc.sysctls.iter().enumerate() {
            errors.extend(self.sysctls.validate(
                &format!("pod.spec.securityContext.sysctls[{i}]"),
                s.name.as_str(),
            ));
        }
        errors.extend(self.validate_volumes(spec));
        if let Some(rc) = &psp.runtime_class {
            if let Some(name) = &spec.runtime_class_name {
                if !rc
                    .allowed_runtime_class_names
                    .iter()
                    .any(|a| a == "*" || a == name)
                {
                    errors.push(FieldError::invalid(
                        "spec.runtimeClassName",
                        BadValue::Str(name.clone()),
                        "",
                    ));
                }
            }
        }
        for (path, c) in spec.containers_with_paths() {
            errors.extend(self.validate_container(meta, &pod_sc, path, c));
        }
        errors
    }

    fn validate_volumes(&self, spec: &PodSpec) -> Vec<FieldError> {
        let psp = &self.psp.spec;
        let all = psp.volumes.iter().any(|v| v == "*");
        let mut errors = Vec::new();
        for (i, v) in spec.volumes.iter().enumerate() {
            let path = format!("spec.volumes[{i}]");
            let Some(fs) = v.source.as_ref().and_then(|s| fs_type(s.volume_type())) else {
                errors.push(FieldError::invalid(
                    path,
                    BadValue::Str(String::new()),
                    format!(
                        "unknown volume type for volume: {}",
                        crate::text::go_quote(&v.name)
                    ),
                ));
                continue;
            };
            if !all && !psp.volumes.iter().any(|a| a == fs) {
                errors.push(FieldError::invalid(
                    path,
                    BadValue::Str(fs.to_string()),
                    format!("{fs} volumes are not allowed to be used"),
                ));
                continue;
            }
            match &v.source {
                Some(VolumeSource::HostPath { path: host_path }) => {
                    let mut allowed = psp.allowed_host_paths.is_empty();
                    let mut read_only = false;
                    for entry in &psp.allowed_host_paths {
                        if has_path_prefix(host_path, &entry.path_prefix) {
                            allowed = true;
                            if !entry.read_only {
                                read_only = false;
                                break;
                            }
                            read_only = true;
                        }
                    }
                    if !allowed {
                        errors.push(FieldError::invalid(
                            format!("{path}.hostPath.pathPrefix"),
                            BadValue::Str(host_path.clone()),
                            "is not allowed to be used",
                        ));
                    } else if read_only {
                        for (cpath, c) in spec.containers_with_paths() {
                            for (j, m) in c.volume_mounts.iter().enumerate() {
                                if m.name == v.name && !m.read_only {
                                    errors.push(FieldError::invalid(
                                        cpath.field(&format!("volumeMounts[{j}].readOnly")),
                                        BadValue::Bool(false),
                                        "must be read-only",
                                    ));
                                }
                            }
                        }
                    }
                }
                Some(VolumeSource::FlexVolume { driver })
                    if !psp.allowed_flex_volumes.is_empty()
                        && !psp.allowed_flex_volumes.iter().any(|f| &f.driver == driver) =>
                {
                    errors.push(FieldError::invalid(
                        format!("{path}.driver"),
                        BadValue::Str(driver.clone()),
                        "Flexvolume driver is not allowed to be used",
                    ));
                }
                Some(VolumeSource::Csi { driver })
                    if !psp.allowed_csi_drivers.is_empty()
                        && !psp.allowed_csi_drivers.iter().any(|d| &d.name == driver) =>
                {
                    errors.push(FieldError::invalid(
                        format!("{path}.csi.driver"),
                        BadValue::Str(driver.clone()),
                        "Inline CSI driver is not allowed to be used",
                    ));
                }
                _ => {}
            }
        }
        errors
    }

    fn validate_container(
        &self,
        meta: &ObjectMeta,
        pod_sc: &PodSecurityContext,
        path: ContainerPath,
        c: &Container,
    ) -> Vec<FieldError> {
        let psp = &self.psp.spec;
        let sc_path = path.field("securityContext");
        let own = c.security_context.clone().unwrap_or_default();
        let mut errors = self.run_as_user.validate(
            &sc_path,
            (
                own.run_as_non_root.or(pod_sc.run_as_non_root),
                own.run_as_user.or(pod_sc.run_as_user),
            ),
        );
        let group = own.run_as_group.or(pod_sc.run_as_group);
        errors.extend(self.run_as_group.validate(&sc_path, group.as_slice()));
        let selinux = own
            .se_linux_options
            .as_ref()
            .or(pod_sc.se_linux_options.as_ref());
        errors.extend(
            self.se_linux
                .validate(&format!("{sc_path}.seLinuxOptions"), selinux),
        );
        let apparmor_key = format!("{APPARMOR_PREFIX}{}", c.name);
        let apparmor = meta
            .annotations
            .get(&apparmor_key)
            .map(String::as_str)
            .unwrap_or("");
        errors.extend(self.app_armor.validate(
            &format!("pod.metadata.annotations[{apparmor_key}]"),
            apparmor,
        ));
        // Seccomp, container level: container field > container annotation > pod field > pod annotation.
        let container_key = format!("{SECCOMP_CONTAINER_PREFIX}{}", c.name);
        let profile = own
            .seccomp_profile
            .as_ref()
            .map(seccomp_annotation_for_field)
            .or_else(|| meta.annotations.get(&container_key).cloned())
            .or_else(|| {
                pod_sc
                    .seccomp_profile
                    .as_ref()
                    .map(seccomp_annotation_for_field)
            })
            .or_else(|| meta.annotations.get(SECCOMP_POD).cloned())
            .unwrap_or_default();
        errors.extend(self.seccomp.validate(
            &format!("pod.metadata.annotations[{container_key}]"),
            profile.as_str(),
        ));
        if !psp.privileged && own.privileged == Some(true) {
            errors.push(FieldError::invalid(
                format!("{sc_path}.privileged"),
                BadValue::Bool(true),
                "Privileged containers are not allowed",
            ));
        }
        let proc_mount = own.proc_mount.clone().unwrap_or_else(|| "Default".into());
        let allowed_proc_mounts: Vec<&str> = if psp.allowed_proc_mount_types.is_empty() {
            vec!["Default"]
        } else {
            psp.allowed_proc_mount_types
                .iter()
                .map(String::as_str)
                .collect()
        };
        if !allowed_proc_mounts.contains(&proc_mount.as_str()) {
            errors.push(FieldError::invalid(
                format!("{sc_path}.procMount"),
                BadValue::Str(proc_mount),
                "ProcMountType is not allowed",
            ));
        }
        errors.extend(self.capabilities.validate(
            &format!("{sc_path}.capabilities"),
            own.capabilities.as_ref(),
        ));
        let ranges: Vec<String> = psp
            .host_ports
            .iter()
            .map(|r| {
                if r.min == r.max {
                    r.min.to_string()
                } else {
                    format!("{}-{}", r.min, r.max)
                }
            })
            .collect();
        for p in &c.ports {
            if p.host_port > 0
                && !psp
                    .host_ports
                    .iter()
                    .any(|r| p.host_port >= r.min && p.host_port <= r.max)
            {
                errors.push(FieldError::invalid(
                    path.field("hostPort"),
                    BadValue::Int(i64::from(p.host_port)),
                    format!(
                        "Host port {} is not allowed to be used. Allowed ports: [{}]",
                        p.host_port,
                        ranges.join(",")
                    ),
                ));
            }
        }
        if psp.read_only_root_filesystem {
            match own.read_only_root_filesystem {
                None => errors.push(FieldError::invalid(
                    format!("{sc_path}.readOnlyRootFilesystem"),
                    BadValue::Null,
                    "ReadOnlyRootFilesystem may not be nil and must be set to true",
                )),
                Some(false) => errors.push(FieldError::invalid(
                    format!("{sc_path}.readOnlyRootFilesystem"),
                    BadValue::Bool(false),
                    "ReadOnlyRootFilesystem must be set to true",
                )),
                Some(true) => {}
            }
        }
        if !psp.allows_privilege_escalation() && own.allow_privilege_escalation != Some(false) {
            let value = own
                .allow_privilege_escalation
                .map_or(BadValue::Null, BadValue::Bool);
            errors.push(FieldError::invalid(
                format!("{sc_path}.allowPrivilegeEscalation"),
                value,
                "Allowing privilege escalation for containers is not allowed",
            ));
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn provider(spec: serde_json::Value, annotations: serde_json::Value) -> Provider {
        let mut full = json!({"seLinux": {"rule": "RunAsAny"}, "runAsUser": {"rule": "RunAsAny"}, "fsGroup": {"rule": "RunAsAny"}, "supplementalGroups": {"rule": "RunAsAny"}, "volumes": ["*"]});
        for (k, v) in spec.as_object().cloned().unwrap_or_default() {
            full[k] = v;
        }
        let psp: PodSecurityPolicy = serde_json::from_value(
            json!({"metadata": {"name": "p", "annotations": annotations}, "spec": full}),
        )
        .expect("psp");
        Provider::new(&psp).expect("usable policy")
    }

    fn pod(json: serde_json::Value) -> (ObjectMeta, PodSpec) {
        let meta = serde_json::from_value(json.get("metadata").cloned().unwrap_or(json!({})))
            .expect("meta");
        let spec = serde_json::from_value(json["spec"].clone()).expect("spec");
        (meta, spec)
    }

    fn errors(p: &Provider, json: serde_json::Value) -> Vec<String> {
        let (m, s) = pod(json);
        p.validate(&m, &s).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn unusable_policies_are_reported() {
        let psp: PodSecurityPolicy = serde_json::from_value(json!({"metadata": {"name": "bad"}, "spec": {
            "seLinux": {"rule": "MustRunAs"}, "runAsUser": {"rule": "MustRunAs"}, "fsGroup": {"rule": "RunAsAny"}, "supplementalGroups": {"rule": "Nope"}}})).expect("psp");
        let e = Provider::new(&psp).expect_err("unusable");
        assert_eq!(e.to_string(), "error creating provider for PSP bad: [MustRunAs requires at least one range, MustRunAs requires SELinuxOptions, Unrecognized SupplementalGroups strategy type Nope]");
    }

    #[test]
    fn host_namespaces_ports_and_sysctls() {
        let p = provider(
            json!({"hostPorts": [{"min": 80, "max": 80}, {"min": 8000, "max": 8100}]}),
            json!({}),
        );
        assert_eq!(errors(&p, json!({"spec": {"hostNetwork": true, "hostPID": true, "hostIPC": true,
            "securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "1"}]},
            "containers": [{"name": "c", "ports": [{"containerPort": 22, "hostPort": 22}, {"containerPort": 80, "hostPort": 80}]}]}})), [
            "spec.securityContext.hostNetwork: Invalid value: true: Host network is not allowed to be used",
            "spec.securityContext.hostPID: Invalid value: true: Host PID is not allowed to be used",
            "spec.securityContext.hostIPC: Invalid value: true: Host IPC is not allowed to be used",
            r#"pod.spec.securityContext.sysctls[0]: Forbidden: unsafe sysctl "kernel.msgmax" is not allowed"#,
            "spec.containers[0].hostPort: Invalid value: 22: Host port 22 is not allowed to be used. Allowed ports: [80,8000-8100]",
        ]);
        let none = provider(json!({}), json!({}));
        assert_eq!(errors(&none, json!({"spec": {"containers": [{"name": "c", "ports": [{"hostPort": 1}]}]}})), ["spec.containers[0].hostPort: Invalid value: 1: Host port 1 is not allowed to be used. Allowed ports: []"]);
    }

    #[test]
    fn volumes_host_paths_flex_and_csi() {
        let p = provider(
            json!({"volumes": ["hostPath", "flexVolume", "csi", "emptyDir"],
            "allowedHostPaths": [{"pathPrefix": "/var/log", "readOnly": true}, {"pathPrefix": "/data"}],
            "allowedFlexVolumes": [{"driver": "ok/flex"}], "allowedCSIDrivers": [{"name": "ok.csi"}]}),
            json!({}),
        );
        assert_eq!(errors(&p, json!({"spec": {"volumes": [
                {"name": "a", "nfs": {"server": "s", "path": "/"}},
                {"name": "b", "hostPath": {"path": "/etc"}},
                {"name": "c", "hostPath": {"path": "/var/log/pods"}},
                {"name": "d", "hostPath": {"path": "/data/x"}},
                {"name": "e", "hostPath": {"path": "/datax"}},
                {"name": "f", "flexVolume": {"driver": "bad/flex"}},
                {"name": "g", "csi": {"driver": "bad.csi"}},
                {"name": "h", "cephfs": {"monitors": []}}],
            "containers": [{"name": "x", "volumeMounts": [{"name": "c", "mountPath": "/l"}, {"name": "c", "mountPath": "/m", "readOnly": true}, {"name": "d", "mountPath": "/d"}]}]}})), [
            r#"spec.volumes[0]: Invalid value: "nfs": nfs volumes are not allowed to be used"#,
            r#"spec.volumes[1].hostPath.pathPrefix: Invalid value: "/etc": is not allowed to be used"#,
            "spec.containers[0].volumeMounts[0].readOnly: Invalid value: false: must be read-only",
            r#"spec.volumes[4].hostPath.pathPrefix: Invalid value: "/datax": is not allowed to be used"#,
            r#"spec.volumes[5].driver: Invalid value: "bad/flex": Flexvolume driver is not allowed to be used"#,
            r#"spec.volumes[6].csi.driver: Invalid value: "bad.csi": Inline CSI driver is not allowed to be used"#,
            r#"spec.volumes[7]: Invalid value: "cephFS": cephFS volumes are not allowed to be used"#,
        ]);
    }

    #[test]
    fn container_level_checks() {
        let p = provider(
            json!({"readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false, "requiredDropCapabilities": ["NET_RAW"]}),
            json!({}),
        );
        assert_eq!(errors(&p, json!({"spec": {"initContainers": [{"name": "i", "securityContext": {"privileged": true, "procMount": "Unmasked", "readOnlyRootFilesystem": false, "allowPrivilegeEscalation": true, "capabilities": {}}}], "containers": [{"name": "c"}]}})), [
            "spec.initContainers[0].securityContext.privileged: Invalid value: true: Privileged containers are not allowed",
            r#"spec.initContainers[0].securityContext.procMount: Invalid value: "Unmasked": ProcMountType is not allowed"#,
            "spec.initContainers[0].securityContext.capabilities.drop: Invalid value: []core.Capability(nil): NET_RAW is required to be dropped but was not found",
            "spec.initContainers[0].securityContext.readOnlyRootFilesystem: Invalid value: false: ReadOnlyRootFilesystem must be set to true",
            "spec.initContainers[0].securityContext.allowPrivilegeEscalation: Invalid value: true: Allowing privilege escalation for containers is not allowed",
            r#"spec.containers[0].securityContext.capabilities: Invalid value: "null": required capabilities are not set on the securityContext"#,
            r#"spec.containers[0].securityContext.readOnlyRootFilesystem: Invalid value: "null": ReadOnlyRootFilesystem may not be nil and must be set to true"#,
            r#"spec.containers[0].securityContext.allowPrivilegeEscalation: Invalid value: "null": Allowing privilege escalation for containers is not allowed"#,
        ]);
    }

    #[test]
    fn runtime_class_defaults_and_validation() {
        let p = provider(
            json!({"runtimeClass": {"allowedRuntimeClassNames": ["gvisor"], "defaultRuntimeClassName": "gvisor"}}),
            json!({}),
        );
        let (mut m, mut s) = pod(json!({"spec": {"containers": [{"name": "c"}]}}));
        p.mutate(&mut m, &mut s);
        assert_eq!(s.runtime_class_name.as_deref(), Some("gvisor"));
        assert_eq!(
            errors(
                &p,
                json!({"spec": {"runtimeClassName": "kata", "containers": [{"name": "c"}]}})
            ),
            [r#"spec.runtimeClassName: Invalid value: "kata""#]
        );
    }

    #[test]
    fn defaults_each_strategy_sets() {
        let p = provider(
            json!({
            "runAsUser": {"rule": "MustRunAs", "ranges": [{"min": 1000, "max": 2000}]},
            "runAsGroup": {"rule": "MustRunAs", "ranges": [{"min": 3000, "max": 3000}]},
            "seLinux": {"rule": "MustRunAs", "seLinuxOptions": {"level": "s0:c1,c2"}},
            "fsGroup": {"rule": "MustRunAs", "ranges": [{"min": 5, "max": 6}]},
            "defaultAddCapabilities": ["NET_BIND_SERVICE"],
            "defaultAllowPrivilegeEscalation": false,
            "readOnlyRootFilesystem": true}),
            json!({"apparmor.security.beta.kubernetes.io/defaultProfileName": "runtime/default",
                   "seccomp.security.alpha.kubernetes.io/defaultProfileName": "runtime/default",
                   "seccomp.security.alpha.kubernetes.io/allowedProfileNames": "runtime/default,localhost/*"}),
        );
        let (mut m, mut s) = pod(
            json!({"spec": {"securityContext": {"runAsUser": 1500}, "containers": [{"name": "c"}, {"name": "d", "securityContext": {"runAsGroup": 3000}}]}}),
        );
        p.mutate(&mut m, &mut s);
        let pod_sc = s.security_context.clone().expect("pod sc");
        assert_eq!(pod_sc.fs_group, Some(5));
        assert_eq!(
            pod_sc.se_linux_options.as_ref().map(|o| o.level.as_str()),
            Some("s0:c1,c2")
        );
        let c = s.containers[0]
            .security_context
            .clone()
            .expect("container sc");
        assert_eq!(
            c.run_as_user, None,
            "the pod's runAsUser is effective: not copied down"
        );
        assert_eq!(c.run_as_group, Some(3000));
        assert_eq!(
            c.capabilities.as_ref().map(|c| c.add.clone()),
            Some(vec!["NET_BIND_SERVICE".to_string()])
        );
        assert_eq!(
            (c.read_only_root_filesystem, c.allow_privilege_escalation),
            (Some(true), Some(false))
        );
        assert_eq!(
            m.annotations
                .get("container.apparmor.security.beta.kubernetes.io/c")
                .map(String::as_str),
            Some("runtime/default")
        );
        assert_eq!(
            m.annotations
                .get("seccomp.security.alpha.kubernetes.io/pod")
                .map(String::as_str),
            Some("runtime/default")
        );
        assert!(p.validate(&m, &s).is_empty(), "{:?}", p.validate(&m, &s));
        // A pod that sets the seccomp field only gets the annotation derived from it.
        let (mut m, mut s) = pod(
            json!({"spec": {"securityContext": {"seccompProfile": {"type": "Localhost", "localhostProfile": "x.json"}}, "containers": [{"name": "c"}]}}),
        );
        p.mutate(&mut m, &mut s);
        assert_eq!(
            m.annotations
                .get("seccomp.security.alpha.kubernetes.io/pod")
                .map(String::as_str),
            Some("localhost/x.json")
        );
        // Allowed lists are exact names (no globbing): localhost/* is a literal entry.
        assert!(p.validate(&m, &s).iter().any(|e| e.to_string().contains("localhost/x.json is not an allowed seccomp profile. Valid values are runtime/default,localhost/*")));
    }

    #[test]
    fn nothing_to_default_leaves_the_pod_identical() {
        let p = provider(json!({}), json!({}));
        let (m0, s0) = pod(json!({"spec": {"containers": [{"name": "c", "image": "x"}]}}));
        let (mut m, mut s) = (m0.clone(), s0.clone());
        p.mutate(&mut m, &mut s);
        assert_eq!((m, s), (m0, s0));
    }
}
