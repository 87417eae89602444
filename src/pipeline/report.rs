//! A summary as the Markdown body the bot posts (always within GitHub's
//! comment limit, saying so when cut) or as JSON. Everything that came from
//! outside (paths, the model's text, names) goes through [`super::markdown`].

use std::fmt::Write;

use super::claims::AppealKind;
use super::facts::{ChangeFacts, CodebaseFacts, Dependency, SelfMarked};
use super::markdown::{cell, code, inert};
use super::schema::{FileSummary, Stats, Summary};
use super::select::Reason;

/// GitHub refuses issue and pull-request comments longer than this (characters).
pub const COMMENT_LIMIT: usize = 65_536;

/// Items of the "not summarized" list shown before "… and N more".
const LISTED_SHOWN: usize = 100;

/// At most this many names per kind in a line; the JSON has them all.
const NAMES_SHOWN: usize = 8;

pub fn to_json(summary: &Summary) -> String {
    serde_json::to_string_pretty(summary).expect("summaries serialise")
}

/// The Markdown of a summary, at most `max_chars` characters, with its title
/// as a heading (the CLI and the check run).
pub fn to_markdown(summary: &Summary, max_chars: usize) -> String {
    fit(summary, max_chars, true)
}

/// The body of a pull request comment: as [`to_markdown`] without the title,
/// which is the pull request's own.
pub fn to_comment(summary: &Summary, max_chars: usize) -> String {
    fit(summary, max_chars, false)
}

