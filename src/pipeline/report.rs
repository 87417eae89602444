//! A summary as the Markdown body the bot posts (always within GitHub's
//! comment limit, saying so when cut) or as JSON.

use std::fmt::Write;

use super::select::Reason;
use super::schema::{FileSummary, Stats, Summary};

/// GitHub refuses issue and pull-request comments longer than this (characters).
pub const COMMENT_LIMIT: usize = 65_536;

/// Items of the "not summarized" list shown before "… and N more".
const LISTED_SHOWN: usize = 100;

pub fn to_json(summary: &Summary) -> String {
    serde_json::to_string_pretty(summary).expect("summaries serialise")
}

/// The Markdown body, at most `max_chars` characters: when the whole does not
/// fit, file rows are left out from the end with a visible note.
pub fn to_markdown(summary: &Summary, max_chars: usize) -> String {
    let full = render(summary, summary.files.len());
    if full.chars().count() <= max_chars {
        return full;
    }
    // The most rows that fit (rendering is monotonic in the row count).
    let (mut low, mut high) = (0, summary.files.len());
    while low < high {
        let mid = (low + high).div_ceil(2);
        if render(summary, mid).chars().count() <= max_chars {
            low = mid;
        } else {
            high = mid - 1;
        }
    }
    let text = render(summary, low);
    if text.chars().count() <= max_chars {
        return text;
    }
    // Even without rows the text is too long (a huge overview): cut it.
    let note = "\n\n> **Note:** cut to fit the comment size limit; the JSON output has everything.\n";
    let keep = max_chars.saturating_sub(note.chars().count());
    let mut cut: String = text.chars().take(keep).collect();
    cut.push_str(note);
    cut
}

fn render(summary: &Summary, rows: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### {}\n", one_line(&summary.title));
    if !summary.overview.is_empty() {
        let _ = writeln!(out, "{}\n", summary.overview);
    }
    let failed: usize = summary.files.iter().flat_map(|f| &f.chunks).filter(|c| !c.answer.ok()).count();
    if !summary.files.is_empty() {
        let listed = if summary.listed.is_empty() { String::new() } else { format!(", {} not summarized", summary.listed.len()) };
        let _ = writeln!(out, "<details>\n<summary>{} file(s) summarized{listed}</summary>\n", summary.files.len());
        let _ = writeln!(out, "| File | Change | Summary |\n| --- | --- | --- |");
        for file in &summary.files[..rows] {
            let _ = writeln!(out, "| {} | {} | {} |", file_cell(file), change_cell(file), summary_cell(file));
        }
        if rows < summary.files.len() {
            let _ = writeln!(
                out,
                "\n> **Note:** {} more file(s) were summarized but are not shown, to stay under GitHub's {COMMENT_LIMIT}-character limit; the JSON output (`--format json`) has them all.",
                summary.files.len() - rows
            );
        }
        let _ = writeln!(out, "\n</details>\n");
    }
    if !summary.listed.is_empty() {
        let _ = writeln!(out, "<details>\n<summary>Not summarized ({})</summary>\n", summary.listed.len());
        for item in summary.listed.iter().take(LISTED_SHOWN) {
            let _ = writeln!(out, "- {} — {}", code(&item.path), item.reason.describe());
        }
        if summary.listed.len() > LISTED_SHOWN {
            let more = &summary.listed[LISTED_SHOWN..];
            let over_limit = more.iter().filter(|l| l.reason == Reason::OverFileLimit).count();
            let _ = writeln!(out, "- … and {} more ({over_limit} over the max_files limit)", more.len());
        }
        let _ = writeln!(out, "\n</details>\n");
    }
    let stats = &summary.stats;
    let mut footer = format!("precis · {} · {} chunk(s) in {:.0} s", summary.model, stats.chunks, stats.wall_s);
    if stats.chunks_cached > 0 {
        let _ = write!(footer, " · {} from cache", stats.chunks_cached);
    }
    if failed > 0 {
        let _ = write!(footer, " · {failed} chunk(s) failed");
    }
    let _ = writeln!(out, "<sub>{footer}</sub>");
    out
}

fn one_line(text: &str) -> String {
    text.lines().next().unwrap_or("").trim().to_string()
}

/// Inline code that survives backticks in the text.
fn code(text: &str) -> String {
    if text.contains('`') {
        format!("`` {} ``", text.replace('|', "\\|"))
    } else {
        format!("`{}`", text.replace('|', "\\|"))
    }
}

fn file_cell(file: &FileSummary) -> String {
    match &file.old_path {
        Some(old) => format!("{} → {}", code(old), code(&file.path)),
        None => code(&file.path),
    }
}

