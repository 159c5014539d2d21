//! The request's object and old object in the typed pod model, decoded once per request, when
//! an engine first needs them: Pod Security Standards and PodSecurityPolicy read the same
//! decoding, and a request that is exempt or allowed before it needs its object never pays
//! for one.

use std::sync::OnceLock;

use podsec_manifest::{decode_workload_json, ObjectError, Workload, WorkloadKind};

use crate::review::AdmissionRequest;

/// The pod-bearing kind served at a resource, as upstream's default pod spec extractor knows.
pub(crate) fn workload_kind(group: &str, resource: &str) -> Option<WorkloadKind> {
    WorkloadKind::from_resource(group, resource)
}

/// Why the object at hand is not there to evaluate.
#[derive(Debug)]
pub(crate) enum Missing<'e> {
    /// The request carries no object (or the resource holds no pod).
    Absent,
    /// It does not decode as its kind.
    Invalid(&'e ObjectError),
}

impl Missing<'_> {
    /// The decoder's message, for the `error` audit annotation.
    pub(crate) fn detail(&self) -> Option<String> {
        match self {
            Missing::Absent => None,
            Missing::Invalid(e) => Some(e.to_string()),
        }
    }
}

/// One request's objects, decoded lazily and once.
pub(crate) struct RequestObjects<'r> {
    kind: Option<WorkloadKind>,
    object: Option<&'r serde_json::value::RawValue>,
    old_object: Option<&'r serde_json::value::RawValue>,
    decoded: OnceLock<Option<Result<Workload, ObjectError>>>,
    decoded_old: OnceLock<Option<Result<Workload, ObjectError>>>,
}

impl<'r> RequestObjects<'r> {
    pub(crate) fn new(req: &'r AdmissionRequest<'_>) -> RequestObjects<'r> {
        RequestObjects {
            kind: workload_kind(&req.resource.group, &req.resource.resource),
            object: req.object,
            old_object: req.old_object,
            decoded: OnceLock::new(),
            decoded_old: OnceLock::new(),
        }
    }

    /// The pod-bearing kind of the request's resource, if it is one.
    pub(crate) fn kind(&self) -> Option<WorkloadKind> {
        self.kind
    }

    /// The object, decoded as the resource's kind.
    pub(crate) fn object(&self) -> Result<&Workload, Missing<'_>> {
        Self::get(&self.decoded, self.kind, self.object)
    }

    /// The old object of an update, decoded as the resource's kind.
    pub(crate) fn old_object(&self) -> Result<&Workload, Missing<'_>> {
        Self::get(&self.decoded_old, self.kind, self.old_object)
    }

    fn get<'s>(
        cell: &'s OnceLock<Option<Result<Workload, ObjectError>>>,
        kind: Option<WorkloadKind>,
        raw: Option<&serde_json::value::RawValue>,
    ) -> Result<&'s Workload, Missing<'s>> {
        let decoded = cell.get_or_init(|| {
            let (kind, raw) = (kind?, raw?);
            Some(decode_workload_json(kind, raw.get()))
        });
        match decoded {
            None => Err(Missing::Absent),
            Some(Ok(w)) => Ok(w),
            Some(Err(e)) => Err(Missing::Invalid(e)),
        }
    }
}
