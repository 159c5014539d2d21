//! Gatekeeper constraints on an admission request, answered as Gatekeeper's validating webhook
//! answers: deny lines `[<constraint>] <msg>` (sorted by kind, then name), warnings for `warn`,
//! an audit annotation for `dryrun`.

use podsec_constraints::{EnforcementAction, EnforcementPoint, Review};
use serde_json::{json, Value};

use crate::metrics::Recorder;
use crate::review::{AdmissionRequest, Decision, Operation, Status};
use crate::view::{Cluster, ConstraintSet};

/// Audit annotation listing `dryrun` violations (kube-apiserver prefixes the webhook name).
pub const CONSTRAINT_DRYRUN_ANNOTATION: &str = "constraint-dryrun-violations";

/// Audit annotation naming the PodSecurityExceptions that waived constraint violations.
pub const CONSTRAINT_EXCEPTION_ANNOTATION: &str = "constraint-exception";

/// Audit annotation listing `warn` violations, which the client also sees as warnings.
pub const CONSTRAINT_WARN_ANNOTATION: &str = "constraint-warn-violations";

/// The constraints' decision on one request.
pub(crate) async fn validate(
    req: &AdmissionRequest<'_>,
    set: &ConstraintSet,
    cluster: Cluster<'_>,
    metrics: &dyn Recorder,
) -> Decision {
    let request = match request_json(req) {
        Ok(request) => request,
        // An object the constraints cannot read is denied, as Gatekeeper fails a review it
        // cannot decode.
        Err(e) => {
            return Decision::deny(Status::bad_request(&format!(
                "unable to decode the object for constraints: {e}"
            )))
        }
    };
    let namespace_object = if req.namespace.is_empty() {
        None
    } else {
        match cluster.namespaces.namespace(&req.namespace).await {
            Ok(Some(ns)) => Some(json!({
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": ns.name, "labels": ns.labels},
            })),
            // A namespace that cannot be looked up leaves `namespaceObject` null: constraints
            // with a namespaceSelector then fail closed with Gatekeeper's "unable to match
            // constraints" violation; the others do not need it.
            Ok(None) | Err(_) => None,
        }
    };
    // Exceptions for the object, when its namespace has any: read before the review takes
    // the request.
    let exceptions = cluster
        .exceptions
        .exceptions()
        .filter(|s| !req.namespace.is_empty() && s.has_namespace(&req.namespace));
    let subject_parts = exceptions.as_ref().map(|_| {
        let object = request.get("object");
        let pod = req.kind.kind == "Pod";
        let meta: podsec_policy::ObjectMeta = object
            .and_then(|o| o.get("metadata"))
            .and_then(|m| serde_json::from_value(m.clone()).ok())
            .unwrap_or_default();
        let spec: podsec_policy::PodSpec = object
            .filter(|_| pod)
            .and_then(|o| o.get("spec"))
            .and_then(|s| serde_json::from_value(s.clone()).ok())
            .unwrap_or_default();
        (meta, spec, pod)
    });
    let review = Review::from_request(request, namespace_object);
    let mut violations = set.library.review_observed(
        &review,
        &set.inventory,
        EnforcementPoint::Validation,
        &mut |evaluated| metrics.constraint(&evaluated),
    );
    let mut waived_by: Vec<String> = Vec::new();
    if let (Some(set), Some((meta, spec, pod))) = (&exceptions, &subject_parts) {
        let workload = (!pod).then_some((&*req.kind.kind, &*req.name));
        let subject = podsec_exceptions::Subject::new(&req.namespace, workload, meta, spec)
            .with_owner(meta.controller());
        let now = cluster.exceptions.now();
        let applicable = set.applicable(&subject, now);
        violations.retain(|v| {
            match applicable.iter().find(|e| {
                e.waives_constraint_for(&subject, *pod, &v.constraint_kind, &v.constraint_name)
            }) {
                Some(e) => {
                    let id = e.id();
                    if !waived_by.contains(&id) {
                        waived_by.push(id);
                    }
                    false
                }
                None => true,
            }
        });
    }
    let lines = |action: EnforcementAction| -> Vec<String> {
        violations
            .iter()
            .filter(|v| v.action == action)
            .map(|v| v.line())
            .collect()
    };
    let deny = lines(EnforcementAction::Deny);
    let warn = lines(EnforcementAction::Warn);
    let dryrun = lines(EnforcementAction::Dryrun);
    let mut decision = if deny.is_empty() {
        Decision::allow()
    } else {
        Decision::deny(Status::denied(deny.join("\n")))
    };
    if !warn.is_empty() {
        decision = decision.with_annotation(CONSTRAINT_WARN_ANNOTATION, warn.join("\n"));
        decision.warnings = warn;
    }
    if !dryrun.is_empty() {
        decision = decision.with_annotation(CONSTRAINT_DRYRUN_ANNOTATION, dryrun.join("\n"));
    }
    if !waived_by.is_empty() {
        decision = decision.with_annotation(CONSTRAINT_EXCEPTION_ANNOTATION, waived_by.join(","));
        if decision.allowed {
            decision.warnings.push(format!(
                "Gatekeeper constraints waived by PodSecurityException {}",
                waived_by.join(", ")
            ));
        }
    }
    decision
}

/// The AdmissionRequest as Gatekeeper's Rego and CEL see it (`input.review`).
fn request_json(req: &AdmissionRequest<'_>) -> Result<Value, serde_json::Error> {
    let object = |raw: Option<&serde_json::value::RawValue>| -> Result<Value, serde_json::Error> {
        match raw {
            Some(raw) => serde_json::from_str(raw.get()),
            None => Ok(Value::Null),
        }
    };
    let operation = match req.operation {
        Operation::Create => "CREATE",
        Operation::Update => "UPDATE",
        Operation::Delete => "DELETE",
        Operation::Connect => "CONNECT",
    };
    let mut request = json!({
        "uid": req.uid,
        "kind": {"group": req.kind.group, "version": req.kind.version, "kind": req.kind.kind},
        "resource": {
            "group": req.resource.group,
            "version": req.resource.version,
            "resource": req.resource.resource,
        },
        "operation": operation,
        "userInfo": {
            "username": req.user_info.username,
            "uid": req.user_info.uid,
            "groups": req.user_info.groups,
        },
        "object": object(req.object)?,
        "oldObject": object(req.old_object)?,
    });
    if let Value::Object(fields) = &mut request {
        for (key, value) in [
            ("subResource", &req.sub_resource),
            ("name", &req.name),
            ("namespace", &req.namespace),
        ] {
            if !value.is_empty() {
                fields.insert(key.into(), Value::String(value.to_string()));
            }
        }
        if let Some(dry_run) = req.dry_run {
            fields.insert("dryRun".into(), Value::Bool(dry_run));
        }
    }
    Ok(request)
}
