//! What is to be summarized: every file of a directory, the change between
//! two commits of a git repository, or a unified patch — all read into the
//! same list of [`FileChange`]s.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use git2::{Delta, DiffFindOptions, DiffOptions, FileMode, Repository};
use serde::Serialize;

use super::structure::{self, FileStructure};

/// A file's change; as a reader sees it (`as_str`: "type changed") and in JSON (`type_changed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "lowercase")]
pub enum Status {
    Added,
    Modified,
    Deleted,
    Renamed,
    Copied,
    /// The kind of entry changed (file ↔ symlink ↔ submodule).
    #[strum(serialize = "type changed")]
    TypeChanged,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One hunk of a diff: its `@@` header and its lines, each with its ` `, `+`
/// or `-` prefix and without its line ending.
#[derive(Clone, Debug)]
pub struct Hunk {
    pub header: String,
    pub lines: Lines,
}

/// Lines held as one text, `\n` between them: a million one-character lines
/// cost a few megabytes, not an allocation each.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lines {
    text: String,
    count: usize,
}

impl Lines {
    /// Adds a line; a line ending inside it would split it, so it becomes a space.
    pub fn push(&mut self, line: &str) {
        if self.count > 0 {
            self.text.push('\n');
        }
        if line.contains('\n') {
            self.text.push_str(&line.replace('\n', " "));
        } else {
            self.text.push_str(line);
        }
        self.count += 1;
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn iter(&self) -> LinesIter<'_> {
        self.text.split('\n').take(self.count)
    }

    /// The bytes the lines hold.
    pub fn bytes(&self) -> usize {
        self.text.len()
    }
}

pub type LinesIter<'a> = std::iter::Take<std::str::Split<'a, char>>;

impl<'a> IntoIterator for &'a Lines {
    type Item = &'a str;
    type IntoIter = LinesIter<'a>;
    fn into_iter(self) -> LinesIter<'a> {
        self.iter()
    }
}

impl<S: AsRef<str>> FromIterator<S> for Lines {
    fn from_iter<I: IntoIterator<Item = S>>(lines: I) -> Lines {
        let mut all = Lines::default();
        for line in lines {
            all.push(line.as_ref());
        }
        all
    }
}

impl From<Vec<String>> for Lines {
    fn from(lines: Vec<String>) -> Lines {
        lines.into_iter().collect()
    }
}

