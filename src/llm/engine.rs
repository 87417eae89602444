//! One model session: prefill, then decode token by token with the KV cache.

use std::borrow::Cow;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use ort::session::{Session, SessionInputValue};
use ort::value::{DynValue, Tensor};

use super::config::{check_graph, KvType, ModelConfig};
use super::text::TextCodec;

/// Where and how the session runs.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// Intra-op threads; `None` means one per available core.
    pub threads: Option<usize>,
    /// Run on CUDA (an error when the provider cannot be used).
    pub cuda: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions { threads: None, cuda: false }
    }
}

#[derive(Clone, Debug)]
pub struct GenerateParams {
    pub max_new_tokens: usize,
    /// Generation ends before the first occurrence of any of these strings.
    pub stop: Vec<String>,
}

impl Default for GenerateParams {
    fn default() -> Self {
        GenerateParams { max_new_tokens: 256, stop: Vec::new() }
    }
}

/// Why generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinishReason {
    Eos,
    StopString,
    MaxTokens,
    ContextFull,
}

#[derive(Clone, Debug)]
pub struct Generation {
    pub tokens: Vec<u32>,
    pub text: String,
    pub prompt_tokens: usize,
    pub prefill_time: Duration,
    pub decode_time: Duration,
    pub finish: FinishReason,
}

impl Generation {
    pub fn prefill_tokens_per_s(&self) -> f64 {
        self.prompt_tokens as f64 / self.prefill_time.as_secs_f64().max(1e-9)
    }

    /// Decode speed over the tokens after the first (which prefill produced).
    pub fn decode_tokens_per_s(&self) -> f64 {
        let steps = self.tokens.len().saturating_sub(1);
        steps as f64 / self.decode_time.as_secs_f64().max(1e-9)
    }
}

pub struct Model {
    session: Session,
    pub config: ModelConfig,
    pub codec: TextCodec,
    kv_type: KvType,
    past_names: Vec<String>,
    present_names: Vec<String>,
}

impl Model {
    /// Loads a model folder. ONNX Runtime must be initialised first (`runtime::init`).
    pub fn load(dir: &Path, env: &ort::environment::Environment, options: &EngineOptions) -> Result<Model> {
        let config = ModelConfig::read(dir)?;
        let codec = TextCodec::load(dir)?;
        let threads = options
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
        let ort_err = |e: ort::Error<ort::session::builder::SessionBuilder>| anyhow!("{e}");
        let mut builder = Session::builder(env)?.with_intra_threads(threads).map_err(ort_err)?;
        if options.cuda {
            builder = builder
                .with_execution_providers([ort::ep::CUDA::default().build().error_on_failure()])
                .map_err(|e| anyhow!("CUDA is not usable ({e}); run `precis setup --device cuda` on a machine with an NVIDIA GPU, or use --device cpu"))?;
        }
        let session = builder.commit_from_file(&config.onnx_file).map_err(|e| {
            anyhow!("cannot load {} ({e}); the file is not a valid ONNX model for this runtime, fetch or convert it again", config.onnx_file.display())
        })?;
        let kv_type = check_graph(&session, &config)?;
        let past_names = (0..config.layers)
            .flat_map(|i| [format!("past_key_values.{i}.key"), format!("past_key_values.{i}.value")])
            .collect();
        let present_names = (0..config.layers)
            .flat_map(|i| [format!("present.{i}.key"), format!("present.{i}.value")])
            .collect();
        Ok(Model { session, config, codec, kv_type, past_names, present_names })
    }

    pub fn kv_type(&self) -> KvType {
        self.kv_type
    }

    /// An empty KV cache for one sequence.
    fn empty_cache(&self) -> Result<Vec<DynValue>> {
        let shape = [1usize, self.config.kv_heads, 0, self.config.head_dim];
        (0..2 * self.config.layers)
            .map(|_| -> Result<DynValue> {
                Ok(match self.kv_type {
                    KvType::F32 => Tensor::<f32>::from_array((shape, Vec::<f32>::new()))?.into_dyn(),
                    KvType::F16 => Tensor::<half::f16>::from_array((shape, Vec::<half::f16>::new()))?.into_dyn(),
                })
            })
            .collect()
    }

