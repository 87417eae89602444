//! One model session and the forward passes the scheduler builds on:
//! a batch-1 prefill (from an empty cache or after a cached prefix) and a
//! batched one-token decode over a padded KV cache.

use std::borrow::Cow;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use ndarray::{s, Array4, Axis};
use ort::session::{Session, SessionInputValue};
use ort::value::{DynValue, PrimitiveTensorElementType, Tensor};

use super::config::{check_graph, KvType, ModelConfig};
use super::sampling::SamplingParams;
use super::text::TextCodec;

/// Where and how the session runs.
#[derive(Clone, Debug, Default)]
pub struct EngineOptions {
    /// Intra-op threads; `None` means one per available core.
    pub threads: Option<usize>,
    /// Run on CUDA (an error when the provider cannot be used).
    pub cuda: bool,
}

#[derive(Clone, Debug)]
pub struct GenerateParams {
    pub max_new_tokens: usize,
    /// Generation ends before the first occurrence of any of these strings.
    pub stop: Vec<String>,
    pub sampling: SamplingParams,
    /// Generation ends (with what it has) at this instant.
    pub deadline: Option<Instant>,
    /// Keep generating past end-of-sequence tokens (benchmarks need fixed lengths).
    pub ignore_eos: bool,
    /// Tokens whose probability as the first answer token is reported in
    /// [`Generation::first_token_probs`] (a yes/no check reads its answer there).
    pub scored: Vec<u32>,
}

impl Default for GenerateParams {
    fn default() -> Self {
        GenerateParams {
            max_new_tokens: 256,
            stop: Vec::new(),
            sampling: SamplingParams::default(),
            deadline: None,
            ignore_eos: false,
            scored: Vec::new(),
        }
    }
}

impl GenerateParams {
    pub fn greedy(max_new_tokens: usize) -> GenerateParams {
        GenerateParams { max_new_tokens, ..Default::default() }
    }
}

/// Why generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinishReason {
    Eos,
    StopString,
    MaxTokens,
    ContextFull,
    Cancelled,
    Deadline,
}

#[derive(Clone, Debug)]
pub struct Generation {
    pub tokens: Vec<u32>,
    pub text: String,
    pub prompt_tokens: usize,
    /// Prompt tokens this request ran through the model: fewer than
    /// `prompt_tokens` when a cached prefix (or a twin's prefill) was reused.
    pub prefilled_tokens: usize,
    pub prefill_time: Duration,
    pub decode_time: Duration,
    pub finish: FinishReason,
    /// The probability of each of [`GenerateParams::scored`] as the first answer token.
    pub first_token_probs: Vec<f32>,
}

impl Generation {
    pub fn prefill_tokens_per_s(&self) -> f64 {
        self.prefilled_tokens as f64 / self.prefill_time.as_secs_f64().max(1e-9)
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
    /// Graphs with a position_ids input (the Optimum layout, plain attention)
    /// append each new cache entry after the padded past; GroupQueryAttention
    /// graphs write it right after the row's own entries.
    position_ids: bool,
    past_names: Vec<String>,
    present_names: Vec<String>,
    /// Runs on a GPU (CUDA), where extra answers cost little.
    pub cuda: bool,
}

/// The KV cache of some sequences: 2 × layers tensors [rows, kv_heads, width, head_dim].
pub(crate) type KvCache = Vec<DynValue>;

impl Model {
    /// Loads a model folder. ONNX Runtime must be initialised first (`runtime::init`).
    pub fn load(dir: &Path, env: &ort::environment::Environment, options: &EngineOptions) -> Result<Model> {
        let config = ModelConfig::read(dir)?;
        let codec = TextCodec::load(dir)?;
        let threads =
            options.threads.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
        let ort_err = |e: ort::Error<ort::session::builder::SessionBuilder>| anyhow!("{e}");
        let mut builder = Session::builder(env)?.with_intra_threads(threads).map_err(ort_err)?;
        if options.cuda {
            builder = builder
                .with_execution_providers([ort::ep::CUDA::default().build().error_on_failure()])
                .map_err(|e| anyhow!("CUDA is not usable ({e}); run `precis setup --device cuda` on a machine with an NVIDIA GPU, or use --device cpu"))?;
        }
        let session = builder.commit_from_file(&config.onnx_file).map_err(|e| {
            anyhow!(
                "cannot load {} ({e}); the file is not a valid ONNX model for this runtime, fetch or convert it again",
                config.onnx_file.display()
            )
        })?;
        let kv_type = check_graph(&session, &config)?;
        let position_ids = session.inputs().iter().any(|i| i.name() == "position_ids");
        let past_names = (0..config.layers)
            .flat_map(|i| [format!("past_key_values.{i}.key"), format!("past_key_values.{i}.value")])
            .collect();
        let present_names =
            (0..config.layers).flat_map(|i| [format!("present.{i}.key"), format!("present.{i}.value")]).collect();
        Ok(Model { session, config, codec, kv_type, position_ids, past_names, present_names, cuda: options.cuda })
    }

