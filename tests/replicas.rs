//! Several replicas on one PostgreSQL queue, as processes: one web and three
//! workers of `precis::app::serve` (this test binary runs them, on the
//! deterministic fake model slowed to a fixed time per prompt), 500 signed
//! deliveries across 50 pull requests of 5 installations against a fake
//! GitHub; a worker killed with SIGKILL mid-job, another restarted. Also:
//! the database lost while running (a proxy in front of it is cut), and
//! the start-up errors of the real binary. Every address is on loopback.

mod common;
#[path = "support/postgres.rs"]
mod postgres_support;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;
use tower::ServiceExt;

use common::fake_github::FakeGitHub;
use postgres_support::TestDatabase;
use precis::app::queue::{JobQueue, PgQueue, Policy};
use precis::app::repos::GitHost;
use precis::app::{router, AppState, ServeArgs, ServeSettings, Worker};
use precis::github::signature::sign;
use precis::github::AppCredentials;
use precis::language_model::FakeSource;
use precis::pipeline::Summarizer;
use precis::progress::Progress;

const SECRET: &str = "replicas webhook secret";

fn key_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/test-app-key.pem")
}

fn slow_summarizer(delay: Duration) -> Summarizer {
    Summarizer::new(Arc::new(FakeSource { delay, ..FakeSource::new("fake-default") }), None, Progress::hidden())
}

/// The App as `precis serve` builds it on `queue`, in one process: its
/// webhook state and its worker (the fake GitHub at `api`, repositories
/// from the git host in `data`).
fn built_app(queue: Arc<dyn JobQueue>, data: &Path, api: &str, summarizer: Summarizer) -> (AppState, Worker) {
    let mut settings = ServeSettings::new(queue, data.to_path_buf(), api, git_host(data));
    settings.secret = SECRET.as_bytes().to_vec();
    settings.app = Some(AppCredentials::new(1, &std::fs::read_to_string(key_path()).unwrap()).unwrap());
    settings.github_timing = Some((Duration::ZERO, Duration::from_millis(50), Duration::from_secs(1)));
    let app = precis::app::App::build(settings, Some(summarizer)).unwrap();
    (app.state, app.worker.expect("a worker"))
}

/// Not a test: the entry point of the replica processes the tests start
/// (this binary, run again with PRECIS_TEST_REPLICA set to a role). It
/// builds the same `precis::app::serve` as `precis serve`, on the fake model.
#[test]
fn replica_process() {
    let Ok(role) = std::env::var("PRECIS_TEST_REPLICA") else { return };
    tracing_subscriber::fmt().with_env_filter("info").with_writer(std::io::stderr).with_ansi(false).init();
    let var = |name: &str| std::env::var(name).ok();
    // The settings as `precis serve` reads them from the environment the test gave this process.
    let mut args = ServeArgs::from_env().unwrap();
    args.role = clap::ValueEnum::from_str(&role, true).unwrap();
    args.workers = var("PRECIS_TEST_WORKERS").map(|w| w.parse().unwrap()).unwrap_or(2);
    let delay = Duration::from_millis(var("PRECIS_TEST_MODEL_MS").map(|w| w.parse().unwrap()).unwrap_or(100));
    let outcome = ServeSettings::check(&args).and_then(|mut settings| {
        // The fake GitHub needs no pause between writes.
        settings.github_timing = Some((Duration::ZERO, Duration::from_millis(50), Duration::from_secs(1)));
        let summarizer = settings.role.runs_jobs().then(|| slow_summarizer(delay));
        tokio::runtime::Runtime::new()?.block_on(precis::app::serve(settings, summarizer))
    });
    match outcome {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!("{e:#}");
            std::process::exit(2);
        }
    }
}

