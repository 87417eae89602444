//! `precis action`: one step of a GitHub Actions job, on the checked-out
//! repository. The Markdown goes to the job summary and the step's outputs;
//! on a pull request precis posts (or edits) the same sticky comment as the
//! App. Check runs need an App token: with the job's own `GITHUB_TOKEN`
//! precis says so once and relies on the job summary.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

use crate::github::publish::{self, Conclusion};
use crate::github::{GitHub, Token};
use crate::pipeline::Pipeline;
use crate::queue::RepoRef;
use crate::report;

/// What the Actions runner tells a step, from its environment.
pub struct ActionEnv {
    pub event_name: String,
    pub event_path: PathBuf,
    /// `owner/name`
    pub repository: String,
    pub api_url: String,
    /// The token given to the step (the `github-token` input).
    pub token: Option<Token>,
    /// Whether `token` is the job's own `GITHUB_TOKEN` (no check runs then).
    pub job_token: bool,
    pub workspace: PathBuf,
    pub step_summary: Option<PathBuf>,
    pub output: Option<PathBuf>,
    pub temp: PathBuf,
    /// The settings file in the repository (default `.github/precis.yml`).
    pub config_path: String,
}

fn required(name: &str) -> Result<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty()).with_context(|| {
        format!("{name} is not set; `precis action` runs inside a GitHub Actions job (use `precis summarize` elsewhere)")
    })
}

impl ActionEnv {
    /// Reads the runner's variables; `token` is the input, else `GITHUB_TOKEN`.
    pub fn from_env(token: Option<String>) -> Result<ActionEnv> {
        let job_token = std::env::var("GITHUB_TOKEN").ok().filter(|t| !t.is_empty());
        let given = token.filter(|t| !t.is_empty());
        let is_job_token = given.is_none() || given == job_token;
        Ok(ActionEnv {
            event_name: required("GITHUB_EVENT_NAME")?,
            event_path: required("GITHUB_EVENT_PATH")?.into(),
            repository: required("GITHUB_REPOSITORY")?,
            api_url: std::env::var("GITHUB_API_URL").unwrap_or_else(|_| "https://api.github.com".into()),
            token: given.or(job_token).map(Token::new),
            job_token: is_job_token,
            workspace: std::env::var("GITHUB_WORKSPACE").map(PathBuf::from).unwrap_or_else(|_| PathBuf::from(".")),
            step_summary: std::env::var_os("GITHUB_STEP_SUMMARY").map(PathBuf::from),
            output: std::env::var_os("GITHUB_OUTPUT").map(PathBuf::from),
            temp: std::env::var_os("RUNNER_TEMP").map(PathBuf::from).unwrap_or_else(std::env::temp_dir),
            config_path: crate::repo_config::CONFIG_PATH.to_string(),
        })
    }
}

/// The change an event describes: base and head commits, and the pull
/// request's number when there is one.
struct Target {
    base: String,
    head: String,
    pull: Option<u64>,
    /// Why nothing may be posted (a fork's read-only token), if so.
    read_only: Option<String>,
}

fn target(event_name: &str, event: &Value, repository: &str) -> Result<Option<Target>> {
    let text = |pointer: &str| event.pointer(pointer).and_then(Value::as_str).map(str::to_string);
    match event_name {
        "pull_request" | "pull_request_target" => {
            let (Some(base), Some(head), Some(number)) =
                (text("/pull_request/base/sha"), text("/pull_request/head/sha"), event.pointer("/pull_request/number").and_then(Value::as_u64))
            else {
                anyhow::bail!("the pull_request event lacks base/head commits or a number; is GITHUB_EVENT_PATH the runner's file?");
            };
            let head_repo = text("/pull_request/head/repo/full_name");
            let fork = event.pointer("/pull_request/head/repo/fork").and_then(Value::as_bool) == Some(true)
                || head_repo.as_deref().is_some_and(|h| h != repository);
            let read_only = (fork && event_name == "pull_request").then(|| {
                "this pull request comes from a fork, whose workflow token is read-only: the summary goes to the job summary only".to_string()
            });
            Ok(Some(Target { base, head, pull: Some(number), read_only }))
        }
        "push" => {
            let (Some(before), Some(after)) = (text("/before"), text("/after")) else {
                anyhow::bail!("the push event lacks before/after commits; is GITHUB_EVENT_PATH the runner's file?");
            };
            if after.chars().all(|c| c == '0') {
                return Ok(None);
            }
            let base = if before.chars().all(|c| c == '0') { format!("{after}~1") } else { before };
            Ok(Some(Target { base, head: after, pull: None, read_only: None }))
        }
        _ => Ok(None),
    }
}

