//! `precis action` as a GitHub Actions step: a real pull_request payload
//! (from `@octokit/webhooks-examples`, pointed at a repository made here),
//! a real checkout and a fake GitHub; the deterministic fake model, and once
//! the binary with the TEST model in the environment a runner gives the step.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{json, Value};

use common::fake_github::FakeGitHub;
use common::python_spy::PythonSpy;
use common::runner::{Job, Runner};
use common::{rust_file, Repo};
use precis::action::{self, ActionEnv};
use precis::github::{RepoName, Token};
use precis::language_model::{LanguageModel, ModelSource};
use precis::pipeline::{Overrides, Summarizer, CONFIG_PATH};
use precis::progress::Progress;
use precis::provision::models::{self, DEFAULT_MODEL};
use precis::provision::runtime::{self, Flavor};
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
    work: tempfile::TempDir,
    result: anyhow::Result<()>,
}

impl Step {
    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.work.path().join(name)).unwrap_or_default()
    }
}

/// Runs the step in-process on the fake model, with the runner's files in a
/// folder of the test's.
async fn run_step(fake: &FakeGitHub, repo: &Path, event: &Value, token: Option<&str>) -> Step {
    run_step_on(fake, repo, event, token, common::fake_summarizer()).await
}

async fn run_step_on(
    fake: &FakeGitHub,
    repo: &Path,
    event: &Value,
    token: Option<&str>,
    summarizer: Summarizer,
) -> Step {
    let work = tempfile::tempdir().unwrap();
    let event_path = work.path().join("event.json");
    std::fs::write(&event_path, event.to_string()).unwrap();
    let env = ActionEnv {
        event_name: "pull_request".into(),
        event_path,
        repository: RepoName::parse(event["repository"]["full_name"].as_str().unwrap()).unwrap(),
        api_url: fake.url.clone(),
        token: token.map(Token::new),
        workspace: repo.to_path_buf(),
        step_summary: Some(work.path().join("summary.md")),
        output: Some(work.path().join("output.txt")),
        temp: work.path().to_path_buf(),
        config_path: CONFIG_PATH.into(),
        overrides: Overrides::default(),
        allow_fork_writes: false,
    };
    let result = action::run(&env, Arc::new(summarizer)).await;
    Step { work, result }
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
async fn a_pull_request_step_comments_checks_and_writes_the_job_summary() {
    let fake = FakeGitHub::start().await;
    let (repo, base, head) = repo_with_pull();
    let step = run_step(&fake, repo.path(), &pull_request_event(&base, &head, false), Some("ghs_token")).await;
    step.result.as_ref().unwrap();
    let comments = fake.comments();
    assert_eq!(comments.len(), 1);
    assert!(comments[0].2.contains("| `lib/parse.rs` | modified"));
    assert!(step.read("summary.md").contains("| `lib/parse.rs` | modified"));
    let outputs = step.read("output.txt");
    assert!(outputs.contains("summary-path=") && outputs.contains("summary-json="));
    for line in outputs.lines() {
        assert!(Path::new(line.split_once('=').unwrap().1).is_file(), "output {line} names a file");
    }
    let run = fake.check_runs().into_values().next().expect("a check run");
    assert_eq!(run["conclusion"], "success");

    // A second run edits the same comment.
    let step = run_step(&fake, repo.path(), &pull_request_event(&base, &head, false), Some("ghs_token")).await;
    step.result.unwrap();
    assert_eq!(fake.comments().len(), 1);
    assert_eq!(fake.count("PATCH", "/issues/comments/"), 1);
    assert!(fake.requests().iter().all(|r| r.authorization == "Bearer ghs_token"));
    let description = common::npm::rest_description();
    for request in fake.requests() {
        common::npm::assert_valid_request(&description, &request.method, &request.path, &request.body);
    }
}

/// A push to the pull request: the comment says what the new commits did,
/// computed, beside the whole change's summary.
#[tokio::test(flavor = "multi_thread")]
async fn a_new_push_is_told_since_the_last_summary() {
    let fake = FakeGitHub::start().await;
    let (repo, base, head) = repo_with_pull();
    run_step(&fake, repo.path(), &pull_request_event(&base, &head, false), Some("ghs_token")).await.result.unwrap();
    assert!(!fake.comments()[0].2.contains("Since the last summary"), "a first summary has no earlier one");
    repo.write("lib/extra.rs", "pub fn extra_step() -> u8 {\n    7\n}\n");
    let newer = repo.commit("one more");
    let step = run_step(&fake, repo.path(), &pull_request_event(&base, &newer, false), Some("ghs_token")).await;
    step.result.unwrap();
    let comments = fake.comments();
    assert_eq!(comments.len(), 1, "the same comment, edited");
    let body = &comments[0].2;
    let since = format!("**Since the last summary** (`{}` → `{}`, 1 commit", &head[..7], &newer[..7]);
    assert!(body.contains(&since), "{body}");
    assert!(body.contains("- `lib/extra.rs` (added, +3 −0): Adds the function `extra_step`."), "{body}");
    assert!(!body.contains("- `lib/parse.rs` (modified"), "what the last summary covered is not told again: {body}");

    // A force-push: the described head is no ancestor of the new one, and the comment says so.
    repo.git(&["reset", "-q", "--hard", &base]);
    repo.write("lib/parse.rs", rust_file("parse", 4));
    let rewritten = repo.commit("rewritten");
    let step = run_step(&fake, repo.path(), &pull_request_event(&base, &rewritten, false), Some("ghs_token")).await;
    step.result.unwrap();
    let body = &fake.comments()[0].2;
    assert!(
        body.contains(&format!("its head `{}` is not an ancestor of `{}`", &newer[..7], &rewritten[..7])),
        "{body}"
    );
    assert!(body.contains("this summary is of the whole change"), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fork_with_a_read_only_token_posts_nothing() {
    let fake = FakeGitHub::start().await;
    let (repo, base, head) = repo_with_pull();
    let step = run_step(&fake, repo.path(), &pull_request_event(&base, &head, true), Some("ghs_token")).await;
    step.result.as_ref().unwrap();
    assert!(fake.requests().is_empty(), "nothing is posted");
    assert!(step.read("summary.md").contains("| `lib/parse.rs` | modified"), "the job summary still has it");
}

/// A source whose model cannot be loaded (a folder gone, say).
struct NoModel;

impl ModelSource for NoModel {
    fn model(&self, _name: Option<&str>) -> anyhow::Result<Arc<dyn LanguageModel>> {
        anyhow::bail!("the model folder /opt/models/m is gone")
    }
}

/// A step that cannot summarize fails with the reason, and touches GitHub
/// not at all: no check run opened, no comment, no job summary.
#[tokio::test(flavor = "multi_thread")]
async fn a_step_that_cannot_summarize_fails_and_posts_nothing() {
    let fake = FakeGitHub::start().await;
    let (repo, base, head) = repo_with_pull();
    let summarizer = Summarizer::new(Arc::new(NoModel), None, Progress::hidden());
    let event = pull_request_event(&base, &head, false);
    let step = run_step_on(&fake, repo.path(), &event, Some("ghs_token"), summarizer).await;
    let error = format!("{:#}", step.result.as_ref().unwrap_err());
    assert!(error.contains("/opt/models/m is gone"), "{error}");
    assert!(fake.requests().is_empty(), "nothing is posted: {:?}", fake.requests().len());
    assert!(step.read("summary.md").is_empty(), "no job summary without a summary");
}

#[tokio::test(flavor = "multi_thread")]
async fn drafts_wait_and_the_settings_choose_the_model() {
    let fake = FakeGitHub::start().await;
    let repo = Repo::new();
    repo.write("lib/parse.rs", rust_file("parse", 2));
    repo.write(".github/precis.yml", "model: qwen2.5-coder-1.5b-instruct\n");
    let base = repo.commit("base");
    repo.write("lib/parse.rs", rust_file("parse", 3));
    let head = repo.commit("change");
    let mut draft = pull_request_event(&base, &head, false);
    draft["pull_request"]["draft"] = json!(true);
    let step = run_step(&fake, repo.path(), &draft, Some("ghs_token")).await;
    step.result.unwrap();
    assert!(fake.requests().is_empty(), "a draft is not summarized unless `drafts: true`");
    let step = run_step(&fake, repo.path(), &pull_request_event(&base, &head, false), Some("ghs_token")).await;
    step.result.unwrap();
    assert!(fake.comments()[0].2.contains("qwen2.5-coder-1.5b-instruct@fake"), "{}", fake.comments()[0].2);
}

/// A repository's settings name registry models only: a path there is
/// refused with one line that says so (the App reads them the same way);
/// a base commit missing from the checkout names the checkout's fix.
#[tokio::test(flavor = "multi_thread")]
async fn a_model_path_in_the_settings_is_one_clear_line() {
    let fake = FakeGitHub::start().await;
    for model in ["~m", "~/models/m", "./m", "/etc", "m/n"] {
        let repo = Repo::new();
        repo.write("lib/parse.rs", rust_file("parse", 2));
        repo.write(".github/precis.yml", format!("model: {model:?}\n"));
        let base = repo.commit("base");
        repo.write("lib/parse.rs", rust_file("parse", 3));
        let head = repo.commit("change");
        let step = run_step(&fake, repo.path(), &pull_request_event(&base, &head, false), Some("ghs_token")).await;
        let err = format!("{:#}", step.result.unwrap_err());
        assert!(
            err.contains(&format!("model `{model}` in .github/precis.yml is a path; name a registry model"))
                && !err.contains("fetch-depth")
                && !err.contains('\n'),
            "{err}"
        );
    }
    let (repo, _, head) = repo_with_pull();
    let step = run_step(&fake, repo.path(), &pull_request_event(&"f".repeat(40), &head, false), None).await;
    let err = format!("{:#}", step.result.unwrap_err());
    assert!(err.contains("is not in the checkout") && err.contains("fetch-depth: 0"), "{err}");
    assert!(fake.requests().is_empty(), "nothing is posted");
}

/// The pull request's title and body in the event file reach the model.
#[tokio::test(flavor = "multi_thread")]
async fn the_pull_requests_words_reach_the_model() {
    let fake = FakeGitHub::start().await;
    // A manifest's scripts, no code: the model is asked for its row and the overview.
    let repo = Repo::new();
    repo.write("package.json", common::retries_manifest(2));
    let base = repo.commit("base");
    repo.write("package.json", common::retries_manifest(3));
    let head = repo.commit("change");
    let mut event = pull_request_event(&base, &head, false);
    event["pull_request"]["title"] = json!("Parse a third item");
    event["pull_request"]["body"] = json!("Needed by the CLI.");
    let source = Arc::new(precis::language_model::FakeSource::new("m"));
    let summarizer = Summarizer::new(source.clone(), None, Progress::hidden());
    run_step_on(&fake, repo.path(), &event, Some("ghs_token"), summarizer).await.result.unwrap();
    let prompts = source.prompts();
    assert!(
        prompts
            .iter()
            .any(|p| p.contains("The author's description (their claims") && p.contains("Title: Parse a third item")),
        "{prompts:#?}"
    );
    assert!(prompts.iter().any(|p| p.contains("Needed by the CLI.")));
}

/// The binary, in the environment a runner gives the step action.yml runs:
/// the token comes as the `github-token` input (PRECIS_GITHUB_TOKEN), no
/// GITHUB_TOKEN; the job token may not create check runs (403): the step
/// warns once and succeeds.
#[tokio::test(flavor = "multi_thread")]
async fn the_step_as_a_runner_runs_it_succeeds_without_checks_permission() {
    if !common::provisioned("the_step_as_a_runner_runs_it") {
        return;
    }
    let fake = FakeGitHub::start().await;
    fake.fail("POST", "/check-runs", 403, None, 1);
    let (repo, base, head) = repo_with_pull();
    let work = tempfile::tempdir().unwrap();
    let event = pull_request_event(&base, &head, false);
    std::fs::write(work.path().join("event.json"), event.to_string()).unwrap();
    let mut command = common::precis();
    command
        .args(["action", "--device", "cpu", "--config-path", CONFIG_PATH, "--model"])
        .arg(common::tiny_model())
        .env("PRECIS_GITHUB_TOKEN", "ghs_jobtoken")
        .env("GITHUB_EVENT_NAME", "pull_request")
        .env("GITHUB_EVENT_PATH", work.path().join("event.json"))
        .env("GITHUB_REPOSITORY", event["repository"]["full_name"].as_str().unwrap())
        .env("GITHUB_API_URL", &fake.url)
        .env("GITHUB_WORKSPACE", repo.path())
        .env("GITHUB_STEP_SUMMARY", work.path().join("summary.md"))
        .env("GITHUB_OUTPUT", work.path().join("output.txt"))
        .env("RUNNER_TEMP", work.path());
    let out = tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stderr.matches("no check run").count(), 1, "said once: {stderr}");
    assert_eq!(fake.comments().len(), 1);
    assert!(fake.requests().iter().all(|r| r.authorization == "Bearer ghs_jobtoken"));
    assert!(String::from_utf8_lossy(&out.stdout).is_empty());
}

#[test]
fn outside_actions_it_says_what_is_missing() {
    let out = common::precis().arg("action").env_remove("GITHUB_EVENT_NAME").output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("GITHUB_EVENT_NAME is not set") && stderr.trim().lines().count() == 1, "{stderr}");
}

/// The steps that could run what the checkout holds run outside it (their
/// working directory is the runner's temp folder), and the summarize step
/// runs the installed binary only; checked without a model, as the job
/// test below needs one.
#[test]
fn the_action_runs_nothing_in_the_workspace() {
    let action: serde_yaml_ng::Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("action.yml")).unwrap(),
    )
    .unwrap();
    let steps = action["runs"]["steps"].as_sequence().unwrap();
    let step = |id: &str| steps.iter().find(|s| s["id"] == id).unwrap_or_else(|| panic!("a step `{id}`"));
    for id in ["install", "precis"] {
        assert_eq!(step(id)["working-directory"], "${{ runner.temp }}", "`{id}` runs outside the workspace");
    }
    assert!(
        !step("precis")["run"].as_str().unwrap().contains("cargo"),
        "the summarize step runs the installed binary only"
    );
    assert_eq!(step("source")["working-directory"], "${{ github.action_path }}");
}