#[derive(Clone, Debug)]
pub enum Content {
    /// A whole text file (directory mode), line endings normalised to `\n`.
    File(String),
    /// The hunks of a text file's diff.
    Hunks(Vec<Hunk>),
    /// Text not read yet: listed with its path and line counts only, read
    /// through [`Reader::read`] once selected.
    Unread,
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

impl Content {
    /// The bytes of text it holds: what a job's memory bound counts.
    pub fn text_bytes(&self) -> usize {
        match self {
            Content::File(text) => text.len(),
            Content::Hunks(hunks) => hunks.iter().map(|h| h.header.len() + 1 + h.lines.bytes() + 1).sum(),
            Content::Symlink { target } => target.len(),
            _ => 0,
        }
    }
}

/// A change as first listed: every file's path, status and line counts, the
/// text of none (`Content::Unread`); [`Change::reader`] reads one file's text
/// at a time, once selection has chosen it.
pub struct Change {
    pub source: Source,
    pub files: Vec<FileChange>,
    pub reader: Reader,
}

/// Reads the text of a listed file: by its index in [`Change::files`].
pub struct Reader {
    from: ReadFrom,
    /// Per file, in the order of the listing.
    locators: Vec<Locator>,
}

enum ReadFrom {
    Directory(PathBuf),
    Repository(Repository),
    Patch(git2::Diff<'static>),
}

#[derive(Clone)]
enum Locator {
    /// Relative to the directory.
    Path(String),
    /// The old and new blobs (zero when absent).
    Blobs(git2::Oid, git2::Oid),
    /// A delta of the patch.
    Delta(usize),
}

impl Reader {
    /// The text of file `index`: its hunks (or whole text), or what stands in
    /// for text (binary, an LFS pointer, nothing); past `max_file_bytes`, too
    /// large. With it, the file's structure, parsed while both versions are at
    /// hand (from the hunks alone for a patch).
    pub fn read(&self, index: usize, path: &str, max_file_bytes: u64) -> Result<(Content, FileStructure)> {
        let locator = self.locators.get(index).context("a listed file's index")?;
        match (&self.from, locator) {
            (ReadFrom::Directory(root), Locator::Path(relative)) => {
                let bytes = read_bounded(&root.join(relative), max_file_bytes)?;
                let content = bytes.map_or_else(|bytes| Content::TooLarge { bytes }, |bytes| file_content(&bytes));
                let structure = match &content {
                    Content::File(text) => structure::of_versions(path, None, Some(text)),
                    _ => FileStructure::default(),
                };
                Ok((content, structure))
            }
            (ReadFrom::Repository(repo), Locator::Blobs(old, new)) => {
                let blob = |id: &git2::Oid| (!id.is_zero()).then(|| repo.find_blob(*id)).transpose();
                let (old, new) = (blob(old)?, blob(new)?);
                let largest = [&old, &new].iter().filter_map(|b| b.as_ref()).map(|b| b.size() as u64).max();
                if let Some(bytes) = largest.filter(|&bytes| bytes > max_file_bytes) {
                    return Ok((Content::TooLarge { bytes }, FileStructure::default()));
                }
                if [&old, &new].iter().filter_map(|b| b.as_ref()).any(|b| looks_binary(b.content())) {
                    return Ok((Content::Binary, FileStructure::default()));
                }
                let mut options = DiffOptions::new();
                options.context_lines(CONTEXT_LINES);
                let (old_bytes, new_bytes) =
                    (old.as_ref().map_or(&[][..], |b| b.content()), new.as_ref().map_or(&[][..], |b| b.content()));
                let patch = git2::Patch::from_buffers(old_bytes, None, new_bytes, None, Some(&mut options))?;
                let content = text_of_patch(&patch)?;
                let structure = match &content {
                    Content::Hunks(_) => {
                        let (old_text, new_text) =
                            (old.as_ref().map(|_| text_of(old_bytes)), new.as_ref().map(|_| text_of(new_bytes)));
                        structure::of_versions(path, old_text.as_deref(), new_text.as_deref())
                    }
                    _ => FileStructure::default(),
                };
                Ok((content, structure))
            }
            (ReadFrom::Patch(diff), Locator::Delta(delta)) => match git2::Patch::from_diff(diff, *delta)? {
                Some(patch) => {
                    let content = text_of_patch(&patch)?;
                    let structure = match &content {
                        Content::Hunks(hunks) => structure::of_hunks(path, hunks),
                        _ => FileStructure::default(),
                    };
                    Ok((content, structure))
                }
                None => Ok((Content::Empty, FileStructure::default())),
            },
            _ => bail!("a listed file's locator does not match its change"),
        }
    }
}

/// The hunks of a patch, or what stands in for them.
fn text_of_patch(patch: &git2::Patch<'_>) -> Result<Content> {
    if patch.delta().flags().is_binary() {
        return Ok(Content::Binary);
    }
    let hunks = hunks_of(patch)?;
    let first_added = hunks.iter().flat_map(|h| &h.lines).find(|l| l.starts_with('+'));
    Ok(if first_added.is_some_and(|line| is_lfs_pointer(&line[1..])) {
        Content::LfsPointer
    } else if hunks.is_empty() {
        Content::Empty
    } else {
        Content::Hunks(hunks)
    })
}

/// A file's bytes, or its size when over `max_bytes` (then not read).
fn read_bounded(path: &Path, max_bytes: u64) -> Result<std::result::Result<Vec<u8>, u64>> {
    let read = || format!("cannot read {}", path.display());
    let file = std::fs::File::open(path).with_context(read)?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(file, max_bytes + 1), &mut bytes).with_context(read)?;
    if bytes.len() as u64 > max_bytes {
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(bytes.len() as u64);
        return Ok(Err(size));
    }
    Ok(Ok(bytes))
}

/// Lines of context around each change, as `git diff` shows by default.
const CONTEXT_LINES: u32 = 3;

/// The most of a symlink's target that is read: a path, not a file.
const MAX_LINK_TARGET: usize = 4096;

/// Lines as a diff counts them: a last line without its line end counts too.
fn line_count(bytes: &[u8]) -> usize {
    let ends = bytes.iter().filter(|&&b| b == b'\n').count();
    ends + usize::from(bytes.last().is_some_and(|&b| b != b'\n'))
}

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

/// A symlink's target, at most [`MAX_LINK_TARGET`] bytes of it.
fn link_target(bytes: &[u8]) -> String {
    let mut end = bytes.len().min(MAX_LINK_TARGET);
    let text = loop {
        match std::str::from_utf8(&bytes[..end]) {
            Err(e) if e.error_len().is_none() && end > 0 => end -= 1,
            _ => break text_of(&bytes[..end]),
        }
    };
    text.trim_end().to_string()
}

/// Every file under `root` that git would not ignore (`.gitignore`,
/// `.git/info/exclude`), as if added, sorted by path: listed with its line
/// count, its text read one file at a time and not kept. Files over
/// `max_file_bytes`, and those `skip` names, are not read.
pub fn from_directory(root: &Path, max_file_bytes: u64, skip: &dyn Fn(&str) -> bool) -> Result<Change> {
    if !root.is_dir() {
        bail!("{} is not a directory; pass the folder to summarize", root.display());
    }
    let mut files = Vec::new();
    let mut locators = Vec::new();
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
        let mut additions = 0;
        let content = if skip(&relative) {
            Content::Unread
        } else if kind.is_symlink() {
            let target = std::fs::read_link(path).with_context(|| format!("cannot read link {}", path.display()))?;
            Content::Symlink { target: link_target(target.as_os_str().as_encoded_bytes()) }
        } else {
            match read_bounded(path, max_file_bytes)? {
                Err(bytes) => Content::TooLarge { bytes },
                Ok(bytes) => match file_content(&bytes) {
                    Content::File(text) => {
                        additions = text.lines().count();
                        Content::Unread
                    }
                    other => other,
                },
            }
        };
        files.push(FileChange {
            path: relative.clone(),
            old_path: None,
            status: Status::Added,
            additions,
            deletions: 0,
            content,
            structure: FileStructure::default(),
        });
        locators.push(Locator::Path(relative));
    }
    let reader = Reader { from: ReadFrom::Directory(root.to_path_buf()), locators };
    Ok(Change { source: Source::Directory { path: root.display().to_string() }, files, reader })
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
/// to `head`, as a pull request shows it. Files larger than
/// `max_file_bytes`, and those `skip` names, are listed, not read (nor diffed).
pub fn from_range(
    repo_path: &Path,
    base_rev: &str,
    head_rev: &str,
    max_file_bytes: u64,
    skip: &dyn Fn(&str) -> bool,
) -> Result<Change> {
    let repo = Repository::discover(repo_path)
        .with_context(|| format!("{} is not inside a git repository; --diff needs one", repo_path.display()))?;
    let commit = |rev: &str| {
        repo.revparse_single(rev)
            .and_then(|object| object.peel_to_commit())
            .with_context(|| format!("`{rev}` is not a commit in {}; fetch it or fix the range", repo_path.display()))
    };
    let (base, head) = (commit(base_rev)?, commit(head_rev)?);
    let merge_base = repo.merge_base(base.id(), head.id()).with_context(|| {
        format!("`{base_rev}` and `{head_rev}` have no common ancestor; pick a base on the same history")
    })?;
    let source =
        Source::Range { base: base.id().to_string(), head: head.id().to_string(), merge_base: merge_base.to_string() };
    let head_tree = head.tree()?;
    let old_tree = repo.find_commit(merge_base)?.tree()?;
    drop((base, head));
    let mut options = DiffOptions::new();
    options.context_lines(CONTEXT_LINES).ignore_submodules(false);
    let mut diff = repo.diff_tree_to_tree(Some(&old_tree), Some(&head_tree), Some(&mut options))?;
    let (files, locators) = list_diff(&mut diff, Some(&repo), max_file_bytes, skip)?;
    drop((diff, old_tree, head_tree));
    Ok(Change { source, files, reader: Reader { from: ReadFrom::Repository(repo), locators } })
}

/// A range of history as written: `BASE..HEAD`, or `BASE...HEAD` (the same
/// here: a change is always read from the merge base), `BASE..` up to `HEAD`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Range {
    pub base: String,
    pub head: String,
}

