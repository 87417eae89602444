//! Workers take jobs from the durable queue: fetch with git, summarize on
//! the shared pipeline, publish.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::http::Metrics;
use super::queue::{Failure, FailureKind, Job, JobId, JobQueue, JobSpec, RepoRef};
use super::repos::RepoCache;
use super::routing::{HELP_COMMAND, SUMMARIZE_COMMAND};
use crate::github::payload;
use crate::github::publish::RepoClient;
use crate::github::{CommitId, GitHub, GitHubError, PullNumber, Token};
use crate::pipeline::{AuthorContext, Input, Overrides, Settings, Summarizer, Summary, CONFIG_PATH};
use crate::publication::{summarize_and_publish, CheckPlan, Host, Publisher, Publishing, SettingsAt, Target};

/// Takes jobs from the queue and carries them out.
#[derive(Clone)]
pub struct Worker {
    queue: Arc<dyn JobQueue>,
    github: Arc<GitHub>,
    repos: Arc<RepoCache>,
    summarizer: Arc<Summarizer>,
    metrics: Arc<Metrics>,
}

/// The reply to `/precis help`; the settings it names are [`Settings::keys`].
fn help() -> String {
    format!(
        "precis summarizes this pull request with a model that runs on the App's own machine.\n\n\
         - `{SUMMARIZE_COMMAND}`: summarize the pull request again now\n\
         - `{HELP_COMMAND}`: this message\n\n\
         Commands are taken from users with write access. Settings live in `{CONFIG_PATH}` on the base branch ({}).",
        Settings::keys().join(", ")
    )
}

impl Worker {
    /// Built by [`super::App::build`].
    pub(super) fn new(
        queue: Arc<dyn JobQueue>,
        github: GitHub,
        repos: Arc<RepoCache>,
        summarizer: Summarizer,
        metrics: Arc<Metrics>,
    ) -> Worker {
        Worker { queue, github: Arc::new(github), repos, summarizer: Arc::new(summarizer), metrics }
    }

    /// Runs the next queued job; `false` when there was none. A job past
    /// its last attempt is given up (its check run completed as neutral with
    /// the reason); a transient failure (GitHub or the network) goes back
    /// to the queue with a backoff; the outcome is recorded even if the
    /// database is away for a while (this waits and tries again).
    pub async fn run_one(&self) -> Result<bool> {
        let queue = self.queue.clone();
        let Some(job) = tokio::task::spawn_blocking(move || queue.claim()).await?? else { return Ok(false) };
        let policy = self.queue.policy().clone();
        let started = Instant::now();
        let outcome = if job.attempts > policy.max_attempts {
            Outcome::GiveUp(gave_up_reason(job.last_error.as_ref(), policy.max_attempts))
        } else {
            tracing::info!("job {} ({}) started, attempt {}", job.id, job.spec.key(), job.attempts);
            match self.carry_out(&job).await {
                Ok(()) => Outcome::Done,
                Err(e) if is_transient(&e) && job.attempts < policy.max_attempts => {
                    Outcome::Retry(Failure::of(&e), policy.backoff(job.attempts))
                }
                Err(e) if is_transient(&e) => {
                    Outcome::GiveUp(gave_up_reason(Some(&Failure::of(&e)), policy.max_attempts))
                }
                Err(e) => Outcome::Failed(Failure::of(&e)),
            }
        };
        let id = job.id;
        match outcome {
            Outcome::Done => {
                tracing::info!("job {id} done in {:.1} s", started.elapsed().as_secs_f64());
                self.settle(id, move |queue| queue.finish(id, None)).await;
            }
            Outcome::Failed(error) => {
                tracing::error!("job {id} failed: {}", error.message);
                self.settle(id, move |queue| queue.finish(id, Some(&error))).await;
            }
            Outcome::Retry(error, after) => {
                tracing::warn!("job {id} failed for now ({}); it runs again in {} s", error.message, after.as_secs());
                self.queue.stats().retried.inc();
                self.settle(id, move |queue| queue.retry(id, &error, after)).await;
            }
            Outcome::GiveUp(reason) => {
                tracing::error!("job {id} given up: {}", reason.message);
                self.queue.stats().gave_up.inc();
                if let Err(e) = self.complete_check_as_given_up(&job, &reason.message).await {
                    tracing::warn!("job {id}: cannot complete its check run: {e:#}");
                }
                self.settle(id, move |queue| queue.finish(id, Some(&reason))).await;
            }
        }
        Ok(true)
    }