/// action.yml's steps in order, as a runner runs them, for two jobs of one
/// pull request. The first runner is cold but for the model and runtime an
/// earlier job saved (restored by their restore key): precis is built from
/// the action's source outside the workspace (whose `.cargo/config.toml`, a
/// `rustc-wrapper`, and toolchain file never run), the real default model
/// answers, the comment is posted, the outputs name files, and the caches are
/// saved. The next push restores the binary and the earlier answers, and the
/// comment tells what is new since the last summary. The token reaches no log.
#[tokio::test(flavor = "multi_thread")]
async fn action_yml_runs_as_a_runner_runs_it() {
    if !common::provisioned("action_yml_runs_as_a_runner_runs_it") {
        return;
    }
    let fake = FakeGitHub::start().await;
    let repo = Repo::new();
    let marker = repo.path().join("wrapper-ran");
    repo.write(".cargo/config.toml", format!("[build]\nrustc-wrapper = \"/bin/sh -c 'touch {}'\"\n", marker.display()));
    repo.write("rust-toolchain.toml", "[toolchain]\nchannel = \"nightly-2001-01-01\"\n");
    repo.write("package.json", common::retries_manifest(2));
    repo.write("Gemfile", "source \"https://rubygems.org\"\n");
    let base = repo.commit("base");
    // A manifest's script set anew (computed), and a Gemfile no parser here
    // reads, of more lines than are quoted: the model is asked for its row.
    repo.write("package.json", common::retries_manifest(3));
    repo.write("Gemfile", "source \"https://rubygems.org\"\ngem \"rails\", \"~> 7.1\"\ngem \"pg\"\ngem \"puma\"\n");
    let head = repo.commit("change");

    let mut runner = Runner::new();
    let cache = common::cache();
    for part in ["models", "onnxruntime", "python"] {
        if cache.root().join(part).exists() {
            runner.seed(
                "precis-models-Linux-X64-default-earlier",
                &format!(".cache/precis/{part}"),
                &cache.root().join(part),
            );
        }
    }
    let token = "ghs_runner_job_token_7f3a";
    let job = |event: Value| Job {
        event_name: "pull_request".into(),
        event,
        workspace: repo.path().to_path_buf(),
        api_url: fake.url.clone(),
        token: token.into(),
        inputs: vec![],
    };
    let run = |mut runner: Runner, job: Job| {
        tokio::task::spawn_blocking(move || {
            let ran = runner.run(&job);
            (runner, ran)
        })
    };
    let (runner, cold) = run(runner, job(pull_request_event(&base, &head, false))).await.unwrap();
    assert!(cold.succeeded(), "{}", cold.all_logs());
    assert!(cold.log("Get precis").contains("building precis from the action's source"), "{}", cold.all_logs());
    assert!(!marker.exists(), "the workspace's rustc-wrapper ran");
    assert!(cold.log("Cache the model").contains("restored from key: precis-models-Linux-X64-default-earlier"));
    let comments = fake.comments();
    assert_eq!(comments.len(), 1, "{}", cold.all_logs());
    assert!(comments[0].2.contains("| `package.json` | modified"), "{}", comments[0].2);
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&cold.outputs["summary-json"]).unwrap()).unwrap();
    assert!(Path::new(&cold.outputs["summary-path"]).is_file(), "{:?}", cold.outputs);
    assert!(json["stats"]["chunks"].as_u64().unwrap() > 0 && json["stats"]["chunks_cached"] == 0, "{}", json["stats"]);
    let keys = runner.cache_keys();
    for prefix in ["precis-bin-Linux-X64-", "precis-summaries-Linux-"] {
        assert!(keys.iter().any(|k| k.starts_with(prefix)), "{prefix} saved: {keys:?}");
    }
    assert_eq!(
        keys.iter().filter(|k| k.starts_with("precis-models-")).count(),
        2,
        "saved under this source's key: {keys:?}"
    );

    repo.write("lib/extra.rs", "pub fn extra_step() -> u8 {\n    7\n}\n");
    let newer = repo.commit("one more");
    let mut push = pull_request_event(&base, &newer, false);
    push["action"] = json!("synchronize");
    let (runner, warm) = run(runner, job(push)).await.unwrap();
    assert!(warm.succeeded(), "{}", warm.all_logs());
    assert!(warm.log("Get precis").contains("precis from the cache"), "{}", warm.all_logs());
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&warm.outputs["summary-json"]).unwrap()).unwrap();
    assert!(json["stats"]["chunks_cached"].as_u64().unwrap() > 0, "the earlier answers restored: {}", json["stats"]);
    let comments = fake.comments();
    assert_eq!(comments.len(), 1, "the same comment, edited");
    assert!(comments[0].2.contains(&format!("**Since the last summary** (`{}` → `{}`", &head[..7], &newer[..7])));
    for ran in [&cold, &warm] {
        assert!(!ran.all_logs().contains(token), "the token in a log: {}", ran.all_logs());
    }
    assert!(fake.requests().iter().all(|r| r.authorization == format!("Bearer {token}")));
    assert_eq!(runner.cache_keys().len(), keys.len() + 1, "only the new summaries saved: {:?}", runner.cache_keys());
}

