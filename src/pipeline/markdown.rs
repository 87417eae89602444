//! The one Markdown-safe rendering of untrusted text (paths, symlink
//! targets, model text, the author's words). Posted as the App, such text
//! must stay inert: no live @-mentions or #references, no raw HTML, no
//! images, links only as text, code spans that cannot break out, no
//! control characters, and no bidirectional controls (shown as `<U+202E>`,
//! so a name cannot read differently from what it is).

/// Breaks a mention, a reference or an autolink without changing how it reads.
const JOINER: char = '\u{200B}';

/// `text` as one line of inert Markdown: backticked spans stay code, the
/// rest is escaped.
pub fn inert(text: &str) -> String {
    let line = one_line(text);
    let mut out = String::with_capacity(line.len() + 16);
    let mut rest = line.as_str();
    while let Some(start) = rest.find('`') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('`') else { break };
        out.push_str(&prose(&rest[..start]));
        out.push_str(&code(&after[..end]));
        rest = &after[end + 1..];
    }
    out.push_str(&prose(rest));
    out
}

/// Prose with every character that could start markup escaped.
fn prose(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let next = chars.get(i + 1).copied().unwrap_or(' ');
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '[' | ']' | '`' | '*' | '_' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '!' if next == '[' => out.push_str("\\!"),
            '@' | '#' if next.is_alphanumeric() => {
                out.push(c);
                out.push(JOINER);
            }
            ':' if next == '/' => {
                out.push(':');
                out.push(JOINER);
            }
            '.' if i >= 3 && chars[i - 3..i].iter().collect::<String>().eq_ignore_ascii_case("www") => {
                out.push(JOINER);
                out.push('.');
            }
            _ => out.push(c),
        }
    }
    out
}

/// Inline code that holds any text: one line, a fence longer than any run
/// of backticks inside, padded where the text starts or ends with one.
pub fn code(text: &str) -> String {
    let text = one_line(text).replace('|', "\\|");
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    if text.starts_with('`') || text.ends_with('`') || text.trim().is_empty() {
        format!("{fence} {text} {fence}")
    } else {
        format!("{fence}{text}{fence}")
    }
}

/// Characters that reorder how text around them is shown: embeddings and
/// overrides (U+202A–U+202E), isolates (U+2066–U+2069) and the marks
/// (U+200E, U+200F, U+061C).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// Control characters as spaces, bidirectional controls as visible `<U+XXXX>`.
fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.push(' ');
        } else if is_bidi_control(c) {
            out.push_str(&format!("<U+{:04X}>", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// A table cell: inert, one line, pipes escaped.
pub fn cell(text: &str) -> String {
    inert(&text.split_whitespace().collect::<Vec<_>>().join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_is_inert() {
        let hostile = "@octocat see #12 <img src=x> </details>## approved ![p](http://x/t.png) [a](https://evil) www.x.com | `ok` \u{7}";
        let out = inert(hostile);
        assert!(!out.contains('<') && !out.contains("@octocat") && !out.contains("#12"), "{out}");
        assert!(!out.replace("\\]", "").contains("](") && !out.contains("://") && !out.contains("www."), "{out}");
        assert!(out.contains("`ok`") && !out.contains('\u{7}'));
        assert!(!out.contains(" | "), "pipes are escaped: {out}");
    }

    #[test]
    fn bidirectional_controls_are_shown_not_obeyed() {
        assert_eq!(inert("a\u{202E}b"), "a&lt;U+202E&gt;b");
        assert_eq!(code("evil\u{2066}.rs\u{200F}"), "`evil<U+2066>.rs<U+200F>`");
        assert_eq!(cell("x\u{061C}y"), "x&lt;U+061C&gt;y");
    }

    #[test]
    fn code_spans_survive_backticks_and_newlines() {
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`x`"), "`` `x` ``");
        assert_eq!(code("line\nbreak"), "`line break`");
        assert_eq!(code("a|b"), "`a\\|b`");
    }
}
