//! Markdown: the sections (headings) whose lines changed.

use pulldown_cmark::{Event, Parser, Tag, TagEnd};

/// The headings of `text`, each with the row (from 0) it starts on.
fn headings(text: &str) -> Vec<(usize, String)> {
    let line_starts: Vec<usize> = std::iter::once(0).chain(text.match_indices('\n').map(|(at, _)| at + 1)).collect();
    let row_of = |offset: usize| line_starts.partition_point(|&start| start <= offset).saturating_sub(1);
    let mut found = Vec::new();
    let mut open: Option<(usize, String)> = None;
    for (event, range) in Parser::new(text).into_offset_iter() {
        match event {
            Event::Start(Tag::Heading { .. }) => open = Some((row_of(range.start), String::new())),
            Event::End(TagEnd::Heading(_)) => found.extend(open.take()),
            Event::Text(words) | Event::Code(words) => {
                if let Some((_, heading)) = &mut open {
                    heading.push_str(&words);
                }
            }
            _ => {}
        }
    }
    found
}

/// Adds the headings the `changed` rows of `text` fall under, in order,
/// each once; a row above every heading falls under `above` (the section a
/// hunk's header names), or under none.
pub(super) fn changed(text: &str, changed: &[usize], above: Option<&str>, into: &mut Vec<String>) {
    let headings = headings(text);
    let lines: Vec<&str> = text.split('\n').collect();
    // A blank line added or removed is no section's content.
    for &row in changed.iter().filter(|&&row| lines.get(row).is_some_and(|l| !l.trim().is_empty())) {
        let under = headings.partition_point(|(start, _)| *start <= row);
        let section = match under.checked_sub(1) {
            Some(index) => Some(headings[index].1.trim()),
            None => above,
        };
        if let Some(section) = section.filter(|s| !s.is_empty()) {
            if !into.iter().any(|known| known == section) {
                into.push(section.to_string());
            }
        }
    }
}

/// A hunk header's section: git names the line above the hunk, which is a
/// heading only with a Markdown diff driver.
pub(super) fn heading_of(context: &str) -> Option<&str> {
    let heading = context.trim_start();
    heading.starts_with('#').then(|| heading.trim_start_matches('#').trim()).filter(|h| !h.is_empty())
}
