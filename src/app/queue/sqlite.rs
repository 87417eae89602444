//! The default queue: one SQLite file in the data folder, for one process.
//! Deliveries go through a writer thread that commits every waiting one in
//! one transaction (one fsync per group); claims and the rest share one
//! connection; counts come from counters kept by triggers, read on a
//! connection of their own.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::{
    owner_name, Accepted, Backend, Counts, Failure, Job, JobId, JobQueue, JobSpec, JobState, Leases, Policy, Pruned,
    QueueStats,
};

/// A delivery to record, and where its answer goes.
type Acceptance = (String, String, Option<JobSpec>, mpsc::Sender<Result<Accepted, String>>);

pub struct SqliteQueue {
    connection: Mutex<Connection>,
    /// Counts are read here, never under the claiming connection's lock.
    reader: Mutex<Connection>,
    /// Deliveries go to a writer thread that commits all waiting ones in one
    /// transaction: one fsync per group instead of one per delivery.
    acceptances: Mutex<mpsc::Sender<Acceptance>>,
    owner: String,
    claims: AtomicU64,
    /// Jobs held by this queue object, and the lease name each was claimed under.
    held: Leases,
    policy: Policy,
    stats: QueueStats,
    /// The data folder's lock, held while this queue is open (see [`SqliteQueue::open_exclusive`]).
    _owner: Option<std::fs::File>,
}

/// Versioned schema changes, applied in order; `PRAGMA user_version` says
/// how many ran. Version 1 is the schema before leases (a file made by an
/// older precis has its tables and version 0).
const MIGRATIONS: [&str; 3] = [
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
    // Leases, backoff, fairness, and counters kept by triggers. One process
    // owns the file, so a job left running is from a stop: back to the queue.
    "ALTER TABLE jobs ADD COLUMN installation INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
     ALTER TABLE jobs ADD COLUMN lease_until INTEGER;
     ALTER TABLE jobs ADD COLUMN not_before INTEGER NOT NULL DEFAULT 0;
     UPDATE jobs SET installation = COALESCE(json_extract(spec, '$.repo.installation_id'), 0);
     UPDATE jobs SET state = 'queued' WHERE state = 'running';
     CREATE UNIQUE INDEX jobs_one_running_per_key ON jobs (key) WHERE state = 'running';
     CREATE INDEX jobs_key ON jobs (key, state);
     CREATE INDEX jobs_installation ON jobs (installation, state);
     CREATE INDEX jobs_finished ON jobs (updated_at) WHERE state IN ('done', 'failed', 'superseded');
     CREATE INDEX deliveries_received ON deliveries (received_at);
     CREATE TABLE installation_turns (installation INTEGER PRIMARY KEY, turn INTEGER NOT NULL);
     CREATE TABLE queue_counts (name TEXT PRIMARY KEY, n INTEGER NOT NULL);
     INSERT INTO queue_counts (name, n) VALUES ('queued', 0), ('running', 0), ('done', 0), ('failed', 0), ('superseded', 0), ('deliveries', 0);
     UPDATE queue_counts SET n = (SELECT COUNT(*) FROM jobs WHERE state = queue_counts.name) WHERE name <> 'deliveries';
     UPDATE queue_counts SET n = (SELECT COUNT(*) FROM deliveries) WHERE name = 'deliveries';
     CREATE TRIGGER jobs_counted_insert AFTER INSERT ON jobs BEGIN
         UPDATE queue_counts SET n = n + 1 WHERE name = NEW.state; END;
     CREATE TRIGGER jobs_counted_update AFTER UPDATE OF state ON jobs WHEN OLD.state <> NEW.state BEGIN
         UPDATE queue_counts SET n = n - 1 WHERE name = OLD.state;
         UPDATE queue_counts SET n = n + 1 WHERE name = NEW.state; END;
     CREATE TRIGGER jobs_counted_delete AFTER DELETE ON jobs BEGIN
         UPDATE queue_counts SET n = n - 1 WHERE name = OLD.state; END;
     CREATE TRIGGER deliveries_counted_insert AFTER INSERT ON deliveries BEGIN
         UPDATE queue_counts SET n = n + 1 WHERE name = 'deliveries'; END;
     CREATE TRIGGER deliveries_counted_delete AFTER DELETE ON deliveries BEGIN
         UPDATE queue_counts SET n = n - 1 WHERE name = 'deliveries'; END;",
    // What the last attempt failed on (a FailureKind); an older precis's rows by their text.
    "ALTER TABLE jobs ADD COLUMN error_kind TEXT;
     UPDATE jobs SET error_kind = CASE WHEN error LIKE '%GitHub%' THEN 'github' ELSE 'other' END WHERE error IS NOT NULL;",
];

