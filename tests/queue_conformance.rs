//! One conformance suite for `JobQueue`, run against both backends: SQLite
//! in a temporary folder, and PostgreSQL in a fresh database per test
//! (created and dropped here). Several queue objects on one store stand
//! for several replicas.

#[path = "support/postgres.rs"]
mod postgres_support;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use postgres_support::TestDatabase;
use precis::app::queue::{Accepted, Failure, FailureKind, JobQueue, JobSpec, PgQueue, Policy, RepoRef, SqliteQueue};
use precis::github::{PullNumber, RepoName};

enum Store {
    Sqlite(tempfile::TempDir),
    Postgres(TestDatabase),
}

impl Store {
    /// A queue object on this store: each one is a replica of its own.
    fn open(&self, policy: Policy) -> Arc<dyn JobQueue> {
        match self {
            Store::Sqlite(dir) => Arc::new(SqliteQueue::open_with(&dir.path().join("jobs.db"), policy).unwrap()),
            Store::Postgres(database) => Arc::new(PgQueue::connect(&database.url, policy).unwrap()),
        }
    }

    fn queue(&self) -> Arc<dyn JobQueue> {
        self.open(Policy::default())
    }
}

fn repo(installation: u64, name: &str) -> RepoRef {
    RepoRef { repo: RepoName { owner: "o".into(), name: name.into() }, installation_id: Some(installation) }
}

fn pr(installation: u64, number: u64, head: &str) -> JobSpec {
    JobSpec::PullRequest {
        repo: repo(installation, &format!("r{installation}")),
        number: PullNumber(number),
        head_sha: head.into(),
        base_sha: "b".into(),
        draft: false,
    }
}

fn head_of(spec: &JobSpec) -> String {
    match spec {
        JobSpec::PullRequest { head_sha, .. } => head_sha.to_string(),
        other => panic!("{other:?}"),
    }
}

fn installation_of(spec: &JobSpec) -> u64 {
    spec.repo().installation_id.unwrap()
}

fn short_lease(seconds: f64) -> Policy {
    Policy { lease: Duration::from_secs_f64(seconds), ..Policy::default() }
}

