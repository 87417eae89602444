//! `precis serve`: the GitHub App. HTTP intake ([`http`]) verifies, records
//! and queues; [`routing`] turns events into jobs; the durable [`queue`]
//! holds them; [`worker`]s fetch ([`repos`]), summarize and publish.

pub mod http;
pub mod queue;
pub mod repos;
pub mod routing;
pub mod setup;
pub mod worker;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use crate::github::{AppCredentials, GitHub};
use crate::pipeline::Summarizer;
pub use http::{router, AppState, Metrics};
use prometheus_client::encoding::EncodeLabelSet;
use queue::{Backend, JobQueue, JobState, Policy};
use repos::{GitHost, RepoCache, Retention};
pub use worker::Worker;

/// The settings of `precis serve` as given (flags or `PRECIS_*` variables),
/// before checking: declared once, here, for the command line and the tests.
#[derive(Clone, Debug, clap::Args)]
pub struct ServeArgs {
    /// The App's id (its settings page shows it).
    #[arg(long, env = "PRECIS_APP_ID")]
    pub app_id: Option<String>,
    /// The App's private key: PEM text, or the path of the .pem file.
    #[arg(long, env = "PRECIS_PRIVATE_KEY", hide_env_values = true)]
    pub private_key: Option<String>,
    /// The webhook secret set in the App's settings.
    #[arg(long, env = "PRECIS_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,
    /// When set, GET /metrics answers only requests with `Authorization: Bearer <this token>` (/healthz stays open).
    #[arg(long, env = "PRECIS_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// REST API root (GitHub Enterprise Server: https://HOST/api/v3).
    #[arg(long = "github-api-url", env = "PRECIS_GITHUB_API_URL", default_value = "https://api.github.com")]
    pub api_url: String,
    /// The git host repositories are fetched from, as OWNER/NAME.git under it [default: the API's host: https://github.com, or https://HOST for https://HOST/api/v3].
    #[arg(long, env = "PRECIS_GIT_URL")]
    pub git_url: Option<String>,
    /// Where the job queue and the repository caches live.
    #[arg(long, env = "PRECIS_DATA_DIR", default_value = "precis-data")]
    pub data_dir: PathBuf,
    /// The address webhooks, /healthz and /metrics are served on (HOST:PORT).
    #[arg(long, env = "PRECIS_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: String,
    /// Jobs carried out at once (they share the model, which batches them).
    #[arg(long, env = "PRECIS_WORKERS", default_value_t = 2)]
    pub workers: usize,
    /// web (webhooks in; no model), worker (runs jobs; health and metrics on PRECIS_LISTEN) or all.
    #[arg(long, env = "PRECIS_ROLE", value_enum, default_value_t = Role::All)]
    pub role: Role,
    /// The PostgreSQL queue replicas share (postgres://USER:PASSWORD@HOST:PORT/DATABASE) [default: SQLite in PRECIS_DATA_DIR].
    #[arg(long, env = "PRECIS_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// A claimed job's lease: renewed every third of it while the job runs; once it runs out, another worker takes the job.
    #[arg(long, env = "PRECIS_LEASE_SECONDS", default_value_t = Policy::default().lease.as_secs())]
    pub lease_seconds: u64,
    /// Claims of one job (a crash, a lost lease or a transient failure each use one) before it is given up.
    #[arg(long, env = "PRECIS_MAX_ATTEMPTS", default_value_t = Policy::default().max_attempts)]
    pub max_attempts: u32,
    /// Jobs of one installation running at once across all workers (0: no cap).
    #[arg(long, env = "PRECIS_PER_INSTALLATION", default_value_t = Policy::default().per_installation)]
    pub per_installation: u32,
    /// Deliveries and finished jobs are kept this many days, then pruned.
    #[arg(long, env = "PRECIS_RETENTION_DAYS", default_value_t = Policy::default().retention.as_secs() / 86_400)]
    pub retention_days: u64,
    /// The first wait before a transient failure (GitHub or network) is retried; it doubles each time.
    #[arg(long, env = "PRECIS_RETRY_SECONDS", default_value_t = Policy::default().retry_after.as_secs())]
    pub retry_seconds: u64,
    /// Cached repositories (in PRECIS_DATA_DIR/repos) no job used for this many days are removed.
    #[arg(long, env = "PRECIS_REPO_CACHE_DAYS", default_value_t = Retention::default().max_age.as_secs() / 86_400)]
    pub repo_cache_days: u64,
    /// Cached repositories kept at most; past it the least recently used go (0: no cap).
    #[arg(long, env = "PRECIS_REPO_CACHE_MAX", default_value_t = Retention::default().max_count)]
    pub repo_cache_max: usize,
}

