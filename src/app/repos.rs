//! The repository stage of the App: one bare repository per GitHub
//! repository under the data folder, fetched over https with the
//! installation token (as `x-access-token`), reused from job to job.
//!
//! Repositories not used for a while, or past a count, are pruned
//! ([`RepoCache::prune`]); never one a job holds ([`RepoCache::hold`]).
//!
//! The fetch URL is built from the configured git host and the repository's
//! owner and name, never taken from the payload (`clone_url`): the token
//! goes only to the host the operator named.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use git2::{Cred, FetchOptions, RemoteCallbacks, Repository};

use super::queue::RepoRef;
use crate::github::{RepoName, Token};

/// The longest a fetch may take while bytes arrive.
const FETCH_TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(600);
/// A fetch whose server takes longer to accept the connection fails.
const CONNECT_TIMEOUT_MS: i32 = 10_000;
/// A fetch whose server sends (or takes) nothing for this long fails: the
/// progress callback that enforces [`FETCH_TIME_LIMIT`] runs only as bytes come.
pub const SILENCE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Sets libgit2's socket timeouts, once per process.
fn set_socket_timeouts() {
    static SET: std::sync::Once = std::sync::Once::new();
    SET.call_once(|| {
        // SAFETY: these write two C globals that libgit2 reads only when it
        // opens a network connection, and precis opens those only in
        // `RepoCache::fetch`: every RepoCache is made after this, since
        // `call_once` holds other callers until it is done.
        let set = unsafe {
            git2::opts::set_server_connect_timeout_in_milliseconds(CONNECT_TIMEOUT_MS)
                .and_then(|()| git2::opts::set_server_timeout_in_milliseconds(SILENCE_TIMEOUT.as_millis() as i32))
        };
        if let Err(e) = set {
            tracing::warn!("cannot set the git fetch timeouts: {e}");
        }
    });
}

/// The git host repositories are fetched from (`PRECIS_GIT_URL`):
/// `https://github.com`, `https://HOST` for GitHub Enterprise Server, or a
/// `file://` folder in tests. A repository is `BASE/OWNER/NAME.git`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitHost(String);

