//! `precis bench`: prefill and decode throughput of one model folder, at
//! batch 1 and with concurrent requests, on this machine.

use std::time::Instant;

use anyhow::Result;
use serde::Serialize;

use crate::llm::{GenerateParams, Model, SamplingParams};

/// Answers asked of one prompt, as the pipeline asks for a title or an overview.
const CANDIDATES: usize = 3;

#[derive(Clone, Debug)]
pub struct BenchSpec {
    pub prompt_tokens: usize,
    pub new_tokens: usize,
    pub concurrency: usize,
}

#[derive(Debug, Serialize)]
pub struct BenchReport {
    pub model: String,
    pub threads: usize,
    pub prompt_tokens: usize,
    pub new_tokens: usize,
    pub concurrency: usize,
    /// Batch-1 prefill of `prompt_tokens`.
    pub prefill_tokens_per_s: f64,
    /// Batch-1 decode after that prefill.
    pub decode_tokens_per_s: f64,
    /// All requests' new tokens over the decode wall time, `concurrency`
    /// requests at once (their prefill time is not counted).
    pub concurrent_tokens_per_s: f64,
    /// The same tokens over the whole wall time, prefills included.
    pub concurrent_end_to_end_tokens_per_s: f64,
    /// Prompt tokens of the concurrent requests, and those the engine ran
    /// (the prompts share their first tokens, which are read once).
    pub concurrent_prompt_tokens: usize,
    pub concurrent_prefilled_tokens: usize,
    /// The wall time of `CANDIDATES` answers to the batch-1 prompt (the
    /// greedy one and sampled ones, all `new_tokens` long) over one answer's.
    pub candidates_cost: f64,
    /// concurrent / batch-1 decode.
    pub concurrency_gain: f64,
    pub peak_rss_mb: f64,
}

/// A prompt of exactly `n` tokens of ordinary code-like text, different per `variant`.
fn prompt(model: &Model, n: usize, variant: usize) -> Result<Vec<u32>> {
    let mut text = String::new();
    let mut i = variant;
    let mut ids = Vec::new();
    while ids.len() < n {
        text.push_str(&format!(
            "fn step_{i}(state: &mut State) -> Result<u32> {{ state.count += {i}; Ok(state.count) }}\n"
        ));
        i += 7;
        ids = model.codec.encode(&text)?;
    }
    ids.truncate(n);
    Ok(ids)
}

pub fn run(model: &mut Model, name: &str, threads: usize, spec: &BenchSpec) -> Result<BenchReport> {
    let params = GenerateParams { ignore_eos: true, ..GenerateParams::greedy(spec.new_tokens) };
    // Warm-up: the first run of a session allocates its buffers.
    model.generate(
        &prompt(model, 16, 0)?,
        &GenerateParams { ignore_eos: true, ..GenerateParams::greedy(4) },
        |_| {},
    )?;

    let single_prompt = prompt(model, spec.prompt_tokens, 0)?;
    let start = Instant::now();
    let single = model.generate(&single_prompt, &params, |_| {})?;
    let single_wall = start.elapsed().as_secs_f64();

    let candidates = (0..CANDIDATES as u64)
        .map(|seed| {
            let temperature = if seed == 0 { 0.0 } else { 0.7 };
            let sampling = SamplingParams { temperature, seed, ..SamplingParams::default() };
            (single_prompt.clone(), GenerateParams { sampling, ..params.clone() })
        })
        .collect();
    let start = Instant::now();
    for result in model.generate_batch(candidates, |_| {})? {
        result?;
    }
    let candidates_cost = start.elapsed().as_secs_f64() / single_wall;

    // Concurrent requests with shorter, different prompts: what summarizing many chunks looks like.
    let concurrent_prompt = (spec.prompt_tokens / 4).max(8);
    let requests = (0..spec.concurrency)
        .map(|i| Ok((prompt(model, concurrent_prompt, i + 1)?, params.clone())))
        .collect::<Result<Vec<_>>>()?;
    let start = Instant::now();
    let results = model.generate_batch(requests, |_| {})?;
    let wall = start.elapsed().as_secs_f64();
    let (mut generated, mut prefill, mut sent, mut prefilled) = (0, 0.0, 0, 0);
    for result in results {
        let generation = result?;
        generated += generation.tokens.len();
        sent += generation.prompt_tokens;
        prefilled += generation.prefilled_tokens;
        prefill += generation.prefill_time.as_secs_f64();
    }
    let concurrent = generated as f64 / (wall - prefill);
    let decode = single.decode_tokens_per_s();
    Ok(BenchReport {
        model: name.to_string(),
        threads,
        prompt_tokens: spec.prompt_tokens,
        new_tokens: spec.new_tokens,
        concurrency: spec.concurrency,
        prefill_tokens_per_s: single.prefill_tokens_per_s(),
        decode_tokens_per_s: decode,
        concurrent_tokens_per_s: concurrent,
        concurrent_end_to_end_tokens_per_s: generated as f64 / wall,
        concurrent_prompt_tokens: sent,
        concurrent_prefilled_tokens: prefilled,
        candidates_cost,
        concurrency_gain: concurrent / decode,
        peak_rss_mb: crate::progress::peak_rss_mb(),
    })
}

impl BenchReport {
    pub fn table(&self) -> String {
        format!(
            "model {} ({} threads)\n\
             | measure | value |\n| --- | --- |\n\
             | prefill, {}-token prompt, batch 1 | {:.1} tok/s |\n\
             | decode, {} tokens, batch 1 | {:.1} tok/s |\n\
             | decode, {} concurrent requests (aggregate) | {:.1} tok/s |\n\
             | same, prefills included | {:.1} tok/s |\n\
             | prompt tokens of those requests: sent / prefilled | {} / {} |\n\
             | {} answers to the batch-1 prompt, wall over one answer's | {:.2}x |\n\
             | concurrency gain | {:.2}x |\n\
             | peak RSS | {:.0} MB |",
            self.model,
            self.threads,
            self.prompt_tokens,
            self.prefill_tokens_per_s,
            self.new_tokens,
            self.decode_tokens_per_s,
            self.concurrency,
            self.concurrent_tokens_per_s,
            self.concurrent_end_to_end_tokens_per_s,
            self.concurrent_prompt_tokens,
            self.concurrent_prefilled_tokens,
            CANDIDATES,
            self.candidates_cost,
            self.concurrency_gain,
            self.peak_rss_mb
        )
    }
}
