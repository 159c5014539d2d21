//! The HTTP routes: `POST /validate` (and every other path, like upstream), `/healthz`,
//! `/readyz`, `/metrics`, with upstream's HTTP contract for AdmissionReviews.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http_body_util::BodyExt;
use podsec_admission::{
    parse_review, review_response, Admission, Cluster, ConstraintSource, Decision, EncodeError,
    NamespaceGetter, PodLister, PspSource, Webhook,
};
use podsec_cluster::error_chain;

use crate::metrics::Metrics;

/// Upstream's request size limit. Like Go's `io.LimitedReader` there, a body of exactly
/// this size is already refused.
pub const MAX_REQUEST_BYTES: usize = 3 * 1024 * 1024;

/// The cluster state the server answers from, port by port (each may be another source).
pub struct ClusterPorts {
    pub namespaces: Arc<dyn NamespaceGetter>,
    pub pods: Arc<dyn PodLister>,
    pub psp: Arc<dyn PspSource>,
    pub constraints: Arc<dyn ConstraintSource>,
    pub exceptions: Arc<dyn podsec_admission::ExceptionSource>,
}

impl ClusterPorts {
    pub fn ports(&self) -> Cluster<'_> {
        Cluster {
            namespaces: self.namespaces.as_ref(),
            pods: self.pods.as_ref(),
            psp: self.psp.as_ref(),
            constraints: self.constraints.as_ref(),
            exceptions: self.exceptions.as_ref(),
        }
    }
}

/// What the handlers share. The admission decider is swapped whole on configuration reload.
pub struct AppState {
    pub admission: RwLock<Arc<Admission>>,
    pub cluster: ClusterPorts,
    /// How long a request body may take to arrive once its headers are in.
    pub body_read_timeout: Duration,
    pub metrics: Arc<Metrics>,
    pub ready: Arc<dyn Fn() -> bool + Send + Sync>,
}

impl AppState {
    pub fn admission(&self) -> Arc<Admission> {
        match self.admission.read() {
            Ok(a) => Arc::clone(&a),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    pub fn replace_admission(&self, admission: Admission) {
        let mut slot = self.admission.write().unwrap_or_else(|p| p.into_inner());
        *slot = Arc::new(admission);
    }
}

/// The router. `null_endpoint` adds `POST /null` (see [`null_review`]). Never point a webhook
/// at it: it allows everything.
pub fn router(state: Arc<AppState>, null_endpoint: bool) -> Router {
    let mut router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics));
    router = router.route("/mutate", axum::routing::post(mutate));
    if null_endpoint {
        router = router.route("/null", axum::routing::post(null_review));
    }
    router.fallback(validate).with_state(state)
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if (state.ready)() {
        "ok".into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "cluster state not synced yet\n",
        )
            .into_response()
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

fn plain_error(code: StatusCode, message: &str) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{message}\n"),
    )
        .into_response()
}

/// Go's `time.ParseDuration`, for `?timeout=`: a sequence of decimal numbers with units
/// `ns`, `us`/`µs`, `ms`, `s`, `m`, `h` (or a bare `0`).
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    let s = s.strip_prefix('+').unwrap_or(s);
    if s == "0" {
        return Some(Duration::ZERO);
    }
    if s.is_empty() || s.starts_with('-') {
        return None;
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * seconds;
    }
    Duration::try_from_secs_f64(total).ok()
}

fn timeout_from(uri: &Uri) -> Option<Duration> {
    let query = uri.query()?;
    let value = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("timeout="))?;
    let parsed = parse_go_duration(value);
    if parsed.is_none() {
        tracing::debug!(timeout = value, "ignoring an invalid timeout");
    }
    parsed
}

/// Reads and checks the body as upstream does, or says which error to return.
async fn read_review_body(
    headers: &HeaderMap,
    body: Body,
    timeout: Duration,
) -> Result<Bytes, Response> {
    let collected = tokio::time::timeout(
        timeout,
        http_body_util::Limited::new(body, MAX_REQUEST_BYTES - 1).collect(),
    )
    .await;
    let bytes = match collected {
        // A body that stalls must not hold the connection: answer and close it.
        Err(_) => {
            let mut response = plain_error(
                StatusCode::REQUEST_TIMEOUT,
                &format!("the request body did not arrive within {timeout:?}"),
            );
            response.headers_mut().insert(
                header::CONNECTION,
                header::HeaderValue::from_static("close"),
            );
            return Err(response);
        }
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return Err(plain_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("request entity is too large; limit is {MAX_REQUEST_BYTES} bytes"),
            ));
        }
        Ok(Err(_)) => {
            return Err(plain_error(
                StatusCode::BAD_REQUEST,
                "unable to read the body from the incoming request",
            ))
        }
    };
    if bytes.is_empty() {
        return Err(plain_error(
            StatusCode::BAD_REQUEST,
            "request body is empty",
        ));
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type != "application/json" {
        return Err(plain_error(
            StatusCode::BAD_REQUEST,
            "unable to process a request with a non-json content type",
        ));
    }
    Ok(bytes)
}

