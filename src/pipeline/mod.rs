//! The one summarize path of the CLI, the App and the Action:
//! input (folder | git range | patch) + settings + the author's context →
//! [`Summary`], through change → select → chunk → map-reduce, on a model
//! behind the [`crate::language_model`] seam; then [`report`] renders it.

mod answers;
mod author;
pub mod change;
pub mod chunk;
pub mod claims;
pub mod evidence;
pub mod facts;
pub mod grounding;
mod mapreduce;
pub mod markdown;
mod prompts;
pub mod prose;
pub mod report;
mod schema;
pub mod select;
pub mod settings;
mod shape;
pub mod since;
pub mod structure;
pub mod walkthrough;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};

use crate::language_model::ModelSource;
use crate::progress::Progress;
pub use author::{commit_messages, AuthorContext};
pub use prompts::PROMPT_VERSION;
pub use schema::{Answer, ChunkSummary, DroppedAt, FileSummary, Origin, ShownSentence, Stats, Summary};
pub use settings::{Overrides, Settings, CONFIG_PATH};
pub use shape::symbols;

/// What to summarize.
#[derive(Clone, Debug)]
pub enum Input {
    /// A whole codebase: every file under a folder (honouring .gitignore).
    Folder(PathBuf),
    /// What `head` changed since it left `base` (against their merge base).
    Range { repo: PathBuf, base: String, head: String },
    /// A unified diff; `name` says where it came from.
    Patch { bytes: Vec<u8>, name: String },
}

/// Where the repository's settings come from.
#[derive(Clone, Debug)]
pub enum SettingsSource {
    /// A file the user named: it must exist.
    File(PathBuf),
    /// `.github/precis.yml` in the work tree that holds `path`, if any.
    WorkTree(PathBuf),
    /// A file of the repository at a commit (the App and the Action read the
    /// base commit, so a pull request cannot change how it is judged).
    AtCommit {
        repo: PathBuf,
        commit: String,
        path: String,
    },
    Defaults,
}

/// The summarizer: models to run, and where answers are cached.
pub struct Summarizer {
    pub models: Arc<dyn ModelSource>,
    /// Cached answers; `None` bypasses the cache.
    pub cache_dir: Option<PathBuf>,
    pub progress: Progress,
    /// Past this much time a job sends the model no more prompts (what was
    /// answered is published, the rest reported as not summarized).
    pub time_budget: Option<std::time::Duration>,
}

impl Summarizer {
    pub fn new(models: Arc<dyn ModelSource>, cache_dir: Option<PathBuf>, progress: Progress) -> Summarizer {
        Summarizer { models, cache_dir, progress, time_budget: None }
    }

    /// The settings in force: defaults < the repository's file < `overrides`.
    pub fn settings(source: &SettingsSource, overrides: &Overrides) -> Result<Settings> {
        let file = match source {
            SettingsSource::File(path) if !path.is_file() => {
                bail!("config file {} does not exist; fix --config", path.display())
            }
            SettingsSource::File(path) => Settings::load(path)?,
            SettingsSource::WorkTree(path) => match change::work_root(path) {
                Some(root) => Settings::load(&root.join(CONFIG_PATH))?,
                None => Settings::default(),
            },
            SettingsSource::AtCommit { repo, commit, path } => match file_at(repo, commit, path)? {
                Some(text) => {
                    let settings = Settings::parse(&text, &format!("{path} at {}", &commit[..commit.len().min(7)]))?;
                    // A repository names registry models, not folders of the machine that runs precis.
                    settings.require_registry_model()?;
                    settings
                }
                None => Settings::default(),
            },
            SettingsSource::Defaults => Settings::default(),
        };
        file.resolve(overrides)
    }

