//! Which changed files are worth a model's time: binaries, LFS pointers,
//! generated and vendored files, lockfiles and minified bundles are listed
//! with the reason instead; the repository's include/exclude globs and file
//! limit apply. What a path decides is decided before any text is read;
//! then files are read one at a time, largest change first, until the file
//! limit or the job's text limit ([`MAX_TEXT_BYTES`]) is reached.

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
    Generated(MarkedBy),
    Vendored(MarkedBy),
    Lockfile,
    /// A licence's text (`LICENSE`, `COPYING`, `NOTICE`): legal text, not code to summarize.
    Licence,
    /// Metadata a package registry writes into a release (`.cargo_vcs_info.json`, `PKG-INFO`).
    PackageMetadata,
    Minified,
    TooLarge(u64),
    Symlink(String),
    Submodule(String),
    /// Renamed or mode changed, same content.
    NoContentChange,
    Excluded,
    NotIncluded,
    OverFileLimit,
    /// The job already holds [`MAX_TEXT_BYTES`] of text.
    OverTextLimit,
}

/// Who said a file is generated or vendored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MarkedBy {
    /// `.gitattributes` at the base: the repository's word, not the change's.
    Attributes,
    /// A `@generated` or `DO NOT EDIT` line at the top of the file.
    Header,
    /// A folder such as `vendor/` in its path.
    Folder,
}

