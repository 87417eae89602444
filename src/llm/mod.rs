//! The LLM engine: an ONNX decoder model run through ONNX Runtime with a KV
//! cache and continuous batching.

mod batch;
mod config;
mod engine;
mod sampling;
mod scheduler;
mod text;

pub use batch::{Batch, Request};
pub use config::{KvType, ModelConfig};
pub use engine::{EngineOptions, FinishReason, GenerateParams, Generation, Model};
pub use sampling::{argmax, Sampler, SamplingParams};
pub use scheduler::{Event, Pending, Scheduler};
pub use text::{Message, TextCodec};
