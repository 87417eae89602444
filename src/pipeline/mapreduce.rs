//! Map-reduce over a selection: the chunks the model is asked about are
//! summarized, then every file from its chunks' summaries (or its computed
//! walkthrough), then the whole from the files'. The model gets small jobs
//! (a sentence or two each); every answer is bounded to whole sentences and
//! passed through the grounding gate before anyone reads it. Answers are greedy, or chosen among candidates sampled with
//! fixed seeds, so the same input gives the same summary.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::answers::{Answerer, Ask, Reduction};
use super::author::AuthorContext;
use super::change::{FileChange, Source};
use super::chunk::{self, Limits};
use super::evidence::Evidence;
use super::facts::{ChangeFacts, CodebaseFacts, FileFacts, FileRole};
use super::grounding::{code_names, gate, gate_file, Dropped, Gated, Haystack, Reason};
use super::prompts::{self, Kind, CHUNK_ANSWER};
use super::prose::complete_part;
use super::prose::{bounded, overlap, plain, sentences, without_leading_also};
use super::schema::{Answer, ChunkSummary, DroppedAt, FileSummary, Origin, ShownSentence, Stats, Summary};
use super::select::Selection;
use super::settings::Settings;
use super::shape::{fallback_title, new_names, one_line_title, symbols, title_problem};
use super::walkthrough;
use crate::language_model::LanguageModel;
use crate::progress::Progress;

/// Sentences and words the model may spend, per file and on the whole. A
/// change's manifest row gets one sentence: its second ("It also …") was
/// wrong in every labelled case (docs/QUALITY.md); a codebase's file two.
const FILE_SENTENCES: usize = 2;
const CHANGE_FILE_SENTENCES: usize = 1;
const FILE_WORDS: usize = 40;
const OVERVIEW_SENTENCES: usize = 3;
const OVERVIEW_WORDS: usize = 70;
/// Names a file's diff brings in that its prompts point out.
const NEW_NAMES: usize = 6;
/// Code files the overview's computed lead tells of.
const LEAD_FILES: usize = 2;
/// Candidates for the title and the overview whatever the quality: they are
/// short answers to short prompts, and the ones a reader reads first.
const TOP_CANDIDATES: usize = 3;
/// A file sentence the model itself gives less than this probability of
/// being true of its diff is dropped (chosen on the labelled benchmark: docs/QUALITY.md).
const SUPPORTED: f32 = 0.5;
/// An overview sentence sharing this much of its content words with a file's summary repeats it.
const REPEATED: f64 = 0.85;

/// What the summary knows besides the files it summarizes.
pub struct Known {
    pub source: Source,
    pub author: AuthorContext,
    pub facts: Option<ChangeFacts>,
    pub codebase: Option<CodebaseFacts>,
    /// Each changed file's facts, by path.
    pub file_facts: HashMap<String, FileFacts>,
    /// The whole change's text and the author's: what the model may name.
    pub haystack: Haystack,
}

/// Summarizes a selection; a failed answer is reported, never fatal. Three
/// stages: [`Job::map`] asks for each chunk the model may write about,
/// [`Job::rows`] makes each file's row, [`Job::whole`] the title and overview.
pub fn summarize(
    model: &dyn LanguageModel,
    selection: Selection,
    known: Known,
    settings: &Settings,
    cache_dir: Option<PathBuf>,
    deadline: Option<Instant>,
    progress: &Progress,
) -> Result<Summary> {
    let start = Instant::now();
    let Selection { files, listed } = selection;
    let mut job = Job::new(model, &known, settings, cache_dir, deadline, progress, &files)?;
    let mapped = job.map(&files)?;
    let summaries = job.rows(&files, mapped)?;
    let whole = job.whole(&summaries)?;
    job.run.bar.finish_and_clear();
    let Job { run, tally, candidates, .. } = job;
    let mut stats = stats(&run, &summaries, start.elapsed());
    stats.answers += tally.reductions;
    stats.answers_failed += tally.failures;
    stats.success_rate =
        if stats.answers == 0 { 1.0 } else { 1.0 - stats.answers_failed as f64 / stats.answers as f64 };
    stats.names_written = tally.names_written;
    stats.names_kept = tally.names_kept;
    stats.grounding = if tally.names_written == 0 { 1.0 } else { tally.names_kept as f64 / tally.names_written as f64 };
    stats.sentences_dropped = tally.dropped.len();
    stats.candidates = candidates;
    stats.sentences_checked = tally.checked;
    let claims = shown_sentences(&whole, &summaries, &tally.support);
    Ok(Summary {
        model: model.id().to_string(),
        source: known.source,
        title: whole.title,
        title_from: whole.title_from,
        overview: whole.overview,
        author: known.author,
        facts: known.facts,
        codebase: known.codebase,
        claims,
        since: None,
        dropped: tally.dropped,
        files: summaries,
        listed,
        stats,
    })
}

