//! The model's prose, bounded: plain sentences only (no headings, lists,
//! code blocks or labels), never cut mid-sentence, at most so many words.

/// Words that end with a period without ending a sentence.
const ABBREVIATIONS: &[&str] = &["e.g.", "i.e.", "etc.", "vs.", "approx.", "incl.", "resp.", "cf.", "Mr.", "Dr."];

/// The answer as plain prose: code blocks, headings, list markers, bold
/// markers and leading labels ("Summary:") removed; lines joined.
pub fn plain(text: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut in_fence = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = !in_fence;
            continue;
        }
        // Copied diff lines are not prose.
        if in_fence
            || trimmed.starts_with("@@")
            || trimmed.starts_with("+++")
            || trimmed.starts_with("---")
            || trimmed.starts_with("diff --git")
        {
            continue;
        }
        let heading = trimmed.starts_with('#');
        let mut line = trimmed.trim_start_matches('#').trim();
        for marker in ["- ", "* ", "• ", "+ "] {
            if let Some(rest) = line.strip_prefix(marker) {
                line = rest;
            }
        }
        let numbered = line
            .split_once(". ")
            .filter(|(n, _)| !n.is_empty() && n.len() <= 2 && n.chars().all(|c| c.is_ascii_digit()));
        if let Some((_, rest)) = numbered {
            line = rest;
        }
        let line = line.replace("**", "").replace("__", "");
        // A lead-in ("Changes in `a.rs`:") announces what follows; it says nothing itself.
        if line.ends_with(':') {
            continue;
        }
        let line = strip_label(&line);
        // A short heading ("## Summary") says nothing.
        if line.is_empty() || heading && words(line) <= 4 && !line.ends_with(['.', '!', '?']) {
            continue;
        }
        // A list item or a heading without an end gets one, so it reads as a sentence.
        let mut line = line.to_string();
        if !line.ends_with(['.', '!', '?']) && text.lines().count() > 1 {
            line.push('.');
        }
        out.push(line);
    }
    out.join(" ").split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `Summary: text` → `text`, for the labels small models put first, and
/// `` `path`: text `` → `text`.
fn strip_label(line: &str) -> &str {
    match line.split_once(':') {
        Some((label, rest))
            if !rest.is_empty()
                && !label.contains(' ')
                && (label.contains('/') || label.contains('.') || label.starts_with('`')) =>
        {
            rest.trim()
        }
        Some((label, rest))
            if label.split_whitespace().count() <= 3
                && [
                    "summary",
                    "overview",
                    "what changed",
                    "changes",
                    "change",
                    "answer",
                    "description",
                    "purpose",
                    "why",
                    "the change",
                ]
                .contains(&label.trim().to_ascii_lowercase().as_str()) =>
        {
            rest.trim()
        }
        _ => line.trim(),
    }
}

fn ends_sentence(text: &str) -> bool {
    text.trim_end().ends_with(['.', '!', '?', ')', '`', '"', ']'])
}

/// The sentences of `text`, each with its final punctuation; a last piece
/// without one is returned too (the caller decides about it).
pub fn sentences(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_code = false;
    for i in 0..chars.len() {
        if chars[i] == '`' {
            in_code = !in_code;
        }
        if in_code || !matches!(chars[i], '.' | '!' | '?') {
            continue;
        }
        // A sentence ends at punctuation followed by a space and a capital,
        // a backtick, a quote or a digit (or by the end): not in `a.b()` or `1.2`.
        let next = chars.get(i + 1);
        let after = chars.get(i + 2);
        let ends = match (next, after) {
            (None, _) => true,
            (Some(c), Some(a)) if c.is_whitespace() => {
                a.is_uppercase() || matches!(a, '`' | '"' | '\'' | '(' | '*') || a.is_ascii_digit()
            }
            (Some(c), None) => c.is_whitespace(),
            _ => false,
        };
        let piece: String = chars[start..=i].iter().collect();
        let last_word = piece.split_whitespace().last().unwrap_or("");
        if ends && !ABBREVIATIONS.contains(&last_word) {
            let piece = piece.trim().to_string();
            if !piece.is_empty() {
                out.push(piece);
            }
            start = i + 1;
        }
    }
    let rest: String = chars[start..].iter().collect();
    if !rest.trim().is_empty() {
        out.push(rest.trim().to_string());
    }
    out
}

/// Share of `a`'s content words (4 letters or more) that `b` has too.
pub fn overlap(a: &str, b: &str) -> f64 {
    let content = |t: &str| -> Vec<String> {
        t.split(|c: char| !c.is_alphanumeric() && c != '_')
            .filter(|w| w.chars().count() >= 4)
            .map(str::to_lowercase)
            .collect()
    };
    let (a, b) = (content(a), content(b));
    if a.is_empty() {
        return 0.0;
    }
    a.iter().filter(|w| b.contains(w)).count() as f64 / a.len() as f64
}

/// `text` within `max_chars` characters, never cut mid-word: cut at the
/// last space that fits, with "…" to say so.
pub fn cut_at_word(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let head: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    let head = match head.rfind(char::is_whitespace) {
        Some(end) => head[..end].trim_end(),
        None => head.as_str(),
    };
    format!("{head}…")
}

pub fn words(text: &str) -> usize {
    text.split_whitespace().count()
}