fn change_cell(file: &FileSummary) -> String {
    format!("{} +{} −{}", file.status.as_str(), file.additions, file.deletions)
}

/// A table cell: one line, pipes escaped, HTML-ish text kept inert.
fn summary_cell(file: &FileSummary) -> String {
    let mut cell = file.summary.split_whitespace().collect::<Vec<_>>().join(" ").replace('|', "\\|").replace('<', "&lt;");
    if !file.symbols.is_empty() {
        const SHOWN: usize = 12;
        let names: Vec<String> = file.symbols.iter().take(SHOWN).map(|s| code(s)).collect();
        let more = file.symbols.len().saturating_sub(SHOWN);
        let _ = write!(cell, "<br>**Items:** {}{}", names.join(", "), if more > 0 { format!(" and {more} more") } else { String::new() });
    }
    let failed = file.chunks.iter().filter(|c| !c.answer.ok()).count();
    if failed > 0 {
        let _ = write!(cell, "<br>⚠️ {failed} of {} part(s) could not be summarized", file.chunks.len());
    }
    if file.omitted_lines > 0 {
        let _ = write!(cell, "<br>⚠️ {} more line(s) past the per-file limit were not read", file.omitted_lines);
    }
    cell
}

/// The run's numbers on one line, for stderr.
pub fn stats_line(stats: &Stats) -> String {
    format!(
        "files {} · chunks {} ({} ok, {} cached, success {:.1}%) · lines {} · tokens in {} out {} · wall {:.1} s · \
         {:.1} chunks/min · prefill {:.1} tok/s · decode {:.1} tok/s · parallel efficiency {:.0}% of {} rows · peak RSS {:.0} MB",
        stats.files,
        stats.chunks,
        stats.chunks_ok,
        stats.chunks_cached,
        stats.success_rate * 100.0,
        stats.lines,
        stats.tokens_in,
        stats.tokens_out,
        stats.wall_s,
        stats.chunks_per_min,
        stats.prefill_tokens_per_s,
        stats.decode_tokens_per_s,
        stats.parallel_efficiency * 100.0,
        stats.parallel,
        stats.peak_rss_mb
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::change::{Source, Status};
    use crate::pipeline::select::Listed;
    use crate::pipeline::schema::Stats;

    fn summary(files: usize, listed: usize) -> Summary {
        let file = |i: usize| FileSummary {
            path: format!("src/module_{i}/file_{i}.rs"),
            old_path: None,
            status: Status::Modified,
            additions: 3,
            deletions: 1,
            language: "Rust",
            symbols: vec![format!("function_{i}")],
            summary: "Adds a helper that | parses input and <b>returns</b> it. ".repeat(3),
            omitted_lines: 0,
            chunks: Vec::new(),
        };
        Summary {
            model: "test".into(),
            source: Source::Patch { name: "x".into() },
            title: "A title\nwith a second line".into(),
            overview: "**What changed:** things.".into(),
            dropped_lines: Vec::new(),
            files: (0..files).map(file).collect(),
            listed: (0..listed)
                .map(|i| Listed { path: format!("bin/{i}.png"), status: Status::Added, reason: Reason::Binary })
                .collect(),
            stats: Stats::default(),
        }
    }

    #[test]
    fn a_small_summary_is_whole() {
        let text = to_markdown(&summary(2, 1), COMMENT_LIMIT);
        assert!(text.starts_with("### A title\n\n**What changed:** things."));
        assert!(text.contains("| `src/module_1/file_1.rs` | modified +3 −1 | Adds a helper that \\| parses input and &lt;b>returns"));
        assert!(text.contains("**Items:** `function_1`"));
        assert!(text.contains("- `bin/0.png` — binary"));
        assert!(!text.contains("not shown"));
    }

    #[test]
    fn ten_thousand_files_are_cut_with_a_note() {
        let full = summary(10_000, 10_000);
        let text = to_markdown(&full, COMMENT_LIMIT);
        let length = text.chars().count();
        assert!(length <= COMMENT_LIMIT && length > COMMENT_LIMIT - 2_000, "{length}");
        assert!(text.contains("more file(s) were summarized but are not shown"));
        assert!(text.contains("- … and 9900 more (0 over the max_files limit)"));
        assert!(text.trim_end().ends_with("</sub>"), "the footer survives");
    }

    #[test]
    fn a_huge_overview_is_cut_too() {
        let mut huge = summary(1, 0);
        huge.overview = "word ".repeat(20_000);
        let text = to_markdown(&huge, 1_000);
        assert!(text.chars().count() <= 1_000);
        assert!(text.contains("cut to fit"));
    }
}
