//! The App's HTTP side: POST /webhook verifies, records and queues
//! (answering well within GitHub's 10 s); GET /healthz; GET /metrics.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use serde_json::json;
use strum::IntoEnumIterator;

use super::queue::{Accepted, JobQueue, JobState};
use super::routing::{self, Routed};

/// GitHub caps webhook payloads at 25 MB.
pub const MAX_PAYLOAD: usize = 25 * 1024 * 1024;

/// A delivery's metric labels: its event, and what became of it.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    event: String,
    outcome: String,
}

/// What became of a delivery, as the `outcome` label says it.
#[derive(Clone, Copy, Debug, strum::Display)]
#[strum(serialize_all = "snake_case")]
enum Outcome {
    BadSignature,
    Malformed,
    Queued,
    Duplicate,
    Ignored,
    Recorded,
    Error,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    method: String,
}

pub struct Metrics {
    /// Open to the rest of the App: the queue and the roles register their own metrics.
    pub(crate) registry: Registry,
    deliveries: Family<DeliveryLabels, Counter>,
    jobs: Family<StateLabels, Gauge>,
    queue_depth: Gauge,
    pub(super) summarize_seconds: Histogram,
    github_seconds: Family<MethodLabels, Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("precis");
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        let jobs = Family::<StateLabels, Gauge>::default();
        let queue_depth = Gauge::default();
        let summarize_seconds = Histogram::new(exponential_buckets(0.5, 2.0, 14));
        let github_seconds = Family::<MethodLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.01, 2.0, 12))
        });
        registry.register("deliveries", "Webhook deliveries by event and outcome", deliveries.clone());
        registry.register("jobs", "Jobs by state", jobs.clone());
        registry.register("queue_depth", "Jobs waiting", queue_depth.clone());
        registry.register("summarize_seconds", "Time to summarize one change", summarize_seconds.clone());
        registry.register("github_request_seconds", "GitHub API latency by method", github_seconds.clone());
        Metrics { registry, deliveries, jobs, queue_depth, summarize_seconds, github_seconds }
    }
}

impl Metrics {
    pub fn observe_github(&self, method: &str, latency: Duration) {
        let labels = MethodLabels { method: method.to_string() };
        self.github_seconds.get_or_create(&labels).observe(latency.as_secs_f64());
    }

    fn delivery(&self, event: &str, outcome: Outcome) {
        self.deliveries.get_or_create(&DeliveryLabels { event: event.to_string(), outcome: outcome.to_string() }).inc();
    }
}

/// What the webhook side needs: built by [`super::App::build`].
#[derive(Clone)]
pub struct AppState {
    secret: Arc<Vec<u8>>,
    queue: Arc<dyn JobQueue>,
    metrics: Arc<Metrics>,
    /// Notified when a delivery queued a job: the workers of this process claim it.
    wake: Arc<tokio::sync::Notify>,
    /// When set, GET /metrics needs `Authorization: Bearer <token>` (`PRECIS_METRICS_TOKEN`).
    metrics_token: Option<Arc<str>>,
}

impl AppState {
    pub(super) fn new(
        secret: Vec<u8>,
        queue: Arc<dyn JobQueue>,
        metrics: Arc<Metrics>,
        metrics_token: Option<Arc<str>>,
    ) -> AppState {
        AppState { secret: Arc::new(secret), queue, metrics, wake: Default::default(), metrics_token }
    }

    /// The queue deliveries go to.
    pub fn queue(&self) -> &Arc<dyn JobQueue> {
        &self.queue
    }

    pub(super) fn wake(&self) -> &Arc<tokio::sync::Notify> {
        &self.wake
    }
}

