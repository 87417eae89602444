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
use super::claims::Appeal;
use super::evidence::Evidence;
use super::select::Reason;
use super::structure::{Change, ItemChange, ItemKind};
use super::walkthrough::Behaviour;

/// What part a file plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileRole {
    Code,
    Test,
    Docs,
    Config,
    Ci,
    Build,
    Migration,
    Dependencies,
}

pub fn role(path: &str) -> FileRole {
    let lower = path.to_ascii_lowercase();
    let name = lower.rsplit('/').next().unwrap_or(&lower);
    let in_dir = |dir: &str| lower.starts_with(&format!("{dir}/")) || lower.contains(&format!("/{dir}/"));
    if lower.starts_with(".github/workflows/")
        || name == ".gitlab-ci.yml"
        || lower.starts_with(".circleci/")
        || name == "jenkinsfile"
        || name == ".travis.yml"
    {
        FileRole::Ci
    } else if DEPENDENCY_FILES.contains(&name) || name.starts_with("requirements") && name.ends_with(".txt") {
        FileRole::Dependencies
    } else if in_dir("migrations") || in_dir("migrate") || (name.ends_with(".sql") && lower.contains("migrat")) {
        FileRole::Migration
    } else if is_test_path(path) {
        FileRole::Test
    } else if [
        "makefile",
        "gnumakefile",
        "cmakelists.txt",
        "build.rs",
        "setup.py",
        "dockerfile",
        "containerfile",
        "build.gradle",
        "build.gradle.kts",
        "settings.gradle",
        "settings.gradle.kts",
        "pom.xml",
        "meson.build",
        "justfile",
        "tox.ini",
        "noxfile.py",
    ]
    .contains(&name)
        || name.ends_with(".mk")
        || name.ends_with(".cmake")
        // `Dockerfile.dev`, `app.dockerfile`, `Makefile.am`, `docker-compose.yml`
        || name.starts_with("dockerfile.")
        || name.ends_with(".dockerfile")
        || name.starts_with("makefile.")
        || name.starts_with("docker-compose")
        || name.starts_with("compose.")
    {
        FileRole::Build
    } else if in_dir("docs") || in_dir("doc") || [".md", ".rst", ".adoc", ".txt"].iter().any(|e| name.ends_with(e)) {
        FileRole::Docs
    } else if [".yml", ".yaml", ".toml", ".ini", ".cfg", ".conf", ".json", ".env", ".properties"]
        .iter()
        .any(|e| name.ends_with(e))
        || name.starts_with('.')
    {
        FileRole::Config
    } else {
        FileRole::Code
    }
}

/// Test code by where it lives (`tests/`, `src/test/`, Kotlin's
/// `src/jvmTest/` and `commonTest/`, `__tests__/`) or by its name
/// (`test_x.py`, `x_test.go`, `x.spec.ts`, `FooTest.java`, `FooSpec.kt`).
fn is_test_path(path: &str) -> bool {
    const DIRS: &[&str] =
        &["tests", "test", "__tests__", "spec", "specs", "testing", "testdata", "e2e", "__mocks__", "fixtures"];
    let (dirs, name) = path.rsplit_once('/').unwrap_or(("", path));
    let test_dir = dirs.split('/').any(|dir| {
        let camel_test = dir.len() > 4 && (dir.ends_with("Test") || dir.ends_with("Tests"));
        camel_test || DIRS.contains(&dir.to_ascii_lowercase().as_str())
    });
    let lower = name.to_ascii_lowercase();
    let stem = name.split('.').next().unwrap_or(name);
    let camel = stem.len() > 4
        && stem.starts_with(|c: char| c.is_ascii_uppercase())
        && ["Test", "Tests", "Spec", "IT"].iter().any(|end| stem.ends_with(end));
    test_dir
        || camel
        || lower.starts_with("test_")
        || lower == "conftest.py"
        || lower.contains("_test.")
        || lower.contains(".test.")
        || lower.contains(".spec.")
        || lower.contains("_spec.")
        || lower.ends_with("_tests.rs")
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

/// A dependency a change adds, removes, moves to another version, or takes
/// from another source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Dependency {
    pub name: String,
    /// The manifest's table or field that declares it: `dependencies`,
    /// `dev-dependencies`, `patch.crates-io`, `devDependencies`, `overrides`, `require`, …
    pub section: String,
    /// The entry redirects where a package comes from ([patch], [replace],
    /// overrides, resolutions, a go.mod `replace`, uv sources).
    pub redirects: bool,
    /// Version requirement and source at the base and at the head: `^1.2`,
    /// `git https://… branch main`, `path ../x`; none where absent.
    pub from: Option<String>,
    pub to: Option<String>,
    pub file: String,
}

/// The manifests whose dependencies are read, by file name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Manifest {
    Cargo,
    PackageJson,
    Composer,
    Pyproject,
    GoMod,
    Requirements,
}

impl Manifest {
    pub fn of(path: &str) -> Option<Manifest> {
        let name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
        Some(match name.as_str() {
            "cargo.toml" => Manifest::Cargo,
            "package.json" => Manifest::PackageJson,
            "composer.json" => Manifest::Composer,
            "pyproject.toml" => Manifest::Pyproject,
            "go.mod" => Manifest::GoMod,
            _ if name.starts_with("requirements") && name.ends_with(".txt") => Manifest::Requirements,
            _ => return None,
        })
    }
}

/// One declared entry: (section, name as compared) → (name as written, redirects, requirement).
pub type Declared = BTreeMap<(String, String), (String, bool, String)>;