fn dedup(store: Store) {
    let queue = store.queue();
    assert!(matches!(queue.accept("d1", "pull_request", Some(&pr(1, 7, "h1"))).unwrap(), Accepted::Queued(_)));
    assert_eq!(queue.accept("d1", "pull_request", Some(&pr(1, 7, "h1"))).unwrap(), Accepted::Duplicate);
    // Another replica sees the same delivery as a duplicate too.
    let other = store.queue();
    assert_eq!(other.accept("d1", "pull_request", Some(&pr(1, 7, "h1"))).unwrap(), Accepted::Duplicate);
    assert_eq!(other.accept("d2", "ping", None).unwrap(), Accepted::Recorded);
    assert_eq!(other.accept("d2", "ping", None).unwrap(), Accepted::Duplicate);
    let counts = queue.counts().unwrap();
    assert_eq!((counts.deliveries, counts.queued), (2, 1));
    // Many replicas racing with one delivery id: exactly one queues it.
    let queues: Vec<_> = (0..4).map(|_| store.queue()).collect();
    let outcomes: Vec<Accepted> = std::thread::scope(|scope| {
        let handles: Vec<_> = queues
            .iter()
            .map(|q| scope.spawn(|| q.accept("d3", "pull_request", Some(&pr(1, 8, "h"))).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(outcomes.iter().filter(|o| matches!(o, Accepted::Queued(_))).count(), 1, "{outcomes:?}");
    assert_eq!(outcomes.iter().filter(|o| **o == Accepted::Duplicate).count(), 3);
}

fn supersession(store: Store) {
    let queue = store.queue();
    queue.accept("d1", "pull_request", Some(&pr(1, 7, "h1"))).unwrap();
    store.queue().accept("d2", "pull_request", Some(&pr(1, 7, "h2"))).unwrap();
    queue.accept("d3", "pull_request", Some(&pr(1, 9, "x1"))).unwrap();
    let counts = queue.counts().unwrap();
    assert_eq!((counts.queued, counts.superseded), (2, 1));
    let mut heads = HashSet::new();
    while let Some(job) = queue.claim().unwrap() {
        heads.insert(head_of(&job.spec));
        assert!(queue.finish(job.id, None).unwrap());
    }
    assert_eq!(heads, HashSet::from(["h2".to_string(), "x1".to_string()]));
    // Concurrent pushes to one pull request from several replicas leave one job queued.
    let queues: Vec<_> = (0..4).map(|_| store.queue()).collect();
    std::thread::scope(|scope| {
        for (index, q) in queues.iter().enumerate() {
            scope.spawn(move || {
                for round in 0..10 {
                    q.accept(
                        &format!("c-{index}-{round}"),
                        "pull_request",
                        Some(&pr(1, 11, &format!("c{index}{round}"))),
                    )
                    .unwrap();
                }
            });
        }
    });
    let counts = queue.counts().unwrap();
    assert_eq!((counts.queued, counts.superseded), (1, 1 + 39));
}

fn per_pull_request_exclusivity(store: Store) {
    let (a, b) = (store.queue(), store.queue());
    a.accept("d1", "pull_request", Some(&pr(1, 7, "h1"))).unwrap();
    let first = a.claim().unwrap().unwrap();
    // A newer push to the same pull request waits while the older one runs, on every replica.
    b.accept("d2", "pull_request", Some(&pr(1, 7, "h2"))).unwrap();
    b.accept("d3", "pull_request", Some(&pr(1, 8, "o1"))).unwrap();
    let other = b.claim().unwrap().unwrap();
    assert_eq!(head_of(&other.spec), "o1");
    assert!(b.claim().unwrap().is_none());
    assert!(a.claim().unwrap().is_none());
    assert!(a.finish(first.id, None).unwrap());
    let newer = b.claim().unwrap().unwrap();
    assert_eq!(head_of(&newer.spec), "h2");
    assert!(b.finish(newer.id, None).unwrap());
    assert!(b.finish(other.id, None).unwrap());

    // Four replicas working through jobs while pushes keep coming: never two jobs of one key at once.
    let store_queues: Vec<_> = (0..4).map(|_| store.queue()).collect();
    let feeder = store.queue();
    let running: Mutex<HashSet<String>> = Mutex::new(HashSet::new());
    let done = std::sync::atomic::AtomicUsize::new(0);
    let feeding = std::sync::atomic::AtomicBool::new(true);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for round in 0..6 {
                for number in 0..5 {
                    feeder
                        .accept(
                            &format!("f-{round}-{number}"),
                            "pull_request",
                            Some(&pr(2, 100 + number, &format!("f{round}"))),
                        )
                        .unwrap();
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            feeding.store(false, std::sync::atomic::Ordering::SeqCst);
        });
        for q in &store_queues {
            let (running, done, feeding) = (&running, &done, &feeding);
            scope.spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(30);
                while Instant::now() < deadline {
                    match q.claim().unwrap() {
                        Some(job) => {
                            let key = job.spec.key();
                            assert!(running.lock().unwrap().insert(key.clone()), "two jobs of {key} ran at once");
                            std::thread::sleep(Duration::from_millis(5));
                            running.lock().unwrap().remove(&key);
                            assert!(q.finish(job.id, None).unwrap());
                            done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                        None if !feeding.load(std::sync::atomic::Ordering::SeqCst) => break,
                        None => std::thread::sleep(Duration::from_millis(2)),
                    }
                }
            });
        }
    });
    // What was left behind a running job of its key when a replica stopped looking.
    while let Some(job) = feeder.claim().unwrap() {
        assert!(feeder.finish(job.id, None).unwrap());
        done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
    let counts = feeder.counts().unwrap();
    assert_eq!((counts.queued, counts.running), (0, 0), "{counts:?}");
    assert_eq!(counts.done as usize, 3 + done.load(std::sync::atomic::Ordering::SeqCst));
    assert_eq!(counts.done + counts.superseded, 3 + 30, "every job ran or was superseded");
}

fn lease_expiry_and_reclaim(store: Store) {
    let crashed = store.open(short_lease(1.0));
    let survivor = store.open(short_lease(1.0));
    crashed.accept("d1", "pull_request", Some(&pr(1, 7, "h1"))).unwrap();
    let job = crashed.claim().unwrap().unwrap();
    crashed.set_check_run(job.id, 42).unwrap();
    assert!(survivor.claim().unwrap().is_none(), "the lease still runs");
    // A heartbeat keeps it past its first second.
    for _ in 0..4 {
        std::thread::sleep(Duration::from_millis(300));
        assert!(crashed.heartbeat().unwrap().is_empty());
    }
    assert!(survivor.claim().unwrap().is_none(), "renewed leases hold");
    // Then the holder goes silent (its process died) and the lease runs out.
    std::thread::sleep(Duration::from_millis(1300));
    let again = survivor.claim().unwrap().expect("claimed again once the lease ran out");
    assert_eq!((again.id, again.attempts, again.check_run_id), (job.id, 2, Some(42)));
    assert_eq!(survivor.stats().leases_expired.get(), 1);
    // The old holder comes back: it holds nothing any more.
    assert!(!crashed.finish(job.id, None).unwrap());
    assert_eq!(crashed.heartbeat().unwrap(), Vec::<precis::app::queue::JobId>::new());
    assert!(survivor.finish(again.id, None).unwrap());
    let counts = survivor.counts().unwrap();
    assert_eq!((counts.done, counts.running, counts.queued), (1, 0, 0));
}

fn lost_lease_is_reported_by_heartbeat(store: Store) {
    let holder = store.open(short_lease(0.5));
    let other = store.open(short_lease(0.5));
    holder.accept("d1", "pull_request", Some(&pr(1, 7, "h1"))).unwrap();
    let job = holder.claim().unwrap().unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let taken = other.claim().unwrap().unwrap();
    assert_eq!(taken.id, job.id);
    assert_eq!(holder.heartbeat().unwrap(), vec![job.id]);
    assert!(holder.held().is_empty());
    assert_eq!(other.held(), vec![job.id]);
}

fn fairness(store: Store) {
    let queue = store.queue();
    // One busy installation queues six pull requests first, then two quiet ones queue theirs.
    for n in 0..6 {
        queue.accept(&format!("a{n}"), "pull_request", Some(&pr(1, n, "h"))).unwrap();
    }
    queue.accept("b0", "pull_request", Some(&pr(2, 0, "h"))).unwrap();
    queue.accept("b1", "pull_request", Some(&pr(2, 1, "h"))).unwrap();
    queue.accept("c0", "pull_request", Some(&pr(3, 0, "h"))).unwrap();
    let counts = queue.counts().unwrap();
    assert_eq!(counts.by_installation.get(&1), Some(&(6, 0)));
    let replica = store.queue();
    let mut order = Vec::new();
    while let Some(job) = if order.len() % 2 == 0 { queue.claim().unwrap() } else { replica.claim().unwrap() } {
        order.push(installation_of(&job.spec));
        let q = if order.len() % 2 == 1 { &queue } else { &replica };
        assert!(q.finish(job.id, None).unwrap());
    }
    assert_eq!(order, vec![1, 2, 3, 1, 2, 1, 1, 1, 1], "round-robin across installations, then oldest first");
}

fn per_installation_cap(store: Store) {
    let policy = Policy { per_installation: 1, ..Policy::default() };
    let (a, b) = (store.open(policy.clone()), store.open(policy));
    for n in 0..3 {
        a.accept(&format!("a{n}"), "pull_request", Some(&pr(1, n, "h"))).unwrap();
    }
    a.accept("b0", "pull_request", Some(&pr(2, 0, "h"))).unwrap();
    a.accept("b1", "pull_request", Some(&pr(2, 1, "h"))).unwrap();
    let first = a.claim().unwrap().unwrap();
    let second = b.claim().unwrap().unwrap();
    assert_eq!((installation_of(&first.spec), installation_of(&second.spec)), (1, 2));
    assert!(a.claim().unwrap().is_none(), "each installation has its one job running");
    assert!(b.claim().unwrap().is_none());
    assert!(a.finish(first.id, None).unwrap());
    assert_eq!(installation_of(&b.claim().unwrap().unwrap().spec), 1);
    // Racing replicas keep the cap too.
    let store_queues: Vec<_> =
        (0..4).map(|_| store.open(Policy { per_installation: 1, ..Policy::default() })).collect();
    for n in 10..20 {
        a.accept(&format!("c{n}"), "pull_request", Some(&pr(3, n, "h"))).unwrap();
    }
    let claimed: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = store_queues.iter().map(|q| scope.spawn(|| q.claim().unwrap())).collect();
        handles.into_iter().filter_map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(claimed.iter().filter(|job| installation_of(&job.spec) == 3).count(), 1, "{claimed:?}");
}

fn restart_recovery(store: Store) {
    {
        let queue = store.open(short_lease(1.0));
        queue.accept("d1", "pull_request", Some(&pr(1, 7, "h1"))).unwrap();
        queue.accept("d2", "pull_request", Some(&pr(1, 8, "h1"))).unwrap();
        let crashed = queue.claim().unwrap().unwrap();
        queue.set_check_run(crashed.id, 7).unwrap();
        // A graceful stop hands its job back at once, its attempt not counted.
        let stopping = store.open(short_lease(1.0));
        let interrupted = stopping.claim().unwrap().unwrap();
        assert_eq!(stopping.release_held().unwrap(), 1);
        assert!(stopping.held().is_empty());
        let again = store.open(short_lease(1.0)).claim().unwrap().unwrap();
        assert_eq!((again.id, again.attempts), (interrupted.id, 1));
        // `queue` is dropped without a word: a crash.
    }
    let restarted = store.open(short_lease(1.0));
    match &store {
        // One process owns a SQLite file: at start, whatever ran there was interrupted.
        Store::Sqlite(_) => assert_eq!(restarted.recover().unwrap(), 2),
        // Other replicas may be running theirs: only what the leases say is dead comes back.
        Store::Postgres(_) => {
            std::thread::sleep(Duration::from_millis(1200));
            assert_eq!(restarted.recover().unwrap(), 2);
        }
    }
    let mut attempts: Vec<(u32, Option<u64>)> = Vec::new();
    while let Some(job) = restarted.claim().unwrap() {
        attempts.push((job.attempts, job.check_run_id));
        restarted.finish(job.id, None).unwrap();
    }
    attempts.sort();
    assert_eq!(attempts, vec![(2, None), (2, Some(7))]);
}

fn retries_with_backoff_and_attempts(store: Store) {
    let queue = store.queue();
    queue.accept("d1", "pull_request", Some(&pr(1, 7, "h1"))).unwrap();
    let job = queue.claim().unwrap().unwrap();
    let failure = Failure { kind: FailureKind::GitHub, message: "GitHub answered 502".into() };
    assert!(queue.retry(job.id, &failure, Duration::from_millis(800)).unwrap());
    assert!(queue.claim().unwrap().is_none(), "not due yet");
    std::thread::sleep(Duration::from_millis(1000));
    let again = queue.claim().unwrap().unwrap();
    assert_eq!(
        (again.id, again.attempts, again.last_error.as_ref()),
        (job.id, 2, Some(&failure)),
        "kind and message kept"
    );
    // A retry of a job whose pull request got a newer push is superseded instead.
    queue.accept("d2", "pull_request", Some(&pr(1, 7, "h2"))).unwrap();
    assert!(queue
        .retry(again.id, &Failure { kind: FailureKind::Fetch, message: "again".into() }, Duration::ZERO)
        .unwrap());
    let newest = queue.claim().unwrap().unwrap();
    assert_eq!(head_of(&newest.spec), "h2");
    assert!(queue
        .finish(newest.id, Some(&Failure { kind: FailureKind::Other, message: "the model failed".into() }))
        .unwrap());
    let counts = queue.counts().unwrap();
    assert_eq!((counts.superseded, counts.failed, counts.queued), (1, 1, 0));
}

fn pruning(store: Store) {
    let queue = store.queue();
    queue.accept("old", "pull_request", Some(&pr(1, 7, "h1"))).unwrap();
    queue.accept("ping", "ping", None).unwrap();
    let job = queue.claim().unwrap().unwrap();
    queue.finish(job.id, None).unwrap();
    queue.accept("waiting", "pull_request", Some(&pr(1, 8, "h1"))).unwrap();
    assert_eq!(queue.prune(Duration::from_secs(3600)).unwrap().jobs, 0, "nothing is that old");
    std::thread::sleep(Duration::from_millis(1100));
    let pruned = queue.prune(Duration::ZERO).unwrap();
    assert_eq!((pruned.deliveries, pruned.jobs), (3, 1));
    let counts = queue.counts().unwrap();
    assert_eq!((counts.deliveries, counts.done, counts.queued), (0, 0, 1), "a queued job is never pruned");
}

/// Superseded jobs whose check run is still open are listed by key until
/// their check run is forgotten (completed); others are not.
fn superseded_check_runs(store: Store) {
    let queue = store.queue();
    queue.accept("d1", "pull_request", Some(&pr(1, 7, "h1"))).unwrap();
    let first = queue.claim().unwrap().unwrap();
    queue.set_check_run(first.id, 501).unwrap();
    assert!(queue.release(first.id).unwrap());
    queue.accept("d2", "pull_request", Some(&pr(1, 7, "h2"))).unwrap();
    queue.accept("d3", "pull_request", Some(&pr(1, 8, "x1"))).unwrap();
    queue.accept("d4", "pull_request", Some(&pr(1, 8, "x2"))).unwrap();
    let key = pr(1, 7, "h2").key();
    assert_eq!(queue.superseded_checks(&key).unwrap(), vec![(first.id, 501)]);
    assert!(queue.superseded_checks(&pr(1, 8, "x2").key()).unwrap().is_empty(), "superseded without a check run");
    queue.forget_check_run(first.id).unwrap();
    assert!(queue.superseded_checks(&key).unwrap().is_empty());
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { super::$name(super::Store::Sqlite(tempfile::tempdir().unwrap())) })*
        }
        mod postgres {
            $(#[test] fn $name() { super::$name(super::Store::Postgres(super::TestDatabase::create())) })*
        }
    };
}