/// Runs the step; what it wrote is in the job summary and the outputs.
pub async fn run(env: &ActionEnv, pipeline: std::sync::Arc<Pipeline>) -> Result<()> {
    let event: Value = serde_json::from_str(
        &std::fs::read_to_string(&env.event_path).with_context(|| format!("cannot read GITHUB_EVENT_PATH {}", env.event_path.display()))?,
    )
    .with_context(|| format!("GITHUB_EVENT_PATH {} is not JSON", env.event_path.display()))?;
    let Some(target) = target(&env.event_name, &event, &env.repository)? else {
        tracing::warn!("precis summarizes pull_request and push events; `{}` has nothing to summarize", env.event_name);
        return Ok(());
    };
    let (owner, name) = env.repository.split_once('/').context("GITHUB_REPOSITORY is not owner/name")?;
    let repo = RepoRef { owner: owner.into(), name: name.into(), clone_url: String::new(), installation_id: None };

    let (workspace, config_path) = (env.workspace.clone(), env.config_path.clone());
    let (base, head) = (target.base.clone(), target.head.clone());
    let summary = tokio::task::spawn_blocking(move || {
        let config = Pipeline::config_file_at(&workspace, &base, &config_path)
            .with_context(|| format!("commit {base} is not in the checkout; use actions/checkout with fetch-depth: 0"))?;
        pipeline.summarize_range(&workspace, &base, &head, &config)
    })
    .await??;

    let markdown = report::to_markdown(&summary, report::COMMENT_LIMIT - publish::comment_overhead(&target.head));
    let summary_path = env.temp.join("precis-summary.md");
    let json_path = env.temp.join("precis-summary.json");
    std::fs::write(&summary_path, &markdown).with_context(|| format!("cannot write {}", summary_path.display()))?;
    std::fs::write(&json_path, report::to_json(&summary)).with_context(|| format!("cannot write {}", json_path.display()))?;
    if let Some(path) = &env.step_summary {
        append(path, &format!("{markdown}\n"))?;
    }
    if let Some(path) = &env.output {
        append(path, &format!("summary-path={}\nsummary-json={}\n", summary_path.display(), json_path.display()))?;
    }

    let Some(token) = &env.token else {
        tracing::warn!("no token (github-token input or GITHUB_TOKEN): the summary is in the job summary only");
        return Ok(());
    };
    if let Some(reason) = &target.read_only {
        tracing::warn!("{reason}");
        return Ok(());
    }
    let github = GitHub::new(&env.api_url, None)?;
    if let Some(number) = target.pull {
        let body = publish::comment_body(&markdown, &target.head);
        match publish::upsert_comment(&github, token, &repo, number, &body).await {
            Ok(id) => tracing::info!("summary posted on #{number} (comment {id})"),
            Err(e) if e.to_string().contains(" 403 ") => {
                tracing::warn!("the token may not comment ({e:#}); give the job `pull-requests: write`. The summary is in the job summary");
            }
            Err(e) => return Err(e),
        }
    }
    if env.job_token {
        tracing::warn!("no check run: check runs need a GitHub App token, and this is the job's GITHUB_TOKEN; the job summary carries the summary");
    } else {
        let check = publish::create_check_run(&github, token, &repo, &target.head).await?;
        let text = report::to_markdown(&summary, publish::CHECK_SUMMARY_LIMIT);
        publish::complete_check_run(&github, token, &repo, check, Conclusion::Success, &summary.title, &text).await?;
    }
    Ok(())
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

    #[test]
    fn forks_are_read_only_and_pushes_diff_from_before() {
        let pr = |head_repo: &str| {
            json!({"pull_request": {"number": 3, "base": {"sha": "b"}, "head": {"sha": "h", "repo": {"full_name": head_repo, "fork": head_repo != "o/r"}}}})
        };
        assert!(target("pull_request", &pr("o/r"), "o/r").unwrap().unwrap().read_only.is_none());
        assert!(target("pull_request", &pr("fork/r"), "o/r").unwrap().unwrap().read_only.is_some());
        let push = target("push", &json!({"before": "a", "after": "b"}), "o/r").unwrap().unwrap();
        assert_eq!((push.base.as_str(), push.head.as_str(), push.pull), ("a", "b", None));
        assert!(target("issues", &json!({}), "o/r").unwrap().is_none());
    }
}