impl GitHost {
    /// Checks a configured base URL.
    pub fn parse(url: &str) -> Result<GitHost> {
        let url = url.trim().trim_end_matches('/');
        let scheme_ok = ["https://", "http://", "file://"]
            .iter()
            .any(|scheme| url.strip_prefix(scheme).is_some_and(|rest| !rest.is_empty()));
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

/// How long cached repositories are kept (`PRECIS_REPO_CACHE_DAYS`,
/// `PRECIS_REPO_CACHE_MAX`).
#[derive(Clone, Copy, Debug)]
pub struct Retention {
    /// A repository no job has used for this long is removed.
    pub max_age: Duration,
    /// Past this many repositories the least recently used go (0: no cap).
    pub max_count: usize,
}

impl Default for Retention {
    fn default() -> Retention {
        Retention { max_age: Duration::from_secs(14 * 86_400), max_count: 500 }
    }
}

/// Marks when a job last used a cached repository (its modification time).
const LAST_USED: &str = "precis-last-used";

/// Jobs using each cached repository (its folder), in this process.
type Users = Arc<Mutex<HashMap<PathBuf, usize>>>;

fn lock(users: &Users) -> MutexGuard<'_, HashMap<PathBuf, usize>> {
    users.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A repository a job uses: pruning leaves it alone until this is dropped.
pub struct InUse {
    users: Users,
    path: PathBuf,
}

impl Drop for InUse {
    fn drop(&mut self) {
        let mut users = lock(&self.users);
        if let Some(count) = users.get_mut(&self.path) {
            *count -= 1;
            if *count == 0 {
                users.remove(&self.path);
            }
        }
    }
}

pub struct RepoCache {
    root: PathBuf,
    host: GitHost,
    retention: Retention,
    users: Users,
}

impl RepoCache {
    pub fn new(root: PathBuf, host: GitHost) -> RepoCache {
        set_socket_timeouts();
        RepoCache { root, host, retention: Retention::default(), users: Default::default() }
    }

    pub fn with_retention(self, retention: Retention) -> RepoCache {
        RepoCache { retention, ..self }
    }

    /// Marks `repo` in use by a job until the guard is dropped.
    pub fn hold(&self, repo: &RepoName) -> Result<InUse> {
        let path = self.path_of(repo)?;
        *lock(&self.users).entry(path.clone()).or_default() += 1;
        Ok(InUse { users: self.users.clone(), path })
    }

    /// Removes the cached repositories no job has used within the
    /// retention's age, then the least recently used past its count; never
    /// one a job holds. Returns how many went.
    pub fn prune(&self) -> Result<usize> {
        let mut cached = self.cached()?;
        // Most recently used first: past the cap, the tail goes.
        cached.sort_by_key(|(_, last_used)| std::cmp::Reverse(*last_used));
        let held = |path: &PathBuf| lock(&self.users).contains_key(path);
        // Repositories in use stay, and take their places under the cap first.
        let mut kept = cached.iter().filter(|(path, _)| held(path)).count();
        let now = SystemTime::now();
        let mut removed = 0;
        for (path, last_used) in cached.iter().filter(|(path, _)| !held(path)) {
            let too_old = now.duration_since(*last_used).unwrap_or_default() > self.retention.max_age;
            let over_cap = self.retention.max_count > 0 && kept >= self.retention.max_count;
            if (too_old || over_cap) && self.remove_unless_held(path)? {
                removed += 1;
            } else {
                kept += 1;
            }
        }
        Ok(removed)
    }

    /// Every cached repository (`ROOT/OWNER/NAME.git`) with when a job last used it.
    fn cached(&self) -> Result<Vec<(PathBuf, SystemTime)>> {
        let mut cached = Vec::new();
        let Ok(owners) = std::fs::read_dir(&self.root) else { return Ok(cached) };
        for owner in owners.flatten().filter(|entry| entry.path().is_dir()) {
            for repo in std::fs::read_dir(owner.path())?.flatten() {
                let path = repo.path();
                if path.is_dir() && path.extension().is_some_and(|ext| ext == "git") {
                    let used = std::fs::metadata(path.join(LAST_USED))
                        .or_else(|_| std::fs::metadata(&path))
                        .and_then(|m| m.modified())?;
                    cached.push((path, used));
                }
            }
        }
        Ok(cached)
    }

    /// Moves the repository aside (while no job can take it) and deletes it.
    fn remove_unless_held(&self, path: &Path) -> Result<bool> {
        let doomed = path.with_extension("git.pruned");
        {
            let users = lock(&self.users);
            if users.contains_key(path) {
                return Ok(false);
            }
            std::fs::rename(path, &doomed).with_context(|| format!("cannot prune {}", path.display()))?;
        }
        std::fs::remove_dir_all(&doomed).with_context(|| format!("cannot remove {}", doomed.display()))?;
        Ok(true)
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
                Repository::init_bare(&path)
                    .with_context(|| format!("cannot create a repository in {}", path.display()))?
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
            .map_err(|e| {
                anyhow::Error::new(e).context(format!("cannot fetch {} from {}", refs.join(" "), repo.full_name()))
            })?;
        std::fs::write(path.join(LAST_USED), b"").with_context(|| format!("cannot write in {}", path.display()))?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_come_from_the_host_and_a_valid_name() {
        let repo = RepoName { owner: "octo".into(), name: "demo".into() };
        assert_eq!(
            GitHost::for_api("https://api.github.com").unwrap().url_of(&repo).unwrap(),
            "https://github.com/octo/demo.git"
        );
        assert_eq!(
            GitHost::for_api("https://ghe.example/api/v3/").unwrap().url_of(&repo).unwrap(),
            "https://ghe.example/octo/demo.git"
        );
        assert_eq!(GitHost::parse("file:///srv/git/").unwrap().url_of(&repo).unwrap(), "file:///srv/git/octo/demo.git");
        let escaping = RepoName { owner: "octo".into(), name: "../../elsewhere".into() };
        assert!(GitHost::parse("https://github.com").unwrap().url_of(&escaping).is_err());
        assert!(GitHost::parse("github.com").is_err());
        assert!(GitHost::parse("https://").is_err());
    }

    /// A bare-repository stand-in last used `days_ago`.
    fn cached(root: &Path, name: &str, days_ago: u64) -> RepoName {
        let path = root.join("octo").join(format!("{name}.git"));
        std::fs::create_dir_all(&path).unwrap();
        let marker = std::fs::File::create(path.join(LAST_USED)).unwrap();
        marker.set_modified(SystemTime::now() - Duration::from_secs(days_ago * 86_400)).unwrap();
        RepoName { owner: "octo".into(), name: name.into() }
    }

    fn left(root: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(root.join("octo"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn unused_repositories_are_pruned_but_never_one_in_use() {
        let root = tempfile::tempdir().unwrap();
        let host = GitHost::parse("https://github.com").unwrap();
        let retention = Retention { max_age: Duration::from_secs(14 * 86_400), max_count: 3 };
        let cache = RepoCache::new(root.path().to_path_buf(), host).with_retention(retention);
        cached(root.path(), "fresh", 1);
        cached(root.path(), "stale", 30);
        let held = cached(root.path(), "stale-in-use", 40);
        let in_use = cache.hold(&held).unwrap();
        assert_eq!(cache.prune().unwrap(), 1);
        assert_eq!(left(root.path()), ["fresh.git", "stale-in-use.git"]);
        // Past the count, the least recently used go (the one in use stays).
        for (name, days) in [("a", 2), ("b", 3), ("c", 4)] {
            cached(root.path(), name, days);
        }
        assert_eq!(cache.prune().unwrap(), 2);
        assert_eq!(left(root.path()), ["a.git", "fresh.git", "stale-in-use.git"]);
        drop(in_use);
        assert_eq!(cache.prune().unwrap(), 1);
        assert_eq!(left(root.path()), ["a.git", "fresh.git"]);
    }
}