conformance!(
    dedup,
    supersession,
    per_pull_request_exclusivity,
    lease_expiry_and_reclaim,
    lost_lease_is_reported_by_heartbeat,
    fairness,
    per_installation_cap,
    restart_recovery,
    retries_with_backoff_and_attempts,
    pruning,
    superseded_check_runs,
);

/// Replicas that start at once migrate the schema once, without errors.
#[test]
fn postgres_migrations_are_safe_when_replicas_start_together() {
    let database = TestDatabase::create();
    let url = database.url.clone();
    std::thread::scope(|scope| {
        let handles: Vec<_> =
            (0..6).map(|_| scope.spawn(|| PgQueue::connect(&url, Policy::default()).map(drop))).collect();
        for handle in handles {
            handle.join().unwrap().unwrap();
        }
    });
    // Each version applied once, by one of them.
    let applied = database.count("SELECT count(*) FROM precis_schema");
    assert!(applied >= 2 && applied == database.count("SELECT max(version) FROM precis_schema"), "{applied}");
    assert_eq!(database.count("SELECT count(*) FROM information_schema.columns WHERE column_name = 'error_kind'"), 1);
    // And once more later: nothing to do.
    PgQueue::connect(&url, Policy::default()).unwrap();
    assert_eq!(database.count("SELECT count(*) FROM precis_schema"), applied);
}

/// A bad URL or an unreachable server: one line naming the setting.
#[test]
fn postgres_bad_urls_fail_in_one_line() {
    let refused = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    for (url, expected) in [
        ("mysql://db/x", "not a postgres:// URL"),
        ("postgres://host:notaport/x", "not a valid PostgreSQL URL"),
        (&*format!("postgres://postgres@{refused}/x"), "cannot use the database of PRECIS_DATABASE_URL"),
        (&*format!("postgres://postgres:secret-password@{refused}/x"), "cannot use the database"),
    ] {
        let started = Instant::now();
        let error = format!("{:#}", PgQueue::connect(url, Policy::default()).err().expect(url));
        assert!(error.contains("PRECIS_DATABASE_URL") && error.contains(expected), "{url}: {error}");
        assert_eq!(error.lines().count(), 1, "{error}");
        assert!(!error.contains("secret-password"), "{error}");
        assert!(started.elapsed() < Duration::from_secs(15));
    }
}
