//! Map-reduce over a selection: every chunk is summarized, then every file
//! from its chunks' summaries, then the whole from the files'. The model
//! gets small jobs (a sentence or two each); every answer is bounded to
//! whole sentences and passed through the grounding gate before anyone
//! reads it. Answers are greedy, or chosen among candidates sampled with
//! fixed seeds, so the same input gives the same summary.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::answers::{Answerer, Ask, Reduction};
use super::author::AuthorContext;
use super::change::Source;
use super::chunk::{self, Limits};
use super::evidence::Evidence;
use super::facts::{ChangeFacts, CodebaseFacts, FileFacts, Role};
use super::grounding::{code_names, gate, gate_file, Dropped, Haystack, Reason};
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

/// Sentences and words the model may spend, per file and on the whole.
const FILE_SENTENCES: usize = 2;
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
/// A model sentence on a file sharing this much of its content words with the walkthrough restates it.
const RESTATES: f64 = 0.75;
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

/// Summarizes a selection; a failed answer is reported, never fatal.
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
    let kind = match known.source {
        Source::Directory { .. } => Kind::Codebase,
        _ => Kind::Change,
    };
    let mut run =
        Answerer::new(model, prompts::system_prompt(&settings.language), cache_dir, progress.bar(0, "summarizing"));
    run.deadline = deadline;
    let candidates = settings.quality.candidates(model.accelerated());
    let budget = run.prompt_budget(CHUNK_ANSWER);
    // Room for the code once the instructions, the items and the template are counted.
    let overhead = run.prompt_tokens(&"x ".repeat(300))?;
    let limits = Limits {
        max_lines: settings.max_lines_per_chunk,
        max_tokens: budget.saturating_sub(overhead).max(32),
        max_chunks: settings.max_chunks_per_file,
    };
    let headline = known.author.headline().map(str::to_string);
    let mut dropped = Vec::new();
    let (mut names_written, mut names_kept) = (0, 0);
    let mut checked = 0;

    // Map: every chunk of every file.
    let mut new_by_path: HashMap<String, Vec<String>> = HashMap::new();
    let evidence: HashMap<&str, Evidence> = files.iter().map(|f| (f.path.as_str(), Evidence::of_file(f))).collect();
    let mut chunked = Vec::with_capacity(files.len());
    let defined = walkthrough::defined_names(&files);
    let mut asks = Vec::new();
    for file in &files {
        // The job's chunk budget: once spent, the rest of the files are not read.
        let left = settings.max_chunks.saturating_sub(asks.len());
        let limits = Limits { max_chunks: limits.max_chunks.min(left), ..limits };
        let pieces = chunk::chunk_file(file, &limits, &model).with_context(|| format!("cannot chunk {}", file.path))?;
        // Definitions by the parsed structure; plain patterns where no parser reads the file.
        let items = walkthrough::items(&file.structure).unwrap_or_else(|| symbols(file));
        let facts = known.file_facts.get(&file.path).cloned().unwrap_or_default();
        let walk = match kind {
            Kind::Change => walkthrough::of_file(file, &evidence[file.path.as_str()], &facts, &defined),
            Kind::Codebase => String::new(),
        };
        // Prose words of docs and settings are not names.
        let new = match super::facts::role(&file.path) {
            Role::Code | Role::Test => new_names(file, NEW_NAMES),
            _ => Vec::new(),
        };
        let targets: Vec<String> = items.iter().chain(&new).cloned().collect();
        let parts = pieces.chunks.len();
        let first_ask = asks.len();
        for (index, chunk) in pieces.chunks.iter().enumerate() {
            let context =
                prompts::FileContext { items: &items, new: &new, parsed: &walk, author_title: headline.as_deref() };
            let user = prompts::chunk_prompt(file, chunk, index + 1, parts, &context);
            asks.push(Ask { check_copy: true, candidates, targets: targets.clone(), ..Ask::new(user, CHUNK_ANSWER) });
        }
        new_by_path.insert(file.path.clone(), new);
        chunked.push((pieces, items, walk, facts, first_ask..asks.len()));
    }
    run.bar.set_length(asks.len() as u64);
    let mut chunk_answers = run.answer_all(&asks).into_iter();

    // Reduce: files with several chunks, from their chunks' sentences.
    let mut summaries: Vec<FileSummary> = Vec::with_capacity(files.len());
    let mut reductions = Vec::new();
    let mut reduced_files = Vec::new();
    let mut asks_of_file = Vec::with_capacity(files.len());
    for (file, (pieces, items, walk, facts, file_asks)) in files.iter().zip(chunked) {
        asks_of_file.push(file_asks);
        let chunks: Vec<ChunkSummary> = pieces
            .chunks
            .into_iter()
            .map(|chunk| ChunkSummary { chunk, answer: chunk_answers.next().expect("an answer per chunk") })
            .collect();
        let ok: Vec<(&ChunkSummary, String)> = chunks
            .iter()
            .filter(|c| c.answer.ok())
            .map(|c| (c, bounded(&c.answer.text, FILE_SENTENCES, FILE_WORDS, c.answer.capped)))
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
                let mut reduction = Reduction::new(prompts::file_reduce(file), lines, candidates);
                reduction.targets =
                    items.iter().chain(new_by_path.get(&file.path).into_iter().flatten()).cloned().collect();
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
            omitted_lines: pieces.omitted_lines,
            chunks,
        });
    }
    run.reduce(&mut reductions)?;
    let mut failed_reductions = 0;
    let file_reductions = reduced_files.len();
    for (index, reduction) in reduced_files.into_iter().zip(reductions) {
        match reduction.result {
            Some(answer) if answer.ok() => {
                summaries[index].model_summary = bounded(&answer.text, FILE_SENTENCES, FILE_WORDS, answer.capped)
            }
            _ => failed_reductions += 1,
        }
    }

    // The gate, per file; a model sentence that only restates the computed walkthrough goes too.
    for summary in &mut summaries {
        let gated = match (kind, evidence.get(summary.path.as_str())) {
            (Kind::Change, Some(evidence)) => gate_file(&summary.model_summary, &known.haystack, evidence),
            _ => gate(&summary.model_summary, &known.haystack),
        };
        names_written += gated.names_written;
        names_kept += gated.names_kept;
        let at = |dropped: Dropped| DroppedAt::new(Some(summary.path.clone()), dropped);
        dropped.extend(gated.dropped.into_iter().map(at));
        let (kept, repeats): (Vec<String>, Vec<String>) = sentences(&gated.text)
            .into_iter()
            .partition(|s| summary.walkthrough.is_empty() || overlap(s, &summary.walkthrough) < RESTATES);
        dropped.extend(repeats.into_iter().map(|sentence| {
            at(Dropped { sentence, reason: Reason::RepeatsFile, detail: "repeats the computed walkthrough".into() })
        }));
        // Beside a computed walkthrough the model's first sentence is enough (its second is most often wrong).
        let room = if summary.walkthrough.is_empty() { FILE_SENTENCES } else { 1 };
        let (kept, extra) = kept.split_at(kept.len().min(room));
        dropped.extend(extra.iter().map(|sentence| {
            at(Dropped {
                sentence: sentence.clone(),
                reason: Reason::Unsupported,
                detail: "a further sentence beside the computed walkthrough".into(),
            })
        }));
        summary.model_summary = kept.join(" ");
        // Where the labelled benchmark measured the model's sentences wrong more often than right, they go.
        let unreliable = if !summary.walkthrough.is_empty() {
            Some("the computed walkthrough says what the diff does; beside it the model's sentences were measured wrong most of the time")
        } else if summary.facts.role != Some(Role::Dependencies) && kind == Kind::Change {
            Some("on files other than manifests the model's sentences were measured wrong most of the time")
        } else {
            None
        };
        if let Some(detail) = unreliable.filter(|_| !summary.model_summary.is_empty()) {
            let sentences = sentences(&std::mem::take(&mut summary.model_summary));
            dropped.extend(sentences.into_iter().map(|sentence| {
                DroppedAt::new(
                    Some(summary.path.clone()),
                    Dropped { sentence, reason: Reason::Unreliable, detail: detail.into() },
                )
            }));
        }
    }

    // The model checks itself: each file sentence left, asked with its diff (whose tokens it has read).
    let mut support: HashMap<(usize, String), f32> = HashMap::new();
    if kind == Kind::Change {
        let mut questions = Vec::new();
        let mut asked = Vec::new();
        for (index, summary) in summaries.iter().enumerate() {
            for sentence in sentences(&summary.model_summary) {
                let chunk_asks = &asks[asks_of_file[index].clone()];
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
        for ((index, sentence), p) in asked.into_iter().zip(run.support_all(&questions)) {
            let Some(p) = p else { continue };
            checked += 1;
            if p >= SUPPORTED {
                support.insert((index, sentence), p);
                continue;
            }
            let summary = &mut summaries[index];
            let detail = format!("the model, asked with the diff, doubts it (p(yes) = {p:.2})");
            let mut at = DroppedAt::new(
                Some(summary.path.clone()),
                Dropped { sentence: sentence.clone(), reason: Reason::Doubted, detail },
            );
            at.support = Some(p);
            dropped.push(at);
            let rest: Vec<String> = sentences(&summary.model_summary).into_iter().filter(|s| *s != sentence).collect();
            summary.model_summary = rest.join(" ");
        }
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

    // Reduce: the whole, from the files' summaries.
    let paths: Vec<&str> = summaries.iter().map(|s| s.path.as_str()).collect();
    let main = summaries.iter().filter(|f| weight(f) == 0).max_by_key(|f| f.additions + f.deletions);
    let main_item = main.and_then(|f| main_item(f, evidence.get(f.path.as_str())?));
    // The main changed item with its verb is a title the model cannot better on a change: it asks only without one.
    let want_title = headline.is_none() && !(kind == Kind::Change && main_item.is_some());
    let (mut title, mut title_from) = match &headline {
        Some(title) => (title.clone(), Origin::Author),
        None => {
            let item = main_item.as_ref().map(|(verb, name)| (*verb, name.as_str()));
            (fallback_title(kind, &paths, known.facts.as_ref(), item), Origin::Computed)
        }
    };
    let mut overview = String::new();
    let mut lead_of_overview = String::new();
    let mut overall_failures = 0;
    if !summaries.is_empty() {
        // Code first: version bumps and docs must not set the headline.
        let mut ordered: Vec<&FileSummary> = summaries.iter().collect();
        ordered.sort_by_key(|f| (weight(f), std::cmp::Reverse(f.additions + f.deletions)));
        let items: Vec<String> = ordered
            .iter()
            .map(|f| match kind {
                Kind::Change => {
                    let api: Vec<&String> = f.facts.api.names().collect();
                    let names = if api.is_empty() {
                        new_by_path.get(&f.path).map(|n| n.iter().collect()).unwrap_or_default()
                    } else {
                        api
                    };
                    let names: Vec<String> = names.into_iter().take(4).map(|n| format!("`{n}`")).collect();
                    let items = if names.is_empty() { String::new() } else { format!("; items {}", names.join(", ")) };
                    format!(
                        "- `{}` ({}, +{} -{}{items}): {}",
                        f.path,
                        f.status.as_str(),
                        f.additions,
                        f.deletions,
                        f.summary
                    )
                }
                Kind::Codebase => format!("- `{}`: {}", f.path, f.summary),
            })
            .collect();
        let author = known.author.for_prompt();
        let top = candidates.max(TOP_CANDIDATES);
        let targets = main_names(&ordered, &new_by_path);
        let mut overall = vec![Reduction::new(prompts::overall_reduce(kind, author.clone()), items.clone(), top)];
        if want_title {
            overall.push(Reduction::new(prompts::title_reduce(kind, author), items, top));
        }
        for reduction in &mut overall {
            reduction.targets = targets.clone();
        }
        run.reduce(&mut overall)?;
        let mut results = overall.into_iter().map(|r| r.result);
        match results.next().flatten() {
            Some(answer) if answer.ok() => {
                // The overview says what the table does not: a sentence that repeats a file's summary goes.
                let (mut fresh, repeats): (Vec<String>, Vec<String>) =
                    sentences(&plain(&complete_part(&answer.text, answer.capped)))
                        .into_iter()
                        .partition(|s| !summaries.iter().any(|f| overlap(s, &f.summary) >= REPEATED));
                dropped.extend(repeats.into_iter().map(|sentence| {
                    let detail = "repeats a file's summary".into();
                    DroppedAt::new(None, Dropped { sentence, reason: Reason::RepeatsFile, detail })
                }));
                if let Some(first) = fresh.first_mut() {
                    *first = without_leading_also(first);
                }
                let gated =
                    gate(&bounded(&fresh.join(" "), OVERVIEW_SENTENCES, OVERVIEW_WORDS, false), &known.haystack);
                names_written += gated.names_written;
                names_kept += gated.names_kept;
                dropped.extend(gated.dropped.into_iter().map(|d| DroppedAt::new(None, d)));
                overview = gated.text;
            }
            _ => overall_failures += 1,
        }
        if kind == Kind::Change {
            lead_of_overview = code_lead(&ordered);
            // Beside a computed lead the model's overview sentences go (measured wrong most of the time).
            if !lead_of_overview.is_empty() && !overview.is_empty() {
                dropped.extend(sentences(&std::mem::take(&mut overview)).into_iter().map(|sentence| {
                    let detail = "the computed lead says what the code does; beside it the model's overview sentences were measured wrong most of the time".into();
                    DroppedAt::new(None, Dropped { sentence, reason: Reason::Unreliable, detail })
                }));
            }
            overview = [lead_of_overview.as_str(), overview.as_str()]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
        }
        match results.next().flatten() {
            Some(answer) if answer.ok() => {
                let model_title = one_line_title(&answer.text);
                // A title that ran to the cap is a sentence, not a title.
                let problem = if answer.capped { Some("ran to its length cap") } else { title_problem(&model_title) };
                if let Some(problem) = problem {
                    let sentence = answer.text.lines().next().unwrap_or("").trim().to_string();
                    let detail = format!("not a title: {problem}");
                    dropped.push(DroppedAt::new(None, Dropped { sentence, reason: Reason::NotATitle, detail }));
                } else {
                    let gated = gate(&model_title, &known.haystack);
                    names_written += gated.names_written;
                    names_kept += gated.names_kept;
                    match gated.dropped.into_iter().next() {
                        None => (title, title_from) = (model_title, Origin::Model),
                        Some(d) => dropped.push(DroppedAt::new(None, d)),
                    }
                }
            }
            Some(_) => overall_failures += 1,
            None => {}
        }
    }
    run.bar.finish_and_clear();

    let mut stats = stats(&run, &summaries, start.elapsed());
    let failures = failed_reductions + overall_failures;
    let overall_answers = if summaries.is_empty() { 0 } else { 1 + usize::from(want_title) };
    stats.answers += file_reductions + overall_answers;
    stats.answers_failed += failures;
    stats.success_rate =
        if stats.answers == 0 { 1.0 } else { 1.0 - stats.answers_failed as f64 / stats.answers as f64 };
    stats.names_written = names_written;
    stats.names_kept = names_kept;
    stats.grounding = if names_written == 0 { 1.0 } else { names_kept as f64 / names_written as f64 };
    stats.sentences_dropped = dropped.len();
    stats.candidates = candidates;
    stats.sentences_checked = checked;
    let claims = shown_sentences(&title, title_from, &overview, &lead_of_overview, &summaries, &support);
    Ok(Summary {
        model: model.id().to_string(),
        source: known.source,
        title,
        title_from,
        overview,
        author: known.author,
        facts: known.facts,
        codebase: known.codebase,
        claims,
        since: None,
        dropped,
        files: summaries,
        listed,
        stats,
    })
}

/// How much a file's summary speaks for the whole change: code first, then
/// tests, then everything else.
fn weight(file: &FileSummary) -> u8 {
    match file.facts.role {
        Some(Role::Code) | None => 0,
        Some(Role::Test) => 1,
        _ => 2,
    }
}

/// The overview's first sentences, computed: the walkthrough of the main
/// code files ("In `a.rs`, adds the function `x`; `run` now calls it."),
/// so a reviewer sees the substance of a change among its docs and version
/// bumps; where no parser reads the code, the code files and their sizes.
/// Empty when no code changed.
fn code_lead(ordered: &[&FileSummary]) -> String {
    let code: Vec<&&FileSummary> = ordered.iter().filter(|f| f.facts.role == Some(Role::Code)).collect();
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
    title: &str,
    title_from: Origin,
    overview: &str,
    lead: &str,
    files: &[FileSummary],
    support: &HashMap<(usize, String), f32>,
) -> Vec<ShownSentence> {
    let mut shown =
        vec![ShownSentence { place: "title".into(), text: title.to_string(), origin: title_from, support: None }];
    let lead_sentences = sentences(lead);
    for text in sentences(overview) {
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
        peak_rss_mb: crate::llm::bench::peak_rss_mb(),
        answers: chunks.len(),
        answers_failed: chunks.len() - chunks_ok,
        ..Stats::default()
    }
}