/// What every gate and check let through and left out, counted once for the whole summary.
#[derive(Default)]
struct Tally {
    names_written: usize,
    names_kept: usize,
    dropped: Vec<DroppedAt>,
    /// Sentences the model was asked about (the self-check).
    checked: usize,
    /// The model's p(yes) for each sentence it supports, by (file index, sentence).
    support: HashMap<(usize, String), f32>,
    /// Answers past the chunks' (file and whole reductions), and how many of them failed.
    reductions: usize,
    failures: usize,
}

impl Tally {
    /// The text a gate kept; its names are counted and what it dropped kept, at `file` (`None`: the whole).
    fn gated(&mut self, gated: Gated, file: Option<&str>) -> String {
        self.names_written += gated.names_written;
        self.names_kept += gated.names_kept;
        self.dropped.extend(gated.dropped.into_iter().map(|d| DroppedAt::new(file.map(str::to_string), d)));
        gated.text
    }

    fn drop(&mut self, file: Option<&str>, sentence: String, reason: Reason, detail: &str) {
        self.dropped
            .push(DroppedAt::new(file.map(str::to_string), Dropped { sentence, reason, detail: detail.to_string() }));
    }
}

/// One file after the map stage: what its prompts pointed out, its computed
/// walkthrough, and the chunk prompts asked for it (`asks`, into [`Job::asks`]).
struct Mapped {
    chunked: chunk::Chunked,
    items: Vec<String>,
    new: Vec<String>,
    walk: String,
    facts: FileFacts,
    asks: std::ops::Range<usize>,
}

/// The title and the overview, and the overview's computed lead.
struct Whole {
    title: String,
    title_from: Origin,
    overview: String,
    lead: String,
}

/// One summary's shared state across its stages.
struct Job<'a> {
    run: Answerer<'a>,
    kind: Kind,
    settings: &'a Settings,
    candidates: usize,
    limits: Limits,
    headline: Option<String>,
    known: &'a Known,
    evidence: HashMap<String, Evidence>,
    /// Names each file's diff brings in, as its prompts pointed them out.
    new_by_path: HashMap<String, Vec<String>>,
    /// Every chunk prompt asked, in file order.
    asks: Vec<Ask>,
    tally: Tally,
}

