//! Getting usable answers from the model: the content-addressed answer
//! cache, candidates (greedy and sampled) of which the best-grounded is
//! kept, one retry (sampling a little) for a failed or unusable answer,
//! and reductions of lists too long for one prompt, in rounds.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::grounding::{gate, Haystack};
use super::prompts::{ReducePrompts, PROMPT_VERSION};
use super::schema::Answer;
use super::shape::{answer_problem, clean};
use crate::language_model::{LanguageModel, Prompt};

/// Room kept free beside prompt and answer (template tokens, rounding).
const MARGIN: usize = 64;
/// Prompts are kept under this many tokens even with a larger context: long
/// prompts cost more than they add on a CPU.
const MAX_PROMPT_TOKENS: usize = 6144;
/// Tries per prompt: the first greedy (with its sampled candidates), the retry sampled.
const ATTEMPTS: usize = 2;
/// Sampling of the candidates after the greedy one: varied, not wild.
const CANDIDATE_TEMPERATURE: f32 = 0.7;

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
    /// Answers asked for: the greedy one and the rest sampled; the best is kept.
    pub candidates: usize,
    /// Names a good answer mentions (the file's items, the change's public
    /// API): among grounded candidates, the one naming most of them wins.
    pub targets: Vec<String>,
}

impl Ask {
    /// One greedy answer to `user`, of at most `answer_tokens`.
    pub fn new(user: String, answer_tokens: usize) -> Ask {
        Ask { user, answer_tokens, check_copy: false, answer_prefix: None, candidates: 1, targets: Vec::new() }
    }
}

/// A list of items being combined into one answer.
pub struct Reduction {
    pub prompts: ReducePrompts,
    pub items: Vec<String>,
    pub result: Option<Answer>,
    /// As [`Ask::candidates`] and [`Ask::targets`], for each prompt of the reduction.
    pub candidates: usize,
    pub targets: Vec<String>,
}

