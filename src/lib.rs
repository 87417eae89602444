//! precis: pull-request and codebase summaries from a real LLM running
//! in-process on ONNX Runtime.
//!
//! Stages, each behind a small interface: `cache` (the on-disk cache),
//! `pip` (registry packages), `runtime` (the ONNX Runtime library),
//! `models` (registry, fetch, GGUF → ONNX conversion), `llm` (the engine).

pub mod bench;
pub mod cache;
pub mod llm;
pub mod models;
pub mod pip;
pub mod progress;
pub mod runtime;