/// The dependencies a manifest declares (never its package metadata:
/// name, version, edition and the like are not dependencies).
pub fn declared(manifest: Manifest, text: &str) -> Result<Declared, String> {
    let mut out = Declared::new();
    match manifest {
        Manifest::Cargo => {
            let table: toml::Table =
                toml::from_str(text).map_err(|e| format!("not valid TOML ({})", first_line(&e)))?;
            cargo_tables(&table, "", &mut out);
            for (key, value) in table.get("patch").and_then(toml::Value::as_table).into_iter().flatten() {
                let Some(entries) = value.as_table() else { continue };
                for (name, spec) in entries {
                    add(&mut out, &format!("patch.{key}"), name, true, toml_spec(spec));
                }
            }
            for (name, spec) in table.get("replace").and_then(toml::Value::as_table).into_iter().flatten() {
                add(&mut out, "replace", name, true, toml_spec(spec));
            }
        }
        Manifest::Pyproject => {
            let table: toml::Table =
                toml::from_str(text).map_err(|e| format!("not valid TOML ({})", first_line(&e)))?;
            let at = |path: &[&str]| -> Option<&toml::Value> {
                let (first, rest) = path.split_first()?;
                rest.iter().try_fold(table.get(*first)?, |value, key| value.get(*key))
            };
            pep508_list(at(&["project", "dependencies"]), "project.dependencies", &mut out);
            pep508_list(at(&["build-system", "requires"]), "build-system.requires", &mut out);
            for (group, list) in
                at(&["project", "optional-dependencies"]).and_then(|v| v.as_table()).into_iter().flatten()
            {
                pep508_list(Some(list), &format!("project.optional-dependencies.{group}"), &mut out);
            }
            for (group, list) in at(&["dependency-groups"]).and_then(|v| v.as_table()).into_iter().flatten() {
                pep508_list(Some(list), &format!("dependency-groups.{group}"), &mut out);
            }
            let mut poetry = vec![
                ("tool.poetry.dependencies".to_string(), at(&["tool", "poetry", "dependencies"])),
                ("tool.poetry.dev-dependencies".to_string(), at(&["tool", "poetry", "dev-dependencies"])),
            ];
            for (group, value) in at(&["tool", "poetry", "group"]).and_then(|v| v.as_table()).into_iter().flatten() {
                poetry.push((format!("tool.poetry.group.{group}.dependencies"), value.get("dependencies")));
            }
            for (section, value) in poetry {
                for (name, spec) in value.and_then(|v| v.as_table()).into_iter().flatten() {
                    // Poetry's `python` is the interpreter's range, not a package.
                    if name != "python" {
                        add(&mut out, &section, name, false, toml_spec(spec));
                    }
                }
            }
            for (name, spec) in at(&["tool", "uv", "sources"]).and_then(|v| v.as_table()).into_iter().flatten() {
                add(&mut out, "tool.uv.sources", name, true, toml_spec(spec));
            }
        }
        Manifest::PackageJson | Manifest::Composer => {
            let value: serde_json::Value =
                serde_json::from_str(text).map_err(|e| format!("not valid JSON ({})", first_line(&e)))?;
            let sections: &[&str] = if manifest == Manifest::Composer {
                &["require", "require-dev"]
            } else {
                &["dependencies", "devDependencies", "peerDependencies", "optionalDependencies"]
            };
            for section in sections {
                for (name, spec) in value.get(*section).and_then(|v| v.as_object()).into_iter().flatten() {
                    add(&mut out, section, name, false, json_spec(spec));
                }
            }
            if manifest == Manifest::PackageJson {
                json_overrides(value.get("overrides"), "overrides", "", 0, &mut out);
                json_overrides(value.get("resolutions"), "resolutions", "", 0, &mut out);
                json_overrides(value.pointer("/pnpm/overrides"), "pnpm.overrides", "", 0, &mut out);
            }
        }
        Manifest::GoMod => go_mod(text, &mut out),
        Manifest::Requirements => {
            for line in text.lines() {
                let line = line.split(" #").next().unwrap_or(line).trim();
                // Options (`-r other.txt`, `--index-url …`) and comments are not requirements.
                if !line.is_empty() && !line.starts_with(['#', '-']) {
                    pep508(line, "requirements", &mut out);
                }
            }
        }
    }
    Ok(out)
}

fn first_line(error: &dyn std::fmt::Display) -> String {
    error.to_string().lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string()
}

fn add(out: &mut Declared, section: &str, name: &str, redirects: bool, spec: String) {
    // Package names compare as their registries do: case and `_`/`.`/`-` aside.
    let key = name.to_ascii_lowercase().replace(['_', '.'], "-");
    out.insert((section.to_string(), key), (name.to_string(), redirects, spec));
}

/// `[dependencies]`, `[dev-dependencies]`, `[build-dependencies]` (and the
/// old spellings with `_`) of a Cargo manifest, of its workspace and of its targets.
fn cargo_tables(table: &toml::Table, prefix: &str, out: &mut Declared) {
    for section in ["dependencies", "dev-dependencies", "build-dependencies", "dev_dependencies", "build_dependencies"]
    {
        for (name, spec) in table.get(section).and_then(toml::Value::as_table).into_iter().flatten() {
            add(out, &format!("{prefix}{section}"), name, false, toml_spec(spec));
        }
    }
    if prefix.is_empty() {
        if let Some(workspace) = table.get("workspace").and_then(toml::Value::as_table) {
            cargo_tables(workspace, "workspace.", out);
        }
        for (target, inner) in table.get("target").and_then(toml::Value::as_table).into_iter().flatten() {
            if let Some(inner) = inner.as_table() {
                cargo_tables(inner, &format!("target.{target}."), out);
            }
        }
    }
}

