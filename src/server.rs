//! `precis serve`: the GitHub App. The webhook handler only verifies,
//! records and queues (answering well within GitHub's 10 s); workers take
//! jobs from the durable queue, fetch with git, summarize and publish.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
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

use crate::fetch::RepoCache;
use crate::github::events::{self, Routed, HELP_COMMAND, SUMMARIZE_COMMAND};
use crate::github::publish::{self, Conclusion};
use crate::github::{GitHub, Token};
use crate::pipeline::Pipeline;
use crate::queue::{Accepted, Job, JobQueue, JobSpec, RepoRef};
use crate::report;
use crate::summarize::Summary;

/// GitHub caps webhook payloads at 25 MB.
pub const MAX_PAYLOAD: usize = 25 * 1024 * 1024;

type Labels = Vec<(String, String)>;

pub struct Metrics {
    registry: Registry,
    deliveries: Family<Labels, Counter>,
    jobs: Family<Labels, Gauge>,
    queue_depth: Gauge,
    summarize_seconds: Histogram,
    github_seconds: Family<Labels, Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("precis");
        let deliveries = Family::<Labels, Counter>::default();
        let jobs = Family::<Labels, Gauge>::default();
        let queue_depth = Gauge::default();
        let summarize_seconds = Histogram::new(exponential_buckets(0.5, 2.0, 14));
        let github_seconds = Family::<Labels, Histogram>::new_with_constructor(|| Histogram::new(exponential_buckets(0.01, 2.0, 12)));
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

async fn webhook(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    // The signature is checked on the raw bytes before anything reads them.
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
    let routed = events::route(event, &payload);
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

async fn metrics(State(state): State<AppState>) -> Response {
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

/// Takes jobs from the queue and carries them out.
pub struct Worker {
    pub queue: Arc<dyn JobQueue>,
    pub github: Arc<GitHub>,
    pub repos: Arc<RepoCache>,
    pub pipeline: Arc<Pipeline>,
    pub metrics: Arc<Metrics>,
    /// Jobs run (for tests and logs).
    pub completed: Arc<AtomicU64>,
}

impl Clone for Worker {
    fn clone(&self) -> Self {
        Worker {
            queue: self.queue.clone(),
            github: self.github.clone(),
            repos: self.repos.clone(),
            pipeline: self.pipeline.clone(),
            metrics: self.metrics.clone(),
            completed: self.completed.clone(),
        }
    }
}

const HELP: &str = "precis summarizes this pull request with a model that runs on the App's own machine.\n\n\
    - `/precis summarize`: summarize the pull request again now\n\
    - `/precis help`: this message\n\n\
    Commands are taken from users with write access. Settings live in `.github/precis.yml` on the base branch \
    (include, exclude, max_files, max_lines_per_chunk, max_chunks_per_file, max_file_bytes, language, model, drafts).";

impl Worker {
    /// Runs the next queued job; `false` when there was none.
    pub async fn run_one(&self) -> Result<bool> {
        let queue = self.queue.clone();
        let Some(job) = tokio::task::spawn_blocking(move || queue.claim()).await?? else { return Ok(false) };
        let started = Instant::now();
        tracing::info!("job {} ({}) started", job.id, job.spec.key());
        let result = self.carry_out(&job).await;
        let error = result.as_ref().err().map(|e| format!("{e:#}"));
        match &error {
            None => tracing::info!("job {} done in {:.1} s", job.id, started.elapsed().as_secs_f64()),
            Some(e) => tracing::error!("job {} failed: {e}", job.id),
        }
        let queue = self.queue.clone();
        tokio::task::spawn_blocking(move || queue.finish(job.id, error.as_deref())).await??;
        self.completed.fetch_add(1, Ordering::Relaxed);
        Ok(true)
    }

    /// Runs jobs until the queue is empty (tests, and draining).
    pub async fn run_until_idle(&self) -> Result<()> {
        while self.run_one().await? {}
        Ok(())
    }

    /// Runs jobs as they come until `stop` turns true; a job in progress finishes first.
    pub async fn run(self, wake: Arc<tokio::sync::Notify>, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            if *stop.borrow() {
                return;
            }
            match self.run_one().await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => tracing::error!("the queue failed: {e:#}"),
            }
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                _ = stop.changed() => {}
            }
        }
    }

