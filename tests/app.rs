//! The GitHub App end to end: signed webhooks through the real router, the
//! durable queue, git fetches from real repositories made here, the
//! deterministic fake model (the real one in one test), and a fake GitHub on
//! loopback.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};
use tower::ServiceExt;

use common::fake_github::FakeGitHub;
use common::{rust_file, GitHostDir, Repo};
use precis::app::queue::{Failure, FailureKind, JobQueue, Policy, SqliteQueue};
use precis::app::{router, AppState, ServeSettings, Worker};
use precis::github::publish::MARKER;
use precis::github::signature::sign;
use precis::github::AppCredentials;
use precis::pipeline::Summarizer;

const SECRET: &[u8] = b"test webhook secret";

/// A throwaway RSA key for the App JWT (made for these tests, used nowhere else).
pub fn test_key() -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/test-app-key.pem"))
        .unwrap()
}

struct App {
    fake: FakeGitHub,
    data: tempfile::TempDir,
    state: AppState,
    worker: Worker,
    repo: Repo,
    base: String,
    /// The git host the worker fetches from (`octo/demo` is `repo`), kept while the App runs.
    _git: GitHostDir,
}

/// A repository with `main` and a pull request #7 (`refs/pull/7/head`) that changes code.
fn pull_request_repo() -> (Repo, String, String) {
    pull_request_of(
        &[("src/lib.rs", rust_file("core", 3))],
        &[("src/lib.rs", rust_file("core", 4)), ("src/extra.rs", rust_file("extra", 2))],
    )
}

/// A pull request of a manifest's scripts and docs, no code: the rows are
/// computed (the script set anew, the section changed), and the model is
/// asked for the overview.
fn scripts_pull_request_repo() -> (Repo, String, String) {
    pull_request_of(
        &[("package.json", common::retries_manifest(2)), ("README.md", "# demo\n".into())],
        &[("package.json", common::retries_manifest(3)), ("README.md", "# demo\n\nTests retry three times.\n".into())],
    )
}

fn pull_request_of(base_files: &[(&str, String)], head_files: &[(&str, String)]) -> (Repo, String, String) {
    let repo = Repo::new();
    for (path, text) in base_files {
        repo.write(path, text);
    }
    let base = repo.commit("base");
    repo.git(&["checkout", "-q", "-b", "feature"]);
    for (path, text) in head_files {
        repo.write(path, text);
    }
    let head = repo.commit("feature");
    repo.git(&["update-ref", "refs/pull/7/head", &head]);
    repo.git(&["checkout", "-q", "main"]);
    (repo, base, head)
}

impl App {
    async fn start() -> App {
        let (repo, base, _) = pull_request_repo();
        Self::start_with(common::fake_summarizer(), tempfile::tempdir().unwrap(), repo, base).await
    }

    async fn start_with(summarizer: Summarizer, data: tempfile::TempDir, repo: Repo, base: String) -> App {
        Self::start_configured(summarizer, data, repo, base, |_| {}).await
    }

    /// The App as `precis serve` builds it, with `configure`'s changes to its settings.
    async fn start_configured(
        summarizer: Summarizer,
        data: tempfile::TempDir,
        repo: Repo,
        base: String,
        configure: impl FnOnce(&mut ServeSettings),
    ) -> App {
        let fake = FakeGitHub::start().await;
        let git = GitHostDir::new();
        git.serve("octo", "demo", repo.path());
        // Transient failures run again at once: retries need no waiting here.
        let policy = Policy { retry_after: Duration::ZERO, ..Policy::default() };
        let queue: Arc<dyn JobQueue> = Arc::new(SqliteQueue::open_with(&data.path().join("jobs.db"), policy).unwrap());
        let mut settings = ServeSettings::new(queue, data.path().to_path_buf(), &fake.url, git.host());
        settings.secret = SECRET.to_vec();
        settings.app = Some(AppCredentials::new(1, &test_key()).unwrap());
        // A rate limit without Retry-After waits 50 ms: far from any Retry-After a test sends.
        settings.github_timing = Some((Duration::ZERO, Duration::from_millis(50), Duration::from_millis(50)));
        configure(&mut settings);
        let built = precis::app::App::build(settings, Some(summarizer)).unwrap();
        let (state, worker) = (built.state, built.worker.expect("a worker"));
        let head = repo.git(&["rev-parse", "refs/pull/7/head"]).trim().to_string();
        fake.set_pull(7, &head, &base);
        App { fake, data, state, worker, repo, base, _git: git }
    }

    fn head(&self) -> String {
        self.repo.git(&["rev-parse", "refs/pull/7/head"]).trim().to_string()
    }

    fn pull_request(&self, action: &str, head: &str, draft: bool) -> Value {
        json!({
            "action": action,
            "number": 7,
            "pull_request": {"number": 7, "state": "open", "draft": draft,
                "head": {"sha": head, "ref": "feature"}, "base": {"sha": self.base, "ref": "main"}},
            "repository": self.repository(),
            "installation": {"id": 42},
        })
    }

    fn repository(&self) -> Value {
        json!({"name": "demo", "full_name": "octo/demo", "owner": {"login": "octo"},
            "clone_url": "https://github.com/octo/demo.git", "default_branch": "main"})
    }

    async fn deliver(&self, event: &str, delivery: &str, payload: &Value) -> (StatusCode, Value) {
        let body = serde_json::to_vec(payload).unwrap();
        self.deliver_raw(event, delivery, &body, Some(&sign(SECRET, &body))).await
    }

