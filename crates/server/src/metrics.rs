//! Prometheus metrics: upstream PSA's counters under their names and labels, plus podsec's
//! request duration and reload counters.

use std::time::Duration;

use podsec_admission::metrics::policy_version_label;
use podsec_admission::{MetricDecision, Mode, Recorder, RequestLabels};
use podsec_policy::LevelVersion;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EvaluationLabels {
    decision: &'static str,
    policy_level: &'static str,
    policy_version: String,
    mode: &'static str,
    request_operation: &'static str,
    resource: &'static str,
    subresource: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabelSet {
    request_operation: &'static str,
    resource: &'static str,
    subresource: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    fatal: &'static str,
    request_operation: &'static str,
    resource: &'static str,
    subresource: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReloadLabels {
    what: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConstraintLabels {
    kind: String,
    name: String,
    engine: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResponseLabels {
    code: u16,
}

pub struct Metrics {
    registry: Registry,
    evaluations: Family<EvaluationLabels, Counter>,
    exemptions: Family<RequestLabelSet, Counter>,
    errors: Family<ErrorLabels, Counter>,
    reloads: Family<ReloadLabels, Counter>,
    responses: Family<ResponseLabels, Counter>,
    duration: Histogram,
    constraint_evaluations: Family<ConstraintLabels, Counter>,
    constraint_violations: Family<ConstraintLabels, Counter>,
    constraint_errors: Family<ConstraintLabels, Counter>,
    constraint_seconds: Family<ConstraintLabels, Counter<f64, AtomicU64>>,
    constraint_load_errors: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let evaluations = Family::<EvaluationLabels, Counter>::default();
        let exemptions = Family::<RequestLabelSet, Counter>::default();
        let errors = Family::<ErrorLabels, Counter>::default();
        let reloads = Family::<ReloadLabels, Counter>::default();
        let responses = Family::<ResponseLabels, Counter>::default();
        // 50 µs .. ~1.6 s
        let duration = Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
            0.00005, 2.0, 16,
        ));
        // prometheus-client appends `_total` to counter names, and a full stop to help texts
        // (so none is written here: upstream's texts end with exactly one).
        registry.register(
            "pod_security_evaluations",
            "Number of policy evaluations that occurred, not counting ignored or exempt requests",
            evaluations.clone(),
        );
        registry.register(
            "pod_security_exemptions",
            "Number of exempt requests, not counting ignored or out of scope requests",
            exemptions.clone(),
        );
        registry.register(
            "pod_security_errors",
            "Number of errors preventing normal evaluation. Non-fatal errors may result in the latest restricted profile being used for evaluation",
            errors.clone(),
        );
        registry.register(
            "podsec_reloads",
            "Reloads of configuration, certificate and state, by result",
            reloads.clone(),
        );
        registry.register(
            "podsec_http_responses",
            "HTTP responses of the admission endpoints, by status code",
            responses.clone(),
        );
        registry.register(
            "podsec_admission_duration_seconds",
            "Time to answer an AdmissionReview, from the request body to the response",
            duration.clone(),
        );
        let constraint_evaluations = Family::<ConstraintLabels, Counter>::default();
        let constraint_violations = Family::<ConstraintLabels, Counter>::default();
        let constraint_errors = Family::<ConstraintLabels, Counter>::default();
        let constraint_seconds = Family::<ConstraintLabels, Counter<f64, AtomicU64>>::default();
        let constraint_load_errors = Gauge::default();
        registry.register(
            "podsec_constraint_evaluations",
            "Gatekeeper constraints evaluated on admission requests (after matching), by constraint",
            constraint_evaluations.clone(),
        );
        registry.register(
            "podsec_constraint_violations",
            "Violations found by Gatekeeper constraints on admission requests, by constraint",
            constraint_violations.clone(),
        );
        registry.register(
            "podsec_constraint_errors",
            "Gatekeeper constraint evaluations that failed (each counted as a violation, fail closed)",
            constraint_errors.clone(),
        );
        registry.register(
            "podsec_constraint_evaluation_seconds",
            "Time spent evaluating each Gatekeeper constraint (divide by evaluations for the mean)",
            constraint_seconds.clone(),
        );
        registry.register(
            "podsec_constraint_load_errors",
            "Templates and constraints that failed the last (re)load; while non-zero the previous set stays in force",
            constraint_load_errors.clone(),
        );
        Metrics {
            registry,
            evaluations,
            exemptions,
            errors,
            reloads,
            responses,
            duration,
            constraint_evaluations,
            constraint_violations,
            constraint_errors,
            constraint_seconds,
            constraint_load_errors,
        }
    }

    pub fn reloaded(&self, what: &'static str, ok: bool) {
        self.reloads
            .get_or_create(&ReloadLabels {
                what,
                result: if ok { "success" } else { "failure" },
            })
            .inc();
    }

    /// How many templates and constraints the last constraints (re)load could not load.
    pub fn constraint_load_errors(&self, count: usize) {
        self.constraint_load_errors
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    pub fn responded(&self, code: u16, elapsed: Option<Duration>) {
        self.responses.get_or_create(&ResponseLabels { code }).inc();
        if let Some(e) = elapsed {
            self.duration.observe(e.as_secs_f64());
        }
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl Recorder for Metrics {
    fn evaluation(
        &self,
        decision: MetricDecision,
        policy: LevelVersion,
        mode: Mode,
        r: RequestLabels<'_>,
    ) {
        self.evaluations
            .get_or_create(&EvaluationLabels {
                decision: decision.label(),
                policy_level: policy.level.as_str(),
                policy_version: policy_version_label(policy),
                mode: mode.label(),
                request_operation: r.operation,
                resource: r.resource,
                subresource: r.subresource.to_string(),
            })
            .inc();
    }

    fn exemption(&self, r: RequestLabels<'_>) {
        self.exemptions
            .get_or_create(&RequestLabelSet {
                request_operation: r.operation,
                resource: r.resource,
                subresource: r.subresource.to_string(),
            })
            .inc();
    }

    fn constraint(&self, evaluated: &podsec_constraints::Evaluated<'_>) {
        let labels = ConstraintLabels {
            kind: evaluated.kind.to_string(),
            name: evaluated.name.to_string(),
            engine: evaluated.engine.label(),
        };
        self.constraint_evaluations.get_or_create(&labels).inc();
        if evaluated.violations > 0 {
            self.constraint_violations
                .get_or_create(&labels)
                .inc_by(evaluated.violations as u64);
        }
        if evaluated.error {
            self.constraint_errors.get_or_create(&labels).inc();
        }
        self.constraint_seconds
            .get_or_create(&labels)
            .inc_by(evaluated.elapsed.as_secs_f64());
    }

    fn error(&self, fatal: bool, r: RequestLabels<'_>) {
        self.errors
            .get_or_create(&ErrorLabels {
                fatal: if fatal { "true" } else { "false" },
                request_operation: r.operation,
                resource: r.resource,
                subresource: r.subresource.to_string(),
            })
            .inc();
    }
}
