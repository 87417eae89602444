//! precis: pull-request and codebase summaries from a real LLM running
//! in-process on ONNX Runtime.
//!
//! Stages, each behind a small interface: `cache` (the on-disk cache),
//! `pip` (registry packages), `runtime` (the ONNX Runtime library),
//! `models` (registry, fetch, GGUF → ONNX conversion), `llm` (the engine).
//! Summaries flow one way: `change` (a directory, git range or patch) →
//! `select` (what is worth summarizing, per `repo_config`) → `chunk` →
//! `summarize` (map-reduce over the engine) → `report` (Markdown, JSON).

pub mod action;
pub mod bench;
pub mod cache;
pub mod change;
pub mod chunk;
pub mod fetch;
pub mod github;
pub mod llm;
pub mod models;
pub mod pipeline;
pub mod pip;
pub mod progress;
pub mod queue;
pub mod repo_config;
pub mod report;
pub mod runtime;
pub mod select;
pub mod server;
pub mod summarize;