impl Reduction {
    pub fn new(prompts: ReducePrompts, items: Vec<String>, candidates: usize) -> Reduction {
        Reduction { prompts, items, result: None, candidates, targets: Vec::new() }
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

#[derive(Serialize, Deserialize)]
struct StoredSupport {
    support: f32,
}

/// Best effort: a cache that cannot be written costs only a rerun's time.
fn write_json(path: &std::path::Path, value: &impl Serialize) {
    let write = || -> Result<()> {
        let dir = path.parent().context("cache path has a folder")?;
        std::fs::create_dir_all(dir)?;
        let mut file = tempfile::NamedTempFile::new_in(dir)?;
        serde_json::to_writer(&mut file, value)?;
        file.persist(path)?;
        Ok(())
    };
    if let Err(err) = write() {
        tracing::warn!("cannot cache an answer in {}: {err:#}", path.display());
    }
}

pub struct Answerer<'a> {
    pub model: &'a dyn LanguageModel,
    pub system: String,
    /// Answers are cached here; `None` bypasses the cache.
    pub cache_dir: Option<PathBuf>,
    pub bar: crate::progress::Bar,
    /// Wall time with the model at work.
    pub engine_wall: Duration,
    /// Every answer the model gave (retries included), for the stats.
    pub answers: Vec<Answer>,
    /// The job's time budget: past it, no prompt is sent.
    pub deadline: Option<Instant>,
}

impl<'a> Answerer<'a> {
    pub fn new(
        model: &'a dyn LanguageModel,
        system: String,
        cache_dir: Option<PathBuf>,
        bar: crate::progress::Bar,
    ) -> Answerer<'a> {
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
        let settings = format!("{PROMPT_VERSION} {} {}", ask.answer_tokens, ask.candidates);
        for part in [
            self.model.id(),
            &settings,
            &self.system,
            &ask.user,
            ask.answer_prefix.unwrap_or(""),
            &ask.targets.join("\n"),
        ] {
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
                    let answer = Answer {
                        error: Some("the job's time budget ran out".into()),
                        attempts: attempt,
                        ..Default::default()
                    };
                    self.bar.inc(1);
                    self.answers.push(answer.clone());
                    answers[i] = Some(answer);
                }
                break;
            }
            // The first attempt asks for every candidate; a retry for one sampled answer.
            let mut prompts = Vec::new();
            let mut owners = Vec::new();
            for &i in &todo {
                let count = if attempt == 1 { asks[i].candidates.max(1) } else { 1 };
                for candidate in 0..count {
                    prompts.push(self.prompt(&asks[i], attempt, candidate));
                    owners.push(i);
                }
            }
            let completions = self.model.complete(&prompts);
            let mut candidates: Vec<Vec<Answer>> = vec![Vec::new(); asks.len()];
            for (i, completion) in owners.into_iter().zip(completions) {
                let answer = self.answer(&asks[i], completion, attempt);
                self.answers.push(answer.clone());
                candidates[i].push(answer);
            }
            for &i in &todo {
                let answer = self.choose(&asks[i], std::mem::take(&mut candidates[i]));
                if answer.ok() || attempt == ATTEMPTS {
                    self.bar.inc(1);
                }
                if answer.ok() {
                    self.store(&asks[i], &answer);
                } else {
                    tracing::warn!("attempt {attempt} failed: {}", answer.error.as_deref().unwrap_or(""));
                }
                answers[i] = Some(answer);
            }
            self.engine_wall += start.elapsed();
        }
        answers.into_iter().map(|a| a.expect("every prompt answered")).collect()
    }

    fn prompt(&self, ask: &Ask, attempt: usize, candidate: usize) -> Prompt {
        let mut prompt = Prompt::greedy(&self.system, &ask.user, ask.answer_tokens);
        prompt.deadline = self.deadline;
        if let Some(prefix) = ask.answer_prefix {
            prompt.answer_prefix = Some(prefix.to_string());
            prompt.stop = vec!["\n".into()];
        }
        if attempt > 1 {
            // Greedy decoding would fail the same way again.
            (prompt.temperature, prompt.seed) = (0.3, attempt as u64);
        } else if candidate > 0 {
            (prompt.temperature, prompt.seed) = (CANDIDATE_TEMPERATURE, candidate as u64);
        }
        prompt
    }

    /// A completion as an answer: cleaned, and refused when empty or a copy of the prompt.
    fn answer(&self, ask: &Ask, completion: Result<crate::language_model::Completion>, attempt: usize) -> Answer {
        match completion {
            Ok(completion) => {
                let text = clean(&completion.text);
                let copied = if ask.check_copy { answer_problem(&text, &ask.user) } else { None };
                let empty = text.trim().is_empty().then(|| "the model gave an empty answer".to_string());
                Answer {
                    error: empty.or(copied),
                    capped: completion.capped,
                    text,
                    tokens_in: completion.tokens_in,
                    tokens_prefilled: completion.tokens_prefilled,
                    tokens_out: completion.tokens_out,
                    cached: false,
                    attempts: attempt,
                    busy: completion.busy,
                    prefill: completion.prefill,
                }
            }
            Err(err) => Answer { error: Some(format!("{err:#}")), attempts: attempt, ..Default::default() },
        }
    }

    /// The best of an ask's candidates: usable, then with nothing the
    /// grounding gate would drop, then finished (not cut at the cap), then
    /// naming most of the ask's targets; ties go to the earlier (the greedy)
    /// one. Judged against the ask's own prompt, so the choice (and the
    /// cached answer) depends on nothing but what the cache key holds. With
    /// no usable candidate, the first one's failure is reported.
    fn choose(&self, ask: &Ask, candidates: Vec<Answer>) -> Answer {
        let haystack = (candidates.len() > 1).then(|| Haystack::of_text(&ask.user));
        let score = |answer: &Answer| {
            let Some(haystack) = &haystack else { return (true, true, true, 0) };
            let gated = gate(&answer.text, haystack);
            let named = ask.targets.iter().filter(|t| gated.text.contains(t.as_str())).count();
            (!gated.text.is_empty(), gated.dropped.is_empty(), !answer.capped, named)
        };
        let best = candidates
            .iter()
            .enumerate()
            .filter(|(_, a)| a.ok())
            .max_by_key(|&(index, a)| (score(a), std::cmp::Reverse(index)))
            .map(|(index, _)| index)
            .unwrap_or(0);
        candidates
            .into_iter()
            .nth(best)
            .unwrap_or_else(|| Answer { error: Some("the model returned no answer".into()), ..Default::default() })
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

    /// Caches an answer (best effort).
    fn store(&self, ask: &Ask, answer: &Answer) {
        let Some(path) = self.cache_path(ask) else { return };
        let stored = Stored {
            text: answer.text.clone(),
            tokens_in: answer.tokens_in,
            tokens_out: answer.tokens_out,
            capped: answer.capped,
        };
        write_json(&path, &stored);
    }

    /// For each yes/no question, the probability the model answers yes, read
    /// from the first token of one forward pass (the yes and no words in two
    /// cases, normalised between them); cached like answers. `None` where the
    /// model failed or the job's time budget ran out.
    pub fn support_all(&mut self, questions: &[String]) -> Vec<Option<f32>> {
        const CHOICES: [&str; 4] = ["yes", "Yes", "no", "No"];
        let paths: Vec<Option<PathBuf>> = questions.iter().map(|q| self.support_path(q)).collect();
        let mut found: Vec<Option<f32>> = paths
            .iter()
            .map(|path| {
                let text = std::fs::read_to_string(path.as_ref()?).ok()?;
                serde_json::from_str::<StoredSupport>(&text).ok().map(|s| s.support)
            })
            .collect();
        let todo: Vec<usize> = (0..questions.len()).filter(|&i| found[i].is_none()).collect();
        if todo.is_empty() || self.deadline.is_some_and(|d| Instant::now() >= d) {
            return found;
        }
        let prompts: Vec<Prompt> = todo
            .iter()
            .map(|&i| {
                let mut prompt = Prompt::greedy(&self.system, &questions[i], 1);
                prompt.deadline = self.deadline;
                prompt.choices = CHOICES.iter().map(|c| c.to_string()).collect();
                prompt
            })
            .collect();
        let start = Instant::now();
        let completions = self.model.complete(&prompts);
        self.engine_wall += start.elapsed();
        for (&i, completion) in todo.iter().zip(completions) {
            let completion = match completion {
                Ok(c) if c.choice_probs.len() == CHOICES.len() => c,
                Ok(_) => continue,
                Err(err) => {
                    tracing::warn!("a sentence check failed: {err:#}");
                    continue;
                }
            };
            let p = &completion.choice_probs;
            let (yes, no) = (p[0] + p[1], p[2] + p[3]);
            let support = if yes + no > 0.0 { yes / (yes + no) } else { 0.5 };
            self.answers.push(Answer {
                text: format!("{support:.3}"),
                tokens_in: completion.tokens_in,
                tokens_prefilled: completion.tokens_prefilled,
                tokens_out: completion.tokens_out,
                busy: completion.busy,
                prefill: completion.prefill,
                ..Default::default()
            });
            found[i] = Some(support);
            if let Some(path) = &paths[i] {
                write_json(path, &StoredSupport { support });
            }
        }
        found
    }

    fn support_path(&self, question: &str) -> Option<PathBuf> {
        let dir = self.cache_dir.as_ref()?;
        let mut hash = Sha256::new();
        for part in ["support", &PROMPT_VERSION.to_string(), self.model.id(), &self.system, question] {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        let key = hex::encode(hash.finalize());
        Some(dir.join(&key[..2]).join(format!("{key}.json")))
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
                    let candidates = reduction.candidates;
                    let targets = reduction.targets.clone();
                    asks.push(Ask {
                        answer_prefix: reduction.prompts.answer_prefix,
                        candidates,
                        targets,
                        ..Ask::new(whole, answer_tokens)
                    });
                    plan.push((index, true, 1));
                    continue;
                }
                let groups = self.group(&reduction.items, &reduction.prompts.ask_group, budget)?;
                let count = groups.len();
                for group in groups {
                    let candidates = reduction.candidates;
                    asks.push(Ask { candidates, ..Ask::new((reduction.prompts.ask_group)(&group), answer_tokens) });
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
                        reduction.result =
                            Some(Answer { error: Some("every group summary failed".into()), ..Default::default() });
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
