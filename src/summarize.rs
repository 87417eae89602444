//! Map-reduce over a selection: every chunk is summarized, then every file
//! from its chunks' summaries, then the whole change from its files'.
//! Prompts at every level fit the model's context (long lists are reduced in
//! rounds); answers are greedy, so the same input gives the same summary, and
//! cached on disk by the hash of everything that determines them.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::change::{Content, FileChange, Source, Status};
use crate::chunk::{self, Chunk, Limits, TokenCount};
use crate::llm::{GenerateParams, Message, Model, SamplingParams, Scheduler, TextCodec};
use crate::progress::Progress;
use crate::select::{Listed, Selection};

/// Bump when a prompt or answer format changes: cached answers of the old
/// prompts are then not reused.
pub const PROMPT_VERSION: u32 = 2;

/// Answer budgets, in tokens, per level.
const CHUNK_ANSWER: usize = 128;
const FILE_ANSWER: usize = 160;
const OVERALL_ANSWER: usize = 320;
/// Room kept free beside prompt and answer (template tokens, rounding).
const MARGIN: usize = 64;
/// Prompts are kept under this many tokens even with a larger context: long
/// prompts cost more than they add on a CPU.
const MAX_PROMPT_TOKENS: usize = 6144;

/// A model serving many prompts at once.
pub struct Llm {
    scheduler: Scheduler,
    codec: TextCodec,
    /// What identifies the model's answers in the cache.
    pub model_id: String,
    pub context_length: usize,
    pub parallel: usize,
}

impl Llm {
    pub fn new(model: Model, model_id: String, parallel: usize) -> Llm {
        let codec = model.codec.clone();
        let context_length = model.config.context_length;
        Llm { scheduler: Scheduler::start(model, parallel), codec, model_id, context_length, parallel }
    }

    /// The most prompt tokens that leave room for an answer of `answer` tokens.
    fn prompt_budget(&self, answer: usize) -> usize {
        self.context_length.saturating_sub(answer + MARGIN).min(MAX_PROMPT_TOKENS)
    }
}

impl TokenCount for Llm {
    fn count(&self, text: &str) -> Result<usize> {
        self.codec.count(text)
    }
}

pub struct Options {
    pub max_lines_per_chunk: usize,
    pub max_chunks_per_file: usize,
    pub language: String,
    /// Answers are cached here; `None` bypasses the cache.
    pub cache_dir: Option<PathBuf>,
}

impl Options {
    /// The summarizing settings of a repository's configuration.
    pub fn from_config(config: &crate::repo_config::RepoConfig, cache_dir: Option<PathBuf>) -> Options {
        Options {
            max_lines_per_chunk: config.max_lines_per_chunk,
            max_chunks_per_file: config.max_chunks_per_file,
            language: config.language.clone(),
            cache_dir,
        }
    }
}

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
    busy: Duration,
    #[serde(skip)]
    prefill: Duration,
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

/// The system prompt of every request.
fn system_prompt(language: &str) -> String {
    format!(
        "You are precis, a code review assistant. You summarize code for reviewers: precise, factual and brief. \
         Write in {language}. Mention only files, functions and behaviour that the input shows."
    )
}

fn chunk_prompt(file: &FileChange, chunk: &Chunk, parts: usize) -> String {
    let language = chunk::language(&file.path);
    let fence = fence_for(&chunk.text);
    match &file.content {
        Content::Hunks(_) => {
            let what = match (file.status, &file.old_path) {
                (Status::Renamed, Some(old)) => format!("the change to `{}` (renamed from `{old}`)", file.path),
                (Status::Added, _) => format!("the new file `{}`", file.path),
                _ => format!("the change to `{}`", file.path),
            };
            let part = if parts > 1 { " (one part of it)" } else { "" };
            format!(
                "Summarize {what}{part}, a {language} file. Say what the diff changes and name the functions, types \
                 and behaviour it adds, removes or alters. Use your own words; do not copy the diff. At most 3 short sentences, no preamble.\n\n{fence}diff\n{}\n{fence}",
                chunk.text
            )
        }
        _ => format!(
            "Summarize what this code from `{}` (lines {}-{}, {language}) does. Name its main functions and types. \
             At most 3 short sentences, no preamble.\n\n{fence}{}\n{}\n{fence}",
            file.path,
            chunk.first_line,
            chunk.last_line,
            fence_language(language),
            chunk.text
        ),
    }
}

