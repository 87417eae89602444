//! Getting usable answers from the model: the content-addressed answer
//! cache, one retry (sampling a little) for a failed or unusable answer,
//! and reductions of lists too long for one prompt, in rounds.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::prompts::{ReducePrompts, PROMPT_VERSION};
use super::schema::Answer;
use super::shape::{answer_problem, clean};
use crate::language_model::{LanguageModel, Prompt};

/// Room kept free beside prompt and answer (template tokens, rounding).
const MARGIN: usize = 64;
/// Prompts are kept under this many tokens even with a larger context: long
/// prompts cost more than they add on a CPU.
const MAX_PROMPT_TOKENS: usize = 6144;
/// Tries per prompt: the first greedy, the retry sampled.
const ATTEMPTS: usize = 2;

/// One prompt to answer.
#[derive(Clone)]
pub struct Ask {
    pub user: String,
    pub answer_tokens: usize,
    /// Refuse an answer that copies the prompt back (for prompts holding
    /// code or a diff; a reduction may rightly repeat its items' words).
    pub check_copy: bool,
    /// The answer starts with this, and ends at the first line break.
    pub answer_prefix: Option<&'static str>,
}

/// A list of items being combined into one answer.
pub struct Reduction {
    pub prompts: ReducePrompts,
    pub items: Vec<String>,
    pub result: Option<Answer>,
}

impl Reduction {
    pub fn new(prompts: ReducePrompts, items: Vec<String>) -> Reduction {
        Reduction { prompts, items, result: None }
    }
}

#[derive(Serialize, Deserialize)]
struct Stored {
    text: String,
    tokens_in: usize,
    tokens_out: usize,
    #[serde(default)]
    capped: bool,
}

pub struct Answerer<'a> {
    pub model: &'a dyn LanguageModel,
    pub system: String,
    /// Answers are cached here; `None` bypasses the cache.
    pub cache_dir: Option<PathBuf>,
    pub bar: indicatif::ProgressBar,
    /// Wall time with the model at work.
    pub engine_wall: Duration,
    /// Every answer the model gave (retries included), for the stats.
    pub answers: Vec<Answer>,
    /// The job's time budget: past it, no prompt is sent.
    pub deadline: Option<Instant>,
}

