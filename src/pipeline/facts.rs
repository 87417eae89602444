//! Facts computed from the change itself, never asked of the model: public
//! API added, removed or changed; tests touched; dependency versions; CI,
//! build, migration, config and docs files; risky additions; a change-type
//! label and a review-size estimate. For a whole codebase: languages, sizes,
//! entry points and public items per file.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use regex::Regex;
use serde::Serialize;

use super::change::{Content, FileChange};
use super::chunk::language;

/// What part a file plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Code,
    Test,
    Docs,
    Config,
    Ci,
    Build,
    Migration,
    Dependencies,
}

pub fn role(path: &str) -> Role {
    let lower = path.to_ascii_lowercase();
    let name = lower.rsplit('/').next().unwrap_or(&lower);
    let in_dir = |dir: &str| lower.starts_with(&format!("{dir}/")) || lower.contains(&format!("/{dir}/"));
    if lower.starts_with(".github/workflows/")
        || name == ".gitlab-ci.yml"
        || lower.starts_with(".circleci/")
        || name == "jenkinsfile"
        || name == ".travis.yml"
    {
        Role::Ci
    } else if DEPENDENCY_FILES.contains(&name) || name.starts_with("requirements") && name.ends_with(".txt") {
        Role::Dependencies
    } else if in_dir("migrations") || in_dir("migrate") || (name.ends_with(".sql") && lower.contains("migrat")) {
        Role::Migration
    } else if in_dir("tests")
        || in_dir("test")
        || in_dir("__tests__")
        || in_dir("spec")
        || name.starts_with("test_")
        || name.contains("_test.")
        || name.contains(".test.")
        || name.contains(".spec.")
        || name.ends_with("_tests.rs")
    {
        Role::Test
    } else if [
        "makefile",
        "cmakelists.txt",
        "build.rs",
        "setup.py",
        "dockerfile",
        "build.gradle",
        "build.gradle.kts",
        "pom.xml",
        "meson.build",
        "justfile",
        "tox.ini",
        "noxfile.py",
    ]
    .contains(&name)
        || name.ends_with(".mk")
        || name.ends_with(".cmake")
    {
        Role::Build
    } else if in_dir("docs") || in_dir("doc") || [".md", ".rst", ".adoc", ".txt"].iter().any(|e| name.ends_with(e)) {
        Role::Docs
    } else if [".yml", ".yaml", ".toml", ".ini", ".cfg", ".conf", ".json", ".env", ".properties"]
        .iter()
        .any(|e| name.ends_with(e))
        || name.starts_with('.')
    {
        Role::Config
    } else {
        Role::Code
    }
}

/// Manifests and lockfiles whose changes are dependency changes.
const DEPENDENCY_FILES: &[&str] = &[
    "cargo.toml",
    "cargo.lock",
    "package.json",
    "package-lock.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "pyproject.toml",
    "poetry.lock",
    "pipfile",
    "pipfile.lock",
    "uv.lock",
    "go.mod",
    "go.sum",
    "gemfile",
    "gemfile.lock",
    "composer.json",
    "composer.lock",
    "setup.cfg",
];

/// A dependency whose version a change sets, moves or drops.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Dependency {
    pub name: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub file: String,
}

/// Public items by name: added, removed, or changed (both).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Api {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
}

impl Api {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }

    /// Every public name the change touches: added, changed, then removed.
    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.added.iter().chain(&self.changed).chain(&self.removed)
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct FileFacts {
    pub role: Option<Role>,
    #[serde(skip_serializing_if = "Api::is_empty")]
    pub api: Api,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<Dependency>,
    /// Risky additions: `unsafe`, `unwrap()`, `panic!`, `eval(`, a secret-looking string.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
}

/// The whole change's facts, shown to reviewers as "For reviewers".
#[derive(Clone, Debug, Default, Serialize)]
pub struct ChangeFacts {
    /// feature, fix, refactor, docs, tests, build/CI, dependencies or chore.
    pub label: String,
    /// XS, S, M, L or XL, from size and spread.
    pub review_size: String,
    pub files: usize,
    pub additions: usize,
    pub deletions: usize,
    /// Public items, each as `path: name`.
    pub api: Api,
    pub tests: Vec<String>,
    pub dependencies: Vec<Dependency>,
    pub ci: Vec<String>,
    pub build: Vec<String>,
    pub migrations: Vec<String>,
    pub config: Vec<String>,
    pub docs: Vec<String>,
    /// `path: flag`
    pub flags: Vec<String>,
}