/// An answer that hit its token cap, up to its last finished sentence
/// (nothing when it finished none); any other answer as it is.
pub fn complete_part(text: &str, capped: bool) -> String {
    if !capped {
        return text.to_string();
    }
    let mut end = 0;
    let mut in_code = false;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    for (k, &(i, c)) in chars.iter().enumerate() {
        match c {
            '`' => in_code = !in_code,
            '.' | '!' | '?' if !in_code && chars.get(k + 1).is_none_or(|&(_, n)| n.is_whitespace()) => {
                end = i + c.len_utf8()
            }
            _ => {}
        }
    }
    text[..end].to_string()
}

/// At most `max_sentences` whole sentences and about `max_words` words: a
/// sentence that would pass the limit is left out (the first is kept if it
/// is within twice the limit). An unfinished last sentence is dropped when
/// the answer hit its token cap, else given its period.
pub fn bounded(text: &str, max_sentences: usize, max_words: usize, capped: bool) -> String {
    let mut all = sentences(&plain(&complete_part(text, capped)));
    if let Some(last) = all.last_mut() {
        if !ends_sentence(last) {
            last.push('.');
        }
    }
    let mut kept: Vec<String> = Vec::new();
    let mut count = 0;
    for sentence in all {
        let n = words(&sentence);
        let fits = count + n <= max_words || (kept.is_empty() && n <= max_words * 2);
        if kept.len() == max_sentences || !fits {
            break;
        }
        // Small models repeat themselves: a sentence said twice is said once.
        if kept.iter().any(|k| k.eq_ignore_ascii_case(&sentence)) {
            continue;
        }
        count += n;
        kept.push(sentence);
    }
    kept.join(" ")
}

/// A sentence that opened with "It also …" reads as a sequel; once the
/// sentence before it is gone (it repeated the table), the "also" goes too.
pub fn without_leading_also(sentence: &str) -> String {
    for opening in ["It", "This change", "The change", "This diff", "The diff"] {
        if let Some(rest) = sentence.strip_prefix(opening).and_then(|r| r.strip_prefix(" also ")) {
            return format!("{opening} {rest}");
        }
    }
    sentence
        .strip_prefix("Also, ")
        .map(|rest| {
            let mut chars = rest.chars();
            chars.next().map(|c| c.to_uppercase().collect::<String>() + chars.as_str()).unwrap_or_default()
        })
        .unwrap_or_else(|| sentence.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_split_on_ends_not_on_calls_versions_or_abbreviations() {
        assert_eq!(
            sentences("Calls `self.run()` and bumps v1.2 to 1.3. It also adds e.g. a flag. Done"),
            vec!["Calls `self.run()` and bumps v1.2 to 1.3.", "It also adds e.g. a flag.", "Done"]
        );
    }

    #[test]
    fn headings_lists_labels_and_code_blocks_become_plain_sentences() {
        let text = "## Summary\nSummary: Adds a parser.\n- handles `x`\n- handles `y`\n```rust\nfn x() {}\n```";
        assert_eq!(plain(text), "Adds a parser. handles `x`. handles `y`.");
    }

    #[test]
    fn a_capped_list_loses_its_unfinished_item() {
        assert_eq!(complete_part("- `a.rs`: Adds x.\n- `examples/webhook_load", true), "- `a.rs`: Adds x.");
        assert_eq!(complete_part("Calls `a.b` and", true), "");
        assert_eq!(complete_part("Calls `a.b` and", false), "Calls `a.b` and");
    }

    #[test]
    fn lead_ins_and_path_labels_go() {
        assert_eq!(plain("Changes in `a.rs`:\nAdds a cache."), "Adds a cache.");
        assert_eq!(plain("`src/a.rs`: Adds a cache."), "Adds a cache.");
        assert_eq!(plain(".ci/run: Runs the tests."), "Runs the tests.");
    }

    #[test]
    fn overlap_counts_content_words() {
        assert!(overlap("Adds a cache for parsed settings.", "It adds a cache for the parsed settings.") > 0.9);
        assert!(overlap("Adds a cache.", "Removes the queue.") < 0.1);
    }

    #[test]
    fn a_capped_answer_loses_its_unfinished_sentence_and_limits_hold() {
        assert_eq!(bounded("Adds a cache. The `tail -1`", 2, 40, true), "Adds a cache.");
        assert_eq!(bounded("Adds a cache", 2, 40, false), "Adds a cache.");
        assert_eq!(bounded("One. Two. Three.", 2, 40, false), "One. Two.");
        let long = format!("{}. Short one.", "word ".repeat(50).trim());
        assert_eq!(words(&bounded(&long, 3, 40, false)), 50, "a first sentence within twice the limit stays alone");
        assert_eq!(bounded("Same. Same. Other.", 3, 40, false), "Same. Other.");
    }

    #[test]
    fn a_title_is_cut_between_words() {
        let title =
            "Refactor: one distinct() for the overview's name lists (same output: checked on a benchmark change)";
        let cut = cut_at_word(title, 80);
        assert_eq!(cut, "Refactor: one distinct() for the overview's name lists (same output: checked…");
        assert!(cut.chars().count() <= 80);
        assert_eq!(cut_at_word("short", 80), "short");
    }

    #[test]
    fn a_first_sentence_loses_its_also() {
        assert_eq!(without_leading_also("This change also adds `x`."), "This change adds `x`.");
        assert_eq!(without_leading_also("Also, it adds `x`."), "It adds `x`.");
        assert_eq!(without_leading_also("It adds `x` also."), "It adds `x` also.");
    }
}
