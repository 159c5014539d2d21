//! podsec's admission layer: AdmissionReview requests in, decisions out, exactly as upstream
//! Pod Security Admission decides them. No HTTP and no Kubernetes client: cluster state comes
//! through the ports of [`Cluster`], metrics go out through [`Recorder`].

pub mod config;
mod constraints;
mod decide;
pub mod defaults;
pub mod metrics;
mod objects;
mod psp_webhook;
pub mod review;
pub mod view;

pub use config::{ConfigError, Configuration, Exemptions};
pub use constraints::{CONSTRAINT_DRYRUN_ANNOTATION, CONSTRAINT_WARN_ANNOTATION};
pub use decide::{
    decode_request_object, Admission, Engines, Options, Webhook, AUDIT_VIOLATIONS_ANNOTATION,
    ENFORCE_POLICY_ANNOTATION, ERROR_ANNOTATION, EXEMPT_ANNOTATION,
};
pub use metrics::{MetricDecision, Mode, NoMetrics, Recorder, RequestLabels};
pub use review::{
    parse_review, review_response, AdmissionRequest, Decision, EncodeError, ReviewError,
    ReviewVersion, Status,
};
pub use view::{
    error_chain, BoxFuture, Cluster, ConstraintSet, ConstraintSource, ExceptionSource, ExistingPod,
    NamespaceGetter, NamespaceMeta, NoConstraints, NoExceptions, NoPsp, PodLister, PspSource,
    SnapshotCursor, SnapshotLister, SnapshotPage, ViewError,
};
