//! What is to be summarized: every file of a directory, the change between
//! two commits of a git repository, or a unified patch — all read into the
//! same list of [`FileChange`]s.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use git2::{Delta, DiffFindOptions, DiffOptions, FileMode, Repository};
use serde::Serialize;

use super::structure::{self, FileStructure};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Added,
    Modified,
    Deleted,
    Renamed,
    Copied,
    /// The kind of entry changed (file ↔ symlink ↔ submodule).
    TypeChanged,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Added => "added",
            Status::Modified => "modified",
            Status::Deleted => "deleted",
            Status::Renamed => "renamed",
            Status::Copied => "copied",
            Status::TypeChanged => "type changed",
        }
    }
}

/// One hunk of a diff: its `@@` header and its lines, each with its ` `, `+`
/// or `-` prefix and without its line ending.
#[derive(Clone, Debug)]
pub struct Hunk {
    pub header: String,
    pub lines: Vec<String>,
}

#[derive(Clone, Debug)]
pub enum Content {
    /// A whole text file (directory mode), line endings normalised to `\n`.
    File(String),
    /// The hunks of a text file's diff.
    Hunks(Vec<Hunk>),
    Binary,
    /// Over the size limit: not read.
    TooLarge {
        bytes: u64,
    },
    /// A Git LFS pointer stands in for the real content.
    LfsPointer,
    Symlink {
        target: String,
    },
    Submodule {
        old: Option<String>,
        new: Option<String>,
    },
    /// Deleted, or a mode-only change: nothing to read.
    Empty,
}

#[derive(Clone, Debug)]
pub struct FileChange {
    pub path: String,
    /// Where a renamed or copied file came from.
    pub old_path: Option<String>,
    pub status: Status,
    pub additions: usize,
    pub deletions: usize,
    pub content: Content,
    /// The items the change adds, removes and changes, parsed.
    pub structure: FileStructure,
}

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    Directory { path: String },
    Range { base: String, head: String, merge_base: String },
    Patch { name: String },
}

#[derive(Clone, Debug)]
pub struct Change {
    pub source: Source,
    pub files: Vec<FileChange>,
}

/// Lines of context around each change, as `git diff` shows by default.
const CONTEXT_LINES: u32 = 3;

/// Git's own test for binary content: a NUL byte in the first 8000 bytes.
fn looks_binary(bytes: &[u8]) -> bool {
    bytes[..bytes.len().min(8000)].contains(&0)
}

fn is_lfs_pointer(text: &str) -> bool {
    text.starts_with("version https://git-lfs.")
}

/// Text of possibly non-UTF-8 bytes (invalid sequences become U+FFFD), with
/// CRLF line endings normalised.
pub(crate) fn text_of(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if text.contains('\r') {
        text.replace("\r\n", "\n")
    } else {
        text.into_owned()
    }
}

/// Every file under `root` that git would not ignore (`.gitignore`,
/// `.git/info/exclude`), as if added, sorted by path. Files over
/// `max_file_bytes` are not read.
pub fn from_directory(root: &Path, max_file_bytes: u64) -> Result<Change> {
    if !root.is_dir() {
        bail!("{} is not a directory; pass the folder to summarize", root.display());
    }
    let mut files = Vec::new();
    let walker = ignore::WalkBuilder::new(root)
        .hidden(false)
        .require_git(false)
        .filter_entry(|entry| entry.file_name() != ".git")
        .sort_by_file_name(|a, b| a.cmp(b))
        .build();
    for entry in walker {
        let entry = entry.with_context(|| format!("cannot walk {}", root.display()))?;
        let Some(kind) = entry.file_type() else { continue };
        if kind.is_dir() {
            continue;
        }
        let path = entry.path();
        let relative = path.strip_prefix(root).unwrap_or(path).to_string_lossy().replace('\\', "/");
        let content = if kind.is_symlink() {
            let target = std::fs::read_link(path).with_context(|| format!("cannot read link {}", path.display()))?;
            Content::Symlink { target: target.to_string_lossy().into_owned() }
        } else if let Some(bytes) = entry.metadata().ok().map(|m| m.len()).filter(|&len| len > max_file_bytes) {
            Content::TooLarge { bytes }
        } else {
            let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            file_content(&bytes)
        };
        let additions = match &content {
            Content::File(text) => text.lines().count(),
            _ => 0,
        };
        let structure = match &content {
            Content::File(text) => structure::of_versions(&relative, None, Some(text)),
            _ => FileStructure::default(),
        };
        files.push(FileChange {
            path: relative,
            old_path: None,
            status: Status::Added,
            additions,
            deletions: 0,
            content,
            structure,
        });
    }
    Ok(Change { source: Source::Directory { path: root.display().to_string() }, files })
}

fn file_content(bytes: &[u8]) -> Content {
    if looks_binary(bytes) {
        return Content::Binary;
    }
    let text = text_of(bytes);
    if is_lfs_pointer(&text) {
        Content::LfsPointer
    } else {
        Content::File(text)
    }
}

