//! The repository stage of the App: one bare repository per GitHub
//! repository under the data folder, fetched over https with the
//! installation token (as `x-access-token`), reused from job to job.
//!
//! The fetch URL is built from the configured git host and the repository's
//! owner and name, never taken from the payload (`clone_url`): the token
//! goes only to the host the operator named.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use git2::{Cred, FetchOptions, RemoteCallbacks, Repository};

use crate::github::{RepoName, Token};
use super::queue::RepoRef;

/// The longest a fetch may take.
const FETCH_TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(600);

/// The git host repositories are fetched from (`PRECIS_GIT_URL`):
/// `https://github.com`, `https://HOST` for GitHub Enterprise Server, or a
/// `file://` folder in tests. A repository is `BASE/OWNER/NAME.git`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitHost(String);

impl GitHost {
    /// Checks a configured base URL.
    pub fn parse(url: &str) -> Result<GitHost> {
        let url = url.trim().trim_end_matches('/');
        let scheme_ok = ["https://", "http://", "file://"].iter().any(|scheme| url.strip_prefix(scheme).is_some_and(|rest| !rest.is_empty()));
        if !scheme_ok || url.contains(['?', '#', ' ']) {
            bail!("PRECIS_GIT_URL `{url}` is not a git host URL; use https://github.com or https://HOST for GitHub Enterprise Server");
        }
        Ok(GitHost(url.to_string()))
    }

    /// The git host that goes with a REST API root: `https://github.com` for
    /// `https://api.github.com`, `https://HOST` for `https://HOST/api/v3`.
    pub fn for_api(api: &str) -> Result<GitHost> {
        let api = api.trim().trim_end_matches('/');
        match api.strip_suffix("/api/v3") {
            Some(host) => GitHost::parse(host),
            None => GitHost::parse(&api.replacen("://api.", "://", 1)),
        }
    }

    /// Where `repo` is fetched from; refused unless owner and name are GitHub names.
    pub fn url_of(&self, repo: &RepoName) -> Result<String> {
        ensure_valid(repo)?;
        Ok(format!("{}/{}/{}.git", self.0, repo.owner, repo.name))
    }
}

fn ensure_valid(repo: &RepoName) -> Result<()> {
    if !repo.is_valid() {
        bail!("`{repo}` is not a GitHub repository name; the delivery is refused");
    }
    Ok(())
}

pub struct RepoCache {
    root: PathBuf,
    host: GitHost,
}

impl RepoCache {
    pub fn new(root: PathBuf, host: GitHost) -> RepoCache {
        RepoCache { root, host }
    }

    fn path_of(&self, repo: &RepoName) -> Result<PathBuf> {
        ensure_valid(repo)?;
        Ok(self.root.join(&repo.owner).join(format!("{}.git", repo.name)))
    }

    /// Fetches `refspecs` (`+SRC:DST`) into the repository's cache; returns
    /// its folder.
    pub fn fetch(&self, repo: &RepoRef, token: Option<&Token>, refspecs: &[String]) -> Result<PathBuf> {
        let path = self.path_of(&repo.repo)?;
        let url = self.host.url_of(&repo.repo)?;
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
        let mut remote = git.remote_anonymous(&url)?;
        let refs: Vec<&str> = refspecs.iter().map(String::as_str).collect();
        remote
            .fetch(&refs, Some(&mut options), None)
            // The git error stays in the chain: the worker tells a network failure (retried) from others.
            .map_err(|e| anyhow::Error::new(e).context(format!("cannot fetch {} from {}", refs.join(" "), repo.full_name())))?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_come_from_the_host_and_a_valid_name() {
        let repo = RepoName { owner: "octo".into(), name: "demo".into() };
        assert_eq!(GitHost::for_api("https://api.github.com").unwrap().url_of(&repo).unwrap(), "https://github.com/octo/demo.git");
        assert_eq!(GitHost::for_api("https://ghe.example/api/v3/").unwrap().url_of(&repo).unwrap(), "https://ghe.example/octo/demo.git");
        assert_eq!(GitHost::parse("file:///srv/git/").unwrap().url_of(&repo).unwrap(), "file:///srv/git/octo/demo.git");
        let escaping = RepoName { owner: "octo".into(), name: "../../elsewhere".into() };
        assert!(GitHost::parse("https://github.com").unwrap().url_of(&escaping).is_err());
        assert!(GitHost::parse("github.com").is_err());
        assert!(GitHost::parse("https://").is_err());
    }
}