    /// Records a job's outcome, trying again (1 s, 2 s, ... 30 s apart)
    /// while the database cannot be reached: the job stays claimed here
    /// meanwhile, and is never left running.
    async fn settle(&self, job: JobId, record: impl Fn(&dyn JobQueue) -> Result<bool> + Send + Sync + Clone + 'static) {
        let mut wait = Duration::from_secs(1);
        loop {
            let (queue, record) = (self.queue.clone(), record.clone());
            match tokio::task::spawn_blocking(move || record(&*queue)).await {
                Ok(Ok(true)) => return,
                Ok(Ok(false)) => {
                    tracing::warn!("job {job}: no longer held here (its lease ran out); its outcome is left to the worker that took it");
                    return;
                }
                Ok(Err(e)) => {
                    tracing::warn!("job {job}: cannot record its outcome ({e:#}); trying again in {} s", wait.as_secs())
                }
                Err(e) => {
                    tracing::error!("job {job}: recording its outcome panicked: {e}");
                    return;
                }
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(30));
        }
    }

    /// A job given up completes the check run it opened, as neutral, saying
    /// why: the one it recorded, or one an attempt created and died before recording.
    async fn complete_check_as_given_up(&self, job: &Job, reason: &str) -> Result<()> {
        if job.check_run_id.is_none() && job.spec.head().is_none() {
            return Ok(());
        }
        let repo = job.spec.repo();
        let token = self.token(repo).await?;
        let publisher =
            Publisher::new(RepoClient { github: &self.github, token: &token, repo: &repo.repo }, Publishing::App);
        let check = match (job.check_run_id, job.spec.head()) {
            (Some(id), _) => Some(id),
            (None, Some(head)) => publisher.find_check(head, &check_external_id(job)).await?,
            (None, None) => None,
        };
        match check {
            Some(check) => publisher.give_up(check, reason).await,
            None => Ok(()),
        }
    }

    /// Runs jobs until the queue is empty (tests, and draining).
    pub async fn run_until_idle(&self) -> Result<()> {
        while self.run_one().await? {}
        Ok(())
    }

    /// Runs jobs as they come until `stop` turns true; a job in progress
    /// finishes first. Between jobs it waits for `wake` (a delivery here, or
    /// one announced by the database), at most a second (leases that ran
    /// out and retries that came due are found by polling); when the queue
    /// fails (the database is away) it waits longer each time, up to 30 s.
    pub async fn run(self, wake: Arc<tokio::sync::Notify>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut failing = Duration::ZERO;
        loop {
            if *stop.borrow() {
                return;
            }
            let pause = match self.run_one().await {
                Ok(true) => {
                    failing = Duration::ZERO;
                    continue;
                }
                Ok(false) => {
                    failing = Duration::ZERO;
                    Duration::from_secs(1)
                }
                Err(e) => {
                    failing = (failing * 2).clamp(Duration::from_secs(1), Duration::from_secs(30));
                    tracing::error!("the queue failed: {e:#}; trying again in {} s", failing.as_secs());
                    failing
                }
            };
            tokio::select! {
                _ = wake.notified(), if failing.is_zero() => {}
                _ = tokio::time::sleep(pause) => {}
                _ = stop.changed() => {}
            }
        }
    }