/// The `Summarize` step of action.yml as a runner runs it: its script, its
/// environment with the inputs' defaults (the token as `github-token`), in
/// its working directory, else the workspace (the runner's default).
fn summarize_step(workspace: &Path, runner_temp: &Path) -> assert_cmd::Command {
    let action: serde_yaml_ng::Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("action.yml")).unwrap(),
    )
    .unwrap();
    let step = action["runs"]["steps"].as_sequence().unwrap().iter().find(|s| s["id"] == "precis").unwrap().clone();
    let expression = |value: &str| -> String {
        let Some(inner) = value.strip_prefix("${{").and_then(|v| v.strip_suffix("}}")) else {
            return value.to_string();
        };
        match inner.trim() {
            "inputs.github-token" => PRECIS_GITHUB_TOKEN.to_string(),
            "runner.temp" => runner_temp.to_str().unwrap().to_string(),
            "steps.install.outputs.path" => assert_cmd::cargo::cargo_bin("precis").to_str().unwrap().to_string(),
            other => match other.strip_prefix("inputs.") {
                Some(input) => action["inputs"][input]["default"].as_str().expect("an input's default").to_string(),
                None => panic!("action.yml uses `{other}`, which this test does not know"),
            },
        }
    };
    let mut command = common::clean(assert_cmd::Command::new("bash"));
    command.arg("-c").arg(step["run"].as_str().unwrap());
    command.current_dir(
        step["working-directory"].as_str().map(|d| PathBuf::from(expression(d))).unwrap_or(workspace.into()),
    );
    for (name, value) in step["env"].as_mapping().unwrap() {
        command.env(name.as_str().unwrap(), expression(value.as_str().unwrap()));
    }
    command
}

