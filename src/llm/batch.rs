//! Continuous batching: sequences join a running batch after their prefill,
//! share one decode run per step (one token per row), and leave as they
//! finish. The padded KV cache is regrouped only when membership changes;
//! between changes each step's output cache is the next step's input.
//!
//! Each prompt token is read once where it can be: requests with the same
//! prompt (a prompt's candidates) share one prefill, a prompt that starts
//! like one read recently (the system prompt and the chat template's head)
//! prefills only the rest, and a long prefill is read a chunk per step so
//! the rows already decoding are not stalled for all of it.

use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};

use super::engine::{FinishReason, GenerateParams, Generation, KvCache, Model};
use super::sampling::Sampler;
use super::text::TextCodec;

/// Prompt tokens read per step while rows are waiting for their next token
/// (on a 2-core CPU about 5 s of prefill for the 0.5B model).
const PREFILL_TOKENS_PER_STEP: usize = 512;

/// Memory kept for the caches of recently read prompts.
const PREFIX_CACHE_BYTES: usize = 256 << 20;

pub(crate) type TextSink<'a> = Box<dyn FnMut(&str) + Send + 'a>;
type DoneSink<'a> = Box<dyn FnOnce(Result<Generation>) + Send + 'a>;

/// One generation request with where its text and result go.
pub struct Request<'a> {
    prompt: Vec<u32>,
    params: GenerateParams,
    on_text: TextSink<'a>,
    on_done: DoneSink<'a>,
    cancel: Arc<AtomicBool>,
}

impl<'a> Request<'a> {
    pub fn new(prompt: Vec<u32>, params: GenerateParams, on_text: TextSink<'a>, on_done: DoneSink<'a>) -> Request<'a> {
        Request { prompt, params, on_text, on_done, cancel: Arc::new(AtomicBool::new(false)) }
    }

    /// Setting the flag ends the request at its next step with `Cancelled`.
    pub fn with_cancel(mut self, cancel: Arc<AtomicBool>) -> Request<'a> {
        self.cancel = cancel;
        self
    }
}

struct Active<'a> {
    request: Request<'a>,
    sampler: Sampler,
    tokens: Vec<u32>,
    text: String,
    emitted: usize,
    /// Which slots of the batch cache hold this row's entries (1) and which
    /// are padding (0); a prefix for GroupQueryAttention models. Its count is
    /// the row's cached length: the prompt and all tokens but the newest.
    slots: Vec<i64>,
    /// Prompt tokens run through the model for this request.
    prefilled: usize,
    prefill_time: Duration,
    decode_start: Instant,
    first_token_probs: Vec<f32>,
}

impl<'a> Active<'a> {
    /// Takes the logits of the next position; returns why it ends, if it does.
    fn accept(
        &mut self,
        logits: &[f32],
        codec: &TextCodec,
        context: usize,
        eos: &[u32],
    ) -> Result<Option<FinishReason>> {
        let params = &self.request.params;
        let seen: Vec<u32> = if params.sampling.repetition_penalty != 1.0 {
            self.request.prompt.iter().chain(&self.tokens).copied().collect()
        } else {
            Vec::new()
        };
        if self.tokens.is_empty() && !params.scored.is_empty() {
            self.first_token_probs = probabilities(logits, &params.scored);
        }
        let next = self.sampler.next(logits, &seen);
        if !params.ignore_eos && eos.contains(&next) {
            return Ok(Some(FinishReason::Eos));
        }
        self.tokens.push(next);
        self.text = codec.decode(&self.tokens)?;
        if let Some(cut) = params.stop.iter().filter_map(|s| self.text.find(s.as_str())).min() {
            self.text.truncate(cut);
            return Ok(Some(FinishReason::StopString));
        }
        // Hold back a trailing partial UTF-8 sequence (decoded as U+FFFD) and
        // anything that could still become a stop string.
        let stable = stable_prefix(&self.text, &params.stop);
        if stable > self.emitted {
            (self.request.on_text)(&self.text[self.emitted..stable]);
            self.emitted = stable;
        }
        Ok(if self.tokens.len() >= params.max_new_tokens {
            Some(FinishReason::MaxTokens)
        } else if self.cached() + 1 >= context {
            Some(FinishReason::ContextFull)
        } else {
            self.interrupted()
        })
    }

