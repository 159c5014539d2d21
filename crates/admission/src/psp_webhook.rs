//! PodSecurityPolicy in the webhook: `/mutate` plays the plugin's `Admit` (defaults, as a JSON
//! patch, and the `kubernetes.io/psp` annotation), `/validate` its `Validate`.

use serde_json::Value;

use crate::objects::{Missing, RequestObjects};
use crate::review::{AdmissionRequest, Decision, Operation, Status};
use crate::view::Cluster;
use podsec_manifest::patch::patch;
use podsec_manifest::Workload;
use podsec_policy::psp::selection::{Phase, PspOutcome, PSP_ANNOTATION};
use podsec_policy::rbac::UserIdentity;

/// Audit annotation keys (kube-apiserver prefixes them with the webhook's name).
pub const ADMIT_POLICY_KEY: &str = "admit-policy";
pub const VALIDATE_POLICY_KEY: &str = "validate-policy";

/// The plugin's `shouldIgnore`: only pods, no subresources, and not updates that only touch
/// garbage-collection fields.
fn ignored(req: &AdmissionRequest<'_>) -> bool {
    if (&*req.resource.group, &*req.resource.resource) != ("", "pods")
        || !req.sub_resource.is_empty()
    {
        return true;
    }
    if req.operation == Operation::Update {
        let strip = |raw: Option<&serde_json::value::RawValue>| -> Option<Value> {
            let mut v: Value = serde_json::from_str(raw?.get()).ok()?;
            if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
                for k in ["ownerReferences", "finalizers", "selfLink"] {
                    meta.remove(k);
                }
            }
            Some(v)
        };
        if let (Some(new), Some(old)) = (strip(req.object), strip(req.old_object)) {
            return new == old;
        }
    }
    !matches!(req.operation, Operation::Create | Operation::Update)
}

fn requester(req: &AdmissionRequest<'_>) -> UserIdentity {
    UserIdentity {
        name: req.user_info.username.to_string(),
        groups: req.user_info.groups.iter().map(|g| g.to_string()).collect(),
    }
}

/// PodSecurityExceptions a policy needed: `namespace/name` and the warning to give.
type UsedExceptions = Vec<(String, String)>;

/// The pod, the selection and the PodSecurityExceptions it needed (`namespace/name`, with
/// the warning to give) for one request; `Err` is the decision reached without them.
fn selection<'o>(
    req: &AdmissionRequest<'_>,
    objects: &'o RequestObjects<'_>,
    cluster: Cluster<'_>,
    phase: Phase,
) -> Result<(&'o Workload, PspOutcome, UsedExceptions), Box<Decision>> {
    let pod = match objects.object() {
        Ok(pod) => pod,
        Err(Missing::Absent) => {
            return Err(Box::new(Decision::deny(Status::bad_request(
                "failed to decode object",
            ))))
        }
        Err(Missing::Invalid(_)) => {
            return Err(Box::new(Decision::deny(Status::forbidden(
                &req.resource.group,
                &req.resource.resource,
                &req.name,
                "unexpected type",
            ))))
        }
    };
    let state = cluster
        .psp
        .psp_state()
        .map_err(|e| Decision::deny(Status::internal(&format!("PodSecurityPolicy: {e}"))))?;
    let exceptions = cluster
        .exceptions
        .exceptions()
        .filter(|set| set.has_namespace(&req.namespace));
    let now = cluster.exceptions.now();
    let subject =
        podsec_exceptions::Subject::new(&req.namespace, None, &pod.pod_meta, &pod.pod_spec);
    let (outcome, used) = podsec_exceptions::psp::select_policy_waived(
        &state,
        &subject,
        &requester(req),
        phase,
        exceptions.as_deref().map(|set| (set, now)),
    );
    let used = used
        .into_iter()
        .map(|e| {
            let checks: Vec<&str> = e
                .waivers
                .iter()
                .filter_map(|w| match &w.target {
                    podsec_exceptions::Target::Check(c) => Some(c.as_str()),
                    podsec_exceptions::Target::Constraint { .. } => None,
                })
                .collect();
            let warning = format!(
                "{} waived by PodSecurityException {} (owner {}) until {}: PodSecurityPolicy {} admits the pod with them allowed",
                checks.join(", "),
                e.id(),
                e.owner,
                e.expires_text,
                outcome.admitted.as_ref().map_or("", |(p, _, _)| p.as_str()),
            );
            (e.id(), warning)
        })
        .collect();
    Ok((pod, outcome, used))
}

/// Records the exceptions a policy needed: the `exception` audit annotation and a warning each.
fn with_exceptions(mut decision: Decision, used: UsedExceptions) -> Decision {
    if used.is_empty() {
        return decision;
    }
    let ids: Vec<&str> = used.iter().map(|(id, _)| id.as_str()).collect();
    decision = decision.with_annotation(crate::decide::EXCEPTION_ANNOTATION, ids.join(","));
    decision
        .warnings
        .extend(used.into_iter().map(|(_, warning)| warning));
    decision
}

/// The plugin's `Validate` (CREATE and UPDATE): the pod must be allowed, unchanged, by a
/// policy the pod's service account or the user may use.
pub(crate) fn validate(
    req: &AdmissionRequest<'_>,
    objects: &RequestObjects<'_>,
    cluster: Cluster<'_>,
) -> Decision {
    if ignored(req) {
        return Decision::allow();
    }
    let (pod, outcome, used) = match selection(req, objects, cluster, Phase::Validate) {
        Ok(selected) => selected,
        Err(decided) => return *decided,
    };
    match outcome.admitted {
        Some((policy, _, _)) => with_exceptions(
            Decision::allow().with_annotation(VALIDATE_POLICY_KEY, policy),
            used,
        ),
        None => Decision::deny(Status::forbidden(
            &req.resource.group,
            &req.resource.resource,
            &pod_name(req, pod),
            &outcome.rejection(Phase::Validate),
        )),
    }
}

/// The plugin's `Admit` (CREATE only): picks a policy, applies its defaults as a JSON patch
/// and records it in `kubernetes.io/psp`.
pub(crate) fn admit(
    req: &AdmissionRequest<'_>,
    objects: &RequestObjects<'_>,
    cluster: Cluster<'_>,
) -> Decision {
    if ignored(req) || req.operation != Operation::Create {
        return Decision::allow();
    }
    let (pod, outcome, used) = match selection(req, objects, cluster, Phase::Admit) {
        Ok(selected) => selected,
        Err(decided) => return *decided,
    };
    let Some((policy, mut meta, spec)) = outcome.admitted.clone() else {
        return Decision::deny(Status::forbidden(
            &req.resource.group,
            &req.resource.resource,
            &pod_name(req, pod),
            &outcome.rejection(Phase::Admit),
        ));
    };
    meta.annotations
        .insert(PSP_ANNOTATION.to_string(), policy.clone());
    let mut decision = Decision::allow().with_annotation(ADMIT_POLICY_KEY, policy);
    decision.patch = patch((&pod.pod_meta, &pod.pod_spec), (&meta, &spec));
    with_exceptions(decision, used)
}

/// The name the plugin's Forbidden error uses: name, else generateName, else "Unknown".
fn pod_name(req: &AdmissionRequest<'_>, pod: &Workload) -> String {
    [req.name.as_ref(), pod.meta.name_or_generate_name()]
        .into_iter()
        .find(|n| !n.is_empty())
        .unwrap_or("Unknown")
        .to_string()
}