/// A replica process; killed (SIGKILL) if still running when dropped.
struct Replica {
    child: Child,
    address: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Replica {
    fn start(role: &str, database: &str, github: &str, data: &Path, extra: &[(&str, &str)]) -> Replica {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command.args(["--exact", "replica_process", "--nocapture", "--test-threads=1"]);
        for (name, _) in std::env::vars() {
            if name.starts_with("PRECIS_") || name == "RUST_LOG" {
                command.env_remove(name);
            }
        }
        command
            .env("PRECIS_TEST_REPLICA", role)
            .env("PRECIS_APP_ID", "1")
            .env("PRECIS_PRIVATE_KEY", key_path())
            .env("PRECIS_WEBHOOK_SECRET", SECRET)
            .env("PRECIS_GITHUB_API_URL", github)
            .env("PRECIS_DATABASE_URL", database)
            .env("PRECIS_DATA_DIR", data)
            .env("PRECIS_LISTEN", "127.0.0.1:0");
        for (name, value) in extra {
            command.env(name, value);
        }
        let mut child = command.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (found, address) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let kept = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let _ = found.send(rest.split(':').take(2).collect::<Vec<_>>().join(":"));
                }
                kept.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        let address = match address.recv_timeout(Duration::from_secs(30)) {
            Ok(address) => address.parse().unwrap(),
            Err(_) => {
                let _ = child.kill();
                panic!("the {role} replica did not start: {}", log.lock().unwrap());
            }
        };
        Replica { child, address, log }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then waits (bounded) for a clean exit.
    fn stop(mut self) -> String {
        let status = Command::new("kill").args(["-TERM", &self.pid().to_string()]).status().unwrap();
        assert!(status.success());
        let started = Instant::now();
        let exit = loop {
            if let Some(exit) = self.child.try_wait().unwrap() {
                break exit;
            }
            assert!(started.elapsed() < Duration::from_secs(90), "no exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        };
        std::thread::sleep(Duration::from_millis(100));
        let log = self.log.lock().unwrap().clone();
        assert!(exit.success(), "{log}");
        log
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 exchange on loopback; (status, body).
fn http(address: SocketAddr, method: &str, path: &str, headers: &[(&str, String)], body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, answer.split("\r\n\r\n").nth(1).unwrap_or("").to_string())
}

fn deliver(address: SocketAddr, delivery: &str, body: &[u8]) -> u16 {
    let headers = [
        ("X-GitHub-Event", "pull_request".to_string()),
        ("X-GitHub-Delivery", delivery.to_string()),
        ("X-Hub-Signature-256", sign(SECRET.as_bytes(), body)),
        ("Content-Type", "application/json".to_string()),
    ];
    http(address, "POST", "/webhook", &headers, body).0
}

/// A bare repository per installation, made with `git fast-import`: a base
/// commit on main and, for each pull request, a chain of head commits
/// (refs/pull/N/head at the last). Returns the base and each pull
/// request's heads, oldest first.
fn make_repository(dir: &Path, numbers: &[u64], heads: usize) -> (String, HashMap<u64, Vec<String>>) {
    let git = |args: &[&str]| {
        let out = Command::new("git").arg("-C").arg(dir).args(args).output().unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    std::fs::create_dir_all(dir).unwrap();
    git(&["init", "-q", "--bare"]);
    let mut stream = String::new();
    let file = |name: &str, items: usize| common::rust_file(name, items);
    let blob = |text: &str| format!("data {}\n{text}\n", text.len());
    let commit =
        |stream: &mut String, reference: &str, mark: usize, from: usize, path: &str, text: &str, message: &str| {
            stream.push_str(&format!(
                "commit {reference}\nmark :{mark}\ncommitter Test <test@example.com> {} +0000\n",
                1_700_000_000 + mark
            ));
            stream.push_str(&blob(message));
            if from > 0 {
                stream.push_str(&format!("from :{from}\n"));
            }
            stream.push_str(&format!("M 644 inline {path}\n"));
            stream.push_str(&blob(text));
        };
    commit(&mut stream, "refs/heads/main", 1, 0, "src/lib.rs", &file("core", 2), "base");
    let mut mark = 1;
    let mut marks: HashMap<u64, Vec<usize>> = HashMap::new();
    for &number in numbers {
        let mut from = 1;
        for round in 0..heads {
            mark += 1;
            // A manifest's scripts: the model is asked about them (no parser tells them), so a job takes the fake model's time.
            let path = format!("pull_{number}/package.json");
            let scripts =
                format!("{{\"name\": \"p{number}\", \"scripts\": {{\"test\": \"node t.js --round {round}\"}}}}");
            commit(
                &mut stream,
                &format!("refs/pull/{number}/head"),
                mark,
                from,
                &path,
                &scripts,
                &format!("pr {number} round {round}"),
            );
            marks.entry(number).or_default().push(mark);
            from = mark;
        }
    }
    let marks_file = dir.join("marks");
    let mut child = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["fast-import", "--quiet"])
        .arg(format!("--export-marks={}", marks_file.display()))
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stream.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success());
    let shas: HashMap<usize, String> = std::fs::read_to_string(&marks_file)
        .unwrap()
        .lines()
        .map(|line| {
            let (mark, sha) = line.split_once(' ').unwrap();
            (mark.trim_start_matches(':').parse().unwrap(), sha.to_string())
        })
        .collect();
    let heads =
        marks.into_iter().map(|(number, marks)| (number, marks.iter().map(|m| shas[m].clone()).collect())).collect();
    (shas[&1].clone(), heads)
}

/// Where installation `installation`'s repository lives under the git host folder `root`.
fn repository_dir(root: &Path, installation: u64) -> PathBuf {
    root.join(format!("org{installation}")).join("repo.git")
}

fn git_host(root: &Path) -> GitHost {
    GitHost::parse(&format!("file://{}", root.display())).unwrap()
}

fn pull_request_payload(installation: u64, number: u64, base: &str, head: &str, round: usize) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "action": if round == 0 { "opened" } else { "synchronize" },
        "number": number,
        "pull_request": {"number": number, "state": "open", "draft": false,
            "head": {"sha": head, "ref": format!("feature-{number}")}, "base": {"sha": base, "ref": "main"}},
        "repository": {"name": "repo", "full_name": format!("org{installation}/repo"), "owner": {"login": format!("org{installation}")},
            "default_branch": "main"},
        "installation": {"id": installation},
    }))
    .unwrap()
}