fn regex(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("valid regex"))
}

/// The public item a line declares, by the file's language, if any.
pub fn public_item(language: &str, line: &str) -> Option<String> {
    static RUST: OnceLock<Regex> = OnceLock::new();
    static PYTHON: OnceLock<Regex> = OnceLock::new();
    static JS: OnceLock<Regex> = OnceLock::new();
    static GO: OnceLock<Regex> = OnceLock::new();
    static JAVA: OnceLock<Regex> = OnceLock::new();
    let pattern = match language {
        "Rust" => regex(
            &RUST,
            r"^\s*pub(?:\([^)]*\))?\s+(?:(?:async|const|unsafe|extern\s+\S+)\s+)*(?:fn|struct|enum|trait|const|static|type|mod|union|macro)\s+([A-Za-z_][A-Za-z0-9_]*)",
        ),
        // Top level only: no indentation; a leading underscore is private by convention.
        "Python" => regex(&PYTHON, r"^(?:async\s+)?(?:def|class)\s+([A-Za-z][A-Za-z0-9_]*)"),
        "JavaScript" | "TypeScript" => regex(
            &JS,
            r"^\s*export\s+(?:default\s+)?(?:declare\s+)?(?:abstract\s+)?(?:async\s+)?(?:function\*?|class|const|let|var|interface|type|enum|namespace)\s+([A-Za-z_$][A-Za-z0-9_$]*)",
        ),
        "Go" => regex(&GO, r"^(?:func(?:\s*\([^)]*\))?|type|var|const)\s+([A-Z][A-Za-z0-9_]*)"),
        "Java" | "Kotlin" | "C#" => regex(
            &JAVA,
            r"^\s*public\s+(?:(?:static|final|abstract|sealed|open|override|suspend|data|async|virtual)\s+)*(?:class|interface|enum|record|fun|void|[A-Za-z_][A-Za-z0-9_<>,\[\]?]*)\s+([A-Za-z_][A-Za-z0-9_]*)",
        ),
        _ => return None,
    };
    pattern.captures(line).map(|c| c[1].to_string())
}

/// Added (`+`) and removed (`-`) lines of a file's diff.
fn diff_lines(file: &FileChange) -> (Vec<&str>, Vec<&str>) {
    let Content::Hunks(hunks) = &file.content else { return (Vec::new(), Vec::new()) };
    let lines = hunks.iter().flat_map(|h| &h.lines);
    let added = lines.clone().filter_map(|l| l.strip_prefix('+')).collect();
    let removed = lines.filter_map(|l| l.strip_prefix('-')).collect();
    (added, removed)
}

fn api_of(file: &FileChange, added: &[&str], removed: &[&str]) -> Api {
    let language = language(&file.path);
    let names = |lines: &[&str]| -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for line in lines {
            if let Some(name) = public_item(language, line) {
                if !out.contains(&name) {
                    out.push(name);
                }
            }
        }
        out
    };
    let (plus, minus) = (names(added), names(removed));
    Api {
        added: plus.iter().filter(|n| !minus.contains(n)).cloned().collect(),
        removed: minus.iter().filter(|n| !plus.contains(n)).cloned().collect(),
        changed: plus.iter().filter(|n| minus.contains(n)).cloned().collect(),
    }
}