impl ServeArgs {
    /// The settings `precis serve` reads from its environment alone (no flags).
    pub fn from_env() -> Result<ServeArgs> {
        #[derive(clap::Parser)]
        struct Environment {
            #[command(flatten)]
            args: ServeArgs,
        }
        use clap::Parser;
        Environment::try_parse_from(["precis-serve"]).map(|e| e.args).map_err(|e| anyhow::anyhow!("{e}"))
    }
}

/// What one `precis serve` process does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, strum::Display)]
#[strum(serialize_all = "lowercase")]
pub enum Role {
    /// Webhook intake, /healthz, /metrics; never loads the model.
    Web,
    /// Claims and runs jobs; /healthz and /metrics on its own port.
    Worker,
    /// Both, in one process (the default).
    All,
}

impl Role {
    /// Whether this role takes webhooks.
    pub fn takes_webhooks(self) -> bool {
        self != Role::Worker
    }

    /// Whether this role runs jobs (and so loads the model).
    pub fn runs_jobs(self) -> bool {
        self != Role::Web
    }
}

/// What `precis serve` needs, checked before anything starts.
pub struct ServeSettings {
    pub listen: std::net::SocketAddr,
    /// The webhook secret (empty for a worker, which takes no webhooks).
    pub secret: Vec<u8>,
    /// The bearer token /metrics asks for, if any.
    pub metrics_token: Option<Arc<str>>,
    pub data_dir: PathBuf,
    pub api_url: String,
    pub git_host: GitHost,
    pub repo_retention: Retention,
    /// The App's credentials (none for a web replica, which never calls GitHub).
    pub app: Option<AppCredentials>,
    pub workers: usize,
    pub role: Role,
    /// The job queue, open and migrated.
    pub queue: Arc<dyn JobQueue>,
    /// GitHub call pacing (write gap, server-error backoff, rate-limit wait)
    /// instead of the client's defaults: for tests against a fake GitHub.
    pub github_timing: Option<(Duration, Duration, Duration)>,
}

/// The most a private key file may hold (a 4096-bit RSA PEM is about 3 KB).
const MAX_KEY_FILE: u64 = 64 * 1024;

/// The PEM text of `PRECIS_PRIVATE_KEY`: the text itself, or the file it
/// names, read only if it is a regular file of at most [`MAX_KEY_FILE`].
/// Errors never repeat the value: it may be key material.
fn private_key_pem(key: &str) -> Result<String> {
    use std::io::Read;
    if key.trim_start().starts_with("-----BEGIN") {
        return Ok(key.to_string());
    }
    let unreadable = |why: &dyn std::fmt::Display| {
        anyhow::anyhow!(
            "PRECIS_PRIVATE_KEY is not PEM text and names no readable key file ({why}); give the .pem file's path or its PEM text (-----BEGIN ...)"
        )
    };
    let file = std::fs::File::open(key.trim()).map_err(|e| unreadable(&e.kind()))?;
    let metadata = file.metadata().map_err(|e| unreadable(&e.kind()))?;
    if !metadata.is_file() {
        return Err(unreadable(&"not a regular file"));
    }
    if metadata.len() > MAX_KEY_FILE {
        return Err(unreadable(&format!("over {} KiB", MAX_KEY_FILE / 1024)));
    }
    let mut pem = String::new();
    file.take(MAX_KEY_FILE).read_to_string(&mut pem).map_err(|e| unreadable(&e.kind()))?;
    Ok(pem)
}

fn app_credentials(args: &ServeArgs) -> Result<AppCredentials> {
    let app_id = args
        .app_id
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .context("PRECIS_APP_ID is not set; set it (or --app-id) to the App's id from its settings page")?;
    let app_id: u64 = app_id
        .trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("PRECIS_APP_ID `{app_id}` is not a number; use the App's numeric id"))?;
    let key = args.private_key.as_deref().filter(|s| !s.trim().is_empty()).context(
        "PRECIS_PRIVATE_KEY is not set; set it (or --private-key) to the App's private key, as PEM text or a file path",
    )?;
    AppCredentials::new(app_id, &private_key_pem(key)?)
}

