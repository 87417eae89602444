//! Webhook payloads (and the Actions runner's event file, which is the same
//! JSON) as typed events: only the fields precis reads, so payloads with
//! more or newer fields parse the same. Shared by the App and the Action.

use serde::Deserialize;

use super::types::{CommitId, PullNumber, RepoName};

#[derive(Clone, Debug, Deserialize)]
pub struct Account {
    pub login: String,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Repository {
    pub name: String,
    pub owner: Account,
    #[serde(default)]
    pub full_name: Option<String>,
    #[serde(default)]
    pub default_branch: Option<String>,
    #[serde(default)]
    pub fork: bool,
}

impl Repository {
    pub fn repo_name(&self) -> RepoName {
        RepoName { owner: self.owner.login.clone(), name: self.name.clone() }
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct Installation {
    pub id: u64,
    #[serde(default)]
    pub account: Option<Account>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct GitRef {
    pub sha: CommitId,
    #[serde(rename = "ref", default)]
    pub name: Option<String>,
    #[serde(default)]
    pub repo: Option<Repository>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct PullRequest {
    pub number: PullNumber,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub draft: bool,
    pub head: GitRef,
    pub base: GitRef,
}

#[derive(Clone, Debug, Deserialize)]
pub struct PullRequestEvent {
    pub action: String,
    pub pull_request: PullRequest,
    pub repository: Repository,
    #[serde(default)]
    pub installation: Option<Installation>,
}

impl PullRequestEvent {
    /// Whether the head branch lives in another repository (a fork).
    pub fn from_fork(&self) -> bool {
        match &self.pull_request.head.repo {
            Some(head) => {
                head.fork || head.full_name.as_deref().is_some_and(|h| Some(h) != self.repository.full_name.as_deref())
            }
            None => false,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct PushEvent {
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub before: CommitId,
    pub after: CommitId,
    #[serde(default)]
    pub deleted: bool,
    pub repository: Repository,
    #[serde(default)]
    pub installation: Option<Installation>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Comment {
    pub body: String,
    pub user: Account,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Issue {
    pub number: PullNumber,
    /// Present when the issue is a pull request.
    #[serde(default)]
    pub pull_request: Option<serde_json::Value>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct IssueCommentEvent {
    pub action: String,
    pub issue: Issue,
    pub comment: Comment,
    pub repository: Repository,
    #[serde(default)]
    pub installation: Option<Installation>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct PullRef {
    pub number: PullNumber,
}

#[derive(Clone, Debug, Deserialize)]
pub struct CheckRun {
    pub name: String,
    #[serde(default)]
    pub pull_requests: Vec<PullRef>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct CheckRunEvent {
    pub action: String,
    pub check_run: CheckRun,
    pub repository: Repository,
    #[serde(default)]
    pub installation: Option<Installation>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct RepositoryName {
    pub full_name: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct InstallationEvent {
    pub action: String,
    pub installation: Installation,
    #[serde(default)]
    pub repositories: Vec<RepositoryName>,
    #[serde(default)]
    pub repositories_added: Vec<RepositoryName>,
}

/// A delivery, by its `X-GitHub-Event` name.
#[derive(Clone, Debug)]
pub enum Event {
    PullRequest(Box<PullRequestEvent>),
    Push(Box<PushEvent>),
    IssueComment(Box<IssueCommentEvent>),
    CheckRun(Box<CheckRunEvent>),
    Installation(Box<InstallationEvent>),
    Ping,
    /// An event precis does not act on.
    Other(String),
    /// An event precis acts on whose payload lacks what it needs.
    Malformed {
        event: String,
        reason: String,
    },
}

/// Parses a payload already known to be JSON.
pub fn parse(event: &str, payload: &serde_json::Value) -> Event {
    fn typed<T: for<'de> Deserialize<'de>>(
        event: &str,
        payload: &serde_json::Value,
        wrap: impl Fn(Box<T>) -> Event,
    ) -> Event {
        match T::deserialize(payload) {
            Ok(parsed) => wrap(Box::new(parsed)),
            Err(e) => Event::Malformed { event: event.to_string(), reason: e.to_string() },
        }
    }
    match event {
        "pull_request" | "pull_request_target" => typed(event, payload, Event::PullRequest),
        "push" => typed(event, payload, Event::Push),
        "issue_comment" => typed(event, payload, Event::IssueComment),
        "check_run" => typed(event, payload, Event::CheckRun),
        "installation" | "installation_repositories" => typed(event, payload, Event::Installation),
        "ping" => Event::Ping,
        other => Event::Other(other.to_string()),
    }
}
