//! What the model wrote, checked and shaped: unusable answers refused, a
//! title line taken apart from the overview, and the items a change touches
//! computed from the diff itself.

use std::sync::OnceLock;

use regex::Regex;

use super::change::{Content, FileChange};
use super::facts::ChangeFacts;
use super::prompts::Kind;

/// Why an answer is unusable, if it is: the input copied back (a small model
/// sometimes repeats prose it was asked to summarize).
pub fn answer_problem(text: &str, prompt: &str) -> Option<String> {
    let first = text.lines().next().unwrap_or("").trim_start_matches(['#', '-', '*', ' ']).trim();
    let probe: String = first.chars().take(40).collect();
    (probe.chars().count() == 40 && prompt.contains(&probe)).then(|| "the model repeated its input instead of summarizing it".into())
}

/// Trims an answer.
pub fn clean(text: &str) -> String {
    text.trim().to_string()
}

/// The model's title answer as a title: its first line without a label,
/// quotes, emphasis or a final period; nothing when it is not title-sized.
pub fn one_line_title(text: &str) -> String {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    let line = line.trim_start_matches('#').trim().replace("**", "");
    let line = match line.split_once(':') {
        Some((label, rest)) if label.trim().eq_ignore_ascii_case("title") => rest.trim().to_string(),
        _ => line,
    };
    let mut title = line.trim().trim_end_matches('.').trim();
    // Quotes around the whole title go; a backtick goes only with its pair.
    for quote in ['"', '\'', '*'] {
        title = title.trim_matches(quote).trim().trim_end_matches('.');
    }
    // A small model likes to open with the release's version ("1.20.2: …"): not part of a title.
    static VERSION: OnceLock<Regex> = OnceLock::new();
    let version = VERSION.get_or_init(|| Regex::new(r"^(?:v?\d+(?:\.\d+)*[%.]?\s*[:\-–.)]?\s+)+").expect("valid regex"));
    let mut title = version.replace(title, "").trim().to_string();
    if title.matches('`').count() % 2 == 1 {
        title = title.replacen('`', "", 1);
    }
    // "Changes to a.rs and b.rs" says which files, not what changed: not a title.
    let names_files_only = title.starts_with("Changes to ") || title.starts_with("Update files");
    if title.split_whitespace().count() > 14 || names_files_only { String::new() } else { title }
}

/// A title made from what is known when the model's is missing or failed
/// the gate: the public items the change adds or changes, else the items
/// its main code file touches, else the paths.
pub fn fallback_title(kind: Kind, paths: &[&str], facts: Option<&ChangeFacts>, main_items: &[String]) -> String {
    let named = |verb: &str, names: &[String]| format!("{verb} {}", names.iter().take(3).map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", "));
    if let Some(facts) = facts {
        if !facts.api.added.is_empty() {
            return named("Add", &facts.api.added);
        }
        if !facts.api.changed.is_empty() {
            return named("Change", &facts.api.changed);
        }
    }
    if kind == Kind::Change && !main_items.is_empty() {
        return named("Change", main_items);
    }
    match (kind, paths) {
        (Kind::Codebase, _) => format!("Overview of {} file(s)", paths.len()),
        (Kind::Change, [one]) => format!("Changes to {one}"),
        (Kind::Change, [a, b]) => format!("Changes to {a} and {b}"),
        (Kind::Change, _) => format!("Changes to {} files", paths.len()),
    }
}

/// Items a file's change defines or touches: definitions on changed lines
/// (whole files: unindented definitions), in order, without repeats. A
/// definition is code, not prose: the keyword opens the line (after
/// modifiers), and comment lines are skipped.
pub fn symbols(file: &FileChange) -> Vec<String> {
    static DEFINITION: OnceLock<Regex> = OnceLock::new();
    let pattern = DEFINITION.get_or_init(|| {
        Regex::new(
            r"^\s*(?:(?:pub(?:\([^)]*\))?|export|default|async|static|public|private|protected|internal|final|abstract|unsafe|extern|override|open|data|sealed|inline|const)\s+)*(?:fn|struct|enum|trait|union|type|const|static|mod|macro_rules!|class|def|function|interface|func|module|record|impl)\s+(?:\([^)]*\)\s*)?([A-Za-z_][A-Za-z0-9_]*)",
        )
        .expect("valid regex")
    });
    let lines: Vec<&str> = match &file.content {
        Content::Hunks(hunks) => hunks.iter().flat_map(|h| &h.lines).filter_map(|l| l.strip_prefix(['+', '-'])).collect(),
        Content::File(text) => text.lines().filter(|l| !l.starts_with([' ', '\t'])).collect(),
        _ => Vec::new(),
    };
    let mut found: Vec<String> = Vec::new();
    for line in lines {
        let code = line.trim_start();
        if code.starts_with("//") || code.starts_with('#') && !code.starts_with("#[") || code.starts_with('*') || code.starts_with("/*") || code.starts_with("--") {
            continue;
        }
        if let Some(capture) = pattern.captures(line) {
            let name = capture[1].to_string();
            if !found.contains(&name) {
                found.push(name);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::change::{Hunk, Status};

    #[test]
    fn copied_input_is_not_a_summary() {
        let prompt = "Summarize:\n+## Measured: summaries and the webhook endpoint\n+Numbers follow.";
        assert!(answer_problem("## Measured: summaries and the webhook endpoint", prompt).is_some());
        assert!(answer_problem("The README gains a section with measured numbers.", prompt).is_none());
    }

    #[test]
    fn a_title_answer_becomes_a_title() {
        assert_eq!(one_line_title("**Title:** \"Retry before the last attempt.\"\nIt waits."), "Retry before the last attempt");
        assert_eq!(one_line_title(&"word ".repeat(20)), "");
        assert_eq!(one_line_title("1.20.2: Fix strict JSON errors"), "Fix strict JSON errors");
        assert_eq!(one_line_title("1. Use `urlParse` for redirects"), "Use `urlParse` for redirects");
    }

    #[test]
    fn items_are_definitions_not_words_in_comments() {
        let file = FileChange {
            path: "src/a.rs".into(),
            old_path: None,
            status: Status::Modified,
            additions: 5,
            deletions: 0,
            content: Content::Hunks(vec![Hunk {
                header: "@@".into(),
                lines: vec![
                    "+/// This function panics when the struct is empty.".into(),
                    "+// a type for the module".into(),
                    "+pub(crate) async fn run_jobs() {}".into(),
                    "+impl Queue {".into(),
                    "+    const LIMIT: usize = 3;".into(),
                    "+let value = type_of(x);".into(),
                ],
            }]),
        };
        assert_eq!(symbols(&file), vec!["run_jobs", "Queue", "LIMIT"]);
    }
}