    /// Valid KV cache entries of this row.
    fn cached(&self) -> usize {
        self.slots.iter().filter(|&&s| s == 1).count()
    }

    fn interrupted(&self) -> Option<FinishReason> {
        if self.request.cancel.load(Ordering::Relaxed) {
            Some(FinishReason::Cancelled)
        } else if self.request.params.deadline.is_some_and(|d| Instant::now() >= d) {
            Some(FinishReason::Deadline)
        } else {
            None
        }
    }

    fn finish(mut self, finish: FinishReason) {
        if self.text.len() > self.emitted {
            (self.request.on_text)(&self.text[self.emitted..]);
        }
        let generation = Generation {
            tokens: self.tokens,
            text: self.text,
            prompt_tokens: self.request.prompt.len(),
            prefilled_tokens: self.prefilled,
            prefill_time: self.prefill_time,
            decode_time: self.decode_start.elapsed(),
            finish,
            first_token_probs: self.first_token_probs,
        };
        (self.request.on_done)(Ok(generation));
    }
}

/// The softmax probability of each of `tokens` under `logits` (0 for an id out of range).
fn probabilities(logits: &[f32], tokens: &[u32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let total: f32 = logits.iter().map(|l| (l - max).exp()).sum();
    tokens.iter().map(|&t| logits.get(t as usize).map_or(0.0, |l| (l - max).exp() / total)).collect()
}

/// A prompt being read into its cache, a chunk per step.
struct Reading<'a> {
    active: Active<'a>,
    /// Requests with the same prompt, admitted meanwhile: they start from this
    /// one's cache and logits.
    twins: Vec<Active<'a>>,
    /// The cache of the prompt's first `read` tokens; `None` until its
    /// reading starts (by then the prompts before it are read and cached).
    kv: Option<KvCache>,
    read: usize,
}

/// Where a prompt's reading starts.
enum Start {
    /// It was read before: nothing to run.
    Read { kv: Rc<KvCache>, logits: Vec<f32> },
    /// After its first `read` tokens, whose cache this is.
    After { kv: KvCache, read: usize },
}

/// A prompt read recently: its cache, and the logits of the token after it.
struct ReadPrompt {
    tokens: Vec<u32>,
    kv: Rc<KvCache>,
    logits: Vec<f32>,
}

/// Recently read prompts, least recently used first, within a token budget.
#[derive(Default)]
struct PrefixCache {
    entries: VecDeque<ReadPrompt>,
    tokens: usize,
}

impl PrefixCache {
    /// The entry sharing the longest prefix with `prompt`, and that length;
    /// among equals, one that ends there (whose logits then serve), then the newest.
    fn longest_match(&mut self, prompt: &[u32]) -> Option<(&ReadPrompt, usize)> {
        let (index, shared) = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (i, e.tokens.iter().zip(prompt).take_while(|(a, b)| a == b).count(), e.tokens.len()))
            .max_by_key(|&(i, shared, len)| (shared, len == shared, i))
            .map(|(i, shared, _)| (i, shared))
            .filter(|&(_, shared)| shared > 0)?;
        let entry = self.entries.remove(index).expect("an index of the list");
        self.entries.push_back(entry);
        self.entries.back().map(|e| (e, shared))
    }

    fn insert(&mut self, entry: ReadPrompt, capacity: usize) {
        if entry.tokens.len() > capacity {
            return;
        }
        if let Some(same) = self.entries.iter().position(|e| e.tokens == entry.tokens) {
            let old = self.entries.remove(same).expect("an index of the list");
            self.tokens -= old.tokens.len();
        }
        self.tokens += entry.tokens.len();
        self.entries.push_back(entry);
        while self.tokens > capacity {
            let Some(old) = self.entries.pop_front() else { break };
            self.tokens -= old.tokens.len();
        }
    }
}

pub struct Batch<'a> {
    max_rows: usize,
    waiting: VecDeque<Request<'a>>,
    reading: VecDeque<Reading<'a>>,
    rows: Vec<Active<'a>>,
    /// For each row, its row in `kv` (rows that finished leave gaps until regrouped).
    kept_rows: Vec<usize>,
    kv: Option<KvCache>,
    read: PrefixCache,
}

/// A request whose prompt is read, with the cache it joins the batch with.
type Joined<'a> = (Active<'a>, Rc<KvCache>);