/// What `head` changed since it left `base`: the diff from their merge base
/// to `head`, as a pull request shows it. `range` is `BASE..HEAD` (or `...`).
/// Files larger than `max_file_bytes` are listed, not read (nor diffed).
pub fn from_range(repo_path: &Path, range: &str, max_file_bytes: u64) -> Result<Change> {
    let repo = Repository::discover(repo_path)
        .with_context(|| format!("{} is not inside a git repository; --diff needs one", repo_path.display()))?;
    let (base_rev, head_rev) = split_range(range)?;
    let commit = |rev: &str| {
        repo.revparse_single(rev)
            .and_then(|object| object.peel_to_commit())
            .with_context(|| format!("`{rev}` is not a commit in {}; fetch it or fix the range", repo_path.display()))
    };
    let (base, head) = (commit(base_rev)?, commit(head_rev)?);
    let merge_base = repo.merge_base(base.id(), head.id()).with_context(|| {
        format!("`{base_rev}` and `{head_rev}` have no common ancestor; pick a base on the same history")
    })?;
    let old_tree = repo.find_commit(merge_base)?.tree()?;
    let mut options = DiffOptions::new();
    options.context_lines(CONTEXT_LINES).ignore_submodules(false);
    let diff = repo.diff_tree_to_tree(Some(&old_tree), Some(&head.tree()?), Some(&mut options))?;
    let files = read_diff(diff, Some(&repo), max_file_bytes)?;
    let source =
        Source::Range { base: base.id().to_string(), head: head.id().to_string(), merge_base: merge_base.to_string() };
    Ok(Change { source, files })
}

fn split_range(range: &str) -> Result<(&str, &str)> {
    let (base, head) = range
        .split_once("...")
        .or_else(|| range.split_once(".."))
        .with_context(|| format!("`{range}` is not a range; write BASE..HEAD, e.g. main..HEAD"))?;
    let head = if head.is_empty() { "HEAD" } else { head };
    if base.is_empty() {
        bail!("`{range}` has no base; write BASE..HEAD, e.g. main..HEAD");
    }
    Ok((base, head))
}

/// The largest patch read (bytes): past it, a one-line error.
pub const MAX_PATCH_BYTES: usize = 64 * 1024 * 1024;

/// A unified diff as `git diff` or `diff -u` writes it; a file whose diff
/// is over `max_file_bytes` is listed, not read.
pub fn from_patch(bytes: &[u8], name: &str, max_file_bytes: u64) -> Result<Change> {
    if bytes.len() > MAX_PATCH_BYTES {
        bail!(
            "{name} is {:.0} MB, over the {} MB a patch may have; summarize a smaller range",
            bytes.len() as f64 / 1e6,
            MAX_PATCH_BYTES / 1024 / 1024
        );
    }
    let files = if bytes.iter().all(u8::is_ascii_whitespace) {
        Vec::new()
    } else {
        let diff = git2::Diff::from_buffer(bytes).map_err(|e| {
            anyhow::anyhow!(
                "{name} is not a unified diff ({}); pass the output of `git diff` or `diff -u`",
                e.message()
            )
        })?;
        let files = read_diff(diff, None, max_file_bytes)?;
        if files.is_empty() {
            bail!("{name} holds no diff; pass the output of `git diff` or `diff -u`");
        }
        files
    };
    Ok(Change { source: Source::Patch { name: name.to_string() }, files })
}