impl std::str::FromStr for Range {
    type Err = anyhow::Error;

    fn from_str(range: &str) -> Result<Range> {
        let (base, head) = range
            .split_once("...")
            .or_else(|| range.split_once(".."))
            .with_context(|| format!("`{range}` is not a range; write BASE..HEAD, e.g. main..HEAD"))?;
        let head = if head.is_empty() { "HEAD" } else { head };
        if base.is_empty() {
            bail!("`{range}` has no base; write BASE..HEAD, e.g. main..HEAD");
        }
        Ok(Range { base: base.to_string(), head: head.to_string() })
    }
}

/// The largest patch read (bytes): past it, a one-line error.
pub const MAX_PATCH_BYTES: usize = 64 * 1024 * 1024;

/// A unified diff as `git diff` or `diff -u` writes it; a file whose diff
/// is over `max_file_bytes`, and one `skip` names, is listed, not read.
pub fn from_patch(bytes: &[u8], name: &str, max_file_bytes: u64, skip: &dyn Fn(&str) -> bool) -> Result<Change> {
    if bytes.len() > MAX_PATCH_BYTES {
        bail!(
            "{name} is {:.0} MB, over the {} MB a patch may have; summarize a smaller range",
            bytes.len() as f64 / 1e6,
            MAX_PATCH_BYTES / 1024 / 1024
        );
    }
    let source = Source::Patch { name: name.to_string() };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        let reader = Reader { from: ReadFrom::Patch(git2::Diff::from_buffer(b"")?), locators: Vec::new() };
        return Ok(Change { source, files: Vec::new(), reader });
    }
    let mut diff = git2::Diff::from_buffer(bytes).map_err(|e| {
        anyhow::anyhow!("{name} is not a unified diff ({}); pass the output of `git diff` or `diff -u`", e.message())
    })?;
    let (files, locators) = list_diff(&mut diff, None, max_file_bytes, skip)?;
    if files.is_empty() {
        bail!("{name} holds no diff; pass the output of `git diff` or `diff -u`");
    }
    Ok(Change { source, files, reader: Reader { from: ReadFrom::Patch(diff), locators } })
}