impl<'a> Job<'a> {
    fn new(
        model: &'a dyn LanguageModel,
        known: &'a Known,
        settings: &'a Settings,
        cache_dir: Option<PathBuf>,
        deadline: Option<Instant>,
        progress: &Progress,
        files: &[FileChange],
    ) -> Result<Job<'a>> {
        let kind = match known.source {
            Source::Directory { .. } => Kind::Codebase,
            _ => Kind::Change,
        };
        let mut run =
            Answerer::new(model, prompts::system_prompt(&settings.language), cache_dir, progress.bar(0, "summarizing"));
        run.deadline = deadline;
        let budget = run.prompt_budget(CHUNK_ANSWER);
        // Room for the code once the instructions, the items and the template are counted.
        let overhead = run.prompt_tokens(&"x ".repeat(300))?;
        let limits = Limits {
            max_lines: settings.max_lines_per_chunk,
            max_tokens: budget.saturating_sub(overhead).max(32),
            max_chunks: settings.max_chunks_per_file,
        };
        Ok(Job {
            candidates: settings.quality.candidates(model.accelerated()),
            run,
            kind,
            settings,
            limits,
            headline: known.author.headline().map(str::to_string),
            known,
            new_by_path: HashMap::new(),
            evidence: files.iter().map(|f| (f.path.clone(), Evidence::of_file(f))).collect(),
            asks: Vec::new(),
            tally: Tally::default(),
        })
    }

    /// Whether the model is asked about a file: its sentences are shown only
    /// where the labelled benchmark measured them right more often than
    /// wrong — a codebase's files, and a change's manifests that no parser
    /// tells (beside a computed walkthrough, and on other files, they were
    /// wrong most of the time; docs/QUALITY.md). Elsewhere asking would be
    /// time spent on sentences no one reads.
    /// (The job's `max_chunks` budget counts these files' chunks only.)
    fn asks_about(&self, facts: &FileFacts, walkthrough: &str) -> bool {
        match self.kind {
            Kind::Codebase => true,
            Kind::Change => walkthrough.is_empty() && facts.role == Some(FileRole::Dependencies),
        }
    }

    fn file_sentences(&self) -> usize {
        match self.kind {
            Kind::Change => CHANGE_FILE_SENTENCES,
            Kind::Codebase => FILE_SENTENCES,
        }
    }

    /// Map: every chunk of every file the model is asked about, answered.
    fn map(&mut self, files: &[FileChange]) -> Result<Vec<(Mapped, Vec<Answer>)>> {
        let defined = walkthrough::defined_names(files);
        let mut mapped = Vec::with_capacity(files.len());
        for file in files {
            // Definitions by the parsed structure; plain patterns where no parser reads the file.
            let items = walkthrough::items(&file.structure).unwrap_or_else(|| symbols(file));
            let facts = self.known.file_facts.get(&file.path).cloned().unwrap_or_default();
            let walk = match self.kind {
                Kind::Change => walkthrough::of_file(file, &self.evidence[&file.path], &facts, &defined),
                Kind::Codebase => String::new(),
            };
            // Prose words of docs and settings are not names.
            let new = match super::facts::role(&file.path) {
                FileRole::Code | FileRole::Test => new_names(file, NEW_NAMES),
                _ => Vec::new(),
            };
            let first_ask = self.asks.len();
            let chunked = if self.asks_about(&facts, &walk) {
                // The job's chunk budget: once spent, the rest of the files are not read.
                let left = self.settings.max_chunks.saturating_sub(self.asks.len());
                let limits = Limits { max_chunks: self.limits.max_chunks.min(left), ..self.limits };
                let chunked = chunk::chunk_file(file, &limits, &self.run.model)
                    .with_context(|| format!("cannot chunk {}", file.path))?;
                let targets: Vec<String> = items.iter().chain(&new).cloned().collect();
                let parts = chunked.chunks.len();
                for (index, chunk) in chunked.chunks.iter().enumerate() {
                    let context =
                        prompts::FileContext { items: &items, new: &new, author_title: self.headline.as_deref() };
                    let user = prompts::chunk_prompt(file, chunk, index + 1, parts, &context);
                    let ask = Ask {
                        check_copy: true,
                        candidates: self.candidates,
                        targets: targets.clone(),
                        ..Ask::new(user, CHUNK_ANSWER)
                    };
                    self.asks.push(ask);
                }
                chunked
            } else {
                chunk::Chunked { chunks: Vec::new(), omitted_lines: 0 }
            };
            mapped.push(Mapped { chunked, items, new, walk, facts, asks: first_ask..self.asks.len() });
        }
        self.run.bar.set_length(self.asks.len() as u64);
        let mut answers = self.run.answer_all(&self.asks).into_iter();
        Ok(mapped
            .into_iter()
            .map(|m| {
                let of_file = answers.by_ref().take(m.asks.len()).collect();
                (m, of_file)
            })
            .collect())
    }

    /// Reduce: each file's row, from its chunks' sentences (a reduction where
    /// it has several), gated, checked by the model, beside the walkthrough.
    fn rows(&mut self, files: &[FileChange], mapped: Vec<(Mapped, Vec<Answer>)>) -> Result<Vec<FileSummary>> {
        let mut summaries: Vec<FileSummary> = Vec::with_capacity(files.len());
        let mut reductions = Vec::new();
        let mut reduced_files = Vec::new();
        let mut asks_of_file = Vec::with_capacity(files.len());
        for (file, (mapped, answers)) in files.iter().zip(mapped) {
            let Mapped { chunked, items, new, walk, facts, asks } = mapped;
            asks_of_file.push(asks);
            self.new_by_path.insert(file.path.clone(), new);
            let new = &self.new_by_path[&file.path];
            debug_assert_eq!(chunked.chunks.len(), answers.len(), "an answer per chunk");
            let chunks: Vec<ChunkSummary> =
                chunked.chunks.into_iter().zip(answers).map(|(chunk, answer)| ChunkSummary { chunk, answer }).collect();
            let ok: Vec<(&ChunkSummary, String)> = chunks
                .iter()
                .filter(|c| c.answer.ok())
                .map(|c| (c, bounded(&c.answer.text, self.file_sentences(), FILE_WORDS, c.answer.capped)))
                .filter(|(_, text)| !text.is_empty())
                .collect();
            let draft = match ok.as_slice() {
                [(_, only)] if chunks.len() == 1 => only.clone(),
                [] => String::new(),
                _ => {
                    let lines = ok
                        .iter()
                        .map(|(c, text)| format!("- lines {}-{}: {text}", c.chunk.first_line, c.chunk.last_line))
                        .collect();
                    let mut reduction = Reduction::new(prompts::file_reduce(file), lines, self.candidates);
                    reduction.targets = items.iter().chain(new).cloned().collect();
                    reductions.push(reduction);
                    reduced_files.push(summaries.len());
                    // Until the reduction answers, and if it fails: the first part's sentences.
                    ok[0].1.clone()
                }
            };
            summaries.push(FileSummary {
                path: file.path.clone(),
                old_path: file.old_path.clone(),
                status: file.status,
                additions: file.additions,
                deletions: file.deletions,
                language: chunk::language(&file.path),
                symbols: items,
                summary: String::new(),
                walkthrough: walk,
                model_summary: draft,
                summary_from: Origin::Model,
                facts,
                structure: file.structure.clone(),
                omitted_lines: chunked.omitted_lines,
                chunks,
            });
        }
        self.run.reduce(&mut reductions)?;
        self.tally.reductions += reduced_files.len();
        for (index, reduction) in reduced_files.into_iter().zip(reductions) {
            match reduction.result {
                Some(answer) if answer.ok() => {
                    summaries[index].model_summary =
                        bounded(&answer.text, self.file_sentences(), FILE_WORDS, answer.capped)
                }
                _ => self.tally.failures += 1,
            }
        }
        for summary in &mut summaries {
            self.gate_row(summary);
        }
        if self.kind == Kind::Change {
            self.self_check(&mut summaries, &asks_of_file);
        }
        for summary in &mut summaries {
            if summary.walkthrough.is_empty() && summary.model_summary.is_empty() {
                summary.walkthrough = computed_sentence(summary);
            }
            summary.summary_from = if summary.model_summary.is_empty() { Origin::Computed } else { Origin::Model };
            summary.summary = [summary.walkthrough.as_str(), summary.model_summary.as_str()]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
        }
        Ok(summaries)
    }

    /// The gate on a file's model sentences: names and claims against the
    /// change. (A file with a computed walkthrough has none: it is not asked.)
    fn gate_row(&mut self, summary: &mut FileSummary) {
        debug_assert!(summary.walkthrough.is_empty() || summary.model_summary.is_empty());
        let gated = match (self.kind, self.evidence.get(&summary.path)) {
            (Kind::Change, Some(evidence)) => gate_file(&summary.model_summary, &self.known.haystack, evidence),
            _ => gate(&summary.model_summary, &self.known.haystack),
        };
        summary.model_summary = self.tally.gated(gated, Some(summary.path.as_str()));
    }

    /// The model checks itself: each file sentence left, asked with the chunk
    /// prompt it read (whose tokens it has cached) and the question.
    fn self_check(&mut self, summaries: &mut [FileSummary], asks_of_file: &[std::ops::Range<usize>]) {
        let mut questions = Vec::new();
        let mut asked = Vec::new();
        for (index, summary) in summaries.iter().enumerate() {
            for sentence in sentences(&summary.model_summary) {
                let chunk_asks = &self.asks[asks_of_file[index].clone()];
                let names: Vec<String> = code_names(&sentence);
                let Some(ask) = chunk_asks.iter().max_by_key(|a| {
                    (names.iter().filter(|n| a.user.contains(n.as_str())).count(), std::cmp::Reverse(a.user.len()))
                }) else {
                    continue;
                };
                questions.push(prompts::check_prompt(&ask.user, &sentence));
                asked.push((index, sentence));
            }
        }
        for ((index, sentence), p) in asked.into_iter().zip(self.run.support_all(&questions)) {
            let Some(p) = p else { continue };
            self.tally.checked += 1;
            if p >= SUPPORTED {
                self.tally.support.insert((index, sentence), p);
                continue;
            }
            let summary = &mut summaries[index];
            let detail = format!("the model, asked with the diff, doubts it (p(yes) = {p:.2})");
            let mut at = DroppedAt::new(
                Some(summary.path.clone()),
                Dropped { sentence: sentence.clone(), reason: Reason::Doubted, detail },
            );
            at.support = Some(p);
            self.tally.dropped.push(at);
            let rest: Vec<String> = sentences(&summary.model_summary).into_iter().filter(|s| *s != sentence).collect();
            summary.model_summary = rest.join(" ");
        }
    }

    /// Reduce: the title and the overview of the whole, from the files' rows.
    /// A change's overview opens with the computed lead, and beside it the
    /// model is not asked (its overview sentences were measured wrong most
    /// of the time). A change's title is the author's or computed (the main
    /// changed item with its verb, else the files): the model's titles were
    /// wrong or partly wrong most of the time; a codebase's is the model's.
    fn whole(&mut self, summaries: &[FileSummary]) -> Result<Whole> {
        let kind = self.kind;
        let paths: Vec<&str> = summaries.iter().map(|s| s.path.as_str()).collect();
        let main = summaries.iter().filter(|f| weight(f) == 0).max_by_key(|f| f.additions + f.deletions);
        let main_item = main.and_then(|f| main_item(f, self.evidence.get(&f.path)?));
        let (title, title_from) = match &self.headline {
            Some(title) => (title.clone(), Origin::Author),
            None => {
                let item = main_item.as_ref().map(|(verb, name)| (*verb, name.as_str()));
                (fallback_title(kind, &paths, self.known.facts.as_ref(), item), Origin::Computed)
            }
        };
        let mut whole = Whole { title, title_from, overview: String::new(), lead: String::new() };
        if summaries.is_empty() {
            return Ok(whole);
        }
        // Code first: version bumps and docs must not set the headline.
        let mut ordered: Vec<&FileSummary> = summaries.iter().collect();
        ordered.sort_by_key(|f| (weight(f), std::cmp::Reverse(f.additions + f.deletions)));
        if kind == Kind::Change {
            whole.lead = code_lead(&ordered);
            whole.overview = whole.lead.clone();
        }
        let want_overview = whole.lead.is_empty();
        let want_title = self.headline.is_none() && kind == Kind::Codebase;
        if !want_overview && !want_title {
            return Ok(whole);
        }
        let items: Vec<String> = ordered.iter().map(|f| overall_line(kind, f, &self.new_by_path)).collect();
        let author = self.known.author.for_prompt();
        let top = self.candidates.max(TOP_CANDIDATES);
        let targets = main_names(&ordered, &self.new_by_path);
        let mut overall = Vec::new();
        if want_overview {
            overall.push(Reduction::new(prompts::overall_reduce(kind, author.clone()), items.clone(), top));
        }
        if want_title {
            overall.push(Reduction::new(prompts::title_reduce(kind, author), items, top));
        }
        for reduction in &mut overall {
            reduction.targets = targets.clone();
        }
        self.run.reduce(&mut overall)?;
        self.tally.reductions += overall.len();
        let mut results = overall.into_iter().map(|r| r.result);
        if want_overview {
            match results.next().flatten() {
                Some(answer) if answer.ok() => whole.overview = self.overview(&answer, summaries),
                _ => self.tally.failures += 1,
            }
        }
        if want_title {
            match results.next().flatten() {
                Some(answer) if answer.ok() => {
                    if let Some(title) = self.model_title(&answer) {
                        (whole.title, whole.title_from) = (title, Origin::Model);
                    }
                }
                _ => self.tally.failures += 1,
            }
        }
        Ok(whole)
    }

    /// The model's overview: what the table does not say, gated.
    fn overview(&mut self, answer: &Answer, summaries: &[FileSummary]) -> String {
        // A sentence that repeats a file's summary goes.
        let (mut fresh, repeats): (Vec<String>, Vec<String>) =
            sentences(&plain(&complete_part(&answer.text, answer.capped)))
                .into_iter()
                .partition(|s| !summaries.iter().any(|f| overlap(s, &f.summary) >= REPEATED));
        for sentence in repeats {
            self.tally.drop(None, sentence, Reason::RepeatsFile, "repeats a file's summary");
        }
        if let Some(first) = fresh.first_mut() {
            *first = without_leading_also(first);
        }
        let gated = gate(&bounded(&fresh.join(" "), OVERVIEW_SENTENCES, OVERVIEW_WORDS, false), &self.known.haystack);
        self.tally.gated(gated, None)
    }

    /// The model's title, if it is one and its names hold.
    fn model_title(&mut self, answer: &Answer) -> Option<String> {
        let title = one_line_title(&answer.text);
        // A title that ran to the cap is a sentence, not a title.
        let problem = if answer.capped { Some("ran to its length cap") } else { title_problem(&title) };
        if let Some(problem) = problem {
            let sentence = answer.text.lines().next().unwrap_or("").trim().to_string();
            self.tally.drop(None, sentence, Reason::NotATitle, &format!("not a title: {problem}"));
            return None;
        }
        let mut gated = gate(&title, &self.known.haystack);
        let kept = gated.dropped.is_empty();
        // A title is one claim: its first fault is the reason it goes.
        gated.dropped.truncate(1);
        self.tally.gated(gated, None);
        kept.then_some(title)
    }
}

