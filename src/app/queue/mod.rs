//! Durable jobs: a delivery answered 202 is stored before the answer, and
//! survives a crash or restart. The queue is a small trait with two
//! backends: SQLite in the data folder (the default, one process) and
//! PostgreSQL (`PRECIS_DATABASE_URL`, for several replicas).
//!
//! The same rules hold on both:
//! - a delivery id is accepted once; a newer job for the same pull request
//!   (or branch) supersedes a queued older one;
//! - one job per pull request runs at a time, and at most
//!   [`Policy::per_installation`] per installation;
//! - a claim is a lease: this queue object renews it ([`JobQueue::heartbeat`])
//!   while the job runs; a job whose lease ran out (its process died, or lost
//!   the database for too long) is claimed again, with its attempt counted;
//! - claims go round-robin across installations, then oldest first;
//! - `finish`, `retry` and `release` act only on a job this queue object
//!   still holds.

mod postgres;
mod sqlite;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Result;
use prometheus_client::metrics::counter::Counter;
use serde::{Deserialize, Serialize};

use crate::github::{CommitId, PullNumber, RepoName};

pub use postgres::PgQueue;
pub use sqlite::SqliteQueue;

/// A repository as the jobs need it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoRef {
    #[serde(flatten)]
    pub repo: RepoName,
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
    /// a queued older one, and only one of them runs at a time.
    pub fn key(&self) -> String {
        match self {
            JobSpec::PullRequest { repo, number, .. } | JobSpec::Rerun { repo, number, .. } => {
                format!("{}#{number}", repo.full_name())
            }
            JobSpec::Help { repo, number, .. } => format!("{}#{number}/help", repo.full_name()),
            JobSpec::Push { repo, branch, .. } => format!("{}@{branch}", repo.full_name()),
        }
    }

    /// Whether the job replaces queued jobs of its key. A user's command does
    /// not: its author's permission is checked only when it runs, and a
    /// reader's command must not drop the pull request's queued summary.
    pub fn supersedes(&self) -> bool {
        !matches!(self, JobSpec::Rerun { requested_by: Some(_), .. })
    }

    /// The commit the job summarizes, when the job names it (a rerun looks it up).
    pub fn head(&self) -> Option<&CommitId> {
        match self {
            JobSpec::PullRequest { head_sha, .. } => Some(head_sha),
            JobSpec::Push { after, .. } => Some(after),
            JobSpec::Rerun { .. } | JobSpec::Help { .. } => None,
        }
    }

    pub fn repo(&self) -> &RepoRef {
        match self {
            JobSpec::PullRequest { repo, .. }
            | JobSpec::Rerun { repo, .. }
            | JobSpec::Help { repo, .. }
            | JobSpec::Push { repo, .. } => repo,
        }
    }

    /// The installation the job is fair-shared under (0: none).
    pub fn installation(&self) -> i64 {
        self.repo().installation_id.unwrap_or(0) as i64
    }
}

/// A job's number in its queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub i64);

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl rusqlite::ToSql for JobId {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        self.0.to_sql()
    }
}

impl rusqlite::types::FromSql for JobId {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<JobId> {
        i64::column_result(value).map(JobId)
    }
}

impl tokio_postgres::types::ToSql for JobId {
    fn to_sql(
        &self,
        ty: &tokio_postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        self.0.to_sql(ty, out)
    }

    fn accepts(ty: &tokio_postgres::types::Type) -> bool {
        <i64 as tokio_postgres::types::ToSql>::accepts(ty)
    }

    tokio_postgres::types::to_sql_checked!();
}

impl<'a> tokio_postgres::types::FromSql<'a> for JobId {
    fn from_sql(
        ty: &tokio_postgres::types::Type,
        raw: &'a [u8],
    ) -> Result<JobId, Box<dyn std::error::Error + Sync + Send>> {
        i64::from_sql(ty, raw).map(JobId)
    }

    fn accepts(ty: &tokio_postgres::types::Type) -> bool {
        <i64 as tokio_postgres::types::FromSql>::accepts(ty)
    }
}

#[derive(Clone, Debug)]
pub struct Job {
    pub id: JobId,
    pub delivery: String,
    pub spec: JobSpec,
    /// Claims so far, this one included: above [`Policy::max_attempts`] the
    /// worker gives the job up instead of running it.
    pub attempts: u32,
    /// The check run this job already created, if any: a rerun reuses it.
    pub check_run_id: Option<u64>,
    /// Why the previous attempt failed, if it did.
    pub last_error: Option<Failure>,
}

/// Why an attempt failed: its kind (the give-up reason a check run shows
/// says it) and the error, for the operator's log and the database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
}

/// What an attempt failed on, as both backends store it (by these names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::Display, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "lowercase")]
pub enum FailureKind {
    /// GitHub: unreachable, a 5xx, a rate limit or a refusal.
    GitHub,
    /// Fetching the repository (git).
    Fetch,
    /// Anything else: the settings, the model, the summary.
    Other,
}