/// Lists a diff's deltas with their line counts; each delta's patch is made
/// and dropped in turn, so no more than one file's text is held at once.
/// With the repository, blobs are read to recognise symlink targets; a file
/// over `max_file_bytes` (its blob, or its diff text in a patch), or one
/// `skip` names, is not diffed.
fn list_diff(
    diff: &mut git2::Diff<'_>,
    repo: Option<&Repository>,
    max_file_bytes: u64,
    skip: &dyn Fn(&str) -> bool,
) -> Result<(Vec<FileChange>, Vec<Locator>)> {
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
    let mut locators = Vec::new();
    for index in 0..diff.deltas().len() {
        let delta = diff.get_delta(index).context("delta index in range")?;
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
        let skipped = skip(&path);
        let largest = blob_size(delta.new_file().id()).max(blob_size(delta.old_file().id()));
        let too_large = largest > max_file_bytes && delta.new_file().mode() != FileMode::Commit;
        let new_mode = delta.new_file().mode();
        let old_mode = delta.old_file().mode();
        // A file added or deleted whole is counted from its blob: no diff to make.
        let whole = match (repo, status) {
            (Some(repo), Status::Added | Status::Deleted) if !too_large && !skipped => {
                let (file, mode) =
                    if status == Status::Added { (delta.new_file(), new_mode) } else { (delta.old_file(), old_mode) };
                match mode {
                    FileMode::Blob | FileMode::BlobExecutable => {
                        let blob = repo.find_blob(file.id())?;
                        let binary = looks_binary(blob.content());
                        Some((if binary { 0 } else { line_count(blob.content()) }, binary))
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        let patch = if too_large || skipped || whole.is_some() { None } else { git2::Patch::from_diff(diff, index)? };
        let old_path = old_path.filter(|old| matches!(status, Status::Renamed | Status::Copied) && *old != path);
        let (additions, deletions) = match whole {
            Some((lines, _)) if status == Status::Added => (lines, 0),
            Some((lines, _)) => (0, lines),
            None => patch.as_ref().map(|p| p.line_stats()).transpose()?.map_or((0, 0), |(_, a, d)| (a, d)),
        };
        let diff_bytes: u64 =
            if repo.is_none() { patch.as_ref().map(|p| p.size(false, false, false)).unwrap_or(0) as u64 } else { 0 };
        let binary = patch.as_ref().is_some_and(|p| p.delta().flags().is_binary()) || whole.is_some_and(|(_, b)| b);
        let no_text = match (whole, &patch) {
            (Some((lines, _)), _) => lines == 0,
            (None, patch) => patch.as_ref().is_none_or(|p| p.num_hunks() == 0),
        };
        let content = if skipped {
            Content::Unread
        } else if too_large || diff_bytes > max_file_bytes {
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
                .map(|blob| link_target(blob.content()))
                .or_else(|| patch.as_ref().and_then(|p| added_text(p).ok()).map(|t| link_target(t.as_bytes())))
                .unwrap_or_default();
            Content::Symlink { target }
        } else if binary || delta.flags().is_binary() || delta.new_file().is_binary() {
            Content::Binary
        } else if no_text {
            Content::Empty
        } else {
            Content::Unread
        };
        files.push(FileChange {
            path,
            old_path,
            status,
            additions,
            deletions,
            content,
            structure: FileStructure::default(),
        });
        locators.push(match repo {
            Some(_) => Locator::Blobs(delta.old_file().id(), delta.new_file().id()),
            None => Locator::Delta(index),
        });
    }
    Ok((files, locators))
}

fn hunks_of(patch: &git2::Patch<'_>) -> Result<Vec<Hunk>> {
    let mut hunks = Vec::with_capacity(patch.num_hunks());
    for h in 0..patch.num_hunks() {
        let (hunk, count) = patch.hunk(h)?;
        let header = text_of(hunk.header()).trim_end().to_string();
        let mut lines = Lines::default();
        for l in 0..count {
            let line = patch.line_in_hunk(h, l)?;
            let prefix = match line.origin() {
                '+' | '-' | ' ' => line.origin(),
                // "\ No newline at end of file" and the like carry no code.
                _ => continue,
            };
            let text = text_of(line.content());
            lines.push(&format!("{prefix}{}", text.trim_end_matches(['\n', '\r'])));
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

/// Changes made in tests of the pipeline's stages.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    /// A modified file of one hunk (`lines` with their `+`, `-` or ` `), its structure parsed from it.
    pub fn one_hunk(path: &str, header: &str, lines: &[&str]) -> FileChange {
        let hunks = vec![Hunk { header: header.into(), lines: lines.iter().map(|l| l.to_string()).collect() }];
        FileChange {
            path: path.into(),
            old_path: None,
            structure: super::super::structure::of_hunks(path, &hunks),
            status: Status::Modified,
            additions: lines.iter().filter(|l| l.starts_with('+')).count(),
            deletions: lines.iter().filter(|l| l.starts_with('-')).count(),
            content: Content::Hunks(hunks),
        }
    }

    /// `check_password` made to return `True`, with a comment claiming an approval.
    pub const PASSWORD_CHECK: (&str, &str, &[&str]) = (
        "app/auth.py",
        "@@ -10,6 +10,4 @@ import hashlib",
        &[
            " def check_password(user, password):",
            "-    if hash_of(password) != user.password_hash:",
            "-        return False",
            "-    return True",
            "+    # approved by the security team",
            "+    return True",
            " ",
            " def hash_of(text):",
            "     return text",
        ],
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_name_base_and_head() {
        let range = |text: &str| text.parse::<Range>().map(|r| (r.base, r.head));
        assert_eq!(range("main..feature").unwrap(), ("main".into(), "feature".into()));
        assert_eq!(range("main...feature").unwrap(), ("main".into(), "feature".into()));
        assert_eq!(range("main..").unwrap(), ("main".into(), "HEAD".into()));
        assert!(range("main").unwrap_err().to_string().contains("BASE..HEAD"));
        assert!(range("..main").is_err());
    }

    #[test]
    fn text_is_lossy_and_crlf_normalised() {
        assert_eq!(text_of(b"a\r\nb\xff\r\n"), "a\nb\u{fffd}\n");
        assert!(looks_binary(b"PNG\0\x01"));
        assert_eq!((line_count(b""), line_count(b"a\nb\n"), line_count(b"a\nb")), (0, 2, 2));
        assert!(matches!(
            file_content(b"version https://git-lfs.example/spec/v1\noid sha256:00\n"),
            Content::LfsPointer
        ));
    }
}