/// Waits (bounded) until `done` holds.
fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn replicas_survive_a_killed_worker_and_a_restart() {
    const INSTALLATIONS: u64 = 5;
    const PULLS: u64 = 10;
    const HEADS: usize = 5;
    let database = TestDatabase::create();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let fake = runtime.block_on(FakeGitHub::start());
    let work = tempfile::tempdir().unwrap();
    let git = work.path().join("git");

    // 5 installations × 10 pull requests × 5 heads, each head delivered twice (GitHub redelivers): 500 deliveries.
    let mut deliveries: Vec<(usize, String, Vec<u8>)> = Vec::new();
    let mut newest: HashMap<u64, String> = HashMap::new();
    // Each pull request's base and heads, for the fake's answer to GET /pulls/N.
    let mut pulls: HashMap<u64, (String, Vec<String>)> = HashMap::new();
    for installation in 1..=INSTALLATIONS {
        let numbers: Vec<u64> = (1..=PULLS).map(|p| installation * 100 + p).collect();
        let (base, heads) = make_repository(&repository_dir(&git, installation), &numbers, HEADS);
        for number in &numbers {
            for (round, head) in heads[number].iter().enumerate() {
                let body = pull_request_payload(installation, *number, &base, head, round);
                let id = format!("delivery-{number}-{round}");
                deliveries.push((round, id.clone(), body.clone()));
                deliveries.push((round, id, body));
            }
            newest.insert(*number, heads[number].last().unwrap().clone());
            pulls.insert(*number, (base.clone(), heads[number].clone()));
        }
    }
    assert_eq!(deliveries.len(), 500);
    deliveries.sort_by_key(|(round, ..)| *round);

    let data = |name: &str| {
        let dir = work.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    };
    let git_url = format!("file://{}", git.display());
    let worker_settings = [
        ("PRECIS_LEASE_SECONDS", "3"),
        ("PRECIS_TEST_WORKERS", "2"),
        ("PRECIS_TEST_MODEL_MS", "60"),
        ("PRECIS_GIT_URL", git_url.as_str()),
    ];
    let web = Replica::start("web", &database.url, &fake.url, &data("web"), &[]);
    let mut workers: Vec<Option<Replica>> = (0..3)
        .map(|i| {
            Some(Replica::start("worker", &database.url, &fake.url, &data(&format!("worker{i}")), &worker_settings))
        })
        .collect();

    // Roles: the web replica takes webhooks and says so in /metrics; a worker answers health and metrics, not webhooks.
    let (status, metrics) = http(web.address, "GET", "/metrics", &[], b"");
    assert_eq!(status, 200);
    assert!(metrics.contains(r#"precis_role{role="web",backend="postgres"} 1"#), "{metrics}");
    let worker_address = workers[0].as_ref().unwrap().address;
    assert_eq!(http(worker_address, "GET", "/healthz", &[], b"").0, 200);
    assert_eq!(deliver(worker_address, "not-here", b"{}"), 404);

    let send = |batch: &[(usize, String, Vec<u8>)]| {
        std::thread::scope(|scope| {
            for chunk in batch.chunks(batch.len().div_ceil(4)) {
                scope.spawn(move || {
                    for (_, id, body) in chunk {
                        assert_eq!(deliver(web.address, id, body), 202, "delivery {id}");
                    }
                });
            }
        });
    };
    // GitHub moves a pull request's head before it sends the delivery: the
    // fake's head is the batch's newest, so jobs for older heads that run
    // after it are skipped.
    let by_round = |rounds: std::ops::Range<usize>| -> Vec<(usize, String, Vec<u8>)> {
        for (number, (base, heads)) in &pulls {
            fake.set_pull(*number, &heads[rounds.end - 1], base);
        }
        deliveries.iter().filter(|(round, ..)| rounds.contains(round)).cloned().collect()
    };

    let started = Instant::now();
    send(&by_round(0..2));
    eprintln!("{:.1} s: 200 deliveries sent", started.elapsed().as_secs_f64());
    // SIGKILL the first worker while it holds a job.
    let victim = workers[0].as_ref().unwrap().pid();
    let held_by_victim =
        format!("SELECT id FROM precis_jobs WHERE state = 'running' AND lease_owner LIKE '%:{victim}:%'");
    wait_for("the first worker to hold a job", Duration::from_secs(60), || !database.query(&held_by_victim).is_empty());
    workers[0].take().unwrap().child.kill().unwrap();
    let killed: Vec<String> = database.query(&held_by_victim).into_iter().filter_map(|row| row[0].clone()).collect();
    eprintln!("{:.1} s: worker {victim} killed holding job(s) {killed:?}", started.elapsed().as_secs_f64());
    send(&by_round(2..4));
    eprintln!("{:.1} s: 400 deliveries sent", started.elapsed().as_secs_f64());
    // Restart the second worker (a deploy): SIGTERM, a clean exit, a new process.
    let log = workers[1].take().unwrap().stop();
    assert!(log.contains("stopping: finishing the jobs in progress"), "{log}");
    workers[1] = Some(Replica::start("worker", &database.url, &fake.url, &data("worker1"), &worker_settings));
    eprintln!("{:.1} s: the second worker restarted", started.elapsed().as_secs_f64());
    send(&by_round(4..5));
    eprintln!("{:.1} s: 500 deliveries sent", started.elapsed().as_secs_f64());

    wait_for("every job to end", Duration::from_secs(180), || {
        database.count("SELECT count(*) FROM precis_jobs WHERE state IN ('queued', 'running')") == 0
    });

    eprintln!("{:.1} s: every job ended", started.elapsed().as_secs_f64());
    // No delivery lost: 250 distinct ids, each a job that ran or was superseded; none failed.
    assert_eq!(database.count("SELECT count(*) FROM precis_deliveries"), 250);
    assert_eq!(database.count("SELECT count(*) FROM precis_jobs"), 250);
    assert_eq!(database.count("SELECT count(*) FROM precis_jobs WHERE state = 'failed'"), 0);
    // The killed worker's job ran again once its lease ran out, unless a newer push superseded it meanwhile.
    assert!(!killed.is_empty());
    for job in &killed {
        let row = &database.query(&format!("SELECT state, attempts FROM precis_jobs WHERE id = {job}"))[0];
        let (state, attempts) = (row[0].as_deref().unwrap(), row[1].as_deref().unwrap());
        assert!(
            (state == "done" && attempts == "2") || state == "superseded",
            "job {job}: {state} after {attempts} attempt(s)"
        );
    }

    let comments = fake.comments();
    let runs = fake.check_runs();
    let requests = fake.requests();
    let mut completions: HashMap<String, usize> = HashMap::new();
    for request in requests
        .iter()
        .filter(|r| r.method == "PATCH" && r.path.contains("/check-runs/") && r.body["status"] == "completed")
    {
        let id: u64 = request.path.rsplit('/').next().unwrap().parse().unwrap();
        *completions.entry(runs[&id]["head_sha"].as_str().unwrap().to_string()).or_default() += 1;
    }
    for (number, head) in &newest {
        let mine: Vec<_> = comments.iter().filter(|c| c.0 == *number).collect();
        assert_eq!(mine.len(), 1, "pull request {number}: one comment");
        assert!(
            mine[0].2.contains(&format!("Describes {}.", &head[..7])),
            "pull request {number} describes its newest commit: {}",
            mine[0].2
        );
        let checks: Vec<_> = runs.values().filter(|run| run["head_sha"] == head.as_str()).collect();
        assert_eq!(checks.len(), 1, "pull request {number}: one check run on its newest commit");
        assert_eq!(
            (checks[0]["status"].as_str(), checks[0]["conclusion"].as_str()),
            (Some("completed"), Some("success"))
        );
    }
    // Nothing summarized twice after it completed.
    for (head, count) in &completions {
        assert_eq!(*count, 1, "{head} completed {count} times");
    }
    let distinct: HashSet<&String> = comments.iter().map(|c| &c.2).collect();
    assert_eq!(distinct.len(), 50);
    drop(web);
}

/// A TCP proxy in front of PostgreSQL that can be cut (every connection
/// dropped, new ones refused) and restored.
struct Proxy {
    address: SocketAddr,
    cut: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let connections: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Default::default();
        let (is_cut, kept) = (cut.clone(), connections.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if is_cut.load(Ordering::SeqCst) {
                    continue;
                }
                kept.lock().unwrap().push(tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                }));
            }
        });
        Proxy { address, cut, connections }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

