//! Publishing a summary, the same for the App and the Action: the sticky
//! comment on a pull request and the `precis` check run on the head commit.

use anyhow::Result;

use crate::github::publish::{self, comment_body, comment_overhead, Conclusion, Repository, CHECK_SUMMARY_LIMIT};
use crate::github::{CommitId, PullNumber};
use crate::pipeline::{report, Summary};

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
    pub repo: Repository<'a>,
    pub lenient: bool,
}

impl Publisher<'_> {
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

    /// Posts the comment (pull requests) and completes the check run; the
    /// check run is completed even when the comment fails.
    pub async fn post(&self, publication: &Publication, pull: Option<PullNumber>, check: Option<u64>) -> Result<()> {
        let commented = match (pull, &publication.comment) {
            (Some(pull), Some(body)) => match self.repo.upsert_comment(pull, body).await {
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