fn connect(path: &Path) -> Result<Connection> {
    let connection = Connection::open(path)
        .with_context(|| format!("cannot open the job database {}; check PRECIS_DATA_DIR", path.display()))?;
    connection.busy_timeout(Duration::from_secs(5))?;
    // Committed means on disk: an answered delivery survives a crash or a power loss.
    connection.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")?;
    Ok(connection)
}

fn migrate(connection: &mut Connection) -> Result<()> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Exclusive)?;
    let version: usize = transaction.query_row("PRAGMA user_version", [], |row| row.get::<_, i64>(0))? as usize;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        transaction
            .execute_batch(sql)
            .with_context(|| format!("cannot bring the job database to version {}", index + 1))?;
        transaction.execute_batch(&format!("PRAGMA user_version = {}", index + 1))?;
    }
    transaction.commit()?;
    Ok(())
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Records one delivery (and its job) inside an open transaction.
fn accept_in(
    transaction: &rusqlite::Transaction<'_>,
    delivery: &str,
    event: &str,
    job: Option<&JobSpec>,
) -> Result<Accepted> {
    let inserted = transaction
        .execute("INSERT OR IGNORE INTO deliveries (id, event) VALUES (?1, ?2)", params![delivery, event])?;
    if inserted == 0 {
        return Ok(Accepted::Duplicate);
    }
    let Some(spec) = job else { return Ok(Accepted::Recorded) };
    let key = spec.key();
    if spec.supersedes() {
        transaction.execute(
            "UPDATE jobs SET state = 'superseded', updated_at = CURRENT_TIMESTAMP WHERE key = ?1 AND state = 'queued'",
            params![key],
        )?;
    }
    transaction.execute(
        "INSERT INTO jobs (delivery, key, spec, state, installation) VALUES (?1, ?2, ?3, 'queued', ?4)",
        params![delivery, key, serde_json::to_string(spec)?, spec.installation()],
    )?;
    Ok(Accepted::Queued(JobId(transaction.last_insert_rowid())))
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

type Row = (JobId, String, String, u32, Option<i64>, Option<String>, Option<String>, i64);

impl SqliteQueue {
    /// The queue in `path` with the default [`Policy`].
    pub fn open(path: &Path) -> Result<SqliteQueue> {
        SqliteQueue::open_with(path, Policy::default())
    }

    /// The queue in `path` for this process alone, as `precis serve` opens
    /// it: it takes over every job left running there ([`JobQueue::recover`]),
    /// so a second process on the same file is refused while the first runs.
    pub fn open_exclusive(path: &Path, policy: Policy) -> Result<SqliteQueue> {
        use fs4::fs_std::FileExt;
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create the data folder {}", dir.display()))?;
        let lock = path.with_extension("lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock)
            .with_context(|| format!("cannot open {}", lock.display()))?;
        if !file.try_lock_exclusive().with_context(|| format!("cannot lock {}", lock.display()))? {
            anyhow::bail!(
                "another precis serve uses the data folder {} (it holds {}); stop it, give this one its own PRECIS_DATA_DIR, or run replicas on PostgreSQL (PRECIS_DATABASE_URL)",
                dir.display(),
                lock.display()
            );
        }
        Ok(SqliteQueue { _owner: Some(file), ..SqliteQueue::open_with(path, policy)? })
    }

    /// The queue in `path`, without the data folder's lock (tests open
    /// several on one file, standing for replicas).
    pub fn open_with(path: &Path, policy: Policy) -> Result<SqliteQueue> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create the data folder {}", dir.display()))?;
        }
        let mut connection = connect(path)?;
        migrate(&mut connection)?;
        let (acceptances, incoming) = mpsc::channel();
        let writer = connect(path)?;
        std::thread::Builder::new()
            .name("precis-queue".into())
            .spawn(move || write_acceptances(writer, incoming))
            .context("cannot start the queue's writer thread")?;
        Ok(SqliteQueue {
            connection: Mutex::new(connection),
            reader: Mutex::new(connect(path)?),
            acceptances: Mutex::new(acceptances),
            owner: owner_name(),
            claims: AtomicU64::new(0),
            held: Leases::default(),
            policy,
            stats: QueueStats::default(),
            _owner: None,
        })
    }

    fn connection(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (transactions roll back).
        self.connection.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `change` on a job this object holds (with its lease name); the
    /// job is let go when the change ran or the lease was found lost.
    fn on_held(&self, job: JobId, change: impl FnOnce(&Connection, &str) -> rusqlite::Result<usize>) -> Result<bool> {
        let Some(lease) = self.held.lease(job) else { return Ok(false) };
        let changed = change(&self.connection(), &lease)?;
        self.held.let_go(job);
        if changed == 0 {
            self.stats.leases_lost.inc();
            tracing::warn!("job {job}: its lease ran out and another worker took it");
        }
        Ok(changed > 0)
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
        let now = now_ms();
        let lease = format!("{}:{}", self.owner, self.claims.fetch_add(1, Ordering::Relaxed));
        let mut connection = self.connection();
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let expired = transaction.execute(
            "UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_until = NULL, updated_at = CURRENT_TIMESTAMP
             WHERE state = 'running' AND lease_until < ?1",
            params![now],
        )?;
        if expired > 0 {
            self.stats.leases_expired.inc_by(expired as u64);
            tracing::warn!("{expired} job(s) whose lease ran out go back to the queue");
        }
        let row: Option<Row> = transaction
            .query_row(
                "SELECT j.id, j.delivery, j.spec, j.attempts, j.check_run_id, j.error, j.error_kind, j.installation
                 FROM jobs j LEFT JOIN installation_turns t ON t.installation = j.installation
                 WHERE j.state = 'queued' AND j.not_before <= ?1
                   AND NOT EXISTS (SELECT 1 FROM jobs r WHERE r.state = 'running' AND r.key = j.key)
                   AND (?2 = 0 OR (SELECT COUNT(*) FROM jobs r WHERE r.state = 'running' AND r.installation = j.installation) < ?2)
                 ORDER BY COALESCE(t.turn, 0), j.id LIMIT 1",
                params![now, self.policy.per_installation],
                |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                        row.get(5)?,
                        row.get(6)?,
                        row.get(7)?,
                    ))
                },
            )
            .optional()?;
        let Some((id, delivery, spec, attempts, check_run_id, error, error_kind, installation)) = row else {
            transaction.commit()?;
            return Ok(None);
        };
        transaction.execute(
            "INSERT INTO installation_turns (installation, turn) VALUES (?1, (SELECT COALESCE(MAX(turn), 0) + 1 FROM installation_turns))
             ON CONFLICT (installation) DO UPDATE SET turn = excluded.turn",
            params![installation],
        )?;
        transaction.execute(
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = ?2, lease_until = ?3, updated_at = CURRENT_TIMESTAMP
             WHERE id = ?1",
            params![id, lease, now + self.policy.lease.as_millis() as i64],
        )?;
        transaction.commit()?;
        drop(connection);
        self.held.hold(id, lease);
        self.stats.claimed.inc();
        let spec = serde_json::from_str(&spec).with_context(|| format!("job {id} is unreadable"))?;
        Ok(Some(Job {
            id,
            delivery,
            spec,
            attempts: attempts + 1,
            check_run_id: check_run_id.map(|i| i as u64),
            last_error: Failure::stored(error_kind, error),
        }))
    }

    fn set_check_run(&self, job: JobId, check_run_id: u64) -> Result<()> {
        self.connection()
            .execute("UPDATE jobs SET check_run_id = ?2 WHERE id = ?1", params![job, check_run_id as i64])?;
        Ok(())
    }

    fn superseded_checks(&self, key: &str) -> Result<Vec<(JobId, u64)>> {
        let connection = self.connection();
        let mut statement = connection.prepare_cached(
            "SELECT id, check_run_id FROM jobs WHERE key = ?1 AND state = 'superseded' AND check_run_id IS NOT NULL",
        )?;
        let rows =
            statement.query_map(params![key], |row| Ok((row.get::<_, JobId>(0)?, row.get::<_, i64>(1)? as u64)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn forget_check_run(&self, job: JobId) -> Result<()> {
        self.connection().execute("UPDATE jobs SET check_run_id = NULL WHERE id = ?1", params![job])?;
        Ok(())
    }

    fn finish(&self, job: JobId, error: Option<&Failure>) -> Result<bool> {
        let state: &str = if error.is_some() { JobState::Failed } else { JobState::Done }.into();
        let (message, kind) = (error.map(|e| &e.message), error.map(|e| -> &str { e.kind.into() }));
        self.on_held(job, |connection, lease| {
            connection.execute(
                "UPDATE jobs SET state = ?2, error = ?3, error_kind = ?5, lease_owner = NULL, lease_until = NULL, updated_at = CURRENT_TIMESTAMP
                 WHERE id = ?1 AND lease_owner = ?4 AND state = 'running'",
                params![job, state, message, lease, kind],
            )
        })
    }

    fn retry(&self, job: JobId, error: &Failure, after: Duration) -> Result<bool> {
        let due = now_ms() + after.as_millis() as i64;
        let kind: &str = error.kind.into();
        self.on_held(job, |connection, lease| {
            connection.execute(
                "UPDATE jobs SET error = ?2, error_kind = ?5, not_before = ?3, lease_owner = NULL, lease_until = NULL, updated_at = CURRENT_TIMESTAMP,
                     state = CASE WHEN EXISTS (SELECT 1 FROM jobs n WHERE n.key = jobs.key AND n.state = 'queued' AND n.id > jobs.id)
                                  THEN 'superseded' ELSE 'queued' END
                 WHERE id = ?1 AND lease_owner = ?4 AND state = 'running'",
                params![job, error.message, due, lease, kind],
            )
        })
    }

    fn release(&self, job: JobId) -> Result<bool> {
        self.on_held(job, |connection, lease| {
            connection.execute(
                "UPDATE jobs SET state = 'queued', attempts = MAX(attempts - 1, 0), lease_owner = NULL, lease_until = NULL,
                     updated_at = CURRENT_TIMESTAMP
                 WHERE id = ?1 AND lease_owner = ?2 AND state = 'running'",
                params![job, lease],
            )
        })
    }

    fn heartbeat(&self) -> Result<Vec<JobId>> {
        let held = self.held.all();
        let until = now_ms() + self.policy.lease.as_millis() as i64;
        let mut lost = Vec::new();
        let connection = self.connection();
        for (job, lease) in held {
            let renewed = connection.execute(
                "UPDATE jobs SET lease_until = ?3 WHERE id = ?1 AND lease_owner = ?2 AND state = 'running'",
                params![job, lease, until],
            )?;
            if renewed == 0 {
                lost.push(job);
            }
        }
        drop(connection);
        self.held.lost(&lost, &self.stats);
        Ok(lost)
    }

    fn held(&self) -> Vec<JobId> {
        self.held.jobs()
    }

    fn recover(&self) -> Result<usize> {
        let recovered = self.connection().execute(
            "UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_until = NULL, updated_at = CURRENT_TIMESTAMP WHERE state = 'running'",
            [],
        )?;
        self.held.clear();
        Ok(recovered)
    }

    fn counts(&self) -> Result<Counts> {
        let reader = self.reader.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut counts = Counts::default();
        let mut statement = reader.prepare_cached("SELECT name, n FROM queue_counts")?;
        let rows =
            statement.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?.max(0) as u64)))?;
        for row in rows {
            let (name, n) = row?;
            counts.record(&name, n);
        }
        let mut statement = reader.prepare_cached(
            "SELECT installation, SUM(state = 'queued'), SUM(state = 'running') FROM jobs
             WHERE state IN ('queued', 'running') GROUP BY installation",
        )?;
        let rows = statement.query_map([], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)? as u64, row.get::<_, i64>(2)? as u64))
        })?;
        for row in rows {
            let (installation, queued, running) = row?;
            counts.by_installation.insert(installation, (queued, running));
        }
        Ok(counts)
    }

    fn record_installation(
        &self,
        installation_id: u64,
        account: &str,
        action: &str,
        repositories: &[String],
    ) -> Result<()> {
        self.connection().execute(
            "INSERT INTO installations (id, account, action, repositories) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (id) DO UPDATE SET account = ?2, action = ?3, repositories = ?4, updated_at = CURRENT_TIMESTAMP",
            params![installation_id as i64, account, action, serde_json::to_string(repositories)?],
        )?;
        Ok(())
    }

    fn prune(&self, older_than: Duration) -> Result<Pruned> {
        let cutoff = format!("-{} seconds", older_than.as_secs());
        let connection = self.connection();
        let deliveries =
            connection.execute("DELETE FROM deliveries WHERE received_at < datetime('now', ?1)", params![cutoff])?;
        let jobs = connection.execute(
            "DELETE FROM jobs WHERE state IN ('done', 'failed', 'superseded') AND updated_at < datetime('now', ?1)",
            params![cutoff],
        )?;
        Ok(Pruned { deliveries: deliveries as u64, jobs: jobs as u64 })
    }

    fn policy(&self) -> &Policy {
        &self.policy
    }

    fn stats(&self) -> &QueueStats {
        &self.stats
    }

    fn backend(&self) -> Backend {
        Backend::Sqlite
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::queue::{FailureKind, RepoRef};
    use crate::github::{PullNumber, RepoName};

    fn repo() -> RepoRef {
        RepoRef { repo: RepoName { owner: "o".into(), name: "r".into() }, installation_id: Some(1) }
    }

    fn pr(head: &str) -> JobSpec {
        JobSpec::PullRequest {
            repo: repo(),
            number: PullNumber(7),
            head_sha: head.into(),
            base_sha: "b".into(),
            draft: false,
        }
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
        assert!(queue.claim().unwrap().is_none(), "its lease still runs");
        assert_eq!(queue.recover().unwrap(), 1);
        let job = queue.claim().unwrap().unwrap();
        assert_eq!((job.attempts, job.check_run_id), (2, Some(42)));
    }

    /// A file written by the precis before leases opens, and its jobs carry
    /// on; the error an older precis recorded keeps its kind.
    #[test]
    fn an_older_database_is_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs.db");
        {
            let connection = Connection::open(&path).unwrap();
            connection.execute_batch(MIGRATIONS[0]).unwrap();
            connection
                .execute(
                    "INSERT INTO jobs (delivery, key, spec, state, attempts, error) VALUES ('d1', ?1, ?2, 'running', 1, 'GitHub answered 502')",
                    params![pr("h1").key(), serde_json::to_string(&pr("h1")).unwrap()],
                )
                .unwrap();
            connection.execute("INSERT INTO deliveries (id, event) VALUES ('d1', 'pull_request')", []).unwrap();
        }
        let queue = SqliteQueue::open(&path).unwrap();
        let counts = queue.counts().unwrap();
        assert_eq!((counts.queued, counts.running, counts.deliveries), (1, 0, 1));
        assert_eq!(counts.by_installation.get(&1), Some(&(1, 0)));
        let job = queue.claim().unwrap().unwrap();
        assert_eq!((job.spec, job.attempts), (pr("h1"), 2));
        let failure = Failure { kind: FailureKind::GitHub, message: "GitHub answered 502".into() };
        assert_eq!(job.last_error, Some(failure));
        drop(queue);
        // Opening again changes nothing.
        let queue = SqliteQueue::open(&path).unwrap();
        assert_eq!(queue.counts().unwrap().running, 1);
    }
}