    pub fn kv_type(&self) -> KvType {
        self.kv_type
    }

    /// Bytes of KV cache one token takes (keys and values of every layer).
    pub(crate) fn kv_bytes_per_token(&self) -> usize {
        let element = match self.kv_type {
            KvType::F32 => 4,
            KvType::F16 => 2,
        };
        2 * self.config.layers * self.config.kv_heads * self.config.head_dim * element
    }

    /// An empty KV cache for one sequence.
    pub(crate) fn empty_cache(&self) -> Result<KvCache> {
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

    /// One run: `ids` [rows, seq], mask [rows, width], positions [rows, seq]
    /// (used by graphs that take them), the past; returns the last
    /// position's logits per row and the present cache.
    fn run(
        &mut self,
        rows: usize,
        ids: Vec<i64>,
        mask: Vec<i64>,
        positions: Vec<i64>,
        past: KvCache,
    ) -> Result<(Vec<Vec<f32>>, KvCache)> {
        let seq = ids.len() / rows;
        let width = mask.len() / rows;
        let input_ids = Tensor::from_array(([rows, seq], ids))?;
        let mask = Tensor::from_array(([rows, width], mask))?;
        let mut inputs: Vec<(Cow<str>, SessionInputValue)> =
            vec![("input_ids".into(), input_ids.into()), ("attention_mask".into(), mask.into())];
        if self.position_ids {
            inputs.push(("position_ids".into(), Tensor::from_array(([rows, seq], positions))?.into()));
        }
        for (name, value) in self.past_names.iter().zip(past) {
            inputs.push((Cow::Borrowed(name.as_str()), value.into()));
        }
        let mut outputs = self.session.run(inputs).map_err(|e| anyhow!("model run failed: {e}"))?;
        let (shape, data) = outputs["logits"].try_extract_tensor::<f32>()?;
        let vocab = *shape.last().context("logits have no dimensions")? as usize;
        let per_row = data.len() / rows;
        let logits = (0..rows).map(|r| data[(r + 1) * per_row - vocab..(r + 1) * per_row].to_vec()).collect();
        let present = self
            .present_names
            .iter()
            .map(|n| outputs.remove(n).with_context(|| format!("model produced no {n}")))
            .collect::<Result<Vec<_>>>()?;
        Ok((logits, present))
    }

    /// Prefill of one sequence's next `ids` after `past`, its cache of the
    /// tokens before them (every entry valid; empty for a fresh prompt).
    pub(crate) fn prefill(&mut self, ids: &[u32], past: KvCache) -> Result<(Vec<f32>, KvCache)> {
        let start = cache_width(&past)?;
        let positions = (start as i64..(start + ids.len()) as i64).collect();
        let mask = vec![1; start + ids.len()];
        let (mut logits, present) = self.run(1, ids.iter().map(|&t| t as i64).collect(), mask, positions, past)?;
        Ok((logits.pop().expect("one row"), present))
    }

    /// One token for each row. `slots[r]` marks row r's entries in the
    /// padded `past` (1) and its padding (0). Returns the logits, the grown
    /// cache, and the slot where each row's new entry went.
    pub(crate) fn decode(
        &mut self,
        tokens: &[u32],
        slots: &[&[i64]],
        past: KvCache,
    ) -> Result<(Vec<Vec<f32>>, KvCache, Vec<usize>)> {
        let rows = tokens.len();
        let width = cache_width(&past)?;
        let mut mask = vec![0i64; rows * (width + 1)];
        let mut positions = Vec::with_capacity(rows);
        let mut written = Vec::with_capacity(rows);
        for (r, row_slots) in slots.iter().enumerate() {
            let len = row_slots.iter().sum::<i64>() as usize;
            let mask_row = &mut mask[r * (width + 1)..(r + 1) * (width + 1)];
            if self.position_ids {
                // Plain attention: the padding stays masked, the new entry goes last.
                mask_row[..width].copy_from_slice(row_slots);
                mask_row[width] = 1;
                written.push(width);
            } else {
                // GroupQueryAttention reads each row's length from its mask
                // (a prefix) and writes the new entry right after it.
                mask_row[..len + 1].fill(1);
                written.push(len);
            }
            positions.push(len as i64);
        }
        let (logits, present) = self.run(rows, tokens.iter().map(|&t| t as i64).collect(), mask, positions, past)?;
        Ok((logits, present, written))
    }

    /// Builds one padded cache from rows of other caches: `picks` are
    /// (source, row, slot mask); each row's valid entries are packed at the
    /// start of its new row, and the width is the largest count.
    pub(crate) fn gather(&self, sources: &[&KvCache], picks: &[(usize, usize, &[i64])]) -> Result<KvCache> {
        match self.kv_type {
            KvType::F32 => gather_typed::<f32>(sources, picks),
            KvType::F16 => gather_typed::<half::f16>(sources, picks),
        }
    }

    /// The next-token logits after `ids`, computed from scratch (no cache).
    pub fn last_logits(&mut self, ids: &[u32]) -> Result<Vec<f32>> {
        if ids.is_empty() || ids.len() > self.config.context_length {
            bail!("{} tokens do not fit the model's context of {}", ids.len(), self.config.context_length);
        }
        let empty = self.empty_cache()?;
        Ok(self.prefill(ids, empty)?.0)
    }
}

pub(crate) fn cache_width(cache: &KvCache) -> Result<usize> {
    let shape = cache.first().context("empty KV cache")?.shape();
    Ok(shape[2] as usize)
}

fn gather_typed<T: PrimitiveTensorElementType + Clone + Default + std::fmt::Debug + 'static>(
    sources: &[&KvCache],
    picks: &[(usize, usize, &[i64])],
) -> Result<KvCache> {
    let kept: Vec<Vec<usize>> =
        picks.iter().map(|p| p.2.iter().enumerate().filter(|(_, &m)| m == 1).map(|(i, _)| i).collect()).collect();
    let width = kept.iter().map(Vec::len).max().unwrap_or(0);
    let Some(first_source) = sources.first() else { return Ok(Vec::new()) };
    let mut out = Vec::with_capacity(first_source.len());
    for (t, tensor) in first_source.iter().enumerate() {
        let first = tensor.try_extract_array::<T>()?;
        let (heads, dim) = (first.shape()[1], first.shape()[3]);
        let mut merged = Array4::<T>::default((picks.len(), heads, width, dim));
        for (i, (&(source, row, _), slots)) in picks.iter().zip(&kept).enumerate() {
            let view = sources[source][t].try_extract_array::<T>()?;
            let view = view.into_dimensionality::<ndarray::Ix4>()?;
            let entries = view.index_axis(Axis(0), row).select(Axis(1), slots);
            merged.slice_mut(s![i, .., ..slots.len(), ..]).assign(&entries);
        }
        out.push(Tensor::from_array(merged)?.into_dyn());
    }
    Ok(out)
}
