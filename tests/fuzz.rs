//! Property tests with a fixed budget (run by `cargo test`): hostile text
//! through the Markdown renderer never yields a live mention, reference,
//! link, image, HTML or a bidirectional control; any payload through event → job routing never
//! panics.

use proptest::prelude::*;
use pulldown_cmark::{Event, Parser, Tag};

use precis::pipeline::markdown::{cell, code, inert};

/// Text built from the characters that make Markdown and GitHub live.
fn hostile() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "@octocat",
        "@",
        "#12",
        "#",
        "<img src=x>",
        "</details>",
        "<",
        ">",
        "&",
        "[a](http://e)",
        "![p](x.png)",
        "[",
        "]",
        "(",
        ")",
        "!",
        "`",
        "``",
        "|",
        "\n",
        "\r",
        "\u{7}",
        "https://e.com",
        "www.e.com",
        "://",
        "*",
        "_",
        "~",
        "\\",
        "GH-1",
        "o/r#3",
        " ",
        "word",
        "é",
        "👍",
        "\u{200B}",
        "<!--",
        "-->",
        "\u{202A}",
        "\u{202B}",
        "\u{202C}",
        "\u{202D}",
        "\u{202E}",
        "\u{2066}",
        "\u{2067}",
        "\u{2068}",
        "\u{2069}",
        "\u{200E}",
        "\u{200F}",
        "\u{061C}",
        ":",
        "/",
        ".",
    ]);
    prop::collection::vec(pieces, 0..40).prop_map(|p| p.concat())
}

/// The characters that reorder text: U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// What GitHub would make of `markdown`: any HTML, link or image, or text
/// that would notify, link a reference or an address.
fn live_parts(markdown: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mention = regex::Regex::new(r"(^|[^\w`])[@#][A-Za-z0-9]").unwrap();
    for event in Parser::new_ext(markdown, pulldown_cmark::Options::ENABLE_TABLES) {
        match event {
            Event::Html(h) | Event::InlineHtml(h) => found.push(format!("html {h}")),
            Event::Start(Tag::Link { .. }) | Event::Start(Tag::Image { .. }) => found.push("link or image".into()),
            Event::Text(t) if mention.is_match(&t) || t.contains("://") || t.to_lowercase().contains("www.") => {
                found.push(format!("text {t}"))
            }
            _ => {}
        }
    }
    found
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn rendered_text_is_inert(text in hostile()) {
        for (how, out) in [("inert", inert(&text)), ("cell", cell(&text)), ("code", code(&text))] {
            prop_assert!(live_parts(&out).is_empty(), "{how}({text:?}) = {out:?}: {:?}", live_parts(&out));
            prop_assert!(!out.contains('\n') && !out.contains('\r'), "{how} stays on one line: {out:?}");
            prop_assert!(!out.chars().any(|c| c.is_control()), "{how} has no control characters: {out:?}");
            prop_assert!(!out.chars().any(is_bidi_control), "{how} has no bidirectional controls: {out:?}");
            let shown = text.chars().filter(|&c| is_bidi_control(c)).count();
            prop_assert!(out.matches("U+").count() >= shown, "{how} shows each bidirectional control: {out:?}");
        }
        // In a table row, a cell cannot add columns.
        let row = format!("| a | {} |\n", cell(&text));
        let table = format!("| x | y |\n| --- | --- |\n{row}");
        let cells = Parser::new_ext(&table, pulldown_cmark::Options::ENABLE_TABLES)
            .filter(|e| matches!(e, Event::Start(Tag::TableCell)))
            .count();
        prop_assert_eq!(cells, 4, "{:?}", row);
    }

    #[test]
    fn any_payload_routes_without_panicking(payload in payload(), event in prop::sample::select(vec![
        "pull_request", "pull_request_target", "push", "issue_comment", "check_run", "installation", "installation_repositories", "ping", "star",
    ])) {
        let _ = precis::app::routing::route(event, &payload);
        let _ = precis::github::payload::parse(event, &payload);
    }
}

/// JSON shaped like GitHub's payloads: their keys, any values, some nesting.
fn payload() -> impl Strategy<Value = serde_json::Value> {
    let key = prop::sample::select(vec![
        "action",
        "pull_request",
        "number",
        "head",
        "base",
        "sha",
        "ref",
        "repo",
        "repository",
        "owner",
        "login",
        "name",
        "full_name",
        "clone_url",
        "default_branch",
        "fork",
        "installation",
        "id",
        "before",
        "after",
        "deleted",
        "commits",
        "message",
        "comment",
        "body",
        "user",
        "type",
        "issue",
        "check_run",
        "pull_requests",
        "draft",
        "state",
        "title",
        "account",
        "repositories",
    ]);
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        prop::sample::select(vec![
            "opened",
            "synchronize",
            "created",
            "rerequested",
            "precis",
            "/precis summarize",
            "Bot",
            "0000000000000000000000000000000000000000",
            "refs/heads/main",
            "main",
            "",
            "o",
            "r"
        ])
        .prop_map(serde_json::Value::from),
        ".*".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map(key.clone(), inner, 0..8)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        ]
    })
}