    /// Summarizes `input`; a failed answer is reported, never fatal.
    /// `author` is what the front end knows (a pull request's title and
    /// body); commit messages of a range and a patch's mail header are added here.
    pub fn summarize(&self, input: &Input, settings: &Settings, author: &AuthorContext) -> Result<Summary> {
        let mut author = author.clone();
        // What the settings leave out is never read.
        let scope = select::Scope::new(settings)?;
        let skip = |path: &str| scope.leaves_out(path).is_some();
        let (change, attributes) = match input {
            Input::Folder(path) => {
                let attributes =
                    change::work_root(path).and_then(|r| std::fs::read_to_string(r.join(".gitattributes")).ok());
                (change::from_directory(path, settings.max_file_bytes, &skip)?, attributes)
            }
            Input::Range { repo, base, head } => {
                let change = change::from_range(repo, base, head, settings.max_file_bytes, &skip)?;
                if author.commits.is_empty() {
                    if let change::Source::Range { merge_base, head, .. } = &change.source {
                        author.commits = commit_messages(repo, merge_base, head).unwrap_or_default();
                    }
                }
                // Attributes from the base: a change cannot mark its own files generated to hide them.
                (change, file_at(repo, base, ".gitattributes").ok().flatten())
            }
            Input::Patch { bytes, name } => {
                if author.is_empty() {
                    author = AuthorContext::from_mail(bytes).unwrap_or_default();
                }
                (change::from_patch(bytes, name, settings.max_file_bytes, &skip)?, None)
            }
        };
        let source = change.source.clone();
        let codebase = matches!(source, change::Source::Directory { .. });
        // What the listing knows of every file (no text): for the facts' counts and roles.
        let listing: Vec<change::FileChange> = change.files.clone();
        let selection = select::select(change, settings, attributes.as_deref().unwrap_or(""))?;
        tracing::info!("{} file(s) to summarize, {} listed", selection.files.len(), selection.listed.len());
        let (mut dependencies, unparsed) = if codebase {
            (HashMap::new(), Vec::new())
        } else {
            manifest_changes(input, &source, &listing, &selection, settings.max_file_bytes)
        };
        let mut facts_of = |file: &change::FileChange, read: bool| {
            let mut facts = if read { facts::file_facts(file) } else { facts::path_facts(&file.path) };
            facts.dependencies.extend(dependencies.remove(&file.path).unwrap_or_default());
            facts
        };
        let file_facts: HashMap<String, facts::FileFacts> =
            selection.files.iter().map(|f| (f.path.clone(), facts_of(f, true))).collect();
        let (change_facts, codebase_facts) = if codebase {
            (None, Some(facts::codebase_facts(&selection.files)))
        } else {
            // A file not read has the facts its path gives (and its manifest's).
            let unread: Vec<facts::FileFacts> = listing.iter().map(|f| facts_of(f, false)).collect();
            let ordered: Vec<&facts::FileFacts> =
                listing.iter().zip(&unread).map(|(f, unread)| file_facts.get(&f.path).unwrap_or(unread)).collect();
            // The label reads what the change does: the files read, with their text (within the
            // job's text budget), and the rest as listed.
            let read: HashMap<&str, &change::FileChange> =
                selection.files.iter().map(|f| (f.path.as_str(), f)).collect();
            let known: Vec<change::FileChange> =
                listing.iter().map(|f| read.get(f.path.as_str()).map_or_else(|| f.clone(), |r| (*r).clone())).collect();
            let mut facts = facts::change_facts(&known, &ordered, author.headline());
            facts.unparsed_manifests = unparsed;
            // Words addressed to the summarizer are shown to reviewers, never followed.
            facts.appeals = claims::appeals(&selection.files, &author);
            facts.behaviour = selection.files.iter().flat_map(walkthrough::behaviour).collect();
            let by_path: HashMap<&str, &change::FileChange> = listing.iter().map(|f| (f.path.as_str(), f)).collect();
            facts.self_marked = selection
                .listed
                .iter()
                .filter_map(|l| {
                    let file = by_path.get(l.path.as_str())?;
                    select::marked_by_itself(&l.reason, file).then(|| facts::SelfMarked {
                        path: l.path.clone(),
                        reason: l.reason.clone(),
                        additions: file.additions,
                    })
                })
                .collect();
            (Some(facts), None)
        };
        let paths = listing.iter().flat_map(|f| std::iter::once(f.path.as_str()).chain(f.old_path.as_deref()));
        let haystack = grounding::Haystack::new(&selection.files, paths, &author.all_text());
        drop(listing);
        if selection.files.is_empty() {
            return Ok(Summary::without_model(source, selection.listed, author, change_facts));
        }
        let model = self.models.model(settings.model.as_deref())?;
        let known =
            mapreduce::Known { source, author, facts: change_facts, codebase: codebase_facts, file_facts, haystack };
        let deadline = self.time_budget.map(|budget| std::time::Instant::now() + budget);
        mapreduce::summarize(
            model.as_ref(),
            selection,
            known,
            settings,
            self.cache_dir.clone(),
            deadline,
            &self.progress,
        )
    }
}

/// The most manifests whose dependencies one change compares.
const MAX_MANIFESTS: usize = 50;