impl<'a> Batch<'a> {
    pub fn new(max_rows: usize) -> Batch<'a> {
        Batch {
            max_rows: max_rows.max(1),
            waiting: VecDeque::new(),
            reading: VecDeque::new(),
            rows: Vec::new(),
            kept_rows: Vec::new(),
            kv: None,
            read: PrefixCache::default(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty() && self.reading.is_empty() && self.rows.is_empty()
    }

    pub fn running(&self) -> usize {
        self.rows.len()
    }

    /// Queues a request; it joins at the next step with room.
    pub fn admit(&mut self, request: Request<'a>) {
        self.waiting.push_back(request);
    }

    /// Admits waiting requests, reads up to a step's budget of their prompts
    /// (prefill), then decodes one token for every row. Every failure ends
    /// only the requests it concerns, with its error.
    pub fn step(&mut self, model: &mut Model) {
        let context = model.config.context_length;
        let eos = model.config.eos_token_ids.clone();
        let mut joined: Vec<Joined<'a>> = Vec::new();
        while self.rows.len() + self.admitted() + joined.len() < self.max_rows {
            let Some(request) = self.waiting.pop_front() else { break };
            self.queue(model, request);
        }
        self.read_prompts(model, context, &eos, &mut joined);
        let finished = match self.decode_running(model, context, &eos) {
            Ok(finished) => finished,
            Err(err) => {
                self.fail_running(&err);
                true
            }
        };
        if !joined.is_empty() || finished {
            if let Err(err) = self.regroup(model, joined) {
                self.fail_running(&err);
            }
        }
    }

    /// Requests whose prompts are being read.
    fn admitted(&self) -> usize {
        self.reading.iter().map(|r| 1 + r.twins.len()).sum()
    }

    fn fail_running(&mut self, err: &anyhow::Error) {
        for row in self.rows.drain(..) {
            (row.request.on_done)(Err(anyhow!("{err:#}")));
        }
        self.kept_rows.clear();
        self.kv = None;
    }

    /// Checks a request and queues its prompt for reading, or as a twin of a
    /// prompt in the queue.
    fn queue(&mut self, model: &Model, request: Request<'a>) {
        let context = model.config.context_length;
        let vocab = model.config.vocab_size;
        let problem = if request.prompt.is_empty() {
            Some("the prompt is empty; give some text to complete".to_string())
        } else if request.prompt.len() >= context {
            let n = request.prompt.len();
            Some(format!("the prompt is {n} tokens but the model's context holds {context}; shorten the prompt"))
        } else {
            request.prompt.iter().find(|&&t| t as usize >= vocab).map(|t| {
                format!(
                    "token id {t} is outside the model's vocabulary of {vocab}; tokenize with this model's tokenizer"
                )
            })
        };
        if let Some(problem) = problem {
            (request.on_done)(Err(anyhow!(problem)));
            return;
        }
        let sampler = Sampler::new(request.params.sampling.clone());
        let active = Active {
            slots: vec![1; request.prompt.len()],
            request,
            sampler,
            tokens: Vec::new(),
            text: String::new(),
            emitted: 0,
            prefilled: 0,
            prefill_time: Duration::ZERO,
            decode_start: Instant::now(),
            first_token_probs: Vec::new(),
        };
        if let Some(reason) = active.interrupted() {
            active.finish(reason);
            return;
        }
        let prompt = &active.request.prompt;
        if let Some(reading) = self.reading.iter_mut().find(|r| &r.active.request.prompt == prompt) {
            reading.twins.push(active);
        } else {
            self.reading.push_back(Reading { active, twins: Vec::new(), kv: None, read: 0 });
        }
    }

    /// The longest cached start of `prompt`, copied for it to go on from.
    fn start_from_cache(&mut self, model: &Model, prompt: &[u32]) -> Result<Start> {
        Ok(match self.read.longest_match(prompt) {
            Some((entry, shared)) if shared == prompt.len() && entry.tokens.len() == shared => {
                Start::Read { kv: entry.kv.clone(), logits: entry.logits.clone() }
            }
            // At least the last prompt token is run: its logits give the first answer token.
            Some((entry, shared)) => {
                let read = shared.min(prompt.len() - 1);
                let mut slots = vec![0; entry.tokens.len()];
                slots[..read].fill(1);
                Start::After { kv: model.gather(&[&*entry.kv], &[(0, 0, &slots)])?, read }
            }
            None => Start::After { kv: model.empty_cache()?, read: 0 },
        })
    }

    /// Reads prompts, oldest first, up to the step's token budget; those read
    /// to their end join the batch with their twins.
    fn read_prompts(&mut self, model: &mut Model, context: usize, eos: &[u32], joined: &mut Vec<Joined<'a>>) {
        let capacity = PREFIX_CACHE_BYTES / model.kv_bytes_per_token().max(1);
        let mut budget = PREFILL_TOKENS_PER_STEP;
        while budget > 0 {
            let Some(mut reading) = self.reading.pop_front() else { break };
            if let Some(reason) = reading.active.interrupted() {
                if reading.twins.is_empty() {
                    reading.active.finish(reason);
                } else {
                    // A twin (with its own cancel flag and deadline) takes over the reading.
                    let twin = reading.twins.remove(0);
                    std::mem::replace(&mut reading.active, twin).finish(reason);
                    self.reading.push_front(reading);
                }
                continue;
            }
            if reading.kv.is_none() {
                match self.start_from_cache(model, &reading.active.request.prompt) {
                    Ok(Start::Read { kv, logits }) => {
                        for active in std::iter::once(reading.active).chain(reading.twins) {
                            join(active, kv.clone(), &logits, &model.codec, context, eos, joined);
                        }
                        continue;
                    }
                    Ok(Start::After { kv, read }) => (reading.kv, reading.read) = (Some(kv), read),
                    Err(err) => {
                        fail(reading, &err);
                        continue;
                    }
                }
            }
            let prompt = &reading.active.request.prompt;
            let chunk = (prompt.len() - reading.read).min(budget);
            let ids = prompt[reading.read..reading.read + chunk].to_vec();
            let start = Instant::now();
            let past = reading.kv.take().unwrap_or_default();
            match model.prefill(&ids, past) {
                Ok((logits, kv)) => {
                    reading.active.prefill_time += start.elapsed();
                    reading.active.prefilled += chunk;
                    reading.read += chunk;
                    budget -= chunk;
                    if reading.read < reading.active.request.prompt.len() {
                        reading.kv = Some(kv);
                        self.reading.push_front(reading);
                        continue;
                    }
                    let kv = Rc::new(kv);
                    let tokens = reading.active.request.prompt.clone();
                    self.read.insert(ReadPrompt { tokens, kv: kv.clone(), logits: logits.clone() }, capacity);
                    for active in std::iter::once(reading.active).chain(reading.twins) {
                        join(active, kv.clone(), &logits, &model.codec, context, eos, joined);
                    }
                }
                Err(err) => fail(reading, &err),
            }
        }
    }

    /// One decode run over the running rows; returns whether any finished.
    fn decode_running(&mut self, model: &mut Model, context: usize, eos: &[u32]) -> Result<bool> {
        let Some(kv) = self.kv.take() else { return Ok(false) };
        let tokens: Vec<u32> = self.rows.iter().map(|r| *r.tokens.last().expect("a running row has a token")).collect();
        let slots: Vec<&[i64]> = self.rows.iter().map(|r| &r.slots[..]).collect();
        let (logits, present, written) = model.decode(&tokens, &slots, kv)?;
        let width = super::engine::cache_width(&present)?;
        self.kv = Some(present);
        let mut any_finished = false;
        let mut kept = Vec::with_capacity(self.rows.len());
        let mut keep_rows = Vec::with_capacity(self.rows.len());
        for (index, ((mut row, logits), slot)) in self.rows.drain(..).zip(logits).zip(written).enumerate() {
            row.slots.resize(width, 0);
            row.slots[slot] = 1;
            match row.accept(&logits, &model.codec, context, eos) {
                Ok(Some(reason)) => {
                    any_finished = true;
                    row.finish(reason);
                }
                Ok(None) => {
                    kept.push(row);
                    keep_rows.push(index);
                }
                Err(err) => {
                    any_finished = true;
                    (row.request.on_done)(Err(err));
                }
            }
        }
        self.rows = kept;
        self.kept_rows = keep_rows;
        Ok(any_finished)
    }

    /// Rebuilds the padded cache from the surviving rows and the newcomers.
    /// On failure the newcomers are among the rows, so they hear of it too.
    fn regroup(&mut self, model: &Model, joined: Vec<Joined<'a>>) -> Result<()> {
        let merged = {
            let mut sources: Vec<&KvCache> = Vec::new();
            let mut picks = Vec::new();
            if let Some(kv) = &self.kv {
                sources.push(kv);
                for (row, &source_row) in self.rows.iter().zip(&self.kept_rows) {
                    picks.push((0, source_row, &row.slots[..]));
                }
            }
            let base = sources.len();
            for (i, (active, kv)) in joined.iter().enumerate() {
                sources.push(kv.as_ref());
                picks.push((base + i, 0, &active.slots[..]));
            }
            if picks.is_empty() {
                Ok(None)
            } else {
                model.gather(&sources, &picks).map(Some)
            }
        };
        self.rows.extend(joined.into_iter().map(|(active, _)| active));
        let merged = merged?;
        // Gathering packs each row's entries at the start of its row.
        let lens: Vec<usize> = self.rows.iter().map(Active::cached).collect();
        let width = lens.iter().copied().max().unwrap_or(0);
        for (row, len) in self.rows.iter_mut().zip(lens) {
            row.slots = vec![0; width];
            row.slots[..len].fill(1);
        }
        self.kept_rows = (0..self.rows.len()).collect();
        self.kv = merged;
        Ok(())
    }
}

/// Ends a reading and its twins with `err`.
fn fail(reading: Reading<'_>, err: &anyhow::Error) {
    for active in std::iter::once(reading.active).chain(reading.twins) {
        (active.request.on_done)(Err(anyhow!("{err:#}")));
    }
}

/// Starts decoding a request whose prompt is read: `logits` give its first token.
fn join<'a>(
    mut active: Active<'a>,
    kv: Rc<KvCache>,
    logits: &[f32],
    codec: &TextCodec,
    context: usize,
    eos: &[u32],
    joined: &mut Vec<Joined<'a>>,
) {
    active.decode_start = Instant::now();
    match active.accept(logits, codec, context, eos) {
        Ok(None) => joined.push((active, kv)),
        Ok(Some(reason)) => active.finish(reason),
        Err(err) => (active.request.on_done)(Err(err)),
    }
}

