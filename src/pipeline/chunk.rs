//! Cutting a file (or a file's diff) into chunks a model can read: at most
//! `max_lines` lines and `max_tokens` tokens each (counted with the model's
//! tokenizer), cut between top-level items where possible, never mid-line.

use anyhow::Result;
use serde::Serialize;

use super::change::{Content, FileChange, Hunk};

#[derive(Clone, Debug, Serialize)]
pub struct Chunk {
    /// 1-based first and last line: of the file, or of the file's diff text.
    pub first_line: usize,
    pub last_line: usize,
    /// What the model reads: code lines, or diff hunks with their headers.
    pub text: String,
    pub tokens: usize,
}

pub struct Limits {
    pub max_lines: usize,
    pub max_tokens: usize,
    pub max_chunks: usize,
}

pub struct Chunked {
    pub chunks: Vec<Chunk>,
    /// Lines left out past `max_chunks`.
    pub omitted_lines: usize,
}

/// Counts tokens as the model will see them.
pub trait TokenCount {
    fn count(&self, text: &str) -> Result<usize>;
}

impl TokenCount for &dyn crate::language_model::LanguageModel {
    fn count(&self, text: &str) -> Result<usize> {
        crate::language_model::LanguageModel::count(*self, text)
    }
}

/// How good a place it is to cut before `lines[at]`: after a closing line or
/// a blank line and before an unindented one is best. `diff`: the lines
/// carry a one-character prefix to look past.
fn boundary_score(lines: &[&str], at: usize, diff: bool) -> u8 {
    let previous = lines[at - 1].trim_end();
    let next = lines.get(at).copied().unwrap_or("");
    let unindented = |l: &str| !l.is_empty() && !l.starts_with([' ', '\t']);
    let (previous, next) = match (previous.chars().next(), next.chars().next()) {
        (Some('+' | '-' | ' '), Some('+' | '-' | ' ')) if diff => (&previous[1..], &next[1..]),
        _ => (previous, next),
    };
    let closes = matches!(previous, "}" | "};" | "end" | ")" | "];");
    match (previous.trim().is_empty() || closes, unindented(next)) {
        (true, true) => 3,
        (true, false) => 2,
        (false, true) => 1,
        (false, false) => 0,
    }
}

/// End (exclusive) of a chunk starting at `start` of at most `limit` lines:
/// the best boundary in the second half of the window, latest first.
fn cut(lines: &[&str], start: usize, limit: usize, diff: bool) -> usize {
    let end = (start + limit).min(lines.len());
    if end == lines.len() {
        return end;
    }
    let earliest = start + (limit / 2).max(1);
    (earliest..=end).rev().max_by_key(|&at| (boundary_score(lines, at, diff), at)).unwrap_or(end)
}

/// Line ranges (start, end, tokens) and the count of lines left out.
type Split = (Vec<(usize, usize, usize)>, usize);

/// Splits `lines` into at most `max_chunks` ranges within both limits (the
/// rest is not read: its lines are returned as omitted). A single line
/// longer than the token budget becomes a range of its own (the caller
/// shortens it). Work is linear in the lines read.
fn split(lines: &[&str], limits: &Limits, tokens: &dyn TokenCount) -> Result<Split> {
    let diff = lines.iter().all(|l| l.starts_with(['+', '-', ' ']));
    let mut ranges = Vec::new();
    let mut start = 0;
    while start < lines.len() {
        if ranges.len() == limits.max_chunks {
            return Ok((ranges, lines.len() - start));
        }
        let mut limit = limits.max_lines;
        loop {
            let end = cut(lines, start, limit, diff);
            let count = tokens.count(&lines[start..end].join("\n"))?;
            if count <= limits.max_tokens || end - start == 1 {
                ranges.push((start, end, count));
                start = end;
                break;
            }
            // Too many tokens: shrink in proportion, keeping the boundary rule.
            limit = ((end - start) * limits.max_tokens / count).clamp(1, end - start - 1);
        }
    }
    Ok((ranges, 0))
}

/// A line too long for any chunk, cut to fit with a visible mark.
fn shorten(text: &str, max_tokens: usize, tokens: usize) -> String {
    let keep = text.len() * max_tokens / tokens.max(1) * 9 / 10;
    let mut end = keep.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{} … [line cut: too long]", &text[..end])
}

pub fn chunk_file(file: &FileChange, limits: &Limits, tokens: &dyn TokenCount) -> Result<Chunked> {
    match &file.content {
        Content::File(text) => {
            let lines: Vec<&str> = text.lines().collect();
            let (ranges, omitted_lines) = split(&lines, limits, tokens)?;
            let chunks = ranges
                .into_iter()
                .map(|(start, end, count)| Chunk {
                    first_line: start + 1,
                    last_line: end,
                    text: fitted(&lines[start..end], limits.max_tokens, count),
                    tokens: count.min(limits.max_tokens),
                })
                .collect();
            Ok(Chunked { chunks, omitted_lines })
        }
        Content::Hunks(hunks) => chunk_hunks(hunks, limits, tokens),
        _ => Ok(Chunked { chunks: Vec::new(), omitted_lines: 0 }),
    }
}

