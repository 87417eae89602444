//! Durable jobs: a delivery answered 202 is on disk before the answer, and
//! survives a crash or restart. The queue is a small trait; SQLite backs it
//! by default (one file in the data folder).

use std::path::Path;
use std::sync::{mpsc, Mutex};

use anyhow::{Context, Result};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::github::{CommitId, PullNumber, RepoName};

/// A repository as the jobs need it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoRef {
    #[serde(flatten)]
    pub repo: RepoName,
    /// Where git fetches from (https; a local path in tests).
    pub clone_url: String,
    /// The App installation that delivered the event (none in Actions).
    pub installation_id: Option<u64>,
}

impl RepoRef {
    pub fn full_name(&self) -> String {
        self.repo.to_string()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobSpec {
    /// Summarize a pull request at a head commit.
    PullRequest { repo: RepoRef, number: PullNumber, head_sha: CommitId, base_sha: CommitId, draft: bool },
    /// Look the pull request up, then summarize it (a comment command or a rerun request).
    Rerun { repo: RepoRef, number: PullNumber, requested_by: Option<String> },
    /// Answer `/precis help` on a pull request.
    Help { repo: RepoRef, number: PullNumber, requested_by: String },
    /// A push to the default branch: a check run on its head commit.
    Push { repo: RepoRef, branch: String, before: CommitId, after: CommitId },
}

impl JobSpec {
    /// Jobs with the same key describe the same thing; a newer one supersedes
    /// a queued older one.
    pub fn key(&self) -> String {
        match self {
            JobSpec::PullRequest { repo, number, .. } | JobSpec::Rerun { repo, number, .. } => {
                format!("{}#{number}", repo.full_name())
            }
            JobSpec::Help { repo, number, .. } => format!("{}#{number}/help", repo.full_name()),
            JobSpec::Push { repo, branch, .. } => format!("{}@{branch}", repo.full_name()),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Job {
    pub id: i64,
    pub delivery: String,
    pub spec: JobSpec,
    pub attempts: u32,
    /// The check run this job already created, if any: a rerun reuses it.
    pub check_run_id: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accepted {
    Queued(i64),
    /// This delivery id was accepted before: nothing new happens.
    Duplicate,
    /// Accepted and recorded; no job (an ignored event or an installation).
    Recorded,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub queued: u64,
    pub running: u64,
    pub done: u64,
    pub failed: u64,
    pub superseded: u64,
    pub deliveries: u64,
}

pub trait JobQueue: Send + Sync {
    /// Records a delivery and, when it asks for work, its job, atomically.
    fn accept(&self, delivery: &str, event: &str, job: Option<&JobSpec>) -> Result<Accepted>;
    /// The oldest queued job whose key has no job running, now running.
    fn claim(&self) -> Result<Option<Job>>;
    fn set_check_run(&self, job: i64, check_run_id: u64) -> Result<()>;
    fn finish(&self, job: i64, error: Option<&str>) -> Result<()>;
    /// Back to the queue (a shutdown interrupted it).
    fn release(&self, job: i64) -> Result<()>;
    /// Jobs left running by a crash go back to the queue; returns how many.
    fn recover(&self) -> Result<usize>;
    fn counts(&self) -> Result<Counts>;
    fn record_installation(&self, installation_id: u64, account: &str, action: &str, repositories: &[String]) -> Result<()>;
}

/// A delivery to record, and where its answer goes.
type Acceptance = (String, String, Option<JobSpec>, mpsc::Sender<Result<Accepted, String>>);

pub struct SqliteQueue {
    connection: Mutex<Connection>,
    /// Deliveries go to a writer thread that commits all waiting ones in one
    /// transaction: one fsync per group instead of one per delivery.
    acceptances: Mutex<mpsc::Sender<Acceptance>>,
}

fn connect(path: &Path) -> Result<Connection> {
    let connection =
        Connection::open(path).with_context(|| format!("cannot open the job database {}; check PRECIS_DATA_DIR", path.display()))?;
    connection.busy_timeout(std::time::Duration::from_secs(5))?;
    // Committed means on disk: an answered delivery survives a crash or a power loss.
    connection.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")?;
    Ok(connection)
}

/// Records one delivery (and its job) inside an open transaction.
fn accept_in(transaction: &rusqlite::Transaction<'_>, delivery: &str, event: &str, job: Option<&JobSpec>) -> Result<Accepted> {
    let inserted = transaction.execute("INSERT OR IGNORE INTO deliveries (id, event) VALUES (?1, ?2)", params![delivery, event])?;
    if inserted == 0 {
        return Ok(Accepted::Duplicate);
    }
    let Some(spec) = job else { return Ok(Accepted::Recorded) };
    let key = spec.key();
    transaction.execute(
        "UPDATE jobs SET state = 'superseded', updated_at = CURRENT_TIMESTAMP WHERE key = ?1 AND state = 'queued'",
        params![key],
    )?;
    transaction.execute(
        "INSERT INTO jobs (delivery, key, spec, state) VALUES (?1, ?2, ?3, 'queued')",
        params![delivery, key, serde_json::to_string(spec)?],
    )?;
    Ok(Accepted::Queued(transaction.last_insert_rowid()))
}

/// The writer thread: waits for a delivery, takes every other one waiting,
/// and commits them together.
fn write_acceptances(mut connection: Connection, incoming: mpsc::Receiver<Acceptance>) {
    while let Ok(first) = incoming.recv() {
        let mut group = vec![first];
        group.extend(incoming.try_iter().take(511));
        let outcome = (|| -> Result<Vec<Accepted>> {
            let transaction = connection.transaction()?;
            let mut accepted = Vec::with_capacity(group.len());
            for (delivery, event, job, _) in &group {
                accepted.push(accept_in(&transaction, delivery, event, job.as_ref())?);
            }
            transaction.commit()?;
            Ok(accepted)
        })();
        match outcome {
            Ok(accepted) => {
                for ((.., reply), accepted) in group.into_iter().zip(accepted) {
                    let _ = reply.send(Ok(accepted));
                }
            }
            Err(e) => {
                for (.., reply) in group {
                    let _ = reply.send(Err(format!("{e:#}")));
                }
            }
        }
    }
}

impl SqliteQueue {
    pub fn open(path: &Path) -> Result<SqliteQueue> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create the data folder {}", dir.display()))?;
        }
        let connection = connect(path)?;
        connection.execute_batch(
            "CREATE TABLE IF NOT EXISTS deliveries (
                 id TEXT PRIMARY KEY, event TEXT NOT NULL, received_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP);
             CREATE TABLE IF NOT EXISTS jobs (
                 id INTEGER PRIMARY KEY AUTOINCREMENT,
                 delivery TEXT NOT NULL,
                 key TEXT NOT NULL,
                 spec TEXT NOT NULL,
                 state TEXT NOT NULL,
                 attempts INTEGER NOT NULL DEFAULT 0,
                 check_run_id INTEGER,
                 error TEXT,
                 updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP);
             CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, id);
             CREATE TABLE IF NOT EXISTS installations (
                 id INTEGER PRIMARY KEY, account TEXT NOT NULL, action TEXT NOT NULL, repositories TEXT NOT NULL,
                 updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP);",
        )?;
        let (acceptances, incoming) = mpsc::channel();
        let writer = connect(path)?;
        std::thread::Builder::new()
            .name("precis-queue".into())
            .spawn(move || write_acceptances(writer, incoming))
            .context("cannot start the queue's writer thread")?;
        Ok(SqliteQueue { connection: Mutex::new(connection), acceptances: Mutex::new(acceptances) })
    }

    fn connection(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (transactions roll back).
        self.connection.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl JobQueue for SqliteQueue {
    fn accept(&self, delivery: &str, event: &str, job: Option<&JobSpec>) -> Result<Accepted> {
        let (reply, answer) = mpsc::channel();
        let acceptance = (delivery.to_string(), event.to_string(), job.cloned(), reply);
        let sent = self.acceptances.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).send(acceptance);
        sent.map_err(|_| anyhow::anyhow!("the queue's writer thread stopped"))?;
        answer
            .recv()
            .map_err(|_| anyhow::anyhow!("the queue's writer thread stopped"))?
            .map_err(|e| anyhow::anyhow!("cannot record delivery {delivery}: {e}"))
    }

    fn claim(&self) -> Result<Option<Job>> {
        let mut connection = self.connection();
        let transaction = connection.transaction()?;
        let row = transaction
            .query_row(
                "SELECT id, delivery, spec, attempts, check_run_id FROM jobs
                 WHERE state = 'queued' AND key NOT IN (SELECT key FROM jobs WHERE state = 'running')
                 ORDER BY id LIMIT 1",
                [],
                |row| {
                    Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?, row.get::<_, u32>(3)?, row.get::<_, Option<i64>>(4)?))
                },
            )
            .optional()?;
        let Some((id, delivery, spec, attempts, check_run_id)) = row else { return Ok(None) };
        transaction.execute(
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, updated_at = CURRENT_TIMESTAMP WHERE id = ?1",
            params![id],
        )?;
        transaction.commit()?;
        let spec = serde_json::from_str(&spec).with_context(|| format!("job {id} is unreadable"))?;
        Ok(Some(Job { id, delivery, spec, attempts: attempts + 1, check_run_id: check_run_id.map(|i| i as u64) }))
    }

    fn set_check_run(&self, job: i64, check_run_id: u64) -> Result<()> {
        self.connection().execute("UPDATE jobs SET check_run_id = ?2 WHERE id = ?1", params![job, check_run_id as i64])?;
        Ok(())
    }

    fn finish(&self, job: i64, error: Option<&str>) -> Result<()> {
        let state = if error.is_some() { "failed" } else { "done" };
        self.connection().execute(
            "UPDATE jobs SET state = ?2, error = ?3, updated_at = CURRENT_TIMESTAMP WHERE id = ?1",
            params![job, state, error],
        )?;
        Ok(())
    }

    fn release(&self, job: i64) -> Result<()> {
        self.connection().execute("UPDATE jobs SET state = 'queued', updated_at = CURRENT_TIMESTAMP WHERE id = ?1", params![job])?;
        Ok(())
    }

    fn recover(&self) -> Result<usize> {
        Ok(self.connection().execute("UPDATE jobs SET state = 'queued', updated_at = CURRENT_TIMESTAMP WHERE state = 'running'", [])?)
    }

    fn counts(&self) -> Result<Counts> {
        let connection = self.connection();
        let mut counts = Counts::default();
        let mut statement = connection.prepare("SELECT state, COUNT(*) FROM jobs GROUP BY state")?;
        let rows = statement.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)? as u64)))?;
        for row in rows {
            let (state, count) = row?;
            match state.as_str() {
                "queued" => counts.queued = count,
                "running" => counts.running = count,
                "done" => counts.done = count,
                "failed" => counts.failed = count,
                "superseded" => counts.superseded = count,
                _ => {}
            }
        }
        counts.deliveries = connection.query_row("SELECT COUNT(*) FROM deliveries", [], |row| row.get::<_, i64>(0))? as u64;
        Ok(counts)
    }

    fn record_installation(&self, installation_id: u64, account: &str, action: &str, repositories: &[String]) -> Result<()> {
        self.connection().execute(
            "INSERT INTO installations (id, account, action, repositories) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (id) DO UPDATE SET account = ?2, action = ?3, repositories = ?4, updated_at = CURRENT_TIMESTAMP",
            params![installation_id as i64, account, action, serde_json::to_string(repositories)?],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> RepoRef {
        RepoRef { repo: RepoName { owner: "o".into(), name: "r".into() }, clone_url: "/x".into(), installation_id: Some(1) }
    }

    fn pr(head: &str) -> JobSpec {
        JobSpec::PullRequest { repo: repo(), number: PullNumber(7), head_sha: head.into(), base_sha: "b".into(), draft: false }
    }

    #[test]
    fn deliveries_are_deduplicated_and_newer_pushes_supersede() {
        let dir = tempfile::tempdir().unwrap();
        let queue = SqliteQueue::open(&dir.path().join("jobs.db")).unwrap();
        assert!(matches!(queue.accept("d1", "pull_request", Some(&pr("h1"))).unwrap(), Accepted::Queued(_)));
        assert_eq!(queue.accept("d1", "pull_request", Some(&pr("h1"))).unwrap(), Accepted::Duplicate);
        assert!(matches!(queue.accept("d2", "pull_request", Some(&pr("h2"))).unwrap(), Accepted::Queued(_)));
        assert_eq!(queue.accept("d3", "ping", None).unwrap(), Accepted::Recorded);
        let counts = queue.counts().unwrap();
        assert_eq!((counts.queued, counts.superseded, counts.deliveries), (1, 1, 3));
        let job = queue.claim().unwrap().unwrap();
        assert_eq!(job.spec, pr("h2"));
        // A job of the same key waits while one runs.
        queue.accept("d4", "pull_request", Some(&pr("h3"))).unwrap();
        assert!(queue.claim().unwrap().is_none());
        queue.finish(job.id, None).unwrap();
        assert_eq!(queue.claim().unwrap().unwrap().spec, pr("h3"));
    }

    #[test]
    fn running_jobs_survive_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs.db");
        {
            let queue = SqliteQueue::open(&path).unwrap();
            queue.accept("d1", "pull_request", Some(&pr("h1"))).unwrap();
            let job = queue.claim().unwrap().unwrap();
            queue.set_check_run(job.id, 42).unwrap();
        }
        let queue = SqliteQueue::open(&path).unwrap();
        assert!(queue.claim().unwrap().is_none());
        assert_eq!(queue.recover().unwrap(), 1);
        let job = queue.claim().unwrap().unwrap();
        assert_eq!((job.attempts, job.check_run_id), (2, Some(42)));
    }
}
