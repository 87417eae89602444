//! The deterministic stand-in for a model, for tests and examples only: the
//! product is built without it (the `fake-model` feature, which the test
//! targets turn on through the crate's dev-dependency on itself).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;

use super::*;

/// A deterministic model for tests: no weights, no runtime. It answers
/// every prompt with one sentence naming the first backticked name of the
/// prompt (and, when told to, a greedy answer opens with a sentence naming
/// something the prompt does not have; sampled answers do not); tokens are
/// whitespace-separated words. It can keep the prompts it
/// was given, for tests of what reaches the model, and be given replies:
/// a prompt holding a reply's marker gets that reply instead. Asked to
/// choose (`choices`), it says no to the `Note:` line of the prompt when a
/// backticked name in it is only on removed (`-`) lines, and yes otherwise.
pub struct Fake {
    id: String,
    log: Arc<Mutex<Vec<Prompt>>>,
    invent: Option<String>,
    delay: Duration,
    accelerated: bool,
    replies: Vec<(String, String)>,
}

impl Fake {
    pub fn new(name: &str) -> Fake {
        Fake {
            id: format!("{name}@fake"),
            log: Arc::default(),
            invent: None,
            delay: Duration::ZERO,
            accelerated: false,
            replies: Vec::new(),
        }
    }

    fn choose(&self, prompt: &Prompt) -> Vec<f32> {
        let note = prompt.user.lines().rev().find_map(|l| l.strip_prefix("Note: ")).unwrap_or("");
        let side = |sign: char| prompt.user.lines().filter(|l| l.starts_with(sign)).collect::<Vec<_>>().join("\n");
        let (added, removed) = (side('+'), side('-'));
        let supported = note.split('`').skip(1).step_by(2).all(|name| added.contains(name) || !removed.contains(name));
        let yes = if supported { 0.9 } else { 0.1 };
        prompt.choices.iter().map(|c| if c.eq_ignore_ascii_case("yes") { yes } else { 1.0 - yes }).collect()
    }

    fn answer(&self, prompt: &Prompt) -> String {
        if let Some((_, reply)) = self.replies.iter().find(|(marker, _)| prompt.user.contains(marker.as_str())) {
            return reply.clone();
        }
        let first_name = prompt.user.split('`').nth(1).filter(|n| !n.is_empty() && !n.contains('\n'));
        let subject = first_name.map(|n| format!("`{n}`")).unwrap_or_else(|| "the input".into());
        if prompt.answer_prefix.is_some() {
            format!("Update {}", subject.trim_matches('`'))
        } else {
            let invented = self
                .invent
                .as_ref()
                .filter(|_| prompt.temperature == 0.0)
                .map(|name| format!("It rewrites `{name}` entirely. "))
                .unwrap_or_default();
            format!("{invented}Changes {subject} in a small, self-contained way.")
        }
    }
}

/// A [`ModelSource`] of fakes: each name gets its own fake (so a test can see
/// which model a setting chose); `None` gets `default`. All keep their
/// prompts in `log`.
#[derive(Default)]
pub struct FakeSource {
    pub default: String,
    pub log: Arc<Mutex<Vec<Prompt>>>,
    /// A name every chunk answer also claims to change (for tests of the grounding gate).
    pub invent: Option<String>,
    /// Time each batch of prompts takes, as a real model's would (queue benchmarks and replica tests).
    pub delay: Duration,
    /// Claims to run on a GPU (for tests of what `quality: auto` picks there).
    pub accelerated: bool,
    /// (marker, reply): a prompt whose user message holds the marker is
    /// answered with the reply, greedy or sampled (for tests of what the gate
    /// does with what a real model writes).
    pub replies: Vec<(String, String)>,
}

impl FakeSource {
    pub fn new(default: &str) -> FakeSource {
        FakeSource { default: default.into(), ..FakeSource::default() }
    }

    /// Every prompt's user message so far.
    pub fn prompts(&self) -> Vec<String> {
        self.log.lock().map(|log| log.iter().map(|p| p.user.clone()).collect()).unwrap_or_default()
    }
}

impl ModelSource for FakeSource {
    fn model(&self, name: Option<&str>) -> Result<Arc<dyn LanguageModel>> {
        let name = name.unwrap_or(&self.default);
        Ok(Arc::new(Fake {
            id: format!("{name}@fake"),
            log: self.log.clone(),
            invent: self.invent.clone(),
            delay: self.delay,
            accelerated: self.accelerated,
            replies: self.replies.clone(),
        }))
    }
}

impl LanguageModel for Fake {
    fn id(&self) -> &str {
        &self.id
    }

    fn context_length(&self) -> usize {
        32_768
    }

    fn parallel(&self) -> usize {
        4
    }

    fn accelerated(&self) -> bool {
        self.accelerated
    }

    fn count(&self, text: &str) -> Result<usize> {
        Ok(text.split_whitespace().count())
    }

    fn prompt_tokens(&self, system: &str, user: &str) -> Result<usize> {
        Ok(self.count(system)? + self.count(user)? + 8)
    }

    fn complete(&self, prompts: &[Prompt]) -> Vec<Result<Completion>> {
        std::thread::sleep(self.delay);
        if let Ok(mut log) = self.log.lock() {
            log.extend(prompts.iter().cloned());
        }
        prompts
            .iter()
            .map(|prompt| {
                let text = self.answer(prompt);
                let tokens_in = self.prompt_tokens(&prompt.system, &prompt.user)?;
                Ok(Completion {
                    choice_probs: self.choose(prompt),
                    tokens_in,
                    tokens_prefilled: tokens_in,
                    tokens_out: self.count(&text)?,
                    text,
                    ..Completion::default()
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::language_model::LanguageModel;

    #[test]
    fn the_fake_is_deterministic_and_names_what_the_prompt_names() {
        let fake = Fake::new("m");
        let prompt = Prompt::greedy("sys", "Summarize the change to `src/lib.rs`.", 64);
        let a = fake.complete(std::slice::from_ref(&prompt));
        let b = fake.complete(&[prompt]);
        let (a, b) = (a[0].as_ref().unwrap(), b[0].as_ref().unwrap());
        assert_eq!(a.text, b.text);
        assert!(a.text.contains("`src/lib.rs`"));
    }
}
