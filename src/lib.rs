//! precis: pull-request and codebase summaries from a real LLM running
//! in-process on ONNX Runtime.
//!
//! Data flows one way, one module per stage:
//!
//! - [`github`]: typed webhook payloads, the REST client, the publication
//!   (sticky comment + check run). Knows nothing of jobs or models.
//! - [`app`]: the GitHub App (`precis serve`): HTTP intake, routing of events
//!   to jobs, the durable queue, workers, the repository cache.
//! - [`action`]: the same as one GitHub Actions step.
//! - [`pipeline`]: change → selection → chunks → map-reduce → [`pipeline::Summary`]
//!   → Markdown/JSON. The one summarize path of the CLI, the App and the Action.
//! - [`language_model`]: the seam between the pipeline and a model (submit
//!   prompts, get answers, count tokens), with a deterministic fake for tests.
//! - [`llm`]: the ONNX Runtime engine (scheduler → batch → engine).
//! - [`provision`]: the cache, registry packages, the runtime library, models,
//!   and the device policy that turns a model setting into a loaded model.
//! - `cli` (in the binary): clap only.

pub mod action;
pub mod app;
pub mod github;
pub mod language_model;
pub mod llm;
pub mod pipeline;
pub mod progress;
pub mod provision;
pub mod publication;