/// Connections open at once; past it new ones are closed at once.
const MAX_CONNECTIONS: usize = 512;
/// Connections open at once from one source (an IPv4 address, an IPv6 /64),
/// so that one client cannot hold every slot. Behind a reverse proxy every
/// connection comes from the proxy: it is the proxy's cap then.
const MAX_CONNECTIONS_PER_SOURCE: usize = 64;
/// A connection that sends no byte within this long is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(2);
/// A connection must send its request's headers within this long.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a connection comes from, as far as the per-source cap goes: an
/// IPv6 client owns a whole /64, so its addresses count as one.
fn source_of(address: std::net::SocketAddr) -> std::net::IpAddr {
    use std::net::{IpAddr, Ipv6Addr};
    match address.ip() {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & !((1u128 << 64) - 1))),
        },
        v4 => v4,
    }
}

/// Open connections by source.
type Sources = Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>;

/// One source's place among its connections; given back when dropped.
struct SourceSlot {
    sources: Sources,
    source: std::net::IpAddr,
}

impl SourceSlot {
    /// A place for `source`, unless it holds [`MAX_CONNECTIONS_PER_SOURCE`] already.
    fn take(sources: &Sources, source: std::net::IpAddr) -> Option<SourceSlot> {
        let mut open = sources.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = open.entry(source).or_default();
        if *count >= MAX_CONNECTIONS_PER_SOURCE {
            return None;
        }
        *count += 1;
        Some(SourceSlot { sources: sources.clone(), source })
    }
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        let mut open = self.sources.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = open.get_mut(&self.source) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.source);
            }
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves: at most
/// [`MAX_CONNECTIONS`] connections, [`MAX_CONNECTIONS_PER_SOURCE`] of them
/// from one source, each closed if it sends nothing within [`IDLE_TIMEOUT`],
/// if its headers are late, and after one request (no idle keep-alive), so
/// half-sent requests and idle sockets cannot exhaust the process's
/// descriptors or keep /healthz from answering. In-flight requests get a
/// few seconds to finish at shutdown.
pub async fn serve_connections(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<()> {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let sources = Sources::default();
    let service = hyper_util::service::TowerToHyperService::new(app);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors or the like: wait a moment rather than spin.
                    tracing::warn!("cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Some(source_slot) = SourceSlot::take(&sources, source_of(peer)) else {
            drop(stream);
            continue;
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let service = service.clone();
        tokio::spawn(async move {
            // Nothing sent yet: not worth a slot for the whole header timeout.
            let mut first = [0u8; 1];
            if !matches!(tokio::time::timeout(IDLE_TIMEOUT, stream.peek(&mut first)).await, Ok(Ok(1..))) {
                return;
            }
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .keep_alive(false)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            if let Err(e) = connection.await {
                tracing::debug!("connection ended: {e}");
            }
            drop((slot, source_slot));
        });
    }
    // Let requests in flight finish (each holds a slot), a few seconds at most.
    let _ = tokio::time::timeout(Duration::from_secs(10), slots.acquire_many(MAX_CONNECTIONS as u32)).await;
    Ok(())
}

/// Webhook body bytes held at once, across all requests: two deliveries of
/// GitHub's largest size. A body takes its declared size from it before
/// one byte is read, so signed-looking bodies cannot grow the process.
const BODY_BUDGET: usize = 2 * MAX_PAYLOAD;
/// How long a delivery waits for room in [`BODY_BUDGET`] before a 503.
const BUDGET_WAIT: Duration = Duration::from_secs(3);

/// The bytes webhook bodies may hold now (one budget per router).
#[derive(Clone)]
struct BodyBudget(Arc<tokio::sync::Semaphore>);

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/webhook", post(webhook))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .layer(axum::Extension(BodyBudget(Arc::new(tokio::sync::Semaphore::new(BODY_BUDGET)))))
        .with_state(state)
}

fn answer(status: StatusCode, outcome: &str, detail: impl Into<String>) -> Response {
    (status, Json(json!({ "outcome": outcome, "detail": detail.into() }))).into_response()
}

