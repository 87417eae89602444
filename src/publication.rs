//! Publishing a summary, the same for the App and the Action: the sticky
//! comment on a pull request and the `precis` check run on the head commit.

use std::path::PathBuf;

use anyhow::Result;

use crate::github::publish::{
    self, comment_body, comment_overhead, CommentSearch, Conclusion, RepoClient, CHECK_SUMMARY_LIMIT,
};
use crate::github::{CommitId, PullNumber};
use crate::pipeline::{report, since, Settings, Summary};

/// What goes out for one summary (or one failure to summarize).
pub struct Publication {
    /// The whole comment body, for a pull request.
    pub comment: Option<String>,
    pub conclusion: Conclusion,
    pub title: String,
    pub text: String,
}

impl Publication {
    pub fn new(summary: &Result<Summary>, head: &CommitId, pull: Option<PullNumber>) -> Publication {
        match summary {
            Ok(summary) => Publication {
                comment: pull.map(|_| comment_body(&report::to_comment(summary, report::COMMENT_LIMIT - comment_overhead(head)), head)),
                conclusion: Conclusion::Success,
                title: summary.title.clone(),
                text: report::to_markdown(summary, CHECK_SUMMARY_LIMIT),
            },
            // The reason stays in the operator's log: errors name paths and hosts of the App's machine.
            Err(_) => Publication {
                comment: None,
                conclusion: Conclusion::Neutral,
                title: "No summary".into(),
                text: "precis could not summarize this change; the App's log says why. Comment `/precis summarize` to try again.".into(),
            },
        }
    }
}

/// Writes publications to one repository. `lenient`: a write the token may
/// not make (403, e.g. a job token without `checks: write`) is a warning,
/// not a failure.
pub struct Publisher<'a> {
    pub repo: RepoClient<'a>,
    lenient: bool,
    /// The comment search of this job, once made: the comment is then edited without searching again.
    comment: std::sync::Mutex<Option<CommentSearch>>,
}

impl<'a> Publisher<'a> {
    pub fn new(repo: RepoClient<'a>, lenient: bool) -> Publisher<'a> {
        Publisher { repo, lenient, comment: std::sync::Mutex::new(None) }
    }

    /// The check run of `head`, created (queued, with `external_id`) unless
    /// `existing`, and marked in progress; `None` when the token may not
    /// create one and that is allowed.
    pub async fn open_check(
        &self,
        head: &CommitId,
        existing: Option<u64>,
        external_id: Option<&str>,
    ) -> Result<Option<u64>> {
        let id = match existing {
            Some(id) => id,
            None => match self.repo.create_check_run(head, external_id).await {
                Ok(id) => id,
                Err(e) if self.lenient && publish::is_forbidden(&e) => {
                    tracing::warn!(
                        "no check run: the token may not create one ({e:#}); grant `checks: write` to get one"
                    );
                    return Ok(None);
                }
                Err(e) => return Err(e),
            },
        };
        self.repo.start_check_run(id).await?;
        Ok(Some(id))
    }

    /// Adds to `summary` what the commits since the head that the pull
    /// request's comment describes changed (computed, no model), when that
    /// head is an ancestor of `head` in `repo`. Best effort: a failure only
    /// leaves the section out.
    pub async fn tell_since(
        &self,
        summary: &mut Summary,
        pull: PullNumber,
        repo: PathBuf,
        head: &CommitId,
        settings: &Settings,
    ) {
        let search = self.repo.find_comment(pull).await;
        if let (Ok(found), Ok(mut known)) = (&search, self.comment.lock()) {
            *known = Some(found.clone());
        }
        let previous = match search {
            Ok(CommentSearch::Found(_, Some(previous))) if previous != *head => previous,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!("no \"since the last summary\": cannot read the comment of #{pull} ({e:#})");
                return;
            }
        };
        let (head, settings) = (head.to_string(), settings.clone());
        let told = tokio::task::spawn_blocking(move || since::since(&repo, previous.as_str(), &head, &settings)).await;
        match told {
            Ok(Ok(told)) => summary.since = told,
            Ok(Err(e)) => tracing::warn!("no \"since the last summary\": {e:#}"),
            Err(e) => tracing::warn!("no \"since the last summary\": {e}"),
        }
    }

    fn known_comment(&self) -> Option<CommentSearch> {
        self.comment.lock().ok().and_then(|known| known.clone())
    }

    /// Posts the comment (pull requests) and completes the check run; the
    /// check run is completed even when the comment fails.
    pub async fn post(&self, publication: &Publication, pull: Option<PullNumber>, check: Option<u64>) -> Result<()> {
        let commented = match (pull, &publication.comment) {
            (Some(pull), Some(body)) => match self.repo.upsert_comment(pull, body, self.known_comment()).await {
                Ok(Some(id)) => {
                    tracing::info!("summary posted on #{pull} (comment {id})");
                    Ok(())
                }
                Ok(None) => {
                    tracing::warn!(
                        "no comment on #{pull}: precis's comment is not among its first {} comments, and posting another could make it two; the summary is in the check run",
                        publish::COMMENT_PAGES * 100
                    );
                    Ok(())
                }
                Err(e) if self.lenient && publish::is_forbidden(&e) => {
                    tracing::warn!("the token may not comment ({e:#}); give the job `pull-requests: write`");
                    Ok(())
                }
                Err(e) => Err(e),
            },
            _ => Ok(()),
        };
        if let Some(check) = check {
            self.repo.complete_check_run(check, publication.conclusion, &publication.title, &publication.text).await?;
        }
        commented
    }
}
