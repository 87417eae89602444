//! The engine behind the [`LanguageModel`] seam: chat prompts rendered with
//! the model's own template, answered by the batching scheduler.

use anyhow::{Context, Result};

use super::engine::{FinishReason, GenerateParams, Model};
use super::sampling::SamplingParams;
use super::scheduler::Scheduler;
use super::text::{Message, TextCodec};
use crate::language_model::{Completion, LanguageModel, Prompt};

/// A loaded model on its scheduler thread, serving many prompts at once.
pub struct Served {
    scheduler: Scheduler,
    codec: TextCodec,
    id: String,
    context_length: usize,
    parallel: usize,
    accelerated: bool,
}

impl Served {
    /// `id` names the model's answers in the summary cache; `parallel` rows decode together.
    pub fn new(model: Model, id: String, parallel: usize) -> Served {
        let codec = model.codec.clone();
        let context_length = model.config.context_length;
        let parallel = parallel.max(1);
        let accelerated = model.cuda;
        Served { scheduler: Scheduler::start(model, parallel), codec, id, context_length, parallel, accelerated }
    }

    /// The prompt as the model reads it. Message text is untrusted (it holds
    /// diffs): special tokens written in it are broken up first, so a diff
    /// cannot close the user's turn and speak as the system.
    fn render(&self, system: &str, user: &str) -> Result<String> {
        let system = self.codec.neutralise_special(system);
        let user = self.codec.neutralise_special(user);
        self.codec.render_chat(&[Message::new("system", &system), Message::new("user", &user)])
    }
}

impl LanguageModel for Served {
    fn id(&self) -> &str {
        &self.id
    }

    fn context_length(&self) -> usize {
        self.context_length
    }

    fn parallel(&self) -> usize {
        self.parallel
    }

    fn accelerated(&self) -> bool {
        self.accelerated
    }

    fn count(&self, text: &str) -> Result<usize> {
        Ok(self.codec.encode(&self.codec.neutralise_special(text))?.len())
    }

    fn prompt_tokens(&self, system: &str, user: &str) -> Result<usize> {
        Ok(self.codec.encode(&self.render(system, user)?)?.len())
    }

    fn complete(&self, prompts: &[Prompt]) -> Vec<Result<Completion>> {
        // Submit all first: the scheduler batches them.
        let pending: Vec<_> = prompts
            .iter()
            .map(|prompt| {
                let mut text = self.render(&prompt.system, &prompt.user)?;
                if let Some(prefix) = &prompt.answer_prefix {
                    text.push_str(prefix);
                }
                let ids = self.codec.encode(&text)?;
                // A choice is scored by its first token.
                let scored = prompt
                    .choices
                    .iter()
                    .map(|choice| self.codec.encode(choice)?.first().copied().context("an empty choice"))
                    .collect::<Result<Vec<u32>>>()?;
                let params = GenerateParams {
                    scored,
                    max_new_tokens: prompt.max_tokens,
                    stop: prompt.stop.clone(),
                    sampling: SamplingParams {
                        temperature: prompt.temperature,
                        seed: prompt.seed,
                        ..SamplingParams::default()
                    },
                    deadline: prompt.deadline,
                    ..GenerateParams::default()
                };
                Ok((ids.len(), self.scheduler.submit(ids, params)))
            })
            .collect::<Vec<Result<_>>>();
        pending
            .into_iter()
            .map(|submitted| {
                let (tokens_in, pending) = submitted?;
                let generation = pending.wait()?;
                Ok(Completion {
                    text: generation.text,
                    tokens_in,
                    tokens_prefilled: generation.prefilled_tokens,
                    tokens_out: generation.tokens.len(),
                    capped: matches!(
                        generation.finish,
                        FinishReason::MaxTokens | FinishReason::ContextFull | FinishReason::Deadline
                    ),
                    prefill: generation.prefill_time,
                    busy: generation.prefill_time + generation.decode_time,
                    choice_probs: generation.first_token_probs,
                })
            })
            .collect()
    }
}
