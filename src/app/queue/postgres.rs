//! The queue on PostgreSQL (`PRECIS_DATABASE_URL`), shared by every
//! replica: web replicas accept deliveries, worker replicas claim jobs with
//! `FOR UPDATE SKIP LOCKED` under a lease.
//!
//! The [`JobQueue`] trait is synchronous (its callers run it on blocking
//! threads); this backend runs each call on a small runtime of its own,
//! which also keeps the pool's connections and the LISTEN connection alive.
//! Every call is bounded in time: with the database gone it fails within
//! seconds (the webhook answers 503, a worker waits and tries again).

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::error::SqlState;
use tokio_postgres::{AsyncMessage, NoTls};

use super::{
    owner_name, Accepted, Backend, Counts, Failure, Job, JobId, JobQueue, JobSpec, JobState, Leases, Policy, Pruned,
    QueueStats,
};

/// The longest one queue call may take before it fails.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Connecting (and waiting for a pooled connection) gives up after this.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections in the pool (webhooks and workers of this replica share them).
const POOL_SIZE: usize = 16;
/// The advisory lock migrations run under (any number of replicas may start at once).
const MIGRATION_LOCK: i64 = 0x7072_6563_6973; // "precis"
/// The channel a queued job is announced on.
const CHANNEL: &str = "precis_jobs";

/// Versioned schema changes, applied in order under [`MIGRATION_LOCK`];
/// `precis_schema` records which ran.
const MIGRATIONS: [&str; 2] = [
    "
    CREATE TABLE precis_deliveries (
        id TEXT PRIMARY KEY,
        event TEXT NOT NULL,
        received_at TIMESTAMPTZ NOT NULL DEFAULT now());
    CREATE INDEX precis_deliveries_received ON precis_deliveries (received_at);
    CREATE TABLE precis_jobs (
        id BIGSERIAL PRIMARY KEY,
        delivery TEXT NOT NULL,
        key TEXT NOT NULL,
        installation BIGINT NOT NULL DEFAULT 0,
        spec TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'superseded')),
        attempts INTEGER NOT NULL DEFAULT 0,
        check_run_id BIGINT,
        error TEXT,
        lease_owner TEXT,
        lease_until TIMESTAMPTZ,
        not_before TIMESTAMPTZ NOT NULL DEFAULT now(),
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        updated_at TIMESTAMPTZ NOT NULL DEFAULT now());
    CREATE UNIQUE INDEX precis_jobs_one_running_per_key ON precis_jobs (key) WHERE state = 'running';
    CREATE INDEX precis_jobs_queued ON precis_jobs (installation, id) WHERE state = 'queued';
    CREATE INDEX precis_jobs_running ON precis_jobs (installation, lease_until) WHERE state = 'running';
    CREATE INDEX precis_jobs_key ON precis_jobs (key, state);
    CREATE INDEX precis_jobs_state ON precis_jobs (state);
    CREATE INDEX precis_jobs_finished ON precis_jobs (updated_at) WHERE state IN ('done', 'failed', 'superseded');
    CREATE TABLE precis_installations (
        id BIGINT PRIMARY KEY,
        account TEXT NOT NULL,
        action TEXT NOT NULL,
        repositories TEXT NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL DEFAULT now());
    CREATE TABLE precis_turns (installation BIGINT PRIMARY KEY, turn BIGINT NOT NULL);
    CREATE SEQUENCE precis_turn;
",
    "
    ALTER TABLE precis_jobs ADD COLUMN error_kind TEXT;
    UPDATE precis_jobs SET error_kind = CASE WHEN error LIKE '%GitHub%' THEN 'github' ELSE 'other' END WHERE error IS NOT NULL;
",
];

pub struct PgQueue {
    /// Taken on drop, and shut down without waiting (a drop may happen on an async thread).
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    pool: Pool,
    config: tokio_postgres::Config,
    /// USER@HOST:PORT/DATABASE, for messages (never the password).
    target: String,
    owner: String,
    claims: AtomicU64,
    held: Leases,
    policy: Policy,
    stats: QueueStats,
}