/// A body must arrive within this long once its headers have (GitHub
/// gives up on an answer after 10 s).
const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a body was not taken.
enum BodyRefused {
    /// No Content-Length (a chunked body): its size is not known before reading.
    NoLength,
    TooLarge,
    /// The budget stayed full for [`BUDGET_WAIT`].
    Busy,
    Late,
    BrokeOff,
    BadSignature,
}

impl BodyRefused {
    fn answer(self, state: &AppState) -> Response {
        match self {
            BodyRefused::NoLength => {
                answer(StatusCode::LENGTH_REQUIRED, "refused", "a delivery needs a Content-Length header")
            }
            BodyRefused::TooLarge => answer(StatusCode::PAYLOAD_TOO_LARGE, "refused", "the body is over 25 MB"),
            BodyRefused::Busy => {
                tracing::warn!("webhook refused: too many bodies in flight");
                answer(StatusCode::SERVICE_UNAVAILABLE, "busy", "too many deliveries at once; redeliver it later")
            }
            BodyRefused::Late => answer(StatusCode::REQUEST_TIMEOUT, "refused", "the body did not arrive in time"),
            BodyRefused::BrokeOff => answer(StatusCode::BAD_REQUEST, "refused", "the body broke off"),
            BodyRefused::BadSignature => {
                state.metrics.delivery("unknown", Outcome::BadSignature);
                tracing::warn!("webhook refused: wrong X-Hub-Signature-256");
                answer(StatusCode::UNAUTHORIZED, "refused", "missing or wrong X-Hub-Signature-256")
            }
        }
    }
}

/// Reads a body of its declared size at most, within the budget, feeding
/// the HMAC as it comes; the bytes only if they sign to `digest`, with
/// their share of the budget (held while the caller uses them).
async fn signed_body<'a>(
    state: &AppState,
    budget: &'a BodyBudget,
    digest: &[u8; 32],
    mut body: axum::body::Body,
) -> Result<(Vec<u8>, tokio::sync::SemaphorePermit<'a>), BodyRefused> {
    use axum::body::HttpBody;
    use http_body_util::BodyExt;
    let declared = body.size_hint().upper().ok_or(BodyRefused::NoLength)?;
    let declared = usize::try_from(declared).ok().filter(|&n| n <= MAX_PAYLOAD).ok_or(BodyRefused::TooLarge)?;
    // MAX_PAYLOAD fits in u32.
    let held = tokio::time::timeout(BUDGET_WAIT, budget.0.acquire_many(declared as u32))
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or(BodyRefused::Busy)?;
    let mut verifier = crate::github::signature::Verifier::new(&state.secret);
    let mut bytes = Vec::with_capacity(declared);
    let read = async {
        while let Some(frame) = body.frame().await {
            let Ok(data) = frame.map_err(|_| BodyRefused::BrokeOff)?.into_data() else { continue };
            if bytes.len() + data.len() > declared {
                return Err(BodyRefused::TooLarge);
            }
            verifier.update(&data);
            bytes.extend_from_slice(&data);
        }
        Ok::<(), BodyRefused>(())
    };
    tokio::time::timeout(BODY_TIMEOUT, read).await.map_err(|_| BodyRefused::Late)??;
    if !verifier.matches(digest) {
        return Err(BodyRefused::BadSignature);
    }
    Ok((bytes, held))
}

