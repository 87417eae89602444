//! Continuous batching: sequences join a running batch after their prefill,
//! share one decode run per step (one token per row), and leave as they
//! finish. The padded KV cache is regrouped only when membership changes;
//! between changes each step's output cache is the next step's input.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};

use super::engine::{FinishReason, GenerateParams, Generation, KvCache, Model};
use super::sampling::Sampler;
use super::text::TextCodec;

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
    prefill_time: Duration,
    decode_start: Instant,
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
            prefill_time: self.prefill_time,
            decode_time: self.decode_start.elapsed(),
            finish,
        };
        (self.request.on_done)(Ok(generation));
    }
}

pub struct Batch<'a> {
    max_rows: usize,
    waiting: VecDeque<Request<'a>>,
    rows: Vec<Active<'a>>,
    /// For each row, its row in `kv` (rows that finished leave gaps until regrouped).
    kept_rows: Vec<usize>,
    kv: Option<KvCache>,
}

impl<'a> Batch<'a> {
    pub fn new(max_rows: usize) -> Batch<'a> {
        Batch { max_rows: max_rows.max(1), waiting: VecDeque::new(), rows: Vec::new(), kept_rows: Vec::new(), kv: None }
    }

    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty() && self.rows.is_empty()
    }

    pub fn running(&self) -> usize {
        self.rows.len()
    }

    /// Queues a request; it joins at the next step with room.
    pub fn admit(&mut self, request: Request<'a>) {
        self.waiting.push_back(request);
    }

    /// Admits waiting requests (prefill), then decodes one token for every
    /// row. Every failure ends only the requests it concerns, with its error.
    pub fn step(&mut self, model: &mut Model) {
        let context = model.config.context_length;
        let eos = model.config.eos_token_ids.clone();
        // Admission: prefill each newcomer alone (GroupQueryAttention takes a
        // multi-token input with past context only at batch 1), then regroup.
        let mut joined: Vec<(Active<'a>, KvCache)> = Vec::new();
        while self.rows.len() + joined.len() < self.max_rows {
            let Some(request) = self.waiting.pop_front() else { break };
            if let Some(active) = self.prefill(model, request, context, &eos) {
                joined.push(active);
            }
        }
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

    fn fail_running(&mut self, err: &anyhow::Error) {
        for row in self.rows.drain(..) {
            (row.request.on_done)(Err(anyhow!("{err:#}")));
        }
        self.kept_rows.clear();
        self.kv = None;
    }

    fn prefill(
        &mut self,
        model: &mut Model,
        request: Request<'a>,
        context: usize,
        eos: &[u32],
    ) -> Option<(Active<'a>, KvCache)> {
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
            return None;
        }
        let start = Instant::now();
        let sampler = Sampler::new(request.params.sampling.clone());
        let mut active = Active {
            slots: vec![1; request.prompt.len()],
            request,
            sampler,
            tokens: Vec::new(),
            text: String::new(),
            emitted: 0,
            prefill_time: Duration::ZERO,
            decode_start: start,
        };
        if let Some(reason) = active.interrupted() {
            active.finish(reason);
            return None;
        }
        let outcome = model.prefill(&active.request.prompt).and_then(|(logits, kv)| {
            active.prefill_time = start.elapsed();
            active.decode_start = Instant::now();
            Ok((active.accept(&logits, &model.codec, context, eos)?, kv))
        });
        match outcome {
            Ok((None, kv)) => Some((active, kv)),
            Ok((Some(reason), _)) => {
                active.finish(reason);
                None
            }
            Err(err) => {
                (active.request.on_done)(Err(err));
                None
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
    fn regroup(&mut self, model: &Model, joined: Vec<(Active<'a>, KvCache)>) -> Result<()> {
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
                sources.push(kv);
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