/// When the whole does not fit, file rows are left out from the end with a
/// visible note.
fn fit(summary: &Summary, max_chars: usize, title: bool) -> String {
    let full = render(summary, summary.files.len(), title);
    if full.chars().count() <= max_chars {
        return full;
    }
    // The most rows that fit (rendering is monotonic in the row count).
    let (mut low, mut high) = (0, summary.files.len());
    while low < high {
        let mid = (low + high).div_ceil(2);
        if render(summary, mid, title).chars().count() <= max_chars {
            low = mid;
        } else {
            high = mid - 1;
        }
    }
    let text = render(summary, low, title);
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

fn render(summary: &Summary, rows: usize, title: bool) -> String {
    let mut out = String::new();
    let codebase = summary.codebase.is_some();
    if title {
        let _ = writeln!(out, "### {}\n", inert(&summary.title));
    }
    if let Some(facts) = &summary.facts {
        // The author's label, where the diff says otherwise, is theirs: said as theirs.
        let theirs = match &facts.author_label {
            Some(label) => format!(" (the author calls it {})", with_article(label)),
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "**{}**{theirs} · review size {} ({}, +{} −{})\n",
            capitalised(&facts.label),
            facts.review_size,
            counted(facts.files, "file", "files"),
            facts.additions,
            facts.deletions
        );
    }
    if !summary.overview.is_empty() {
        let _ = writeln!(out, "{}\n", inert(&summary.overview));
    }
    if let Some(since) = summary.since.as_ref().filter(|s| s.rewritten) {
        let _ = writeln!(
            out,
            "**Since the last summary:** its head {} is not an ancestor of {} (the branch was rewritten); this summary is of the whole change.\n",
            code(short(&since.from)),
            code(short(&since.to))
        );
    }
    if let Some(since) = summary.since.as_ref().filter(|s| !s.rewritten) {
        let _ = writeln!(
            out,
            "**Since the last summary** ({} → {}, {}, computed from the diff)",
            code(short(&since.from)),
            code(short(&since.to)),
            counted(since.commits, "commit", "commits")
        );
        for file in &since.files {
            let what =
                if file.walkthrough.is_empty() { String::new() } else { format!(": {}", inert(&file.walkthrough)) };
            let _ = writeln!(
                out,
                "- {} ({}, +{} −{}){what}",
                code(&file.path),
                file.status.as_str(),
                file.additions,
                file.deletions
            );
        }
        if since.files_not_told > 0 {
            let _ = writeln!(out, "- and {} more file(s)", since.files_not_told);
        }
        out.push('\n');
    }
    let (heading, lines) = match (&summary.facts, &summary.codebase) {
        (Some(facts), _) => ("**For reviewers** (computed from the diff)", reviewer_lines(facts)),
        (None, Some(facts)) => ("**The codebase** (computed)", codebase_lines(facts)),
        (None, None) => ("", Vec::new()),
    };
    if !lines.is_empty() {
        let _ = writeln!(out, "{heading}");
        for line in lines {
            let _ = writeln!(out, "- {line}");
        }
        out.push('\n');
    }
    if !summary.files.is_empty() {
        let listed = if summary.listed.is_empty() {
            String::new()
        } else {
            format!(", {} not summarized", summary.listed.len())
        };
        let (what, header) = if codebase {
            ("file(s) read", "| File | Lines | What it does |")
        } else {
            ("file(s) summarized", "| File | Change | What changed |")
        };
        let _ = writeln!(out, "<details>\n<summary>{} {what}{listed}</summary>\n", summary.files.len());
        let _ = writeln!(out, "{header}\n| --- | --- | --- |");
        for file in &summary.files[..rows] {
            let middle = if codebase { lines_cell(file) } else { change_cell(file) };
            let _ = writeln!(out, "| {} | {} | {} |", file_cell(file), middle, summary_cell(file));
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
        // Files the settings leave out are counted, not listed one by one.
        let by_settings = |r: &Reason| matches!(r, Reason::NotIncluded | Reason::Excluded);
        let named: Vec<_> = summary.listed.iter().filter(|l| !by_settings(&l.reason)).collect();
        for item in named.iter().take(LISTED_SHOWN) {
            let _ = writeln!(out, "- {} — {}", code(&item.path), inert(&item.reason.describe()));
        }
        if named.len() > LISTED_SHOWN {
            let more = &named[LISTED_SHOWN..];
            let over_limit = more.iter().filter(|l| l.reason == Reason::OverFileLimit).count();
            let _ = writeln!(out, "- … and {} more ({over_limit} over the max_files limit)", more.len());
        }
        for reason in [Reason::NotIncluded, Reason::Excluded] {
            let count = summary.listed.iter().filter(|l| l.reason == reason).count();
            if count > 0 {
                let _ = writeln!(out, "- {count} file(s) {}", reason.describe());
            }
        }
        let _ = writeln!(out, "\n</details>\n");
    }
    let stats = &summary.stats;
    let mut footer =
        format!("precis · {} · {} model answer(s) in {:.0} s", code(&summary.model), stats.prompts, stats.wall_s);
    if stats.answers_failed > 0 {
        let _ = write!(footer, " · {} of {} answers failed", stats.answers_failed, stats.answers);
    }
    if !summary.files.is_empty() {
        let _ = write!(
            footer,
            " · names and claims checked against the change; {} sentence(s) dropped",
            summary.dropped.len()
        );
    }
    let _ = writeln!(out, "<sub>{footer}</sub>");
    out
}

/// A commit id as people write it: its first seven characters (ids are hex).
fn short(id: &str) -> &str {
    &id[..id.len().min(7)]
}

fn with_article(label: &str) -> String {
    match label {
        "docs" | "tests" | "dependencies" | "build/CI" | "assets" => label.to_string(),
        _ if label.starts_with(['a', 'e', 'i', 'o', 'u']) => format!("an {label}"),
        _ => format!("a {label}"),
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

fn names(list: &[String]) -> String {
    shown(list, |n| code(n))
}

/// The first [`NAMES_SHOWN`] items, rendered, and how many more.
fn shown<T>(items: &[T], render: impl Fn(&T) -> String) -> String {
    let shown: Vec<String> = items.iter().take(NAMES_SHOWN).map(render).collect();
    let more = items.len().saturating_sub(NAMES_SHOWN);
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// A dependency change on one line: name, from → to, and the table when it
/// is not the plain one.
fn dependency(d: &&Dependency) -> String {
    let what = match (&d.from, &d.to) {
        (Some(from), Some(to)) => format!("{} → {}", inert(from), inert(to)),
        (None, Some(to)) => format!("{} added", inert(to)),
        (Some(from), None) => format!("{} removed", inert(from)),
        (None, None) => String::new(),
    };
    let section = if d.section == "dependencies" { String::new() } else { format!(" in {}", code(&d.section)) };
    format!("{} {what}{section}", code(&d.name))
}

/// The "For reviewers" list: every line computed from the diff.
fn reviewer_lines(facts: &ChangeFacts) -> Vec<String> {
    let mut lines = Vec::new();
    let api = &facts.api;
    let parts: Vec<String> =
        [("added", &api.added), ("changed", &api.changed), ("moved", &api.moved), ("removed", &api.removed)]
            .into_iter()
            .filter(|(_, list)| !list.is_empty())
            .map(|(what, list)| format!("{what} {}", names(list)))
            .collect();
    lines.push(format!(
        "Public API: {}",
        if parts.is_empty() { "no public item added, changed or removed".into() } else { parts.join("; ") }
    ));
    if !facts.behaviour.is_empty() {
        let mut notes: Vec<String> =
            facts.behaviour.iter().take(NAMES_SHOWN).map(|b| format!("{} {}", code(&b.file), inert(&b.what))).collect();
        if facts.behaviour.len() > NAMES_SHOWN {
            notes.push(format!("and {} more", facts.behaviour.len() - NAMES_SHOWN));
        }
        lines.push(format!("Behaviour (parsed): {}", notes.join("; ")));
    }
    lines.push(format!(
        "Tests: {}",
        if facts.tests.is_empty() { "no test file touched".into() } else { names(&facts.tests) }
    ));
    let (redirects, dependencies): (Vec<&Dependency>, Vec<&Dependency>) =
        facts.dependencies.iter().partition(|d| d.redirects);
    let unparsed: Vec<String> =
        facts.unparsed_manifests.iter().map(|u| format!("{} ({})", code(&u.file), inert(&u.why))).collect();
    let mut parts = Vec::new();
    if !dependencies.is_empty() {
        parts.push(shown(&dependencies, dependency));
    }
    if !unparsed.is_empty() {
        parts.push(format!("not compared in {}", unparsed.join(", ")));
    }
    lines.push(format!(
        "Dependencies: {}",
        match (parts.is_empty(), redirects.is_empty()) {
            (true, true) => "none changed".to_string(),
            (true, false) => "no version changed".to_string(),
            (false, _) => parts.join("; "),
        }
    ));
    if !redirects.is_empty() {
        lines.push(format!("Sources redirected: {}", shown(&redirects, dependency)));
    }
    if !facts.self_marked.is_empty() {
        let added: usize = facts.self_marked.iter().map(|m| m.additions).sum();
        let files: Vec<&SelfMarked> = facts.self_marked.iter().collect();
        lines.push(format!(
            "Not summarized on the files' own word: added {added} line(s) that the files themselves mark generated, vendored, minified or LFS: {}",
            shown(&files, |m| format!("{} ({}, +{})", code(&m.path), inert(&m.marker()), m.additions))
        ));
    }
    for (what, list) in [
        ("CI", &facts.ci),
        ("Build", &facts.build),
        ("Migrations", &facts.migrations),
        ("Config", &facts.config),
        ("Docs", &facts.docs),
    ] {
        if !list.is_empty() {
            lines.push(format!("{what}: {}", names(list)));
        }
    }
    if !facts.flags.is_empty() {
        let flags: Vec<String> = facts
            .flags
            .iter()
            .take(NAMES_SHOWN)
            .map(|f| match f.split_once(": ") {
                Some((path, flag)) => format!("{} {}", code(path), inert(flag)),
                None => inert(f),
            })
            .collect();
        lines.push(format!("Look at: {}", flags.join("; ")));
    }
    for (kind, what) in [
        (AppealKind::ToTheSummarizer, "Addressed to the summarizer (not followed)"),
        (AppealKind::Approval, "Claims an approval (not verified)"),
    ] {
        let quotes: Vec<String> = facts
            .appeals
            .iter()
            .filter(|a| a.kind == kind)
            .map(|a| {
                let place = if a.place == "the author's text" { inert(&a.place) } else { code(&a.place) };
                format!("{place} “{}”", inert(&a.quote))
            })
            .collect();
        if !quotes.is_empty() {
            lines.push(format!("{what}: {}", quotes.join("; ")));
        }
    }
    lines
}

fn codebase_lines(facts: &CodebaseFacts) -> Vec<String> {
    let mut lines = Vec::new();
    let languages: Vec<String> =
        facts.languages.iter().take(6).map(|(l, f, n)| format!("{} ({f} file(s), {n} lines)", inert(l))).collect();
    if !languages.is_empty() {
        lines.push(format!("Languages: {}", languages.join(", ")));
    }
    if !facts.entry_points.is_empty() {
        lines.push(format!("Entry points: {}", names(&facts.entry_points)));
    }
    if !facts.public_items.is_empty() {
        let items: Vec<String> = facts.public_items.iter().take(6).map(|(p, n)| format!("{} ({n})", code(p))).collect();
        lines.push(format!("Most public items: {}", items.join(", ")));
    }
    lines
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

fn lines_cell(file: &FileSummary) -> String {
    file.additions.to_string()
}

/// A table cell: the summary, inert and on one line, with the items.
fn summary_cell(file: &FileSummary) -> String {
    let mut text = if file.summary.is_empty() { "—".to_string() } else { cell(&file.summary) };
    // The walkthrough already names the items it knows.
    if file.walkthrough.is_empty() && !file.symbols.is_empty() {
        let _ = write!(text, "<br>**Items:** {}", names(&file.symbols));
    }
    let failed = file.chunks.iter().filter(|c| !c.answer.ok()).count();
    if failed > 0 {
        let _ = write!(text, "<br>⚠️ {failed} of {} part(s) could not be summarized", file.chunks.len());
    }
    if file.omitted_lines > 0 {
        let _ = write!(text, "<br>⚠️ {} more line(s) past the per-file limit were not read", file.omitted_lines);
    }
    text
}

/// "1 file", "6 files".
fn counted(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The run's numbers on one line, for stderr. Rates are the model's: a run
/// answered wholly from the cache has none.
pub fn stats_line(stats: &Stats) -> String {
    let rates = if stats.tokens_out == 0 {
        "every answer from the cache".to_string()
    } else {
        format!(
            "{:.1} chunks/min · prefill {:.1} tok/s · decode {:.1} tok/s · parallel efficiency {:.0}% of {} rows",
            stats.chunks_per_min,
            stats.prefill_tokens_per_s,
            stats.decode_tokens_per_s,
            stats.parallel_efficiency * 100.0,
            stats.parallel,
        )
    };
    format!(
        "files {} · chunks {} ({} ok, {} cached) · answers {} (success {:.1}%, {} candidate(s) each) · grounding {:.1}% ({} of {} names, {} sentence(s) dropped) · \
         lines {} · tokens in {} ({} prefilled) out {} · wall {:.1} s · {rates} · peak RSS {:.0} MB",
        stats.files,
        stats.chunks,
        stats.chunks_ok,
        stats.chunks_cached,
        stats.answers,
        stats.success_rate * 100.0,
        stats.candidates,
        stats.grounding * 100.0,
        stats.names_kept,
        stats.names_written,
        stats.sentences_dropped,
        stats.lines,
        stats.tokens_in,
        stats.tokens_prefilled,
        stats.tokens_out,
        stats.wall_s,
        stats.peak_rss_mb
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cached_run_reports_no_model_rates() {
        let cached = Stats { chunks: 4, chunks_cached: 4, chunks_per_min: 7106.5, ..Stats::default() };
        let line = stats_line(&cached);
        assert!(line.contains("every answer from the cache") && !line.contains("tok/s"), "{line}");
        let ran = Stats { tokens_out: 12, decode_tokens_per_s: 30.0, ..Stats::default() };
        assert!(stats_line(&ran).contains("decode 30.0 tok/s"));
    }

    #[test]
    fn counts_are_singular_or_plural() {
        assert_eq!(counted(1, "file", "files"), "1 file");
        assert_eq!(counted(6, "file", "files"), "6 files");
    }
    use crate::pipeline::author::AuthorContext;
    use crate::pipeline::change::{Source, Status};
    use crate::pipeline::facts::{Api, FileFacts};
    use crate::pipeline::schema::Origin;
    use crate::pipeline::select::Listed;

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
            walkthrough: String::new(),
            model_summary: String::new(),
            summary_from: Origin::Model,
            facts: FileFacts::default(),
            structure: Default::default(),
            omitted_lines: 0,
            chunks: Vec::new(),
        };
        let facts = ChangeFacts {
            label: "feature".into(),
            review_size: "S".into(),
            files,
            api: Api { added: vec!["parse".into()], ..Api::default() },
            ..ChangeFacts::default()
        };
        Summary {
            model: "test".into(),
            source: Source::Patch { name: "x".into() },
            title: "A title\nwith a second line".into(),
            title_from: Origin::Model,
            overview: "Things change.".into(),
            author: AuthorContext::default(),
            facts: Some(facts),
            codebase: None,
            claims: Vec::new(),
            since: None,
            dropped: Vec::new(),
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
        assert!(text.starts_with("### A title with a second line\n\n**Feature** · review size S"), "{text}");
        assert!(text.contains("**For reviewers** (computed from the diff)\n- Public API: added `parse`"), "{text}");
        assert!(text.contains("| `src/module_1/file_1.rs` | modified +3 −1 | Adds a helper that \\| parses input and &lt;b&gt;returns"), "{text}");
        assert!(text.contains("**Items:** `function_1`"));
        assert!(text.contains("- `bin/0.png` — binary"));
        assert!(!text.contains("not shown"));
        assert!(
            !to_comment(&summary(2, 1), COMMENT_LIMIT).contains("### A title"),
            "a comment does not repeat the pull request's title"
        );
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
    fn files_left_out_by_the_settings_are_counted_not_listed() {
        let mut many = summary(1, 0);
        many.listed = (0..575)
            .map(|i| Listed { path: format!("x/{i}.rs"), status: Status::Added, reason: Reason::NotIncluded })
            .collect();
        let text = to_markdown(&many, COMMENT_LIMIT);
        assert!(text.contains("- 575 file(s) not in the config's include globs") && !text.contains("x/1.rs"), "{text}");
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
