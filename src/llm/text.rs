//! Text ↔ tokens: the model's tokenizer.json and its own chat template.

use std::path::Path;

use anyhow::{anyhow, Context, Result};
use serde::Serialize;

#[derive(Clone)]
pub struct TextCodec {
    tokenizer: tokenizers::Tokenizer,
    chat_template: Option<String>,
    /// The beginning-of-sequence token's text, as templates name it.
    bos_token: Option<String>,
    eos_token: Option<String>,
    /// Whether a prompt starts with the BOS token (Llama 3's tokenizers).
    add_bos: bool,
}

#[derive(Serialize, Clone, Debug)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn new(role: &str, content: &str) -> Message {
        Message { role: role.to_string(), content: content.to_string() }
    }
}

impl TextCodec {
    pub fn load(dir: &Path) -> Result<TextCodec> {
        let path = dir.join("tokenizer.json");
        if !path.is_file() {
            anyhow::bail!("model folder {} lacks tokenizer.json; fetch or convert the model again", dir.display());
        }
        let tokenizer = tokenizers::Tokenizer::from_file(&path)
            .map_err(|e| anyhow!("cannot load {} ({e}); fetch or convert the model again", path.display()))?;
        let config = std::fs::read_to_string(dir.join("tokenizer_config.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .unwrap_or_default();
        let text = |key: &str| config[key].as_str().map(str::to_string);
        Ok(TextCodec {
            tokenizer,
            chat_template: text("chat_template"),
            bos_token: text("bos_token"),
            eos_token: text("eos_token"),
            add_bos: config["add_bos_token"].as_bool().unwrap_or(false),
        })
    }

    /// Tokens of raw text; special tokens written in the text are recognised.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self.tokenizer.encode(text, false).map_err(|e| anyhow!("cannot tokenize: {e}"))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// `text` with every special token written in it broken by a zero-width
    /// space, so that it encodes as plain text (`<|im_start|>` in a diff
    /// stays words, not a turn of the conversation).
    pub fn neutralise_special(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (_, token) in self.tokenizer.get_added_tokens_decoder() {
            if token.special && token.content.chars().count() > 1 && out.contains(&token.content) {
                let mut chars = token.content.chars();
                let first = chars.next().unwrap_or_default();
                out = out.replace(&token.content, &format!("{first}\u{200B}{}", chars.as_str()));
            }
        }
        out
    }

    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.tokenizer.decode(ids, true).map_err(|e| anyhow!("cannot decode tokens: {e}"))
    }

    /// The conversation rendered with the model's chat template, ready for the
    /// assistant's turn; it starts with the BOS token where the tokenizer
    /// wants one and the template does not write it.
    pub fn render_chat(&self, messages: &[Message]) -> Result<String> {
        let template = self
            .chat_template
            .as_deref()
            .context("the model has no chat template in tokenizer_config.json; pass a raw prompt instead")?;
        let mut env = minijinja::Environment::new();
        minijinja_contrib::add_to_environment(&mut env);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_template("chat", template).context("the model's chat template does not parse")?;
        let rendered = env
            .get_template("chat")?
            .render(minijinja::context! {
                messages => messages,
                add_generation_prompt => true,
                tools => minijinja::Value::UNDEFINED,
                bos_token => self.bos_token,
                eos_token => self.eos_token,
            })
            .context("the model's chat template failed to render")?;
        match &self.bos_token {
            Some(bos) if self.add_bos && !rendered.starts_with(bos.as_str()) => Ok(format!("{bos}{rendered}")),
            _ => Ok(rendered),
        }
    }
}