/// A file's line in the prompt for the whole.
fn overall_line(kind: Kind, file: &FileSummary, new_by_path: &HashMap<String, Vec<String>>) -> String {
    match kind {
        Kind::Change => {
            let api: Vec<&String> = file.facts.api.names().collect();
            let names = if api.is_empty() {
                new_by_path.get(&file.path).map(|n| n.iter().collect()).unwrap_or_default()
            } else {
                api
            };
            let names: Vec<String> = names.into_iter().take(4).map(|n| format!("`{n}`")).collect();
            let items = if names.is_empty() { String::new() } else { format!("; items {}", names.join(", ")) };
            format!(
                "- `{}` ({}, +{} -{}{items}): {}",
                file.path,
                file.status.as_str(),
                file.additions,
                file.deletions,
                file.summary
            )
        }
        Kind::Codebase => format!("- `{}`: {}", file.path, file.summary),
    }
}

/// How much a file's summary speaks for the whole change: code first, then
/// tests, then everything else.
fn weight(file: &FileSummary) -> u8 {
    match file.facts.role {
        Some(FileRole::Code) | None => 0,
        Some(FileRole::Test) => 1,
        _ => 2,
    }
}

/// The overview's first sentences, computed: the walkthrough of the main
/// code files ("In `a.rs`, adds the function `x`; `run` now calls it."),
/// so a reviewer sees the substance of a change among its docs and version
/// bumps; where no parser reads the code, the code files and their sizes.
/// Empty when no code changed.
fn code_lead(ordered: &[&FileSummary]) -> String {
    let code: Vec<&&FileSummary> = ordered.iter().filter(|f| f.facts.role == Some(FileRole::Code)).collect();
    if code.is_empty() {
        return String::new();
    }
    let told: Vec<String> = code
        .iter()
        .filter(|f| !f.walkthrough.is_empty())
        .take(LEAD_FILES)
        .map(|f| {
            let mut chars = f.walkthrough.chars();
            let first = chars.next().map(|c| c.to_lowercase().collect::<String>()).unwrap_or_default();
            format!("In `{}`, {first}{}", f.path, chars.as_str())
        })
        .collect();
    if !told.is_empty() {
        return told.join(" ");
    }
    let files: Vec<String> =
        code.iter().take(LEAD_FILES).map(|f| format!("`{}` (+{} −{})", f.path, f.additions, f.deletions)).collect();
    format!("Code changed: {}.", files.join(", "))
}

