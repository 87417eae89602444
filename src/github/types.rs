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
        let repo = RepoName { owner: owner.into(), name: name.into() };
        repo.is_valid().then_some(repo)
    }

    /// Whether owner and name are names GitHub could have given: ASCII
    /// letters, digits, `-`, `_` and `.`, not `.` or `..`, at most 100
    /// characters. They come from payloads and go into URLs and paths, so
    /// nothing else may pass (no `/`, `..`, `%`, `?` or `#`).
    pub fn is_valid(&self) -> bool {
        let part = |s: &str| {
            !s.is_empty()
                && s.len() <= 100
                && s != "."
                && s != ".."
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        };
        part(&self.owner) && part(&self.name)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_githubs_names_are_valid() {
        assert_eq!(RepoName::parse("octo/.github"), Some(RepoName { owner: "octo".into(), name: ".github".into() }));
        assert!(RepoName::parse("my_org-1/re.po_2").is_some());
        for bad in [
            "octo/..",
            "../demo",
            "octo/a/b",
            "octo/",
            "/demo",
            "octo/de mo",
            "octo/de%2fmo",
            "octo/demo?x",
            "octo/demo#x",
            "oc\\to/demo",
        ] {
            assert_eq!(RepoName::parse(bad), None, "{bad}");
        }
    }
}