impl Reason {
    pub fn describe(&self) -> String {
        match self {
            Reason::Deleted => "deleted".into(),
            Reason::Binary => "binary".into(),
            Reason::LfsPointer => "Git LFS pointer".into(),
            Reason::Generated(_) => "generated".into(),
            Reason::Vendored(_) => "vendored".into(),
            Reason::Lockfile => "lockfile".into(),
            Reason::Licence => "licence text".into(),
            Reason::PackageMetadata => "package metadata".into(),
            Reason::Minified => "minified".into(),
            Reason::TooLarge(bytes) => format!("too large ({:.1} MB)", *bytes as f64 / 1e6),
            Reason::Symlink(target) => format!("symlink to `{target}`"),
            Reason::Submodule(what) => format!("submodule {what}"),
            Reason::NoContentChange => "no content change".into(),
            Reason::Excluded => "excluded by the config".into(),
            Reason::NotIncluded => "not in the config's include globs".into(),
            Reason::OverFileLimit => "over the max_files limit".into(),
            Reason::OverTextLimit => format!("over the {} MB of text a job reads", MAX_TEXT_BYTES / 1024 / 1024),
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

/// The most text (diff lines or whole files, in bytes) one job holds for the
/// model, the facts and the grounding check: what bounds its memory,
/// whatever the change holds.
pub const MAX_TEXT_BYTES: usize = 32 * 1024 * 1024;

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

/// Why a file is listed, from what the listing already knows: its kind of
/// content (deleted, binary, too large, …) and its path.
fn listed_reason(file: &FileChange, attributes: &Attributes) -> Option<Reason> {
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
        Content::File(_) | Content::Hunks(_) | Content::Unread => {}
    }
    let path = file.path.as_str();
    let name = path.rsplit('/').next().unwrap_or(path);
    if attributes.generated.is_match(path) {
        return Some(Reason::Generated(MarkedBy::Attributes));
    }
    if attributes.vendored.is_match(path) {
        return Some(Reason::Vendored(MarkedBy::Attributes));
    }
    if in_vendor_folder(path) {
        return Some(Reason::Vendored(MarkedBy::Folder));
    }
    if LOCKFILES.contains(&name) {
        return Some(Reason::Lockfile);
    }
    if is_licence(name) {
        return Some(Reason::Licence);
    }
    if PACKAGE_METADATA.contains(&name) {
        return Some(Reason::PackageMetadata);
    }
    None
}

/// Files a package registry adds to a release.
const PACKAGE_METADATA: &[&str] = &[".cargo_vcs_info.json", "Cargo.toml.orig", "PKG-INFO"];

/// `LICENSE`, `LICENSE-MIT`, `LICENCE.md`, `COPYING.txt`, `NOTICE`, `UNLICENSE`.
fn is_licence(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or(name).to_ascii_uppercase();
    let base = stem.split(['-', '_']).next().unwrap_or(&stem);
    matches!(base, "LICENSE" | "LICENCE" | "COPYING" | "NOTICE" | "UNLICENSE")
        && name.split('.').nth(1).is_none_or(|ext| matches!(ext.to_ascii_lowercase().as_str(), "md" | "txt" | "rst"))
}

pub fn in_vendor_folder(path: &str) -> bool {
    VENDOR_DIRS.iter().any(|d| path.starts_with(d) || path.contains(&format!("/{d}")))
}

/// Why a file is listed, from its text once read.
fn text_reason(file: &FileChange) -> Option<Reason> {
    let text = sample(&file.content).unwrap_or_default();
    if looks_minified(&file.path, &text) {
        return Some(Reason::Minified);
    }
    if looks_generated(&text) {
        return Some(Reason::Generated(MarkedBy::Header));
    }
    None
}

/// The settings' `include` and `exclude` globs: which paths a job looks at.
pub struct Scope {
    include: Option<GlobSet>,
    exclude: GlobSet,
}

impl Scope {
    pub fn new(config: &Settings) -> Result<Scope> {
        let include = (!config.include.is_empty()).then(|| glob_set(&config.include)).transpose()?;
        Ok(Scope { include, exclude: glob_set(&config.exclude)? })
    }

    /// Why the settings leave `path` out, if they do: such a file is not read.
    pub fn leaves_out(&self, path: &str) -> Option<Reason> {
        if self.include.as_ref().is_some_and(|include| !include.is_match(path)) {
            Some(Reason::NotIncluded)
        } else if self.exclude.is_match(path) {
            Some(Reason::Excluded)
        } else {
            None
        }
    }
}

/// Whether a listed file hides on its own word: the change adds it (or the
/// marker) and it says it is generated, vendored, minified or an LFS pointer.
/// What `.gitattributes` at the base says is the repository's word instead.
pub fn marked_by_itself(reason: &Reason, file: &FileChange) -> bool {
    match reason {
        // Read from the change's added lines: the change brings the marker.
        Reason::Generated(MarkedBy::Header) | Reason::Minified | Reason::LfsPointer => file.status != Status::Deleted,
        Reason::Vendored(MarkedBy::Folder) => match file.status {
            Status::Added | Status::Copied => true,
            Status::Renamed => file.old_path.as_deref().is_some_and(|old| !in_vendor_folder(old)),
            _ => false,
        },
        _ => false,
    }
}

/// Splits a change into files to summarize and files listed with a reason;
/// `gitattributes` is the text of the repository's `.gitattributes`. Paths
/// decide first, without reading; then, when more than `max_files` qualify,
/// the ones with the most changed lines are read and summarized, each read
/// only while the job holds less than [`MAX_TEXT_BYTES`] of text.
pub fn select(change: Change, config: &Settings, gitattributes: &str) -> Result<Selection> {
    let attributes = Attributes::parse(gitattributes);
    let scope = Scope::new(config)?;
    let Change { files: all, reader, .. } = change;
    let mut candidates = Vec::new();
    let mut listed = Vec::new();
    for (index, file) in all.into_iter().enumerate() {
        let reason = scope.leaves_out(&file.path).or_else(|| listed_reason(&file, &attributes));
        match reason {
            Some(reason) => listed.push(Listed { path: file.path, status: file.status, reason }),
            None => candidates.push((index, file)),
        }
    }
    candidates.sort_by(|(_, a), (_, b)| {
        (b.additions + b.deletions).cmp(&(a.additions + a.deletions)).then(a.path.cmp(&b.path))
    });
    let mut files = Vec::new();
    let mut held = 0;
    for (index, mut file) in candidates {
        if files.len() == config.max_files {
            listed.push(Listed { path: file.path, status: file.status, reason: Reason::OverFileLimit });
            continue;
        }
        // Each line holds a byte at least: a file that cannot fit is not read.
        if held + file.additions + file.deletions > MAX_TEXT_BYTES {
            listed.push(Listed { path: file.path, status: file.status, reason: Reason::OverTextLimit });
            continue;
        }
        if matches!(file.content, Content::Unread) {
            let path = file.path.clone();
            (file.content, file.structure) = reader.read(index, &path, config.max_file_bytes)?;
        }
        let bytes = file.content.text_bytes();
        let reason = listed_reason(&file, &attributes)
            .or_else(|| text_reason(&file))
            .or_else(|| (held + bytes > MAX_TEXT_BYTES).then_some(Reason::OverTextLimit));
        match reason {
            Some(reason) => listed.push(Listed { path: file.path, status: file.status, reason }),
            None => {
                held += bytes;
                files.push(file);
            }
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
    fn only_what_the_change_brings_marks_itself() {
        let file = |path: &str, status, old_path: Option<&str>| FileChange {
            structure: Default::default(),
            path: path.into(),
            old_path: old_path.map(str::to_string),
            status,
            additions: 3,
            deletions: 0,
            content: Content::Unread,
        };
        let vendored = Reason::Vendored(MarkedBy::Folder);
        assert!(marked_by_itself(&vendored, &file("vendor/x.go", Status::Added, None)));
        assert!(marked_by_itself(&vendored, &file("vendor/x.go", Status::Renamed, Some("src/x.go"))));
        assert!(!marked_by_itself(&vendored, &file("vendor/x.go", Status::Modified, None)));
        assert!(!marked_by_itself(&Reason::Vendored(MarkedBy::Attributes), &file("x.go", Status::Added, None)));
        assert!(marked_by_itself(&Reason::Generated(MarkedBy::Header), &file("x.go", Status::Modified, None)));
        assert!(!marked_by_itself(&Reason::Generated(MarkedBy::Attributes), &file("x.go", Status::Added, None)));
        assert!(!marked_by_itself(&Reason::Lockfile, &file("Cargo.lock", Status::Added, None)));
    }

    #[test]
    fn licences_and_registry_metadata_are_listed_not_summarized() {
        for name in ["LICENSE", "LICENSE-MIT", "licence.md", "COPYING.txt", "NOTICE", "UNLICENSE"] {
            assert!(is_licence(name), "{name}");
        }
        for name in ["LICENSE.py", "license_check.rs", "notices.ts", "COPYING.sh"] {
            assert!(!is_licence(name), "{name}");
        }
        assert!(PACKAGE_METADATA.contains(&".cargo_vcs_info.json"));
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
