//! The grounding gate: every path and code-like name the model writes must
//! occur in the change (diff lines, paths) or the author's text. A sentence
//! that names something absent, or states a setting's boolean opposite to
//! the diff, is dropped from what reviewers read (the JSON keeps it, with
//! the reason).

use std::sync::OnceLock;

use regex::Regex;
use serde::Serialize;

use super::change::{Content, FileChange};
use super::prose::sentences;

/// Product names that look like code (CamelCase) but are words to a reader.
const WORDS: &[&str] = &[
    "GitHub",
    "GitLab",
    "JavaScript",
    "TypeScript",
    "macOS",
    "iOS",
    "PyPI",
    "OpenSSL",
    "PostgreSQL",
    "MySQL",
    "SQLite",
    "WebSocket",
    "OAuth",
    "NuGet",
    "npm",
    "YouTube",
    "DevOps",
    "README",
];

/// Everything a summary may name: the change's text and the author's.
pub struct Haystack {
    text: String,
    /// Added diff lines, for checking booleans said about a setting.
    added: Vec<String>,
}

impl Haystack {
    pub fn new<'a>(
        files: &[FileChange],
        other_paths: impl IntoIterator<Item = &'a str>,
        author_text: &str,
    ) -> Haystack {
        let mut text = String::new();
        let mut added = Vec::new();
        for file in files {
            text.push_str(&file.path);
            text.push('\n');
            if let Some(old) = &file.old_path {
                text.push_str(old);
                text.push('\n');
            }
            match &file.content {
                Content::File(body) => text.push_str(body),
                Content::Hunks(hunks) => {
                    for hunk in hunks {
                        text.push_str(&hunk.header);
                        text.push('\n');
                        for line in &hunk.lines {
                            text.push_str(line);
                            text.push('\n');
                            if let Some(plus) = line.strip_prefix('+') {
                                added.push(plus.to_string());
                            }
                        }
                    }
                }
                Content::Symlink { target } => text.push_str(target),
                _ => {}
            }
            text.push('\n');
        }
        for path in other_paths {
            text.push_str(path);
            text.push('\n');
        }
        text.push_str(author_text);
        Haystack { text, added }
    }

    /// A haystack of one text (a prompt): what an answer to it may name.
    pub fn of_text(text: &str) -> Haystack {
        let added = text.lines().filter_map(|l| l.strip_prefix('+')).map(str::to_string).collect();
        Haystack { text: text.to_string(), added }
    }

    /// Whether a name occurs: whole, or its last part (`a::b` → `b`, of 3
    /// characters or more).
    pub fn has(&self, name: &str) -> bool {
        if self.text.contains(name) {
            return true;
        }
        let last = name.rsplit(|c| c == ':' || c == '.' || c == '/').next().unwrap_or(name);
        last.chars().count() >= 3 && self.text.contains(last)
    }

    /// Whether `sentence` gives `name` a boolean the added lines contradict.
    fn contradicts(&self, sentence: &str, name: &str) -> bool {
        let lower = sentence.to_ascii_lowercase();
        let said = match (
            lower.contains("true") || lower.contains("enabled"),
            lower.contains("false") || lower.contains("disabled"),
        ) {
            (true, false) => "true",
            (false, true) => "false",
            _ => return false,
        };
        let opposite = if said == "true" { "false" } else { "true" };
        let lines: Vec<&String> =
            self.added.iter().filter(|l| l.contains(name) && (l.contains("true") || l.contains("false"))).collect();
        !lines.is_empty() && lines.iter().all(|l| l.contains(opposite) && !l.contains(said))
    }
}

/// Extensions that make a bare word a file name (`main.rs`, `ci.yml`).
const FILE_EXTENSIONS: &[&str] = &[
    "rs", "py", "js", "mjs", "ts", "tsx", "jsx", "go", "java", "kt", "c", "h", "cc", "cpp", "hpp", "cs", "rb", "php",
    "swift", "scala", "sh", "sql", "md", "toml", "yml", "yaml", "json", "html", "css", "proto", "lock", "txt", "cfg",
    "ini", "xml", "gradle",
];

