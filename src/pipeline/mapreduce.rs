//! Map-reduce over a selection: every chunk is summarized, then every file
//! from its chunks' summaries, then the whole change from its files'.
//! Prompts at every level fit the model's context; answers are greedy, so
//! the same input gives the same summary.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};

use super::answers::{Answerer, Ask, Reduction};
use super::change::Source;
use super::chunk::{self, Limits};
use super::prompts::{self, Kind, CHUNK_ANSWER};
use super::schema::{empty_title, Answer, ChunkSummary, FileSummary, Stats, Summary};
use super::select::Selection;
use super::settings::Settings;
use super::shape::{fallback_title, known_paths, shape_overview, symbols};
use crate::language_model::LanguageModel;
use crate::progress::Progress;

/// Summarizes a selection; a failed chunk is reported in its file, never fatal.
pub fn summarize(
    model: &dyn LanguageModel,
    source: Source,
    selection: Selection,
    settings: &Settings,
    cache_dir: Option<PathBuf>,
    progress: &Progress,
) -> Result<Summary> {
    let start = Instant::now();
    let Selection { files, listed } = selection;
    let mut run = Answerer::new(model, prompts::system_prompt(&settings.language), cache_dir, progress.bar(0, "summarizing"));
    let budget = run.prompt_budget(CHUNK_ANSWER);
    // Room for the code once the instructions and the template are counted.
    let overhead = run.prompt_tokens(&"x".repeat(400))?;
    let limits = Limits {
        max_lines: settings.max_lines_per_chunk,
        max_tokens: budget.saturating_sub(overhead).max(32),
        max_chunks: settings.max_chunks_per_file,
    };

    // Map: every chunk of every file.
    let mut chunked = Vec::with_capacity(files.len());
    let mut asks = Vec::new();
    for file in &files {
        let pieces = chunk::chunk_file(file, &limits, &model).with_context(|| format!("cannot chunk {}", file.path))?;
        for chunk in &pieces.chunks {
            asks.push(Ask { user: prompts::chunk_prompt(file, chunk, pieces.chunks.len()), answer_tokens: CHUNK_ANSWER });
        }
        chunked.push(pieces);
    }
    run.bar.set_length(asks.len() as u64);
    let mut chunk_answers = run.answer_all(&asks).into_iter();

    // Reduce: files with several chunks, from their chunks' summaries.
    let mut summaries: Vec<FileSummary> = Vec::with_capacity(files.len());
    let mut reductions = Vec::new();
    let mut reduced_files = Vec::new();
    for (file, pieces) in files.iter().zip(chunked) {
        let chunks: Vec<ChunkSummary> = pieces
            .chunks
            .into_iter()
            .map(|chunk| ChunkSummary { chunk, answer: chunk_answers.next().expect("an answer per chunk") })
            .collect();
        let ok: Vec<&ChunkSummary> = chunks.iter().filter(|c| c.answer.ok()).collect();
        let summary = match ok.as_slice() {
            [] if chunks.is_empty() => "No text to summarize.".to_string(),
            [] => "Not summarized: the model failed on every part.".to_string(),
            [only] if chunks.len() == 1 => only.answer.text.clone(),
            _ => {
                let items = ok.iter().map(|c| format!("- lines {}-{}: {}", c.chunk.first_line, c.chunk.last_line, c.answer.text)).collect();
                reductions.push(Reduction::new(prompts::file_reduce(file), items));
                reduced_files.push(summaries.len());
                String::new()
            }
        };
        summaries.push(FileSummary {
            path: file.path.clone(),
            old_path: file.old_path.clone(),
            status: file.status,
            additions: file.additions,
            deletions: file.deletions,
            language: chunk::language(&file.path),
            symbols: symbols(file),
            summary,
            omitted_lines: pieces.omitted_lines,
            chunks,
        });
    }
    run.reduce(&mut reductions)?;
    for (index, reduction) in reduced_files.into_iter().zip(reductions) {
        let answer = reduction.result.ok_or_else(|| anyhow!("a file reduction ended without an answer"))?;
        summaries[index].summary = if answer.ok() { answer.text } else { "Not summarized: the model failed.".into() };
    }

    // Reduce: the whole change, from the files' summaries.
    let kind = match &source {
        Source::Directory { .. } => Kind::Codebase,
        _ => Kind::Change,
    };
    let mut overall = vec![Reduction::new(prompts::overall_reduce(kind), prompts::overall_items(kind, &summaries, &listed))];
    let (title, overview, dropped_lines) = if summaries.is_empty() {
        (empty_title(&listed), String::new(), Vec::new())
    } else {
        run.reduce(&mut overall)?;
        let answer = overall.pop().and_then(|r| r.result).context("the overall summary ended without an answer")?;
        if answer.ok() {
            let known = known_paths(&summaries, &listed);
            let (title, overview, dropped) = shape_overview(&answer.text, &known);
            (title.unwrap_or_else(|| fallback_title(kind, &summaries)), overview, dropped)
        } else {
            (fallback_title(kind, &summaries), format!("The overall summary failed: {}.", answer.error.unwrap_or_default()), Vec::new())
        }
    };
    run.bar.finish_and_clear();

    let stats = stats(&run, &summaries, start.elapsed());
    Ok(Summary { model: model.id().to_string(), source, title, overview, dropped_lines, files: summaries, listed, stats })
}

fn stats(run: &Answerer<'_>, files: &[FileSummary], wall: Duration) -> Stats {
    let chunks: Vec<&ChunkSummary> = files.iter().flat_map(|f| &f.chunks).collect();
    let generated: Vec<&Answer> = run.answers.iter().filter(|a| a.ok()).collect();
    let tokens_in: usize = generated.iter().map(|a| a.tokens_in).sum();
    let tokens_out: usize = generated.iter().map(|a| a.tokens_out).sum();
    let prefill: f64 = run.answers.iter().map(|a| a.prefill.as_secs_f64()).sum();
    let busy: f64 = run.answers.iter().map(|a| a.busy.as_secs_f64()).sum();
    let engine = run.engine_wall.as_secs_f64();
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    let chunks_ok = chunks.iter().filter(|c| c.answer.ok()).count();
    Stats {
        files: files.len(),
        chunks: chunks.len(),
        chunks_ok,
        chunks_cached: chunks.iter().filter(|c| c.answer.cached).count(),
        lines: chunks.iter().map(|c| c.chunk.last_line + 1 - c.chunk.first_line).sum(),
        prompts: run.answers.len(),
        tokens_in,
        tokens_out,
        wall_s: wall.as_secs_f64(),
        chunks_per_min: ratio(chunks.len() as f64 * 60.0, wall.as_secs_f64()),
        prefill_tokens_per_s: ratio(tokens_in as f64, prefill),
        // Prefills run one at a time and stall decoding meanwhile.
        decode_tokens_per_s: ratio(tokens_out as f64, engine - prefill),
        parallel_efficiency: ratio(busy, engine * run.model.parallel() as f64),
        parallel: run.model.parallel(),
        peak_rss_mb: crate::llm::bench::peak_rss_mb(),
        success_rate: if chunks.is_empty() { 1.0 } else { chunks_ok as f64 / chunks.len() as f64 },
    }
}