/// Dependency changes, by manifest path: each manifest of a range is read
/// whole at the merge base and at the head and parsed; a patch's manifest
/// only when the patch adds it (otherwise it shows only part of the file).
/// Manifests the settings leave out, or in vendored folders, are not read.
fn manifest_changes(
    input: &Input,
    source: &change::Source,
    listing: &[change::FileChange],
    selection: &select::Selection,
    max_file_bytes: u64,
) -> (HashMap<String, Vec<facts::Dependency>>, Vec<facts::Unparsed>) {
    use select::Reason;
    let left_out = |path: &str| {
        selection
            .listed
            .iter()
            .any(|l| l.path == path && matches!(l.reason, Reason::NotIncluded | Reason::Excluded | Reason::Vendored(_)))
    };
    let manifests: Vec<(&change::FileChange, facts::Manifest)> = listing
        .iter()
        .filter(|f| !left_out(&f.path))
        .filter_map(|f| facts::Manifest::of(&f.path).map(|m| (f, m)))
        .collect();
    let mut changes = HashMap::new();
    let mut unparsed = Vec::new();
    let git = match (input, source) {
        (Input::Range { repo, .. }, change::Source::Range { merge_base, head, .. }) => {
            let trees = git2::Repository::open(repo).and_then(|git| {
                let tree = |id: &str| git.find_commit(git2::Oid::from_str(id)?)?.tree().map(|t| t.id());
                Ok((tree(merge_base)?, tree(head)?, git))
            });
            match trees {
                Ok(trees) => Some(trees),
                Err(e) => {
                    tracing::warn!("manifests not compared: {}", e.message());
                    None
                }
            }
        }
        _ => None,
    };
    for (index, (file, manifest)) in manifests.into_iter().enumerate() {
        let not_compared = |why: String| facts::Unparsed { file: file.path.clone(), why };
        if index == MAX_MANIFESTS {
            unparsed.push(not_compared(format!("over the {MAX_MANIFESTS} manifests compared per change")));
            continue;
        }
        let texts = match &git {
            Some((base, head, git)) => {
                let at = |tree: git2::Oid, path: &str| blob_text(git, tree, path, max_file_bytes);
                let base = match file.status {
                    change::Status::Added => Ok(None),
                    _ => at(*base, file.old_path.as_deref().unwrap_or(&file.path)),
                };
                let head = match file.status {
                    change::Status::Deleted => Ok(None),
                    _ => at(*head, &file.path),
                };
                base.and_then(|base| Ok((base, head?)))
            }
            None => match selection.files.iter().find(|f| f.path == file.path).map(|f| &f.content) {
                Some(change::Content::Hunks(hunks)) if file.status == change::Status::Added => {
                    let added: Vec<&str> =
                        hunks.iter().flat_map(|h| &h.lines).filter_map(|l| l.strip_prefix('+')).collect();
                    Ok((None, Some(added.join("\n"))))
                }
                _ => Err("a patch shows only the changed lines".to_string()),
            },
        };
        let parse = |text: Option<String>, side: &str| match text {
            None => Ok(facts::Declared::new()),
            Some(text) => facts::declared(manifest, &text).map_err(|e| format!("at the {side}: {e}")),
        };
        let found = texts.and_then(|(base, head)| Ok((parse(base, "base")?, parse(head, "head")?)));
        match found {
            Ok((base, head)) => {
                let found = facts::dependency_changes(&file.path, &base, &head);
                if !found.is_empty() {
                    changes.insert(file.path.clone(), found);
                }
            }
            Err(why) => unparsed.push(not_compared(why)),
        }
    }
    (changes, unparsed)
}

/// A file's text in a tree, if it is there and not over `max_bytes`.
fn blob_text(git: &git2::Repository, tree: git2::Oid, path: &str, max_bytes: u64) -> Result<Option<String>, String> {
    let read = || -> Result<Option<String>, git2::Error> {
        let Ok(entry) = git.find_tree(tree)?.get_path(Path::new(path)) else { return Ok(None) };
        let (size, _) = git.odb()?.read_header(entry.id())?;
        if size as u64 > max_bytes {
            return Err(git2::Error::from_str(&format!("{:.1} MB, over max_file_bytes", size as f64 / 1e6)));
        }
        let blob = git.find_blob(entry.id())?;
        Ok(Some(String::from_utf8_lossy(blob.content()).into_owned()))
    };
    read().map_err(|e| e.message().to_string())
}

/// A file's text at a commit, if it exists there.
pub fn file_at(repo: &Path, commit: &str, path: &str) -> Result<Option<String>> {
    let git = git2::Repository::open(repo).with_context(|| format!("{} is not a git repository", repo.display()))?;
    let commit = git
        .revparse_single(commit)
        .and_then(|o| o.peel_to_commit())
        .with_context(|| format!("commit {commit} is not in {}; fetch it first", repo.display()))?;
    let Ok(entry) = commit.tree()?.get_path(Path::new(path)) else { return Ok(None) };
    let blob = entry.to_object(&git)?.peel_to_blob()?;
    Ok(Some(String::from_utf8_lossy(blob.content()).into_owned()))
}
