//! The one summarize path of the CLI, the App and the Action:
//! input (folder | git range | patch) + settings + the author's context →
//! [`Summary`], through change → select → chunk → map-reduce, on a model
//! behind the [`crate::language_model`] seam; then [`report`] renders it.

mod answers;
mod author;
pub mod change;
pub mod chunk;
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
pub mod structure;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};

use crate::language_model::ModelSource;
use crate::progress::Progress;
pub use author::{commit_messages, AuthorContext};
pub use prompts::PROMPT_VERSION;
pub use schema::{Answer, ChunkSummary, DroppedAt, FileSummary, Origin, Stats, Summary};
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
        let (change, attributes) = match input {
            Input::Folder(path) => {
                let attributes =
                    change::work_root(path).and_then(|r| std::fs::read_to_string(r.join(".gitattributes")).ok());
                (change::from_directory(path, settings.max_file_bytes)?, attributes)
            }
            Input::Range { repo, base, head } => {
                let change = change::from_range(repo, &format!("{base}..{head}"), settings.max_file_bytes)?;
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
                (change::from_patch(bytes, name, settings.max_file_bytes)?, None)
            }
        };
        let source = change.source.clone();
        let codebase = matches!(source, change::Source::Directory { .. });
        let file_facts: HashMap<String, facts::FileFacts> =
            change.files.iter().map(|f| (f.path.clone(), facts::file_facts(f))).collect();
        let (change_facts, codebase_facts) = if codebase {
            (None, Some(facts::codebase_facts(&change.files)))
        } else {
            let ordered: Vec<&facts::FileFacts> = change.files.iter().map(|f| &file_facts[&f.path]).collect();
            (Some(facts::change_facts(&change.files, &ordered, author.headline())), None)
        };
        let haystack = grounding::Haystack::new(&change.files, [], &author.all_text());
        let selection = select::select(change, settings, attributes.as_deref().unwrap_or(""))?;
        tracing::info!("{} file(s) to summarize, {} listed", selection.files.len(), selection.listed.len());
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
