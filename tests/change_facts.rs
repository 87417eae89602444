//! "For reviewers" facts of real changes, computed without a model (the
//! deterministic fake model writes the prose): dependency changes from the
//! manifests parsed at the base and the head, and the files a change hides
//! on their own word.

mod common;

use serde_json::Value;

use common::Repo;
use precis::pipeline::report::{to_comment, to_json, COMMENT_LIMIT};
use precis::pipeline::{AuthorContext, Input, Settings, Summary};

fn summarize(repo: &Repo, base: &str) -> Summary {
    let input = Input::Range { repo: repo.path().to_path_buf(), base: base.into(), head: "HEAD".into() };
    common::fake_summarizer().summarize(&input, &Settings::default(), &AuthorContext::default()).unwrap()
}

/// Each dependency change as `file section name: from -> to (redirects)`.
fn dependencies(summary: &Summary) -> Vec<String> {
    let json: Value = serde_json::from_str(&to_json(summary)).unwrap();
    let text = |v: &Value| v.as_str().unwrap_or("-").to_string();
    json["facts"]["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            format!(
                "{} {} {}: {} -> {}{}",
                text(&d["file"]),
                text(&d["section"]),
                text(&d["name"]),
                text(&d["from"]),
                text(&d["to"]),
                if d["redirects"] == true { " (redirects)" } else { "" }
            )
        })
        .collect()
}

#[test]
fn dependency_changes_come_from_the_parsed_manifests() {
    let repo = Repo::new();
    repo.write(
        "Cargo.toml",
        r#"[package]
name = "demo"
version = "0.1.0"
edition = "2021"

[dependencies]
serde = { version = "1.0.200", features = ["derive"] }
anyhow = "1"
regex = "1.10"

[target.'cfg(unix)'.dependencies]
libc = "0.2"
"#,
    );
    repo.write(
        "web/package.json",
        r#"{
  "name": "web",
  "version": "1.0.0",
  "private": true,
  "dependencies": { "left-pad": "^1.3.0", "react": "^18.2.0" },
  "devDependencies": { "jest": "^29.0.0" }
}
"#,
    );
    repo.write(
        "py/pyproject.toml",
        r#"[project]
name = "tool"
version = "0.1.0"
requires-python = ">=3.9"
dependencies = ["requests>=2.31", "click"]
"#,
    );
    repo.write("go/go.mod", "module example.com/m\n\ngo 1.21\n\nrequire (\n\tgolang.org/x/net v0.17.0\n)\n");
    let base = repo.commit("base");
    repo.write(
        "Cargo.toml",
        r#"[package]
name = "demo"
version = "0.2.0"
edition = "2024"

[dependencies]
serde = { version = "1.0.210", features = ["derive"] }
anyhow = "1"
tokio = { version = "1", features = ["rt"] }

[target.'cfg(unix)'.dependencies]
libc = "0.2"

[dev-dependencies]
proptest = "1"

[patch.crates-io]
serde = { git = "https://github.com/someone/serde", branch = "main" }
"#,
    );
    repo.write(
        "web/package.json",
        r#"{
  "name": "web",
  "version": "1.1.0",
  "private": true,
  "dependencies": { "left-pad": "^1.3.1", "react": "^18.2.0" },
  "devDependencies": { "jest": "^29.0.0" },
  "overrides": { "react": { "loose-envify": "github:someone/loose-envify" } }
}
"#,
    );
    repo.write(
        "py/pyproject.toml",
        r#"[project]
name = "tool"
version = "0.2.0"
requires-python = ">=3.10"
dependencies = ["requests>=2.32", "click", "rich[jupyter]>=13"]

[tool.uv.sources]
click = { git = "https://github.com/someone/click", tag = "v9" }
"#,
    );
    repo.write(
        "go/go.mod",
        "module example.com/m\n\ngo 1.22\n\nrequire (\n\tgolang.org/x/net v0.19.0 // indirect\n)\n\nreplace golang.org/x/net => ../net\n",
    );
    repo.commit("head");

    let summary = summarize(&repo, &base);
    let mut found = dependencies(&summary);
    found.sort();
    assert_eq!(
        found,
        [
            "Cargo.toml dependencies regex: 1.10 -> -",
            "Cargo.toml dependencies serde: 1.0.200 -> 1.0.210",
            "Cargo.toml dependencies tokio: - -> 1",
            "Cargo.toml dev-dependencies proptest: - -> 1",
            "Cargo.toml patch.crates-io serde: - -> git https://github.com/someone/serde, branch main (redirects)",
            "go/go.mod replace golang.org/x/net: - -> ../net (redirects)",
            "go/go.mod require golang.org/x/net: v0.17.0 -> v0.19.0",
            "py/pyproject.toml project.dependencies requests: >=2.31 -> >=2.32",
            "py/pyproject.toml project.dependencies rich: - -> >=13",
            "py/pyproject.toml tool.uv.sources click: - -> git https://github.com/someone/click, tag v9 (redirects)",
            "web/package.json dependencies left-pad: ^1.3.0 -> ^1.3.1",
            "web/package.json overrides react > loose-envify: - -> github:someone/loose-envify (redirects)",
        ],
        "package metadata (name, version, edition, go, requires-python) is not a dependency"
    );
    let comment = to_comment(&summary, COMMENT_LIMIT);
    let line = |start: &str| comment.lines().find(|l| l.starts_with(start)).unwrap_or_default().to_string();
    let redirected = line("- Sources redirected: ");
    assert!(redirected.contains("`serde` git https:") && redirected.contains("in `patch.crates-io`"), "{comment}");
    assert!(line("- Dependencies: ").contains("`serde` 1.0.200 → 1.0.210"), "{comment}");
}