impl Failure {
    /// `err` with its kind read from its causes.
    pub fn of(err: &anyhow::Error) -> Failure {
        let kind = err
            .chain()
            .find_map(|cause| {
                if cause.is::<crate::github::GitHubError>() {
                    Some(FailureKind::GitHub)
                } else if cause.is::<git2::Error>() {
                    Some(FailureKind::Fetch)
                } else {
                    None
                }
            })
            .unwrap_or(FailureKind::Other);
        Failure { kind, message: format!("{err:#}") }
    }

    /// A failure as stored: a kind no longer known reads as
    /// [`FailureKind::Other`] (an older precis's rows got theirs in the migration).
    pub(super) fn stored(kind: Option<String>, message: Option<String>) -> Option<Failure> {
        let kind = kind.and_then(|k| k.parse().ok()).unwrap_or(FailureKind::Other);
        message.map(|message| Failure { kind, message })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accepted {
    Queued(JobId),
    /// This delivery id was accepted before: nothing new happens.
    Duplicate,
    /// Accepted and recorded; no job (an ignored event or an installation).
    Recorded,
}

/// A job's state, as both backends store it (by these names).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, strum::Display, strum::EnumString, strum::IntoStaticStr, strum::EnumIter,
)]
#[strum(serialize_all = "lowercase")]
pub enum JobState {
    Queued,
    Running,
    Done,
    Failed,
    Superseded,
}

/// Where a queue keeps its jobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::Display)]
#[strum(serialize_all = "lowercase")]
pub enum Backend {
    /// One file in the data folder: one process.
    Sqlite,
    /// A server the web and worker replicas share.
    Postgres,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub queued: u64,
    pub running: u64,
    pub done: u64,
    pub failed: u64,
    pub superseded: u64,
    pub deliveries: u64,
    /// Queued and running jobs by installation (0: none).
    pub by_installation: HashMap<i64, (u64, u64)>,
}

impl Counts {
    /// Jobs in `state`.
    pub fn of(&self, state: JobState) -> u64 {
        let mut counts = Counts { by_installation: HashMap::new(), ..*self };
        *counts.of_mut(state)
    }

    fn of_mut(&mut self, state: JobState) -> &mut u64 {
        match state {
            JobState::Queued => &mut self.queued,
            JobState::Running => &mut self.running,
            JobState::Done => &mut self.done,
            JobState::Failed => &mut self.failed,
            JobState::Superseded => &mut self.superseded,
        }
    }

    /// One stored count by its name: a [`JobState`]'s, or `deliveries`; another is ignored.
    pub(super) fn record(&mut self, name: &str, n: u64) {
        match name.parse::<JobState>() {
            Ok(state) => *self.of_mut(state) = n,
            Err(_) if name == "deliveries" => self.deliveries = n,
            Err(_) => {}
        }
    }
}

/// How the queue hands out work (the `--lease-seconds`, `--max-attempts`,
/// `--per-installation` and `--retention-days` settings).
#[derive(Clone, Debug)]
pub struct Policy {
    /// How long a claim lasts without a heartbeat.
    pub lease: Duration,
    /// Claims of one job before it is given up (a crash, a lost lease or a
    /// transient error each use one).
    pub max_attempts: u32,
    /// Jobs of one installation running at once, across every replica (0: no cap).
    pub per_installation: u32,
    /// Deliveries and finished jobs older than this are pruned.
    pub retention: Duration,
    /// The first retry of a transient failure waits this long; each next one twice as long.
    pub retry_after: Duration,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            lease: Duration::from_secs(60),
            max_attempts: 3,
            per_installation: 0,
            retention: Duration::from_secs(7 * 24 * 3600),
            retry_after: Duration::from_secs(15),
        }
    }
}

impl Policy {
    /// The wait before retry number `attempt` (1-based): doubling, at most 10 minutes.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(16));
        (self.retry_after * factor).min(Duration::from_secs(600))
    }
}

/// What a queue object did, for /metrics (these are this replica's counts).
#[derive(Clone, Default)]
pub struct QueueStats {
    /// Jobs claimed.
    pub claimed: Counter,
    /// Jobs taken back from a claim whose lease ran out.
    pub leases_expired: Counter,
    /// Jobs this replica held whose lease another replica took.
    pub leases_lost: Counter,
    /// Transient failures sent back to the queue to run again later.
    pub retried: Counter,
    /// Jobs given up after their last attempt.
    pub gave_up: Counter,
}

/// The jobs a queue object holds, with their lease names: the same
/// bookkeeping for every backend.
#[derive(Default)]
pub(super) struct Leases(Mutex<HashMap<JobId, String>>);

