//! Publishing a summary, the same for the App and the Action: one
//! [`Target`] (what an event asks to be summarized), one
//! [`summarize_and_publish`] path, and the [`Publisher`] that owns the
//! sticky comment and the whole life of the `precis` check run.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::github::payload;
use crate::github::publish::{
    self, comment_body, comment_overhead, CommentSearch, Conclusion, RepoClient, CHECK_SUMMARY_LIMIT,
};
use crate::github::{CommitId, PullNumber};
use crate::pipeline::{report, since, AuthorContext, Input, Overrides, Settings, SettingsSource, Summarizer, Summary};

/// The change an event asks to be summarized.
#[derive(Clone, Debug)]
pub struct Target {
    pub base: CommitId,
    pub head: CommitId,
    /// The pull request, when it is one (a push has none).
    pub pull: Option<PullNumber>,
    /// A draft is summarized only when the settings say `drafts: true`.
    pub draft: bool,
    /// The pull request's title and body; the commits' messages come from git.
    pub author: AuthorContext,
}

impl Target {
    /// A pull request as GitHub describes it.
    pub fn pull_request(pull: &payload::PullRequest) -> Target {
        Target {
            base: pull.base.sha.clone(),
            head: pull.head.sha.clone(),
            pull: Some(pull.number),
            draft: pull.draft,
            author: AuthorContext::pull_request(pull.title.as_deref(), pull.body.as_deref()),
        }
    }

    /// A push from `before` to `after`; a new branch (`before` all zeros) is
    /// its head commit's own change.
    pub fn push(before: &CommitId, after: &CommitId) -> Target {
        let base = if before.is_zero() { CommitId(format!("{after}~1")) } else { before.clone() };
        Target { base, head: after.clone(), pull: None, draft: false, author: AuthorContext::default() }
    }
}

/// Who publishes: the App (a strict token) or the Action (a job token that
/// may lack a permission).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Publishing {
    App,
    Action,
}

impl Publishing {
    /// A write the token may not make (403, e.g. a job token without
    /// `checks: write`) is a warning for the Action, a failure for the App.
    fn lenient(self) -> bool {
        self == Publishing::Action
    }

    /// The App opens its check run before the model runs: a job may wait
    /// and run long, and reviewers see it in progress. The Action opens it
    /// once there is a summary to post: the workflow's own check shows the
    /// step running, and a step that cannot summarize fails with the reason
    /// without touching GitHub.
    fn opens_check_first(self) -> bool {
        self == Publishing::App
    }
}

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
                comment: pull.map(|_| {
                    comment_body(&report::to_comment(summary, report::COMMENT_LIMIT - comment_overhead(head)), head)
                }),
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

/// What the App or the Action does around the shared path.
pub trait Host {
    /// Summarizes `input` (the App: with its installation's answer cache, timed).
    fn summarize(
        &self,
        input: Input,
        settings: Settings,
        author: AuthorContext,
    ) -> impl std::future::Future<Output = Result<Summary>> + Send;

    /// A check run is open for this job (the App records it, so a rerun reuses it).
    fn check_opened(&self, _check: u64) -> impl std::future::Future<Output = ()> + Send {
        async {}
    }

    /// The summary is made and about to be posted (the Action writes its files).
    fn summarized(&self, _summary: &Summary) -> Result<()> {
        Ok(())
    }
}

/// Where the repository's settings are read, at the target's base commit.
pub struct SettingsAt<'a> {
    pub config_path: &'a str,
    pub overrides: &'a Overrides,
}

/// The check run to open: one an earlier attempt opened, and the id a
/// later attempt finds it by.
#[derive(Default)]
pub struct CheckPlan {
    pub existing: Option<u64>,
    pub external_id: Option<String>,
}

