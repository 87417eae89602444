//! `precis action`: one step of a GitHub Actions job, on the checked-out
//! repository. The Markdown goes to the job summary and the step's outputs;
//! on a pull request precis posts (or edits) the same sticky comment as the
//! App, and a check run where the token may create one.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::github::payload::{self, Event};
use crate::github::publish::RepoClient;
use crate::github::{GitHub, RepoName, Token};
use crate::pipeline::{report, AuthorContext, Input, Overrides, Settings, Summarizer, Summary};
use crate::provision::ModelName;
use crate::publication::{summarize_and_publish, CheckPlan, Host, Publisher, Publishing, SettingsAt, Target};

/// What the Actions runner tells a step, from its environment, and the step's inputs.
pub struct ActionEnv {
    pub event_name: String,
    pub event_path: PathBuf,
    pub repository: RepoName,
    pub api_url: String,
    /// The `github-token` input, else `GITHUB_TOKEN`.
    pub token: Option<Token>,
    pub workspace: PathBuf,
    pub step_summary: Option<PathBuf>,
    pub output: Option<PathBuf>,
    pub temp: PathBuf,
    /// The settings file in the repository (default `.github/precis.yml`).
    pub config_path: String,
    /// Action inputs over the repository's settings.
    pub overrides: Overrides,
    /// Under `pull_request_target`, write to pull requests from forks too
    /// (the `allow-fork-writes` input; off by default).
    pub allow_fork_writes: bool,
}

fn required(name: &str) -> Result<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty()).with_context(|| {
        format!(
            "{name} is not set; `precis action` runs inside a GitHub Actions job (use `precis summarize` elsewhere)"
        )
    })
}

impl ActionEnv {
    /// Reads the runner's variables; `token` is the input, else `GITHUB_TOKEN`.
    /// A model folder in `overrides` written as a relative path is the workspace's.
    pub fn from_env(token: Option<String>, config_path: String, mut overrides: Overrides) -> Result<ActionEnv> {
        let event_name = required("GITHUB_EVENT_NAME")?;
        let workspace = std::env::var("GITHUB_WORKSPACE").map(PathBuf::from).unwrap_or_else(|_| PathBuf::from("."));
        overrides.model = overrides.model.map(|model| in_workspace(model, &workspace));
        let repository = required("GITHUB_REPOSITORY")?;
        let token =
            token.filter(|t| !t.is_empty()).or_else(|| std::env::var("GITHUB_TOKEN").ok().filter(|t| !t.is_empty()));
        Ok(ActionEnv {
            event_name,
            event_path: required("GITHUB_EVENT_PATH")?.into(),
            repository: RepoName::parse(&repository)
                .with_context(|| format!("GITHUB_REPOSITORY `{repository}` is not owner/name"))?,
            api_url: std::env::var("GITHUB_API_URL").unwrap_or_else(|_| "https://api.github.com".into()),
            token: token.map(Token::new),
            workspace,
            step_summary: std::env::var_os("GITHUB_STEP_SUMMARY").map(PathBuf::from),
            output: std::env::var_os("GITHUB_OUTPUT").map(PathBuf::from),
            temp: std::env::var_os("RUNNER_TEMP").map(PathBuf::from).unwrap_or_else(std::env::temp_dir),
            config_path,
            overrides,
            allow_fork_writes: std::env::var("PRECIS_ALLOW_FORK_WRITES")
                .is_ok_and(|v| v.trim().eq_ignore_ascii_case("true")),
        })
    }
}

/// The `model` input as precis reads it: the step runs outside the
/// workspace, so a folder written as a relative path (`./models/x`) is taken
/// from the workspace, as the workflow's author sees it; a registry name is kept.
fn in_workspace(model: String, workspace: &Path) -> String {
    match ModelName::parse(&model) {
        ModelName::Folder(dir) if dir.is_relative() && !model.starts_with('~') => {
            workspace.join(dir).to_string_lossy().into_owned()
        }
        _ => model,
    }
}

/// What an event asks of the step: the change, and why nothing may be
/// posted (a fork's read-only token), if so.
struct Asked {
    target: Target,
    read_only: Option<String>,
}

fn asked(event_name: &str, event: Event, allow_fork_writes: bool) -> Result<Option<Asked>> {
    match event {
        Event::PullRequest(e) => {
            // Under pull_request a fork's token is read-only; under pull_request_target it
            // can write, and a fork's content steers what would be written: opt-in only.
            let read_only = match (e.from_fork(), event_name) {
                (true, "pull_request") => Some("this pull request comes from a fork, whose workflow token is read-only: the summary goes to the job summary only"),
                (true, _) if !allow_fork_writes => Some("this pull request comes from a fork and the workflow runs with a write token (pull_request_target): nothing is posted unless the workflow sets allow-fork-writes: true; the summary goes to the job summary"),
                _ => None,
            }
            .map(str::to_string);
            Ok(Some(Asked { target: Target::pull_request(&e.pull_request), read_only }))
        }
        Event::Push(e) if e.after.is_zero() => Ok(None),
        Event::Push(e) => Ok(Some(Asked { target: Target::push(&e.before, &e.after), read_only: None })),
        Event::Malformed { event, reason } => {
            anyhow::bail!(
                "the {event} event lacks what precis needs ({reason}); is GITHUB_EVENT_PATH the runner's file?"
            )
        }
        _ => Ok(None),
    }
}

/// The step's side of the shared path: the summary is made in-process and
/// written to the job summary and the step's outputs before it is posted.
struct StepHost<'a> {
    env: &'a ActionEnv,
    summarizer: Arc<Summarizer>,
}