/// The length of `text` that can be shown now: no trailing replacement
/// character, and no suffix that is the start of a stop string.
fn stable_prefix(text: &str, stop: &[String]) -> usize {
    let mut end = text.trim_end_matches('\u{FFFD}').len();
    for s in stop {
        for (i, _) in s.char_indices().skip(1) {
            if text[..end].ends_with(&s[..i]) {
                end = end.min(text[..end].len() - i);
            }
        }
    }
    end
}

/// Generation on the calling thread, for callers without a scheduler.
impl Model {
    /// Generation for one prompt on the calling thread. `on_text` receives
    /// the completion as it grows, in whole UTF-8 pieces.
    pub fn generate(
        &mut self,
        prompt: &[u32],
        params: &GenerateParams,
        on_text: impl FnMut(&str) + Send,
    ) -> Result<Generation> {
        let mut results = self.generate_batch(vec![(prompt.to_vec(), params.clone())], on_text)?;
        results.pop().expect("one result")
    }

    /// Generation for several prompts at once, continuously batched: all are
    /// admitted, decoded together, and leave as they finish. Text streams
    /// only for the first prompt.
    pub fn generate_batch(
        &mut self,
        prompts: Vec<(Vec<u32>, GenerateParams)>,
        on_text: impl FnMut(&str) + Send,
    ) -> Result<Vec<Result<Generation>>> {
        let n = prompts.len();
        let results = std::sync::Arc::new(std::sync::Mutex::new((0..n).map(|_| None).collect::<Vec<_>>()));
        let mut on_text: Option<TextSink<'_>> = Some(Box::new(on_text));
        let mut batch = Batch::new(n.max(1));
        for (i, (prompt, params)) in prompts.into_iter().enumerate() {
            let results = results.clone();
            let sink: TextSink<'_> = match on_text.take() {
                Some(sink) => sink,
                None => Box::new(|_: &str| {}),
            };
            let request = Request::new(prompt, params, sink, Box::new(move |r| results.lock().unwrap()[i] = Some(r)));
            batch.admit(request);
        }
        while !batch.is_empty() {
            batch.step(self);
        }
        drop(batch);
        let results = std::sync::Arc::try_unwrap(results).map_err(|_| anyhow!("results still shared"))?;
        Ok(results.into_inner().unwrap().into_iter().map(|r| r.expect("every request finishes")).collect())
    }
}
