//! The whole summarization for a git range, as the App and the Action run
//! it: settings from the base commit (a pull request cannot change how it is
//! summarized), attributes from the head, then select → chunk → summarize.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::change;
use crate::fetch::file_at;
use crate::progress::Progress;
use crate::repo_config::{RepoConfig, CONFIG_PATH};
use crate::select;
use crate::summarize::{self, Llm, Summary};

pub struct Pipeline {
    pub llm: Llm,
    /// Cached answers; `None` bypasses the cache.
    pub cache_dir: Option<PathBuf>,
    /// Overrides the repository's `max_files` (an Action input).
    pub max_files: Option<usize>,
}

impl Pipeline {
    /// The repository's settings at `commit` (defaults when it has none).
    pub fn config_at(repo: &Path, commit: &str) -> Result<RepoConfig> {
        Self::config_file_at(repo, commit, CONFIG_PATH)
    }

    /// Settings from another file of the repository at `commit`.
    pub fn config_file_at(repo: &Path, commit: &str, path: &str) -> Result<RepoConfig> {
        match file_at(repo, commit, path)? {
            Some(text) => RepoConfig::parse(&text, &format!("{path} at {}", &commit[..commit.len().min(7)])),
            None => Ok(RepoConfig::default()),
        }
    }

    pub fn summarize_range(&self, repo: &Path, base: &str, head: &str, config: &RepoConfig) -> Result<Summary> {
        let change = change::from_range(repo, &format!("{base}..{head}"))?;
        let attributes = file_at(repo, head, ".gitattributes")?.unwrap_or_default();
        let config = RepoConfig { max_files: self.max_files.unwrap_or(config.max_files), ..config.clone() };
        let source = change.source.clone();
        let selection = select::select(change, &config, &attributes)?;
        if selection.files.is_empty() {
            return Ok(Summary::without_model(source, selection.listed));
        }
        let options = summarize::Options::from_config(&config, self.cache_dir.clone());
        summarize::summarize(&self.llm, source, selection, &options, &Progress::hidden())
    }
}
