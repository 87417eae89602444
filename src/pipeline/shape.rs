//! What the model wrote, checked and shaped: unusable answers refused,
//! overview lines naming files outside the change dropped, and the items a
//! change touches computed from the diff itself.

use std::collections::HashSet;

use super::change::{Content, FileChange};
use super::prompts::Kind;
use super::schema::FileSummary;
use super::select::Listed;

/// Why an answer is unusable, if it is: empty, or the input copied back
/// (a small model sometimes repeats prose it was asked to summarize).
pub fn answer_problem(text: &str, prompt: &str) -> Option<String> {
    if text.is_empty() {
        return Some("the model gave an empty answer".into());
    }
    let first = text.lines().next().unwrap_or("").trim_start_matches(['#', '-', '*', ' ']).trim();
    let probe: String = first.chars().take(40).collect();
    (probe.chars().count() == 40 && prompt.contains(&probe)).then(|| "the model repeated its input instead of summarizing it".into())
}

/// Trims an answer and a heading or label the model may have added.
pub fn clean(text: &str) -> String {
    text.trim().trim_start_matches("Summary:").trim().to_string()
}

pub fn fallback_title(kind: Kind, files: &[FileSummary]) -> String {
    match kind {
        Kind::Change => format!("Changes to {} file(s)", files.len()),
        Kind::Codebase => format!("Summary of {} file(s)", files.len()),
    }
}

/// Every path (and file name) of the change: what a summary may name.
pub fn known_paths(files: &[FileSummary], listed: &[Listed]) -> HashSet<String> {
    let mut known = HashSet::new();
    let paths = files.iter().flat_map(|f| std::iter::once(&f.path).chain(&f.old_path)).chain(listed.iter().map(|l| &l.path));
    for path in paths {
        let mut rest = path.as_str();
        // Every suffix made of whole components: `src/a/b.rs`, `a/b.rs`, `b.rs`.
        loop {
            known.insert(rest.to_string());
            match rest.split_once('/') {
                Some((_, tail)) => rest = tail,
                None => break,
            }
        }
    }
    known
}

const FILE_EXTENSIONS: &[&str] = &[
    "rs", "py", "js", "mjs", "ts", "tsx", "jsx", "go", "java", "kt", "c", "h", "cc", "cpp", "hpp", "cs", "rb", "php",
    "swift", "scala", "sh", "sql", "md", "toml", "yml", "yaml", "json", "html", "css", "proto", "lock", "txt", "cfg",
    "ini", "xml", "gradle",
];

/// Names in `text` that look like file paths.
fn path_mentions(text: &str) -> Vec<String> {
    static PATH: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let pattern = PATH.get_or_init(|| regex::Regex::new(r"[A-Za-z0-9_./-]*[A-Za-z0-9_-]\.([A-Za-z]{1,6})\b").expect("valid regex"));
    pattern
        .captures_iter(text)
        .filter(|c| FILE_EXTENSIONS.contains(&c[1].to_ascii_lowercase().as_str()))
        .map(|c| c[0].trim_start_matches("./").to_string())
        // `self.rs`-like method chains are not paths; a real path has no `..`.
        .filter(|m| !m.contains(".."))
        .collect()
}

/// Splits the model's overview into a title and a body, dropping lines that
/// name files outside the change (a small model sometimes invents them).
pub fn shape_overview(text: &str, known: &HashSet<String>) -> (Option<String>, String, Vec<String>) {
    let mut title = None;
    let mut body = Vec::new();
    let mut dropped = Vec::new();
    for line in text.lines() {
        // Small models loop: a line said twice is said once.
        if !line.trim().is_empty() && body.iter().any(|kept: &String| kept.trim() == line.trim()) {
            continue;
        }
        let unknown = path_mentions(line).into_iter().any(|m| !known.contains(&m));
        if unknown {
            dropped.push(line.to_string());
            continue;
        }
        let trimmed = line.trim().trim_start_matches('#').trim();
        let label = trimmed.trim_start_matches("**").split_once(':').map(|(l, r)| (l.trim_end_matches("**").trim(), r.trim()));
        match label {
            Some((l, rest)) if title.is_none() && l.eq_ignore_ascii_case("title") => {
                title = Some(rest.trim_matches('*').trim().to_string()).filter(|t| !t.is_empty())
            }
            Some((l, rest)) if ["what changed", "why", "risks", "overview", "main parts", "summary"].contains(&l.to_ascii_lowercase().as_str()) => {
                body.push(format!("**{l}:** {}", rest.trim_start_matches("**").trim()).trim_end().to_string());
            }
            _ => body.push(line.trim_end().to_string()),
        }
    }
    while body.first().is_some_and(|l| l.trim().is_empty()) {
        body.remove(0);
    }
    // Without a `Title:` line the caller's plain title is used: a small
    // model's first line is too often a heading copied from the input.
    (title, body.join("\n").trim().to_string(), dropped)
}

/// Items a file's change defines or touches: definitions on changed lines
/// (whole files: unindented definitions), in order, without repeats.
pub fn symbols(file: &FileChange) -> Vec<String> {
    static DEFINITION: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let pattern = DEFINITION.get_or_init(|| {
        regex::Regex::new(
            r"\b(?:fn|struct|enum|trait|union|type|const|static|mod|macro_rules!|class|def|function|interface|func|module|record)\s+([A-Za-z_][A-Za-z0-9_]*)",
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
        for capture in pattern.captures_iter(line) {
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

    #[test]
    fn overview_lines_naming_unknown_files_are_dropped() {
        let known: std::collections::HashSet<String> = ["src/lib.rs", "lib.rs"].iter().map(|s| s.to_string()).collect();
        let text = "Title: Add a cache\nWhat changed: `src/lib.rs` gains a cache.\nIt also edits `src/main.rs`.\nRisks:\n- eviction in lib.rs";
        let (title, body, dropped) = shape_overview(text, &known);
        assert_eq!(title.as_deref(), Some("Add a cache"));
        assert!(body.contains("**What changed:** `src/lib.rs` gains a cache."));
        assert!(body.contains("- eviction in lib.rs"));
        assert_eq!(dropped, vec!["It also edits `src/main.rs`."]);
    }

    #[test]
    fn copied_input_is_not_a_summary() {
        let prompt = "Summarize:\n+## Measured: summaries and the webhook endpoint\n+Numbers follow.";
        assert!(answer_problem("## Measured: summaries and the webhook endpoint", prompt).is_some());
        assert!(answer_problem("", prompt).is_some());
        assert!(answer_problem("The README gains a section with measured numbers.", prompt).is_none());
    }

    #[test]
    fn method_calls_and_versions_are_not_paths() {
        assert_eq!(path_mentions("calls self.run() and v1.2; edits a/b.rs and Cargo.toml"), vec!["a/b.rs", "Cargo.toml"]);
    }
}