impl Host for StepHost<'_> {
    async fn summarize(&self, input: Input, settings: Settings, author: AuthorContext) -> Result<Summary> {
        let summarizer = self.summarizer.clone();
        tokio::task::spawn_blocking(move || summarizer.summarize(&input, &settings, &author)).await?
    }

    fn summarized(&self, summary: &Summary) -> Result<()> {
        let env = self.env;
        let markdown = report::to_markdown(summary, report::COMMENT_LIMIT);
        let summary_path = env.temp.join("precis-summary.md");
        let json_path = env.temp.join("precis-summary.json");
        std::fs::write(&summary_path, &markdown).with_context(|| format!("cannot write {}", summary_path.display()))?;
        std::fs::write(&json_path, report::to_json(summary))
            .with_context(|| format!("cannot write {}", json_path.display()))?;
        if let Some(path) = &env.step_summary {
            append(path, &format!("{markdown}\n"))?;
        }
        if let Some(path) = &env.output {
            append(path, &format!("summary-path={}\nsummary-json={}\n", summary_path.display(), json_path.display()))?;
        }
        Ok(())
    }
}

/// Runs the step; what it wrote is in the job summary and the outputs.
pub async fn run(env: &ActionEnv, summarizer: Arc<Summarizer>) -> Result<()> {
    let text = std::fs::read_to_string(&env.event_path)
        .with_context(|| format!("cannot read GITHUB_EVENT_PATH {}", env.event_path.display()))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("GITHUB_EVENT_PATH {} is not JSON", env.event_path.display()))?;
    let Some(Asked { target, read_only }) =
        asked(&env.event_name, payload::parse(&env.event_name, &json), env.allow_fork_writes)?
    else {
        tracing::warn!("precis summarizes pull_request and push events; `{}` has nothing to summarize", env.event_name);
        return Ok(());
    };

    let workspace = env.workspace.clone();
    let base = target.base.to_string();
    let has_base = tokio::task::spawn_blocking(move || {
        git2::Repository::open(&workspace).is_ok_and(|git| git.revparse_single(&base).is_ok())
    })
    .await?;
    if !has_base {
        anyhow::bail!(
            "the base commit {} is not in the checkout at {}; use actions/checkout with fetch-depth: 0",
            target.base,
            env.workspace.display()
        );
    }
    let github = GitHub::new(&env.api_url, None)?;
    // The job's token may lack `checks: write` or `pull-requests: write`: a warning, never a failed step.
    let publisher = match (&env.token, &read_only) {
        (_, Some(reason)) => {
            tracing::warn!("{reason}");
            None
        }
        (None, None) => {
            tracing::warn!("no token (github-token input or GITHUB_TOKEN): the summary is in the job summary only");
            None
        }
        (Some(token), None) => {
            Some(Publisher::new(RepoClient { github: &github, token, repo: &env.repository }, Publishing::Action))
        }
    };
    let host = StepHost { env, summarizer };
    let settings_at = SettingsAt { config_path: &env.config_path, overrides: &env.overrides };
    summarize_and_publish(&host, &target, &env.workspace, settings_at, publisher.as_ref(), CheckPlan::default()).await
}

fn append(path: &Path, text: &str) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn repository(full_name: &str, fork: bool) -> serde_json::Value {
        let (owner, name) = full_name.split_once('/').unwrap();
        json!({"name": name, "full_name": full_name, "fork": fork, "owner": {"login": owner}})
    }

    #[test]
    fn forks_are_read_only_and_pushes_diff_from_before() {
        let pr = |head_repo: &str| {
            json!({"action": "opened", "repository": repository("o/r", false), "pull_request": {"number": 3, "title": "T", "draft": false,
                "base": {"sha": "b"}, "head": {"sha": "h", "repo": repository(head_repo, head_repo != "o/r")}}})
        };
        let parse = |name: &str, v: serde_json::Value| asked(name, payload::parse(name, &v), false).unwrap();
        let own = parse("pull_request", pr("o/r")).unwrap();
        assert!(own.read_only.is_none());
        assert_eq!(own.target.author.title.as_deref(), Some("T"));
        assert!(parse("pull_request", pr("fork/r")).unwrap().read_only.is_some());
        assert!(
            parse("pull_request_target", pr("fork/r")).unwrap().read_only.is_some(),
            "a fork under a write token posts nothing by default"
        );
        let allowed =
            asked("pull_request_target", payload::parse("pull_request_target", &pr("fork/r")), true).unwrap().unwrap();
        assert!(allowed.read_only.is_none());
        let push = parse(
            "push",
            json!({"ref": "refs/heads/main", "before": "a", "after": "b", "repository": repository("o/r", false)}),
        )
        .unwrap()
        .target;
        assert_eq!((push.base.as_str(), push.head.as_str(), push.pull), ("a", "b", None));
        assert!(parse("issues", json!({})).is_none());
        assert!(asked("pull_request", payload::parse("pull_request", &json!({"action": "opened"})), false).is_err());
    }

    #[test]
    fn a_relative_model_folder_is_the_workspaces_and_a_name_stays_a_name() {
        let workspace = Path::new("/home/runner/work/r/r");
        assert_eq!(in_workspace("./models/m".into(), workspace), "/home/runner/work/r/r/./models/m");
        assert_eq!(in_workspace("models/m".into(), workspace), "/home/runner/work/r/r/models/m");
        assert_eq!(in_workspace("/opt/m".into(), workspace), "/opt/m");
        assert_eq!(in_workspace("qwen2.5-coder-0.5b-instruct".into(), workspace), "qwen2.5-coder-0.5b-instruct");
    }
}