    /// Runs `ids` after `past` (of length `total - ids.len()`); returns the
    /// last position's logits and the grown cache.
    fn forward(&mut self, ids: &[u32], total: usize, past: Vec<DynValue>) -> Result<(Vec<f32>, Vec<DynValue>)> {
        let input_ids = Tensor::from_array(([1usize, ids.len()], ids.iter().map(|&t| t as i64).collect::<Vec<_>>()))?;
        let mask = Tensor::from_array(([1usize, total], vec![1i64; total]))?;
        let mut inputs: Vec<(Cow<str>, SessionInputValue)> =
            vec![("input_ids".into(), input_ids.into()), ("attention_mask".into(), mask.into())];
        for (name, value) in self.past_names.iter().zip(past) {
            inputs.push((Cow::Borrowed(name.as_str()), value.into()));
        }
        let mut outputs = self.session.run(inputs).map_err(|e| anyhow!("model run failed: {e}"))?;
        let (shape, data) = outputs["logits"].try_extract_tensor::<f32>()?;
        let vocab = *shape.last().context("logits have no dimensions")? as usize;
        let last = data[data.len() - vocab..].to_vec();
        let present = self
            .present_names
            .iter()
            .map(|n| outputs.remove(n).with_context(|| format!("model produced no {n}")))
            .collect::<Result<Vec<_>>>()?;
        Ok((last, present))
    }

    /// The next-token logits after `ids`, computed from scratch (no cache).
    pub fn last_logits(&mut self, ids: &[u32]) -> Result<Vec<f32>> {
        if ids.is_empty() || ids.len() > self.config.context_length {
            bail!("{} tokens do not fit the model's context of {}", ids.len(), self.config.context_length);
        }
        let cache = self.empty_cache()?;
        Ok(self.forward(ids, ids.len(), cache)?.0)
    }

    /// Greedy generation after `prompt`. `on_text` receives the completion's
    /// text as it grows, in pieces that are whole UTF-8.
    pub fn generate(&mut self, prompt: &[u32], params: &GenerateParams, mut on_text: impl FnMut(&str)) -> Result<Generation> {
        let context = self.config.context_length;
        if prompt.is_empty() {
            bail!("the prompt is empty; give some text to complete");
        }
        if prompt.len() >= context {
            bail!(
                "the prompt is {} tokens but the model's context holds {context}; shorten the prompt",
                prompt.len()
            );
        }
        let start = Instant::now();
        let cache = self.empty_cache()?;
        let (mut logits, mut cache) = self.forward(prompt, prompt.len(), cache)?;
        let prefill_time = start.elapsed();
        let decode_start = Instant::now();
        let mut tokens: Vec<u32> = Vec::new();
        let mut emitted = 0usize;
        let mut text = String::new();
        let finish = loop {
            let next = argmax(&logits);
            if self.config.eos_token_ids.contains(&next) {
                break FinishReason::Eos;
            }
            tokens.push(next);
            text = self.codec.decode(&tokens)?;
            if let Some(cut) = params.stop.iter().filter_map(|s| text.find(s.as_str())).min() {
                text.truncate(cut);
                if cut > emitted {
                    on_text(&text[emitted..]);
                }
                break FinishReason::StopString;
            }
            // Hold back a trailing partial UTF-8 sequence (decoded as U+FFFD) and
            // anything that could still become a stop string.
            let stable = stable_prefix(&text, &params.stop);
            if stable > emitted {
                on_text(&text[emitted..stable]);
                emitted = stable;
            }
            if tokens.len() >= params.max_new_tokens {
                break FinishReason::MaxTokens;
            }
            let total = prompt.len() + tokens.len();
            if total >= context {
                break FinishReason::ContextFull;
            }
            let (l, c) = self.forward(&[next], total, cache)?;
            logits = l;
            cache = c;
        };
        if finish != FinishReason::StopString && text.len() > emitted {
            on_text(&text[emitted..]);
        }
        Ok(Generation {
            tokens,
            text,
            prompt_tokens: prompt.len(),
            prefill_time,
            decode_time: decode_start.elapsed(),
            finish,
        })
    }
}

pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0usize;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] {
            best = i;
        }
    }
    best as u32
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
