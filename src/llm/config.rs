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
    /// Reads `genai_config.json` (the onnxruntime-genai layout).
    pub fn read(dir: &Path) -> Result<ModelConfig> {
        if !dir.is_dir() {
            bail!("model folder {} does not exist; run `precis model fetch` or pass a model folder", dir.display());
        }
        let path = dir.join("genai_config.json");
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "model folder {} lacks genai_config.json; use a folder made by `precis model fetch` or the onnxruntime-genai builder",
                dir.display()
            )
        })?;
        let json: Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not valid JSON; rebuild the model folder", path.display()))?;
        let model = &json["model"];
        let decoder = &model["decoder"];
        let field = |v: &Value, name: &str| -> Result<usize> {
            v[name].as_u64().map(|n| n as usize).with_context(|| {
                format!("{} lacks a numeric {name}; rebuild the model folder", path.display())
            })
        };
        let eos = match &model["eos_token_id"] {
            Value::Array(ids) => ids.iter().filter_map(Value::as_u64).map(|n| n as u32).collect(),
            Value::Number(n) => n.as_u64().map(|n| vec![n as u32]).unwrap_or_default(),
            _ => Vec::new(),
        };
        if eos.is_empty() {
            bail!("{} names no eos_token_id; rebuild the model folder", path.display());
        }
        let filename = decoder["filename"].as_str().unwrap_or("model.onnx");
        let onnx_file = dir.join(filename);
        if !onnx_file.is_file() {
            bail!("model folder {} lacks {filename}; the folder is incomplete, fetch or convert it again", dir.display());
        }
        Ok(ModelConfig {
            onnx_file,
            layers: field(decoder, "num_hidden_layers")?,
            kv_heads: field(decoder, "num_key_value_heads")?,
            head_dim: field(decoder, "head_size")?,
            vocab_size: field(model, "vocab_size")?,
            context_length: field(model, "context_length")?,
            eos_token_ids: eos,
        })
    }
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
            if shape.len() != 4 || (shape[1] > 0 && shape[1] as usize != config.kv_heads) || (shape[3] > 0 && shape[3] as usize != config.head_dim) {
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