/// A TOML dependency entry as one line: its requirement and where it comes from.
fn toml_spec(spec: &toml::Value) -> String {
    let Some(table) = spec.as_table() else { return toml_text(spec) };
    let text = |key: &str| table.get(key).map(toml_text);
    let mut parts = Vec::new();
    if table.get("workspace").and_then(toml::Value::as_bool) == Some(true) {
        parts.push("workspace".to_string());
    }
    for key in ["version", "git", "branch", "tag", "rev", "path", "url", "registry", "index", "source", "package"] {
        if let Some(value) = text(key) {
            parts.push(if key == "version" { value } else { format!("{key} {value}") });
        }
    }
    if parts.is_empty() {
        "any version".into()
    } else {
        parts.join(", ")
    }
}

/// A TOML value as it reads: strings bare, numbers and booleans as written, else its kind.
fn toml_text(value: &toml::Value) -> String {
    match value {
        toml::Value::String(text) => text.clone(),
        toml::Value::Integer(number) => number.to_string(),
        toml::Value::Float(number) => number.to_string(),
        toml::Value::Boolean(flag) => flag.to_string(),
        other => other.type_str().to_string(),
    }
}

fn json_spec(spec: &serde_json::Value) -> String {
    spec.as_str().map_or_else(|| spec.to_string(), str::to_string)
}

/// npm `overrides` (nested: `{"a": {"b": "1"}}` is `a > b`), yarn
/// `resolutions`, pnpm's overrides: every entry redirects.
fn json_overrides(value: Option<&serde_json::Value>, section: &str, parent: &str, depth: usize, out: &mut Declared) {
    let Some(entries) = value.and_then(|v| v.as_object()) else { return };
    for (name, spec) in entries {
        let full = match (parent.is_empty(), name.as_str()) {
            (true, _) => name.clone(),
            (false, ".") => parent.to_string(),
            (false, _) => format!("{parent} > {name}"),
        };
        match spec {
            serde_json::Value::Object(_) if depth < 8 => json_overrides(Some(spec), section, &full, depth + 1, out),
            _ => add(out, section, &full, true, json_spec(spec)),
        }
    }
}

fn pep508_list(list: Option<&toml::Value>, section: &str, out: &mut Declared) {
    for entry in list.and_then(toml::Value::as_array).into_iter().flatten() {
        if let Some(requirement) = entry.as_str() {
            pep508(requirement, section, out);
        }
    }
}

/// `name[extras] requirement ; marker`, as PEP 508 writes a requirement.
fn pep508(requirement: &str, section: &str, out: &mut Declared) {
    let requirement = requirement.trim();
    let end =
        requirement.find(|c: char| !(c.is_ascii_alphanumeric() || "._-".contains(c))).unwrap_or(requirement.len());
    let (name, mut rest) = requirement.split_at(end);
    if name.is_empty() {
        return;
    }
    if let Some(after) = rest.trim_start().strip_prefix('[') {
        rest = after.split_once(']').map_or("", |(_, after)| after);
    }
    let spec = rest.trim();
    add(out, section, name, false, if spec.is_empty() { "any version".into() } else { spec.to_string() });
}

/// go.mod, line by line: `require` entries and `replace` redirects, single or in blocks.
fn go_mod(text: &str, out: &mut Declared) {
    let mut block: Option<&str> = None;
    for line in text.lines() {
        let line = line.split("//").next().unwrap_or(line).trim();
        if line.is_empty() {
            continue;
        }
        if block.is_some() && line == ")" {
            block = None;
            continue;
        }
        let (verb, entry) = match block {
            Some(verb) => (verb, line),
            None => {
                let (verb, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
                if rest.trim() == "(" {
                    block = Some(verb);
                    continue;
                }
                (verb, rest.trim())
            }
        };
        match verb {
            "require" => {
                let mut words = entry.split_whitespace();
                if let (Some(module), Some(version)) = (words.next(), words.next()) {
                    add(out, "require", module, false, version.to_string());
                }
            }
            "replace" => {
                if let Some((old, new)) = entry.split_once("=>") {
                    add(out, "replace", old.trim(), true, new.split_whitespace().collect::<Vec<_>>().join(" "));
                }
            }
            _ => {}
        }
    }
}

/// What changed between a manifest's entries at the base and at the head
/// (either may be absent: the file was added or deleted).
pub fn dependency_changes(file: &str, base: &Declared, head: &Declared) -> Vec<Dependency> {
    let keys: std::collections::BTreeSet<&(String, String)> = base.keys().chain(head.keys()).collect();
    let mut out = Vec::new();
    for key in keys {
        let (old, new) = (base.get(key), head.get(key));
        if old.map(|entry| &entry.2) == new.map(|entry| &entry.2) {
            continue;
        }
        let Some((name, redirects, _)) = new.or(old) else { continue };
        out.push(Dependency {
            name: name.clone(),
            section: key.0.clone(),
            redirects: *redirects,
            from: old.map(|entry| entry.2.clone()),
            to: new.map(|entry| entry.2.clone()),
            file: file.to_string(),
        });
    }
    out
}

/// A file the change adds (or turns into one) that marks itself generated,
/// vendored, minified or a Git LFS pointer: listed, not summarized.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SelfMarked {
    pub path: String,
    #[serde(flatten)]
    pub reason: Reason,
    pub additions: usize,
}

impl SelfMarked {
    /// What the file says of itself, for a reader.
    pub fn marker(&self) -> String {
        match &self.reason {
            Reason::Generated(_) => "generated: a `@generated` or `DO NOT EDIT` line".into(),
            Reason::Vendored(_) => "vendored: in a vendor folder".into(),
            Reason::LfsPointer => "a Git LFS pointer".into(),
            other => other.describe(),
        }
    }
}

