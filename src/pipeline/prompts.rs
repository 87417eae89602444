//! Every prompt the summarizer sends, as templates in `prompts/` (wording
//! changes there, not in the driver). Bump [`PROMPT_VERSION`] with any
//! change, so cached answers of older prompts are not reused.

use std::sync::OnceLock;

use minijinja::{context, Environment};

use super::change::{Content, FileChange};
use super::chunk::{self, Chunk};
use super::facts::FileRole;

/// Version 5: the chunk prompt states what the parsed structure says the
/// diff does, its items are definitions only, and a code diff gets one
/// sentence. (4: the names a diff brings in pointed out; 3 had no such line.)
pub const PROMPT_VERSION: u32 = 6;
// (title and overview are asked apart: a small model asked for both lists the files instead.)

/// Answer caps, in tokens, per level: room for two sentences, or three and a title.
pub const CHUNK_ANSWER: usize = 96;
pub const FILE_ANSWER: usize = 96;
pub const OVERALL_ANSWER: usize = 112;
pub const TITLE_ANSWER: usize = 24;

/// What a summary covers: a change (diff, range, pull request) or a whole codebase.
#[derive(Clone, Copy, PartialEq)]
pub enum Kind {
    Change,
    Codebase,
}

fn templates() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        for (name, text) in [
            ("system", include_str!("prompts/system.j2")),
            ("chunk", include_str!("prompts/chunk.j2")),
            ("file_reduce", include_str!("prompts/file_reduce.j2")),
            ("overview", include_str!("prompts/overview.j2")),
            ("title", include_str!("prompts/title.j2")),
            ("check", include_str!("prompts/check.j2")),
        ] {
            env.add_template(name, text).expect("the prompt templates parse");
        }
        env
    })
}

fn render(name: &str, values: minijinja::Value) -> String {
    let text = templates().get_template(name).and_then(|t| t.render(values)).expect("the prompt templates render");
    text.trim().to_string()
}

/// The system prompt of every request.
pub fn system_prompt(language: &str) -> String {
    render("system", context! { language })
}

fn role_name(role: FileRole) -> &'static str {
    match role {
        FileRole::Code => "code",
        FileRole::Test => "test",
        FileRole::Docs => "docs",
        FileRole::Config => "config",
        FileRole::Ci => "ci",
        FileRole::Build => "build",
        FileRole::Migration => "migration",
        FileRole::Dependencies => "dependencies",
    }
}

/// What a chunk prompt tells of its file besides the chunk's text.
pub struct FileContext<'a> {
    /// The names the file's change touches.
    pub items: &'a [String],
    /// The names its added lines bring in.
    pub new: &'a [String],
    /// The author's title (their words).
    pub author_title: Option<&'a str>,
}

/// One chunk of a file (or of its diff).
pub fn chunk_prompt(file: &FileChange, chunk: &Chunk, part: usize, parts: usize, context: &FileContext<'_>) -> String {
    let FileContext { items, new, author_title } = *context;
    let language = chunk::language(&file.path);
    let quoted = |names: &[String]| names.iter().take(12).map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ");
    let new: Vec<String> = new.iter().filter(|n| chunk.text.contains(n.as_str())).cloned().collect();
    render(
        "chunk",
        context! {
            author_title => author_title.map(|t| super::prose::cut_at_word(t, 160)),
            path => file.path,
            old_path => file.old_path,
            language,
            status => file.status.as_str(),
            part,
            parts,
            items => quoted(items),
            new => quoted(&new),
            whole => !matches!(file.content, Content::Hunks(_)),
            role => role_name(super::facts::role(&file.path)),
            fence => fence_for(&chunk.text),
            fence_language => fence_language(language),
            text => chunk.text,
        },
    )
}

/// Asks whether the diff of a chunk prompt (`prompt`, the user message the
/// sentence was written from, so its tokens are read from the cache)
/// supports `sentence`; the answer is read as yes or no.
pub fn check_prompt(prompt: &str, sentence: &str) -> String {
    render("check", context! { prompt, sentence })
}

/// A reduction's two prompts: the final one for all items, and the one for
/// a group of them when all do not fit one prompt.
pub struct ReducePrompts {
    pub ask: Box<dyn Fn(&str) -> String>,
    pub ask_group: Box<dyn Fn(&str) -> String>,
    pub answer_tokens: usize,
    /// How the final answer starts (it then ends at the line's end).
    pub answer_prefix: Option<&'static str>,
}