/// An error as one line: its causes joined, newlines flattened.
fn one_line(e: impl Into<anyhow::Error>) -> String {
    format!("{:#}", e.into()).replace('\n', " ")
}

fn describe(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .next()
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().map(|u| format!("{u}@")).unwrap_or_default();
    format!("{user}{host}:{port}/{}", config.get_dbname().unwrap_or(""))
}

impl PgQueue {
    /// Connects, checks the server answers, and brings the schema up to date.
    /// A bad URL or an unreachable server is a one-line error naming
    /// PRECIS_DATABASE_URL.
    pub fn connect(url: &str, policy: Policy) -> Result<PgQueue> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            bail!("PRECIS_DATABASE_URL is not a postgres:// URL; use postgres://USER:PASSWORD@HOST:PORT/DATABASE");
        }
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| anyhow!("PRECIS_DATABASE_URL is not a valid PostgreSQL URL ({}); use postgres://USER:PASSWORD@HOST:PORT/DATABASE", one_line(e)))?;
        if config.get_user().is_none() {
            config.user("postgres");
        }
        config
            .connect_timeout(CONNECT_TIMEOUT)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30))
            .application_name("precis");
        let target = describe(&config);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("precis-postgres")
            .enable_all()
            .build()
            .context("cannot start the database runtime")?;
        let handle = runtime.handle().clone();
        let manager =
            Manager::from_config(config.clone(), NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = {
            let _entered = handle.enter();
            Pool::builder(manager)
                .max_size(POOL_SIZE)
                .runtime(deadpool_postgres::Runtime::Tokio1)
                .wait_timeout(Some(CONNECT_TIMEOUT))
                .create_timeout(Some(CONNECT_TIMEOUT))
                .recycle_timeout(Some(CONNECT_TIMEOUT))
                .build()
                .context("cannot make the database pool")?
        };
        let queue = PgQueue {
            runtime: Some(runtime),
            handle,
            pool,
            config,
            target: target.clone(),
            owner: owner_name(),
            claims: AtomicU64::new(0),
            held: Leases::default(),
            policy,
            stats: QueueStats::default(),
        };
        let pool = queue.pool.clone();
        queue
            .run(async move {
                let mut client = pool.get().await.map_err(|e| anyhow!("{}", one_line(e)))?;
                migrate(&mut client).await
            })
            .map_err(|e| anyhow!("cannot use the database of PRECIS_DATABASE_URL ({target}): {}", one_line(e)))?;
        Ok(queue)
    }

    /// Runs `future` on the queue's runtime and waits for it, at most [`CALL_TIMEOUT`].
    fn run<T: Send + 'static>(&self, future: impl Future<Output = Result<T>> + Send + 'static) -> Result<T> {
        let (answer, outcome) = std::sync::mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let result = match tokio::time::timeout(CALL_TIMEOUT, future).await {
                Ok(result) => result,
                Err(_) => Err(anyhow!("no answer within {} s", CALL_TIMEOUT.as_secs())),
            };
            let _ = answer.send(result);
        });
        outcome
            .recv()
            .map_err(|_| anyhow!("the database runtime stopped"))?
            .with_context(|| format!("the database ({})", self.target))
    }

    /// Runs `sql` (parameters: the job, its lease name, then `extra`) on a
    /// job this object holds; the job is let go when it ran or the lease
    /// was found lost.
    fn on_held(&self, job: JobId, sql: &'static str, extra: Vec<Param>) -> Result<bool> {
        let Some(lease) = self.held.lease(job) else { return Ok(false) };
        let pool = self.pool.clone();
        let changed = self.run(async move {
            let client = pool.get().await?;
            let statement = client.prepare_cached(sql).await?;
            let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&job, &lease];
            for param in &extra {
                params.push(param.as_sql());
            }
            Ok(client.execute(&statement, &params).await?)
        })?;
        self.held.let_go(job);
        if changed == 0 {
            self.stats.leases_lost.inc();
            tracing::warn!("job {job}: its lease ran out and another worker took it");
        }
        Ok(changed > 0)
    }

    /// Jobs whose lease ran out go back to the queue.
    async fn reap(client: &deadpool_postgres::Client) -> Result<u64> {
        let statement = client
            .prepare_cached(
                "UPDATE precis_jobs SET state = 'queued', lease_owner = NULL, lease_until = NULL, updated_at = now()
                 WHERE state = 'running' AND lease_until < now()",
            )
            .await?;
        Ok(client.execute(&statement, &[]).await?)
    }
}