/// A manifest whose dependencies could not be compared, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unparsed {
    pub file: String,
    pub why: String,
}

/// Public items by name: added, removed, or changed (both); across a whole
/// change also moved (removed from one file and added to another).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Api {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub moved: Vec<String>,
}

impl Api {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty() && self.moved.is_empty()
    }

    /// Every public name the change touches: added, changed, moved, then removed.
    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.added.iter().chain(&self.changed).chain(&self.moved).chain(&self.removed)
    }

    /// Names both added and removed are moved, not gone and new.
    fn find_moves(&mut self) {
        let moved: Vec<String> = self.added.iter().filter(|n| self.removed.contains(n)).cloned().collect();
        self.added.retain(|n| !moved.contains(n));
        self.removed.retain(|n| !moved.contains(n));
        self.moved.extend(moved);
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct FileFacts {
    pub role: Option<FileRole>,
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
    /// security, fix, feature, performance, refactor, docs, tests, build/CI, assets,
    /// dependencies, config or migration: from the diff, or the author's
    /// conventional-commit prefix where the diff does not contradict it.
    pub label: String,
    /// The author's label, where the diff contradicts it (a "refactor" that changes behaviour).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author_label: Option<String>,
    /// XS, S, M, L or XL, from size and spread.
    pub review_size: String,
    pub files: usize,
    pub additions: usize,
    pub deletions: usize,
    /// Public items, each as `path: name`.
    pub api: Api,
    pub tests: Vec<String>,
    pub dependencies: Vec<Dependency>,
    /// Manifests whose dependencies could not be compared.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unparsed_manifests: Vec<Unparsed>,
    /// Files the change adds that mark themselves generated, vendored,
    /// minified or LFS: not summarized, so named here.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub self_marked: Vec<SelfMarked>,
    pub ci: Vec<String>,
    pub build: Vec<String>,
    pub migrations: Vec<String>,
    pub config: Vec<String>,
    pub docs: Vec<String>,
    /// `path: flag`
    pub flags: Vec<String>,
    /// Words in the change or the author's text addressed to the summarizer, or claiming an approval.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub appeals: Vec<Appeal>,
    /// What the parsed structure says changes behaviour: a check dropped, a body
    /// reduced to a constant, a new process, network or file call, a default changed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub behaviour: Vec<Behaviour>,
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
            // Plain `pub` only: `pub(crate)`, `pub(super)` and `pub(in …)` are not the crate's API.
            r"^\s*pub\s+(?:(?:async|const|unsafe|extern\s+\S+)\s+)*(?:fn|struct|enum|trait|const|static|type|mod|union|macro)\s+([A-Za-z_][A-Za-z0-9_]*)",
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

/// A test function by its name (`test_parse`, `TestParse`, Go's
/// `BenchmarkX`, `FuzzX`, `ExampleX`): never public API.
fn is_test_name(name: &str) -> bool {
    ["test", "Test", "Benchmark", "Fuzz", "Example"].iter().any(|prefix| {
        name.strip_prefix(prefix).is_some_and(|rest| {
            rest.is_empty() || rest.starts_with(|c: char| c == '_' || c.is_ascii_uppercase() || c.is_ascii_digit())
        })
    })
}

/// A test file, or a code file whose changed items are all test code.
pub fn tests_only(file: &FileChange) -> bool {
    role(&file.path) == FileRole::Test || file.structure.only_tests()
}

fn api_of(file: &FileChange, added: &[&str], removed: &[&str]) -> Api {
    if role(&file.path) == FileRole::Test {
        return Api::default();
    }
    let language = language(&file.path);
    let names = |lines: &[&str]| -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for line in lines {
            let public = public_item(language, line).filter(|n| !is_test_name(n) && !file.structure.is_test_item(n));
            if let Some(name) = public {
                if !out.contains(&name) {
                    out.push(name);
                }
            }
        }
        out
    };
    // A method by its type (`Publisher::new`, not `new`), where the structure
    // knows the one item of that name whose declaration is on a changed line.
    let declared = |item: &&ItemChange| {
        !matches!(item.change, Change::BodyChanged | Change::CommentsChanged | Change::AttributesChanged { .. })
    };
    let qualified = |names: Vec<String>| -> Vec<String> {
        names
            .into_iter()
            .map(|name| {
                let mut items = file.structure.items.iter().filter(|i| i.name == name).filter(declared);
                match (items.next(), items.next()) {
                    (Some(item), None) => item.display_name(file.structure.language),
                    _ => name,
                }
            })
            .collect()
    };
    let (plus, minus) = (qualified(names(added)), qualified(names(removed)));
    Api {
        added: plus.iter().filter(|n| !minus.contains(n)).cloned().collect(),
        removed: minus.iter().filter(|n| !plus.contains(n)).cloned().collect(),
        changed: plus.iter().filter(|n| minus.contains(n)).cloned().collect(),
        moved: Vec::new(),
    }
}

/// Versions a CI workflow pins (`uses: actions/checkout@v4`) and a
/// Dockerfile builds from (`FROM rust:1.80`), moved, set or dropped.
fn pins_of(file: &FileChange, added: &[&str], removed: &[&str]) -> Vec<Dependency> {
    static USES: OnceLock<Regex> = OnceLock::new();
    static FROM: OnceLock<Regex> = OnceLock::new();
    let (section, pattern) = match role(&file.path) {
        FileRole::Ci => ("uses", regex(&USES, r#"^\s*(?:-\s*)?uses:\s*["']?([A-Za-z0-9_.\-/]+)@([A-Za-z0-9_.\-]+)"#)),
        FileRole::Build if file.path.to_ascii_lowercase().contains("dockerfile") => {
            ("FROM", regex(&FROM, r"^\s*FROM\s+(?:--platform=\S+\s+)?([A-Za-z0-9_.\-/]+)[:@]([A-Za-z0-9_.\-]+)"))
        }
        _ => return Vec::new(),
    };
    let pins = |lines: &[&str]| -> BTreeMap<String, String> {
        lines.iter().filter_map(|l| pattern.captures(l)).map(|c| (c[1].to_string(), c[2].to_string())).collect()
    };
    let (new, old) = (pins(added), pins(removed));
    let mut out: Vec<Dependency> = new
        .iter()
        .filter(|(name, version)| old.get(*name) != Some(version))
        .map(|(name, version)| Dependency {
            name: name.clone(),
            section: section.to_string(),
            redirects: false,
            from: old.get(name).cloned(),
            to: Some(version.clone()),
            file: file.path.clone(),
        })
        .collect();
    out.extend(old.iter().filter(|(name, _)| !new.contains_key(*name)).map(|(name, version)| Dependency {
        name: name.clone(),
        section: section.to_string(),
        redirects: false,
        from: Some(version.clone()),
        to: None,
        file: file.path.clone(),
    }));
    out
}

fn flags_of(file: &FileChange, added: &[&str]) -> Vec<String> {
    static SECRET: OnceLock<Regex> = OnceLock::new();
    let secret = regex(
        &SECRET,
        r#"(?i)(AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}|-----BEGIN [A-Z ]*PRIVATE KEY-----|xox[baprs]-[A-Za-z0-9-]{10,}|(?:api[_-]?key|secret|password|passwd|token)\s*[:=]\s*["'][^"'\s]{12,}["'])"#,
    );
    let language = language(&file.path);
    let mut flags = Vec::new();
    let mut flag = |what: &str, n: usize| {
        if n > 0 {
            flags.push(if n == 1 { format!("adds {what}") } else { format!("adds {what} ({n} lines)") });
        }
    };
    // A test's `unwrap()` and `panic!` are how tests fail, not a reviewer's worry.
    if language == "Rust" && !tests_only(file) {
        flag("`unsafe`", added.iter().filter(|l| l.contains("unsafe ") && !l.trim_start().starts_with("//")).count());
        let product: &[&str] = match &file.content {
            Content::Hunks(hunks) => &file.structure.added_outside_tests(hunks),
            _ => added,
        };
        let count = |needle: &str| product.iter().filter(|l| l.contains(needle)).count();
        flag("`unwrap()`", count(".unwrap()"));
        flag("`panic!`", count("panic!("));
    }
    if matches!(language, "Python" | "JavaScript" | "TypeScript" | "PHP" | "Ruby") {
        // The language's own `eval`, not a method or a function that ends in
        // "eval" (`model.eval()`, `literal_eval(`, `$x->eval(`).
        static EVAL: OnceLock<Regex> = OnceLock::new();
        let eval = regex(&EVAL, r"(?:^|[^\w.>$])eval\s*\(");
        flag("`eval`", added.iter().filter(|l| eval.is_match(l)).count());
    }
    flag("a secret-looking string", added.iter().filter(|l| secret.is_match(l)).count());
    flags
}

/// The facts of a file whose text was not read: what its path says.
pub fn path_facts(path: &str) -> FileFacts {
    FileFacts { role: Some(role(path)), ..FileFacts::default() }
}

/// One file's facts.
pub fn file_facts(file: &FileChange) -> FileFacts {
    let (added, removed) = diff_lines(file);
    FileFacts {
        role: Some(role(&file.path)),
        api: api_of(file, &added, &removed),
        dependencies: pins_of(file, &added, &removed),
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
        "security" | "sec" => "security",
        "perf" => "performance",
        "refactor" | "style" => "refactor",
        "docs" | "doc" => "docs",
        "test" | "tests" => "tests",
        "build" | "ci" => "build/CI",
        "deps" | "dependencies" => "dependencies",
        // "chore" says nothing the diff cannot say better.
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
            Some(FileRole::Test) => Some(&mut facts.tests),
            Some(FileRole::Ci) => Some(&mut facts.ci),
            Some(FileRole::Build) => Some(&mut facts.build),
            Some(FileRole::Migration) => Some(&mut facts.migrations),
            Some(FileRole::Config) => Some(&mut facts.config),
            Some(FileRole::Docs) => Some(&mut facts.docs),
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
    facts.api.find_moves();
    let (label, author_label) = label(files, per_file, author_title);
    facts.label = label.into();
    facts.author_label = author_label.map(str::to_string);
    facts.review_size = review_size(files, facts.additions + facts.deletions).into();
    facts
}

/// Words in names and paths of code where a behaviour change is a security
/// matter. Not "hash" or "token": content hashes and a tokenizer's tokens are
/// everyday code; `password_hash` and `auth_token` are caught by their other word.
const SECURITY_WORDS: &[&str] = &[
    "password",
    "passwd",
    "auth",
    "login",
    "bearer",
    "secret",
    "crypt",
    "csrf",
    "xss",
    "sanitiz",
    "escape",
    "permission",
    "privilege",
    "acl",
    "session",
    "cert",
    "certificate",
    "tls",
    "ssl",
    "verify",
    "verification",
    "signature",
    "nonce",
    "salt",
    "jwt",
    "oauth",
    "credential",
];

/// Whether a name or path has a security word as one of its words
/// (`check_password`, `src/auth/`, `verifySignature`), not inside another
/// (`copy_hashing`, `author`, `escaped_newlines` are not).
fn security_named(name: &str) -> bool {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut previous_lower = false;
    for c in name.chars() {
        if !c.is_alphanumeric() || (c.is_uppercase() && previous_lower) {
            words.push(std::mem::take(&mut word));
        }
        if c.is_alphanumeric() {
            word.push(c.to_ascii_lowercase());
        }
        previous_lower = c.is_lowercase();
    }
    words.push(word);
    words.iter().any(|word| {
        SECURITY_WORDS
            .iter()
            .any(|w| word == w || word.strip_suffix('s') == Some(w) || (SECURITY_STEMS.contains(w) && word.contains(w)))
    })
}

/// The security words that count inside longer ones (`encrypt`, `sanitize`, `permissions`).
const SECURITY_STEMS: &[&str] = &["crypt", "sanitiz", "permission", "privilege", "credential", "oauth", "csrf", "xss"];

/// A file's role for the change's label: a code file whose changed items
/// are all test code (a Rust `#[cfg(test)]` module) counts as tests.
fn label_role(file: &FileChange, facts: &FileFacts) -> Option<FileRole> {
    match facts.role {
        Some(FileRole::Code) if file.structure.only_tests() => Some(FileRole::Test),
        role => role,
    }
}

/// The change's label, and the author's where the diff contradicts it:
/// from the paths (docs, tests, dependencies, CI), then the author's
/// prefix or title words unless the structure says otherwise (a
/// "refactor" that removes conditions or calls, reduces a body to a
/// constant or changes literals changes behaviour), then the structure.
fn label(
    files: &[FileChange],
    per_file: &[&FileFacts],
    author_title: Option<&str>,
) -> (&'static str, Option<&'static str>) {
    let roles: Vec<FileRole> = files.iter().zip(per_file).filter_map(|(file, facts)| label_role(file, facts)).collect();
    let all = |wanted: &[FileRole]| !roles.is_empty() && roles.iter().all(|r| wanted.contains(r));
    for (only, label) in [
        (&[FileRole::Docs][..], "docs"),
        (&[FileRole::Test], "tests"),
        (&[FileRole::Dependencies], "dependencies"),
        (&[FileRole::Ci, FileRole::Build], "build/CI"),
        (&[FileRole::Migration], "migration"),
        (&[FileRole::Config], "config"),
    ] {
        if all(only) {
            return (label, None);
        }
    }
    let code: Vec<&FileChange> = files
        .iter()
        .zip(per_file)
        .filter(|(file, facts)| label_role(file, facts) == Some(FileRole::Code))
        .map(|(file, _)| file)
        .collect();
    let mut evidence = Evidence::default();
    for file in &code {
        evidence.merge(&Evidence::of_file(file));
    }
    let computed = structure_label(files, &code, per_file, &evidence, author_title);
    let title = author_title.unwrap_or("").to_ascii_lowercase();
    let says = |words: &[&str]| words.iter().any(|w| title.split(|c: char| !c.is_alphanumeric()).any(|t| t == *w));
    let author = author_title.and_then(conventional_label).or_else(|| {
        if says(&["fix", "fixes", "fixed", "bug", "crash", "regression"]) {
            Some("fix")
        } else if says(&[
            "refactor",
            "refactoring",
            "rename",
            "renames",
            "move",
            "moves",
            "cleanup",
            "simplify",
            "simplifies",
            "simplified",
            "simpler",
            "tidy",
            "deduplicate",
            "extract",
            "extracts",
            "reorganize",
            "restructure",
        ]) {
            Some("refactor")
        } else {
            None
        }
    });
    let contradicted = |label: &str| match label {
        "refactor" => evidence.changes_behaviour(),
        "docs" | "tests" | "build/CI" | "dependencies" => !code.is_empty(),
        _ => false,
    };
    match author {
        Some(label) if contradicted(label) && label != computed => (computed, Some(label)),
        Some(label) => (label, None),
        None => (computed, None),
    }
}

/// The label the code's structure gives.
fn structure_label(
    files: &[FileChange],
    code: &[&FileChange],
    per_file: &[&FileFacts],
    evidence: &Evidence,
    author_title: Option<&str>,
) -> &'static str {
    if !code.is_empty() && code.iter().all(|f| matches!(f.content, Content::Binary)) {
        // Images, fonts, archives: no line to read a refactor or a fix from.
        return "assets";
    }
    if code.is_empty() {
        // No code: the kind of file with the most changed lines.
        let mut lines: BTreeMap<&'static str, usize> = BTreeMap::new();
        for (file, facts) in files.iter().zip(per_file) {
            let label = match label_role(file, facts) {
                Some(FileRole::Test) => "tests",
                Some(FileRole::Docs) => "docs",
                Some(FileRole::Dependencies) => "dependencies",
                Some(FileRole::Ci | FileRole::Build) => "build/CI",
                Some(FileRole::Migration) => "migration",
                _ => "config",
            };
            *lines.entry(label).or_default() += file.additions + file.deletions;
        }
        return lines.into_iter().max_by_key(|(_, n)| *n).map(|(label, _)| label).unwrap_or("config");
    }
    // Security when one file both touches security-named code and changes
    // behaviour there: a content hash added to one file and a condition moved
    // in another is not a security change.
    let security = code.iter().any(|file| {
        let evidence = Evidence::of_file(file);
        evidence.changes_behaviour()
            && (security_named(&file.path)
                || evidence.changed.keys().any(|n| security_named(n))
                || evidence.calls_removed().any(security_named))
    });
    if security {
        return "security";
    }
    let title = author_title.unwrap_or("").to_ascii_lowercase();
    if ["perf", "faster", "speed", "optimiz", "optimis", "performance"].iter().any(|w| title.contains(w)) {
        return "performance";
    }
    if adds_items(code, per_file, evidence) {
        return "feature";
    }
    if evidence.changes_behaviour() {
        return "fix";
    }
    let (added, removed): (usize, usize) = code.iter().fold((0, 0), |(a, r), f| (a + f.additions, r + f.deletions));
    if added.abs_diff(removed) * 4 <= added + removed {
        "refactor"
    } else if added >= 2 * removed {
        "feature"
    } else {
        "fix"
    }
}

/// Whether the change's code defines something new: an item added that no
/// file removes (one removed here and added there is moved), not counting a
/// module declaration or a test; by the plain patterns where no parser reads
/// a file.
fn adds_items(code: &[&FileChange], per_file: &[&FileFacts], evidence: &Evidence) -> bool {
    let parsed = |f: &&&FileChange| f.structure.language.is_some();
    let items = code.iter().filter(parsed).flat_map(|f| &f.structure.items);
    let removed: Vec<&str> = items.clone().filter(|i| i.change == Change::Removed).map(|i| i.name.as_str()).collect();
    let new_parsed = items.clone().any(|i| {
        i.change == Change::Added
            && !matches!(i.kind, ItemKind::Module | ItemKind::Test)
            && !removed.contains(&i.name.as_str())
    });
    let mut plain = Evidence::default();
    for file in code.iter().filter(|f| !parsed(f)) {
        plain.merge(&Evidence::of_file(file));
    }
    let new_plain = plain.defined_added.iter().any(|n| !evidence.defined_removed.contains(n));
    let api_removed: Vec<&String> = per_file.iter().flat_map(|f| &f.api.removed).collect();
    let new_api = per_file.iter().flat_map(|f| &f.api.added).any(|n| !api_removed.contains(&n));
    new_parsed || new_plain || new_api
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
            && !matches!(role(&file.path), FileRole::Test)
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
        assert_eq!(public_item("Rust", "pub async fn run(x: u8) {").as_deref(), Some("run"));
        assert_eq!(public_item("Rust", "    pub(crate) async fn run(x: u8) {"), None);
        assert_eq!(public_item("Rust", "pub(super) struct Leases(u8);"), None);
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
    fn manifests_declare_dependencies_not_metadata() {
        let names = |manifest, text| -> Vec<String> {
            declared(manifest, text)
                .unwrap()
                .into_iter()
                .map(|((section, _), (name, _, spec))| format!("{section} {name} {spec}"))
                .collect()
        };
        assert_eq!(
            names(
                Manifest::Cargo,
                "[package]\nname = \"x\"\nedition = \"2021\"\n[dependencies]\nserde = { workspace = true }\n"
            ),
            ["dependencies serde workspace"]
        );
        assert_eq!(
            names(
                Manifest::GoMod,
                "module m\ngo 1.21\nrequire example.com/a v1.0.0\nreplace (\n\texample.com/a v1.0.0 => ../a\n)\n"
            ),
            ["replace example.com/a v1.0.0 ../a", "require example.com/a v1.0.0"]
        );
        assert_eq!(
            names(
                Manifest::Requirements,
                "# pins\n-r base.txt\nrequests[socks]==2.31.0 ; python_version > \"3.8\"\nflask\n"
            ),
            ["requirements flask any version", "requirements requests ==2.31.0 ; python_version > \"3.8\""]
        );
        assert!(declared(Manifest::PackageJson, "{").unwrap_err().starts_with("not valid JSON"));
    }

    #[test]
    fn roles_from_paths() {
        assert_eq!(role(".github/workflows/ci.yml"), FileRole::Ci);
        assert_eq!(role("tests/app.rs"), FileRole::Test);
        assert_eq!(role("src/foo_test.go"), FileRole::Test);
        assert_eq!(role("Cargo.toml"), FileRole::Dependencies);
        assert_eq!(role("db/migrations/001_init.sql"), FileRole::Migration);
        assert_eq!(role("README.md"), FileRole::Docs);
        assert_eq!(role("config/app.yml"), FileRole::Config);
        assert_eq!(role("src/lib.rs"), FileRole::Code);
        assert_eq!(role("Makefile"), FileRole::Build);
        assert_eq!(role("core/src/jvmTest/kotlin/ParserTest.kt"), FileRole::Test);
        assert_eq!(role("lib/src/commonTest/kotlin/a.kt"), FileRole::Test);
        assert_eq!(role("src/main/java/org/x/ParserTests.java"), FileRole::Test);
        assert_eq!(role("spec/models/user_spec.rb"), FileRole::Test);
        assert_eq!(role("src/main/java/org/x/Parser.java"), FileRole::Code);
        assert_eq!(role("src/Latest.java"), FileRole::Code, "ends in `test`, is not a test");
        assert_eq!(role("docker/Dockerfile.dev"), FileRole::Build);
        assert_eq!(role("Makefile.am"), FileRole::Build);
        assert_eq!(role("app.dockerfile"), FileRole::Build);
    }

    fn hunks(path: &str, lines: &[&str]) -> FileChange {
        super::super::change::fixtures::one_hunk(path, "@@ -1,5 +1,5 @@", lines)
    }

    #[test]
    fn security_words_are_whole_words() {
        for name in ["check_password", "src/auth/login.rs", "verifySignature", "encryptBlock", "SessionStore", "tls"] {
            assert!(security_named(name), "{name}");
        }
        for name in ["copy_hashing", "author", "bos_token", "src/tokenizer.rs", "ascertain", "salty_snack"] {
            assert!(!security_named(name), "{name}");
        }
    }

    #[test]
    fn an_item_moved_between_files_is_moved_not_removed_and_added() {
        let from = hunks("src/language_model.rs", &["-pub struct Fake {", "-}", " pub trait Source {}"]);
        let to = hunks("src/language_model/fake.rs", &["+pub struct Fake {", "+}", "+pub fn make() {}"]);
        let files = [from, to];
        let facts: Vec<FileFacts> = files.iter().map(file_facts).collect();
        let refs: Vec<&FileFacts> = facts.iter().collect();
        let api = change_facts(&files, &refs, None).api;
        assert_eq!((api.added, api.removed, api.moved), (vec!["make".to_string()], vec![], vec!["Fake".to_string()]));
        let only_moved = [files[0].clone(), hunks("src/language_model/fake.rs", &["+pub struct Fake {", "+}"])];
        assert_eq!(label_of(&only_moved, None).0, "refactor", "a move defines nothing new");
    }

    #[test]
    fn only_the_languages_own_eval_is_flagged() {
        let python = hunks(
            "tools/check.py",
            &["+    llm.eval(tokens)", "+    ast.literal_eval(text)", "+    value = eval(text)"],
        );
        assert_eq!(file_facts(&python).flags, vec!["adds `eval`"]);
    }

    #[test]
    fn binary_files_only_are_assets_not_a_refactor() {
        let logo = FileChange { content: Content::Binary, additions: 0, deletions: 0, ..hunks("assets/logo.png", &[]) };
        assert_eq!(label_of(&[logo], None).0, "assets");
    }

    fn label_of(files: &[FileChange], title: Option<&str>) -> (String, Option<String>) {
        let facts: Vec<FileFacts> = files.iter().map(file_facts).collect();
        let refs: Vec<&FileFacts> = facts.iter().collect();
        let facts = change_facts(files, &refs, title);
        (facts.label, facts.author_label)
    }

    #[test]
    fn test_functions_and_files_are_not_public_api() {
        let go = hunks("pkg/parse.go", &["+func TestParse(t *testing.T) {", "+func Parse(s string) error {"]);
        assert_eq!(file_facts(&go).api.added, vec!["Parse"]);
        let java = hunks("core/src/jvmTest/kotlin/ParserTest.kt", &["+    public fun parsesEmpty() {"]);
        assert!(file_facts(&java).api.is_empty());
    }

    #[test]
    fn a_change_inside_a_rust_test_module_is_tests_not_api_or_security() {
        let lines = [
            " #[cfg(test)]",
            " mod tests {",
            "     use super::*;",
            "+    pub fn password_fixture() -> &'static str {",
            "+        check_password(\"hunter2\")",
            "+    }",
            " }",
        ];
        let module = hunks("src/auth.rs", &lines);
        assert!(module.structure.only_tests(), "{:#?}", module.structure);
        assert!(file_facts(&module).api.is_empty());
        assert_eq!(label_of(&[module], None).0, "tests");
        // The same function outside a test module is product code.
        let product: Vec<&str> = lines.iter().copied().filter(|l| l.starts_with('+')).collect();
        let product = hunks("src/auth.rs", &product);
        assert_eq!(file_facts(&product).api.added, vec!["password_fixture"]);
        assert_ne!(label_of(&[product], None).0, "tests");
    }

    #[test]
    fn workflow_pins_and_base_images_are_dependencies() {
        let workflow = hunks(
            ".github/workflows/ci.yml",
            &["-      - uses: actions/checkout@v3", "+      - uses: actions/checkout@v4", "       - run: make"],
        );
        let deps = file_facts(&workflow).dependencies;
        assert_eq!(deps.len(), 1);
        assert_eq!(
            (deps[0].name.as_str(), deps[0].from.as_deref(), deps[0].to.as_deref()),
            ("actions/checkout", Some("v3"), Some("v4"))
        );
        let docker = hunks("Dockerfile.ci", &["-FROM rust:1.79-slim", "+FROM rust:1.80-slim"]);
        assert_eq!(file_facts(&docker).dependencies[0].to.as_deref(), Some("1.80-slim"));
    }

    #[test]
    fn the_label_comes_from_the_diff_when_the_author_says_otherwise() {
        let check = hunks(
            "app/auth.py",
            &[
                " def check_password(user, password):",
                "-    if hash_of(password) != user.password_hash:",
                "-        return False",
                "-    return True",
                "+    return True",
            ],
        );
        let title = Some("Refactor: simplify password check (no behaviour change)");
        assert_eq!(label_of(std::slice::from_ref(&check), title), ("security".into(), Some("refactor".into())));
        let rename = hunks("src/a.rs", &[" fn run() {", "-    let n = count();", "+    let total = count();", " }"]);
        assert_eq!(
            label_of(std::slice::from_ref(&rename), Some("refactor: name the total")),
            ("refactor".into(), None)
        );
        let limit = hunks("src/a.rs", &[" fn run() {", "-    let n = 160;", "+    let n = 200;", " }"]);
        assert_eq!(label_of(std::slice::from_ref(&limit), Some("chore: tweak")), ("fix".into(), None), "never chore");
        let feature = hunks("src/a.rs", &["+fn parse_header(line: &str) -> Option<u8> {", "+    None", "+}"]);
        assert_eq!(label_of(std::slice::from_ref(&feature), None).0, "feature");
        let digest = hunks(
            "src/models.rs",
            &[" fn copy_hashing(from: &Path) {", "-    let n = 160;", "+    let n = 200;", " }"],
        );
        assert_eq!(label_of(std::slice::from_ref(&digest), None).0, "fix", "a content hash is not security");
        let docs = hunks("README.md", &["+Install with cargo."]);
        assert_eq!(label_of(std::slice::from_ref(&docs), Some("chore: readme")).0, "docs");
    }
}
