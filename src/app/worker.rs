//! Workers take jobs from the durable queue: fetch with git, summarize on
//! the shared pipeline, publish.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::http::Metrics;
use super::queue::{Job, JobQueue, JobSpec, RepoRef};
use super::repos::RepoCache;
use super::routing::{HELP_COMMAND, SUMMARIZE_COMMAND};
use crate::github::payload;
use crate::github::publish::Repository;
use crate::github::{CommitId, GitHub, PullNumber, Token};
use crate::pipeline::{AuthorContext, Input, Overrides, Settings, SettingsSource, Summarizer, Summary, CONFIG_PATH};
use crate::publication::{Publication, Publisher};

/// Takes jobs from the queue and carries them out.
#[derive(Clone)]
pub struct Worker {
    pub queue: Arc<dyn JobQueue>,
    pub github: Arc<GitHub>,
    pub repos: Arc<RepoCache>,
    pub summarizer: Arc<Summarizer>,
    pub metrics: Arc<Metrics>,
    /// Jobs run (for tests and logs).
    pub completed: Arc<AtomicU64>,
}

const HELP: &str = "precis summarizes this pull request with a model that runs on the App's own machine.\n\n\
    - `/precis summarize`: summarize the pull request again now\n\
    - `/precis help`: this message\n\n\
    Commands are taken from users with write access. Settings live in `.github/precis.yml` on the base branch \
    (include, exclude, max_files, max_lines_per_chunk, max_chunks_per_file, max_file_bytes, language, model, drafts).";

/// What to summarize on a pull request.
struct PullTarget {
    number: PullNumber,
    base: CommitId,
    head: CommitId,
    draft: bool,
}

impl Worker {
    /// Runs the next queued job; `false` when there was none.
    pub async fn run_one(&self) -> Result<bool> {
        let queue = self.queue.clone();
        let Some(job) = tokio::task::spawn_blocking(move || queue.claim()).await?? else { return Ok(false) };
        let started = Instant::now();
        tracing::info!("job {} ({}) started", job.id, job.spec.key());
        let result = self.carry_out(&job).await;
        let error = result.as_ref().err().map(|e| format!("{e:#}"));
        match &error {
            None => tracing::info!("job {} done in {:.1} s", job.id, started.elapsed().as_secs_f64()),
            Some(e) => tracing::error!("job {} failed: {e}", job.id),
        }
        let queue = self.queue.clone();
        tokio::task::spawn_blocking(move || queue.finish(job.id, error.as_deref())).await??;
        self.completed.fetch_add(1, Ordering::Relaxed);
        Ok(true)
    }

    /// Runs jobs until the queue is empty (tests, and draining).
    pub async fn run_until_idle(&self) -> Result<()> {
        while self.run_one().await? {}
        Ok(())
    }