/// The main item of a file's change, with the verb a title gives it: by
/// the parsed structure, else an item its added lines bring in, else the
/// one with the most changed lines.
fn main_item(file: &FileSummary, evidence: &Evidence) -> Option<(&'static str, String)> {
    if file.structure.language.is_some() {
        return walkthrough::main_item(&file.structure, evidence);
    }
    let symbol = |wanted: &dyn Fn(&str) -> bool| file.symbols.iter().map(String::as_str).find(|s| wanted(s));
    symbol(&|s| evidence.defined_added.contains(s) && !evidence.defined_removed.contains(s))
        .map(|s| ("Add", s))
        .or_else(|| evidence.main_item().map(|s| ("Change", s)))
        .or_else(|| symbol(&|s| evidence.defined_removed.contains(s)).map(|s| ("Remove", s)))
        .map(|(verb, name)| (verb, name.to_string()))
}

/// The names the whole change is about: the public API it adds, changes or
/// removes, then what its code files bring in and touch.
fn main_names(ordered: &[&FileSummary], new_by_path: &HashMap<String, Vec<String>>) -> Vec<String> {
    let api = ordered.iter().flat_map(|f| f.facts.api.names());
    let code = ordered.iter().filter(|f| weight(f) == 0);
    let new = code.clone().flat_map(|f| new_by_path.get(&f.path).into_iter().flatten());
    distinct(api.chain(new).chain(code.flat_map(|f| &f.symbols))).take(12).cloned().collect()
}

