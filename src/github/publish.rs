//! What precis writes on GitHub: one sticky comment per pull request, found
//! again by a hidden marker and edited in place, and the `precis` check run.

use anyhow::{Context, Result};
use serde::Deserialize;
use serde_json::json;

use super::client::{GitHub, GitHubError, Token};
use super::types::{CommitId, PullNumber, RepoName};

/// Marks precis's comment, so every later run edits it instead of adding one.
pub const MARKER: &str = "<!-- precis:summary -->";

/// The name of precis's check run.
pub const CHECK_NAME: &str = "precis";

/// GitHub's limit on a check run's output summary (characters).
pub const CHECK_SUMMARY_LIMIT: usize = 65_535;

/// The hidden line that records which commit a comment describes, for the
/// next summary's "Since the last summary".
const HEAD_MARKER: &str = "<!-- precis:head ";

/// The comment body around the summary's Markdown: marker, text, and which
/// commit it describes.
pub fn comment_body(markdown: &str, head: &CommitId) -> String {
    format!("{MARKER}\n{HEAD_MARKER}{head} -->\n{markdown}\n<sub>Describes {}.</sub>\n", head.short())
}

/// The commit a comment body says it describes: a full hex id on its
/// hidden line (anything else, say an edited body, is none).
pub fn described_head(body: &str) -> Option<CommitId> {
    let line = body.lines().find_map(|l| l.strip_prefix(HEAD_MARKER))?;
    let id = line.strip_suffix(" -->")?;
    (id.len() == 40 && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| CommitId(id.to_string()))
}

/// Characters `comment_body` adds around the Markdown (for its length budget).
pub fn comment_overhead(head: &CommitId) -> usize {
    comment_body("", head).chars().count()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conclusion {
    Success,
    /// The model or the pipeline failed: the check says why but does not block.
    Neutral,
    /// A newer commit superseded the change before it was summarized.
    Skipped,
}

#[derive(Deserialize)]
struct IssueComment {
    id: u64,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    user: Option<super::payload::Account>,
}

impl IssueComment {
    /// precis's own: the marker, in a comment `own_login` (precis's bot)
    /// wrote. A person or another bot quoting the marker does not make it
    /// theirs to edit.
    fn is_precis(&self, own_login: &str) -> bool {
        let mine = self.user.as_ref().is_some_and(|u| u.login.eq_ignore_ascii_case(own_login));
        mine && self.body.as_deref().is_some_and(|b| b.starts_with(MARKER))
    }
}

/// Pages of a pull request's comments (100 a page) searched for precis's.
/// GitHub lists them oldest first, and precis's comment is posted with the
/// first summary, so it is on the first pages unless precis came to a pull
/// request that already had more comments than these pages hold.
pub const COMMENT_PAGES: u32 = 10;

/// What the search for precis's comment on a pull request found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommentSearch {
    /// Its id, and the commit it describes.
    Found(u64, Option<CommitId>),
    /// Every comment was read: precis has none.
    Absent,
    /// [`COMMENT_PAGES`] full pages without it: the rest is not read, and
    /// no comment is posted (it could be a second one).
    TooMany,
}

#[derive(Deserialize)]
struct Created {
    id: u64,
}

#[derive(Deserialize)]
struct CheckRuns {
    check_runs: Vec<CheckRunSeen>,
}

#[derive(Deserialize)]
struct CheckRunSeen {
    id: u64,
    #[serde(default)]
    external_id: Option<String>,
}

#[derive(Deserialize)]
struct Permission {
    permission: String,
}

/// One repository, as one token may write to it.
#[derive(Clone, Copy)]
pub struct RepoClient<'a> {
    pub github: &'a GitHub,
    pub token: &'a Token,
    pub repo: &'a RepoName,
}