/// What a runner gives a pull request's step: the event and output files in
/// `runner`, the checkout at `workspace`, an unreachable API, a cache of its own.
fn on_a_runner(command: &mut assert_cmd::Command, workspace: &Path, runner: &Path, event: &Value, cache: &Path) {
    command
        .env("XDG_CACHE_HOME", cache)
        .env("GITHUB_EVENT_NAME", "pull_request")
        .env("GITHUB_EVENT_PATH", runner.join("event.json"))
        .env("GITHUB_REPOSITORY", event["repository"]["full_name"].as_str().unwrap())
        .env("GITHUB_API_URL", "http://127.0.0.1:1")
        .env("GITHUB_WORKSPACE", workspace)
        .env("GITHUB_STEP_SUMMARY", runner.join("summary.md"))
        .env("GITHUB_OUTPUT", runner.join("output.txt"))
        .env("RUNNER_TEMP", runner);
}

/// The job token as the step's `github-token` input.
const PRECIS_GITHUB_TOKEN: &str = common::python_spy::SECRETS[0].1;

/// A pull request on a cold cache (first run, evicted cache, new model)
/// adds a `pip` package and a folder named as the default model: the step,
/// run as a runner runs it and again from the workspace, never runs the
/// pull request's code, never hands a secret to a child, and asks the
/// registry for the model (whose index is offline here, so the step fails).
#[test]
fn a_cold_cache_step_runs_and_loads_nothing_of_the_pull_request() {
    let spy = PythonSpy::new();
    let repo = Repo::new();
    repo.write("lib/parse.rs", rust_file("parse", 2));
    let base = repo.commit("base");
    repo.write("lib/parse.rs", rust_file("parse", 3));
    spy.plant_pip(repo.path());
    repo.write(&format!("{DEFAULT_MODEL}/genai_config.json"), "{\"model\": \"the pull request's own\"}");
    let head = repo.commit("change");
    let runner = tempfile::tempdir().unwrap();
    let event = pull_request_event(&base, &head, false);
    std::fs::write(runner.path().join("event.json"), event.to_string()).unwrap();
    let run = |from_workspace: bool, ort_lib: Option<&Path>| {
        let cache = tempfile::tempdir().unwrap();
        let mut command = summarize_step(repo.path(), runner.path());
        if from_workspace {
            command.current_dir(repo.path());
        }
        spy.environment(&mut command);
        on_a_runner(&mut command, repo.path(), runner.path(), &event, cache.path());
        if let Some(lib) = ort_lib {
            command.env("ORT_DYLIB_PATH", lib);
        }
        let out = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        // Progress lines come first; the error is the last line.
        let last = stderr.lines().last().unwrap_or("");
        assert!(!out.status.success() && last.starts_with("error: pip could not fetch"), "{stderr}");
        spy.assert_isolated(&cache.path().join("precis"));
        stderr
    };
    run(false, None);
    run(true, None);
    if common::provisioned("a_cold_cache_step_runs_and_loads_nothing_of_the_pull_request (with a runtime)") {
        let lib = runtime::locate(&common::cache(), None, Flavor::Cpu).unwrap();
        let err = run(true, Some(&lib));
        let part = &models::registered(DEFAULT_MODEL).unwrap().parts[0];
        assert!(err.contains(&format!("{}=={}", part.package, part.version)), "the registry's model: {err}");
    }
}

/// Without the `model` input, the step runs the model the repository's
/// config names (read at the base commit), as the App does.
#[test]
fn the_step_takes_the_model_from_the_config_when_the_input_is_empty() {
    let repo = Repo::new();
    repo.write(CONFIG_PATH, "model: qwen2.5-coder-99b-instruct\n");
    repo.write("lib/parse.rs", rust_file("parse", 2));
    let base = repo.commit("base");
    repo.write("lib/parse.rs", rust_file("parse", 3));
    let head = repo.commit("change");
    let runner = tempfile::tempdir().unwrap();
    let event = pull_request_event(&base, &head, false);
    std::fs::write(runner.path().join("event.json"), event.to_string()).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let mut command = summarize_step(repo.path(), runner.path());
    on_a_runner(&mut command, repo.path(), runner.path(), &event, cache.path());
    let out = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.trim().lines().last().unwrap_or("").contains("qwen2.5-coder-99b-instruct"),
        "the config's model: {stderr}"
    );
}
