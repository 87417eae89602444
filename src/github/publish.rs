//! What precis writes on GitHub: one sticky comment per pull request, found
//! again by a hidden marker and edited in place, and the `precis` check run.

use anyhow::{Context, Result};
use serde_json::{json, Value};

use super::client::{GitHub, Token};
use super::events::CHECK_NAME;
use crate::queue::RepoRef;

/// Marks precis's comment, so every later run edits it instead of adding one.
pub const MARKER: &str = "<!-- precis:summary -->";

/// GitHub's limit on a check run's output summary (characters).
pub const CHECK_SUMMARY_LIMIT: usize = 65_535;

/// The comment body around the summary's Markdown: marker, text, and which
/// commit it describes.
pub fn comment_body(markdown: &str, head_sha: &str) -> String {
    format!("{MARKER}\n{markdown}\n<sub>Describes {}.</sub>\n", short(head_sha))
}

/// Characters `comment_body` adds around the Markdown (for its length budget).
pub fn comment_overhead(head_sha: &str) -> usize {
    comment_body("", head_sha).chars().count()
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(7)]
}

fn repo_path(repo: &RepoRef) -> String {
    format!("/repos/{}/{}", repo.owner, repo.name)
}

/// precis's comment on the pull request, if there is one.
pub async fn find_comment(github: &GitHub, token: &Token, repo: &RepoRef, number: u64) -> Result<Option<u64>> {
    for page in 1.. {
        let path = format!("{}/issues/{number}/comments?per_page=100&page={page}", repo_path(repo));
        let comments = github.get(token, &path).await?;
        let comments = comments.as_array().context("GitHub's comment list is not a list")?;
        if let Some(found) = comments.iter().find(|c| c["body"].as_str().is_some_and(|b| b.contains(MARKER))) {
            return Ok(found["id"].as_u64());
        }
        if comments.len() < 100 {
            break;
        }
    }
    Ok(None)
}

/// Edits precis's comment, or posts it when there is none; returns its id.
pub async fn upsert_comment(github: &GitHub, token: &Token, repo: &RepoRef, number: u64, body: &str) -> Result<u64> {
    let payload = json!({ "body": body });
    let reply = match find_comment(github, token, repo, number).await? {
        Some(id) => github.send(token, "PATCH", &format!("{}/issues/comments/{id}", repo_path(repo)), Some(&payload)).await?,
        None => github.send(token, "POST", &format!("{}/issues/{number}/comments", repo_path(repo)), Some(&payload)).await?,
    };
    reply.body["id"].as_u64().context("GitHub's comment answer has no id")
}

/// A plain (not sticky) reply, for `/precis help`.
pub async fn reply(github: &GitHub, token: &Token, repo: &RepoRef, number: u64, body: &str) -> Result<()> {
    let payload = json!({ "body": body });
    github.send(token, "POST", &format!("{}/issues/{number}/comments", repo_path(repo)), Some(&payload)).await?;
    Ok(())
}

pub async fn create_check_run(github: &GitHub, token: &Token, repo: &RepoRef, head_sha: &str) -> Result<u64> {
    let payload = json!({ "name": CHECK_NAME, "head_sha": head_sha, "status": "queued" });
    let reply = github.send(token, "POST", &format!("{}/check-runs", repo_path(repo)), Some(&payload)).await?;
    reply.body["id"].as_u64().context("GitHub's check run answer has no id")
}

pub async fn start_check_run(github: &GitHub, token: &Token, repo: &RepoRef, id: u64) -> Result<()> {
    let payload = json!({ "status": "in_progress" });
    github.send(token, "PATCH", &format!("{}/check-runs/{id}", repo_path(repo)), Some(&payload)).await?;
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conclusion {
    Success,
    /// The model or the pipeline failed: the check says why but does not block.
    Neutral,
}

pub async fn complete_check_run(
    github: &GitHub,
    token: &Token,
    repo: &RepoRef,
    id: u64,
    conclusion: Conclusion,
    title: &str,
    summary: &str,
) -> Result<()> {
    let conclusion = match conclusion {
        Conclusion::Success => "success",
        Conclusion::Neutral => "neutral",
    };
    let title: String = title.chars().take(200).collect();
    let summary: String = summary.chars().take(CHECK_SUMMARY_LIMIT).collect();
    let payload: Value = json!({
        "status": "completed",
        "conclusion": conclusion,
        "output": { "title": title, "summary": summary },
    });
    github.send(token, "PATCH", &format!("{}/check-runs/{id}", repo_path(repo)), Some(&payload)).await?;
    Ok(())
}

/// Whether `user` may write to the repository (commands need it).
pub async fn can_write(github: &GitHub, token: &Token, repo: &RepoRef, user: &str) -> Result<bool> {
    let permission = github.get(token, &format!("{}/collaborators/{user}/permission", repo_path(repo))).await?;
    Ok(matches!(permission["permission"].as_str(), Some("admin" | "maintain" | "write")))
}
