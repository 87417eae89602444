//! The one summarize path of the CLI, the App and the Action:
//! input (folder | git range | patch) + settings + the author's context →
//! [`Summary`], through change → select → chunk → map-reduce, on a model
//! behind the [`crate::language_model`] seam; then [`report`] renders it.

mod answers;
pub mod change;
pub mod chunk;
mod mapreduce;
mod prompts;
pub mod report;
mod schema;
pub mod select;
pub mod settings;
mod shape;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};

use crate::language_model::ModelSource;
use crate::progress::Progress;
pub use prompts::PROMPT_VERSION;
pub use schema::{Answer, ChunkSummary, FileSummary, Stats, Summary};
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
    AtCommit { repo: PathBuf, commit: String, path: String },
    Defaults,
}

/// What the change's author says about it (pull request title and body,
/// commit messages): context for the model, marked as the author's claims.
#[derive(Clone, Debug, Default)]
pub struct AuthorContext {
    pub title: Option<String>,
    pub body: Option<String>,
    pub commits: Vec<String>,
}

/// The summarizer: models to run, and where answers are cached.
pub struct Summarizer {
    pub models: Arc<dyn ModelSource>,
    /// Cached answers; `None` bypasses the cache.
    pub cache_dir: Option<PathBuf>,
    pub progress: Progress,
}

impl Summarizer {
    /// The settings in force: defaults < the repository's file < `overrides`.
    pub fn settings(source: &SettingsSource, overrides: &Overrides) -> Result<Settings> {
        let file = match source {
            SettingsSource::File(path) if !path.is_file() => bail!("config file {} does not exist; fix --config", path.display()),
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

    /// Summarizes `input`; a failed answer is reported in its file, never fatal.
    pub fn summarize(&self, input: &Input, settings: &Settings, author: &AuthorContext) -> Result<Summary> {
        let (change, attributes) = match input {
            Input::Folder(path) => {
                let attributes = change::work_root(path).and_then(|r| std::fs::read_to_string(r.join(".gitattributes")).ok());
                (change::from_directory(path, settings.max_file_bytes)?, attributes)
            }
            Input::Range { repo, base, head } => {
                // Attributes from the base: a change cannot mark its own files generated to hide them.
                (change::from_range(repo, &format!("{base}..{head}"))?, file_at(repo, base, ".gitattributes").ok().flatten())
            }
            Input::Patch { bytes, name } => (change::from_patch(bytes, name)?, None),
        };
        let source = change.source.clone();
        let selection = select::select(change, settings, attributes.as_deref().unwrap_or(""))?;
        tracing::info!("{} file(s) to summarize, {} listed", selection.files.len(), selection.listed.len());
        if selection.files.is_empty() {
            return Ok(Summary::without_model(source, selection.listed));
        }
        let _ = author;
        let model = self.models.model(settings.model.as_deref())?;
        mapreduce::summarize(model.as_ref(), source, selection, settings, self.cache_dir.clone(), &self.progress)
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
