//! The seam between the summarizer and a model: submit prompts, get
//! answers, count tokens. The ONNX Runtime engine implements it
//! ([`crate::llm::Served`]); `Fake` (tests only, the `fake-model` feature)
//! is a deterministic stand-in that lets the App, the Action and the
//! pipeline be tested without a model.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;

/// One prompt: a system and a user message, and how to answer.
#[derive(Clone, Debug)]
pub struct Prompt {
    pub system: String,
    pub user: String,
    pub max_tokens: usize,
    /// 0: greedy; a retry samples a little (temperature > 0, seeded).
    pub temperature: f32,
    pub seed: u64,
    /// The answer ends before any of these strings.
    pub stop: Vec<String>,
    /// The start of the answer, written for the model (it goes on from
    /// there); not part of the completion's text.
    pub answer_prefix: Option<String>,
    /// The answer ends (with what it has) at this instant.
    pub deadline: Option<std::time::Instant>,
    /// Words whose probability as the answer's first token is reported in
    /// [`Completion::choice_probs`] (a yes/no question read from one forward pass).
    pub choices: Vec<String>,
}

impl Prompt {
    pub fn greedy(system: &str, user: &str, max_tokens: usize) -> Prompt {
        Prompt {
            system: system.into(),
            user: user.into(),
            max_tokens,
            temperature: 0.0,
            seed: 0,
            stop: Vec::new(),
            answer_prefix: None,
            deadline: None,
            choices: Vec::new(),
        }
    }
}

/// A model's answer to one prompt.
#[derive(Clone, Debug, Default)]
pub struct Completion {
    pub text: String,
    pub tokens_in: usize,
    /// Prompt tokens the model ran to answer (fewer than `tokens_in` where
    /// it reused what it had read for another prompt).
    pub tokens_prefilled: usize,
    pub tokens_out: usize,
    /// The answer stopped at its token cap, not at its end.
    pub capped: bool,
    /// Time spent on the prompt, and in all (prompt and answer).
    pub prefill: Duration,
    pub busy: Duration,
    /// For each of [`Prompt::choices`], its probability as the first answer token.
    pub choice_probs: Vec<f32>,
}

/// A model serving many prompts at once.
pub trait LanguageModel: Send + Sync {
    /// Identifies the model's answers in the summary cache (name and a hash
    /// of its configuration and weights).
    fn id(&self) -> &str;
    /// The most tokens a prompt and its answer may take together.
    fn context_length(&self) -> usize;
    /// Prompts worked on at once.
    fn parallel(&self) -> usize;
    /// Runs on an accelerator (a GPU), where more answers per prompt cost little.
    fn accelerated(&self) -> bool {
        false
    }
    /// Tokens of `text` in the model's vocabulary.
    fn count(&self, text: &str) -> Result<usize>;
    /// Tokens of a prompt as the model sees it (with its chat template).
    fn prompt_tokens(&self, system: &str, user: &str) -> Result<usize>;
    /// Answers every prompt, concurrently where the model can; one result per prompt, in order.
    fn complete(&self, prompts: &[Prompt]) -> Vec<Result<Completion>>;
}

/// Where the pipeline gets the model a setting names (`model:` in the
/// repository's settings, `--model`), or the default one for `None`.
pub trait ModelSource: Send + Sync {
    fn model(&self, name: Option<&str>) -> Result<Arc<dyn LanguageModel>>;
}

#[cfg(any(test, feature = "fake-model"))]
mod fake;
#[cfg(any(test, feature = "fake-model"))]
pub use fake::{Fake, FakeSource};
