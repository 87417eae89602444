//! What the engine needs to know about a model folder, read from its files
//! and checked against the ONNX graph's own inputs and outputs.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// The element type of the KV cache tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvType {
    F32,
    F16,
}

#[derive(Clone, Debug)]
pub struct ModelConfig {
    pub onnx_file: std::path::PathBuf,
    pub layers: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub vocab_size: usize,
    pub context_length: usize,
    pub eos_token_ids: Vec<u32>,
}

impl ModelConfig {
    /// Reads a model folder: the onnxruntime-genai layout (`genai_config.json`)
    /// or the Optimum / transformers.js layout (`config.json` + `onnx/model*.onnx`).
    pub fn read(dir: &Path) -> Result<ModelConfig> {
        if !dir.is_dir() {
            bail!("model folder {} does not exist; run `precis model fetch` or pass a model folder", dir.display());
        }
        if dir.join("genai_config.json").is_file() {
            Self::read_genai(dir)
        } else if dir.join("config.json").is_file() {
            Self::read_optimum(dir)
        } else {
            bail!(
                "model folder {} lacks genai_config.json (or config.json with onnx/model.onnx); use a folder made by `precis model fetch`, the onnxruntime-genai builder or Optimum",
                dir.display()
            )
        }
    }

    fn read_genai(dir: &Path) -> Result<ModelConfig> {
        let path = dir.join("genai_config.json");
        let json = read_json(&path)?;
        let model = &json["model"];
        let decoder = &model["decoder"];
        let filename = decoder["filename"].as_str().unwrap_or("model.onnx");
        let onnx_file = dir.join(filename);
        if !onnx_file.is_file() {
            bail!(
                "model folder {} lacks {filename}; the folder is incomplete, fetch or convert it again",
                dir.display()
            );
        }
        Ok(ModelConfig {
            onnx_file: prefer_last_logits(onnx_file),
            layers: number(&path, decoder, "num_hidden_layers")?,
            kv_heads: number(&path, decoder, "num_key_value_heads")?,
            head_dim: number(&path, decoder, "head_size")?,
            vocab_size: number(&path, model, "vocab_size")?,
            context_length: number(&path, model, "context_length")?,
            eos_token_ids: token_ids(&path, &model["eos_token_id"])?,
        })
    }

    fn read_optimum(dir: &Path) -> Result<ModelConfig> {
        let path = dir.join("config.json");
        let config = read_json(&path)?;
        // Prefer the full-precision export, then the quantized variants.
        let onnx_dir = dir.join("onnx");
        let onnx_file = ["model.onnx", "model_q4.onnx", "model_quantized.onnx", "model_int8.onnx", "model_fp16.onnx"]
            .iter()
            .map(|name| onnx_dir.join(name))
            .find(|p| p.is_file())
            .with_context(|| {
                format!(
                    "model folder {} has config.json but no onnx/model*.onnx; the folder is incomplete",
                    dir.display()
                )
            })?;
        let heads = number(&path, &config, "num_attention_heads")?;
        let head_dim = match config["head_dim"].as_u64() {
            Some(n) => n as usize,
            None => number(&path, &config, "hidden_size")? / heads.max(1),
        };
        // generation_config.json's eos ids take precedence, as in transformers.
        let generation = read_json(&dir.join("generation_config.json")).ok();
        let eos = match generation.as_ref().map(|g| &g["eos_token_id"]).filter(|v| !v.is_null()) {
            Some(ids) => token_ids(&path, ids)?,
            None => token_ids(&path, &config["eos_token_id"])?,
        };
        Ok(ModelConfig {
            onnx_file: prefer_last_logits(onnx_file),
            layers: number(&path, &config, "num_hidden_layers")?,
            kv_heads: config["num_key_value_heads"].as_u64().map(|n| n as usize).unwrap_or(heads),
            head_dim,
            vocab_size: number(&path, &config, "vocab_size")?,
            context_length: number(&path, &config, "max_position_embeddings")?,
            eos_token_ids: eos,
        })
    }
}

/// Folders converted by precis carry, beside the decoder, a variant with
/// logits for the last position only (prefill ~30% faster, no
/// [sequence, vocabulary] buffer); the engine needs no more than that.
const LAST_LOGITS_FILE: &str = "model_last_logits.onnx";

fn prefer_last_logits(onnx_file: std::path::PathBuf) -> std::path::PathBuf {
    let variant = onnx_file.with_file_name(LAST_LOGITS_FILE);
    if onnx_file.file_name().is_some_and(|n| n == "model.onnx") && variant.is_file() {
        variant
    } else {
        onnx_file
    }
}

fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON; rebuild the model folder", path.display()))
}

fn number(path: &Path, v: &Value, name: &str) -> Result<usize> {
    v[name]
        .as_u64()
        .map(|n| n as usize)
        .with_context(|| format!("{} lacks a numeric {name}; rebuild the model folder", path.display()))
}

fn token_ids(path: &Path, v: &Value) -> Result<Vec<u32>> {
    let ids: Vec<u32> = match v {
        Value::Array(ids) => ids.iter().filter_map(Value::as_u64).map(|n| n as u32).collect(),
        Value::Number(n) => n.as_u64().map(|n| vec![n as u32]).unwrap_or_default(),
        _ => Vec::new(),
    };
    if ids.is_empty() {
        bail!("{} names no eos_token_id; rebuild the model folder", path.display());
    }
    Ok(ids)
}

/// Checks that a session is a decoder LLM with the KV-cache interface this
/// config describes; returns the cache's element type.
pub fn check_graph(session: &ort::session::Session, config: &ModelConfig) -> Result<KvType> {
    let inputs: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
    let outputs: Vec<&str> = session.outputs().iter().map(|o| o.name()).collect();
    let file = config.onnx_file.display();
    for needed in ["input_ids", "attention_mask"] {
        if !inputs.contains(&needed) {
            bail!("{file} is not a decoder LLM: it has no {needed} input (inputs: {})", inputs.join(", "));
        }
    }
    if !outputs.contains(&"logits") {
        bail!("{file} is not a decoder LLM: it has no logits output (outputs: {})", outputs.join(", "));
    }
    let past_inputs = inputs.iter().filter(|n| n.starts_with("past_key_values.")).count();
    if past_inputs != 2 * config.layers {
        bail!(
            "{file} has {past_inputs} past_key_values inputs but genai_config.json says {} layers; the folder's files do not belong together",
            config.layers
        );
    }
    let first = session
        .inputs()
        .iter()
        .find(|i| i.name() == "past_key_values.0.key")
        .context("no past_key_values.0.key input")?;
    let kv = match first.dtype() {
        ort::value::ValueType::Tensor { ty, shape, .. } => {
            if shape.len() != 4
                || (shape[1] > 0 && shape[1] as usize != config.kv_heads)
                || (shape[3] > 0 && shape[3] as usize != config.head_dim)
            {
                bail!(
                    "{file}: past_key_values.0.key has shape {shape:?}, expected [batch, {}, past, {}]; the folder's files do not belong together",
                    config.kv_heads,
                    config.head_dim
                );
            }
            match ty {
                ort::value::TensorElementType::Float32 => KvType::F32,
                ort::value::TensorElementType::Float16 => KvType::F16,
                other => bail!("{file}: KV cache of type {other:?} is not supported (float32 or float16)"),
            }
        }
        other => bail!("{file}: past_key_values.0.key is not a tensor ({other:?})"),
    };
    Ok(kv)
}
