//! Jobs drained per second by 1, 2, 3 ... worker replicas sharing one
//! PostgreSQL queue, as a benchmark. Each replica is a queue object of its
//! own (its own pool and leases) with one worker and its own repository
//! cache, as on separate machines; here they share this machine's cores.
//! The jobs are real: git fetches from local repositories, the pipeline on
//! the deterministic fake model (optionally taking a fixed time per prompt,
//! standing in for a model on each worker's own accelerator), and a fake
//! GitHub on loopback without pauses between writes.
//!
//!   cargo run --release --example queue_drain -- --database-url postgres://USER@HOST/EMPTY_DB [--jobs 300] [--model-ms 0] [--replicas 1,3]
//!
//! The database should be empty and made for the run; its tables are
//! emptied between rounds.

#[allow(dead_code)]
#[path = "../tests/common/fake_github.rs"]
mod fake_github;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use precis::app::queue::{JobQueue, JobSpec, PgQueue, Policy, RepoRef};
use precis::app::repos::GitHost;
use precis::app::{App, Role, ServeSettings};
use precis::github::{AppCredentials, PullNumber, RepoName};
use precis::language_model::FakeSource;
use precis::pipeline::Summarizer;
use precis::progress::Progress;

/// A bare repository with a base commit and `pulls` pull requests of one commit each.
fn repository(dir: &Path, pulls: u64) -> Result<(String, Vec<String>)> {
    std::fs::create_dir_all(dir)?;
    let status = Command::new("git").arg("-C").arg(dir).args(["init", "-q", "--bare"]).status()?;
    anyhow::ensure!(status.success(), "git init failed");
    let blob = |text: &str| format!("data {}\n{text}\n", text.len());
    let source = |name: &str, items: u64| -> String {
        (0..items)
            .map(|i| format!("/// Item {i} of {name}.\npub fn {name}_{i}(x: u32) -> u32 {{\n    x + {i}\n}}\n\n"))
            .collect()
    };
    let mut stream = format!(
        "commit refs/heads/main\nmark :1\ncommitter B <b@example.com> 1700000000 +0000\n{}M 644 inline src/lib.rs\n{}",
        blob("base"),
        blob(&source("core", 3))
    );
    for n in 1..=pulls {
        stream.push_str(&format!(
            "commit refs/pull/{n}/head\nmark :{}\ncommitter B <b@example.com> 1700000001 +0000\n{}from :1\nM 644 inline src/pull_{n}.rs\n{}",
            n + 1,
            blob("change"),
            blob(&source(&format!("p{n}"), 4))
        ));
    }
    let marks = dir.join("marks");
    let mut child = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["fast-import", "--quiet"])
        .arg(format!("--export-marks={}", marks.display()))
        .stdin(Stdio::piped())
        .spawn()?;
    child.stdin.take().context("stdin")?.write_all(stream.as_bytes())?;
    anyhow::ensure!(child.wait()?.success(), "git fast-import failed");
    let shas: Vec<String> =
        std::fs::read_to_string(&marks)?.lines().map(|l| l.split(' ').nth(1).unwrap_or("").to_string()).collect();
    Ok((shas[0].clone(), shas[1..].to_vec()))
}

async fn empty_tables(url: &str) -> Result<()> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    client.batch_execute("TRUNCATE precis_jobs, precis_deliveries, precis_turns").await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let value = |name: &str| args.iter().position(|a| a == name).and_then(|at| args.get(at + 1)).cloned();
    let url = value("--database-url").context("--database-url postgres://... is required")?;
    let jobs: u64 = value("--jobs").map(|v| v.parse()).transpose()?.unwrap_or(300);
    let model_ms: u64 = value("--model-ms").map(|v| v.parse()).transpose()?.unwrap_or(0);
    let replicas: Vec<usize> = value("--replicas")
        .unwrap_or_else(|| "1,3".into())
        .split(',')
        .map(|v| v.trim().parse())
        .collect::<Result<_, _>>()?;
    let key = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/test-app-key.pem"))?;
    let work = tempfile::tempdir()?;
    let installations = 5u64;
    let per_installation = jobs.div_ceil(installations);
    let mut repos = Vec::new();
    for installation in 1..=installations {
        // Laid out as the App's git host: OWNER/NAME.git.
        let dir = work.path().join("git").join(format!("org{installation}")).join("repo.git");
        let (base, heads) = repository(&dir, per_installation)?;
        repos.push((installation, base, heads));
    }
    let git = GitHost::parse(&format!("file://{}", work.path().join("git").display()))?;
    let fake = fake_github::FakeGitHub::start().await;
    let mut rates = Vec::new();
    for &count in &replicas {
        let seed: Arc<dyn JobQueue> = Arc::new(PgQueue::connect(&url, Policy::default())?);
        empty_tables(&url).await?;
        let mut queued = 0;
        'fill: for n in 0..per_installation {
            for (installation, base, heads) in &repos {
                if queued == jobs {
                    break 'fill;
                }
                let repo = RepoRef {
                    repo: RepoName { owner: format!("org{installation}"), name: "repo".into() },
                    installation_id: Some(*installation),
                };
                let spec = JobSpec::PullRequest {
                    repo,
                    number: PullNumber(n + 1),
                    head_sha: heads[n as usize].as_str().into(),
                    base_sha: base.as_str().into(),
                    draft: false,
                };
                let (queue, id) = (seed.clone(), format!("{count}-{installation}-{n}"));
                tokio::task::spawn_blocking(move || queue.accept(&id, "pull_request", Some(&spec))).await??;
                queued += 1;
            }
        }
        let started = Instant::now();
        let mut running = Vec::new();
        for replica in 0..count {
            let queue: Arc<dyn JobQueue> = Arc::new(PgQueue::connect(&url, Policy::default())?);
            let data = work.path().join(format!("round{count}-replica{replica}"));
            let mut settings = ServeSettings::new(queue, data, &fake.url, git.clone());
            settings.role = Role::Worker;
            settings.app = Some(AppCredentials::new(1, &key)?);
            settings.github_timing = Some((Duration::ZERO, Duration::from_millis(50), Duration::from_secs(1)));
            let summarizer = Summarizer::new(
                Arc::new(FakeSource { delay: Duration::from_millis(model_ms), ..FakeSource::new("fake-default") }),
                None,
                Progress::hidden(),
            );
            let worker = App::build(settings, Some(summarizer))?.worker.context("a worker")?;
            running.push(tokio::spawn(async move { worker.run_until_idle().await }));
        }
        for task in running {
            task.await??;
        }
        let wall = started.elapsed();
        let counts = tokio::task::spawn_blocking(move || seed.counts()).await??;
        anyhow::ensure!(counts.done == jobs && counts.failed == 0, "not every job was done: {counts:?}");
        let rate = jobs as f64 / wall.as_secs_f64();
        println!(
            "{count} replica(s): {jobs} jobs in {:.1} s = {rate:.1} jobs/s (fake model, {model_ms} ms per prompt)",
            wall.as_secs_f64()
        );
        rates.push((count, rate));
    }
    if let (Some(first), Some(last)) = (rates.first(), rates.last()) {
        println!("{} vs {} replica(s): {:.2}x", last.0, first.0, last.1 / first.1);
    }
    Ok(())
}