/// `value` of the setting `name` if it lies in `range`; else one line naming
/// the setting and the range (large values would overflow the queue's clock).
pub fn bounded(name: &str, value: u64, range: std::ops::RangeInclusive<u64>) -> Result<u64> {
    if !range.contains(&value) {
        bail!("{name} is {value}; use a whole number from {} to {}", range.start(), range.end());
    }
    Ok(value)
}

/// A secret setting as given: absent, or not blank.
fn secret_setting<'a>(name: &str, value: Option<&'a str>, fix: &str) -> Result<Option<&'a str>> {
    match value {
        Some(value) if value.trim().is_empty() => bail!("{name} is blank; {fix}"),
        value => Ok(value),
    }
}

/// The longest a lease may be: a day.
const MAX_LEASE_SECONDS: u64 = 86_400;
/// The longest first wait before a retry (the backoff stops at 10 minutes anyway).
const MAX_RETRY_SECONDS: u64 = 600;
/// The longest anything is kept: ten years.
const MAX_DAYS: u64 = 3_650;

impl ServeSettings {
    /// Settings for an App on `queue` keeping its repositories in
    /// `data_dir`, calling GitHub at `api_url` and fetching from `git_host`;
    /// the rest as nothing was set (a free local port, role `all` with one
    /// worker, no webhook secret, no metrics token, no App credentials).
    /// [`ServeSettings::check`] reads them from `precis serve`'s settings instead.
    pub fn new(queue: Arc<dyn JobQueue>, data_dir: PathBuf, api_url: &str, git_host: GitHost) -> ServeSettings {
        ServeSettings {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            secret: Vec::new(),
            metrics_token: None,
            data_dir,
            api_url: api_url.to_string(),
            git_host,
            repo_retention: Retention::default(),
            app: None,
            workers: 1,
            role: Role::All,
            queue,
            github_timing: None,
        }
    }

    /// Checks every setting before the model loads: a bad one fails at once,
    /// in one line naming the setting and the fix. The queue is opened here
    /// (an unreachable database fails the start, not the first delivery).
    pub fn check(args: &ServeArgs) -> Result<ServeSettings> {
        let role = args.role;
        let app = if role.runs_jobs() { Some(app_credentials(args)?) } else { None };
        let secret = if role.takes_webhooks() {
            let secret = secret_setting(
                "PRECIS_WEBHOOK_SECRET",
                args.webhook_secret.as_deref(),
                "set it to the secret in the App's webhook settings",
            )?
            .context(
                "PRECIS_WEBHOOK_SECRET is not set; set it (or --webhook-secret) to the secret in the App's webhook settings",
            )?;
            secret.as_bytes().to_vec()
        } else {
            Vec::new()
        };
        let metrics_token = secret_setting(
            "PRECIS_METRICS_TOKEN",
            args.metrics_token.as_deref(),
            "set a token for /metrics to ask for, or unset it to leave /metrics open",
        )?;
        let listen = args.listen.parse().map_err(|_| {
            anyhow::anyhow!("PRECIS_LISTEN `{}` is not an address; use HOST:PORT, e.g. 0.0.0.0:8080", args.listen)
        })?;
        let api_url = args.api_url.trim();
        let bad_api_url = || {
            anyhow::anyhow!(
                "PRECIS_GITHUB_API_URL `{api_url}` is not an http(s) URL; use https://api.github.com or https://HOST/api/v3"
            )
        };
        if !api_url.starts_with("https://") && !api_url.starts_with("http://") {
            return Err(bad_api_url());
        }
        GitHub::check_api_url(api_url).map_err(|_| bad_api_url())?;
        let git_host = match args.git_url.as_deref().map(str::trim).filter(|url| !url.is_empty()) {
            Some(url) => GitHost::parse(url)?,
            None => GitHost::for_api(api_url).map_err(|_| bad_api_url())?,
        };
        // A lease is renewed every third of it.
        let lease_seconds = bounded("PRECIS_LEASE_SECONDS", args.lease_seconds, 3..=MAX_LEASE_SECONDS)?;
        if args.max_attempts == 0 {
            bail!("PRECIS_MAX_ATTEMPTS must be at least 1");
        }
        let days = |name: &str, value: u64| -> Result<Duration> {
            Ok(Duration::from_secs(bounded(name, value, 1..=MAX_DAYS)? * 86_400))
        };
        let policy = Policy {
            lease: Duration::from_secs(lease_seconds),
            max_attempts: args.max_attempts,
            per_installation: args.per_installation,
            retention: days("PRECIS_RETENTION_DAYS", args.retention_days)?,
            retry_after: Duration::from_secs(bounded(
                "PRECIS_RETRY_SECONDS",
                args.retry_seconds,
                1..=MAX_RETRY_SECONDS,
            )?),
        };
        let repo_retention = Retention {
            max_age: days("PRECIS_REPO_CACHE_DAYS", args.repo_cache_days)?,
            max_count: args.repo_cache_max,
        };
        // The data folder holds private code (repository caches): its owner's only.
        std::fs::create_dir_all(&args.data_dir)
            .and_then(|_| crate::provision::cache::private(&args.data_dir))
            .with_context(|| {
                format!("cannot create PRECIS_DATA_DIR {}; choose a writable folder", args.data_dir.display())
            })?;
        let database_url = args.database_url.as_deref().map(str::trim).filter(|url| !url.is_empty());
        if database_url.is_none() && role != Role::All {
            bail!(
                "--role {role} shares the queue with other replicas through PostgreSQL; set PRECIS_DATABASE_URL (SQLite in PRECIS_DATA_DIR serves one process: --role all)"
            );
        }
        let queue = queue::open(database_url, &args.data_dir, policy)?;
        Ok(ServeSettings {
            listen,
            secret,
            metrics_token: metrics_token.map(|token| Arc::from(token.trim())),
            data_dir: args.data_dir.clone(),
            api_url: api_url.to_string(),
            git_host,
            repo_retention,
            app,
            workers: args.workers,
            role,
            queue,
            github_timing: None,
        })
    }
}