    async fn token(&self, repo: &RepoRef) -> Result<Token> {
        let installation = repo
            .installation_id
            .with_context(|| format!("the delivery for {} names no App installation; install the App on it", repo.full_name()))?;
        self.github.installation_token(installation).await
    }

    async fn carry_out(&self, job: &Job) -> Result<()> {
        match &job.spec {
            JobSpec::PullRequest { repo, number, head_sha, base_sha, draft } => {
                let token = self.token(repo).await?;
                self.summarize_pull(job, repo, &token, *number, base_sha, head_sha, *draft).await
            }
            JobSpec::Rerun { repo, number, requested_by } => {
                let token = self.token(repo).await?;
                if let Some(user) = requested_by {
                    if !publish::can_write(&self.github, &token, repo, user).await? {
                        tracing::info!("{SUMMARIZE_COMMAND} from {user} ignored: no write access to {}", repo.full_name());
                        return Ok(());
                    }
                }
                let pull = self.github.get(&token, &format!("/repos/{}/{}/pulls/{number}", repo.owner, repo.name)).await?;
                let (head, base) = (pull["head"]["sha"].as_str(), pull["base"]["sha"].as_str());
                let (Some(head), Some(base)) = (head, base) else {
                    return Err(anyhow!("GitHub's pull request {number} has no head or base commit"));
                };
                // Asked for explicitly: a draft is summarized too.
                self.summarize_pull(job, repo, &token, *number, base, head, false).await
            }
            JobSpec::Help { repo, number, requested_by } => {
                let token = self.token(repo).await?;
                if !publish::can_write(&self.github, &token, repo, requested_by).await? {
                    tracing::info!("{HELP_COMMAND} from {requested_by} ignored: no write access to {}", repo.full_name());
                    return Ok(());
                }
                publish::reply(&self.github, &token, repo, *number, HELP).await
            }
            JobSpec::Push { repo, branch, before, after } => {
                let token = self.token(repo).await?;
                let refspec = format!("+refs/heads/{branch}:refs/precis/heads/{branch}");
                let dir = self.fetch(repo, &token, vec![refspec]).await?;
                let base = if before.chars().all(|c| c == '0') { format!("{after}~1") } else { before.clone() };
                let config = self.config(&dir, after).await?;
                let check = self.check_run(job, repo, &token, after).await?;
                let summary = self.summarize(dir, base, after.clone(), config).await;
                self.conclude(repo, &token, check, summary, None, after).await
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn summarize_pull(
        &self,
        job: &Job,
        repo: &RepoRef,
        token: &Token,
        number: u64,
        base: &str,
        head: &str,
        draft: bool,
    ) -> Result<()> {
        let refspecs = vec![format!("+refs/pull/{number}/head:refs/precis/pull/{number}/head"), "+refs/heads/*:refs/precis/heads/*".into()];
        let dir = self.fetch(repo, token, refspecs).await?;
        let config = self.config(&dir, base).await?;
        if draft && !config.drafts {
            tracing::info!("{}#{number} is a draft; set `drafts: true` in .github/precis.yml to summarize drafts", repo.full_name());
            return Ok(());
        }
        let check = self.check_run(job, repo, token, head).await?;
        let summary = self.summarize(dir, base.to_string(), head.to_string(), config).await;
        self.conclude(repo, token, check, summary, Some(number), head).await
    }

    async fn fetch(&self, repo: &RepoRef, token: &Token, refspecs: Vec<String>) -> Result<PathBuf> {
        let (repos, repo, token) = (self.repos.clone(), repo.clone(), token.clone());
        tokio::task::spawn_blocking(move || repos.fetch(&repo, Some(&token), &refspecs)).await?
    }

    async fn config(&self, dir: &std::path::Path, commit: &str) -> Result<crate::repo_config::RepoConfig> {
        let (dir, commit) = (dir.to_path_buf(), commit.to_string());
        tokio::task::spawn_blocking(move || Pipeline::config_at(&dir, &commit)).await?
    }

    /// The job's check run, created (queued) once and marked in progress.
    async fn check_run(&self, job: &Job, repo: &RepoRef, token: &Token, head: &str) -> Result<u64> {
        let id = match job.check_run_id {
            Some(id) => id,
            None => {
                let id = publish::create_check_run(&self.github, token, repo, head).await?;
                let (queue, job_id) = (self.queue.clone(), job.id);
                tokio::task::spawn_blocking(move || queue.set_check_run(job_id, id)).await??;
                id
            }
        };
        publish::start_check_run(&self.github, token, repo, id).await?;
        Ok(id)
    }

    async fn summarize(&self, dir: PathBuf, base: String, head: String, config: crate::repo_config::RepoConfig) -> Result<Summary> {
        let pipeline = self.pipeline.clone();
        let started = Instant::now();
        let summary = tokio::task::spawn_blocking(move || pipeline.summarize_range(&dir, &base, &head, &config)).await?;
        self.metrics.summarize_seconds.observe(started.elapsed().as_secs_f64());
        summary
    }

    /// Publishes: the sticky comment (pull requests) and the completed check
    /// run; a failed summary completes the check as neutral with the reason.
    async fn conclude(&self, repo: &RepoRef, token: &Token, check: u64, summary: Result<Summary>, number: Option<u64>, head: &str) -> Result<()> {
        match summary {
            Ok(summary) => {
                if let Some(number) = number {
                    let markdown = report::to_markdown(&summary, report::COMMENT_LIMIT - publish::comment_overhead(head));
                    publish::upsert_comment(&self.github, token, repo, number, &publish::comment_body(&markdown, head)).await?;
                }
                let text = report::to_markdown(&summary, publish::CHECK_SUMMARY_LIMIT);
                publish::complete_check_run(&self.github, token, repo, check, Conclusion::Success, &summary.title, &text).await
            }
            Err(e) => {
                let reason = format!("precis could not summarize this change: {e:#}");
                publish::complete_check_run(&self.github, token, repo, check, Conclusion::Neutral, "No summary", &reason).await?;
                Err(anyhow!(reason))
            }
        }
    }
}

/// What `precis serve` needs, checked before anything starts.
pub struct ServeSettings {
    pub listen: std::net::SocketAddr,
    pub secret: Vec<u8>,
    pub data_dir: PathBuf,
    pub api_url: String,
    pub app: crate::github::AppCredentials,
    pub workers: usize,
}

/// Serves webhooks until SIGTERM or Ctrl-C; then finishes the jobs in
/// progress (a job still running after the grace period goes back to the
/// queue and runs after the next start).
pub async fn serve(settings: ServeSettings, pipeline: Pipeline) -> Result<()> {
    let ServeSettings { listen, secret, data_dir, api_url, app, workers } = settings;
    let queue: Arc<dyn JobQueue> = Arc::new(crate::queue::SqliteQueue::open(&data_dir.join("jobs.db"))?);
    let recovered = queue.recover()?;
    if recovered > 0 {
        tracing::warn!("{recovered} job(s) interrupted by the last stop go back to the queue");
    }
    let metrics = Arc::new(Metrics::default());
    let observed = metrics.clone();
    let github = GitHub::new(&api_url, Some(app))?.observe(move |method, latency| observed.observe_github(method, latency));
    let wake = Arc::new(tokio::sync::Notify::new());
    let state = AppState { secret: Arc::new(secret), queue: queue.clone(), metrics: metrics.clone(), wake: wake.clone() };
    let worker = Worker {
        queue: queue.clone(),
        github: Arc::new(github),
        repos: Arc::new(RepoCache::new(data_dir.join("repos"))),
        pipeline: Arc::new(pipeline),
        metrics,
        completed: Default::default(),
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running: Vec<_> = (0..workers.max(1)).map(|_| tokio::spawn(worker.clone().run(wake.clone(), stopped.clone()))).collect();
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}; choose another address with PRECIS_LISTEN"))?;
    tracing::info!("listening on {listen}: POST /webhook, GET /healthz, GET /metrics");
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown_signal()).await?;
    tracing::info!("stopping: finishing the jobs in progress");
    let _ = stop.send(true);
    let grace = tokio::time::sleep(Duration::from_secs(60));
    tokio::pin!(grace);
    for handle in running {
        tokio::select! {
            _ = handle => {}
            _ = &mut grace => break,
        }
    }
    let requeued = queue.recover()?;
    if requeued > 0 {
        tracing::warn!("{requeued} job(s) still running go back to the queue");
    }
    Ok(())
}

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}