/// A code fence longer than any run of backticks in the text.
fn fence_for(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

fn fence_language(language: &str) -> String {
    if language == "text" {
        String::new()
    } else {
        language.to_lowercase().replace(' ', "").replace("c++", "cpp").replace("c#", "csharp")
    }
}

/// A reduction in progress: items (summaries of parts) still to be combined
/// into one answer.
struct Reduction {
    /// What the final prompt asks, given the items' text.
    ask: Box<dyn Fn(&str) -> String>,
    /// What an intermediate prompt asks, for a group of items.
    ask_group: Box<dyn Fn(&str) -> String>,
    items: Vec<String>,
    answer_tokens: usize,
    result: Option<Answer>,
}

struct Run<'a> {
    llm: &'a Llm,
    options: &'a Options,
    system: String,
    bar: indicatif::ProgressBar,
    /// Wall time with the model at work, and the answers that used it.
    engine_wall: Duration,
    answers: Vec<Answer>,
}

/// A prompt ready to go: rendered text and its cache key.
struct Ask {
    prompt: String,
    answer_tokens: usize,
}

impl Run<'_> {
    fn render(&self, user: &str) -> Result<String> {
        self.llm.codec.render_chat(&[Message::new("system", &self.system), Message::new("user", user)])
    }

    fn cache_path(&self, ask: &Ask) -> Option<PathBuf> {
        let dir = self.options.cache_dir.as_ref()?;
        let mut hash = Sha256::new();
        for part in [self.llm.model_id.as_str(), &PROMPT_VERSION.to_string(), &ask.answer_tokens.to_string(), &ask.prompt] {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        let key = hex::encode(hash.finalize());
        Some(dir.join(&key[..2]).join(format!("{key}.json")))
    }

    /// Answers every prompt, the uncached ones concurrently; a failed or empty
    /// answer is tried once more (sampling a little), then reported.
    fn answer_all(&mut self, asks: &[Ask]) -> Vec<Answer> {
        let mut answers: Vec<Option<Answer>> = asks.iter().map(|ask| self.cached(ask)).collect();
        self.bar.inc(answers.iter().flatten().count() as u64);
        const ATTEMPTS: usize = 2;
        for attempt in 1..=ATTEMPTS {
            let todo: Vec<usize> = (0..asks.len()).filter(|&i| answers[i].as_ref().is_none_or(|a| !a.ok())).collect();
            if todo.is_empty() {
                break;
            }
            let start = Instant::now();
            let pending: Vec<_> = todo.iter().map(|&i| (i, self.submit(&asks[i], attempt))).collect();
            for (i, submitted) in pending {
                let answer = match submitted.and_then(|(tokens_in, pending)| Ok((tokens_in, pending.wait()?))) {
                    Ok((tokens_in, generation)) => {
                        let text = clean(&generation.text);
                        Answer {
                            error: answer_problem(&text, &asks[i].prompt),
                            text,
                            tokens_in,
                            tokens_out: generation.tokens.len(),
                            cached: false,
                            attempts: attempt,
                            busy: generation.prefill_time + generation.decode_time,
                            prefill: generation.prefill_time,
                        }
                    }
                    Err(err) => Answer { error: Some(format!("{err:#}")), attempts: attempt, ..Default::default() },
                };
                if answer.ok() || attempt == ATTEMPTS {
                    self.bar.inc(1);
                }
                if answer.ok() {
                    self.store(&asks[i], &answer);
                } else {
                    tracing::warn!("attempt {attempt} failed: {}", answer.error.as_deref().unwrap_or(""));
                }
                self.answers.push(answer.clone());
                answers[i] = Some(answer);
            }
            self.engine_wall += start.elapsed();
        }
        answers.into_iter().map(|a| a.expect("every prompt answered")).collect()
    }

    fn submit(&self, ask: &Ask, attempt: usize) -> Result<(usize, crate::llm::Pending)> {
        let ids = self.llm.codec.encode(&ask.prompt)?;
        let sampling = if attempt == 1 {
            SamplingParams::default()
        } else {
            // Greedy decoding would fail the same way again.
            SamplingParams { temperature: 0.3, seed: attempt as u64, ..SamplingParams::default() }
        };
        let tokens_in = ids.len();
        let params = GenerateParams { sampling, ..GenerateParams::greedy(ask.answer_tokens) };
        Ok((tokens_in, self.llm.scheduler.submit(ids, params)))
    }

    fn cached(&self, ask: &Ask) -> Option<Answer> {
        let path = self.cache_path(ask)?;
        let text = std::fs::read_to_string(path).ok()?;
        let stored: Stored = serde_json::from_str(&text).ok()?;
        Some(Answer { text: stored.text, tokens_in: stored.tokens_in, tokens_out: stored.tokens_out, cached: true, attempts: 0, ..Default::default() })
    }

    /// Best effort: a cache that cannot be written costs only a rerun's time.
    fn store(&self, ask: &Ask, answer: &Answer) {
        let Some(path) = self.cache_path(ask) else { return };
        let stored = Stored { text: answer.text.clone(), tokens_in: answer.tokens_in, tokens_out: answer.tokens_out };
        let write = || -> Result<()> {
            let dir = path.parent().context("cache path has a folder")?;
            std::fs::create_dir_all(dir)?;
            let mut file = tempfile::NamedTempFile::new_in(dir)?;
            serde_json::to_writer(&mut file, &stored)?;
            file.persist(&path)?;
            Ok(())
        };
        if let Err(err) = write() {
            tracing::warn!("cannot cache a summary in {}: {err:#}", path.display());
        }
    }

    /// Runs reductions in rounds until each has one answer: items that fit
    /// one prompt are combined at once, longer lists in groups first.
    fn reduce(&mut self, reductions: &mut [Reduction]) -> Result<()> {
        loop {
            let mut asks = Vec::new();
            // (reduction, final?, number of groups) per reduction still open.
            let mut plan = Vec::new();
            for (index, reduction) in reductions.iter().enumerate().filter(|(_, r)| r.result.is_none()) {
                let budget = self.llm.prompt_budget(reduction.answer_tokens);
                let whole = self.render(&(reduction.ask)(&reduction.items.join("\n")))?;
                if self.llm.count(&whole)? <= budget || reduction.items.len() == 1 {
                    asks.push(Ask { prompt: whole, answer_tokens: reduction.answer_tokens });
                    plan.push((index, true, 1));
                    continue;
                }
                let groups = self.group(&reduction.items, &reduction.ask_group, budget)?;
                let count = groups.len();
                for group in groups {
                    asks.push(Ask { prompt: self.render(&(reduction.ask_group)(&group))?, answer_tokens: reduction.answer_tokens });
                }
                plan.push((index, false, count));
            }
            if asks.is_empty() {
                return Ok(());
            }
            self.bar.inc_length(asks.len() as u64);
            let mut answers = self.answer_all(&asks).into_iter();
            for (index, last, count) in plan {
                let reduction = &mut reductions[index];
                let group_answers: Vec<Answer> = answers.by_ref().take(count).collect();
                if last {
                    reduction.result = group_answers.into_iter().next();
                } else {
                    // Failed groups keep their items' first lines so nothing vanishes.
                    reduction.items = group_answers.into_iter().filter(Answer::ok).map(|a| a.text).collect();
                    if reduction.items.is_empty() {
                        reduction.result = Some(Answer { error: Some("every group summary failed".into()), ..Default::default() });
                    }
                }
            }
        }
    }

    /// Consecutive items packed into groups whose prompt fits `budget`; an
    /// item too long alone is shortened.
    fn group(&self, items: &[String], ask: &dyn Fn(&str) -> String, budget: usize) -> Result<Vec<String>> {
        let overhead = self.llm.count(&self.render(&ask(""))?)?;
        let room = budget.saturating_sub(overhead).max(16);
        let mut groups: Vec<(String, usize)> = Vec::new();
        for item in items {
            let mut item = item.clone();
            let mut tokens = self.llm.count(&item)? + 1;
            if tokens > room {
                item = item.chars().take(item.chars().count() * room / tokens * 9 / 10).collect();
                tokens = self.llm.count(&item)? + 1;
            }
            match groups.last_mut() {
                Some((text, used)) if *used + tokens <= room => {
                    text.push('\n');
                    text.push_str(&item);
                    *used += tokens;
                }
                _ => groups.push((item, tokens)),
            }
        }
        // Two groups at least, so every round shortens the list.
        if groups.len() == 1 && items.len() > 1 {
            let half = items.len() / 2;
            return Ok(vec![items[..half].join("\n"), items[half..].join("\n")]);
        }
        Ok(groups.into_iter().map(|(text, _)| text).collect())
    }
}