    async fn deliver_raw(
        &self,
        event: &str,
        delivery: &str,
        body: &[u8],
        signature: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request =
            Request::post("/webhook").header("x-github-event", event).header("x-github-delivery", delivery);
        if let Some(signature) = signature {
            request = request.header("x-hub-signature-256", signature);
        }
        let response =
            router(self.state.clone()).oneshot(request.body(Body::from(body.to_vec())).unwrap()).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// Pushes a new commit to the pull request; returns its id.
    fn push_to_pull(&self) -> String {
        self.repo.git(&["checkout", "-q", "feature"]);
        self.repo.write("src/extra.rs", rust_file("extra", 3));
        let head = self.repo.commit("more");
        self.repo.git(&["update-ref", "refs/pull/7/head", &head]);
        self.repo.git(&["checkout", "-q", "main"]);
        self.fake.set_pull(7, &head, &self.base);
        head
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn opened_then_synchronize_edits_one_sticky_comment() {
    let app = App::start().await;
    let head = app.head();
    let (status, answer) = app.deliver("pull_request", "d-1", &app.pull_request("opened", &head, false)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(answer["outcome"], "queued");
    app.worker.run_until_idle().await.unwrap();

    let comments = app.fake.comments();
    assert_eq!(comments.len(), 1);
    assert!(comments[0].2.starts_with(MARKER));
    assert!(comments[0].2.contains(&format!("Describes {}.", &head[..7])));
    assert!(comments[0].2.contains("| `src/extra.rs` | added"));
    let runs = app.fake.check_runs();
    assert_eq!(runs.len(), 1);
    let run = runs.values().next().unwrap();
    assert_eq!((run["name"].as_str(), run["head_sha"].as_str()), (Some("precis"), Some(head.as_str())));
    assert_eq!((run["status"].as_str(), run["conclusion"].as_str()), (Some("completed"), Some("success")));
    assert!(run["output"]["summary"].as_str().unwrap().chars().count() <= 65_535);
    // queued → in_progress → completed.
    let statuses: Vec<Value> = app
        .fake
        .requests()
        .iter()
        .filter(|r| r.path.contains("check-runs"))
        .map(|r| r.body["status"].clone())
        .collect();
    assert_eq!(statuses, vec![json!("queued"), json!("in_progress"), json!("completed")]);

    let new_head = app.push_to_pull();
    let (status, _) = app.deliver("pull_request", "d-2", &app.pull_request("synchronize", &new_head, false)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    app.worker.run_until_idle().await.unwrap();
    let comments = app.fake.comments();
    assert_eq!(comments.len(), 1, "the same comment is edited, not a second one");
    assert!(comments[0].2.contains(&format!("Describes {}.", &new_head[..7])));
    assert_eq!(app.fake.count("POST", "/issues/7/comments"), 1);
    assert_eq!(app.fake.count("PATCH", "/issues/comments/"), 1);
    // Every call used the installation token, never the JWT, except the token exchange and the App's slug.
    for request in app.fake.requests() {
        let as_app = request.path.ends_with("/access_tokens") || request.path == "/app";
        let expected = if as_app { "Bearer ey" } else { "Bearer ghs_faketoken" };
        assert!(request.authorization.starts_with(expected), "{} {}", request.method, request.path);
    }
    assert_eq!(app.fake.count("POST", "/access_tokens"), 1, "the installation token is cached");
    assert_requests_follow_the_rest_description(&app);
}

/// Every request precis sent is one GitHub's REST description has, with a
/// body its schema accepts.
fn assert_requests_follow_the_rest_description(app: &App) {
    let description = common::npm::rest_description();
    for request in app.fake.requests() {
        common::npm::assert_valid_request(&description, &request.method, &request.path, &request.body);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_push_to_the_default_branch_gets_a_check_run() {
    let app = App::start().await;
    let before = app.base.clone();
    app.repo.write("src/main.rs", rust_file("entry", 2));
    let after = app.repo.commit("push to main");
    let payload = json!({"ref": "refs/heads/main", "before": before, "after": after, "deleted": false,
        "repository": app.repository(), "installation": {"id": 42}});
    assert_eq!(app.deliver("push", "p-1", &payload).await.1["outcome"], "queued");
    let elsewhere =
        json!({"ref": "refs/heads/feature", "before": before, "after": after, "repository": app.repository()});
    assert_eq!(app.deliver("push", "p-2", &elsewhere).await.1["outcome"], "ignored");
    app.worker.run_until_idle().await.unwrap();
    let run = app.fake.check_runs().into_values().next().expect("a check run");
    assert_eq!((run["head_sha"].as_str(), run["conclusion"].as_str()), (Some(after.as_str()), Some("success")));
    assert!(run["output"]["summary"].as_str().unwrap().contains("`src/main.rs`"));
    assert!(app.fake.comments().is_empty(), "pushes get no comment");
    assert_requests_follow_the_rest_description(&app);
}

/// What precis should do with an example payload, decided from the payload.
fn expected_outcome(event: &str, payload: &Value) -> &'static str {
    let action = payload["action"].as_str().unwrap_or("");
    match event {
        "pull_request"
            if ["opened", "reopened", "synchronize", "ready_for_review"].contains(&action)
                && payload["pull_request"]["state"] != "closed" =>
        {
            "queued"
        }
        "push"
            if payload["ref"]
                == format!("refs/heads/{}", payload["repository"]["default_branch"].as_str().unwrap_or(""))
                && payload["deleted"] != true =>
        {
            "queued"
        }
        "issue_comment"
            if action == "created"
                && payload["issue"]["pull_request"].is_object()
                && payload["comment"]["body"].as_str().is_some_and(|b| b.trim().starts_with("/precis ")) =>
        {
            "queued"
        }
        "check_run" if action == "rerequested" && payload["check_run"]["name"] == "precis" => "queued",
        "installation" | "installation_repositories" => "recorded",
        _ => "ignored",
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_example_payload_is_handled() {
    let app = App::start().await;
    let examples = common::npm::webhook_examples();
    assert!(examples.len() > 200, "{} examples", examples.len());
    let mut queued = 0;
    for (index, (event, payload)) in examples.iter().enumerate() {
        let (status, answer) = app.deliver(event, &format!("example-{index}"), payload).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{event} #{index}: {answer}");
        assert_eq!(
            answer["outcome"],
            expected_outcome(event, payload),
            "{event} {} #{index}: {answer}",
            payload["action"]
        );
        queued += (answer["outcome"] == "queued") as usize;
    }
    let counts = app.state.queue().counts().unwrap();
    assert_eq!(counts.deliveries as usize, examples.len());
    assert!(queued >= 10, "pull requests and pushes among the examples are queued ({queued})");
    assert_eq!((counts.queued + counts.superseded) as usize, queued);
}

/// The payload's `clone_url` is not where git goes: a delivery pointing it
/// at another repository (with the same commits' ids named) still gets the
/// summary of the configured host's `octo/demo`, and the token never goes
/// to the payload's URL.
#[tokio::test(flavor = "multi_thread")]
async fn a_payloads_clone_url_is_ignored() {
    let app = App::start().await;
    let decoy = Repo::new();
    decoy.write("src/lib.rs", rust_file("core", 3));
    decoy.commit("base");
    decoy.write("src/decoy.rs", rust_file("decoy", 2));
    let decoy_head = decoy.commit("decoy");
    decoy.git(&["update-ref", "refs/pull/7/head", &decoy_head]);
    let mut payload = app.pull_request("opened", &app.head(), false);
    payload["repository"]["clone_url"] = json!(decoy.path().to_str().unwrap());
    app.deliver("pull_request", "d-1", &payload).await;
    app.worker.run_until_idle().await.unwrap();
    let comments = app.fake.comments();
    assert_eq!(comments.len(), 1, "the job ran on the configured repository");
    assert!(
        comments[0].2.contains("| `src/extra.rs` | added") && !comments[0].2.contains("decoy"),
        "{}",
        comments[0].2
    );
    // A name that would climb out of the host is refused at intake.
    let mut escaping = app.pull_request("opened", &app.head(), false);
    escaping["repository"]["name"] = json!("../demo");
    assert_eq!(app.deliver("pull_request", "d-2", &escaping).await.1["outcome"], "ignored");
}

/// An attempt that created its check run and failed before recording it
/// (here: marking it in progress failed past the client's retries) leaves
/// no second check run: the retry finds the first by the job's external id
/// and completes it.
#[tokio::test(flavor = "multi_thread")]
async fn a_retry_reuses_the_check_run_an_earlier_attempt_created() {
    let app = App::start().await;
    app.fake.fail("PATCH", "/check-runs/", 502, None, 5);
    app.deliver("pull_request", "d-1", &app.pull_request("opened", &app.head(), false)).await;
    app.worker.run_until_idle().await.unwrap();
    assert_eq!(app.fake.count("POST", "/check-runs"), 1, "one check run created");
    let runs = app.fake.check_runs();
    assert_eq!(runs.len(), 1);
    let run = runs.values().next().unwrap();
    assert_eq!((run["status"].as_str(), run["conclusion"].as_str()), (Some("completed"), Some("success")), "{run}");
    assert_eq!(app.fake.count("GET", "/check-runs"), 1, "the retry looked it up");
    let counts = app.state.queue().counts().unwrap();
    assert_eq!((counts.done, counts.queued), (1, 0));
}

/// A job that opened its check run and then waits in the queue (a crash, or
/// a retry) when a newer push supersedes it does not leave that check run
/// in progress: the newer job completes it as skipped, naming its commit.
/// Both ways to be superseded: while queued, and while running (its retry).
#[tokio::test(flavor = "multi_thread")]
async fn a_superseded_jobs_check_run_is_completed() {
    let app = App::start().await;
    let queue = app.state.queue().clone();
    let first_head = app.head();
    let open_check = |id: u64| {
        app.fake
            .state
            .lock()
            .unwrap()
            .check_runs
            .insert(id, json!({"name": "precis", "head_sha": first_head, "status": "in_progress"}));
    };
    // Superseded while queued: claimed, check run opened, put back (a stop), then a newer push.
    app.deliver("pull_request", "d-1", &app.pull_request("opened", &first_head, false)).await;
    let job = queue.claim().unwrap().unwrap();
    open_check(5001);
    queue.set_check_run(job.id, 5001).unwrap();
    assert!(queue.release(job.id).unwrap());
    let second_head = app.push_to_pull();
    app.deliver("pull_request", "d-2", &app.pull_request("synchronize", &second_head, false)).await;
    // Superseded at its retry: running with its check run when a newer push comes.
    let job = queue.claim().unwrap().unwrap();
    open_check(5002);
    queue.set_check_run(job.id, 5002).unwrap();
    let third_head = app.push_to_pull();
    app.deliver("pull_request", "d-3", &app.pull_request("synchronize", &third_head, false)).await;
    assert!(queue.retry(job.id, &github_502(), Duration::ZERO).unwrap());
    assert_eq!(queue.counts().unwrap().superseded, 2);

    app.worker.run_until_idle().await.unwrap();
    let runs = app.fake.check_runs();
    for old in [5001, 5002] {
        let run = &runs[&old];
        assert_eq!((run["status"].as_str(), run["conclusion"].as_str()), (Some("completed"), Some("skipped")), "{run}");
        assert!(run["output"]["summary"].as_str().unwrap().contains(&format!("Superseded by {third_head}")), "{run}");
    }
    let newest: Vec<&Value> = runs.values().filter(|run| run["head_sha"] == third_head.as_str()).collect();
    assert_eq!(newest.len(), 1);
    assert_eq!(newest[0]["conclusion"], "success");
    // Closed once: the next job of the pull request finds nothing left to close.
    let fourth_head = app.push_to_pull();
    app.deliver("pull_request", "d-4", &app.pull_request("synchronize", &fourth_head, false)).await;
    app.worker.run_until_idle().await.unwrap();
    assert_eq!(app.fake.count("PATCH", "/check-runs/5001"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redelivery_queues_nothing_new() {
    let app = App::start().await;
    let payload = app.pull_request("opened", &app.head(), false);
    assert_eq!(app.deliver("pull_request", "same-id", &payload).await.1["outcome"], "queued");
    let (status, answer) = app.deliver("pull_request", "same-id", &payload).await;
    assert_eq!((status, answer["outcome"].as_str()), (StatusCode::ACCEPTED, Some("duplicate")));
    app.worker.run_until_idle().await.unwrap();
    assert_eq!(app.fake.count("POST", "/check-runs"), 1);
    assert_eq!(app.state.queue().counts().unwrap().done, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_are_refused_and_nothing_is_queued() {
    let app = App::start().await;
    let body = serde_json::to_vec(&app.pull_request("opened", &app.head(), false)).unwrap();
    let (status, _) = app.deliver_raw("pull_request", "d-1", &body, Some(&sign(b"wrong secret", &body))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app.deliver_raw("pull_request", "d-2", &body, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let malformed = b"{not json";
    let (status, _) = app.deliver_raw("pull_request", "d-3", malformed, Some(&sign(SECRET, malformed))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let huge = vec![b' '; 26 * 1024 * 1024];
    let (status, _) = app.deliver_raw("pull_request", "d-4", &huge, Some(&sign(SECRET, &huge))).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let counts = app.state.queue().counts().unwrap();
    assert_eq!((counts.deliveries, counts.queued), (0, 0));
    // Events precis does not act on are accepted and ignored.
    let (status, answer) =
        app.deliver("star", "d-5", &json!({"action": "created", "repository": app.repository()})).await;
    assert_eq!((status, answer["outcome"].as_str()), (StatusCode::ACCEPTED, Some("ignored")));
    app.worker.run_until_idle().await.unwrap();
    assert!(app.fake.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_accepted_delivery_survives_a_crash() {
    let (repo, base, _) = pull_request_repo();
    let first = App::start_with(common::fake_summarizer(), tempfile::tempdir().unwrap(), repo, base).await;
    let payload = first.pull_request("opened", &first.head(), false);
    assert_eq!(first.deliver("pull_request", "d-1", &payload).await.0, StatusCode::ACCEPTED);
    // The process dies with the job claimed, before anything was published.
    first.state.queue().claim().unwrap().expect("the job is queued");
    let App { data, repo, base, .. } = first;
    let second = App::start_with(common::fake_summarizer(), data, repo, base).await;
    second.worker.run_until_idle().await.unwrap();
    assert_eq!(second.fake.comments().len(), 1);
    let counts = second.state.queue().counts().unwrap();
    assert_eq!((counts.done, counts.queued, counts.running), (1, 0, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn server_errors_and_rate_limits_are_retried_and_publish_once() {
    let app = App::start().await;
    app.fake.fail("POST", "/issues/7/comments", 502, None, 1);
    app.fake.fail("PATCH", "/check-runs/", 429, Some(1), 1);
    app.deliver("pull_request", "d-1", &app.pull_request("opened", &app.head(), false)).await;
    let start = Instant::now();
    app.worker.run_until_idle().await.unwrap();
    // Without the header the wait would be the 50 ms the test App sets for rate limits.
    assert!(start.elapsed() >= Duration::from_secs(1), "Retry-After was honoured");
    assert_eq!(app.fake.comments().len(), 1, "published once");
    assert_eq!(app.fake.count("POST", "/issues/7/comments"), 2, "the 502 was retried");
    let run = app.fake.check_runs().into_values().next().unwrap();
    assert_eq!(run["conclusion"], "success");
    assert_eq!(app.state.queue().counts().unwrap().done, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn commands_need_write_access_and_drafts_wait() {
    let app = App::start().await;
    let comment = |body: &str, user: &str| {
        json!({"action": "created", "repository": app.repository(), "installation": {"id": 42},
            "issue": {"number": 7, "pull_request": {"url": "x"}},
            "comment": {"id": 1, "body": body, "user": {"login": user, "type": "User"}}})
    };
    app.fake
        .state
        .lock()
        .unwrap()
        .pulls
        .insert(7, json!({"number": 7, "head": {"sha": app.head()}, "base": {"sha": app.base}}));
    app.fake.state.lock().unwrap().permission = Some("read".into());
    app.deliver("issue_comment", "c-1", &comment("/precis summarize", "reader")).await;
    app.deliver("issue_comment", "c-2", &comment("/precis help", "reader")).await;
    app.worker.run_until_idle().await.unwrap();
    assert!(app.fake.comments().is_empty(), "a reader's commands do nothing");

    app.fake.state.lock().unwrap().permission = Some("write".into());
    app.deliver("issue_comment", "c-3", &comment("/precis help", "writer")).await;
    app.worker.run_until_idle().await.unwrap();
    let comments = app.fake.comments();
    assert_eq!(comments.len(), 1);
    assert!(comments[0].2.contains("/precis summarize") && !comments[0].2.contains(MARKER));
    for key in precis::pipeline::Settings::keys() {
        assert!(comments[0].2.contains(key), "the help names the setting `{key}`: {}", comments[0].2);
    }

    app.deliver("pull_request", "d-1", &app.pull_request("opened", &app.head(), true)).await;
    app.worker.run_until_idle().await.unwrap();
    assert_eq!(app.fake.count("POST", "/check-runs"), 0, "drafts wait unless the config says drafts: true");

    app.deliver("issue_comment", "c-4", &comment("/precis summarize", "writer")).await;
    app.worker.run_until_idle().await.unwrap();
    assert_eq!(app.fake.comments().iter().filter(|c| c.2.contains(MARKER)).count(), 1);
    assert_requests_follow_the_rest_description(&app);
}

#[tokio::test(flavor = "multi_thread")]
async fn health_and_metrics() {
    let app = App::start().await;
    app.deliver("pull_request", "d-1", &app.pull_request("opened", &app.head(), false)).await;
    let get = |path: &str| {
        let state = app.state.clone();
        let path = path.to_string();
        async move {
            let response = router(state).oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
            let status = response.status();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
            (status, String::from_utf8(bytes.to_vec()).unwrap())
        }
    };
    assert_eq!(get("/healthz").await, (StatusCode::OK, "ok".to_string()));
    let (status, text) = get("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains(r#"precis_deliveries_total{event="pull_request",outcome="queued"} 1"#), "{text}");
    assert!(text.contains("precis_queue_depth 1"), "{text}");
    app.worker.run_until_idle().await.unwrap();
    let (_, text) = get("/metrics").await;
    assert!(text.contains(r#"precis_jobs{state="done"} 1"#), "{text}");
    assert!(text.contains("precis_summarize_seconds_count 1"), "{text}");
    assert!(text.contains(r#"precis_github_request_seconds_count{method="PATCH"}"#), "{text}");
}

/// With a metrics token set, /metrics answers only a request that carries
/// it as a bearer token; /healthz stays open.
#[tokio::test(flavor = "multi_thread")]
async fn metrics_can_require_a_token() {
    let (repo, base, _) = pull_request_repo();
    let data = tempfile::tempdir().unwrap();
    let app = App::start_configured(common::fake_summarizer(), data, repo, base, |settings| {
        settings.metrics_token = Some("metrics-s3cret".into());
    })
    .await;
    let state = app.state.clone();
    let get = |path: &str, authorization: Option<&str>| {
        let mut request = Request::get(path);
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let response = router(state.clone()).oneshot(request.body(Body::empty()).unwrap());
        async move { response.await.unwrap().status() }
    };
    assert_eq!(get("/metrics", None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(get("/metrics", Some("Bearer metrics-s3cre")).await, StatusCode::UNAUTHORIZED);
    assert_eq!(get("/metrics", Some("Bearer metrics-s3cret-and-more")).await, StatusCode::UNAUTHORIZED);
    assert_eq!(get("/metrics", Some("Basic metrics-s3cret")).await, StatusCode::UNAUTHORIZED);
    assert_eq!(get("/metrics", Some("Bearer metrics-s3cret")).await, StatusCode::OK);
    assert_eq!(get("/healthz", None).await, StatusCode::OK);
}

#[test]
fn the_rest_check_catches_a_bad_body() {
    let description = common::npm::rest_description();
    common::npm::assert_valid_request(
        &description,
        "POST",
        "/repos/o/r/check-runs",
        &json!({"name": "precis", "head_sha": "abc"}),
    );
    let bad = std::panic::catch_unwind(|| {
        common::npm::assert_valid_request(&description, "POST", "/repos/o/r/check-runs", &json!({"name": 5}));
    });
    assert!(bad.is_err(), "a body without head_sha and with a numeric name is refused");
}

/// From a signed webhook to the posted comment with the real default model,
/// on a change the model is asked about (a manifest's scripts and docs, which
/// no parser tells): the comment names the real model and counts its answers.
#[tokio::test(flavor = "multi_thread")]
async fn real_model_end_to_end() {
    if !common::provisioned("real_model_end_to_end") {
        return;
    }
    use precis::provision::{Device, ModelChoice, ModelLoader};
    let choice = ModelChoice { model: None, device: Device::Cpu, precision: None, threads: Some(2) };
    let models = ModelLoader::new(common::cache(), None, choice, 4, precis::progress::Progress::hidden());
    let summarizer = Summarizer::new(Arc::new(models), None, precis::progress::Progress::hidden());
    let (repo, base, _) = scripts_pull_request_repo();
    let app = App::start_with(summarizer, tempfile::tempdir().unwrap(), repo, base).await;
    app.deliver("pull_request", "d-1", &app.pull_request("opened", &app.head(), false)).await;
    app.worker.run_until_idle().await.unwrap();
    let comments = app.fake.comments();
    assert_eq!(comments.len(), 1);
    let body = &comments[0].2;
    assert!(
        body.starts_with(MARKER)
            && body.contains("| `package.json` | modified")
            && body.contains("| `README.md` | modified"),
        "{body}"
    );
    let footer = body.lines().find(|l| l.contains("model answer(s)")).unwrap_or_else(|| panic!("a footer: {body}"));
    assert!(
        footer.contains(&format!("`{}-int8@", precis::provision::models::DEFAULT_MODEL)),
        "the real model: {footer}"
    );
    let answers: usize = footer
        .split(" model answer(s)")
        .next()
        .and_then(|before| before.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a count of answers: {footer}"));
    assert!(answers >= 1, "the model answered for the overview: {footer}");
    let run = app.fake.check_runs().into_values().next().unwrap();
    assert_eq!(run["conclusion"], "success");
}

/// `model:` in the base commit's settings picks the model the App runs.
#[tokio::test(flavor = "multi_thread")]
async fn the_repository_settings_choose_the_model() {
    let repo = Repo::new();
    repo.write("src/lib.rs", rust_file("core", 3));
    repo.write(".github/precis.yml", "model: qwen2.5-coder-1.5b-instruct\n");
    let base = repo.commit("base");
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.write("src/lib.rs", rust_file("core", 4));
    let head = repo.commit("feature");
    repo.git(&["update-ref", "refs/pull/7/head", &head]);
    repo.git(&["checkout", "-q", "main"]);
    let app = App::start_with(common::fake_summarizer(), tempfile::tempdir().unwrap(), repo, base).await;
    app.deliver("pull_request", "d-1", &app.pull_request("opened", &head, false)).await;
    app.worker.run_until_idle().await.unwrap();
    let comments = app.fake.comments();
    assert!(comments[0].2.contains("qwen2.5-coder-1.5b-instruct@fake"), "{}", comments[0].2);
}

/// A folder named as the model in a repository's settings is refused: the
/// App's machine is not the repository's to name.
#[tokio::test(flavor = "multi_thread")]
async fn a_model_path_in_the_settings_is_refused() {
    let repo = Repo::new();
    repo.write("src/lib.rs", rust_file("core", 3));
    repo.write(".github/precis.yml", "model: /etc\n");
    let base = repo.commit("base");
    repo.write("src/lib.rs", rust_file("core", 4));
    let head = repo.commit("feature");
    repo.git(&["update-ref", "refs/pull/7/head", &head]);
    let app = App::start_with(common::fake_summarizer(), tempfile::tempdir().unwrap(), repo, base).await;
    app.deliver("pull_request", "d-1", &app.pull_request("opened", &head, false)).await;
    app.worker.run_until_idle().await.unwrap();
    assert!(app.fake.comments().is_empty());
    assert_eq!(app.state.queue().counts().unwrap().failed, 1);
}

/// A source whose model cannot be loaded (a folder gone, say).
struct NoModel;

impl precis::language_model::ModelSource for NoModel {
    fn model(&self, _name: Option<&str>) -> anyhow::Result<Arc<dyn precis::language_model::LanguageModel>> {
        anyhow::bail!("the model folder /srv/precis/models/m is gone")
    }
}

/// A job that cannot summarize fails, and its check run, open while it
/// ran, is completed as neutral without the reason (which names the App's
/// machine); no comment is posted.
#[tokio::test(flavor = "multi_thread")]
async fn a_job_that_cannot_summarize_completes_its_check_run_as_neutral() {
    let (repo, base, _) = pull_request_repo();
    let summarizer = Summarizer::new(Arc::new(NoModel), None, precis::progress::Progress::hidden());
    let app = App::start_with(summarizer, tempfile::tempdir().unwrap(), repo, base).await;
    let head = app.head();
    app.deliver("pull_request", "d-1", &app.pull_request("opened", &head, false)).await;
    app.worker.run_until_idle().await.unwrap();
    assert!(app.fake.comments().is_empty());
    assert_eq!(app.state.queue().counts().unwrap().failed, 1);
    let run = app.fake.check_runs().into_values().next().expect("a check run");
    assert_eq!((run["status"].as_str(), run["conclusion"].as_str()), (Some("completed"), Some("neutral")), "{run}");
    let text = run["output"]["summary"].as_str().unwrap();
    assert!(text.contains("/precis summarize") && !text.contains("/srv"), "{text}");
}

/// The pull request's title and body (read from GitHub) reach the model,
/// marked as the author's; the comment does not repeat the title.
#[tokio::test(flavor = "multi_thread")]
async fn the_pull_requests_words_reach_the_model() {
    let (repo, base, _) = scripts_pull_request_repo();
    let source = Arc::new(precis::language_model::FakeSource::new("m"));
    let summarizer = Summarizer::new(source.clone(), None, precis::progress::Progress::hidden());
    let app = App::start_with(summarizer, tempfile::tempdir().unwrap(), repo, base).await;
    app.fake.state.lock().unwrap().pulls.insert(
        7,
        json!({"number": 7, "title": "Retry the tests", "body": "<!-- fill me -->\nFlaky on slow runners.",
            "head": {"sha": app.head()}, "base": {"sha": app.base}}),
    );
    app.deliver("pull_request", "d-1", &app.pull_request("opened", &app.head(), false)).await;
    app.worker.run_until_idle().await.unwrap();
    let prompts = source.prompts();
    assert!(
        prompts
            .iter()
            .any(|p| p.contains("The author's description (their claims") && p.contains("Title: Retry the tests")),
        "{prompts:#?}"
    );
    assert!(prompts.iter().any(|p| p.contains("Flaky on slow runners.") && !p.contains("fill me")));
    let comment = &app.fake.comments()[0].2;
    assert!(!comment.contains("### Retry the tests"), "{comment}");
}

/// The marker in a person's or another bot's comment does not make it
/// precis's (only the App's own bot, `precis[bot]` for the fake's App slug,
/// counts): both are left alone and precis posts its own.
#[tokio::test(flavor = "multi_thread")]
async fn the_marker_in_someone_elses_comment_is_left_alone() {
    let app = App::start().await;
    let quoted = format!("{MARKER}\nquoting the bot");
    let copied = format!("{MARKER}\nanother bot's summary");
    app.fake
        .state
        .lock()
        .unwrap()
        .foreign_comments
        .extend([(7, 5, quoted.clone(), "octocat".to_string()), (7, 6, copied.clone(), "other-app[bot]".to_string())]);
    app.deliver("pull_request", "d-1", &app.pull_request("opened", &app.head(), false)).await;
    app.worker.run_until_idle().await.unwrap();
    assert_eq!(app.fake.count("PATCH", "/issues/comments/"), 0);
    let foreign = app.fake.state.lock().unwrap().foreign_comments.clone();
    assert_eq!((&foreign[0].2, &foreign[1].2), (&quoted, &copied));
    assert_eq!(app.fake.comments().len(), 1, "precis posted its own comment");
    assert_eq!(app.fake.count("GET", "/app"), 1, "the App's slug was asked for");
    // The next run edits precis's own comment, and the slug is not asked again.
    let first_head = app.head();
    let new_head = app.push_to_pull();
    app.deliver("pull_request", "d-2", &app.pull_request("synchronize", &new_head, false)).await;
    app.worker.run_until_idle().await.unwrap();
    assert_eq!(app.fake.comments().len(), 1);
    assert_eq!(app.fake.count("PATCH", "/issues/comments/"), 1);
    assert_eq!(app.fake.count("GET", "/app"), 1);
    // The edited comment tells the new push apart from what the last summary described.
    let body = &app.fake.comments()[0].2;
    let since = format!("**Since the last summary** (`{}` → `{}`, 1 commit", &first_head[..7], &new_head[..7]);
    assert!(body.contains(&since), "{body}");
}

/// The comment search reads at most `COMMENT_PAGES` pages: on a pull
/// request whose first 1,000 comments are others', precis posts no comment
/// (it could be a second one) and the summary goes to the check run.
#[tokio::test(flavor = "multi_thread")]
async fn the_comment_search_stops_after_its_pages() {
    use precis::github::publish::COMMENT_PAGES;
    let app = App::start().await;
    let busy: Vec<_> =
        (0..COMMENT_PAGES as u64 * 100 + 50).map(|i| (7, 10 + i, format!("comment {i}"), "octocat".into())).collect();
    app.fake.state.lock().unwrap().foreign_comments.extend(busy);
    app.deliver("pull_request", "d-1", &app.pull_request("opened", &app.head(), false)).await;
    app.worker.run_until_idle().await.unwrap();
    assert_eq!(app.fake.count("GET", "/issues/7/comments"), COMMENT_PAGES as usize);
    assert!(app.fake.comments().is_empty(), "no comment that could be a second one");
    let run = app.fake.check_runs().into_values().next().unwrap();
    assert_eq!(run["conclusion"], "success");
    assert!(run["output"]["summary"].as_str().unwrap().contains("`src/extra.rs`"), "{run}");
    assert_eq!(app.state.queue().counts().unwrap().done, 1);
}

/// A delivery about an older head (here the `opened` delivery replayed
/// under a new delivery id after the pull request moved on) is skipped: the
/// comment still describes the newer head, and the old head gets no check run.
#[tokio::test(flavor = "multi_thread")]
async fn a_replayed_delivery_for_an_older_head_changes_nothing() {
    let app = App::start().await;
    let old_head = app.head();
    let opened = app.pull_request("opened", &old_head, false);
    let new_head = app.push_to_pull();
    app.deliver("pull_request", "d-2", &app.pull_request("synchronize", &new_head, false)).await;
    app.worker.run_until_idle().await.unwrap();
    let describes_new_head = |app: &App| {
        let comments = app.fake.comments();
        comments.len() == 1 && comments[0].2.contains(&format!("Describes {}.", &new_head[..7]))
    };
    assert!(describes_new_head(&app), "{:?}", app.fake.comments());
    let (status, answer) = app.deliver("pull_request", "d-1-replayed", &opened).await;
    assert_eq!((status, answer["outcome"].as_str()), (StatusCode::ACCEPTED, Some("queued")));
    app.worker.run_until_idle().await.unwrap();
    assert!(describes_new_head(&app), "{:?}", app.fake.comments());
    assert_eq!(app.fake.count("PATCH", "/issues/comments/"), 0, "the comment was not touched");
    assert!(
        app.fake.check_runs().values().all(|run| run["head_sha"] != old_head.as_str()),
        "no check run on the old head"
    );
    assert_eq!(app.state.queue().counts().unwrap().done, 2);
}

/// A job that opened its check run and is retried after the pull request
/// moved on (the newer delivery not yet here) completes that check run as
/// skipped, naming the newer head, and posts nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_stale_jobs_check_run_is_completed_as_skipped() {
    let app = App::start().await;
    let queue = app.state.queue().clone();
    let old_head = app.head();
    app.deliver("pull_request", "d-1", &app.pull_request("opened", &old_head, false)).await;
    let job = queue.claim().unwrap().unwrap();
    app.fake
        .state
        .lock()
        .unwrap()
        .check_runs
        .insert(5001, json!({"name": "precis", "head_sha": old_head, "status": "in_progress"}));
    queue.set_check_run(job.id, 5001).unwrap();
    assert!(queue.retry(job.id, &github_502(), Duration::ZERO).unwrap());
    let new_head = app.push_to_pull();
    app.worker.run_until_idle().await.unwrap();
    let run = &app.fake.check_runs()[&5001];
    assert_eq!((run["status"].as_str(), run["conclusion"].as_str()), (Some("completed"), Some("skipped")), "{run}");
    assert!(run["output"]["summary"].as_str().unwrap().contains(&new_head), "{run}");
    assert!(app.fake.comments().is_empty());
    assert_eq!(app.fake.count("POST", "/check-runs"), 0);
}

/// One installation's token request that never answers does not hold up
/// another installation's job.
#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_token_request_holds_up_no_other_installation() {
    let app = App::start().await;
    app.fake.stall("POST", "/app/installations/43/access_tokens");
    let mut elsewhere = app.pull_request("opened", &app.head(), false);
    elsewhere["number"] = json!(8);
    elsewhere["pull_request"]["number"] = json!(8);
    elsewhere["installation"] = json!({"id": 43});
    app.deliver("pull_request", "d-43", &elsewhere).await;
    app.deliver("pull_request", "d-42", &app.pull_request("opened", &app.head(), false)).await;
    let stalled = tokio::spawn({
        let worker = app.worker.clone();
        async move { worker.run_one().await }
    });
    let asked = Instant::now();
    while app.fake.count("POST", "/installations/43/") == 0 {
        assert!(asked.elapsed() < Duration::from_secs(10), "installation 43's job asked for its token");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = Instant::now();
    let ran = tokio::time::timeout(Duration::from_secs(20), app.worker.run_one()).await;
    assert!(ran.expect("installation 42's job did not wait for 43's token").unwrap());
    eprintln!("installation 42's job took {:.2} s", started.elapsed().as_secs_f64());
    assert_eq!(app.fake.comments().len(), 1, "installation 42's summary was posted");
    assert!(!stalled.is_finished(), "installation 43's job still waits for its token");
    stalled.abort();
}

/// A `Retry-After` longer than `MAX_RETRY_AFTER` is not waited out in
/// place: the request fails, the job goes back to the queue, and its next
/// attempt (due at once here) publishes.
#[tokio::test(flavor = "multi_thread")]
async fn a_retry_after_past_the_cap_sends_the_job_back_to_the_queue() {
    let app = App::start().await;
    app.fake.fail("POST", "/check-runs", 429, Some(100_000), 1);
    app.deliver("pull_request", "d-1", &app.pull_request("opened", &app.head(), false)).await;
    tokio::time::timeout(Duration::from_secs(60), app.worker.run_until_idle())
        .await
        .expect("the job did not wait out Retry-After: 100000")
        .unwrap();
    assert_eq!(app.state.queue().stats().retried.get(), 1, "the attempt failed and the job was retried");
    assert_eq!(app.fake.count("POST", "/check-runs"), 2);
    assert_eq!(app.fake.comments().len(), 1);
    assert_eq!(app.state.queue().counts().unwrap().done, 1);
}

/// A second `precis serve` on a data folder whose SQLite queue a running one
/// holds is refused with one line, before it touches the queue.
#[test]
fn a_second_serve_on_the_same_data_folder_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let first = precis::app::queue::open(None, data.path(), Policy::default()).unwrap();
    let key = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/test-app-key.pem");
    let out = common::precis()
        .args(["serve", "--model", "no/such/model"])
        .env("PRECIS_APP_ID", "1")
        .env("PRECIS_PRIVATE_KEY", &key)
        .env("PRECIS_WEBHOOK_SECRET", "s")
        .env("PRECIS_LISTEN", "127.0.0.1:0")
        .env("PRECIS_DATA_DIR", data.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("another precis serve uses the data folder") && stderr.contains("PRECIS_DATABASE_URL"),
        "{stderr}"
    );
    // Once the first is gone, the folder is free.
    drop(first);
    precis::app::queue::open(None, data.path(), Policy::default()).unwrap();
}

/// A reader's `/precis summarize` queued after a pull request's own job does
/// not replace it: the summary is still published, the command ignored.
#[tokio::test(flavor = "multi_thread")]
async fn a_readers_command_changes_nothing() {
    let app = App::start().await;
    app.fake.state.lock().unwrap().permission = Some("read".into());
    app.deliver("pull_request", "d-1", &app.pull_request("opened", &app.head(), false)).await;
    let command = json!({"action": "created", "repository": app.repository(), "installation": {"id": 42},
        "issue": {"number": 7, "pull_request": {"url": "x"}},
        "comment": {"id": 1, "body": "/precis summarize", "user": {"login": "reader", "type": "User"}}});
    assert_eq!(app.deliver("issue_comment", "c-1", &command).await.1["outcome"], "queued");
    app.worker.run_until_idle().await.unwrap();
    assert_eq!(app.fake.comments().len(), 1, "the pull request's summary was published");
    assert_eq!(
        app.fake.count("GET", "/pulls/7"),
        1,
        "only the summary job read the pull request; the reader's command stopped at the permission check"
    );
    assert_eq!(app.state.queue().counts().unwrap().superseded, 0);
}

/// Cached answers are kept per installation: one installation's never serve another's.
#[tokio::test(flavor = "multi_thread")]
async fn the_answer_cache_is_kept_per_installation() {
    let (repo, base, _) = scripts_pull_request_repo();
    let cache = tempfile::tempdir().unwrap();
    let summarizer = Summarizer::new(
        Arc::new(precis::language_model::FakeSource::new("m")),
        Some(cache.path().to_path_buf()),
        precis::progress::Progress::hidden(),
    );
    let app = App::start_with(summarizer, tempfile::tempdir().unwrap(), repo, base).await;
    app.deliver("pull_request", "d-1", &app.pull_request("opened", &app.head(), false)).await;
    app.worker.run_until_idle().await.unwrap();
    let scopes: Vec<String> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(scopes, vec!["installation-42"]);
}

/// A transient GitHub failure, as the worker records one.
fn github_502() -> Failure {
    Failure { kind: FailureKind::GitHub, message: "GitHub answered 502".into() }
}
