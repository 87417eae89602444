//! The names GitHub gives things, as types: a repository, a pull request
//! number, a commit id. Serialised as GitHub writes them.

use serde::{Deserialize, Serialize};

/// `owner/name`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RepoName {
    pub owner: String,
    pub name: String,
}

impl RepoName {
    /// Parses `owner/name` (as `GITHUB_REPOSITORY` gives it).
    pub fn parse(full_name: &str) -> Option<RepoName> {
        let (owner, name) = full_name.split_once('/')?;
        (!owner.is_empty() && !name.is_empty() && !name.contains('/')).then(|| RepoName { owner: owner.into(), name: name.into() })
    }

    /// The REST path of the repository: `/repos/owner/name`.
    pub fn api_path(&self) -> String {
        format!("/repos/{}/{}", self.owner, self.name)
    }
}

impl std::fmt::Display for RepoName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PullNumber(pub u64);

impl std::fmt::Display for PullNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A commit id (or, from the user, any revision git understands).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CommitId(pub String);

impl CommitId {
    /// GitHub's "no commit" (a created or deleted branch).
    pub fn is_zero(&self) -> bool {
        !self.0.is_empty() && self.0.chars().all(|c| c == '0')
    }

    pub fn short(&self) -> &str {
        &self.0[..self.0.len().min(7)]
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for CommitId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for CommitId {
    fn from(id: &str) -> CommitId {
        CommitId(id.to_string())
    }
}