/// `names` without repeats, in their order.
fn distinct<'a>(names: impl Iterator<Item = &'a String>) -> impl Iterator<Item = &'a String> {
    let mut seen = std::collections::HashSet::new();
    names.filter(move |n| seen.insert(n.as_str()))
}

/// A file's summary said from the public items the plain patterns find,
/// where the structure says nothing and the model's sentence is gone; empty
/// rather than filler ("Changes lines (+7 −1)" tells nothing the row does not).
fn computed_sentence(file: &FileSummary) -> String {
    let names = |list: &[String]| list.iter().take(6).map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
    let api = &file.facts.api;
    let parts: Vec<String> = [("adds", &api.added), ("changes", &api.changed), ("removes", &api.removed)]
        .into_iter()
        .filter(|(_, list)| !list.is_empty())
        .map(|(verb, list)| format!("{verb} {}", names(list)))
        .collect();
    let sentence = parts.join("; ");
    let mut chars = sentence.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => String::new(),
    }
}

/// Every sentence a reader sees, and who wrote it (the benchmark labels them).
fn shown_sentences(
    whole: &Whole,
    files: &[FileSummary],
    support: &HashMap<(usize, String), f32>,
) -> Vec<ShownSentence> {
    let title =
        ShownSentence { place: "title".into(), text: whole.title.clone(), origin: whole.title_from, support: None };
    let mut shown = vec![title];
    let lead_sentences = sentences(&whole.lead);
    for text in sentences(&whole.overview) {
        let origin = if lead_sentences.contains(&text) { Origin::Computed } else { Origin::Model };
        shown.push(ShownSentence { place: "overview".into(), text, origin, support: None });
    }
    for (index, file) in files.iter().enumerate() {
        for (part, origin) in [(&file.walkthrough, Origin::Computed), (&file.model_summary, Origin::Model)] {
            for text in sentences(part) {
                let support = support.get(&(index, text.clone())).copied();
                shown.push(ShownSentence { place: file.path.clone(), text, origin, support });
            }
        }
    }
    shown
}