/// Names a reader takes as code: `backticked` identifiers and paths, and
/// bare paths, snake_case, CamelCase, `a::b` and `a.b()` words.
pub fn code_names(text: &str) -> Vec<String> {
    static PATH: OnceLock<Regex> = OnceLock::new();
    static SPAN: OnceLock<Regex> = OnceLock::new();
    static IDENT: OnceLock<Regex> = OnceLock::new();
    static BARE: OnceLock<Regex> = OnceLock::new();
    static WORD: OnceLock<Regex> = OnceLock::new();
    let span = SPAN.get_or_init(|| Regex::new(r"`([^`\n]{1,80})`").expect("valid regex"));
    let ident = IDENT.get_or_init(|| Regex::new(r"^[\w.:/\-$]+$").expect("valid regex"));
    let bare = BARE
        .get_or_init(|| Regex::new(r"\b[A-Za-z_]\w*(?:::\w+)+|\b[A-Za-z_]\w*\.[A-Za-z_]\w*\(\)").expect("valid regex"));
    let word = WORD.get_or_init(|| Regex::new(r"\b[A-Za-z_][A-Za-z0-9_]*\b").expect("valid regex"));
    let mut names: Vec<String> = Vec::new();
    let mut add = |name: String| {
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    };
    for capture in span.captures_iter(text) {
        let inner = capture[1].trim().trim_end_matches("()").trim_end_matches([',', '.', ';', ':']);
        if ident.is_match(inner) {
            add(inner.to_string());
        }
    }
    let prose = span.replace_all(text, " ");
    let path =
        PATH.get_or_init(|| Regex::new(r"[A-Za-z0-9_./-]*[A-Za-z0-9_-]\.([A-Za-z]{1,6})\b").expect("valid regex"));
    for found in path.captures_iter(&prose) {
        let whole = found[0].trim_start_matches("./");
        // `self.rs`-like method chains are not paths; neither is `a..b`.
        if FILE_EXTENSIONS.contains(&found[1].to_ascii_lowercase().as_str()) && !whole.contains("..") {
            add(whole.to_string());
        }
    }
    for found in bare.find_iter(&prose) {
        add(found.as_str().trim_end_matches("()").to_string());
    }
    for found in word.find_iter(&prose) {
        let w = found.as_str();
        let snake = w.trim_matches('_').contains('_');
        let camel = w.as_bytes().windows(2).any(|p| p[0].is_ascii_lowercase() && p[1].is_ascii_uppercase());
        if !WORDS.contains(&w) && (snake || camel) {
            add(w.to_string());
        }
    }
    names
}

/// A sentence left out, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Dropped {
    pub sentence: String,
    pub reason: String,
}

/// What the gate let through.
#[derive(Clone, Debug, Default)]
pub struct Gated {
    pub text: String,
    pub dropped: Vec<Dropped>,
    /// Code-like names the model wrote, and those of them kept.
    pub names_written: usize,
    pub names_kept: usize,
}

/// Keeps the sentences of `text` whose every name occurs in the change.
pub fn gate(text: &str, haystack: &Haystack) -> Gated {
    let mut gated = Gated::default();
    let mut kept = Vec::new();
    for sentence in sentences(text) {
        let names = code_names(&sentence);
        gated.names_written += names.len();
        let absent: Vec<&String> = names.iter().filter(|n| !haystack.has(n)).collect();
        let contradicted = names.iter().find(|n| haystack.contradicts(&sentence, n));
        let reason = if !absent.is_empty() {
            Some(format!(
                "names what the change does not contain: {}",
                absent.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
            ))
        } else {
            contradicted.map(|n| format!("states `{n}` opposite to the diff"))
        };
        match reason {
            Some(reason) => gated.dropped.push(Dropped { sentence, reason }),
            None => {
                gated.names_kept += names.len();
                kept.push(sentence);
            }
        }
    }
    gated.text = kept.join(" ");
    gated
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::change::{Hunk, Status};

    fn haystack() -> Haystack {
        let file = FileChange {
            path: "src/retry.py".into(),
            old_path: None,
            status: Status::Modified,
            additions: 2,
            deletions: 1,
            structure: Default::default(),
            content: Content::Hunks(vec![Hunk {
                header: "@@ -1,2 +1,3 @@ def retry".into(),
                lines: vec![
                    "-def backoff_delays(n):".into(),
                    "+def backoff_delays(n, jitter=False):".into(),
                    "+    sudo: false".into(),
                ],
            }]),
        };
        Haystack::new(&[file], ["docs/a.md"], "Retry before the last attempt too")
    }

    #[test]
    fn names_come_from_backticks_and_code_like_words() {
        assert_eq!(
            code_names(
                "Adds `jitter` to backoff_delays and calls `time.sleep()`; see RetryPolicy and mod::path on GitHub."
            ),
            vec!["jitter", "time.sleep", "mod::path", "backoff_delays", "RetryPolicy"]
        );
    }

    #[test]
    fn an_invented_name_drops_its_sentence_and_a_real_one_is_kept() {
        let gated = gate(
            "Adds `jitter` to `backoff_delays`. It also updates `prompt_budget` in src/other.rs. Tests pass.",
            &haystack(),
        );
        assert_eq!(gated.text, "Adds `jitter` to `backoff_delays`. Tests pass.");
        assert_eq!(gated.dropped.len(), 1);
        assert!(gated.dropped[0].reason.contains("prompt_budget"));
        assert_eq!((gated.names_written, gated.names_kept), (4, 2), "`prompt_budget` and src/other.rs are absent");
    }

    #[test]
    fn a_boolean_opposite_to_the_diff_is_dropped() {
        let gated = gate("It sets `sudo` to true. It sets `sudo` to false.", &haystack());
        assert_eq!(gated.text, "It sets `sudo` to false.");
        assert!(gated.dropped[0].reason.contains("opposite"));
    }
}