impl<'a> Answerer<'a> {
    pub fn new(model: &'a dyn LanguageModel, system: String, cache_dir: Option<PathBuf>, bar: indicatif::ProgressBar) -> Answerer<'a> {
        Answerer { model, system, cache_dir, bar, engine_wall: Duration::ZERO, answers: Vec::new(), deadline: None }
    }

    /// The most prompt tokens that leave room for an answer of `answer` tokens.
    pub fn prompt_budget(&self, answer: usize) -> usize {
        self.model.context_length().saturating_sub(answer + MARGIN).min(MAX_PROMPT_TOKENS)
    }

    /// Tokens of a user message as the model sees it, with the system prompt and template.
    pub fn prompt_tokens(&self, user: &str) -> Result<usize> {
        self.model.prompt_tokens(&self.system, user)
    }

    fn cache_path(&self, ask: &Ask) -> Option<PathBuf> {
        let dir = self.cache_dir.as_ref()?;
        let mut hash = Sha256::new();
        for part in [self.model.id(), &PROMPT_VERSION.to_string(), &ask.answer_tokens.to_string(), &self.system, &ask.user, ask.answer_prefix.unwrap_or("")] {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        let key = hex::encode(hash.finalize());
        Some(dir.join(&key[..2]).join(format!("{key}.json")))
    }

    /// Answers every prompt, the uncached ones concurrently; a failed or
    /// unusable answer is tried once more (sampling a little), then reported.
    pub fn answer_all(&mut self, asks: &[Ask]) -> Vec<Answer> {
        let mut answers: Vec<Option<Answer>> = asks.iter().map(|ask| self.cached(ask)).collect();
        self.bar.inc(answers.iter().flatten().count() as u64);
        for attempt in 1..=ATTEMPTS {
            let todo: Vec<usize> = (0..asks.len()).filter(|&i| answers[i].as_ref().is_none_or(|a| !a.ok())).collect();
            if todo.is_empty() {
                break;
            }
            let start = Instant::now();
            if self.deadline.is_some_and(|d| start >= d) {
                for &i in &todo {
                    let answer = Answer { error: Some("the job's time budget ran out".into()), attempts: attempt, ..Default::default() };
                    self.bar.inc(1);
                    self.answers.push(answer.clone());
                    answers[i] = Some(answer);
                }
                break;
            }
            let prompts: Vec<Prompt> = todo.iter().map(|&i| self.prompt(&asks[i], attempt)).collect();
            let completions = self.model.complete(&prompts);
            for (&i, completion) in todo.iter().zip(completions) {
                let answer = match completion {
                    Ok(completion) => {
                        let text = clean(&completion.text);
                        let copied = if asks[i].check_copy { answer_problem(&text, &asks[i].user) } else { None };
                        let empty = text.trim().is_empty().then(|| "the model gave an empty answer".to_string());
                        Answer {
                            error: empty.or(copied),
                            capped: completion.capped,
                            text,
                            tokens_in: completion.tokens_in,
                            tokens_out: completion.tokens_out,
                            cached: false,
                            attempts: attempt,
                            busy: completion.busy,
                            prefill: completion.prefill,
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

    fn prompt(&self, ask: &Ask, attempt: usize) -> Prompt {
        let mut prompt = Prompt::greedy(&self.system, &ask.user, ask.answer_tokens);
        prompt.deadline = self.deadline;
        if let Some(prefix) = ask.answer_prefix {
            prompt.answer_prefix = Some(prefix.to_string());
            prompt.stop = vec!["\n".into()];
        }
        if attempt > 1 {
            // Greedy decoding would fail the same way again.
            (prompt.temperature, prompt.seed) = (0.3, attempt as u64);
        }
        prompt
    }

    fn cached(&self, ask: &Ask) -> Option<Answer> {
        let path = self.cache_path(ask)?;
        let text = std::fs::read_to_string(path).ok()?;
        let stored: Stored = serde_json::from_str(&text).ok()?;
        Some(Answer {
            text: stored.text,
            tokens_in: stored.tokens_in,
            tokens_out: stored.tokens_out,
            capped: stored.capped,
            cached: true,
            attempts: 0,
            ..Default::default()
        })
    }

    /// Best effort: a cache that cannot be written costs only a rerun's time.
    fn store(&self, ask: &Ask, answer: &Answer) {
        let Some(path) = self.cache_path(ask) else { return };
        let stored = Stored { text: answer.text.clone(), tokens_in: answer.tokens_in, tokens_out: answer.tokens_out, capped: answer.capped };
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
    pub fn reduce(&mut self, reductions: &mut [Reduction]) -> Result<()> {
        loop {
            let mut asks = Vec::new();
            // (reduction, final?, number of groups) per reduction still open.
            let mut plan = Vec::new();
            for (index, reduction) in reductions.iter().enumerate().filter(|(_, r)| r.result.is_none()) {
                let answer_tokens = reduction.prompts.answer_tokens;
                let budget = self.prompt_budget(answer_tokens);
                let whole = (reduction.prompts.ask)(&reduction.items.join("\n"));
                if self.prompt_tokens(&whole)? <= budget || reduction.items.len() == 1 {
                    asks.push(Ask { user: whole, answer_tokens, check_copy: false, answer_prefix: reduction.prompts.answer_prefix });
                    plan.push((index, true, 1));
                    continue;
                }
                let groups = self.group(&reduction.items, &reduction.prompts.ask_group, budget)?;
                let count = groups.len();
                for group in groups {
                    asks.push(Ask { user: (reduction.prompts.ask_group)(&group), answer_tokens, check_copy: false, answer_prefix: None });
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
        let overhead = self.prompt_tokens(&ask(""))?;
        let room = budget.saturating_sub(overhead).max(16);
        let mut groups: Vec<(String, usize)> = Vec::new();
        for item in items {
            let mut item = item.clone();
            let mut tokens = self.model.count(&item)? + 1;
            if tokens > room {
                item = item.chars().take(item.chars().count() * room / tokens * 9 / 10).collect();
                tokens = self.model.count(&item)? + 1;
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