/// A statement parameter of an owned type.
enum Param {
    Text(Option<String>),
    Seconds(f64),
}

impl Param {
    fn as_sql(&self) -> &(dyn tokio_postgres::types::ToSql + Sync) {
        match self {
            Param::Text(text) => text,
            Param::Seconds(seconds) => seconds,
        }
    }
}

impl Drop for PgQueue {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn migrate(client: &mut deadpool_postgres::Client) -> Result<()> {
    let transaction = client.transaction().await?;
    transaction.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
    transaction
        .batch_execute("CREATE TABLE IF NOT EXISTS precis_schema (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
        .await?;
    let current: i32 = transaction.query_one("SELECT COALESCE(MAX(version), 0) FROM precis_schema", &[]).await?.get(0);
    if current as usize > MIGRATIONS.len() {
        bail!(
            "its schema is at version {current}, newer than this precis knows ({}); upgrade precis",
            MIGRATIONS.len()
        );
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = index as i32 + 1;
        transaction
            .batch_execute(sql)
            .await
            .with_context(|| format!("cannot bring the schema to version {version}"))?;
        transaction.execute("INSERT INTO precis_schema (version) VALUES ($1)", &[&version]).await?;
        tracing::info!("database schema at version {version}");
    }
    transaction.commit().await?;
    Ok(())
}

/// Listens for queued jobs until the connection ends.
async fn listen(config: &tokio_postgres::Config, wake: &tokio::sync::Notify) -> Result<()> {
    use futures_util::StreamExt;
    let (client, mut connection) = config.connect(NoTls).await?;
    let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
    let command = format!("LISTEN {CHANNEL}");
    let subscribed = client.batch_execute(&command);
    tokio::pin!(subscribed);
    let mut listening = false;
    loop {
        tokio::select! {
            done = &mut subscribed, if !listening => {
                done?;
                listening = true;
                // Jobs queued while nobody listened.
                wake.notify_one();
            }
            message = messages.next() => match message {
                Some(Ok(AsyncMessage::Notification(_))) => wake.notify_one(),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(()),
            },
        }
    }
}

type JobRow = (String, String, i32, Option<i64>, Option<String>, Option<String>);

impl JobQueue for PgQueue {
    fn accept(&self, delivery: &str, event: &str, job: Option<&JobSpec>) -> Result<Accepted> {
        let pool = self.pool.clone();
        let (delivery, event) = (delivery.to_string(), event.to_string());
        let supersedes = job.is_some_and(JobSpec::supersedes);
        let job = job
            .map(|spec| Ok::<_, anyhow::Error>((spec.key(), serde_json::to_string(spec)?, spec.installation())))
            .transpose()?;
        let what = delivery.clone();
        self.run(async move {
            let mut client = pool.get().await?;
            let transaction = client.transaction().await?;
            if let Some((key, ..)) = &job {
                // Jobs of one key are queued one at a time, whichever replica takes them.
                let lock = transaction.prepare_cached("SELECT pg_advisory_xact_lock(1, hashtext($1))").await?;
                transaction.execute(&lock, &[key]).await?;
            }
            let record = transaction.prepare_cached("INSERT INTO precis_deliveries (id, event) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING").await?;
            if transaction.execute(&record, &[&delivery, &event]).await? == 0 {
                transaction.commit().await?;
                return Ok(Accepted::Duplicate);
            }
            let Some((key, spec, installation)) = job else {
                transaction.commit().await?;
                return Ok(Accepted::Recorded);
            };
            if supersedes {
                let supersede = transaction
                    .prepare_cached("UPDATE precis_jobs SET state = 'superseded', updated_at = now() WHERE key = $1 AND state = 'queued'")
                    .await?;
                transaction.execute(&supersede, &[&key]).await?;
            }
            let insert = transaction
                .prepare_cached(
                    "INSERT INTO precis_jobs (delivery, key, spec, state, installation) VALUES ($1, $2, $3, 'queued', $4) RETURNING id",
                )
                .await?;
            let id: JobId = transaction.query_one(&insert, &[&delivery, &key, &spec, &installation]).await?.get(0);
            let notify = transaction.prepare_cached("SELECT pg_notify($1, '')").await?;
            transaction.execute(&notify, &[&CHANNEL]).await?;
            transaction.commit().await?;
            Ok(Accepted::Queued(id))
        })
        .with_context(|| format!("cannot record delivery {what}"))
    }