#[derive(Serialize, Deserialize)]
struct Stored {
    text: String,
    tokens_in: usize,
    tokens_out: usize,
}

/// Why an answer is unusable, if it is: empty, or the input copied back
/// (a small model sometimes repeats prose it was asked to summarize).
fn answer_problem(text: &str, prompt: &str) -> Option<String> {
    if text.is_empty() {
        return Some("the model gave an empty answer".into());
    }
    let first = text.lines().next().unwrap_or("").trim_start_matches(['#', '-', '*', ' ']).trim();
    let probe: String = first.chars().take(40).collect();
    (probe.chars().count() == 40 && prompt.contains(&probe)).then(|| "the model repeated its input instead of summarizing it".into())
}

/// Trims an answer and a heading or label the model may have added.
fn clean(text: &str) -> String {
    text.trim().trim_start_matches("Summary:").trim().to_string()
}

/// Summarizes a selection; a failed chunk is reported in its file, never fatal.
pub fn summarize(llm: &Llm, source: Source, selection: Selection, options: &Options, progress: &Progress) -> Result<Summary> {
    let start = Instant::now();
    let Selection { files, listed } = selection;
    let budget = llm.prompt_budget(CHUNK_ANSWER);
    let mut run = Run {
        llm,
        options,
        system: system_prompt(&options.language),
        bar: progress.bar(0, "summarizing"),
        engine_wall: Duration::ZERO,
        answers: Vec::new(),
    };
    // Room for the code once the instructions and the template are counted.
    let overhead = llm.count(&run.render(&"x".repeat(400))?)?;
    let limits = Limits {
        max_lines: options.max_lines_per_chunk,
        max_tokens: budget.saturating_sub(overhead).max(32),
        max_chunks: options.max_chunks_per_file,
    };

    // Map: every chunk of every file.
    let mut chunked = Vec::with_capacity(files.len());
    let mut asks = Vec::new();
    for file in &files {
        let pieces = chunk::chunk_file(file, &limits, llm).with_context(|| format!("cannot chunk {}", file.path))?;
        for chunk in &pieces.chunks {
            asks.push(Ask { prompt: run.render(&chunk_prompt(file, chunk, pieces.chunks.len()))?, answer_tokens: CHUNK_ANSWER });
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
                reductions.push(file_reduction(file, items));
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
    let mut overall = vec![overall_reduction(kind, &summaries, &listed)];
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
    Ok(Summary { model: llm.model_id.clone(), source, title, overview, dropped_lines, files: summaries, listed, stats })
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Change,
    Codebase,
}

fn file_reduction(file: &FileChange, items: Vec<String>) -> Reduction {
    let what = match &file.content {
        Content::Hunks(_) => format!("the change to `{}`", file.path),
        _ => format!("`{}`", file.path),
    };
    let whole = what.clone();
    Reduction {
        ask: Box::new(move |items| {
            format!("These are summaries of consecutive parts of {whole}. Write one summary of {whole} as a whole: at most 4 sentences, no preamble.\n\n{items}")
        }),
        ask_group: Box::new(move |items| {
            format!("These are summaries of consecutive parts of {what}. Combine them into one summary of these parts: at most 4 sentences, no preamble.\n\n{items}")
        }),
        items,
        answer_tokens: FILE_ANSWER,
        result: None,
    }
}

fn overall_reduction(kind: Kind, files: &[FileSummary], listed: &[Listed]) -> Reduction {
    let mut items: Vec<String> = files
        .iter()
        .map(|f| match kind {
            Kind::Change => format!("- `{}` ({}, +{} -{}): {}", f.path, f.status.as_str(), f.additions, f.deletions, f.summary),
            Kind::Codebase => format!("- `{}`: {}", f.path, f.summary),
        })
        .collect();
    let deleted: Vec<&str> = listed.iter().filter(|l| l.status == Status::Deleted).map(|l| l.path.as_str()).collect();
    if !deleted.is_empty() && deleted.len() <= 20 {
        items.push(format!("- deleted: {}", deleted.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ")));
    }
    let (subject, form) = match kind {
        Kind::Change => (
            "a pull request",
            "Write the review summary in exactly this form:\n\
             Title: <one line, at most 10 words>\n\
             What changed: <2 to 4 sentences>\n\
             Why: <one sentence, or \"Not stated.\">\n\
             Risks:\n- <a point a reviewer should check>\n- <another, if any>",
        ),
        Kind::Codebase => (
            "a codebase",
            "Write an overview for a new reader in exactly this form:\n\
             Title: <one line, at most 10 words>\n\
             Overview: <3 to 5 sentences on what the code does>\n\
             Main parts:\n- <a folder or file and its role>\n- <another>",
        ),
    };
    Reduction {
        ask: Box::new(move |items| format!("Below is a summary of every file in {subject}. {form}\n\nFiles:\n{items}")),
        ask_group: Box::new(move |items| {
            format!("Below are summaries of some files in {subject}. Combine them into one paragraph of at most 5 sentences that keeps the file paths.\n\n{items}")
        }),
        items,
        answer_tokens: OVERALL_ANSWER,
        result: None,
    }
}

fn empty_title(listed: &[Listed]) -> String {
    if listed.is_empty() {
        "No changes".into()
    } else {
        format!("{} file(s) changed, none with text to summarize", listed.len())
    }
}

fn fallback_title(kind: Kind, files: &[FileSummary]) -> String {
    match kind {
        Kind::Change => format!("Changes to {} file(s)", files.len()),
        Kind::Codebase => format!("Summary of {} file(s)", files.len()),
    }
}

/// Every path (and file name) of the change: what a summary may name.
fn known_paths(files: &[FileSummary], listed: &[Listed]) -> std::collections::HashSet<String> {
    let mut known = std::collections::HashSet::new();
    let paths = files.iter().flat_map(|f| std::iter::once(&f.path).chain(&f.old_path)).chain(listed.iter().map(|l| &l.path));
    for path in paths {
        let mut rest = path.as_str();
        // Every suffix made of whole components: `src/a/b.rs`, `a/b.rs`, `b.rs`.
        loop {
            known.insert(rest.to_string());
            match rest.split_once('/') {
                Some((_, tail)) => rest = tail,
                None => break,
            }
        }
    }
    known
}

const FILE_EXTENSIONS: &[&str] = &[
    "rs", "py", "js", "mjs", "ts", "tsx", "jsx", "go", "java", "kt", "c", "h", "cc", "cpp", "hpp", "cs", "rb", "php",
    "swift", "scala", "sh", "sql", "md", "toml", "yml", "yaml", "json", "html", "css", "proto", "lock", "txt", "cfg",
    "ini", "xml", "gradle",
];

/// Names in `text` that look like file paths.
fn path_mentions(text: &str) -> Vec<String> {
    static PATH: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let pattern = PATH.get_or_init(|| regex::Regex::new(r"[A-Za-z0-9_./-]*[A-Za-z0-9_-]\.([A-Za-z]{1,6})\b").expect("valid regex"));
    pattern
        .captures_iter(text)
        .filter(|c| FILE_EXTENSIONS.contains(&c[1].to_ascii_lowercase().as_str()))
        .map(|c| c[0].trim_start_matches("./").to_string())
        // `self.rs`-like method chains are not paths; a real path has no `..`.
        .filter(|m| !m.contains(".."))
        .collect()
}

/// Splits the model's overview into a title and a body, dropping lines that
/// name files outside the change (a small model sometimes invents them).
fn shape_overview(text: &str, known: &std::collections::HashSet<String>) -> (Option<String>, String, Vec<String>) {
    let mut title = None;
    let mut body = Vec::new();
    let mut dropped = Vec::new();
    for line in text.lines() {
        // Small models loop: a line said twice is said once.
        if !line.trim().is_empty() && body.iter().any(|kept: &String| kept.trim() == line.trim()) {
            continue;
        }
        let unknown = path_mentions(line).into_iter().any(|m| !known.contains(&m));
        if unknown {
            dropped.push(line.to_string());
            continue;
        }
        let trimmed = line.trim().trim_start_matches('#').trim();
        let label = trimmed.trim_start_matches("**").split_once(':').map(|(l, r)| (l.trim_end_matches("**").trim(), r.trim()));
        match label {
            Some((l, rest)) if title.is_none() && l.eq_ignore_ascii_case("title") => {
                title = Some(rest.trim_matches('*').trim().to_string()).filter(|t| !t.is_empty())
            }
            Some((l, rest)) if ["what changed", "why", "risks", "overview", "main parts", "summary"].contains(&l.to_ascii_lowercase().as_str()) => {
                body.push(format!("**{l}:** {}", rest.trim_start_matches("**").trim()).trim_end().to_string());
            }
            _ => body.push(line.trim_end().to_string()),
        }
    }
    while body.first().is_some_and(|l| l.trim().is_empty()) {
        body.remove(0);
    }
    // Without a `Title:` line the caller's plain title is used: a small
    // model's first line is too often a heading copied from the input.
    (title, body.join("\n").trim().to_string(), dropped)
}

/// Items a file's change defines or touches: definitions on changed lines
/// (whole files: unindented definitions), in order, without repeats.
pub fn symbols(file: &FileChange) -> Vec<String> {
    static DEFINITION: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let pattern = DEFINITION.get_or_init(|| {
        regex::Regex::new(
            r"\b(?:fn|struct|enum|trait|union|type|const|static|mod|macro_rules!|class|def|function|interface|func|module|record)\s+([A-Za-z_][A-Za-z0-9_]*)",
        )
        .expect("valid regex")
    });
    let lines: Vec<&str> = match &file.content {
        Content::Hunks(hunks) => hunks.iter().flat_map(|h| &h.lines).filter_map(|l| l.strip_prefix(['+', '-'])).collect(),
        Content::File(text) => text.lines().filter(|l| !l.starts_with([' ', '\t'])).collect(),
        _ => Vec::new(),
    };
    let mut found: Vec<String> = Vec::new();
    for line in lines {
        for capture in pattern.captures_iter(line) {
            let name = capture[1].to_string();
            if !found.contains(&name) {
                found.push(name);
            }
        }
    }
    found
}

fn stats(run: &Run<'_>, files: &[FileSummary], wall: Duration) -> Stats {
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
        parallel_efficiency: ratio(busy, engine * run.llm.parallel as f64),
        parallel: run.llm.parallel,
        peak_rss_mb: crate::bench::peak_rss_mb(),
        success_rate: if chunks.is_empty() { 1.0 } else { chunks_ok as f64 / chunks.len() as f64 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overview_lines_naming_unknown_files_are_dropped() {
        let known: std::collections::HashSet<String> = ["src/lib.rs", "lib.rs"].iter().map(|s| s.to_string()).collect();
        let text = "Title: Add a cache\nWhat changed: `src/lib.rs` gains a cache.\nIt also edits `src/main.rs`.\nRisks:\n- eviction in lib.rs";
        let (title, body, dropped) = shape_overview(text, &known);
        assert_eq!(title.as_deref(), Some("Add a cache"));
        assert!(body.contains("**What changed:** `src/lib.rs` gains a cache."));
        assert!(body.contains("- eviction in lib.rs"));
        assert_eq!(dropped, vec!["It also edits `src/main.rs`."]);
    }

    #[test]
    fn copied_input_is_not_a_summary() {
        let prompt = "Summarize:\n+## Measured: summaries and the webhook endpoint\n+Numbers follow.";
        assert!(answer_problem("## Measured: summaries and the webhook endpoint", prompt).is_some());
        assert!(answer_problem("", prompt).is_some());
        assert!(answer_problem("The README gains a section with measured numbers.", prompt).is_none());
    }

    #[test]
    fn method_calls_and_versions_are_not_paths() {
        assert_eq!(path_mentions("calls self.run() and v1.2; edits a/b.rs and Cargo.toml"), vec!["a/b.rs", "Cargo.toml"]);
    }

    #[test]
    fn fences_outgrow_backticks_in_the_text() {
        assert_eq!(fence_for("plain"), "```");
        assert_eq!(fence_for("a ```` b"), "`````");
    }
}
