//! Which PodSecurityPolicy admits a pod, as the removed in-tree plugin selected it:
//! candidate policies in its order, each policy's defaults and validation, RBAC `use`
//! authorization for the pod's service account and the requesting user, and the aggregated
//! Forbidden error. Pure: the webhook, `explain`, `check --psp` and `migrate` all ask here.

use std::sync::Arc;

use crate::pod::{ObjectMeta, PodSpec};
use crate::psp::{error_list, FieldError, PodSecurityPolicy, Provider, ProviderError};
use crate::rbac::{Grant, Rbac, RbacProblem, ResourceAttributes, UserIdentity};

/// The annotation naming the policy that admitted a pod.
pub const PSP_ANNOTATION: &str = "kubernetes.io/psp";

/// The policies and RBAC objects PSP admission reads.
#[derive(Default)]
pub struct PspState {
    /// Usable policies, sorted by name.
    pub providers: Vec<Provider>,
    /// Policies whose strategies could not be built (the plugin skipped them silently).
    pub skipped: Vec<ProviderError>,
    pub rbac: Rbac,
    pub rbac_problems: Vec<RbacProblem>,
}

impl PspState {
    pub fn new(
        psps: &[PodSecurityPolicy],
        rbac: Rbac,
        rbac_problems: Vec<RbacProblem>,
    ) -> PspState {
        let mut providers = Vec::new();
        let mut skipped = Vec::new();
        for psp in psps {
            match Provider::new(psp) {
                Ok(p) => providers.push(p),
                Err(e) => skipped.push(e),
            }
        }
        providers.sort_by(|a, b| a.name().cmp(b.name()));
        PspState {
            providers,
            skipped,
            rbac,
            rbac_problems,
        }
    }

    pub fn shared(self) -> Arc<PspState> {
        Arc::new(self)
    }
}

/// Whether policies may change the pod: the mutating phase (CREATE) may, validation may not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Admit,
    Validate,
}

/// Which identity a policy was authorized for, and through which binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorization {
    ServiceAccount(Grant),
    User(Grant),
    Denied,
}

/// What happened with one candidate policy (for `podsec explain`).
#[derive(Debug, Clone)]
pub struct CandidateTrace {
    pub policy: String,
    pub errors: Vec<FieldError>,
    /// The pod as this policy defaulted it differs from the input.
    pub mutated: bool,
    /// `None` when authorization was not consulted (the policy failed or could not be used).
    pub authorization: Option<Authorization>,
}

/// The outcome of PSP admission for one pod.
#[derive(Debug, Clone)]
pub struct PspOutcome {
    /// The admitting policy and the pod as it defaulted it.
    pub admitted: Option<(String, ObjectMeta, PodSpec)>,
    /// The errors of the policies the user or service account may use, ordered by policy name.
    pub errors: Vec<FieldError>,
    pub candidates: Vec<CandidateTrace>,
    /// Set when no policy could be used at all.
    pub no_providers: bool,
}

impl PspOutcome {
    /// The plugin's message: `PodSecurityPolicy: unable to admit pod: [...]` (or `validate`).
    pub fn rejection(&self, phase: Phase) -> String {
        if self.no_providers {
            return "PodSecurityPolicy: no providers available to validate pod request".into();
        }
        let verb = if phase == Phase::Admit {
            "admit"
        } else {
            "validate"
        };
        format!(
            "PodSecurityPolicy: unable to {verb} pod: {}",
            error_list(&self.errors)
        )
    }
}

/// The binding that lets `identity` `use` `policy` in `namespace` (API groups `policy` and
/// `extensions`, as the plugin asked), if any.
pub fn authorized(
    rbac: &Rbac,
    identity: Option<&UserIdentity>,
    policy: &str,
    namespace: &str,
) -> Option<Grant> {
    let identity = identity?;
    ["policy", "extensions"].iter().find_map(|group| {
        rbac.allows(
            identity,
            &ResourceAttributes {
                verb: "use",
                api_group: group,
                resource: "podsecuritypolicies",
                name: policy,
                namespace,
            },
        )
    })
}

/// Offline, the ServiceAccount admission plugin has not run: it names `default` when the pod
/// names no service account, before PodSecurityPolicy admission sees the pod.
pub fn default_service_account(spec: &mut PodSpec) {
    if spec
        .service_account_name
        .as_deref()
        .is_none_or(str::is_empty)
    {
        spec.service_account_name = Some("default".into());
    }
}

