//! The repository stage of the App: one bare repository per GitHub
//! repository under the data folder, fetched over https with the
//! installation token (as `x-access-token`), reused from job to job.

use std::path::PathBuf;

use anyhow::{Context, Result};
use git2::{Cred, FetchOptions, RemoteCallbacks, Repository};

use crate::github::Token;
use super::queue::RepoRef;

/// The longest a fetch may take.
const FETCH_TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(600);

pub struct RepoCache {
    root: PathBuf,
}

impl RepoCache {
    pub fn new(root: PathBuf) -> RepoCache {
        RepoCache { root }
    }

    fn path_of(&self, repo: &RepoRef) -> PathBuf {
        // Owner and name are GitHub logins and repository names: no separators.
        let clean = |s: &str| s.replace(['/', '\\'], "_").replace("..", "_");
        self.root.join(clean(&repo.repo.owner)).join(format!("{}.git", clean(&repo.repo.name)))
    }

    /// Fetches `refspecs` (`+SRC:DST`) into the repository's cache; returns
    /// its folder.
    pub fn fetch(&self, repo: &RepoRef, token: Option<&Token>, refspecs: &[String]) -> Result<PathBuf> {
        let path = self.path_of(repo);
        let git = match Repository::open_bare(&path) {
            Ok(git) => git,
            Err(_) => {
                std::fs::create_dir_all(&path).with_context(|| format!("cannot create {}", path.display()))?;
                Repository::init_bare(&path).with_context(|| format!("cannot create a repository in {}", path.display()))?
            }
        };
        let mut callbacks = RemoteCallbacks::new();
        let mut offered = false;
        callbacks.credentials(move |_url, _user, _allowed| match token {
            // Offer the token once: a refusal then ends the fetch instead of looping.
            Some(token) if !offered => {
                offered = true;
                Cred::userpass_plaintext("x-access-token", token.expose())
            }
            _ => Err(git2::Error::from_str("the repository refused the installation token")),
        });
        // A fetch that has not finished in time is given up (the job retries later).
        let started = std::time::Instant::now();
        callbacks.transfer_progress(move |_| started.elapsed() < FETCH_TIME_LIMIT);
        let mut options = FetchOptions::new();
        options.remote_callbacks(callbacks).download_tags(git2::AutotagOption::None);
        let mut remote = git.remote_anonymous(&repo.clone_url)?;
        let refs: Vec<&str> = refspecs.iter().map(String::as_str).collect();
        remote
            .fetch(&refs, Some(&mut options), None)
            // The git error stays in the chain: the worker tells a network failure (retried) from others.
            .map_err(|e| anyhow::Error::new(e).context(format!("cannot fetch {} from {}", refs.join(" "), repo.full_name())))?;
        Ok(path)
    }
}