    fn claim(&self) -> Result<Option<Job>> {
        let pool = self.pool.clone();
        let lease = format!("{}:{}", self.owner, self.claims.fetch_add(1, Ordering::Relaxed));
        let (cap, seconds) = (self.policy.per_installation as i64, self.policy.lease.as_secs_f64());
        let leased = lease.clone();
        let (expired, claimed) = self.run(async move {
            let mut client = pool.get().await?;
            let expired = PgQueue::reap(&client).await?;
            let mut excluded: Vec<i64> = Vec::new();
            // A few tries: a candidate may lose to another replica (same key, or the installation's cap).
            for _ in 0..4 {
                let transaction = client.transaction().await?;
                let candidate = transaction
                    .prepare_cached(
                        "SELECT j.id, j.installation FROM precis_jobs j
                         LEFT JOIN precis_turns t ON t.installation = j.installation
                         WHERE j.state = 'queued' AND j.not_before <= now() AND NOT (j.installation = ANY($2))
                           AND NOT EXISTS (SELECT 1 FROM precis_jobs r WHERE r.state = 'running' AND r.key = j.key)
                           AND ($1::bigint = 0 OR (SELECT count(*) FROM precis_jobs r WHERE r.state = 'running' AND r.installation = j.installation) < $1::bigint)
                         ORDER BY t.turn NULLS FIRST, j.id
                         LIMIT 1
                         FOR UPDATE OF j SKIP LOCKED",
                    )
                    .await?;
                let Some(row) = transaction.query_opt(&candidate, &[&cap, &excluded]).await? else {
                    transaction.commit().await?;
                    return Ok((expired, None));
                };
                let (id, installation): (JobId, i64) = (row.get(0), row.get(1));
                // The installation's turn row serialises claims within one installation, so the cap holds across replicas.
                let turn = transaction
                    .prepare_cached(
                        "INSERT INTO precis_turns (installation, turn) VALUES ($1, nextval('precis_turn'))
                         ON CONFLICT (installation) DO UPDATE SET turn = EXCLUDED.turn",
                    )
                    .await?;
                transaction.execute(&turn, &[&installation]).await?;
                if cap > 0 {
                    let running = transaction
                        .prepare_cached("SELECT count(*) FROM precis_jobs WHERE state = 'running' AND installation = $1")
                        .await?;
                    let running: i64 = transaction.query_one(&running, &[&installation]).await?.get(0);
                    if running >= cap {
                        transaction.rollback().await?;
                        excluded.push(installation);
                        continue;
                    }
                }
                let take = transaction
                    .prepare_cached(
                        "UPDATE precis_jobs SET state = 'running', attempts = attempts + 1, lease_owner = $2,
                             lease_until = now() + make_interval(secs => $3), updated_at = now()
                         WHERE id = $1 RETURNING delivery, spec, attempts, check_run_id, error, error_kind",
                    )
                    .await?;
                let row = match transaction.query_one(&take, &[&id, &leased, &seconds]).await {
                    Ok(row) => row,
                    // Another replica started a job of this key meanwhile.
                    Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                        transaction.rollback().await?;
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                };
                transaction.commit().await?;
                let row: JobRow = (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4), row.get(5));
                return Ok((expired, Some((id, row))));
            }
            Ok((expired, None))
        })?;
        if expired > 0 {
            self.stats.leases_expired.inc_by(expired);
            tracing::warn!("{expired} job(s) whose lease ran out go back to the queue");
        }
        let Some((id, (delivery, spec, attempts, check_run_id, error, error_kind))) = claimed else { return Ok(None) };
        self.held.hold(id, lease);
        self.stats.claimed.inc();
        let spec = serde_json::from_str(&spec).with_context(|| format!("job {id} is unreadable"))?;
        Ok(Some(Job {
            id,
            delivery,
            spec,
            attempts: attempts as u32,
            check_run_id: check_run_id.map(|i| i as u64),
            last_error: Failure::stored(error_kind, error),
        }))
    }

