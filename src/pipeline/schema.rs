//! What a summary is: the typed result every front end renders, and the
//! shape of `--format json` (field names are part of the interface).

use std::time::Duration;

use serde::Serialize;

use super::change::{Source, Status};
use super::chunk::Chunk;
use super::select::Listed;

/// One answer of the model, or why there is none.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Answer {
    #[serde(rename = "summary")]
    pub text: String,
    pub tokens_in: usize,
    pub tokens_out: usize,
    pub cached: bool,
    pub attempts: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
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
    pub summary: String,
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
    pub success_rate: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub model: String,
    pub source: Source,
    pub title: String,
    /// The overall summary (what changed, why, risks), Markdown.
    pub overview: String,
    /// Lines of the model's overview dropped for naming files not in the change.
    pub dropped_lines: Vec<String>,
    pub files: Vec<FileSummary>,
    pub listed: Vec<Listed>,
    pub stats: Stats,
}

impl Summary {
    /// Nothing to read (an empty change, or only binaries, deletions and the
    /// like): the listing, without loading a model.
    pub fn without_model(source: Source, listed: Vec<Listed>) -> Summary {
        Summary {
            model: "none".into(),
            source,
            title: empty_title(&listed),
            overview: String::new(),
            dropped_lines: Vec::new(),
            files: Vec::new(),
            listed,
            stats: Stats { success_rate: 1.0, ..Stats::default() },
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