impl Leases {
    /// The map, even after a panic elsewhere held its lock (it stays consistent).
    fn map(&self) -> MutexGuard<'_, HashMap<JobId, String>> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn hold(&self, job: JobId, lease: String) {
        self.map().insert(job, lease);
    }

    pub(super) fn lease(&self, job: JobId) -> Option<String> {
        self.map().get(&job).cloned()
    }

    pub(super) fn let_go(&self, job: JobId) {
        self.map().remove(&job);
    }

    pub(super) fn clear(&self) {
        self.map().clear();
    }

    pub(super) fn jobs(&self) -> Vec<JobId> {
        self.map().keys().copied().collect()
    }

    /// Every held job with its lease, for a heartbeat.
    pub(super) fn all(&self) -> Vec<(JobId, String)> {
        self.map().iter().map(|(id, lease)| (*id, lease.clone())).collect()
    }

    /// Lets go of jobs whose lease another replica took, counting and saying so.
    pub(super) fn lost(&self, lost: &[JobId], stats: &QueueStats) {
        for job in lost {
            self.let_go(*job);
            stats.leases_lost.inc();
            tracing::warn!("job {job}: its lease ran out and another worker took it");
        }
    }
}

/// What pruning removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    pub deliveries: u64,
    pub jobs: u64,
}

pub trait JobQueue: Send + Sync {
    /// Records a delivery and, when it asks for work, its job, atomically.
    fn accept(&self, delivery: &str, event: &str, job: Option<&JobSpec>) -> Result<Accepted>;
    /// The next job to run, now held by this queue object under a lease:
    /// queued, due, no job of its key running, its installation under the
    /// cap; the installation claimed from longest ago first, then oldest.
    /// Jobs whose lease ran out go back to the queue first.
    fn claim(&self) -> Result<Option<Job>>;
    fn set_check_run(&self, job: JobId, check_run_id: u64) -> Result<()>;
    /// Superseded jobs of `key` whose check run is still open: (job, check run).
    fn superseded_checks(&self, key: &str) -> Result<Vec<(JobId, u64)>>;
    /// Forgets a job's check run once it is completed (a superseded job's).
    fn forget_check_run(&self, job: JobId) -> Result<()>;
    /// Done (`None`) or failed for good; `false` when this queue object no
    /// longer held the job (its lease ran out and another took it).
    fn finish(&self, job: JobId, error: Option<&Failure>) -> Result<bool>;
    /// Back to the queue after a transient failure, due again after `after`
    /// (superseded instead, when a newer job of its key is queued).
    fn retry(&self, job: JobId, error: &Failure, after: Duration) -> Result<bool>;
    /// Back to the queue now, its attempt not counted against it (a shutdown interrupted it).
    fn release(&self, job: JobId) -> Result<bool>;
    /// Every job this queue object holds back to the queue (a graceful stop); returns how many.
    fn release_held(&self) -> Result<usize> {
        let mut released = 0;
        for job in self.held() {
            released += self.release(job)? as usize;
        }
        Ok(released)
    }
    /// Renews the lease of every job this queue object holds; returns the
    /// jobs whose lease was lost.
    fn heartbeat(&self) -> Result<Vec<JobId>>;
    /// Jobs this queue object holds.
    fn held(&self) -> Vec<JobId>;
    /// Jobs whose claim cannot be running any more go back to the queue;
    /// returns how many. SQLite (one process owns the file): every running
    /// job, at start. PostgreSQL: the jobs whose lease ran out.
    fn recover(&self) -> Result<usize>;
    /// Cheap counts (no scan of every job under the queue's lock).
    fn counts(&self) -> Result<Counts>;
    fn record_installation(
        &self,
        installation_id: u64,
        account: &str,
        action: &str,
        repositories: &[String],
    ) -> Result<()>;
    /// Removes deliveries and finished (done, failed, superseded) jobs older than `older_than`.
    fn prune(&self, older_than: Duration) -> Result<Pruned>;
    fn policy(&self) -> &Policy;
    fn stats(&self) -> &QueueStats;
    /// Wakes `wake` when another process queues a job (PostgreSQL
    /// LISTEN/NOTIFY); a no-op where the web side and the workers share the
    /// process.
    fn subscribe(&self, wake: Arc<tokio::sync::Notify>) {
        let _ = wake;
    }
    fn backend(&self) -> Backend;
}

/// A lease holder's name, unique per queue object: host, process, random.
fn owner_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
    format!("{}:{}:{:08x}", if host.is_empty() { "host" } else { &host }, std::process::id(), rand::random::<u32>())
}

/// Opens the queue the settings name: PostgreSQL for a `postgres://` URL,
/// else SQLite in the data folder, locked for this process (a second one on
/// the same folder is refused). Migrations run here.
pub fn open(database_url: Option<&str>, data_dir: &std::path::Path, policy: Policy) -> Result<Arc<dyn JobQueue>> {
    match database_url {
        Some(url) => Ok(Arc::new(PgQueue::connect(url, policy)?)),
        None => Ok(Arc::new(SqliteQueue::open_exclusive(&data_dir.join("jobs.db"), policy)?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let policy = Policy { retry_after: Duration::from_secs(10), ..Policy::default() };
        assert_eq!(policy.backoff(1), Duration::from_secs(10));
        assert_eq!(policy.backoff(3), Duration::from_secs(40));
        assert_eq!(policy.backoff(40), Duration::from_secs(600));
    }
}