async fn webhook(
    State(state): State<AppState>,
    axum::Extension(budget): axum::Extension<BodyBudget>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    // Without a well-formed signature there is nothing to check the body against: refused unread.
    let Some(digest) = header("x-hub-signature-256").and_then(crate::github::signature::claimed) else {
        state.metrics.delivery("unknown", Outcome::BadSignature);
        tracing::warn!("webhook refused: no well-formed X-Hub-Signature-256");
        return answer(StatusCode::UNAUTHORIZED, "refused", "missing or wrong X-Hub-Signature-256");
    };
    // The signature is checked on the raw bytes before anything parses them.
    let (body, _held) = match signed_body(&state, &budget, &digest, body).await {
        Ok(signed) => signed,
        Err(refused) => return refused.answer(&state),
    };
    let (Some(event), Some(delivery)) = (header("x-github-event"), header("x-github-delivery")) else {
        return answer(StatusCode::BAD_REQUEST, "refused", "X-GitHub-Event and X-GitHub-Delivery are required");
    };
    let payload: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(payload) => payload,
        Err(e) => {
            state.metrics.delivery(event, Outcome::Malformed);
            return answer(StatusCode::BAD_REQUEST, "refused", format!("the body is not JSON: {e}"));
        }
    };
    let routed = routing::route(event, &payload);
    let (event, delivery) = (event.to_string(), delivery.to_string());
    let queue = state.queue.clone();
    let stored = tokio::task::spawn_blocking(move || -> Result<(Accepted, Routed)> {
        let accepted = match &routed {
            Routed::Job(spec) => queue.accept(&delivery, &event, Some(spec))?,
            _ => queue.accept(&delivery, &event, None)?,
        };
        if let (Accepted::Recorded, Routed::Installation { id, account, action, repositories }) = (&accepted, &routed) {
            queue.record_installation(*id, account, action, repositories)?;
        }
        Ok((accepted, routed))
    })
    .await;
    let event = header("x-github-event").unwrap_or("");
    match stored {
        Ok(Ok((Accepted::Queued(id), _))) => {
            state.metrics.delivery(event, Outcome::Queued);
            state.wake.notify_one();
            answer(StatusCode::ACCEPTED, "queued", format!("job {id}"))
        }
        Ok(Ok((Accepted::Duplicate, _))) => {
            state.metrics.delivery(event, Outcome::Duplicate);
            answer(StatusCode::ACCEPTED, "duplicate", "this delivery was already accepted")
        }
        Ok(Ok((Accepted::Recorded, Routed::Ignored(reason)))) => {
            state.metrics.delivery(event, Outcome::Ignored);
            tracing::debug!("delivery ignored: {reason}");
            answer(StatusCode::ACCEPTED, "ignored", reason)
        }
        Ok(Ok((Accepted::Recorded, _))) => {
            state.metrics.delivery(event, Outcome::Recorded);
            answer(StatusCode::ACCEPTED, "recorded", "installation recorded")
        }
        Ok(Err(e)) => {
            // Not accepted: GitHub shows the failure and the delivery can be redelivered.
            tracing::error!("cannot store a delivery: {e:#}");
            state.metrics.delivery(event, Outcome::Error);
            answer(StatusCode::SERVICE_UNAVAILABLE, "error", "cannot store the delivery; redeliver it later")
        }
        Err(e) => answer(StatusCode::INTERNAL_SERVER_ERROR, "error", format!("{e}")),
    }
}

/// Whether `headers` carry the metrics token (compared in constant time), or none is asked for.
fn may_read_metrics(state: &AppState, headers: &HeaderMap) -> bool {
    use subtle::ConstantTimeEq;
    let Some(token) = &state.metrics_token else { return true };
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    given.is_some_and(|given| bool::from(given.trim().as_bytes().ct_eq(token.as_bytes())))
}

async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if !may_read_metrics(&state, &headers) {
        return (
            StatusCode::UNAUTHORIZED,
            [(axum::http::header::WWW_AUTHENTICATE, "Bearer")],
            "/metrics needs Authorization: Bearer <PRECIS_METRICS_TOKEN>\n",
        )
            .into_response();
    }
    let queue = state.queue.clone();
    if let Ok(Ok(counts)) = tokio::task::spawn_blocking(move || queue.counts()).await {
        for job_state in JobState::iter() {
            let labels = StateLabels { state: job_state.to_string() };
            state.metrics.jobs.get_or_create(&labels).set(counts.of(job_state) as i64);
        }
        state.metrics.queue_depth.set(counts.queued as i64);
    }
    let mut text = String::new();
    if encode(&mut text, &state.metrics.registry).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}