#[test]
fn a_manifest_that_does_not_parse_is_named_not_guessed() {
    let repo = Repo::new();
    repo.write("Cargo.toml", "[package]\nname = \"demo\"\n\n[dependencies]\nserde = \"1\"\n");
    let base = repo.commit("base");
    repo.write("Cargo.toml", "[package]\nname = \"demo\"\n\n[dependencies]\nserde = \"2\"\nbroken = {\n");
    repo.commit("head");
    let summary = summarize(&repo, &base);
    assert!(dependencies(&summary).is_empty());
    let comment = to_comment(&summary, COMMENT_LIMIT);
    assert!(comment.contains("- Dependencies: not compared in `Cargo.toml` (at the head: not valid TOML"), "{comment}");
}

#[test]
fn files_that_mark_themselves_generated_or_vendored_are_named_for_reviewers() {
    let repo = Repo::new();
    repo.write("README.md", "start\n");
    repo.write(".gitattributes", "gen/** linguist-generated\n");
    repo.write("vendor/old/lib.go", "package old\n");
    let base = repo.commit("base");
    let body: String = (0..30).map(|i| format!("func F{i}() {{}}\n")).collect();
    repo.write("proto/api.pb.go", format!("// Code generated by protoc-gen-go. DO NOT EDIT.\npackage api\n{body}"));
    repo.write("vendor/github.com/x/lib.go", format!("package lib\n{body}"));
    repo.write("assets/model.bin", "version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12\n");
    // The base's attributes are the repository's word: not the change hiding its own files.
    repo.write("gen/schema.rs", "pub struct Schema;\n");
    // A file already vendored at the base, changed: the change does not bring the marker.
    repo.write("vendor/old/lib.go", "package old\n\nfunc G() {}\n");
    repo.write("src/lib.rs", "pub fn visible() {}\n");
    repo.commit("head");

    let summary = summarize(&repo, &base);
    let comment = to_comment(&summary, COMMENT_LIMIT);
    let line = comment
        .lines()
        .find(|l| l.starts_with("- Not summarized on the files' own word: "))
        .unwrap_or_else(|| panic!("no line for the self-marked files:\n{comment}"));
    assert!(line.contains("added 66 line(s)"), "32 + 31 + 3 lines: {line}");
    for (path, marker) in [
        ("proto/api.pb.go", "generated"),
        ("vendor/github.com/x/lib.go", "vendored"),
        ("assets/model.bin", "a Git LFS pointer"),
    ] {
        assert!(line.contains(&format!("`{path}` ({marker}")), "{path}: {line}");
    }
    assert!(!line.contains("gen/schema.rs") && !line.contains("vendor/old/lib.go"), "{line}");
    assert!(summary.files.iter().any(|f| f.path == "src/lib.rs"));
}

/// `unwrap()` added inside a `#[cfg(test)]` module of a product file is
/// how a test fails, not a reviewer's worry; one added to product code in
/// the same file is named.
#[test]
fn unwraps_in_a_files_tests_are_not_flagged() {
    let repo = Repo::new();
    let product = "pub fn parse(s: &str) -> u32 {\n    s.len() as u32\n}\n";
    let tests = |body: &str| format!("\n#[cfg(test)]\nmod tests {{\n    use super::*;\n\n{body}}}\n");
    repo.write("src/lib.rs", format!("{product}{}", tests("")));
    let base = repo.commit("base");
    let test =
        "    #[test]\n    fn parses() {\n        assert_eq!(parse(\"ab\"), \"2\".parse::<u32>().unwrap());\n    }\n";
    // Product code changes too, without an unwrap: the file is not tests only.
    let trimmed = "pub fn parse(s: &str) -> u32 {\n    s.trim().len() as u32\n}\n";
    repo.write("src/lib.rs", format!("{trimmed}{}", tests(test)));
    repo.commit("a test");
    let flags = summarize(&repo, &base).facts.unwrap().flags;
    assert!(!flags.iter().any(|f| f.contains("unwrap")), "{flags:?}");

    let risky = "pub fn parse(s: &str) -> u32 {\n    s.parse().unwrap()\n}\n";
    repo.write("src/lib.rs", format!("{risky}{}", tests(test)));
    repo.commit("product code unwraps");
    let flags = summarize(&repo, &base).facts.unwrap().flags;
    assert!(flags.iter().any(|f| f.starts_with("src/lib.rs: adds `unwrap()`")), "{flags:?}");
}
