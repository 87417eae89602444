//! `precis action` as a GitHub Actions step: a real pull_request payload
//! (from `@octokit/webhooks-examples`, pointed at a repository made here),
//! a real checkout, the TEST model, and a fake GitHub.

mod common;

use std::path::Path;

use serde_json::{json, Value};

use common::fake_github::FakeGitHub;
use common::{rust_file, Repo};

/// The first `opened` pull_request example, adjusted to `repo`'s commits.
fn pull_request_event(base: &str, head: &str, fork: bool) -> Value {
    let (_, mut payload) = common::npm::webhook_examples()
        .into_iter()
        .find(|(event, payload)| event == "pull_request" && payload["action"] == "opened")
        .expect("an opened pull_request example");
    payload["number"] = json!(7);
    payload["pull_request"]["number"] = json!(7);
    payload["pull_request"]["base"]["sha"] = json!(base);
    payload["pull_request"]["head"]["sha"] = json!(head);
    let full_name = payload["repository"]["full_name"].clone();
    payload["pull_request"]["head"]["repo"]["full_name"] = if fork { json!("someone/fork") } else { full_name };
    payload["pull_request"]["head"]["repo"]["fork"] = json!(fork);
    payload
}

struct Step {
    stdout: String,
    stderr: String,
    summary: String,
    outputs: String,
}

async fn run_step(fake: &FakeGitHub, repo: &Path, event: &Value, token_input: Option<&str>) -> Step {
    let work = tempfile::tempdir().unwrap();
    let event_path = work.path().join("event.json");
    std::fs::write(&event_path, event.to_string()).unwrap();
    let repository = event["repository"]["full_name"].as_str().unwrap().to_string();
    let mut command = common::precis();
    command
        .args(["action", "--device", "cpu", "--model"])
        .arg(common::tiny_model())
        .env("GITHUB_EVENT_NAME", "pull_request")
        .env("GITHUB_EVENT_PATH", &event_path)
        .env("GITHUB_REPOSITORY", repository)
        .env("GITHUB_API_URL", &fake.url)
        .env("GITHUB_TOKEN", "ghs_jobtoken")
        .env("GITHUB_WORKSPACE", repo)
        .env("GITHUB_STEP_SUMMARY", work.path().join("summary.md"))
        .env("GITHUB_OUTPUT", work.path().join("output.txt"))
        .env("RUNNER_TEMP", work.path())
        .env_remove("PRECIS_GITHUB_TOKEN");
    if let Some(token) = token_input {
        command.env("PRECIS_GITHUB_TOKEN", token);
    }
    let out = tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap();
    let read = |name: &str| std::fs::read_to_string(work.path().join(name)).unwrap_or_default();
    let step = Step {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        summary: read("summary.md"),
        outputs: read("output.txt"),
    };
    assert!(out.status.success(), "precis action failed: {}", step.stderr);
    for line in step.outputs.lines() {
        let (_, path) = line.split_once('=').unwrap();
        assert!(Path::new(path).is_file(), "output {line} names a file");
    }
    step
}

fn repo_with_pull() -> (Repo, String, String) {
    let repo = Repo::new();
    repo.write("lib/parse.rs", rust_file("parse", 2));
    let base = repo.commit("base");
    repo.write("lib/parse.rs", rust_file("parse", 3));
    let head = repo.commit("change");
    (repo, base, head)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pull_request_step_comments_and_writes_the_job_summary() {
    let fake = FakeGitHub::start().await;
    let (repo, base, head) = repo_with_pull();
    let step = run_step(&fake, repo.path(), &pull_request_event(&base, &head, false), None).await;
    let comments = fake.comments();
    assert_eq!(comments.len(), 1, "{}", step.stderr);
    assert!(comments[0].2.contains("| `lib/parse.rs` | modified"));
    assert!(step.summary.contains("| `lib/parse.rs` | modified"));
    assert!(step.outputs.contains("summary-path=") && step.outputs.contains("summary-json="));
    assert!(fake.requests().iter().all(|r| r.authorization == "Bearer ghs_jobtoken"));
    assert_eq!(step.stderr.matches("check runs need a GitHub App token").count(), 1, "said once: {}", step.stderr);
    assert_eq!(fake.count("POST", "/check-runs"), 0);
    assert!(step.stdout.is_empty());

    // A second run edits the same comment; an App token also gets a check run.
    let step = run_step(&fake, repo.path(), &pull_request_event(&base, &head, false), Some("ghs_apptoken")).await;
    assert_eq!(fake.comments().len(), 1, "{}", step.stderr);
    assert_eq!(fake.count("PATCH", "/issues/comments/"), 1);
    let run = fake.check_runs().into_values().next().expect("a check run with an App token");
    assert_eq!(run["conclusion"], "success");
    let description = common::npm::rest_description();
    for request in fake.requests() {
        common::npm::assert_valid_request(&description, &request.method, &request.path, &request.body);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fork_with_a_read_only_token_posts_nothing_and_says_why() {
    let fake = FakeGitHub::start().await;
    let (repo, base, head) = repo_with_pull();
    let step = run_step(&fake, repo.path(), &pull_request_event(&base, &head, true), None).await;
    assert!(fake.requests().is_empty(), "nothing is posted");
    assert!(step.stderr.contains("comes from a fork") && step.stderr.contains("read-only"), "{}", step.stderr);
    assert!(step.summary.contains("| `lib/parse.rs` | modified"), "the job summary still has it");
}

#[test]
fn outside_actions_it_says_what_is_missing() {
    let out = common::precis().arg("action").env_remove("GITHUB_EVENT_NAME").output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("GITHUB_EVENT_NAME is not set") && stderr.trim().lines().count() == 1, "{stderr}");
}