fn fitted(lines: &[&str], max_tokens: usize, count: usize) -> String {
    let text = lines.join("\n");
    if count > max_tokens {
        shorten(&text, max_tokens, count)
    } else {
        text
    }
}

/// Diffs: hunks stay whole and are packed together up to the limits; a hunk
/// over the limits is split like a file, each piece under its header.
fn chunk_hunks(hunks: &[Hunk], limits: &Limits, tokens: &dyn TokenCount) -> Result<Chunked> {
    // Each piece: its diff-text line span and its text.
    let mut pieces: Vec<(usize, usize, String)> = Vec::new();
    let mut line = 1;
    // No more lines than the chunks can hold are split: the rest is not read.
    let readable = limits.max_chunks.saturating_mul(limits.max_lines);
    let mut unread = 0;
    for hunk in hunks {
        let lines: Vec<&str> = hunk.lines.iter().collect();
        if line > readable {
            unread += 1 + lines.len();
            continue;
        }
        let header_tokens = tokens.count(&hunk.header)?;
        let inner = Limits { max_tokens: limits.max_tokens.saturating_sub(header_tokens + 1).max(1), ..*limits };
        let (ranges, omitted) = split(&lines, &inner, tokens)?;
        unread += omitted;
        for (start, end, count) in ranges {
            let body = fitted(&lines[start..end], inner.max_tokens, count);
            let first = line + 1 + start;
            pieces.push((first, line + end, format!("{}\n{body}", hunk.header)));
        }
        line += 1 + lines.len();
    }
    // Pack consecutive pieces while both limits hold.
    let mut ranges: Vec<(usize, usize, usize)> = Vec::new();
    let mut texts: Vec<String> = Vec::new();
    let lines_in = |a: usize, b: usize| b + 1 - a;
    for (first, last, text) in pieces {
        let count = tokens.count(&text)?;
        if let (Some(range), Some(current)) = (ranges.last_mut(), texts.last_mut()) {
            let joined_lines = lines_in(range.0, last);
            if joined_lines <= limits.max_lines && range.2 + 1 + count <= limits.max_tokens {
                current.push('\n');
                current.push_str(&text);
                *range = (range.0, last, range.2 + 1 + count);
                continue;
            }
        }
        ranges.push((first, last, count));
        texts.push(text);
    }
    let omitted_lines = unread + ranges.iter().skip(limits.max_chunks).map(|(s, e, _)| e + 1 - s).sum::<usize>();
    let chunks = ranges
        .into_iter()
        .zip(texts)
        .take(limits.max_chunks)
        .map(|((first_line, last_line, count), text)| Chunk {
            first_line,
            last_line,
            text,
            tokens: count.min(limits.max_tokens),
        })
        .collect();
    Ok(Chunked { chunks, omitted_lines })
}

