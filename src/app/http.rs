//! The App's HTTP side: POST /webhook verifies, records and queues
//! (answering well within GitHub's 10 s); GET /healthz; GET /metrics.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use serde_json::json;

use super::queue::{Accepted, JobQueue};
use super::routing::{self, Routed};

/// GitHub caps webhook payloads at 25 MB.
pub const MAX_PAYLOAD: usize = 25 * 1024 * 1024;

type Labels = Vec<(String, String)>;

pub struct Metrics {
    /// Open to the rest of the App: the queue and the roles register their own metrics.
    pub(crate) registry: Registry,
    deliveries: Family<Labels, Counter>,
    jobs: Family<Labels, Gauge>,
    queue_depth: Gauge,
    pub(super) summarize_seconds: Histogram,
    github_seconds: Family<Labels, Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("precis");
        let deliveries = Family::<Labels, Counter>::default();
        let jobs = Family::<Labels, Gauge>::default();
        let queue_depth = Gauge::default();
        let summarize_seconds = Histogram::new(exponential_buckets(0.5, 2.0, 14));
        let github_seconds =
            Family::<Labels, Histogram>::new_with_constructor(|| Histogram::new(exponential_buckets(0.01, 2.0, 12)));
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
        self.github_seconds.get_or_create(&vec![("method".into(), method.into())]).observe(latency.as_secs_f64());
    }

    fn delivery(&self, event: &str, outcome: &str) {
        self.deliveries.get_or_create(&vec![("event".into(), event.into()), ("outcome".into(), outcome.into())]).inc();
    }
}

#[derive(Clone)]
pub struct AppState {
    pub secret: Arc<Vec<u8>>,
    pub queue: Arc<dyn JobQueue>,
    pub metrics: Arc<Metrics>,
    pub wake: Arc<tokio::sync::Notify>,
    /// When set, GET /metrics needs `Authorization: Bearer <token>` (`PRECIS_METRICS_TOKEN`).
    pub metrics_token: Option<Arc<str>>,
}

/// Connections open at once; past it new ones are closed at once.
const MAX_CONNECTIONS: usize = 512;
/// A connection must send its request's headers within this long.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves `app` on `listener` until `shutdown` resolves: at most
/// [`MAX_CONNECTIONS`] connections, each closed if its headers are late and
/// after one request (no idle keep-alive), so half-sent requests and idle
/// sockets cannot exhaust the process's descriptors or keep /healthz from
/// answering. In-flight requests get a few seconds to finish at shutdown.
pub async fn serve_connections(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<()> {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let service = hyper_util::service::TowerToHyperService::new(app);
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
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
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let service = service.clone();
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .keep_alive(false)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            if let Err(e) = connection.await {
                tracing::debug!("connection ended: {e}");
            }
            drop(slot);
        });
    }
    // Let requests in flight finish (each holds a slot), a few seconds at most.
    let _ = tokio::time::timeout(Duration::from_secs(10), slots.acquire_many(MAX_CONNECTIONS as u32)).await;
    Ok(())
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/webhook", post(webhook))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(MAX_PAYLOAD))
        .with_state(state)
}

fn answer(status: StatusCode, outcome: &str, detail: impl Into<String>) -> Response {
    (status, Json(json!({ "outcome": outcome, "detail": detail.into() }))).into_response()
}

/// A body must arrive within this long once its headers have.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);

async fn webhook(State(state): State<AppState>, headers: HeaderMap, body: axum::body::Body) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    // Without a signature there is nothing to check the body against: refused unread.
    if !header("x-hub-signature-256").is_some_and(|h| h.trim().starts_with("sha256=")) {
        state.metrics.delivery("unknown", "bad_signature");
        tracing::warn!("webhook refused: no X-Hub-Signature-256");
        return answer(StatusCode::UNAUTHORIZED, "refused", "missing or wrong X-Hub-Signature-256");
    }
    let body: Bytes = match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, MAX_PAYLOAD)).await {
        Ok(Ok(body)) => body,
        Ok(Err(_)) => return answer(StatusCode::PAYLOAD_TOO_LARGE, "refused", "the body is over 25 MB or broke off"),
        Err(_) => return answer(StatusCode::REQUEST_TIMEOUT, "refused", "the body did not arrive in time"),
    };
    // The signature is checked on the raw bytes before anything parses them.
    if !crate::github::signature::verify(&state.secret, &body, header("x-hub-signature-256")) {
        state.metrics.delivery("unknown", "bad_signature");
        tracing::warn!("webhook refused: missing or wrong X-Hub-Signature-256");
        return answer(StatusCode::UNAUTHORIZED, "refused", "missing or wrong X-Hub-Signature-256");
    }
    let (Some(event), Some(delivery)) = (header("x-github-event"), header("x-github-delivery")) else {
        return answer(StatusCode::BAD_REQUEST, "refused", "X-GitHub-Event and X-GitHub-Delivery are required");
    };
    let payload: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(payload) => payload,
        Err(e) => {
            state.metrics.delivery(event, "malformed");
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
            state.metrics.delivery(event, "queued");
            state.wake.notify_one();
            answer(StatusCode::ACCEPTED, "queued", format!("job {id}"))
        }
        Ok(Ok((Accepted::Duplicate, _))) => {
            state.metrics.delivery(event, "duplicate");
            answer(StatusCode::ACCEPTED, "duplicate", "this delivery was already accepted")
        }
        Ok(Ok((Accepted::Recorded, Routed::Ignored(reason)))) => {
            state.metrics.delivery(event, "ignored");
            tracing::debug!("delivery ignored: {reason}");
            answer(StatusCode::ACCEPTED, "ignored", reason)
        }
        Ok(Ok((Accepted::Recorded, _))) => {
            state.metrics.delivery(event, "recorded");
            answer(StatusCode::ACCEPTED, "recorded", "installation recorded")
        }
        Ok(Err(e)) => {
            // Not accepted: GitHub shows the failure and the delivery can be redelivered.
            tracing::error!("cannot store a delivery: {e:#}");
            state.metrics.delivery(event, "error");
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
        for (name, value) in [
            ("queued", counts.queued),
            ("running", counts.running),
            ("done", counts.done),
            ("failed", counts.failed),
            ("superseded", counts.superseded),
        ] {
            state.metrics.jobs.get_or_create(&vec![("state".into(), name.into())]).set(value as i64);
        }
        state.metrics.queue_depth.set(counts.queued as i64);
    }
    let mut text = String::new();
    if encode(&mut text, &state.metrics.registry).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}