/// How often finished jobs and old deliveries are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(600);
/// How often the per-installation gauges are refreshed.
const GAUGES_EVERY: Duration = Duration::from_secs(5);
/// How long a stop waits for the jobs in progress before handing them back.
const GRACE: Duration = Duration::from_secs(60);
/// How long the process waits, after [`serve`] returns, for work still in
/// blocking threads before it exits anyway.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RoleLabels {
    role: String,
    backend: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InstallationLabels {
    installation: String,
    state: String,
}

/// Registers the queue's and the role's metrics; returns the
/// per-installation gauges and the held-jobs gauge, refreshed by [`serve`].
fn register_metrics(
    metrics: &mut Metrics,
    queue: &dyn JobQueue,
    role: Role,
) -> (Family<InstallationLabels, Gauge>, Gauge) {
    let registry = &mut metrics.registry;
    let stats = queue.stats();
    let roles = Family::<RoleLabels, Gauge>::default();
    roles.get_or_create(&RoleLabels { role: role.to_string(), backend: queue.backend().to_string() }).set(1);
    registry.register("role", "This replica's role and queue backend", roles);
    registry.register("jobs_claimed", "Jobs this replica claimed", stats.claimed.clone());
    registry.register(
        "leases_expired",
        "Jobs whose lease ran out (their worker died), put back by this replica",
        stats.leases_expired.clone(),
    );
    registry.register("leases_lost", "Jobs this replica held whose lease another took", stats.leases_lost.clone());
    registry.register("jobs_retried", "Transient failures sent back to the queue", stats.retried.clone());
    registry.register("jobs_given_up", "Jobs given up after their last attempt", stats.gave_up.clone());
    let by_installation = Family::<InstallationLabels, Gauge>::default();
    registry.register(
        "installation_jobs",
        "Queued and running jobs by installation (all replicas)",
        by_installation.clone(),
    );
    let held = Gauge::default();
    registry.register("jobs_held", "Jobs this replica runs now", held.clone());
    (by_installation, held)
}

/// The App wired once from its settings: the webhook side's state and, in
/// a role that runs jobs, the worker. [`serve`] runs it; the tests and the
/// examples build it the same way and drive its parts.
pub struct App {
    pub state: AppState,
    /// `None` for a web replica.
    pub worker: Option<Worker>,
    listen: std::net::SocketAddr,
    workers: usize,
    role: Role,
    repos: Option<Arc<RepoCache>>,
    by_installation: Family<InstallationLabels, Gauge>,
    held: Gauge,
}