    async fn token(&self, repo: &RepoRef) -> Result<Token> {
        let installation = repo.installation_id.with_context(|| {
            format!("the delivery for {} names no App installation; install the App on it", repo.full_name())
        })?;
        self.github.installation_token(installation, &repo.repo.name).await
    }

    async fn carry_out(&self, job: &Job) -> Result<()> {
        let repo = job.spec.repo();
        // The cached repository is not pruned while the job runs.
        let _in_use = self.repos.hold(&repo.repo)?;
        let token = self.token(repo).await?;
        let github = RepoClient { github: &self.github, token: &token, repo: &repo.repo };
        let publisher = Publisher::new(github, Publishing::App);
        let (target, refspecs) = match &job.spec {
            JobSpec::PullRequest { number, head_sha, base_sha, draft, .. } => {
                let pull = self.pull(repo, &token, *number).await?;
                // A delivery about an older head (one that came late, or a
                // replay under a new delivery id) must not move the comment back.
                if pull.head.sha != *head_sha {
                    return self.skip_stale(job, &publisher, head_sha, &pull.head.sha).await;
                }
                // The delivery's base and draft state: a later change of either comes as its own delivery.
                let target = Target { base: base_sha.clone(), draft: *draft, ..Target::pull_request(&pull) };
                (target, pull_refspecs(*number))
            }
            JobSpec::Rerun { number, requested_by, .. } => {
                if let Some(user) = requested_by {
                    if !github.can_write(user).await? {
                        tracing::info!(
                            "{SUMMARIZE_COMMAND} from {user} ignored: no write access to {}",
                            repo.full_name()
                        );
                        return Ok(());
                    }
                }
                let pull = self.pull(repo, &token, *number).await?;
                // Asked for explicitly: a draft is summarized too.
                (Target { draft: false, ..Target::pull_request(&pull) }, pull_refspecs(*number))
            }
            JobSpec::Help { number, requested_by, .. } => {
                if !github.can_write(requested_by).await? {
                    tracing::info!(
                        "{HELP_COMMAND} from {requested_by} ignored: no write access to {}",
                        repo.full_name()
                    );
                    return Ok(());
                }
                return github.reply(*number, &help()).await;
            }
            JobSpec::Push { branch, before, after, .. } => {
                (Target::push(before, after), vec![format!("+refs/heads/{branch}:refs/precis/heads/{branch}")])
            }
        };
        let dir = self.fetch(repo, &token, refspecs).await?;
        self.close_superseded(job, &publisher, &target.head).await;
        let check = CheckPlan {
            existing: earlier_check(job, &publisher, &target.head).await?,
            external_id: Some(check_external_id(job)),
        };
        let host = JobHost { worker: self, job };
        let settings_at = SettingsAt { config_path: CONFIG_PATH, overrides: &Overrides::default() };
        summarize_and_publish(&host, &target, &dir, settings_at, Some(&publisher), check).await
    }

    /// The pull request as GitHub has it now: its head, and its title and
    /// body for the model (the commits come from git).
    async fn pull(&self, repo: &RepoRef, token: &Token, number: PullNumber) -> Result<payload::PullRequest> {
        self.github.get(token, &format!("{}/pulls/{number}", repo.repo.api_path())).await
    }

    /// A job for `head` when the pull request's head is `current`: nothing
    /// is summarized or posted; a check run an earlier attempt opened is
    /// completed as skipped, naming the newer commit, and so are those of
    /// the jobs it superseded.
    async fn skip_stale(
        &self,
        job: &Job,
        publisher: &Publisher<'_>,
        head: &CommitId,
        current: &CommitId,
    ) -> Result<()> {
        tracing::info!("job {}: {head} is no longer the head of {} (it is {current}); skipped", job.id, job.spec.key());
        self.close_superseded(job, publisher, current).await;
        match earlier_check(job, publisher, head).await? {
            Some(check) => publisher.skip(check, current).await,
            None => Ok(()),
        }
    }