    fn set_check_run(&self, job: JobId, check_run_id: u64) -> Result<()> {
        let pool = self.pool.clone();
        self.run(async move {
            let client = pool.get().await?;
            client
                .execute("UPDATE precis_jobs SET check_run_id = $2 WHERE id = $1", &[&job, &(check_run_id as i64)])
                .await?;
            Ok(())
        })
    }

    fn superseded_checks(&self, key: &str) -> Result<Vec<(JobId, u64)>> {
        let (pool, key) = (self.pool.clone(), key.to_string());
        self.run(async move {
            let client = pool.get().await?;
            let rows = client
                .query("SELECT id, check_run_id FROM precis_jobs WHERE key = $1 AND state = 'superseded' AND check_run_id IS NOT NULL", &[&key])
                .await?;
            Ok(rows.iter().map(|row| (row.get::<_, JobId>(0), row.get::<_, i64>(1) as u64)).collect())
        })
    }

    fn forget_check_run(&self, job: JobId) -> Result<()> {
        let pool = self.pool.clone();
        self.run(async move {
            let client = pool.get().await?;
            client.execute("UPDATE precis_jobs SET check_run_id = NULL WHERE id = $1", &[&job]).await?;
            Ok(())
        })
    }

    fn finish(&self, job: JobId, error: Option<&Failure>) -> Result<bool> {
        let state: &str = if error.is_some() { JobState::Failed } else { JobState::Done }.into();
        let kind = error.map(|e| -> &str { e.kind.into() });
        self.on_held(
            job,
            "UPDATE precis_jobs SET state = $3, error = $4, error_kind = $5, lease_owner = NULL, lease_until = NULL, updated_at = now()
             WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
            vec![
                Param::Text(Some(state.into())),
                Param::Text(error.map(|e| e.message.clone())),
                Param::Text(kind.map(str::to_string)),
            ],
        )
    }

    fn retry(&self, job: JobId, error: &Failure, after: Duration) -> Result<bool> {
        let kind: &str = error.kind.into();
        self.on_held(
            job,
            "UPDATE precis_jobs j SET error = $3, error_kind = $5, not_before = now() + make_interval(secs => $4), lease_owner = NULL, lease_until = NULL,
                 updated_at = now(),
                 state = CASE WHEN EXISTS (SELECT 1 FROM precis_jobs n WHERE n.key = j.key AND n.state = 'queued' AND n.id > j.id)
                              THEN 'superseded' ELSE 'queued' END
             WHERE j.id = $1 AND j.lease_owner = $2 AND j.state = 'running'",
            vec![Param::Text(Some(error.message.clone())), Param::Seconds(after.as_secs_f64()), Param::Text(Some(kind.into()))],
        )
    }

    fn release(&self, job: JobId) -> Result<bool> {
        self.on_held(
            job,
            "UPDATE precis_jobs SET state = 'queued', attempts = GREATEST(attempts - 1, 0), lease_owner = NULL, lease_until = NULL,
                 updated_at = now()
             WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
            Vec::new(),
        )
    }

