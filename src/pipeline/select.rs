//! Which changed files are worth a model's time: binaries, LFS pointers,
//! generated and vendored files, lockfiles and minified bundles are listed
//! with the reason instead; the repository's include/exclude globs and file
//! limit apply.

use anyhow::Result;
use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Serialize;

use super::change::{Change, Content, FileChange, Status};
use super::settings::Settings;

/// Why a file is listed rather than summarized.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", content = "detail", rename_all = "snake_case")]
pub enum Reason {
    Deleted,
    Binary,
    LfsPointer,
    Generated,
    Vendored,
    Lockfile,
    Minified,
    TooLarge(u64),
    Symlink(String),
    Submodule(String),
    /// Renamed or mode changed, same content.
    NoContentChange,
    Excluded,
    NotIncluded,
    OverFileLimit,
}

impl Reason {
    pub fn describe(&self) -> String {
        match self {
            Reason::Deleted => "deleted".into(),
            Reason::Binary => "binary".into(),
            Reason::LfsPointer => "Git LFS pointer".into(),
            Reason::Generated => "generated".into(),
            Reason::Vendored => "vendored".into(),
            Reason::Lockfile => "lockfile".into(),
            Reason::Minified => "minified".into(),
            Reason::TooLarge(bytes) => format!("too large ({:.1} MB)", *bytes as f64 / 1e6),
            Reason::Symlink(target) => format!("symlink to `{target}`"),
            Reason::Submodule(what) => format!("submodule {what}"),
            Reason::NoContentChange => "no content change".into(),
            Reason::Excluded => "excluded by the config".into(),
            Reason::NotIncluded => "not in the config's include globs".into(),
            Reason::OverFileLimit => "over the max_files limit".into(),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Listed {
    pub path: String,
    pub status: Status,
    #[serde(flatten)]
    pub reason: Reason,
}

pub struct Selection {
    /// To summarize, in path order.
    pub files: Vec<FileChange>,
    /// Not summarized, with the reason, in path order.
    pub listed: Vec<Listed>,
}

const LOCKFILES: &[&str] = &[
    "Cargo.lock",
    "package-lock.json",
    "npm-shrinkwrap.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "bun.lockb",
    "poetry.lock",
    "Pipfile.lock",
    "uv.lock",
    "Gemfile.lock",
    "composer.lock",
    "go.sum",
    "flake.lock",
    "mix.lock",
    "pubspec.lock",
    "Podfile.lock",
    "packages.lock.json",
];

const VENDOR_DIRS: &[&str] = &["vendor/", "node_modules/", "third_party/", "third-party/", "bower_components/"];

/// `.gitattributes` patterns marked `linguist-generated` or `linguist-vendored`.
struct Attributes {
    generated: GlobSet,
    vendored: GlobSet,
}

impl Attributes {
    fn parse(text: &str) -> Attributes {
        let (mut generated, mut vendored) = (GlobSetBuilder::new(), GlobSetBuilder::new());
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            let mut fields = line.split_whitespace();
            let Some(pattern) = fields.next() else { continue };
            let Some(glob) = attribute_glob(pattern) else { continue };
            for attribute in fields {
                match attribute {
                    "linguist-generated" | "linguist-generated=true" => {
                        generated.add(glob.clone());
                    }
                    "linguist-vendored" | "linguist-vendored=true" => {
                        vendored.add(glob.clone());
                    }
                    _ => {}
                }
            }
        }
        let build = |b: GlobSetBuilder| b.build().unwrap_or_else(|_| GlobSet::empty());
        Attributes { generated: build(generated), vendored: build(vendored) }
    }
}

/// A `.gitattributes` pattern as a glob: without a slash it matches at any
/// depth; a trailing `/**` or a directory name covers what is inside.
fn attribute_glob(pattern: &str) -> Option<Glob> {
    let anchored = pattern.trim_start_matches('/');
    let glob = if pattern.contains('/') && !pattern.ends_with('/') {
        anchored.to_string()
    } else {
        format!("**/{}", anchored.trim_end_matches('/'))
    };
    let glob = if glob.ends_with("/**") { glob } else { format!("{{{glob},{glob}/**}}") };
    Glob::new(&glob).ok()
}

fn glob_set(globs: &[String]) -> Result<GlobSet> {
    let mut builder = GlobSetBuilder::new();
    for glob in globs {
        builder.add(Glob::new(glob)?);
    }
    Ok(builder.build()?)
}

fn looks_generated(text: &str) -> bool {
    text.lines().take(5).any(|line| line.contains("@generated") || line.contains("DO NOT EDIT"))
}

/// Long lines with little else: a bundle, not code written by hand.
fn looks_minified(path: &str, text: &str) -> bool {
    if path.contains(".min.") {
        return true;
    }
    let lines = text.lines().count().max(1);
    text.len() / lines > 500
}

/// The text a file's content check looks at: the whole file or the added lines.
fn sample(content: &Content) -> Option<String> {
    match content {
        Content::File(text) => Some(text.chars().take(64_000).collect()),
        Content::Hunks(hunks) => Some(
            hunks
                .iter()
                .flat_map(|h| &h.lines)
                .filter_map(|l| l.strip_prefix('+'))
                .take(2_000)
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        _ => None,
    }
}

fn reason_for(file: &FileChange, attributes: &Attributes) -> Option<Reason> {
    match &file.content {
        Content::Empty if file.status == Status::Deleted => return Some(Reason::Deleted),
        Content::Empty => return Some(Reason::NoContentChange),
        Content::Binary => return Some(Reason::Binary),
        Content::LfsPointer => return Some(Reason::LfsPointer),
        Content::TooLarge { bytes } => return Some(Reason::TooLarge(*bytes)),
        Content::Symlink { target } => return Some(Reason::Symlink(target.clone())),
        Content::Submodule { old, new } => {
            let short = |id: &Option<String>| id.as_deref().map(|i| i[..i.len().min(8)].to_string());
            let what = match (short(old), short(new)) {
                (Some(old), Some(new)) => format!("moved from {old} to {new}"),
                (None, Some(new)) => format!("added at {new}"),
                (Some(old), None) => format!("removed (was {old})"),
                (None, None) => "changed".into(),
            };
            return Some(Reason::Submodule(what));
        }
        Content::File(_) | Content::Hunks(_) => {}
    }
    let path = file.path.as_str();
    let name = path.rsplit('/').next().unwrap_or(path);
    if attributes.generated.is_match(path) {
        return Some(Reason::Generated);
    }
    if attributes.vendored.is_match(path)
        || VENDOR_DIRS.iter().any(|d| path.starts_with(d) || path.contains(&format!("/{d}")))
    {
        return Some(Reason::Vendored);
    }
    if LOCKFILES.contains(&name) {
        return Some(Reason::Lockfile);
    }
    let text = sample(&file.content).unwrap_or_default();
    if looks_minified(path, &text) {
        return Some(Reason::Minified);
    }
    if looks_generated(&text) {
        return Some(Reason::Generated);
    }
    None
}

/// Splits a change into files to summarize and files listed with a reason;
/// `gitattributes` is the text of the repository's `.gitattributes`. When
/// more than `max_files` qualify, the ones with the most changed lines are
/// summarized.
pub fn select(change: Change, config: &Settings, gitattributes: &str) -> Result<Selection> {
    let attributes = Attributes::parse(gitattributes);
    let include = glob_set(&config.include)?;
    let exclude = glob_set(&config.exclude)?;
    let mut files = Vec::new();
    let mut listed = Vec::new();
    for file in change.files {
        let reason = if !config.include.is_empty() && !include.is_match(&file.path) {
            Some(Reason::NotIncluded)
        } else if exclude.is_match(&file.path) {
            Some(Reason::Excluded)
        } else {
            reason_for(&file, &attributes)
        };
        match reason {
            Some(reason) => listed.push(Listed { path: file.path, status: file.status, reason }),
            None => files.push(file),
        }
    }
    if files.len() > config.max_files {
        files.sort_by(|a, b| (b.additions + b.deletions).cmp(&(a.additions + a.deletions)).then(a.path.cmp(&b.path)));
        for file in files.split_off(config.max_files) {
            listed.push(Listed { path: file.path, status: file.status, reason: Reason::OverFileLimit });
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    listed.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Selection { files, listed })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gitattributes_patterns_match_like_git() {
        let glob = |p: &str| attribute_glob(p).unwrap().compile_matcher();
        assert!(glob("*.pb.go").is_match("api/v1/x.pb.go"));
        assert!(glob("gen/").is_match("gen/a.rs"));
        assert!(glob("gen/").is_match("src/gen/a.rs"));
        assert!(glob("/docs/api/**").is_match("docs/api/x.md"));
        assert!(!glob("/docs/api/**").is_match("src/docs/api/x.md"));
        assert!(glob("src/schema.rs").is_match("src/schema.rs"));
    }

    #[test]
    fn minified_and_generated_are_recognised() {
        assert!(looks_minified("app.min.js", "x"));
        assert!(looks_minified("bundle.js", &"a".repeat(5000)));
        assert!(!looks_minified("lib.rs", "fn main() {}\n"));
        assert!(looks_generated("// Code generated by protoc-gen-go. DO NOT EDIT.\npackage x\n"));
        assert!(!looks_generated("fn main() {}\n"));
    }
}