    async fn fetch(&self, repo: &RepoRef, token: &Token, refspecs: Vec<String>) -> Result<PathBuf> {
        let (repos, repo, token) = (self.repos.clone(), repo.clone(), token.clone());
        tokio::task::spawn_blocking(move || repos.fetch(&repo, Some(&token), &refspecs)).await?
    }

    /// A rerun of this job (after a crash or a retry) reuses its check run.
    /// Not recording it (the database is away) does not fail the job: a
    /// rerun finds it again by its external id.
    async fn remember_check(&self, job: &Job, id: u64) {
        if job.check_run_id.is_none() {
            let (queue, job_id) = (self.queue.clone(), job.id);
            match tokio::task::spawn_blocking(move || queue.set_check_run(job_id, id)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!("job {job_id}: cannot record its check run {id}: {e:#}"),
                Err(e) => tracing::error!("job {job_id}: recording its check run panicked: {e}"),
            }
        }
    }

    /// Completes the check runs left open by jobs this one superseded (a job
    /// waiting for its retry when a newer push came), as skipped, naming the
    /// newer commit. Best effort: one left open is tried again by the next
    /// job of the pull request.
    async fn close_superseded(&self, job: &Job, publisher: &Publisher<'_>, head: &CommitId) {
        let (queue, key) = (self.queue.clone(), job.spec.key());
        let superseded = match tokio::task::spawn_blocking(move || queue.superseded_checks(&key)).await {
            Ok(Ok(superseded)) => superseded,
            Ok(Err(e)) => {
                return tracing::warn!("job {}: cannot list the check runs of the jobs it superseded: {e:#}", job.id)
            }
            Err(e) => return tracing::error!("job {}: listing superseded check runs panicked: {e}", job.id),
        };
        for (old, check) in superseded {
            if let Err(e) = publisher.supersede(check, head).await {
                tracing::warn!("job {old}: cannot complete its check run {check}: {e:#}");
                continue;
            }
            let queue = self.queue.clone();
            if let Ok(Err(e)) = tokio::task::spawn_blocking(move || queue.forget_check_run(old)).await {
                tracing::warn!("job {old}: its check run {check} is completed but cannot be marked so: {e:#}");
            }
        }
    }

    /// Summarizes with the answer cache of the repository's installation:
    /// one installation's cached answers never serve another's.
    async fn summarize(
        &self,
        repo: &RepoRef,
        input: Input,
        settings: Settings,
        author: AuthorContext,
    ) -> Result<Summary> {
        let shared = &self.summarizer;
        let scope = format!("installation-{}", repo.installation_id.unwrap_or(0));
        let summarizer = Arc::new(Summarizer {
            models: shared.models.clone(),
            cache_dir: shared.cache_dir.as_ref().map(|dir| dir.join(scope)),
            progress: shared.progress,
            time_budget: shared.time_budget,
        });
        let started = Instant::now();
        let summary = tokio::task::spawn_blocking(move || summarizer.summarize(&input, &settings, &author)).await?;
        self.metrics.summarize_seconds.observe(started.elapsed().as_secs_f64());
        summary
    }
}

/// One job's side of the shared summarize-and-publish path.
struct JobHost<'a> {
    worker: &'a Worker,
    job: &'a Job,
}

impl Host for JobHost<'_> {
    async fn summarize(&self, input: Input, settings: Settings, author: AuthorContext) -> Result<Summary> {
        self.worker.summarize(self.job.spec.repo(), input, settings, author).await
    }

    async fn check_opened(&self, check: u64) {
        self.worker.remember_check(self.job, check).await
    }
}

/// The refs a pull request's job fetches: its head, and the branches (its base among them).
fn pull_refspecs(number: PullNumber) -> Vec<String> {
    vec![format!("+refs/pull/{number}/head:refs/precis/pull/{number}/head"), "+refs/heads/*:refs/precis/heads/*".into()]
}

/// What a job's check run carries as `external_id`, to be found again by a
/// later attempt of the same job.
fn check_external_id(job: &Job) -> String {
    format!("precis-job-{}", job.id)
}

