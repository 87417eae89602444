//! The LLM engine: an ONNX decoder model run through ONNX Runtime with a KV
//! cache and continuous batching. Dependencies point down:
//! served (the [`crate::language_model`] seam) → scheduler → batch → engine.

mod batch;
pub mod bench;
mod config;
mod engine;
mod sampling;
mod scheduler;
mod served;
mod text;

pub use batch::{Batch, Request};
pub use config::{KvType, ModelConfig};
pub use engine::{EngineOptions, FinishReason, GenerateParams, Generation, Model};
pub use sampling::{argmax, Sampler, SamplingParams};
pub use scheduler::{Pending, Scheduler, Streamed};
pub use served::Served;
pub use text::{Message, TextCodec};