/// Reads a diff's deltas; with the repository, blobs are read to recognise
/// LFS pointers and symlink targets. A file over `max_file_bytes` (its blob,
/// or its diff text in a patch) is not read.
fn read_diff(mut diff: git2::Diff<'_>, repo: Option<&Repository>, max_file_bytes: u64) -> Result<Vec<FileChange>> {
    if repo.is_some() {
        let mut find = DiffFindOptions::new();
        find.renames(true).copies(false);
        diff.find_similar(Some(&mut find))?;
    }
    let odb = repo.map(Repository::odb).transpose()?;
    // A blob's size from its header: the blob itself is not loaded.
    let blob_size = |id: git2::Oid| -> u64 {
        match &odb {
            Some(odb) if !id.is_zero() => odb.read_header(id).map(|(size, _)| size as u64).unwrap_or(0),
            _ => 0,
        }
    };
    let mut files = Vec::new();
    for index in 0..diff.deltas().len() {
        let delta = diff.get_delta(index).context("delta index in range")?;
        let largest = blob_size(delta.new_file().id()).max(blob_size(delta.old_file().id()));
        let too_large = largest > max_file_bytes && delta.new_file().mode() != FileMode::Commit;
        let patch = if too_large { None } else { git2::Patch::from_diff(&diff, index)? };
        let path_of = |file: git2::DiffFile<'_>| file.path().map(|p| p.to_string_lossy().replace('\\', "/"));
        let (old_path, new_path) = (path_of(delta.old_file()), path_of(delta.new_file()));
        let status = match delta.status() {
            Delta::Added | Delta::Untracked => Status::Added,
            Delta::Deleted => Status::Deleted,
            Delta::Renamed => Status::Renamed,
            Delta::Copied => Status::Copied,
            Delta::Typechange => Status::TypeChanged,
            _ => Status::Modified,
        };
        let path = match status {
            Status::Deleted => old_path.clone(),
            _ => new_path.or_else(|| old_path.clone()),
        }
        .context("a diff entry has no path")?;
        let old_path = old_path.filter(|old| matches!(status, Status::Renamed | Status::Copied) && *old != path);
        let (_, additions, deletions) = patch.as_ref().map(|p| p.line_stats()).transpose()?.unwrap_or((0, 0, 0));
        let new_mode = delta.new_file().mode();
        let old_mode = delta.old_file().mode();
        let diff_bytes: u64 =
            if repo.is_none() { patch.as_ref().map(|p| p.size(false, false, false)).unwrap_or(0) as u64 } else { 0 };
        let content = if too_large || diff_bytes > max_file_bytes {
            Content::TooLarge { bytes: largest.max(diff_bytes) }
        } else if new_mode == FileMode::Commit || old_mode == FileMode::Commit {
            let id =
                |file: git2::DiffFile<'_>, mode: FileMode| (mode == FileMode::Commit).then(|| file.id().to_string());
            Content::Submodule { old: id(delta.old_file(), old_mode), new: id(delta.new_file(), new_mode) }
        } else if status == Status::Deleted {
            Content::Empty
        } else if new_mode == FileMode::Link {
            let target = repo
                .and_then(|repo| repo.find_blob(delta.new_file().id()).ok())
                .map(|blob| text_of(blob.content()))
                .or_else(|| patch.as_ref().and_then(|p| added_text(p).ok()))
                .unwrap_or_default();
            Content::Symlink { target: target.trim_end().to_string() }
        } else if delta.flags().is_binary() || delta.new_file().is_binary() {
            Content::Binary
        } else {
            let hunks = match &patch {
                Some(patch) => hunks_of(patch)?,
                None => Vec::new(),
            };
            let first_added = hunks.iter().flat_map(|h| &h.lines).find(|l| l.starts_with('+'));
            if first_added.is_some_and(|line| is_lfs_pointer(&line[1..])) {
                Content::LfsPointer
            } else if hunks.is_empty() {
                Content::Empty
            } else {
                Content::Hunks(hunks)
            }
        };
        let structure = structure::of_delta(repo, &delta, &path, &content);
        files.push(FileChange { path, old_path, status, additions, deletions, content, structure });
    }
    Ok(files)
}

fn hunks_of(patch: &git2::Patch<'_>) -> Result<Vec<Hunk>> {
    let mut hunks = Vec::with_capacity(patch.num_hunks());
    for h in 0..patch.num_hunks() {
        let (hunk, count) = patch.hunk(h)?;
        let header = text_of(hunk.header()).trim_end().to_string();
        let mut lines = Vec::with_capacity(count);
        for l in 0..count {
            let line = patch.line_in_hunk(h, l)?;
            let prefix = match line.origin() {
                '+' | '-' | ' ' => line.origin(),
                // "\ No newline at end of file" and the like carry no code.
                _ => continue,
            };
            let text = text_of(line.content());
            lines.push(format!("{prefix}{}", text.trim_end_matches(['\n', '\r'])));
        }
        hunks.push(Hunk { header, lines });
    }
    Ok(hunks)
}

/// The added lines of a patch, joined: a symlink's target in a patch.
fn added_text(patch: &git2::Patch<'_>) -> Result<String> {
    Ok(hunks_of(patch)?
        .iter()
        .flat_map(|h| h.lines.iter())
        .filter_map(|l| l.strip_prefix('+'))
        .collect::<Vec<_>>()
        .join("\n"))
}

/// The folder a repository-relative setting (`.github/precis.yml`,
/// `.gitattributes`) is read from, when there is one.
pub fn work_root(path: &Path) -> Option<PathBuf> {
    match Repository::discover(path) {
        Ok(repo) => repo.workdir().map(Path::to_path_buf),
        Err(_) => path.is_dir().then(|| path.to_path_buf()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_name_base_and_head() {
        assert_eq!(split_range("main..feature").unwrap(), ("main", "feature"));
        assert_eq!(split_range("main...feature").unwrap(), ("main", "feature"));
        assert_eq!(split_range("main..").unwrap(), ("main", "HEAD"));
        assert!(split_range("main").unwrap_err().to_string().contains("BASE..HEAD"));
        assert!(split_range("..main").is_err());
    }

    #[test]
    fn text_is_lossy_and_crlf_normalised() {
        assert_eq!(text_of(b"a\r\nb\xff\r\n"), "a\nb\u{fffd}\n");
        assert!(looks_binary(b"PNG\0\x01"));
        assert!(matches!(
            file_content(b"version https://git-lfs.example/spec/v1\noid sha256:00\n"),
            Content::LfsPointer
        ));
    }
}