impl App {
    /// A role that runs jobs needs `summarizer`. In the `all` role on
    /// SQLite, jobs a stop interrupted go back to the queue first.
    pub fn build(settings: ServeSettings, summarizer: Option<Summarizer>) -> Result<App> {
        let ServeSettings {
            listen,
            secret,
            metrics_token,
            data_dir,
            api_url,
            git_host,
            repo_retention,
            app,
            workers,
            role,
            queue,
            github_timing,
        } = settings;
        if role.takes_webhooks() && secret.is_empty() {
            bail!("--role {role} takes webhooks and needs the webhook secret; set PRECIS_WEBHOOK_SECRET");
        }
        tracing::info!("role {role}, queue on {}", queue.backend());
        if role == Role::All && queue.backend() == Backend::Sqlite {
            // This process owns the SQLite file: whatever ran there was interrupted.
            let recovered = queue.recover()?;
            if recovered > 0 {
                tracing::warn!("{recovered} job(s) interrupted by the last stop go back to the queue");
            }
        }
        let mut metrics = Metrics::default();
        let (by_installation, held) = register_metrics(&mut metrics, queue.as_ref(), role);
        let metrics = Arc::new(metrics);
        let state = AppState::new(secret, queue.clone(), metrics.clone(), metrics_token);
        let (mut worker, mut repos) = (None, None);
        if role.runs_jobs() {
            let summarizer = summarizer.context("a worker needs a model")?;
            let observed = metrics.clone();
            let mut github =
                GitHub::new(&api_url, app)?.observe(move |method, latency| observed.observe_github(method, latency));
            if let Some((write_gap, backoff, rate_limit_wait)) = github_timing {
                github = github.with_timing(write_gap, backoff, rate_limit_wait);
            }
            let cache = Arc::new(RepoCache::new(data_dir.join("repos"), git_host).with_retention(repo_retention));
            worker = Some(Worker::new(queue, github, cache.clone(), summarizer, metrics));
            repos = Some(cache);
        }
        Ok(App { state, worker, listen, workers, role, repos, by_installation, held })
    }

    /// Serves until SIGTERM or Ctrl-C, in its role: web replicas take
    /// webhooks, workers run jobs, `all` does both. On a stop a worker
    /// finishes the jobs in progress; those still running after the grace
    /// period go back to the queue (another replica, or the next start, runs them).
    pub async fn serve(self) -> Result<()> {
        let App { state, worker, listen, workers, role, repos, by_installation, held } = self;
        let queue = state.queue().clone();
        let wake = state.wake().clone();
        let mut background = vec![
            tokio::spawn(prune(queue.clone())),
            tokio::spawn(refresh_gauges(queue.clone(), by_installation, held)),
        ];
        if let Some(repos) = repos {
            background.push(tokio::spawn(prune_repos(repos)));
        }
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut running = Vec::new();
        let mut heartbeat = None;
        if let Some(worker) = worker {
            queue.subscribe(wake.clone());
            heartbeat = Some(tokio::spawn(heartbeats(queue.clone())));
            running =
                (0..workers.max(1)).map(|_| tokio::spawn(worker.clone().run(wake.clone(), stopped.clone()))).collect();
        }
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}; choose another address with PRECIS_LISTEN"))?;
        // The bound address, not the asked one: with port 0 the system picks it.
        let bound = listener.local_addr().unwrap_or(listen);
        let app = if role.takes_webhooks() {
            tracing::info!("listening on {bound}: POST /webhook, GET /healthz, GET /metrics");
            router(state)
        } else {
            tracing::info!("listening on {bound}: GET /healthz, GET /metrics (a worker takes no webhooks)");
            router(state).layer(axum::middleware::from_fn(no_webhooks))
        };
        http::serve_connections(listener, app, shutdown_signal()).await?;
        for task in background {
            task.abort();
        }
        if role.runs_jobs() {
            tracing::info!("stopping: finishing the jobs in progress");
            let _ = stop.send(true);
            let grace = tokio::time::sleep(GRACE);
            tokio::pin!(grace);
            for handle in running {
                tokio::select! {
                    _ = handle => {}
                    _ = &mut grace => break,
                }
            }
            let released = tokio::task::spawn_blocking({
                let queue = queue.clone();
                move || queue.release_held()
            })
            .await?;
            if let Some(heartbeat) = heartbeat {
                heartbeat.abort();
            }
            match released {
                Ok(0) => {}
                Ok(n) => tracing::warn!("{n} job(s) still running go back to the queue"),
                // Their leases run out, and another replica (or the next start) takes them.
                Err(e) => {
                    tracing::warn!(
                        "cannot hand the jobs in progress back: {e:#}; they run again when their lease runs out"
                    )
                }
            }
        } else {
            tracing::info!("stopping");
        }
        Ok(())
    }
}

