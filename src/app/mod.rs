//! `precis serve`: the GitHub App. HTTP intake ([`http`]) verifies, records
//! and queues; [`routing`] turns events into jobs; the durable [`queue`]
//! holds them; [`worker`]s fetch ([`repos`]), summarize and publish.

pub mod http;
pub mod queue;
pub mod repos;
pub mod routing;
pub mod worker;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::github::{AppCredentials, GitHub};
use crate::pipeline::Summarizer;
pub use http::{router, AppState, Metrics};
use queue::{JobQueue, SqliteQueue};
use repos::RepoCache;
pub use worker::Worker;

/// The settings as given (flags or PRECIS_* variables), before checking.
pub struct ServeArgs {
    pub app_id: Option<String>,
    pub private_key: Option<String>,
    pub webhook_secret: Option<String>,
    pub api_url: String,
    pub data_dir: PathBuf,
    pub listen: String,
    pub workers: usize,
}

/// What `precis serve` needs, checked before anything starts.
pub struct ServeSettings {
    pub listen: std::net::SocketAddr,
    pub secret: Vec<u8>,
    pub data_dir: PathBuf,
    pub api_url: String,
    pub app: AppCredentials,
    pub workers: usize,
}

impl ServeSettings {
    /// Checks every setting before the model loads: a bad one fails at once,
    /// in one line naming the setting and the fix.
    pub fn check(args: &ServeArgs) -> Result<ServeSettings> {
        let app_id = args.app_id.as_deref().filter(|s| !s.trim().is_empty()).context(
            "PRECIS_APP_ID is not set; set it (or --app-id) to the App's id from its settings page",
        )?;
        let app_id: u64 = app_id.trim().parse().map_err(|_| anyhow::anyhow!("PRECIS_APP_ID `{app_id}` is not a number; use the App's numeric id"))?;
        let key = args.private_key.as_deref().filter(|s| !s.trim().is_empty()).context(
            "PRECIS_PRIVATE_KEY is not set; set it (or --private-key) to the App's private key, as PEM text or a file path",
        )?;
        let pem = if key.trim_start().starts_with("-----BEGIN") {
            key.to_string()
        } else if key.len() > 4096 || key.contains('\n') {
            // Key material, not a path: never echo it.
            anyhow::bail!("PRECIS_PRIVATE_KEY is neither PEM text nor a file path; give the .pem file's path or its PEM text");
        } else {
            std::fs::read_to_string(key).with_context(|| format!("PRECIS_PRIVATE_KEY names {key}, which cannot be read; give the PEM text or a readable file"))?
        };
        let app = AppCredentials::new(app_id, &pem)?;
        let secret = args.webhook_secret.as_deref().filter(|s| !s.is_empty()).context(
            "PRECIS_WEBHOOK_SECRET is not set; set it (or --webhook-secret) to the secret in the App's webhook settings",
        )?;
        let listen = args.listen.parse().map_err(|_| anyhow::anyhow!("PRECIS_LISTEN `{}` is not an address; use HOST:PORT, e.g. 0.0.0.0:8080", args.listen))?;
        GitHub::check_api_url(&args.api_url)?;
        std::fs::create_dir_all(&args.data_dir)
            .with_context(|| format!("cannot create PRECIS_DATA_DIR {}; choose a writable folder", args.data_dir.display()))?;
        Ok(ServeSettings {
            listen,
            secret: secret.as_bytes().to_vec(),
            data_dir: args.data_dir.clone(),
            api_url: args.api_url.clone(),
            app,
            workers: args.workers,
        })
    }
}

/// Serves webhooks until SIGTERM or Ctrl-C; then finishes the jobs in
/// progress (a job still running after the grace period goes back to the
/// queue and runs after the next start).
pub async fn serve(settings: ServeSettings, summarizer: Summarizer) -> Result<()> {
    let ServeSettings { listen, secret, data_dir, api_url, app, workers } = settings;
    let queue: Arc<dyn JobQueue> = Arc::new(SqliteQueue::open(&data_dir.join("jobs.db"))?);
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
        summarizer: Arc::new(summarizer),
        metrics,
        completed: Default::default(),
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running: Vec<_> = (0..workers.max(1)).map(|_| tokio::spawn(worker.clone().run(wake.clone(), stopped.clone()))).collect();
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}; choose another address with PRECIS_LISTEN"))?;
    // The bound address, not the asked one: with port 0 the system picks it.
    let bound = listener.local_addr().unwrap_or(listen);
    tracing::info!("listening on {bound}: POST /webhook, GET /healthz, GET /metrics");
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
