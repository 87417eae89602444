//! Webhook events → what precis does about them: a job, a record, or
//! nothing (with the reason, for the log).

use serde_json::Value;

use crate::queue::{JobSpec, RepoRef};

#[derive(Debug, PartialEq)]
pub enum Routed {
    Job(JobSpec),
    Installation { id: u64, account: String, action: String, repositories: Vec<String> },
    Ignored(String),
}

/// The comment commands precis answers.
pub const SUMMARIZE_COMMAND: &str = "/precis summarize";
pub const HELP_COMMAND: &str = "/precis help";

/// The name of precis's check run.
pub const CHECK_NAME: &str = "precis";

fn ignored(reason: impl Into<String>) -> Routed {
    Routed::Ignored(reason.into())
}

fn text<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

fn repo_of(payload: &Value) -> Option<RepoRef> {
    let repository = payload.get("repository")?;
    Some(RepoRef {
        owner: text(repository, "/owner/login")?.to_string(),
        name: text(repository, "/name")?.to_string(),
        clone_url: text(repository, "/clone_url")?.to_string(),
        installation_id: payload.pointer("/installation/id").and_then(Value::as_u64),
    })
}

/// Decides what a delivery asks for. Only the fields used are read, so
/// payloads with more (or newer) fields route the same.
pub fn route(event: &str, payload: &Value) -> Routed {
    let action = text(payload, "/action").unwrap_or("");
    match event {
        "pull_request" => pull_request(action, payload),
        "push" => push(payload),
        "issue_comment" => issue_comment(action, payload),
        "check_run" => check_run(action, payload),
        "installation" | "installation_repositories" => installation(event, action, payload),
        "ping" => ignored("ping"),
        other => ignored(format!("event `{other}` is not one precis acts on")),
    }
}

fn pull_request(action: &str, payload: &Value) -> Routed {
    if !matches!(action, "opened" | "reopened" | "synchronize" | "ready_for_review") {
        return ignored(format!("pull_request `{action}`"));
    }
    let (Some(repo), Some(pr)) = (repo_of(payload), payload.get("pull_request")) else {
        return ignored("pull_request without repository or pull_request");
    };
    let (Some(number), Some(head), Some(base)) =
        (pr.get("number").and_then(Value::as_u64), text(pr, "/head/sha"), text(pr, "/base/sha"))
    else {
        return ignored("pull_request without number or head and base commits");
    };
    if text(pr, "/state") == Some("closed") {
        return ignored("pull request is closed");
    }
    let draft = pr.get("draft").and_then(Value::as_bool).unwrap_or(false);
    Routed::Job(JobSpec::PullRequest { repo, number, head_sha: head.into(), base_sha: base.into(), draft })
}

const NO_COMMIT: &str = "0000000000000000000000000000000000000000";

fn push(payload: &Value) -> Routed {
    let Some(repo) = repo_of(payload) else { return ignored("push without repository") };
    let (Some(git_ref), Some(default), Some(before), Some(after)) = (
        text(payload, "/ref"),
        text(payload, "/repository/default_branch"),
        text(payload, "/before"),
        text(payload, "/after"),
    ) else {
        return ignored("push without ref, default branch or commits");
    };
    if git_ref != format!("refs/heads/{default}") {
        return ignored(format!("push to {git_ref}, not the default branch"));
    }
    if after == NO_COMMIT || payload.get("deleted").and_then(Value::as_bool) == Some(true) {
        return ignored("push deleted the branch");
    }
    Routed::Job(JobSpec::Push { repo, branch: default.into(), before: before.into(), after: after.into() })
}

fn issue_comment(action: &str, payload: &Value) -> Routed {
    if action != "created" {
        return ignored(format!("issue_comment `{action}`"));
    }
    if payload.pointer("/issue/pull_request").is_none() {
        return ignored("comment on an issue, not a pull request");
    }
    if text(payload, "/comment/user/type") == Some("Bot") {
        return ignored("comment by a bot");
    }
    let body = text(payload, "/comment/body").unwrap_or("").trim();
    let (Some(repo), Some(number), Some(user)) =
        (repo_of(payload), payload.pointer("/issue/number").and_then(Value::as_u64), text(payload, "/comment/user/login"))
    else {
        return ignored("comment without repository, number or author");
    };
    let first_line = body.lines().next().unwrap_or("").trim();
    if first_line == SUMMARIZE_COMMAND {
        Routed::Job(JobSpec::Rerun { repo, number, requested_by: Some(user.into()) })
    } else if first_line == HELP_COMMAND {
        Routed::Job(JobSpec::Help { repo, number, requested_by: user.into() })
    } else {
        ignored("comment without a precis command")
    }
}

fn check_run(action: &str, payload: &Value) -> Routed {
    if action != "rerequested" {
        return ignored(format!("check_run `{action}`"));
    }
    if text(payload, "/check_run/name") != Some(CHECK_NAME) {
        return ignored("check run of another app");
    }
    let Some(repo) = repo_of(payload) else { return ignored("check_run without repository") };
    match payload.pointer("/check_run/pull_requests/0/number").and_then(Value::as_u64) {
        Some(number) => Routed::Job(JobSpec::Rerun { repo, number, requested_by: None }),
        None => ignored("rerun of a check run without a pull request"),
    }
}

fn installation(event: &str, action: &str, payload: &Value) -> Routed {
    let Some(id) = payload.pointer("/installation/id").and_then(Value::as_u64) else {
        return ignored(format!("{event} without an installation id"));
    };
    let account = text(payload, "/installation/account/login").unwrap_or("").to_string();
    let list = if event == "installation" { "/repositories" } else { "/repositories_added" };
    let repositories = payload
        .pointer(list)
        .and_then(Value::as_array)
        .map(|repos| repos.iter().filter_map(|r| text(r, "/full_name").map(str::to_string)).collect())
        .unwrap_or_default();
    Routed::Installation { id, account, action: format!("{event}.{action}"), repositories }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn repository() -> Value {
        json!({"name": "r", "owner": {"login": "o"}, "clone_url": "https://example.com/o/r.git", "default_branch": "main"})
    }

    #[test]
    fn pull_requests_become_jobs_and_closed_ones_do_not() {
        let payload = json!({"action": "synchronize", "repository": repository(), "installation": {"id": 9},
            "pull_request": {"number": 3, "state": "open", "draft": true, "head": {"sha": "h"}, "base": {"sha": "b"}}});
        match route("pull_request", &payload) {
            Routed::Job(JobSpec::PullRequest { number: 3, draft: true, repo, .. }) => assert_eq!(repo.installation_id, Some(9)),
            other => panic!("{other:?}"),
        }
        let labeled = json!({"action": "labeled", "repository": repository()});
        assert!(matches!(route("pull_request", &labeled), Routed::Ignored(_)));
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
        assert!(matches!(route("issue_comment", &comment("/precis summarize\n", "User")), Routed::Job(JobSpec::Rerun { .. })));
        assert!(matches!(route("issue_comment", &comment("/precis help", "User")), Routed::Job(JobSpec::Help { .. })));
        assert!(matches!(route("issue_comment", &comment("/precis summarize", "Bot")), Routed::Ignored(_)));
        assert!(matches!(route("issue_comment", &comment("looks good", "User")), Routed::Ignored(_)));
    }
}