#[test]
fn losing_the_database_answers_503_and_workers_wait() {
    let database = TestDatabase::create();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _guard = runtime.enter();
    let fake = runtime.block_on(FakeGitHub::start());
    let proxy = runtime.block_on(Proxy::start(postgres_support::server_address()));
    let queue: Arc<dyn JobQueue> =
        Arc::new(PgQueue::connect(&database.url_via(proxy.address), Policy::default()).unwrap());
    let data = tempfile::tempdir().unwrap();
    let (state, worker) =
        built_app(queue.clone(), data.path(), &fake.url, slow_summarizer(Duration::from_millis(1500)));
    let (base, heads) = make_repository(&repository_dir(data.path(), 1), &[7, 8], 1);
    // The worker reads each pull request's head from GitHub before it summarizes.
    for number in [7, 8] {
        fake.set_pull(number, &heads[&number][0], &base);
    }
    let deliver = |id: &str, number: u64| {
        let body = pull_request_payload(1, number, &base, &heads[&number][0], 0);
        let request = Request::post("/webhook")
            .header("x-github-event", "pull_request")
            .header("x-github-delivery", id)
            .header("x-hub-signature-256", sign(SECRET.as_bytes(), &body))
            .body(Body::from(body))
            .unwrap();
        let started = Instant::now();
        let status = runtime.block_on(router(state.clone()).oneshot(request)).unwrap().status();
        assert!(started.elapsed() < Duration::from_secs(15), "the answer took {:?}", started.elapsed());
        status
    };

    assert_eq!(deliver("d-1", 7), StatusCode::ACCEPTED);
    let running = runtime.spawn({
        let worker = worker.clone();
        async move { worker.run_one().await.unwrap() }
    });
    wait_for("the job to start", Duration::from_secs(30), || {
        database.count("SELECT count(*) FROM precis_jobs WHERE state = 'running'") == 1
    });
    // A second worker waits for work in its loop meanwhile.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let looping = runtime.spawn(worker.clone().run(Default::default(), stopped));

    proxy.cut();
    assert_eq!(deliver("d-2", 8), StatusCode::SERVICE_UNAVAILABLE, "GitHub redelivers a 503");
    // The claimed job is summarized and published; its outcome waits for the database.
    wait_for("the comment", Duration::from_secs(30), || fake.comments().len() == 1);
    std::thread::sleep(Duration::from_secs(3));
    assert!(!running.is_finished(), "the worker waits to record the outcome");
    assert!(!looping.is_finished(), "the worker loop carries on");

    proxy.restore();
    assert!(runtime.block_on(running).unwrap(), "the job was run");
    assert_eq!(database.count("SELECT count(*) FROM precis_jobs WHERE state = 'done'"), 1);
    // The redelivery is accepted now, and the waiting worker runs it.
    assert_eq!(deliver("d-2", 8), StatusCode::ACCEPTED);
    wait_for("the second job", Duration::from_secs(30), || {
        database.count("SELECT count(*) FROM precis_jobs WHERE state = 'done'") == 2
    });
    let _ = stop.send(true);
    runtime.block_on(looping).unwrap();
    assert_eq!(fake.comments().len(), 2);
    assert_eq!(database.count("SELECT max(attempts) FROM precis_jobs"), 1, "nothing ran twice");
    drop(queue);
    drop(state);
}