    fn heartbeat(&self) -> Result<Vec<JobId>> {
        let held = self.held.all();
        if held.is_empty() {
            return Ok(Vec::new());
        }
        let leases: Vec<String> = held.iter().map(|(_, lease)| lease.clone()).collect();
        let pool = self.pool.clone();
        let seconds = self.policy.lease.as_secs_f64();
        let renewed: Vec<JobId> = self.run(async move {
            let client = pool.get().await?;
            let statement = client
                .prepare_cached(
                    "UPDATE precis_jobs SET lease_until = now() + make_interval(secs => $2)
                     WHERE lease_owner = ANY($1) AND state = 'running' RETURNING id",
                )
                .await?;
            Ok(client.query(&statement, &[&leases, &seconds]).await?.iter().map(|row| row.get(0)).collect())
        })?;
        let lost: Vec<JobId> = held.iter().map(|(id, _)| *id).filter(|id| !renewed.contains(id)).collect();
        self.held.lost(&lost, &self.stats);
        Ok(lost)
    }

    fn held(&self) -> Vec<JobId> {
        self.held.jobs()
    }

    fn recover(&self) -> Result<usize> {
        let pool = self.pool.clone();
        let expired = self.run(async move { PgQueue::reap(&pool.get().await?).await })?;
        self.stats.leases_expired.inc_by(expired);
        Ok(expired as usize)
    }

    fn counts(&self) -> Result<Counts> {
        let pool = self.pool.clone();
        self.run(async move {
            let client = pool.get().await?;
            let mut counts = Counts::default();
            let states = client.prepare_cached("SELECT state, count(*) FROM precis_jobs GROUP BY state").await?;
            for row in client.query(&states, &[]).await? {
                let n = row.get::<_, i64>(1) as u64;
                counts.record(row.get::<_, &str>(0), n);
            }
            let deliveries = client.prepare_cached("SELECT count(*) FROM precis_deliveries").await?;
            counts.deliveries = client.query_one(&deliveries, &[]).await?.get::<_, i64>(0) as u64;
            let by_installation = client
                .prepare_cached(
                    "SELECT installation, count(*) FILTER (WHERE state = 'queued'), count(*) FILTER (WHERE state = 'running')
                     FROM precis_jobs WHERE state IN ('queued', 'running') GROUP BY installation",
                )
                .await?;
            for row in client.query(&by_installation, &[]).await? {
                counts.by_installation.insert(row.get(0), (row.get::<_, i64>(1) as u64, row.get::<_, i64>(2) as u64));
            }
            Ok(counts)
        })
    }

    fn record_installation(
        &self,
        installation_id: u64,
        account: &str,
        action: &str,
        repositories: &[String],
    ) -> Result<()> {
        let pool = self.pool.clone();
        let (account, action, repositories) =
            (account.to_string(), action.to_string(), serde_json::to_string(repositories)?);
        self.run(async move {
            let client = pool.get().await?;
            client
                .execute(
                    "INSERT INTO precis_installations (id, account, action, repositories) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (id) DO UPDATE SET account = $2, action = $3, repositories = $4, updated_at = now()",
                    &[&(installation_id as i64), &account, &action, &repositories],
                )
                .await?;
            Ok(())
        })
    }

    fn prune(&self, older_than: Duration) -> Result<Pruned> {
        let pool = self.pool.clone();
        let seconds = older_than.as_secs_f64();
        self.run(async move {
            let client = pool.get().await?;
            let deliveries = client
                .execute("DELETE FROM precis_deliveries WHERE received_at < now() - make_interval(secs => $1)", &[&seconds])
                .await?;
            let jobs = client
                .execute(
                    "DELETE FROM precis_jobs WHERE state IN ('done', 'failed', 'superseded') AND updated_at < now() - make_interval(secs => $1)",
                    &[&seconds],
                )
                .await?;
            Ok(Pruned { deliveries, jobs })
        })
    }

    fn policy(&self) -> &Policy {
        &self.policy
    }

    fn stats(&self) -> &QueueStats {
        &self.stats
    }

    fn subscribe(&self, wake: Arc<tokio::sync::Notify>) {
        let config = self.config.clone();
        self.handle.spawn(async move {
            loop {
                if let Err(e) = listen(&config, &wake).await {
                    tracing::debug!("listening for queued jobs: {}", one_line(e));
                }
                // Whatever was announced while the connection was down is found by the next claim.
                wake.notify_one();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }

    fn backend(&self) -> Backend {
        Backend::Postgres
    }
}
