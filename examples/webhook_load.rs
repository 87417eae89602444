//! Load on the webhook endpoint, as a benchmark: signed `pull_request`
//! deliveries at a fixed rate over loopback to the real router and the
//! queue (SQLite in a temporary folder, or PostgreSQL with
//! `--database-url`; no workers, so only accepting is measured), then a
//! check that every delivery is in the queue.
//!
//!   cargo run --release --example webhook_load -- [RATE_PER_S] [SECONDS] [--database-url postgres://...]
//!
//! With `--database-url`, use an empty database made for the run (its
//! tables are created on the way; drop it afterwards).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use precis::app::queue::{JobQueue, PgQueue, Policy, SqliteQueue};
use precis::app::repos::GitHost;
use precis::app::{router, App, Role, ServeSettings};
use precis::github::signature::sign;

const SECRET: &[u8] = b"load-test secret";

/// A pull_request payload of a realistic size (~20 KB, as GitHub's are).
fn payload(index: usize) -> Vec<u8> {
    let padding = "x".repeat(18_000);
    serde_json::to_vec(&serde_json::json!({
        "action": "synchronize",
        "number": index % 500,
        "pull_request": {"number": index % 500, "state": "open", "draft": false, "body": padding,
            "head": {"sha": format!("{index:040x}")}, "base": {"sha": "0".repeat(39) + "1"}},
        "repository": {"name": "demo", "owner": {"login": "octo"}, "clone_url": "https://example.invalid/octo/demo.git", "default_branch": "main"},
        "installation": {"id": 1},
    }))
    .unwrap()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args: Vec<String> = std::env::args().collect();
    let database_url = match args.iter().position(|a| a == "--database-url") {
        Some(at) if at + 1 < args.len() => {
            let url = args.remove(at + 1);
            args.remove(at);
            Some(url)
        }
        Some(_) => anyhow::bail!("--database-url needs a postgres:// URL"),
        None => None,
    };
    let rate: usize = args.get(1).map(|a| a.parse()).transpose()?.unwrap_or(200);
    let seconds: usize = args.get(2).map(|a| a.parse()).transpose()?.unwrap_or(30);
    let data = tempfile::tempdir()?;
    let queue: Arc<dyn JobQueue> = match &database_url {
        Some(url) => Arc::new(PgQueue::connect(url, Policy::default())?),
        None => Arc::new(SqliteQueue::open(&data.path().join("jobs.db"))?),
    };
    let api = "https://api.github.com";
    let mut settings = ServeSettings::new(queue.clone(), data.path().to_path_buf(), api, GitHost::for_api(api)?);
    settings.role = Role::Web;
    settings.secret = SECRET.to_vec();
    let state = App::build(settings, None)?.state;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, router(state)).await });

    let client: Client<_, Body> = Client::builder(TokioExecutor::new()).build_http();
    let total = rate * seconds;
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total);
    for index in 0..total {
        ticker.tick().await;
        let body = payload(index);
        let request = hyper::Request::post(format!("http://{address}/webhook"))
            .header("x-github-event", "pull_request")
            .header("x-github-delivery", format!("load-{index}"))
            .header("x-hub-signature-256", sign(SECRET, &body))
            .header("content-type", "application/json")
            .body(Body::from(body))?;
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            let response = client.request(request).await?;
            let status = response.status().as_u16();
            response.into_body().collect().await?;
            anyhow::Ok((status, sent.elapsed()))
        }));
    }
    let mut latencies = Vec::with_capacity(total);
    let mut accepted = 0;
    for task in tasks {
        let (status, latency) = task.await??;
        accepted += (status == 202) as usize;
        latencies.push(latency);
    }
    let wall = started.elapsed();
    latencies.sort();
    let percentile =
        |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)].as_secs_f64() * 1e3;
    let counts = tokio::task::spawn_blocking({
        let queue = queue.clone();
        move || queue.counts()
    })
    .await??;
    println!(
        "{}: {total} deliveries in {:.1} s ({:.0}/s): {accepted} answered 202; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; in the queue: {} deliveries, {} jobs queued, {} superseded",
        queue.backend(),
        wall.as_secs_f64(),
        total as f64 / wall.as_secs_f64(),
        percentile(0.50),
        percentile(0.99),
        percentile(1.0),
        counts.deliveries,
        counts.queued,
        counts.superseded
    );
    anyhow::ensure!(accepted == total && counts.deliveries as usize == total, "deliveries were lost");
    Ok(())
}