/// The check run an earlier attempt of the job opened on `head`: the one it
/// recorded, else, on a later attempt, one it created and died before
/// recording (found by the job's external id).
async fn earlier_check(job: &Job, publisher: &Publisher<'_>, head: &CommitId) -> Result<Option<u64>> {
    match job.check_run_id {
        Some(id) => Ok(Some(id)),
        None if job.attempts > 1 => publisher.find_check(head, &check_external_id(job)).await,
        None => Ok(None),
    }
}

/// What became of a job.
enum Outcome {
    Done,
    Failed(Failure),
    /// A transient failure: again after the wait.
    Retry(Failure, Duration),
    /// Given up: the reason the check run shows, of the last failure's kind.
    GiveUp(Failure),
}

/// Why a job is given up after `last` (none: its worker stopped), as the
/// check run says it (no internal detail).
fn gave_up_reason(last: Option<&Failure>, max_attempts: u32) -> Failure {
    let (kind, why) = match last.map(|f| f.kind) {
        Some(kind @ FailureKind::GitHub) => (kind, "GitHub could not be reached or kept failing"),
        Some(kind) => (kind, "the repository or the network kept failing"),
        None => {
            (FailureKind::Other, "the worker running it stopped before it finished (a crash, or the machine went away)")
        }
    };
    let message = format!(
        "precis tried {max_attempts} times to summarize this change and gave up: {why}. Push again or comment `{SUMMARIZE_COMMAND}` to retry."
    );
    Failure { kind, message }
}

/// Whether an error may go away by itself: GitHub unreachable, a 5xx or a
/// rate limit from it, a network failure while fetching.
pub fn is_transient(err: &anyhow::Error) -> bool {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<GitHubError>() {
            return e.is_transient();
        }
        if let Some(e) = cause.downcast_ref::<git2::Error>() {
            return matches!(
                e.class(),
                git2::ErrorClass::Net | git2::ErrorClass::Http | git2::ErrorClass::Ssl | git2::ErrorClass::Os
            );
        }
        if let Some(e) = cause.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            return matches!(
                e.kind(),
                ConnectionRefused
                    | ConnectionReset
                    | ConnectionAborted
                    | NotConnected
                    | BrokenPipe
                    | TimedOut
                    | UnexpectedEof
            );
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_errors_are_told_apart() {
        let network = git2::Error::new(git2::ErrorCode::GenericError, git2::ErrorClass::Net, "connection refused");
        assert!(is_transient(&anyhow::Error::new(network).context("cannot fetch")));
        let missing = git2::Error::new(git2::ErrorCode::NotFound, git2::ErrorClass::Reference, "no such ref");
        assert!(!is_transient(&anyhow::Error::new(missing).context("cannot fetch")));
        assert!(!is_transient(&anyhow::anyhow!("the model failed")));
    }

    /// The give-up reason follows the kind of the last failure, read from
    /// the error's causes, not from its words.
    #[test]
    fn a_give_up_says_what_kept_failing() {
        let network = git2::Error::new(git2::ErrorCode::GenericError, git2::ErrorClass::Net, "GitHub.com refused");
        let fetch = Failure::of(&anyhow::Error::new(network).context("cannot fetch"));
        assert_eq!(fetch.kind, FailureKind::Fetch);
        assert!(gave_up_reason(Some(&fetch), 3).message.contains("the repository or the network kept failing"));
        let github = Failure { kind: FailureKind::GitHub, message: "502".into() };
        assert!(gave_up_reason(Some(&github), 3).message.contains("GitHub could not be reached"));
        assert_eq!(Failure::of(&anyhow::anyhow!("GitHub said no")).kind, FailureKind::Other, "not by its words");
        let crashed = gave_up_reason(None, 3).message;
        assert!(crashed.contains("tried 3 times") && crashed.contains("stopped before it finished"), "{crashed}");
    }
}
