//! What changed since the last summary: when a pull request's sticky comment
//! described an earlier head that the new head descends from, the commits in
//! between are told file by file with the computed walkthrough (no model), so
//! a reviewer who read the last summary sees what the new commits did.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use super::change::{self, Status};
use super::evidence::Evidence;
use super::settings::Settings;
use super::{facts, select, walkthrough};

/// Files of the new commits told one by one; past it they are counted.
const FILES_TOLD: usize = 20;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Since {
    /// The head the last summary described, and the one this one describes.
    pub from: String,
    pub to: String,
    pub commits: usize,
    /// The earlier head is not an ancestor of this one (a force-push
    /// rewrote the branch): nothing is told apart, the summary is of the whole change.
    pub rewritten: bool,
    pub files: Vec<SinceFile>,
    /// Files the new commits changed that are not told (past [`FILES_TOLD`],
    /// or listed for a reason: binaries, lockfiles, the settings' excludes).
    pub files_not_told: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SinceFile {
    pub path: String,
    pub status: Status,
    pub additions: usize,
    pub deletions: usize,
    /// The computed walkthrough of this file's part of the new commits (may be empty).
    pub walkthrough: String,
}

/// What `head` changed since `previous`: `None` for the same commit;
/// `rewritten` when `previous` is not in the repository or not an ancestor
/// of `head` (a force-push rewrote the branch).
pub fn since(repo: &Path, previous: &str, head: &str, settings: &Settings) -> Result<Option<Since>> {
    let git = git2::Repository::open(repo).with_context(|| format!("{} is not a git repository", repo.display()))?;
    let commit = |rev: &str| git.revparse_single(rev).ok().and_then(|o| o.peel_to_commit().ok());
    let Some(new) = commit(head) else { return Ok(None) };
    let rewritten = || Since {
        from: previous.to_string(),
        to: new.id().to_string(),
        commits: 0,
        rewritten: true,
        files: Vec::new(),
        files_not_told: 0,
    };
    let Some(old) = commit(previous) else { return Ok(Some(rewritten())) };
    if old.id() == new.id() {
        return Ok(None);
    }
    if !git.graph_descendant_of(new.id(), old.id())? {
        return Ok(Some(rewritten()));
    }
    let mut walk = git.revwalk()?;
    walk.push(new.id())?;
    walk.hide(old.id())?;
    let commits = walk.count();
    let scope = select::Scope::new(settings)?;
    let skip = |path: &str| scope.leaves_out(path).is_some();
    let change =
        change::from_range(repo, &old.id().to_string(), &new.id().to_string(), settings.max_file_bytes, &skip)?;
    let listed = change.files.len();
    let selection = select::select(change, settings, "")?;
    let defined = walkthrough::defined_names(&selection.files);
    let files: Vec<SinceFile> = selection
        .files
        .iter()
        .take(FILES_TOLD)
        .map(|file| SinceFile {
            path: file.path.clone(),
            status: file.status,
            additions: file.additions,
            deletions: file.deletions,
            walkthrough: walkthrough::of_file(file, &Evidence::of_file(file), &facts::file_facts(file), &defined),
        })
        .collect();
    Ok(Some(Since {
        from: old.id().to_string(),
        to: new.id().to_string(),
        commits,
        rewritten: false,
        files_not_told: listed - files.len(),
        files,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = std::process::Command::new("git").args(args).current_dir(dir).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn commit(dir: &Path, path: &str, text: &str) -> String {
        std::fs::write(dir.join(path), text).unwrap();
        git(dir, &["add", "-A"]);
        git(dir, &["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c"]);
        git(dir, &["rev-parse", "HEAD"])
    }

    #[test]
    fn the_new_commits_are_told_apart_and_a_rewritten_head_is_not() {
        let dir = tempfile::tempdir().unwrap();
        git(dir.path(), &["init", "-q"]);
        let first = commit(dir.path(), "lib.rs", "pub fn a() -> u8 {\n    1\n}\n");
        let second = commit(dir.path(), "lib.rs", "pub fn a() -> u8 {\n    1\n}\n\npub fn b() -> u8 {\n    2\n}\n");
        let third = commit(dir.path(), "notes.txt", "x\n");
        let settings = Settings::default();
        let told = since(dir.path(), &first, &third, &settings).unwrap().expect("two new commits");
        assert_eq!((told.commits, told.files.len(), told.files_not_told), (2, 2, 0));
        let lib = told.files.iter().find(|f| f.path == "lib.rs").unwrap();
        assert_eq!(lib.walkthrough, "Adds the function `b`.");
        assert!(since(dir.path(), &third, &third, &settings).unwrap().is_none(), "the same head");
        let rewritten = |previous: &str, head: &str| since(dir.path(), previous, head, &settings).unwrap().unwrap();
        assert!(rewritten(&third, &second).rewritten, "not an ancestor");
        assert!(rewritten(&"0".repeat(40), &third).rewritten, "not in the repository");
    }
}