/// Builds the App from `settings` and serves it ([`App::serve`]).
pub async fn serve(settings: ServeSettings, summarizer: Option<Summarizer>) -> Result<()> {
    App::build(settings, summarizer)?.serve().await
}

/// A worker's port answers /healthz and /metrics only.
async fn no_webhooks(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::response::IntoResponse;
    if request.uri().path() == "/webhook" {
        return (
            axum::http::StatusCode::NOT_FOUND,
            "this replica is a worker (--role worker); send webhooks to a web replica\n",
        )
            .into_response();
    }
    next.run(request).await
}

/// Renews the leases of the jobs this process runs, three times per lease.
async fn heartbeats(queue: Arc<dyn JobQueue>) {
    let every = queue.policy().lease / 3;
    loop {
        tokio::time::sleep(every).await;
        let beating = queue.clone();
        match tokio::task::spawn_blocking(move || beating.heartbeat()).await {
            Ok(Ok(_)) => {}
            // The jobs carry on; if the database stays away past the lease, another replica takes them again.
            Ok(Err(e)) => tracing::warn!("cannot renew the leases of the jobs in progress: {e:#}"),
            Err(e) => tracing::error!("lease heartbeat: {e}"),
        }
    }
}

/// Removes old deliveries and finished jobs, at start and every ten minutes.
async fn prune(queue: Arc<dyn JobQueue>) {
    loop {
        let pruning = queue.clone();
        let retention = queue.policy().retention;
        match tokio::task::spawn_blocking(move || pruning.prune(retention)).await {
            Ok(Ok(pruned)) if pruned.deliveries + pruned.jobs > 0 => {
                tracing::info!(
                    "pruned {} delivery record(s) and {} finished job(s) older than {}",
                    pruned.deliveries,
                    pruned.jobs,
                    humantime::format_duration(retention)
                );
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!("cannot prune old jobs: {e:#}"),
            Err(e) => tracing::error!("pruning: {e}"),
        }
        tokio::time::sleep(PRUNE_EVERY).await;
    }
}

/// Removes cached repositories no job used for long (or past the count),
/// at start and every ten minutes; never one a job is using.
async fn prune_repos(repos: Arc<RepoCache>) {
    loop {
        let pruning = repos.clone();
        match tokio::task::spawn_blocking(move || pruning.prune()).await {
            Ok(Ok(0)) => {}
            Ok(Ok(removed)) => tracing::info!("pruned {removed} cached repositor(ies) no job used recently"),
            Ok(Err(e)) => tracing::warn!("cannot prune the repository cache: {e:#}"),
            Err(e) => tracing::error!("pruning the repository cache: {e}"),
        }
        tokio::time::sleep(PRUNE_EVERY).await;
    }
}

/// Keeps the per-installation gauges current (one query every few seconds,
/// whatever the scrape rate).
async fn refresh_gauges(queue: Arc<dyn JobQueue>, by_installation: Family<InstallationLabels, Gauge>, held: Gauge) {
    loop {
        held.set(queue.held().len() as i64);
        let counting = queue.clone();
        if let Ok(Ok(counts)) = tokio::task::spawn_blocking(move || counting.counts()).await {
            by_installation.clear();
            for (installation, (queued, running)) in counts.by_installation {
                for (state, n) in [(JobState::Queued, queued), (JobState::Running, running)] {
                    let labels =
                        InstallationLabels { installation: installation.to_string(), state: state.to_string() };
                    by_installation.get_or_create(&labels).set(n as i64);
                }
            }
        }
        tokio::time::sleep(GAUGES_EVERY).await;
    }
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