/// `name = version` pairs a manifest line declares.
fn declared(file_name: &str, line: &str) -> Option<(String, String)> {
    static TOML: OnceLock<Regex> = OnceLock::new();
    static TOML_TABLE: OnceLock<Regex> = OnceLock::new();
    static JSON: OnceLock<Regex> = OnceLock::new();
    static PEP508: OnceLock<Regex> = OnceLock::new();
    static GO_MOD: OnceLock<Regex> = OnceLock::new();
    let capture = |re: &Regex| re.captures(line).map(|c| (c[1].to_string(), c[2].to_string()));
    match file_name {
        "cargo.toml" | "pyproject.toml" if line.contains("version") || line.contains('"') => capture(regex(
            &TOML_TABLE,
            r#"^\s*([A-Za-z0-9_.-]+)\s*=\s*\{[^}]*version\s*=\s*"([^"]+)""#,
        ))
        .or_else(|| capture(regex(&TOML, r#"^\s*([A-Za-z0-9_.-]+)\s*=\s*"([~^=<>!]*\s*[0-9][^"]*)""#)))
        .or_else(|| {
            capture(regex(
                &PEP508,
                r#"^\s*"?([A-Za-z0-9_.-]+)\s*(?:\[[^\]]*\])?\s*(?:==|>=|~=|<=|!=|>|<)\s*([0-9][A-Za-z0-9_.*+-]*)"#,
            ))
        }),
        "package.json" | "composer.json" => {
            capture(regex(&JSON, r#"^\s*"([@A-Za-z0-9_./-]+)"\s*:\s*"([~^=<>]*\s*[0-9][^"]*)""#))
        }
        "go.mod" => capture(regex(&GO_MOD, r"^\s*(?:require\s+)?([a-z0-9.-]+\.[a-z]+/[^\s]+)\s+(v[0-9][^\s]*)")),
        name if name.starts_with("requirements") || name == "setup.cfg" => capture(regex(
            &PEP508,
            r#"^\s*"?([A-Za-z0-9_.-]+)\s*(?:\[[^\]]*\])?\s*(?:==|>=|~=|<=|!=|>|<)\s*([0-9][A-Za-z0-9_.*+-]*)"#,
        )),
        _ => None,
    }
}

fn dependencies_of(file: &FileChange, added: &[&str], removed: &[&str]) -> Vec<Dependency> {
    let name = file.path.rsplit('/').next().unwrap_or(&file.path).to_ascii_lowercase();
    if name == "package.json"
        || name.ends_with(".toml")
        || name == "go.mod"
        || name.starts_with("requirements")
        || name == "setup.cfg"
        || name == "composer.json"
    {
        let collect =
            |lines: &[&str]| -> BTreeMap<String, String> { lines.iter().filter_map(|l| declared(&name, l)).collect() };
        let (new, old) = (collect(added), collect(removed));
        let mut out = Vec::new();
        for (dep, version) in &new {
            if old.get(dep) != Some(version) {
                out.push(Dependency {
                    name: dep.clone(),
                    from: old.get(dep).cloned(),
                    to: Some(version.clone()),
                    file: file.path.clone(),
                });
            }
        }
        for (dep, version) in &old {
            if !new.contains_key(dep) {
                out.push(Dependency {
                    name: dep.clone(),
                    from: Some(version.clone()),
                    to: None,
                    file: file.path.clone(),
                });
            }
        }
        out
    } else {
        Vec::new()
    }
}

fn flags_of(file: &FileChange, added: &[&str]) -> Vec<String> {
    static SECRET: OnceLock<Regex> = OnceLock::new();
    let secret = regex(
        &SECRET,
        r#"(?i)(AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}|-----BEGIN [A-Z ]*PRIVATE KEY-----|xox[baprs]-[A-Za-z0-9-]{10,}|(?:api[_-]?key|secret|password|passwd|token)\s*[:=]\s*["'][^"'\s]{12,}["'])"#,
    );
    let language = language(&file.path);
    let count = |needle: &str| added.iter().filter(|l| l.contains(needle)).count();
    let mut flags = Vec::new();
    let mut flag = |what: &str, n: usize| {
        if n > 0 {
            flags.push(if n == 1 { format!("adds {what}") } else { format!("adds {what} ({n} lines)") });
        }
    };
    if language == "Rust" {
        flag("`unsafe`", added.iter().filter(|l| l.contains("unsafe ") && !l.trim_start().starts_with("//")).count());
        flag("`unwrap()`", count(".unwrap()"));
        flag("`panic!`", count("panic!("));
    }
    if matches!(language, "Python" | "JavaScript" | "TypeScript" | "PHP" | "Ruby") {
        flag("`eval`", added.iter().filter(|l| l.contains("eval(") && !l.contains("literal_eval(")).count());
    }
    flag("a secret-looking string", added.iter().filter(|l| secret.is_match(l)).count());
    flags
}

/// One file's facts.
pub fn file_facts(file: &FileChange) -> FileFacts {
    let (added, removed) = diff_lines(file);
    FileFacts {
        role: Some(role(&file.path)),
        api: api_of(file, &added, &removed),
        dependencies: dependencies_of(file, &added, &removed),
        flags: flags_of(file, &added),
    }
}

/// The label a conventional-commit prefix gives (`feat:`, `fix(x):`, …).
fn conventional_label(title: &str) -> Option<&'static str> {
    let prefix = title.split(':').next()?.trim().to_ascii_lowercase();
    if prefix.len() == title.trim().len() || prefix.contains(' ') {
        return None;
    }
    let kind = prefix.split(['(', '!']).next().unwrap_or("");
    Some(match kind {
        "feat" | "feature" => "feature",
        "fix" | "bugfix" | "hotfix" => "fix",
        "refactor" | "perf" | "style" => "refactor",
        "docs" | "doc" => "docs",
        "test" | "tests" => "tests",
        "build" | "ci" => "build/CI",
        "deps" | "dependencies" => "dependencies",
        "chore" | "revert" | "release" => "chore",
        _ => return None,
    })
}

/// The whole change's facts; `author_title` is the pull request's title or
/// the first commit's subject, for its conventional-commit prefix.
pub fn change_facts(files: &[FileChange], per_file: &[&FileFacts], author_title: Option<&str>) -> ChangeFacts {
    let mut facts = ChangeFacts { files: files.len(), ..ChangeFacts::default() };
    for (file, file_facts) in files.iter().zip(per_file) {
        facts.additions += file.additions;
        facts.deletions += file.deletions;
        let path = &file.path;
        let list = match file_facts.role {
            Some(Role::Test) => Some(&mut facts.tests),
            Some(Role::Ci) => Some(&mut facts.ci),
            Some(Role::Build) => Some(&mut facts.build),
            Some(Role::Migration) => Some(&mut facts.migrations),
            Some(Role::Config) => Some(&mut facts.config),
            Some(Role::Docs) => Some(&mut facts.docs),
            _ => None,
        };
        if let Some(list) = list {
            list.push(path.clone());
        }
        for (from, to) in [
            (&file_facts.api.added, &mut facts.api.added),
            (&file_facts.api.removed, &mut facts.api.removed),
            (&file_facts.api.changed, &mut facts.api.changed),
        ] {
            to.extend(from.iter().cloned());
        }
        facts.dependencies.extend(file_facts.dependencies.iter().cloned());
        facts.flags.extend(file_facts.flags.iter().map(|f| format!("{path}: {f}")));
    }
    facts.label = label(files, per_file, author_title).into();
    facts.review_size = review_size(files, facts.additions + facts.deletions).into();
    facts
}

fn label(files: &[FileChange], per_file: &[&FileFacts], author_title: Option<&str>) -> &'static str {
    if let Some(label) = author_title.and_then(conventional_label) {
        return label;
    }
    let roles: Vec<Role> = per_file.iter().filter_map(|f| f.role).collect();
    let all = |wanted: &[Role]| !roles.is_empty() && roles.iter().all(|r| wanted.contains(r));
    if all(&[Role::Docs]) {
        return "docs";
    }
    if all(&[Role::Test]) {
        return "tests";
    }
    if all(&[Role::Dependencies]) {
        return "dependencies";
    }
    if all(&[Role::Ci, Role::Build]) {
        return "build/CI";
    }
    let title = author_title.unwrap_or("").to_ascii_lowercase();
    let says = |words: &[&str]| words.iter().any(|w| title.split(|c: char| !c.is_alphanumeric()).any(|t| t == *w));
    if says(&["fix", "fixes", "fixed", "bug", "crash", "regression"]) {
        return "fix";
    }
    if says(&["refactor", "rename", "renames", "move", "moves", "cleanup", "simplify"]) {
        return "refactor";
    }
    let new_api = per_file.iter().any(|f| !f.api.added.is_empty());
    let only_moves = files.iter().all(|f| f.additions.abs_diff(f.deletions) * 4 <= f.additions + f.deletions);
    if new_api || says(&["add", "adds", "added", "support", "new", "introduce"]) {
        "feature"
    } else if only_moves && !files.is_empty() {
        "refactor"
    } else {
        "chore"
    }
}

/// XS ≤ 10 changed lines, S ≤ 50, M ≤ 250, L ≤ 1000, else XL; one size up
/// when the change spreads over more than 10 files or 3 top-level folders.
fn review_size(files: &[FileChange], lines: usize) -> &'static str {
    const SIZES: [&str; 5] = ["XS", "S", "M", "L", "XL"];
    let mut size = match lines {
        0..=10 => 0,
        11..=50 => 1,
        51..=250 => 2,
        251..=1000 => 3,
        _ => 4,
    };
    let mut tops: Vec<&str> = files.iter().map(|f| f.path.split('/').next().unwrap_or("")).collect();
    tops.sort_unstable();
    tops.dedup();
    if files.len() > 10 || tops.len() > 3 {
        size = (size + 1).min(4);
    }
    SIZES[size]
}

/// Facts of a whole codebase (a folder summarized as it is).
#[derive(Clone, Debug, Default, Serialize)]
pub struct CodebaseFacts {
    /// (language, files, lines), most lines first.
    pub languages: Vec<(String, usize, usize)>,
    pub entry_points: Vec<String>,
    /// (path, public items) for the files with the most.
    pub public_items: Vec<(String, usize)>,
}

const ENTRY_POINTS: &[&str] = &[
    "main.rs",
    "lib.rs",
    "__main__.py",
    "__init__.py",
    "main.py",
    "index.js",
    "index.ts",
    "main.go",
    "main.c",
    "main.cpp",
    "app.py",
    "cli.py",
];

pub fn codebase_facts(files: &[FileChange]) -> CodebaseFacts {
    let mut languages: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut entry_points = Vec::new();
    let mut public_items = Vec::new();
    for file in files {
        let Content::File(text) = &file.content else { continue };
        let language = language(&file.path);
        let entry = languages.entry(language).or_default();
        entry.0 += 1;
        entry.1 += text.lines().count();
        let name = file.path.rsplit('/').next().unwrap_or(&file.path);
        // Top-level entry points only: `src/main.rs`, not every test's `main.rs`.
        if ENTRY_POINTS.contains(&name)
            && file.path.matches('/').count() <= 2
            && !matches!(role(&file.path), Role::Test)
        {
            entry_points.push(file.path.clone());
        }
        let items = text.lines().filter(|l| public_item(language, l).is_some()).count();
        if items > 0 {
            public_items.push((file.path.clone(), items));
        }
    }
    let mut languages: Vec<(String, usize, usize)> =
        languages.into_iter().map(|(l, (f, n))| (l.to_string(), f, n)).collect();
    languages.sort_by_key(|l| std::cmp::Reverse(l.2));
    public_items.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    public_items.truncate(10);
    CodebaseFacts { languages, entry_points, public_items }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_items_by_language() {
        assert_eq!(public_item("Rust", "pub(crate) async fn run(x: u8) {").as_deref(), Some("run"));
        assert_eq!(public_item("Rust", "fn private() {}"), None);
        assert_eq!(public_item("Python", "def load(path):").as_deref(), Some("load"));
        assert_eq!(public_item("Python", "def _hidden():"), None);
        assert_eq!(public_item("Python", "    def method(self):"), None);
        assert_eq!(
            public_item("TypeScript", "export default async function useThing() {").as_deref(),
            Some("useThing")
        );
        assert_eq!(public_item("Go", "func (s *Server) Start() error {").as_deref(), Some("Start"));
        assert_eq!(public_item("Go", "func helper() {}"), None);
        assert_eq!(public_item("Java", "    public static int parse(String s) {").as_deref(), Some("parse"));
    }

    #[test]
    fn conventional_prefixes_decide_the_label() {
        assert_eq!(conventional_label("fix(queue): retry on 502"), Some("fix"));
        assert_eq!(conventional_label("feat!: new API"), Some("feature"));
        assert_eq!(conventional_label("Fix the thing: now"), None);
        assert_eq!(conventional_label("no prefix here"), None);
    }

    #[test]
    fn manifests_give_versions_from_to() {
        assert_eq!(
            declared("cargo.toml", r#"serde = { version = "1.0.2", features = ["derive"] }"#),
            Some(("serde".into(), "1.0.2".into()))
        );
        assert_eq!(declared("cargo.toml", r#"anyhow = "1""#), Some(("anyhow".into(), "1".into())));
        assert_eq!(
            declared("package.json", r#"    "left-pad": "^1.3.0","#),
            Some(("left-pad".into(), "^1.3.0".into()))
        );
        assert_eq!(declared("requirements.txt", "requests==2.31.0"), Some(("requests".into(), "2.31.0".into())));
        assert_eq!(
            declared("go.mod", "\tgolang.org/x/net v0.17.0"),
            Some(("golang.org/x/net".into(), "v0.17.0".into()))
        );
    }

    #[test]
    fn roles_from_paths() {
        assert_eq!(role(".github/workflows/ci.yml"), Role::Ci);
        assert_eq!(role("tests/app.rs"), Role::Test);
        assert_eq!(role("src/foo_test.go"), Role::Test);
        assert_eq!(role("Cargo.toml"), Role::Dependencies);
        assert_eq!(role("db/migrations/001_init.sql"), Role::Migration);
        assert_eq!(role("README.md"), Role::Docs);
        assert_eq!(role("config/app.yml"), Role::Config);
        assert_eq!(role("src/lib.rs"), Role::Code);
        assert_eq!(role("Makefile"), Role::Build);
    }
}
