//! What a summary is: the typed result every front end renders, and the
//! shape of `--format json` (field names are part of the interface).

use std::time::Duration;

use serde::Serialize;

use super::author::AuthorContext;
use super::change::{Source, Status};
use super::chunk::Chunk;
use super::facts::{ChangeFacts, CodebaseFacts, FileFacts};
use super::grounding::Dropped;
use super::select::Listed;
use super::since::Since;
use super::structure::FileStructure;

/// One answer of the model, or why there is none.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Answer {
    #[serde(rename = "summary")]
    pub text: String,
    pub tokens_in: usize,
    pub tokens_out: usize,
    pub cached: bool,
    pub attempts: usize,
    /// The answer hit its token cap (its last sentence may be unfinished).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub capped: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Prompt tokens the model ran for this answer (see [`Stats::tokens_prefilled`]).
    #[serde(skip)]
    pub(crate) tokens_prefilled: usize,
    #[serde(skip)]
    pub(crate) busy: Duration,
    #[serde(skip)]
    pub(crate) prefill: Duration,
}

impl Answer {
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ChunkSummary {
    #[serde(flatten)]
    pub chunk: Chunk,
    #[serde(flatten)]
    pub answer: Answer,
}

#[derive(Clone, Debug, Serialize)]
pub struct FileSummary {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_path: Option<String>,
    pub status: Status,
    pub additions: usize,
    pub deletions: usize,
    pub language: &'static str,
    /// Functions, types and other items the change defines or touches.
    pub symbols: Vec<String>,
    /// What the row says: the computed walkthrough, then the model's sentence.
    pub summary: String,
    /// The change said from its parsed structure (computed, not the model's):
    /// "Adds the function `x`; `run` now calls it."
    pub walkthrough: String,
    /// The model's sentence (a second where it names what the diff changed),
    /// its names and claims checked against the change; empty when none passed.
    pub model_summary: String,
    /// `model` when the row holds a model sentence, else `computed`.
    pub summary_from: Origin,
    /// Computed from the change, not the model.
    pub facts: FileFacts,
    /// The items the change adds, removes and changes, parsed (not the model's).
    pub structure: FileStructure,
    /// Lines past the per-file chunk limit, not summarized.
    pub omitted_lines: usize,
    pub chunks: Vec<ChunkSummary>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Stats {
    pub files: usize,
    pub chunks: usize,
    pub chunks_ok: usize,
    pub chunks_cached: usize,
    pub lines: usize,
    pub prompts: usize,
    pub tokens_in: usize,
    /// Of `tokens_in`, those the model ran: a prompt's candidates share one
    /// prefill, and a prompt starting like one read before reads only the rest.
    pub tokens_prefilled: usize,
    pub tokens_out: usize,
    pub wall_s: f64,
    pub chunks_per_min: f64,
    pub prefill_tokens_per_s: f64,
    pub decode_tokens_per_s: f64,
    /// Share of the batch's rows kept busy while the model ran: 1.0 when every
    /// one of `parallel` rows worked all the time.
    pub parallel_efficiency: f64,
    pub parallel: usize,
    pub peak_rss_mb: f64,
    /// Final answers at every level (chunks, files, overview) and those that failed.
    pub answers: usize,
    pub answers_failed: usize,
    pub success_rate: f64,
    /// Code-like names the model wrote, those that occur in the change, and their ratio.
    pub names_written: usize,
    pub names_kept: usize,
    pub grounding: f64,
    pub sentences_dropped: usize,
    /// Answers asked for per chunk and file prompt (`quality`: 1 is fast), of which the best-grounded was kept.
    pub candidates: usize,
    /// File sentences the model was asked about, with their diff (see `dropped`, reason `doubted`).
    pub sentences_checked: usize,
}

/// Where a title or a summary came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// The pull request's own title, a patch's subject or a lone commit's.
    Author,
    Model,
    /// Made from the facts (the model's answer failed, or the gate left nothing of it).
    Computed,
}

/// One sentence a reader sees, where, and who wrote it.
#[derive(Clone, Debug, Serialize)]
pub struct ShownSentence {
    /// `title`, `overview`, or the file's path.
    #[serde(rename = "where")]
    pub place: String,
    pub text: String,
    pub origin: Origin,
    /// A model sentence on a file: the model's own probability, asked with
    /// the diff, that the diff supports it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub support: Option<f32>,
}

/// A sentence the gate kept from reviewers (or an overview sentence that
/// repeated a file's, or a title answer that was no title), and where it was.
#[derive(Clone, Debug, Serialize)]
pub struct DroppedAt {
    /// The file whose summary it was in; `None` for the title and overview.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(flatten)]
    pub dropped: Dropped,
    /// The model's own probability that the diff supports it, where it was asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub support: Option<f32>,
}

impl DroppedAt {
    pub fn new(file: Option<String>, dropped: Dropped) -> DroppedAt {
        DroppedAt { file, dropped, support: None }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub model: String,
    pub source: Source,
    pub title: String,
    pub title_from: Origin,
    /// The computed lead, then at most three sentences on the whole from the
    /// model, names and claims checked.
    pub overview: String,
    /// The author's words the summary was given (claims, not facts).
    pub author: AuthorContext,
    /// What a change is and does, computed (`None` for a codebase).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub facts: Option<ChangeFacts>,
    /// Languages, entry points and public items (a codebase only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codebase: Option<CodebaseFacts>,
    /// Every sentence shown (title, overview, file rows), and who wrote it.
    pub claims: Vec<ShownSentence>,
    /// What the commits since the last summary of the pull request changed (computed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<Since>,
    /// Sentences of the model left out, with the reason.
    pub dropped: Vec<DroppedAt>,
    pub files: Vec<FileSummary>,
    pub listed: Vec<Listed>,
    pub stats: Stats,
}

impl Summary {
    /// Nothing to read (an empty change, or only binaries, deletions and the
    /// like): the listing, without loading a model.
    pub fn without_model(
        source: Source,
        listed: Vec<Listed>,
        author: AuthorContext,
        facts: Option<ChangeFacts>,
    ) -> Summary {
        let (title, title_from) = match author.headline() {
            Some(title) => (title.to_string(), Origin::Author),
            None => (empty_title(&listed), Origin::Computed),
        };
        Summary {
            model: "none".into(),
            source,
            title,
            title_from,
            overview: String::new(),
            author,
            facts,
            codebase: None,
            claims: Vec::new(),
            since: None,
            dropped: Vec::new(),
            files: Vec::new(),
            listed,
            stats: Stats { success_rate: 1.0, grounding: 1.0, ..Stats::default() },
        }
    }
}

pub(crate) fn empty_title(listed: &[Listed]) -> String {
    if listed.is_empty() {
        "No changes".into()
    } else {
        format!("{} file(s) changed, none with text to summarize", listed.len())
    }
}