/// Combines a file's chunk summaries into one.
pub fn file_reduce(file: &FileChange) -> ReducePrompts {
    let (path, whole) = (file.path.clone(), !matches!(file.content, Content::Hunks(_)));
    let group_path = path.clone();
    ReducePrompts {
        ask: Box::new(move |items| render("file_reduce", context! { path, whole, items, group => false })),
        ask_group: Box::new(move |items| {
            render("file_reduce", context! { path => group_path, whole, items, group => true })
        }),
        answer_tokens: FILE_ANSWER,
        answer_prefix: None,
    }
}

/// Combines the files' summaries into the overview.
pub fn overall_reduce(kind: Kind, author: Option<String>) -> ReducePrompts {
    let codebase = kind == Kind::Codebase;
    ReducePrompts {
        ask: Box::new(move |items| render("overview", context! { author, codebase, items, group => false })),
        ask_group: Box::new(move |items| render("overview", context! { codebase, items, group => true })),
        answer_tokens: OVERALL_ANSWER,
        answer_prefix: None,
    }
}

/// A title from the files' summaries (when the author gave none).
pub fn title_reduce(kind: Kind, author: Option<String>) -> ReducePrompts {
    let codebase = kind == Kind::Codebase;
    ReducePrompts {
        ask: Box::new(move |items| render("title", context! { author, codebase, items })),
        // Groups of a long list are combined as for the overview; the title is asked of their result.
        ask_group: Box::new(move |items| render("overview", context! { codebase, items, group => true })),
        answer_tokens: TITLE_ANSWER,
        answer_prefix: Some("Title: "),
    }
}

/// A code fence longer than any run of backticks in the text.
pub(crate) fn fence_for(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

fn fence_language(language: &str) -> String {
    if language == "text" {
        String::new()
    } else {
        language.to_lowercase().replace(' ', "").replace("c++", "cpp").replace("c#", "csharp")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::change::{Hunk, Status};

    /// The list of files starts on a line of its own after its heading, in
    /// every reduction (a block tag eats the newline that follows it).
    #[test]
    fn the_file_list_starts_on_its_own_line() {
        let items = "- `a.rs` (modified): Adds `f`.";
        for kind in [Kind::Change, Kind::Codebase] {
            for prompts in [overall_reduce(kind, Some("T".into())), title_reduce(kind, None)] {
                for prompt in [(prompts.ask)(items), (prompts.ask_group)(items)] {
                    assert!(prompt.contains(&format!(":\n{items}")), "{prompt}");
                }
            }
        }
    }

    #[test]
    fn fences_outgrow_backticks_in_the_text() {
        assert_eq!(fence_for("plain"), "```");
        assert_eq!(fence_for("a ```` b"), "`````");
    }

    #[test]
    fn prompts_carry_the_author_title_the_items_and_a_kind_of_file() {
        let file = FileChange {
            path: "tests/retry.rs".into(),
            old_path: None,
            status: Status::Modified,
            additions: 1,
            deletions: 0,
            structure: Default::default(),
            content: Content::Hunks(vec![Hunk {
                header: "@@ -1 +1,2 @@".into(),
                lines: vec!["+fn t() {}".into()].into(),
            }]),
        };
        let chunk = Chunk { first_line: 1, last_line: 2, text: "@@ -1 +1,2 @@\n+fn t() {}".into(), tokens: 9 };
        let new = ["t".to_string(), "absent_from_the_chunk".to_string()];
        let context =
            FileContext { items: &["t".into()], new: &new, author_title: Some("fix: retry before the last attempt") };
        let prompt = chunk_prompt(&file, &chunk, 1, 1, &context);
        assert!(prompt.contains("\"fix: retry before the last attempt\" (their words"), "{prompt}");
        assert!(prompt.contains("Items this diff defines or touches: `t`."), "{prompt}");
        assert!(prompt.contains("what these tests check"), "{prompt}");
        assert!(prompt.contains("Names its added lines bring in: `t`.\n"), "only the chunk's own new names: {prompt}");
        let overview = (overall_reduce(Kind::Change, Some("Why: flaky".into())).ask)("- `a`: x");
        assert!(overview.contains("Why: flaky") && overview.contains("not a list of files"), "{overview}");
    }
}
