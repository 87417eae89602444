//! The LLM engine: an ONNX decoder model run through ONNX Runtime with a KV cache.

mod config;
mod engine;
mod text;

pub use config::{KvType, ModelConfig};
pub use engine::{argmax, EngineOptions, FinishReason, GenerateParams, Generation, Model};
pub use text::{Message, TextCodec};