    /// Runs jobs as they come until `stop` turns true; a job in progress finishes first.
    pub async fn run(self, wake: Arc<tokio::sync::Notify>, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            if *stop.borrow() {
                return;
            }
            match self.run_one().await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => tracing::error!("the queue failed: {e:#}"),
            }
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                _ = stop.changed() => {}
            }
        }
    }

    async fn token(&self, repo: &RepoRef) -> Result<Token> {
        let installation = repo
            .installation_id
            .with_context(|| format!("the delivery for {} names no App installation; install the App on it", repo.full_name()))?;
        self.github.installation_token(installation).await
    }

    async fn carry_out(&self, job: &Job) -> Result<()> {
        let repo = match &job.spec {
            JobSpec::PullRequest { repo, .. } | JobSpec::Rerun { repo, .. } | JobSpec::Help { repo, .. } | JobSpec::Push { repo, .. } => repo,
        };
        let token = self.token(repo).await?;
        let github = Repository { github: &self.github, token: &token, repo: &repo.repo };
        match &job.spec {
            JobSpec::PullRequest { number, head_sha, base_sha, draft, .. } => {
                let target = PullTarget { number: *number, base: base_sha.clone(), head: head_sha.clone(), draft: *draft };
                self.summarize_pull(job, repo, &token, target).await
            }
            JobSpec::Rerun { number, requested_by, .. } => {
                if let Some(user) = requested_by {
                    if !github.can_write(user).await? {
                        tracing::info!("{SUMMARIZE_COMMAND} from {user} ignored: no write access to {}", repo.full_name());
                        return Ok(());
                    }
                }
                let pull: payload::PullRequest = self.github.get(&token, &format!("{}/pulls/{number}", repo.repo.api_path())).await?;
                // Asked for explicitly: a draft is summarized too.
                let target = PullTarget { number: *number, base: pull.base.sha, head: pull.head.sha, draft: false };
                self.summarize_pull(job, repo, &token, target).await
            }
            JobSpec::Help { number, requested_by, .. } => {
                if !github.can_write(requested_by).await? {
                    tracing::info!("{HELP_COMMAND} from {requested_by} ignored: no write access to {}", repo.full_name());
                    return Ok(());
                }
                github.reply(*number, HELP).await
            }
            JobSpec::Push { branch, before, after, .. } => {
                let refspec = format!("+refs/heads/{branch}:refs/precis/heads/{branch}");
                let dir = self.fetch(repo, &token, vec![refspec]).await?;
                let base = if before.is_zero() { CommitId(format!("{after}~1")) } else { before.clone() };
                let settings = self.settings(&dir, &base).await?;
                let publisher = Publisher { repo: github, lenient: false };
                let check = publisher.open_check(after, job.check_run_id).await?;
                self.remember_check(job, check).await?;
                let input = Input::Range { repo: dir, base: base.to_string(), head: after.to_string() };
                let summary = self.summarize(input, settings, AuthorContext::default()).await;
                publisher.post(&Publication::new(&summary, after, None), None, check).await?;
                summary.map(|_| ())
            }
        }
    }

    async fn summarize_pull(&self, job: &Job, repo: &RepoRef, token: &Token, target: PullTarget) -> Result<()> {
        let number = target.number;
        let refspecs = vec![format!("+refs/pull/{number}/head:refs/precis/pull/{number}/head"), "+refs/heads/*:refs/precis/heads/*".into()];
        let dir = self.fetch(repo, token, refspecs).await?;
        let settings = self.settings(&dir, &target.base).await?;
        if target.draft && !settings.drafts {
            tracing::info!("{}#{number} is a draft; set `drafts: true` in .github/precis.yml to summarize drafts", repo.full_name());
            return Ok(());
        }
        let publisher = Publisher { repo: Repository { github: &self.github, token, repo: &repo.repo }, lenient: false };
        let check = publisher.open_check(&target.head, job.check_run_id).await?;
        self.remember_check(job, check).await?;
        let input = Input::Range { repo: dir, base: target.base.to_string(), head: target.head.to_string() };
        let author = self.author(repo, token, number).await;
        let summary = self.summarize(input, settings, author).await;
        publisher.post(&Publication::new(&summary, &target.head, Some(number)), Some(number), check).await?;
        summary.map(|_| ())
    }

    /// The pull request's title and body (the commits come from git). Best
    /// effort: without them the summary is still made.
    async fn author(&self, repo: &RepoRef, token: &Token, number: PullNumber) -> AuthorContext {
        match self.github.get::<payload::PullRequest>(token, &format!("{}/pulls/{number}", repo.repo.api_path())).await {
            Ok(pull) => AuthorContext::pull_request(pull.title.as_deref(), pull.body.as_deref()),
            Err(e) => {
                tracing::warn!("cannot read the title and body of {}#{number}: {e:#}", repo.full_name());
                AuthorContext::default()
            }
        }
    }

    async fn fetch(&self, repo: &RepoRef, token: &Token, refspecs: Vec<String>) -> Result<PathBuf> {
        let (repos, repo, token) = (self.repos.clone(), repo.clone(), token.clone());
        tokio::task::spawn_blocking(move || repos.fetch(&repo, Some(&token), &refspecs)).await?
    }

    /// The repository's settings at the base commit.
    async fn settings(&self, dir: &std::path::Path, base: &CommitId) -> Result<Settings> {
        let source = SettingsSource::AtCommit { repo: dir.to_path_buf(), commit: base.to_string(), path: CONFIG_PATH.into() };
        tokio::task::spawn_blocking(move || Summarizer::settings(&source, &Overrides::default())).await?
    }

    /// A rerun of this job (after a crash) reuses its check run.
    async fn remember_check(&self, job: &Job, check: Option<u64>) -> Result<()> {
        if let (None, Some(id)) = (job.check_run_id, check) {
            let (queue, job_id) = (self.queue.clone(), job.id);
            tokio::task::spawn_blocking(move || queue.set_check_run(job_id, id)).await??;
        }
        Ok(())
    }

    async fn summarize(&self, input: Input, settings: Settings, author: AuthorContext) -> Result<Summary> {
        let summarizer = self.summarizer.clone();
        let started = Instant::now();
        let summary = tokio::task::spawn_blocking(move || summarizer.summarize(&input, &settings, &author)).await?;
        self.metrics.summarize_seconds.observe(started.elapsed().as_secs_f64());
        summary
    }
}