fn serve_binary(settings: &[(&str, &str)], args: &[&str]) -> Command {
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("precis"));
    command.arg("serve").args(args);
    for (name, _) in std::env::vars() {
        if name.starts_with("PRECIS_") || name == "RUST_LOG" {
            command.env_remove(name);
        }
    }
    command.env("PRECIS_APP_ID", "1").env("PRECIS_PRIVATE_KEY", key_path()).env("PRECIS_WEBHOOK_SECRET", "s");
    for (name, value) in settings {
        command.env(name, value);
    }
    command
}

/// `precis serve` itself: a bad or unreachable database is one line naming
/// PRECIS_DATABASE_URL, before any model loads; split roles need
/// PostgreSQL; a web replica never loads the model.
#[test]
fn the_binary_checks_the_database_and_web_needs_no_model() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let refused = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let unreachable = format!("postgres://postgres@{refused}/x");
    for (settings, expected) in [
        (vec![("PRECIS_DATABASE_URL", unreachable.as_str())], "PRECIS_DATABASE_URL"),
        (vec![("PRECIS_DATABASE_URL", "mysql://x/y")], "PRECIS_DATABASE_URL is not a postgres:// URL"),
        (vec![("PRECIS_ROLE", "worker")], "set PRECIS_DATABASE_URL"),
        (vec![("PRECIS_ROLE", "chef")], "invalid value 'chef'"),
    ] {
        let settings = [&settings[..], &[("PRECIS_DATA_DIR", data_dir)]].concat();
        let out = serve_binary(&settings, &["--model", "no/such/model"]).output().unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        assert!(stderr.contains(expected), "{settings:?}: {stderr}");
        if expected.starts_with("PRECIS") || expected.starts_with("set") {
            assert_eq!(stderr.lines().count(), 1, "{stderr}");
        }
    }
    // A web replica starts without the model (there is none here), and stops on SIGTERM.
    let database = TestDatabase::create();
    let child = serve_binary(
        &[("PRECIS_DATABASE_URL", &database.url), ("PRECIS_DATA_DIR", data_dir), ("PRECIS_LISTEN", "127.0.0.1:0")],
        &["-v", "--role", "web", "--model", "no/such/model"],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut web = Replica { child, address: "127.0.0.1:1".parse().unwrap(), log: Default::default() };
    let stderr = web.child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let started = Instant::now();
    let address: SocketAddr = loop {
        let line = lines.next().expect("the web replica exited").unwrap();
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.split(':').take(2).collect::<Vec<_>>().join(":").parse().unwrap();
        }
        assert!(started.elapsed() < Duration::from_secs(30));
    };
    std::thread::spawn(move || for _ in lines {});
    web.address = address;
    assert_eq!(http(address, "GET", "/healthz", &[], b"").0, 200);
    let body = br#"{"zen":"Keep it logically awesome.","hook_id":1}"#;
    let headers = [
        ("X-GitHub-Event", "ping".to_string()),
        ("X-GitHub-Delivery", "p-1".to_string()),
        ("X-Hub-Signature-256", sign(b"s", body)),
    ];
    assert_eq!(http(address, "POST", "/webhook", &headers, body).0, 202);
    assert_eq!(database.count("SELECT count(*) FROM precis_deliveries"), 1);
    web.stop();
}

