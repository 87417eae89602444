//! What the change's author says about it: a pull request's title and body,
//! commit messages, or a patch's mail header. It is context for the model,
//! marked as the author's claims, never a fact the summary asserts.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

/// The author's words, cleaned.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AuthorContext {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub commits: Vec<String>,
}

/// Characters of the author's text a prompt carries at most (about 300 tokens).
const PROMPT_CHARS: usize = 1200;

impl AuthorContext {
    /// The title to show: the author's own, or the subject of a lone commit.
    pub fn headline(&self) -> Option<&str> {
        self.title.as_deref().or_else(|| match self.commits.as_slice() {
            [only] => only.lines().next(),
            _ => None,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.title.is_none() && self.body.is_none() && self.commits.is_empty()
    }

    /// Everything the author wrote, for the grounding gate (their names count as given).
    pub fn all_text(&self) -> String {
        let mut text = String::new();
        for part in self.title.iter().chain(&self.body).chain(&self.commits) {
            text.push_str(part);
            text.push('\n');
        }
        text
    }

    /// The author's words for a prompt, within a budget: title, body, then
    /// commit subjects.
    pub fn for_prompt(&self) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        let mut lines = Vec::new();
        if let Some(title) = &self.title {
            lines.push(format!("Title: {title}"));
        }
        if let Some(body) = &self.body {
            lines.push(body.clone());
        }
        let subjects: Vec<&str> = self
            .commits
            .iter()
            .filter_map(|c| c.lines().next())
            .filter(|s| Some(*s) != self.title.as_deref())
            .collect();
        if !subjects.is_empty() {
            lines.push(format!("Commits: {}", subjects.join("; ")));
        }
        let text = lines.join("\n");
        Some(super::prose::cut_at_word(&text, PROMPT_CHARS))
    }

    /// A pull request's title and body, the body without HTML comments and
    /// the template lines nobody filled in.
    pub fn pull_request(title: Option<&str>, body: Option<&str>) -> AuthorContext {
        AuthorContext {
            title: title.map(|t| t.trim().to_string()).filter(|t| !t.is_empty()),
            body: body.map(clean_body).filter(|b| !b.is_empty()),
            commits: Vec::new(),
        }
    }

    /// The mail header of `git format-patch` output (`Subject:` and the
    /// message up to `---`), if the patch has one.
    pub fn from_mail(patch: &[u8]) -> Option<AuthorContext> {
        let text = String::from_utf8_lossy(&patch[..patch.len().min(64 * 1024)]);
        if !text.starts_with("From ") && !text.starts_with("From:") && !text.starts_with("Subject:") {
            return None;
        }
        let mut lines = text.lines();
        let mut subject: Option<String> = None;
        // Header lines until the first blank line; `Subject:` may continue on indented lines.
        for line in lines.by_ref() {
            if line.is_empty() {
                break;
            }
            if let Some(rest) = line.strip_prefix("Subject:") {
                subject = Some(rest.trim().to_string());
            } else if line.starts_with([' ', '\t']) {
                if let Some(s) = subject.as_mut() {
                    s.push(' ');
                    s.push_str(line.trim());
                }
            }
        }
        let subject = subject?;
        let subject = match subject.strip_prefix('[') {
            Some(rest) if subject.starts_with("[PATCH") || subject.starts_with("[RFC") => {
                rest.split_once(']').map(|(_, s)| s.trim().to_string()).unwrap_or(subject.clone())
            }
            _ => subject.clone(),
        };
        let body: Vec<&str> = lines.take_while(|l| *l != "---" && !l.starts_with("diff --git")).collect();
        Some(AuthorContext::pull_request(Some(&subject), Some(&body.join("\n"))))
    }

    /// With `title` and `description` given on the command line, over what the patch said.
    pub fn with(mut self, title: Option<String>, description: Option<String>) -> AuthorContext {
        if title.is_some() {
            self.title = title;
        }
        if let Some(description) = description {
            self.body = Some(clean_body(&description)).filter(|b| !b.is_empty());
        }
        self
    }
}

/// The messages of the commits `head` has and `base` has not (newest last).
pub fn commit_messages(repo: &Path, base: &str, head: &str) -> Result<Vec<String>> {
    const MAX_COMMITS: usize = 50;
    let git = git2::Repository::open(repo).with_context(|| format!("{} is not a git repository", repo.display()))?;
    let mut walk = git.revwalk()?;
    walk.push(git.revparse_single(head)?.peel_to_commit()?.id())?;
    walk.hide(git.revparse_single(base)?.peel_to_commit()?.id())?;
    walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)?;
    let mut messages = Vec::new();
    for id in walk.take(MAX_COMMITS) {
        let commit = git.find_commit(id?)?;
        let message = String::from_utf8_lossy(commit.message_bytes()).trim().to_string();
        if !message.is_empty() {
            messages.push(message);
        }
    }
    Ok(messages)
}

/// A pull request body without HTML comments, unchecked boxes, headings with
/// nothing under them and placeholder lines.
fn clean_body(body: &str) -> String {
    let mut text = body.replace("\r\n", "\n");
    while let Some(start) = text.find("<!--") {
        match text[start..].find("-->") {
            Some(end) => text.replace_range(start..start + end + 3, ""),
            None => text.truncate(start),
        }
    }
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    let mut kept: Vec<&str> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        let placeholder = ["- [ ]", "* [ ]", "n/a", "none", "-", "tbd"]
            .contains(&trimmed.to_ascii_lowercase().as_str())
            || trimmed.starts_with("- [ ] ");
        let empty_heading = trimmed.starts_with('#')
            && lines[i + 1..].iter().map(|l| l.trim()).find(|l| !l.is_empty()).is_none_or(|next| next.starts_with('#'));
        if placeholder || empty_heading || (trimmed.is_empty() && kept.last().is_none_or(|l| l.trim().is_empty())) {
            continue;
        }
        kept.push(line);
    }
    kept.join("\n").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_body_loses_comments_unfilled_lines_and_empty_headings() {
        let body = "## What\nRetry before the last attempt.\n<!-- describe the change -->\n## Checklist\n- [ ] tests added\n- [x] docs\n## Notes\n";
        assert_eq!(clean_body(body), "## What\nRetry before the last attempt.\n\n## Checklist\n- [x] docs");
    }

    #[test]
    fn a_format_patch_header_gives_subject_and_message() {
        let patch = b"From 1a2b Mon Sep 17 00:00:00 2001\nFrom: A <a@example.com>\nSubject: [PATCH 2/3] retry: wait before the\n last attempt\n\nThe last retry slept 0 s.\n---\n src/r.py | 2 +-\ndiff --git a/src/r.py b/src/r.py\n";
        let author = AuthorContext::from_mail(patch).unwrap();
        assert_eq!(author.title.as_deref(), Some("retry: wait before the last attempt"));
        assert_eq!(author.body.as_deref(), Some("The last retry slept 0 s."));
        assert!(AuthorContext::from_mail(b"diff --git a/x b/x\n").is_none());
    }
}