/// The serialized AdmissionReview, or a 500 saying it could not be serialized (a bug: an
/// empty 200 would leave the API server guessing).
fn json_response(body: Result<Vec<u8>, EncodeError>) -> Response {
    match body {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => {
            let message = error_chain(&e);
            tracing::error!(error = %message, "cannot answer an AdmissionReview");
            plain_error(StatusCode::INTERNAL_SERVER_ERROR, &message)
        }
    }
}

async fn validate(State(state): State<Arc<AppState>>, request: Request) -> Response {
    review(state, request, Webhook::Validating).await
}

/// `POST /mutate`: the PodSecurityPolicy defaults as a JSON patch (the mutating webhook); with
/// PSS alone, the secure defaults a namespace asks for (`podsec.dev/default-security-context`)
/// as a JSON patch, and otherwise the same answer as `/validate`.
async fn mutate(State(state): State<Arc<AppState>>, request: Request) -> Response {
    review(state, request, Webhook::Mutating).await
}

async fn review(state: Arc<AppState>, request: Request, webhook: Webhook) -> Response {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let deadline = timeout_from(&parts.uri).map(|t| started + t);
    let response = match read_review_body(&parts.headers, body, state.body_read_timeout).await {
        Err(response) => response,
        Ok(bytes) => match parse_review(&bytes) {
            Err(e) => {
                let message = error_chain(&e);
                tracing::warn!(error = %message, "rejected an AdmissionReview");
                plain_error(StatusCode::BAD_REQUEST, &clipped(&message))
            }
            Ok((version, request)) => {
                let admission = state.admission();
                let work = admission.review(
                    webhook,
                    &request,
                    state.cluster.ports(),
                    state.metrics.as_ref(),
                    deadline,
                );
                let decision = match deadline {
                    Some(d) => match tokio::time::timeout_at(d.into(), work).await {
                        Ok(decision) => decision,
                        Err(_) => Decision::deny(podsec_admission::Status::internal(
                            "the admission decision did not finish before the request timeout",
                        )),
                    },
                    None => work.await,
                };
                tracing::debug!(
                    uid = %request.uid,
                    resource = %request.resource.resource,
                    namespace = %request.namespace,
                    name = %request.name,
                    allowed = decision.allowed,
                    "reviewed"
                );
                json_response(review_response(version, &request.uid, &decision))
            }
        },
    };
    let code = response.status().as_u16();
    state
        .metrics
        .responded(code, (code == 200).then(|| started.elapsed()));
    response
}

/// At most a few hundred characters of `message`: a decoder's message may quote the input,
/// and a client's whole body is not echoed back to it.
fn clipped(message: &str) -> String {
    const MAX: usize = 300;
    match message.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}…", &message[..end]),
        None => message.to_string(),
    }
}

/// Parses the review and decodes its object like `/validate`, then allows it without looking
/// up the namespace or evaluating anything: the benchmark's baseline for the HTTP, TLS and
/// JSON stack alone.
async fn null_review(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    match read_review_body(&parts.headers, body, state.body_read_timeout).await {
        Err(response) => response,
        Ok(bytes) => match parse_review(&bytes) {
            Err(e) => plain_error(StatusCode::BAD_REQUEST, &clipped(&error_chain(&e))),
            Ok((version, request)) => {
                std::hint::black_box(podsec_admission::decode_request_object(&request));
                json_response(review_response(version, &request.uid, &Decision::allow()))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::parse_go_duration;
    use axum::http::{header, StatusCode};
    use http_body_util::BodyExt;
    use std::time::Duration;

    #[tokio::test]
    async fn a_response_that_cannot_be_encoded_is_a_500() {
        let cause = serde_json::from_str::<u8>("x").expect_err("not a number");
        let response = super::json_response(Err(cause.into()));
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            response
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            Some("text/plain; charset=utf-8")
        );
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let text = String::from_utf8_lossy(&body);
        assert!(
            text.starts_with("unable to encode the AdmissionReview response: "),
            "{text}"
        );
    }

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse_go_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_go_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_go_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_go_duration("10"), None);
        assert_eq!(parse_go_duration("-1s"), None);
        assert_eq!(parse_go_duration("abc"), None);
        assert_eq!(parse_go_duration(""), None);
    }
}