impl RepoClient<'_> {
    fn path(&self, rest: &str) -> String {
        format!("{}{rest}", self.repo.api_path())
    }

    /// precis's comment on the pull request, searched in the first [`COMMENT_PAGES`] pages.
    pub async fn find_comment(&self, pull: PullNumber) -> Result<CommentSearch> {
        let own_login = self.github.own_login().await?;
        for page in 1..=COMMENT_PAGES {
            let comments: Vec<IssueComment> = self
                .github
                .get(self.token, &self.path(&format!("/issues/{pull}/comments?per_page=100&page={page}")))
                .await?;
            if let Some(found) = comments.iter().find(|c| c.is_precis(own_login)) {
                return Ok(CommentSearch::Found(found.id, found.body.as_deref().and_then(described_head)));
            }
            if comments.len() < 100 {
                return Ok(CommentSearch::Absent);
            }
        }
        Ok(CommentSearch::TooMany)
    }

    /// Edits precis's comment, or posts it when there is none; returns its
    /// id, or `None` when the pull request has too many comments to search
    /// (nothing is written then). `known`: what a search of this job found already.
    pub async fn upsert_comment(
        &self,
        pull: PullNumber,
        body: &str,
        known: Option<CommentSearch>,
    ) -> Result<Option<u64>> {
        let payload = json!({ "body": body });
        let search = match known {
            Some(search) => search,
            None => self.find_comment(pull).await?,
        };
        let reply = match search {
            CommentSearch::Found(id, _) => {
                self.github
                    .send(self.token, "PATCH", &self.path(&format!("/issues/comments/{id}")), Some(&payload))
                    .await?
            }
            CommentSearch::Absent => {
                self.github
                    .send(self.token, "POST", &self.path(&format!("/issues/{pull}/comments")), Some(&payload))
                    .await?
            }
            CommentSearch::TooMany => return Ok(None),
        };
        Ok(Some(serde_json::from_value::<Created>(reply.body).context("GitHub's comment answer has no id")?.id))
    }

    /// A plain (not sticky) reply, for `/precis help`.
    pub async fn reply(&self, pull: PullNumber, body: &str) -> Result<()> {
        let payload = json!({ "body": body });
        self.github.send(self.token, "POST", &self.path(&format!("/issues/{pull}/comments")), Some(&payload)).await?;
        Ok(())
    }

    /// Creates precis's check run on `head`, queued; `external_id` names
    /// what it is for (the App's job), so a retry can find it again.
    pub async fn create_check_run(&self, head: &CommitId, external_id: Option<&str>) -> Result<u64> {
        let mut payload = json!({ "name": CHECK_NAME, "head_sha": head, "status": "queued" });
        if let Some(external_id) = external_id {
            payload["external_id"] = json!(external_id);
        }
        let reply = self.github.send(self.token, "POST", &self.path("/check-runs"), Some(&payload)).await?;
        Ok(serde_json::from_value::<Created>(reply.body).context("GitHub's check run answer has no id")?.id)
    }

    /// precis's check run on `head` with this `external_id`, if one was created.
    pub async fn find_check_run(&self, head: &CommitId, external_id: &str) -> Result<Option<u64>> {
        let path = self.path(&format!("/commits/{head}/check-runs?check_name={CHECK_NAME}&filter=all&per_page=100"));
        let runs: CheckRuns = self.github.get(self.token, &path).await?;
        Ok(runs.check_runs.into_iter().find(|run| run.external_id.as_deref() == Some(external_id)).map(|run| run.id))
    }

    pub async fn start_check_run(&self, id: u64) -> Result<()> {
        let payload = json!({ "status": "in_progress" });
        self.github.send(self.token, "PATCH", &self.path(&format!("/check-runs/{id}")), Some(&payload)).await?;
        Ok(())
    }

    pub async fn complete_check_run(&self, id: u64, conclusion: Conclusion, title: &str, summary: &str) -> Result<()> {
        let conclusion = match conclusion {
            Conclusion::Success => "success",
            Conclusion::Neutral => "neutral",
            Conclusion::Skipped => "skipped",
        };
        let title: String = title.chars().take(200).collect();
        let summary: String = summary.chars().take(CHECK_SUMMARY_LIMIT).collect();
        let payload = json!({
            "status": "completed",
            "conclusion": conclusion,
            "output": { "title": title, "summary": summary },
        });
        self.github.send(self.token, "PATCH", &self.path(&format!("/check-runs/{id}")), Some(&payload)).await?;
        Ok(())
    }

    /// Whether `user` may write to the repository (commands need it).
    pub async fn can_write(&self, user: &str) -> Result<bool> {
        let permission: Permission =
            self.github.get(self.token, &self.path(&format!("/collaborators/{user}/permission"))).await?;
        Ok(matches!(permission.permission.as_str(), "admin" | "maintain" | "write"))
    }
}

/// Whether an error is GitHub refusing for want of a permission (403).
pub fn is_forbidden(err: &anyhow::Error) -> bool {
    GitHubError::status_of(err) == Some(403)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_comment_says_which_commit_it_describes_and_an_edited_one_says_none() {
        let head = CommitId("a".repeat(40));
        assert_eq!(described_head(&comment_body("text", &head)), Some(head));
        assert_eq!(described_head("<!-- precis:summary -->\n<!-- precis:head HEAD~3; rm -rf / -->\n"), None);
        assert_eq!(described_head("<!-- precis:summary -->\nno marker\n"), None);
    }
}