fn stats(run: &Answerer<'_>, files: &[FileSummary], wall: Duration) -> Stats {
    let chunks: Vec<&ChunkSummary> = files.iter().flat_map(|f| &f.chunks).collect();
    let generated: Vec<&Answer> = run.answers.iter().filter(|a| a.ok()).collect();
    let tokens_in: usize = generated.iter().map(|a| a.tokens_in).sum();
    let tokens_prefilled: usize = generated.iter().map(|a| a.tokens_prefilled).sum();
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
        tokens_prefilled,
        tokens_out,
        wall_s: wall.as_secs_f64(),
        chunks_per_min: ratio(chunks.len() as f64 * 60.0, wall.as_secs_f64()),
        prefill_tokens_per_s: ratio(tokens_prefilled as f64, prefill),
        // Prefills run one at a time and stall decoding meanwhile.
        decode_tokens_per_s: ratio(tokens_out as f64, engine - prefill),
        parallel_efficiency: ratio(busy, engine * run.model.parallel() as f64),
        parallel: run.model.parallel(),
        peak_rss_mb: crate::progress::peak_rss_mb(),
        answers: chunks.len(),
        answers_failed: chunks.len() - chunks_ok,
        ..Stats::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::language_model::{FakeSource, ModelSource};
    use crate::pipeline::change::fixtures::one_hunk;
    use crate::pipeline::facts::file_facts;

    /// The driver on the fake model, over `files`, as `source`; with the prompts the model was sent.
    fn run(files: Vec<FileChange>, source: Source, invent: Option<&str>) -> (Summary, Vec<String>) {
        run_on(files, source, FakeSource { invent: invent.map(str::to_string), ..FakeSource::new("fake") })
    }

    fn run_on(files: Vec<FileChange>, source: Source, fakes: FakeSource) -> (Summary, Vec<String>) {
        let model = fakes.model(None).unwrap();
        let haystack = Haystack::new(&files, files.iter().map(|f| f.path.as_str()), "");
        let file_facts: HashMap<String, FileFacts> = files.iter().map(|f| (f.path.clone(), file_facts(f))).collect();
        let known =
            Known { source, author: AuthorContext::default(), facts: None, codebase: None, file_facts, haystack };
        let selection = Selection { files, listed: Vec::new() };
        let summary =
            summarize(model.as_ref(), selection, known, &Settings::default(), None, None, &Progress::hidden()).unwrap();
        // Each prompt once (candidates repeat theirs), the self-check's questions apart.
        let mut asked: Vec<String> = fakes.prompts().into_iter().filter(|p| !p.contains("Is the note true")).collect();
        asked.dedup();
        (summary, asked)
    }

    fn code_and_manifest() -> Vec<FileChange> {
        let code = one_hunk(
            "src/parse.rs",
            "@@ -1,3 +1,7 @@",
            &[
                " pub fn parse(line: &str) -> u8 {",
                "-    0",
                "+    header(line)",
                " }",
                "+",
                "+fn header(line: &str) -> u8 {",
                "+    line.len() as u8",
                "+}",
            ],
        );
        let manifest = one_hunk(
            "package.json",
            "@@ -2,3 +2,5 @@",
            // More lines than a walkthrough quotes, and a bare patch: nothing parses it.
            &[
                "   \"dependencies\": {",
                "-    \"left-pad\": \"1.0.0\"",
                "+    \"left-pad\": \"1.3.0\",",
                "+    \"right-pad\": \"1.0.0\",",
                "+    \"center-pad\": \"2.0.0\"",
                "   }",
            ],
        );
        vec![code, manifest]
    }

    /// The same files as a codebase holds them: whole, not as diffs.
    fn as_codebase(files: Vec<FileChange>) -> Vec<FileChange> {
        let whole = |f| FileChange { content: crate::pipeline::change::Content::File("fn a() {}\n".into()), ..f };
        files.into_iter().map(whole).collect()
    }

    #[test]
    fn a_change_asks_the_model_only_where_its_sentence_can_stand() {
        let patch = Source::Patch { name: "x.patch".into() };
        let (summary, prompts) = run(code_and_manifest(), patch, None);
        // One chunk prompt, the manifest's: the code has a walkthrough, and its lead stands for the overview.
        assert_eq!(prompts.len(), 1, "{prompts:#?}");
        assert!(prompts[0].contains("package.json"), "{}", prompts[0]);
        let code = &summary.files[0];
        assert_eq!(code.path, "src/parse.rs");
        assert!(code.model_summary.is_empty() && code.chunks.is_empty());
        assert!(code.walkthrough.contains("`header`"), "{}", code.walkthrough);
        assert!(summary.overview.starts_with("In `src/parse.rs`, adds the function `header`"), "{}", summary.overview);
        assert_eq!(summary.title, "Add `header`");
        assert_eq!(summary.title_from, Origin::Computed);
        let manifest = &summary.files[1];
        assert_eq!(manifest.summary_from, Origin::Model, "{manifest:#?}");
        assert_eq!(summary.stats.sentences_checked, 1, "the manifest's sentence, checked by the model");
    }

    #[test]
    fn a_codebase_asks_for_every_file_and_the_whole() {
        let files = as_codebase(code_and_manifest());
        let (summary, prompts) = run(files, Source::Directory { path: ".".into() }, None);
        // Two files, the overview and the title.
        assert_eq!(prompts.len(), 4, "{prompts:#?}");
        assert!(summary.files.iter().all(|f| f.summary_from == Origin::Model), "{:#?}", summary.files);
        // The fake's overview only repeats its file rows: dropped, and said so.
        assert!(summary.dropped.iter().any(|d| d.file.is_none() && d.dropped.reason == Reason::RepeatsFile));
    }

    #[test]
    fn a_change_row_keeps_one_model_sentence() {
        let patch = Source::Patch { name: "x.patch".into() };
        // The second sentence is cut before any gate.
        let reply = "Moves `left-pad` to `1.3.0`. It also adds `no_such_item`.";
        let fakes =
            FakeSource { replies: vec![("File `package.json`".into(), reply.into())], ..FakeSource::new("fake") };
        let (summary, _) = run_on(code_and_manifest(), patch, fakes);
        assert_eq!(summary.files[1].model_summary, "Moves `left-pad` to `1.3.0`.", "{:#?}", summary.files[1]);
        assert!(summary.dropped.iter().all(|d| !d.dropped.sentence.contains("no_such_item")));
    }

    #[test]
    fn every_gate_is_counted_once_in_the_tally() {
        let files = as_codebase(code_and_manifest());
        let (summary, _) = run(files, Source::Directory { path: ".".into() }, Some("no_such_item"));
        // Each file's answer invents a name: dropped, and its names counted once.
        let invented: Vec<&DroppedAt> =
            summary.dropped.iter().filter(|d| d.dropped.sentence.contains("no_such_item")).collect();
        assert_eq!(invented.len(), 2, "{:#?}", summary.dropped);
        assert_eq!(invented[1].file.as_deref(), Some("package.json"));
        assert_eq!(summary.stats.sentences_dropped, summary.dropped.len());
        assert!(summary.stats.names_written > summary.stats.names_kept, "{:?}", summary.stats);
    }
}