/// A job whose process keeps dying is given up after its last attempt (its
/// check run completed as neutral, saying why); a transient GitHub failure
/// sends the job back to the queue with a backoff, and a last transient
/// failure gives it up too.
#[test]
fn poison_jobs_are_given_up_and_transient_failures_retried() {
    use precis::app::queue::SqliteQueue;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _guard = runtime.enter();
    let fake = runtime.block_on(FakeGitHub::start());
    let data = tempfile::tempdir().unwrap();
    let policy =
        Policy { lease: Duration::from_millis(300), retry_after: Duration::from_millis(200), ..Policy::default() };
    let queue: Arc<dyn JobQueue> =
        Arc::new(SqliteQueue::open_with(&data.path().join("jobs.db"), policy.clone()).unwrap());
    let (_, worker) = built_app(queue.clone(), data.path(), &fake.url, slow_summarizer(Duration::ZERO));
    let (base, heads) = make_repository(&repository_dir(data.path(), 1), &[7, 8], 1);
    for number in [7, 8] {
        fake.set_pull(number, &heads[&number][0], &base);
    }
    let spec = |number: u64| -> precis::app::queue::JobSpec {
        let payload: serde_json::Value =
            serde_json::from_slice(&pull_request_payload(1, number, &base, &heads[&number][0], 0)).unwrap();
        match precis::app::routing::route("pull_request", &payload) {
            precis::app::routing::Routed::Job(spec) => spec,
            other => panic!("{other:?}"),
        }
    };

    // The poison job: three processes claim it, open its check run, and die.
    queue.accept("poison", "pull_request", Some(&spec(7))).unwrap();
    fake.state
        .lock()
        .unwrap()
        .check_runs
        .insert(5000, json!({"name": "precis", "head_sha": heads[&7][0], "status": "in_progress"}));
    for attempt in 1..=3 {
        let dying = SqliteQueue::open_with(&data.path().join("jobs.db"), policy.clone()).unwrap();
        let job = dying.claim().unwrap().expect("claimed again once the lease ran out");
        assert_eq!(job.attempts, attempt);
        dying.set_check_run(job.id, 5000).unwrap();
        std::thread::sleep(Duration::from_millis(400));
    }
    assert!(runtime.block_on(worker.run_one()).unwrap());
    let run = fake.check_runs()[&5000].clone();
    assert_eq!((run["status"].as_str(), run["conclusion"].as_str()), (Some("completed"), Some("neutral")), "{run}");
    assert!(run["output"]["summary"].as_str().unwrap().contains("tried 3 times"), "{run}");
    assert_eq!(queue.stats().gave_up.get(), 1);
    assert!(fake.comments().is_empty(), "a job given up is not run");

    // GitHub fails (503 past the client's own retries): back to the queue, then given up after the last attempt.
    queue.accept("flaky", "pull_request", Some(&spec(8))).unwrap();
    fake.fail("POST", "/check-runs", 503, None, 1000);
    for attempt in 1..=3 {
        std::thread::sleep(policy.backoff(attempt));
        assert!(runtime.block_on(worker.run_one()).unwrap(), "attempt {attempt} was due");
    }
    let counts = queue.counts().unwrap();
    assert_eq!((counts.queued, counts.failed), (0, 2), "{counts:?}");
    assert_eq!(queue.stats().retried.get(), 2);
    assert_eq!(queue.stats().gave_up.get(), 2);
    // The next job, once GitHub answers again, runs.
    fake.state.lock().unwrap().failures.clear();
    queue.accept("fine", "pull_request", Some(&spec(8))).unwrap();
    assert!(runtime.block_on(worker.run_one()).unwrap());
    assert_eq!(queue.counts().unwrap().done, 1);
}
