//! Every prompt the summarizer sends, in one place: wording changes here
//! without touching the driver. Bump [`PROMPT_VERSION`] with any change, so
//! cached answers of older prompts are not reused.

use super::change::{Content, FileChange, Status};
use super::chunk::{self, Chunk};
use super::schema::FileSummary;
use super::select::Listed;

/// Bump when a prompt or answer format changes.
pub const PROMPT_VERSION: u32 = 2;

/// Answer budgets, in tokens, per level.
pub const CHUNK_ANSWER: usize = 128;
pub const FILE_ANSWER: usize = 160;
pub const OVERALL_ANSWER: usize = 320;

/// What a summary covers: a change (diff, range, pull request) or a whole codebase.
#[derive(Clone, Copy, PartialEq)]
pub enum Kind {
    Change,
    Codebase,
}

/// A reduction's two prompts: the final one for all items, and the one for
/// a group of them when all do not fit one prompt.
pub struct ReducePrompts {
    pub ask: Box<dyn Fn(&str) -> String>,
    pub ask_group: Box<dyn Fn(&str) -> String>,
    pub answer_tokens: usize,
}

/// The system prompt of every request.
pub fn system_prompt(language: &str) -> String {
    format!(
        "You are precis, a code review assistant. You summarize code for reviewers: precise, factual and brief. \
         Write in {language}. Mention only files, functions and behaviour that the input shows."
    )
}

pub fn chunk_prompt(file: &FileChange, chunk: &Chunk, parts: usize) -> String {
    let language = chunk::language(&file.path);
    let fence = fence_for(&chunk.text);
    match &file.content {
        Content::Hunks(_) => {
            let what = match (file.status, &file.old_path) {
                (Status::Renamed, Some(old)) => format!("the change to `{}` (renamed from `{old}`)", file.path),
                (Status::Added, _) => format!("the new file `{}`", file.path),
                _ => format!("the change to `{}`", file.path),
            };
            let part = if parts > 1 { " (one part of it)" } else { "" };
            format!(
                "Summarize {what}{part}, a {language} file. Say what the diff changes and name the functions, types \
                 and behaviour it adds, removes or alters. Use your own words; do not copy the diff. At most 3 short sentences, no preamble.\n\n{fence}diff\n{}\n{fence}",
                chunk.text
            )
        }
        _ => format!(
            "Summarize what this code from `{}` (lines {}-{}, {language}) does. Name its main functions and types. \
             At most 3 short sentences, no preamble.\n\n{fence}{}\n{}\n{fence}",
            file.path,
            chunk.first_line,
            chunk.last_line,
            fence_language(language),
            chunk.text
        ),
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

/// Combines a file's chunk summaries into one.
pub fn file_reduce(file: &FileChange) -> ReducePrompts {
    let what = match &file.content {
        Content::Hunks(_) => format!("the change to `{}`", file.path),
        _ => format!("`{}`", file.path),
    };
    let whole = what.clone();
    ReducePrompts {
        ask: Box::new(move |items| {
            format!("These are summaries of consecutive parts of {whole}. Write one summary of {whole} as a whole: at most 4 sentences, no preamble.\n\n{items}")
        }),
        ask_group: Box::new(move |items| {
            format!("These are summaries of consecutive parts of {what}. Combine them into one summary of these parts: at most 4 sentences, no preamble.\n\n{items}")
        }),
        answer_tokens: FILE_ANSWER,
    }
}

/// The items the overall summary is made from: one per file, and the deletions.
pub fn overall_items(kind: Kind, files: &[FileSummary], listed: &[Listed]) -> Vec<String> {
    let mut items: Vec<String> = files
        .iter()
        .map(|f| match kind {
            Kind::Change => format!("- `{}` ({}, +{} -{}): {}", f.path, f.status.as_str(), f.additions, f.deletions, f.summary),
            Kind::Codebase => format!("- `{}`: {}", f.path, f.summary),
        })
        .collect();
    let deleted: Vec<&str> = listed.iter().filter(|l| l.status == Status::Deleted).map(|l| l.path.as_str()).collect();
    if !deleted.is_empty() && deleted.len() <= 20 {
        items.push(format!("- deleted: {}", deleted.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ")));
    }
    items
}

/// Combines the files' summaries into the title and overview.
pub fn overall_reduce(kind: Kind) -> ReducePrompts {
    let (subject, form) = match kind {
        Kind::Change => (
            "a pull request",
            "Write the review summary in exactly this form:\n\
             Title: <one line, at most 10 words>\n\
             What changed: <2 to 4 sentences>\n\
             Why: <one sentence, or \"Not stated.\">\n\
             Risks:\n- <a point a reviewer should check>\n- <another, if any>",
        ),
        Kind::Codebase => (
            "a codebase",
            "Write an overview for a new reader in exactly this form:\n\
             Title: <one line, at most 10 words>\n\
             Overview: <3 to 5 sentences on what the code does>\n\
             Main parts:\n- <a folder or file and its role>\n- <another>",
        ),
    };
    ReducePrompts {
        ask: Box::new(move |items| format!("Below is a summary of every file in {subject}. {form}\n\nFiles:\n{items}")),
        ask_group: Box::new(move |items| {
            format!("Below are summaries of some files in {subject}. Combine them into one paragraph of at most 5 sentences that keeps the file paths.\n\n{items}")
        }),
        answer_tokens: OVERALL_ANSWER,
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_outgrow_backticks_in_the_text() {
        assert_eq!(fence_for("plain"), "```");
        assert_eq!(fence_for("a ```` b"), "`````");
    }
}