/// The pod's service account as the plugin saw it: `system:serviceaccount:<ns>:<sa>` with the
/// groups `system:serviceaccounts` and `system:serviceaccounts:<ns>` only.
pub fn pod_service_account(namespace: &str, spec: &PodSpec) -> Option<UserIdentity> {
    let sa = spec
        .service_account_name
        .as_deref()
        .filter(|s| !s.is_empty())?;
    Some(UserIdentity {
        name: format!("system:serviceaccount:{namespace}:{sa}"),
        groups: vec![
            "system:serviceaccounts".into(),
            format!("system:serviceaccounts:{namespace}"),
        ],
    })
}

/// `computeSecurityContext`: selects the policy that admits a pod, if any.
pub fn select_policy(
    state: &PspState,
    meta: &ObjectMeta,
    spec: &PodSpec,
    namespace: &str,
    user: &UserIdentity,
    phase: Phase,
) -> PspOutcome {
    select_among(&state.providers, state, meta, spec, namespace, user, phase)
}

/// [`select_policy`] over other providers than the state's own (PodSecurityExceptions widen
/// them), with the state's RBAC.
pub fn select_among(
    providers: &[Provider],
    state: &PspState,
    meta: &ObjectMeta,
    spec: &PodSpec,
    namespace: &str,
    user: &UserIdentity,
    phase: Phase,
) -> PspOutcome {
    let mut outcome = PspOutcome {
        admitted: None,
        errors: Vec::new(),
        candidates: Vec::new(),
        no_providers: providers.is_empty(),
    };
    if outcome.no_providers {
        return outcome;
    }
    let sa = pod_service_account(namespace, spec);
    let authorize = |policy: &str| -> Authorization {
        if let Some(g) = authorized(&state.rbac, sa.as_ref(), policy, namespace) {
            Authorization::ServiceAccount(g)
        } else if let Some(g) = authorized(&state.rbac, Some(user), policy, namespace) {
            Authorization::User(g)
        } else {
            Authorization::Denied
        }
    };
    // In validation, the policy named by the pod's annotation is tried first.
    let mut order: Vec<&Provider> = providers.iter().collect();
    if phase == Phase::Validate {
        if let Some(hint) = meta.annotations.get(PSP_ANNOTATION) {
            order.sort_by_key(|p| p.name() != hint);
        }
    }
    let mut first_mutated: Option<(String, ObjectMeta, PodSpec)> = None;
    let mut failed: Vec<(&str, Vec<FieldError>)> = Vec::new();
    for provider in order {
        let (mut m, mut s) = (meta.clone(), spec.clone());
        provider.mutate(&mut m, &mut s);
        let errors = provider.validate(&m, &s);
        let mutated = m != *meta || s != *spec;
        let mut trace = CandidateTrace {
            policy: provider.name().to_string(),
            errors: errors.clone(),
            mutated,
            authorization: None,
        };
        if !errors.is_empty() {
            failed.push((provider.name(), errors));
            outcome.candidates.push(trace);
            continue;
        }
        if mutated && phase == Phase::Validate {
            outcome.candidates.push(trace);
            continue;
        }
        let auth = authorize(provider.name());
        let ok = auth != Authorization::Denied;
        trace.authorization = Some(auth);
        outcome.candidates.push(trace);
        if !ok {
            continue;
        }
        if !mutated {
            outcome.admitted = Some((provider.name().to_string(), m, s));
            return outcome;
        }
        if first_mutated.is_none() {
            first_mutated = Some((provider.name().to_string(), m, s));
        }
    }
    if first_mutated.is_some() {
        outcome.admitted = first_mutated;
        return outcome;
    }
    // Only the errors of policies the pod's service account or the user may use are shown,
    // ordered by policy name (the plugin's order was a Go map's: random).
    failed.sort_by(|a, b| a.0.cmp(b.0));
    for (policy, errors) in failed {
        let auth = authorize(policy);
        if let Some(trace) = outcome.candidates.iter_mut().find(|t| t.policy == policy) {
            trace.authorization = Some(auth.clone());
        }
        if auth != Authorization::Denied {
            outcome.errors.extend(errors);
        }
    }
    outcome
}