/// The one path from a target to its publication: the settings at the base
/// commit, the draft gate, the check run opened (see
/// [`Publishing::opens_check_first`]), the summary, what changed since the
/// last summary, then the comment and the completed check run. A failure to
/// summarize is returned; a check run already open is completed as neutral
/// first. Without a publisher (the Action with no token, or a fork's
/// read-only one) nothing is posted.
pub async fn summarize_and_publish(
    host: &impl Host,
    target: &Target,
    repo: &Path,
    settings_at: SettingsAt<'_>,
    publisher: Option<&Publisher<'_>>,
    check: CheckPlan,
) -> Result<()> {
    let source = SettingsSource::AtCommit {
        repo: repo.to_path_buf(),
        commit: target.base.to_string(),
        path: settings_at.config_path.into(),
    };
    let overrides = settings_at.overrides.clone();
    let settings = tokio::task::spawn_blocking(move || Summarizer::settings(&source, &overrides)).await??;
    if target.draft && !settings.drafts {
        tracing::info!(
            "this pull request is a draft; set `drafts: true` in {} to summarize drafts",
            settings_at.config_path
        );
        return Ok(());
    }
    let early = publisher.filter(|publisher| publisher.by.opens_check_first());
    let opened = match early {
        Some(publisher) => open_check(host, publisher, &target.head, &check).await?,
        None => None,
    };
    let input = Input::Range { repo: repo.to_path_buf(), base: target.base.to_string(), head: target.head.to_string() };
    let mut summary = host.summarize(input, settings.clone(), target.author.clone()).await;
    if let (Ok(summary), Some(publisher), Some(pull)) = (&mut summary, publisher, target.pull) {
        publisher.tell_since(summary, pull, repo.to_path_buf(), &target.head, &settings).await;
    }
    let summary = summary.and_then(|summary| host.summarized(&summary).map(|()| summary));
    let Some(publisher) = publisher else { return summary.map(|_| ()) };
    let check = match (&summary, early) {
        (_, Some(_)) => opened,
        (Ok(_), None) => open_check(host, publisher, &target.head, &check).await?,
        (Err(_), None) => return summary.map(|_| ()),
    };
    let posted = publisher.post(&Publication::new(&summary, &target.head, target.pull), target.pull, check).await;
    match summary {
        Ok(_) => posted,
        Err(e) => {
            if let Err(posting) = posted {
                tracing::warn!("cannot complete the check run of a change that failed to summarize: {posting:#}");
            }
            Err(e)
        }
    }
}

/// Opens the target's check run as `check` plans it, and tells the host.
async fn open_check(
    host: &impl Host,
    publisher: &Publisher<'_>,
    head: &CommitId,
    check: &CheckPlan,
) -> Result<Option<u64>> {
    let opened = publisher.open_check(head, check.existing, check.external_id.as_deref()).await?;
    if let Some(id) = opened {
        host.check_opened(id).await;
    }
    Ok(opened)
}

/// Writes publications to one repository.
pub struct Publisher<'a> {
    repo: RepoClient<'a>,
    by: Publishing,
    /// The comment search of this job, once made: the comment is then edited without searching again.
    comment: std::sync::Mutex<Option<CommentSearch>>,
}

impl<'a> Publisher<'a> {
    pub fn new(repo: RepoClient<'a>, by: Publishing) -> Publisher<'a> {
        Publisher { repo, by, comment: std::sync::Mutex::new(None) }
    }

    /// The check run of `head` an earlier attempt created with `external_id`.
    pub async fn find_check(&self, head: &CommitId, external_id: &str) -> Result<Option<u64>> {
        self.repo.find_check_run(head, external_id).await
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
                Err(e) if self.by.lenient() && publish::is_forbidden(&e) => {
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

    /// Completes the check run of a job that a newer commit superseded, as skipped.
    pub async fn supersede(&self, check: u64, newer: &CommitId) -> Result<()> {
        let text = format!("Superseded by {newer}: the newer commit is summarized instead.");
        self.repo.complete_check_run(check, Conclusion::Skipped, "Superseded by a newer commit", &text).await
    }

    /// Completes the check run of a commit that is no longer the pull
    /// request's head, as skipped.
    pub async fn skip(&self, check: u64, current: &CommitId) -> Result<()> {
        let text = format!("The pull request's head is now {current}; this older commit is not summarized.");
        self.repo.complete_check_run(check, Conclusion::Skipped, "No longer the pull request's head", &text).await
    }

    /// Completes the check run of a change precis gave up on, as neutral, saying why.
    pub async fn give_up(&self, check: u64, reason: &str) -> Result<()> {
        self.repo.complete_check_run(check, Conclusion::Neutral, "precis gave up on this change", reason).await
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
                Err(e) if self.by.lenient() && publish::is_forbidden(&e) => {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_push_diffs_from_before_and_a_new_branch_from_its_heads_parent() {
        let (before, after) = (CommitId("a1".into()), CommitId("b2".into()));
        let push = Target::push(&before, &after);
        assert_eq!((push.base.as_str(), push.head.as_str(), push.pull, push.draft), ("a1", "b2", None, false));
        let zero = CommitId("0".repeat(40));
        assert_eq!(Target::push(&zero, &after).base.as_str(), "b2~1");
    }

    #[test]
    fn a_failure_is_a_neutral_check_run_without_its_reason() {
        let failed = Err(anyhow::anyhow!("cannot open /srv/precis/models/x"));
        let publication = Publication::new(&failed, &CommitId("b2".into()), Some(PullNumber(3)));
        assert_eq!(publication.conclusion, Conclusion::Neutral);
        assert!(publication.comment.is_none(), "a failure is not commented");
        let text = &publication.text;
        assert!(text.contains("/precis summarize") && !text.contains("/srv"), "{text}");
    }
}
