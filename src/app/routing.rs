//! Webhook events → what precis does about them: a job, a record, or
//! nothing (with the reason, for the log).

use serde_json::Value;

use super::queue::{JobSpec, RepoRef};
use crate::github::payload::{self, Event, Installation, Repository};
use crate::github::publish::CHECK_NAME;

#[derive(Debug, PartialEq)]
pub enum Routed {
    Job(JobSpec),
    Installation { id: u64, account: String, action: String, repositories: Vec<String> },
    Ignored(String),
}

/// The comment commands precis answers.
pub const SUMMARIZE_COMMAND: &str = "/precis summarize";
pub const HELP_COMMAND: &str = "/precis help";

fn ignored(reason: impl Into<String>) -> Routed {
    Routed::Ignored(reason.into())
}

/// The repository a delivery is about, if its owner and name are GitHub
/// names (they reach URLs and paths). The payload's `clone_url` is not read:
/// the worker fetches from the configured git host.
fn repo_of(repository: &Repository, installation: &Option<Installation>) -> Option<RepoRef> {
    let repo = repository.repo_name();
    repo.is_valid().then(|| RepoRef { repo, installation_id: installation.as_ref().map(|i| i.id) })
}

const BAD_NAME: &str = "the repository's owner or name is not a GitHub name";

/// Decides what a delivery asks for.
pub fn route(event: &str, payload: &Value) -> Routed {
    match payload::parse(event, payload) {
        Event::PullRequest(e) => pull_request(&e),
        Event::Push(e) => push(&e),
        Event::IssueComment(e) => issue_comment(&e),
        Event::CheckRun(e) => check_run(&e),
        Event::Installation(e) => Routed::Installation {
            id: e.installation.id,
            account: e.installation.account.as_ref().map(|a| a.login.clone()).unwrap_or_default(),
            action: format!("{event}.{}", e.action),
            repositories: e.repositories.iter().chain(&e.repositories_added).map(|r| r.full_name.clone()).collect(),
        },
        Event::Ping => ignored("ping"),
        Event::Other(other) => ignored(format!("event `{other}` is not one precis acts on")),
        Event::Malformed { event, reason } => ignored(format!("{event} payload without what precis needs ({reason})")),
    }
}

fn pull_request(e: &payload::PullRequestEvent) -> Routed {
    if !matches!(e.action.as_str(), "opened" | "reopened" | "synchronize" | "ready_for_review") {
        return ignored(format!("pull_request `{}`", e.action));
    }
    let Some(repo) = repo_of(&e.repository, &e.installation) else { return ignored(BAD_NAME) };
    let pr = &e.pull_request;
    if pr.state.as_deref() == Some("closed") {
        return ignored("pull request is closed");
    }
    Routed::Job(JobSpec::PullRequest {
        repo,
        number: pr.number,
        head_sha: pr.head.sha.clone(),
        base_sha: pr.base.sha.clone(),
        draft: pr.draft,
    })
}

fn push(e: &payload::PushEvent) -> Routed {
    let Some(repo) = repo_of(&e.repository, &e.installation) else { return ignored(BAD_NAME) };
    let Some(default) = &e.repository.default_branch else { return ignored("push without a default branch") };
    if e.git_ref != format!("refs/heads/{default}") {
        return ignored(format!("push to {}, not the default branch", e.git_ref));
    }
    if e.after.is_zero() || e.deleted {
        return ignored("push deleted the branch");
    }
    Routed::Job(JobSpec::Push { repo, branch: default.clone(), before: e.before.clone(), after: e.after.clone() })
}

fn issue_comment(e: &payload::IssueCommentEvent) -> Routed {
    if e.action != "created" {
        return ignored(format!("issue_comment `{}`", e.action));
    }
    if e.issue.pull_request.is_none() {
        return ignored("comment on an issue, not a pull request");
    }
    if e.comment.user.kind.as_deref() == Some("Bot") {
        return ignored("comment by a bot");
    }
    let Some(repo) = repo_of(&e.repository, &e.installation) else { return ignored(BAD_NAME) };
    let (number, user) = (e.issue.number, e.comment.user.login.clone());
    let first_line = e.comment.body.trim().lines().next().unwrap_or("").trim();
    if first_line == SUMMARIZE_COMMAND {
        Routed::Job(JobSpec::Rerun { repo, number, requested_by: Some(user) })
    } else if first_line == HELP_COMMAND {
        Routed::Job(JobSpec::Help { repo, number, requested_by: user })
    } else {
        ignored("comment without a precis command")
    }
}

fn check_run(e: &payload::CheckRunEvent) -> Routed {
    if e.action != "rerequested" {
        return ignored(format!("check_run `{}`", e.action));
    }
    if e.check_run.name != CHECK_NAME {
        return ignored("check run of another app");
    }
    let Some(repo) = repo_of(&e.repository, &e.installation) else { return ignored(BAD_NAME) };
    match e.check_run.pull_requests.first() {
        Some(pull) => Routed::Job(JobSpec::Rerun { repo, number: pull.number, requested_by: None }),
        None => ignored("rerun of a check run without a pull request"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::PullNumber;
    use serde_json::json;

    fn repository() -> Value {
        json!({"name": "r", "owner": {"login": "o"}, "default_branch": "main"})
    }

    #[test]
    fn pull_requests_become_jobs_and_closed_ones_do_not() {
        let payload = json!({"action": "synchronize", "repository": repository(), "installation": {"id": 9},
            "pull_request": {"number": 3, "state": "open", "draft": true, "head": {"sha": "h"}, "base": {"sha": "b"}}});
        match route("pull_request", &payload) {
            Routed::Job(JobSpec::PullRequest { number: PullNumber(3), draft: true, repo, .. }) => {
                assert_eq!(repo.installation_id, Some(9))
            }
            other => panic!("{other:?}"),
        }
        let labeled = json!({"action": "labeled", "repository": repository()});
        assert!(matches!(route("pull_request", &labeled), Routed::Ignored(_)));
        let mut escaping = payload.clone();
        escaping["repository"]["name"] = json!("../../elsewhere");
        assert_eq!(route("pull_request", &escaping), Routed::Ignored(BAD_NAME.into()));
    }

    #[test]
    fn only_default_branch_pushes_and_commands_count() {
        let push = json!({"ref": "refs/heads/main", "before": "a", "after": "b", "repository": repository()});
        assert!(matches!(route("push", &push), Routed::Job(JobSpec::Push { .. })));
        let other = json!({"ref": "refs/heads/dev", "before": "a", "after": "b", "repository": repository()});
        assert!(matches!(route("push", &other), Routed::Ignored(_)));
        let comment = |body: &str, kind: &str| {
            json!({"action": "created", "repository": repository(), "issue": {"number": 4, "pull_request": {}},
                "comment": {"body": body, "user": {"login": "u", "type": kind}}})
        };
        assert!(matches!(
            route("issue_comment", &comment("/precis summarize\n", "User")),
            Routed::Job(JobSpec::Rerun { .. })
        ));
        assert!(matches!(route("issue_comment", &comment("/precis help", "User")), Routed::Job(JobSpec::Help { .. })));
        assert!(matches!(route("issue_comment", &comment("/precis summarize", "Bot")), Routed::Ignored(_)));
        assert!(matches!(route("issue_comment", &comment("looks good", "User")), Routed::Ignored(_)));
    }
}