/// The language a path is written in, by its extension or name.
pub fn language(path: &str) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or(path);
    let extension = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match extension.as_str() {
        "rs" => "Rust",
        "py" | "pyi" => "Python",
        "js" | "mjs" | "cjs" | "jsx" => "JavaScript",
        "ts" | "tsx" | "mts" => "TypeScript",
        "go" => "Go",
        "java" => "Java",
        "kt" | "kts" => "Kotlin",
        "c" | "h" => "C",
        "cc" | "cpp" | "cxx" | "hpp" | "hh" => "C++",
        "cs" => "C#",
        "rb" => "Ruby",
        "php" => "PHP",
        "swift" => "Swift",
        "scala" => "Scala",
        "sh" | "bash" | "zsh" => "Shell",
        "sql" => "SQL",
        "md" | "markdown" => "Markdown",
        "toml" => "TOML",
        "yml" | "yaml" => "YAML",
        "json" => "JSON",
        "html" | "htm" => "HTML",
        "css" | "scss" => "CSS",
        "proto" => "Protocol Buffers",
        _ => match name {
            "Dockerfile" => "Dockerfile",
            "Makefile" => "Makefile",
            _ => "text",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::change::Status;

    /// One token per whitespace-separated word: enough to test the limits.
    struct Words;
    impl TokenCount for Words {
        fn count(&self, text: &str) -> Result<usize> {
            Ok(text.split_whitespace().count())
        }
    }

    fn file(text: &str) -> FileChange {
        FileChange {
            path: "a.rs".into(),
            old_path: None,
            status: Status::Added,
            additions: 0,
            deletions: 0,
            structure: Default::default(),
            content: Content::File(text.into()),
        }
    }

    fn limits(max_lines: usize, max_tokens: usize) -> Limits {
        Limits { max_lines, max_tokens, max_chunks: 1000 }
    }

    #[test]
    fn chunks_cover_every_line_once_within_the_limits() {
        let text: String =
            (0..1000).map(|i| if i % 7 == 0 { "\n".to_string() } else { format!("  line {i}\n") }).collect();
        let chunked = chunk_file(&file(&text), &limits(300, 10_000), &Words).unwrap();
        let mut next = 1;
        for chunk in &chunked.chunks {
            assert_eq!(chunk.first_line, next);
            assert!(chunk.last_line + 1 - chunk.first_line <= 300);
            next = chunk.last_line + 1;
        }
        assert_eq!(next, 1001);
    }

    #[test]
    fn cuts_fall_between_top_level_items() {
        let mut text = String::new();
        for item in 0..40 {
            text.push_str(&format!("fn f{item}() {{\n    one();\n    two();\n    three();\n}}\n\n"));
        }
        let chunked = chunk_file(&file(&text), &limits(50, 10_000), &Words).unwrap();
        assert!(chunked.chunks.len() > 1);
        for chunk in &chunked.chunks {
            assert!(chunk.text.starts_with("fn "), "chunk starts mid-item: {:?}", &chunk.text[..20]);
        }
    }

    #[test]
    fn token_budget_splits_further_and_long_lines_are_marked() {
        let text: String = (0..100).map(|i| format!("word word word word {i}\n")).collect();
        let chunked = chunk_file(&file(&text), &limits(300, 50), &Words).unwrap();
        assert!(chunked.chunks.iter().all(|c| Words.count(&c.text).unwrap() <= 50));
        assert_eq!(chunked.chunks.last().unwrap().last_line, 100);
        let long = format!("{}\n", "w ".repeat(500));
        let chunked = chunk_file(&file(&long), &limits(300, 50), &Words).unwrap();
        assert!(chunked.chunks[0].text.ends_with("[line cut: too long]"));
    }

    #[test]
    fn max_chunks_reports_what_was_left_out() {
        let text: String = (0..100).map(|i| format!("{i}\n")).collect();
        let chunked =
            chunk_file(&file(&text), &Limits { max_lines: 10, max_tokens: 100, max_chunks: 3 }, &Words).unwrap();
        assert_eq!(chunked.chunks.len(), 3);
        assert_eq!(chunked.omitted_lines, 70);
    }

    /// Counts the bytes it was asked to count: the work chunking does.
    struct Metered(std::cell::Cell<usize>);
    impl TokenCount for Metered {
        fn count(&self, text: &str) -> Result<usize> {
            self.0.set(self.0.get() + text.len());
            Ok(text.split_whitespace().count())
        }
    }

    #[test]
    fn work_is_bounded_by_what_is_read_not_by_the_size_of_the_input() {
        let limits = Limits { max_lines: 300, max_tokens: 4000, max_chunks: 40 };
        let work = |lines: usize, as_diff: bool| {
            let body: Vec<String> = (0..lines).map(|i| format!("+    let value_{i} = compute({i});")).collect();
            let content = if as_diff {
                Content::Hunks(vec![Hunk { header: "@@ -0,0 +1 @@".into(), lines: body.into() }])
            } else {
                Content::File(body.join("\n"))
            };
            let metered = Metered(std::cell::Cell::new(0));
            let chunked = chunk_file(&FileChange { content, ..file("") }, &limits, &metered).unwrap();
            assert_eq!(chunked.chunks.len(), 40);
            assert_eq!(
                chunked.omitted_lines
                    + chunked.chunks.iter().map(|c| c.last_line + 1 - c.first_line).sum::<usize>()
                    + usize::from(as_diff),
                lines + usize::from(as_diff)
            );
            metered.0.get()
        };
        for as_diff in [false, true] {
            let (small, huge) = (work(25_000, as_diff), work(100_000, as_diff));
            assert_eq!(small, huge, "a 4x larger input costs no more work past the chunk limit");
        }
    }

    #[test]
    fn hunks_are_packed_with_their_headers() {
        let hunk = |n: usize| Hunk {
            header: format!("@@ -{n},3 +{n},4 @@"),
            lines: vec![" a".into(), "+b".into(), " c".into()].into(),
        };
        let mut change = file("");
        change.content = Content::Hunks((0..10).map(|i| hunk(i * 10)).collect());
        let chunked = chunk_file(&change, &limits(9, 1000), &Words).unwrap();
        assert_eq!(chunked.chunks.len(), 5);
        assert!(chunked.chunks[0].text.starts_with("@@ -0,3 +0,4 @@\n a\n+b\n c\n@@ -10,3"));
    }
}
