//! A file's change in plain words, computed from its parsed structure:
//! "Adds the function `without_leading_also`; `summarize` now calls it",
//! "`check_password` now only returns `True` and no longer calls `hash_of`".
//! Every clause restates a fact of [`FileStructure`] (checked against the
//! hunks where the structure is partial), so the row's first sentence is
//! true before the model adds a word. Behaviour a reviewer must see (a check
//! dropped, a body reduced to a constant, a new process, network or file
//! call, a default changed) is also collected for "For reviewers".

use std::collections::HashSet;

use serde::Serialize;

use super::change::{Content, FileChange};
use super::evidence::Evidence;
use super::facts::{tests_only, Dependency, FileFacts};
use super::structure::{BodyDelta, Change, FileStructure, ItemChange, ItemKind, KeyChange, KeyChanged, Language};

/// Names in one list of a clause before "and N more".
const NAMES: usize = 4;
/// Changed items whose body facts are told, per file.
const DETAILED_ITEMS: usize = 3;
/// A condition or literal is quoted only when this short.
const QUOTED_CHARS: usize = 50;
/// The longest whole line quoted (a file no parser reads).
const LINE_CHARS: usize = 100;

/// Calls too common to say anything about a change (the last segment of the callee).
const ROUTINE_CALLS: &[&str] = &[
    "clone",
    "to_string",
    "to_owned",
    "into",
    "unwrap",
    "expect",
    "iter",
    "into_iter",
    "iter_mut",
    "map",
    "collect",
    "len",
    "is_empty",
    "push",
    "get",
    "as_str",
    "as_ref",
    "as_mut",
    "ok",
    "err",
    "Some",
    "Ok",
    "Err",
    "new",
    "default",
    "from",
    "append",
    "toString",
    "length",
    "String",
    "str",
    "int",
    "len",
    "print",
    "println",
    "unwrap_or",
    "and_then",
    "map_err",
    "filter",
    "join",
    "format",
    "Box",
    "Vec",
    "Arc",
    "Rc",
    "super",
    "this",
    "self",
    "require",
    "isinstance",
    "list",
    "dict",
    "set",
    "tuple",
    "range",
    "getattr",
    "hasattr",
];

/// Calls a reviewer must see when a change adds them: processes, network, file writes, code evaluation.
const CONCERNING_CALLS: &[(&str, &str)] = &[
    ("Command::new", "starts a process"),
    ("process::Command", "starts a process"),
    ("subprocess.", "starts a process"),
    ("os.system", "starts a process"),
    ("os.popen", "starts a process"),
    ("exec.Command", "starts a process"),
    ("child_process", "starts a process"),
    ("execSync", "starts a process"),
    ("spawnSync", "starts a process"),
    ("Runtime.getRuntime", "starts a process"),
    ("ProcessBuilder", "starts a process"),
    ("proc_open", "starts a process"),
    ("shell_exec", "starts a process"),
    ("system", "starts a process"),
    ("popen", "starts a process"),
    ("fetch", "makes a network request"),
    ("axios", "makes a network request"),
    ("requests.", "makes a network request"),
    ("urlopen", "makes a network request"),
    ("reqwest::", "makes a network request"),
    ("http.Get", "makes a network request"),
    ("http.Post", "makes a network request"),
    ("HttpClient", "makes a network request"),
    ("curl_exec", "makes a network request"),
    ("TcpStream::connect", "opens a network connection"),
    ("socket.connect", "opens a network connection"),
    ("File::create", "writes a file"),
    ("fs::write", "writes a file"),
    ("fs::remove", "deletes files"),
    ("remove_file", "deletes files"),
    ("remove_dir_all", "deletes files"),
    ("shutil.rmtree", "deletes files"),
    ("os.remove", "deletes files"),
    ("os.unlink", "deletes files"),
    ("unlink", "deletes files"),
    ("writeFile", "writes a file"),
    ("os.WriteFile", "writes a file"),
    ("eval", "evaluates code"),
    ("exec", "evaluates code"),
    ("pickle.load", "deserializes untrusted data"),
    ("yaml.load", "deserializes untrusted data"),
    ("unserialize", "deserializes untrusted data"),
];

/// A behaviour fact of one item, for "For reviewers".
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Behaviour {
    pub file: String,
    /// Plain text with names in backticks: "`check_password` now only returns `True`".
    pub what: String,
}

/// The file's change in one sentence (empty when the structure knows nothing:
/// a language no parser here reads, or a change outside every item).
/// `defined` holds the names of the items the whole change defines or
/// changes: a method call is told only when it calls one of them (a library
/// call such as `map_or_else` says little of the change).
pub fn of_file(file: &FileChange, evidence: &Evidence, facts: &FileFacts, defined: &HashSet<&str>) -> String {
    let structure = &file.structure;
    let mut clauses = Vec::new();
    if !structure.sections.is_empty() {
        clauses.extend(section_clauses(file));
    }
    let language = structure.language;
    let name = |item: &ItemChange| code(&item.display_name(language));
    let items: Vec<&ItemChange> = structure.items.iter().filter(|i| tellable(i, structure)).collect();
    // Told once each: a definition per branch (`if sys.version_info …`) is one item to a reader.
    let names_of = |wanted: &dyn Fn(&ItemChange) -> bool| -> Vec<&ItemChange> {
        let mut seen = HashSet::new();
        items.iter().copied().filter(|i| wanted(i) && seen.insert(i.display_name(language))).collect()
    };
    let added_names: HashSet<&str> =
        items.iter().filter(|i| i.change == Change::Added).map(|i| i.name.as_str()).collect();
    let removed_names: HashSet<&str> =
        items.iter().filter(|i| i.change == Change::Removed).map(|i| i.name.as_str()).collect();
    // Removed and added under one name, or bound on a removed line: the item is defined anew
    // (an arrow function now a constant, `var encode = encodeURIComponent` now a function).
    let redefined = |i: &ItemChange| {
        added_names.contains(i.name.as_str()) && (removed_names.contains(i.name.as_str()) || rebinds(i, evidence))
    };
    // Added where the unchanged lines show the name in a language of conditional definitions
    // (`#[cfg]`, `#ifdef`, build tags): another variant of an item that stays.
    let conditional = matches!(language, Some(Language::Rust | Language::C | Language::Cpp | Language::Go));
    let variant = |i: &ItemChange| {
        i.change == Change::Added
            && conditional
            && structure.partial
            && !redefined(i)
            && matches!(i.kind, ItemKind::Function | ItemKind::Method)
            && evidence.context.contains(&i.name)
    };
    let fresh = |i: &ItemChange| i.change == Change::Added && !redefined(i) && !variant(i);
    let definitions = names_of(&|i| fresh(i) && i.kind != ItemKind::Test);
    let tests = names_of(&|i| fresh(i) && i.kind == ItemKind::Test);
    if !definitions.is_empty() {
        clauses.push(format!("adds {}", kinded(&definitions, language)));
    }
    if !tests.is_empty() {
        let names: Vec<String> = tests.iter().map(|i| name(i)).collect();
        let noun = if tests.len() == 1 { "the test" } else { "the tests" };
        clauses.push(format!("adds {noun} {}", listed(&names)));
    }
    let variants: Vec<String> = names_of(&variant).iter().map(|i| name(i)).collect();
    if !variants.is_empty() {
        clauses.push(format!("adds another definition of {}", listed(&variants)));
    }
    let removed = names_of(&|i| i.change == Change::Removed && !redefined(i));
    if !removed.is_empty() {
        clauses.push(format!("removes {}", kinded(&removed, language)));
    }
    let redefinitions: Vec<String> =
        names_of(&|i| i.change == Change::Added && redefined(i)).iter().map(|i| name(i)).collect();
    if !redefinitions.is_empty() {
        clauses.push(format!("defines {} anew", listed(&redefinitions)));
    }
    for item in &items {
        if let Change::Renamed { from } = &item.change {
            clauses.push(format!("renames {} to {}", code(from), name(item)));
        }
    }
    let signatures: Vec<String> = names_of(&|i| signature_changed(i)).iter().map(|i| name(i)).collect();
    if !signatures.is_empty() {
        let noun = if signatures.len() == 1 { "the signature of" } else { "the signatures of" };
        clauses.push(format!("changes {noun} {}", listed(&signatures)));
    }

    for item in names_of(&|i| matches!(i.change, Change::AttributesChanged { .. })) {
        let Change::AttributesChanged { added, removed } = &item.change else { continue };
        let codes = |attributes: &[String]| listed(&attributes.iter().map(|a| code(a)).collect::<Vec<_>>());
        if !added.is_empty() {
            clauses.push(format!("adds {} to {}", codes(added), name(item)));
        }
        if !removed.is_empty() {
            clauses.push(format!("removes {} from {}", codes(removed), name(item)));
        }
        if added.is_empty() && removed.is_empty() {
            clauses.push(format!("reorders the attributes of {}", name(item)));
        }
    }

    // Changed bodies: what the structure can say of each, else the item is named.
    // "It" only right after the one clause that adds the one item it stands for.
    let single_added = match (definitions.as_slice(), clauses.len()) {
        ([only], 1) => Some(only.name.as_str()),
        _ => None,
    };
    let mut plain_changes = Vec::new();
    // Items with the same details are told together: "`a` and `b` now call `c`".
    let mut told: Vec<(Vec<Detail>, Vec<String>)> = Vec::new();
    let comments_only = |i: &ItemChange| {
        i.change == Change::CommentsChanged
            || (matches!(i.change, Change::SignatureChanged { .. }) && !signature_changed(i) && i.body.is_empty())
    };
    let body_changed =
        |i: &ItemChange| matches!(i.change, Change::BodyChanged | Change::SignatureChanged { .. }) && !comments_only(i);
    for item in names_of(&body_changed) {
        let details = body_details(item, evidence, single_added, defined);
        let full = told.len() >= DETAILED_ITEMS;
        match told.iter_mut().find(|(known, _)| *known == details) {
            Some((_, names)) if !details.is_empty() => names.push(name(item)),
            _ if details.is_empty() || full => {
                // (A real signature change is already told.)
                if !signature_changed(item) {
                    plain_changes.push(name(item));
                }
            }
            _ => told.push((details, vec![name(item)])),
        }
    }
    for (details, names) in told {
        let many = names.len() > 1;
        let predicates: Vec<String> = details.iter().map(|d| d.said(many)).collect();
        clauses.push(format!("{} {}", listed(&names), predicates.join(" and ")));
    }
    if !plain_changes.is_empty() {
        clauses.push(format!("changes {}", listed(&plain_changes)));
    }
    let comments: Vec<String> = names_of(&comments_only).iter().map(|i| name(i)).collect();
    if !comments.is_empty() {
        // From hunks only, another hunk may change the same item unseen (one that opens inside its docstring).
        let only = if structure.partial { "" } else { "only " };
        clauses.push(format!("edits {only}comments in {}", listed(&comments)));
    }
    if clauses.is_empty() {
        clauses.extend(dependency_clauses(&facts.dependencies));
    }
    clauses.extend(key_clauses(&structure.keys, !facts.dependencies.is_empty()));
    if clauses.is_empty() && structure.language.is_none() && structure.keys.is_empty() {
        clauses.extend(line_clauses(file));
    }
    sentence(&clauses)
}

/// An item the walkthrough may name: not a module whose insides changed
/// (its items are named), not one known only from a hunk's `@@` header (the
/// header shows the last definition above the hunk, which need not hold the
/// change), not a one-letter name in a partial parse (most often code in a
/// string that a hunk cut open).
fn tellable(item: &ItemChange, structure: &FileStructure) -> bool {
    let module_inside = item.kind == ItemKind::Module && !is_whole(&item.change);
    let from_header = item.line.is_none();
    let fragment = structure.partial && item.name.chars().count() < 2;
    !module_inside && !from_header && !fragment
}

/// The declaration changed in more than comments, docstrings and layout.
fn signature_changed(item: &ItemChange) -> bool {
    match &item.change {
        Change::SignatureChanged { old, new } => declaration(old) != declaration(new),
        _ => false,
    }
}

/// A declaration as compared: up to a docstring, without comments and whitespace.
fn declaration(text: &str) -> String {
    let text = text.split("\"\"\"").next().unwrap_or(text).split("\'\'\'").next().unwrap_or(text);
    let mut out = String::new();
    for line in text.split('\n') {
        let line = line.split("//").next().unwrap_or(line);
        let line = match line.find(" #") {
            Some(at) => &line[..at],
            None => line,
        };
        out.extend(line.chars().filter(|c| !c.is_whitespace()));
    }
    out
}

/// The Markdown sections a file's change touches: added (their heading is
/// on an added line, or the file is new) or changed.
fn section_clauses(file: &FileChange) -> Vec<String> {
    let side = |sign: char| -> Vec<String> {
        match &file.content {
            super::change::Content::Hunks(hunks) => hunks
                .iter()
                .flat_map(|h| &h.lines)
                .filter_map(|l| l.strip_prefix(sign))
                .filter(|l| l.starts_with('#'))
                .map(|l| l.trim_start_matches('#').trim().to_string())
                .collect(),
            _ => Vec::new(),
        }
    };
    let (added, removed) = (side('+'), side('-'));
    let is_new = |heading: &str| {
        file.status == super::change::Status::Added
            || (added.iter().any(|a| a == heading) && !removed.iter().any(|r| r == heading))
    };
    let quote = |s: &&String| format!("“{}”", s.trim());
    let (new, changed): (Vec<&String>, Vec<&String>) = file.structure.sections.iter().partition(|s| is_new(s.trim()));
    let mut clauses = Vec::new();
    for (verb, list) in [("adds", new), ("changes", changed)] {
        if list.is_empty() {
            continue;
        }
        let noun = if list.len() == 1 { "the section" } else { "the sections" };
        let quoted: Vec<String> = list.iter().map(quote).collect();
        clauses.push(format!("{verb} {noun} {}", listed(&quoted)));
    }
    clauses
}

/// The items a file's change defines or changes, by their parsed structure:
/// `None` for a file no parser here reads (the caller falls back to the
/// plain line patterns); modules whose insides changed are not items.
pub fn items(structure: &FileStructure) -> Option<Vec<String>> {
    match structure.language {
        None | Some(Language::Markdown) => None,
        language => {
            let mut names: Vec<String> = Vec::new();
            for item in &structure.items {
                let name = item.display_name(language);
                if (item.kind != ItemKind::Module || is_whole(&item.change)) && !names.contains(&name) {
                    names.push(name);
                }
            }
            Some(names)
        }
    }
}

/// The item a title names, with the verb the structure gives it: the first
/// definition added, else the changed item with the most changed lines,
/// else the first removed one; in product code, else in test code.
pub fn main_item(structure: &FileStructure, evidence: &Evidence) -> Option<(&'static str, String)> {
    let title = |in_tests: bool| {
        let (act, item) = main_of(structure, evidence, in_tests)?;
        let verb = match (act, in_tests.then_some(item.kind)) {
            (Act::Add, None) => "Add",
            (Act::Change, None) => "Change",
            (Act::Remove, None) => "Remove",
            (Act::Add, Some(ItemKind::Test)) => "Add the test",
            (Act::Change, Some(ItemKind::Test)) => "Change the test",
            (Act::Remove, Some(ItemKind::Test)) => "Remove the test",
            (Act::Add, Some(_)) => "Add the test helper",
            (Act::Change, Some(_)) => "Change the test helper",
            (Act::Remove, Some(_)) => "Remove the test helper",
        };
        Some((verb, item.display_name(structure.language)))
    };
    title(false).or_else(|| title(true))
}

/// A top-level item the change adds under a name a removed top-level line
/// bound (`var encode = encodeURIComponent` → `function encode`).
fn rebinds(item: &ItemChange, evidence: &Evidence) -> bool {
    item.change == Change::Added && item.owner.is_none() && evidence.bound_removed.contains(&item.name)
}

/// What a title says the change does to its main item.
enum Act {
    Add,
    Change,
    Remove,
}

/// The main item among product code's items or among test code's.
fn main_of<'s>(structure: &'s FileStructure, evidence: &Evidence, in_tests: bool) -> Option<(Act, &'s ItemChange)> {
    let items = || {
        structure
            .items
            .iter()
            .filter(move |i| i.kind != ItemKind::Module && i.in_tests == in_tests && tellable(i, structure))
    };
    let removed: HashSet<&str> =
        structure.items.iter().filter(|i| i.change == Change::Removed).map(|i| i.name.as_str()).collect();
    // A name also removed (or bound on a removed line), or already on unchanged lines, is not new.
    let new = |i: &&ItemChange| {
        i.change == Change::Added
            && !removed.contains(i.name.as_str())
            && !rebinds(i, evidence)
            && !evidence.context.contains(&i.name)
    };
    if let Some(item) = items().find(new) {
        return Some((Act::Add, item));
    }
    let changed = |i: &&ItemChange| {
        matches!(i.change, Change::BodyChanged | Change::SignatureChanged { .. } | Change::Renamed { .. })
    };
    let lines = |i: &ItemChange| evidence.changed.get(&i.name).copied().unwrap_or(0);
    // The first of the most changed: `max_by_key` keeps the last of equals.
    let most = items().filter(changed).fold(None, |best: Option<&ItemChange>, item| match best {
        Some(b) if lines(b) >= lines(item) => Some(b),
        _ => Some(item),
    });
    if let Some(item) = most {
        return Some((Act::Change, item));
    }
    items().find(|i| i.change == Change::Removed).map(|i| (Act::Remove, i))
}

/// One thing a changed body's structure says of its item: a verb (for
/// one item and for several) and what follows it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Detail {
    one: &'static str,
    many: &'static str,
    object: String,
}

impl Detail {
    fn new(one: &'static str, many: &'static str, object: String) -> Detail {
        Detail { one, many, object }
    }

    fn said(&self, many: bool) -> String {
        format!("{} {}", if many { self.many } else { self.one }, self.object)
    }
}

/// What a changed body's structure says, as predicates of the item:
/// "now only returns `true`", "no longer calls `hash_of`".
fn body_details(
    item: &ItemChange,
    evidence: &Evidence,
    single_added: Option<&str>,
    defined: &HashSet<&str>,
) -> Vec<Detail> {
    let body = &item.body;
    let mut details = Vec::new();
    if let Some(constant) = body.reduced_to_constant.as_deref().filter(|c| quotable(c)) {
        details.push(Detail::new("now only returns", "now only return", code(constant)));
    }
    // A call is gone only if no added line names it (a partial structure sees only the hunks).
    let gone: Vec<String> = body
        .calls_removed
        .iter()
        .filter(|c| worth_naming(c, defined) && !evidence.in_new_code(last_segment(c)))
        .take(2)
        .map(|c| code(c))
        .collect();
    let mut calls: Vec<&String> = body.calls_added.iter().filter(|c| worth_naming(c, defined)).collect();
    // Calls of what the change itself adds first.
    calls.sort_by_key(|c| !evidence.defined_added.contains(last_segment(c)));
    let new: Vec<String> = calls
        .iter()
        .take(2)
        .map(|c| match single_added {
            Some(added) if last_segment(c) == added && calls.len() == 1 => "it".to_string(),
            _ => code(c),
        })
        .collect();
    if !new.is_empty() {
        details.push(Detail::new("now calls", "now call", new.join(" and ")));
    }
    if !gone.is_empty() {
        details.push(Detail::new("no longer calls", "no longer call", gone.join(" or ")));
    }
    // A condition gone while another came is most often the same check rewritten: neither is told.
    if details.len() < 2 {
        if let (Some(condition), true) =
            (body.conditions_removed.iter().find(|c| condition_quotable(c)), body.conditions_added.is_empty())
        {
            details.push(Detail::new("drops the condition", "drop the condition", code(condition)));
        } else if let (Some(condition), true) =
            (body.conditions_added.iter().find(|c| condition_quotable(c)), body.conditions_removed.is_empty())
        {
            details.push(Detail::new("gains the condition", "gain the condition", code(condition)));
        }
    }
    // Literals are paired by position: only meaningful when nothing else in the body moved.
    let only_literals = body.calls_added.is_empty()
        && body.calls_removed.is_empty()
        && body.conditions_added.is_empty()
        && body.conditions_removed.is_empty()
        && body.literals_changed.len() <= 2;
    if details.len() < 2 && only_literals {
        if let Some(literal) = body.literals_changed.iter().find(|l| quotable(&l.old) && quotable(&l.new)) {
            let object = format!("{} to {}", code(&literal.old), code(&literal.new));
            details.push(Detail::new("changes", "change", object));
        }
    }
    details.truncate(2);
    details
}

/// The behaviour facts of a file's change a reviewer must see.
pub fn behaviour(file: &FileChange) -> Vec<Behaviour> {
    // Product behaviour: tests and test code start processes and drop checks as they please.
    if tests_only(file) {
        return Vec::new();
    }
    let language = file.structure.language;
    let mut found = Vec::new();
    let mut note = |what: String| {
        // Two checks too long to quote are one note.
        if !found.iter().any(|b: &Behaviour| b.what == what) {
            found.push(Behaviour { file: file.path.clone(), what });
        }
    };
    // A call removed from one item of the file and added to another moved: it is not new.
    let removed_calls: HashSet<&str> =
        file.structure.items.iter().flat_map(|i| &i.body.calls_removed).map(String::as_str).collect();
    let new_calls = |body: &BodyDelta| -> Vec<String> {
        body.calls_added.iter().filter(|c| !removed_calls.contains(c.as_str())).cloned().collect()
    };
    for item in file.structure.items.iter().filter(|i| !i.in_tests && tellable(i, &file.structure)) {
        let name = code(&item.display_name(language));
        let body = &item.body;
        if item.change == Change::Removed || item.change == Change::Added {
            // A new function's calls are its purpose; a removed one's are gone with it.
            if item.change == Change::Added {
                for call in &new_calls(body) {
                    if let Some(what) = concerning(call) {
                        note(format!("{name} {what} ({})", code(call)));
                    }
                }
            }
            continue;
        }
        if let Some(constant) = body.reduced_to_constant.as_deref().filter(|c| quotable(c)) {
            note(format!("{name} now only returns {}", code(constant)));
        }
        // A check gone with none come in its place: neither a rewritten one nor
        // a body that now hands the work to a call (`self.into()`) is a dropped check.
        if body.conditions_added.is_empty() && body.early_returns_added.is_empty() && body.calls_added.is_empty() {
            for condition in body.conditions_removed.iter().chain(&body.early_returns_removed).take(2) {
                let shown = if condition_quotable(condition) { code(condition) } else { "a check".into() };
                note(format!("{name} drops {shown}"));
            }
        }
        for call in &new_calls(body) {
            if let Some(what) = concerning(call) {
                note(format!("{name} now {what} ({})", code(call)));
            }
        }
        let is_default = item.kind == ItemKind::Constant || item.name.to_ascii_lowercase().contains("default");
        if is_default {
            for literal in body.literals_changed.iter().filter(|l| quotable(&l.old) && quotable(&l.new)).take(2) {
                note(format!("{name} changes {} to {}", code(&literal.old), code(&literal.new)));
            }
        }
    }
    found
}

/// What a call does that a reviewer must see, if it is such a call.
fn concerning(call: &str) -> Option<&'static str> {
    let last = last_segment(call);
    CONCERNING_CALLS.iter().find_map(|(pattern, what)| {
        let hit = if pattern.contains(['.', ':']) || pattern.chars().next().is_some_and(char::is_uppercase) {
            call.contains(pattern)
        } else {
            last == *pattern
        };
        hit.then_some(*what)
    })
}

/// A config file's keys: "adds `a` and `b`; sets `timeout` to `30` (was
/// `10`)". Where the file's dependencies are told, keys under a
/// dependencies table are left to them; a secret-looking key's values are
/// never quoted.
fn key_clauses(keys: &[KeyChange], dependencies_told: bool) -> Vec<String> {
    let told = |key: &&KeyChange| !(dependencies_told && key.key.to_ascii_lowercase().contains("dependencies"));
    let keys: Vec<&KeyChange> = keys.iter().filter(told).collect();
    let of = |wanted: &dyn Fn(&KeyChanged) -> bool| -> Vec<String> {
        keys.iter().filter(|k| wanted(&k.change)).map(|k| code(&k.key)).collect()
    };
    let mut clauses = Vec::new();
    let added = of(&|c| *c == KeyChanged::Added);
    if !added.is_empty() {
        clauses.push(format!("adds {}", listed(&added)));
    }
    let removed = of(&|c| *c == KeyChanged::Removed);
    if !removed.is_empty() {
        clauses.push(format!("removes {}", listed(&removed)));
    }
    let mut changed = of(&|c| *c == KeyChanged::Changed);
    for key in &keys {
        let KeyChanged::Set { old, new } = &key.change else { continue };
        let last = key.key.rsplit('.').next().unwrap_or(&key.key);
        if quotable(old) && quotable(new) && !secret_named(last) {
            clauses.push(format!("sets {} to {} (was {})", code(&key.key), code(new), code(old)));
        } else {
            changed.push(code(&key.key));
        }
    }
    if !changed.is_empty() {
        clauses.push(format!("changes {}", listed(&changed)));
    }
    clauses
}

/// Lines of a file no parser reads (a shell script, a Dockerfile, an
/// ignore file) quoted as changed, when there are few: "adds the line
/// `target/`"; comments only: "edits only comments". Nothing when more
/// lines changed, one is too long to quote or looks like it holds a secret.
fn line_clauses(file: &FileChange) -> Vec<String> {
    const LINES: usize = 2;
    let Content::Hunks(hunks) = &file.content else { return Vec::new() };
    // (Not `*`: in these files a leading star is most often a glob.)
    let comment = |line: &str| ["#", ";", "//", "--", "/*"].iter().any(|marker| line.starts_with(marker));
    let (mut added, mut removed, mut comments) = (Vec::new(), Vec::new(), 0);
    for line in hunks.iter().flat_map(|h| &h.lines) {
        let (list, text) = match (line.strip_prefix('+'), line.strip_prefix('-')) {
            (Some(text), _) => (&mut added, text.trim()),
            (_, Some(text)) => (&mut removed, text.trim()),
            _ => continue,
        };
        if text.is_empty() {
            continue;
        }
        if comment(text) {
            comments += 1;
        } else if list.len() == LINES || text.chars().count() > LINE_CHARS || text.contains('`') || secret_named(text) {
            return Vec::new();
        } else {
            list.push(text);
        }
    }
    let quoted = |lines: &[&str]| listed(&lines.iter().map(|l| code(l)).collect::<Vec<_>>());
    let noun = |lines: &[&str]| if lines.len() == 1 { "the line" } else { "the lines" };
    match (added.as_slice(), removed.as_slice()) {
        ([], []) if comments > 0 => vec!["edits only comments".into()],
        ([], []) => Vec::new(),
        ([new], [old]) => vec![format!("changes the line {} to {}", code(old), code(new))],
        (added, removed) => {
            let mut clauses = Vec::new();
            if !added.is_empty() {
                clauses.push(format!("adds {} {}", noun(added), quoted(added)));
            }
            if !removed.is_empty() {
                clauses.push(format!("removes {} {}", noun(removed), quoted(removed)));
            }
            clauses
        }
    }
}

/// A key whose value may be a secret: its values are not quoted.
fn secret_named(key: &str) -> bool {
    let key = key.to_ascii_lowercase().replace(['-', '_'], "");
    ["password", "passwd", "secret", "token", "apikey", "credential", "privatekey", "auth"]
        .iter()
        .any(|word| key.contains(word))
}

fn dependency_clauses(dependencies: &[Dependency]) -> Vec<String> {
    let changed: Vec<String> = dependencies
        .iter()
        .filter(|d| !d.redirects)
        .take(NAMES)
        .map(|d| match (&d.from, &d.to) {
            (Some(from), Some(to)) => format!("{} from {} to {}", code(&d.name), code(from), code(to)),
            (None, Some(to)) => format!("{} ({}) as a new dependency", code(&d.name), code(to)),
            (Some(_), None) => format!("{} as a dependency", code(&d.name)),
            (None, None) => code(&d.name),
        })
        .collect();
    let (removed, kept): (Vec<&String>, Vec<&String>) = changed.iter().partition(|c| c.ends_with("as a dependency"));
    let mut clauses = Vec::new();
    let (new, moved): (Vec<&String>, Vec<&String>) = kept.into_iter().partition(|c| c.ends_with("new dependency"));
    if !moved.is_empty() {
        clauses.push(format!("moves {}", moved.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")));
    }
    if !new.is_empty() {
        clauses.push(format!("adds {}", new.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")));
    }
    if !removed.is_empty() {
        clauses.push(format!("drops {}", removed.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")));
    }
    clauses
}

/// A whole item added or removed (a module told as such), not one whose insides changed.
fn is_whole(change: &Change) -> bool {
    matches!(change, Change::Added | Change::Removed | Change::Renamed { .. })
}

/// Items with their kind: "the function `a`", "the types `A` and `B`",
/// "the function `a` and the type `B`".
fn kinded(items: &[&ItemChange], language: Option<Language>) -> String {
    let mut groups: Vec<(ItemKind, Vec<String>)> = Vec::new();
    for item in items {
        let name = code(&item.display_name(language));
        match groups.iter_mut().find(|(kind, _)| *kind == item.kind) {
            Some((_, names)) => names.push(name),
            None => groups.push((item.kind, vec![name])),
        }
    }
    let parts: Vec<String> = groups
        .iter()
        .map(|(kind, names)| {
            let (one, many) = noun(*kind, language);
            format!("the {} {}", if names.len() == 1 { one } else { many }, listed(names))
        })
        .collect();
    join_and(&parts)
}

fn noun(kind: ItemKind, language: Option<Language>) -> (&'static str, &'static str) {
    match kind {
        ItemKind::Function => ("function", "functions"),
        ItemKind::Method => ("method", "methods"),
        ItemKind::Type => ("type", "types"),
        ItemKind::Trait if language == Some(Language::Rust) => ("trait", "traits"),
        ItemKind::Trait => ("interface", "interfaces"),
        ItemKind::Constant => ("constant", "constants"),
        ItemKind::Module => ("module", "modules"),
        ItemKind::Macro => ("macro", "macros"),
        ItemKind::Test => ("test", "tests"),
    }
}

/// A list of at most [`NAMES`], then how many more.
fn listed(names: &[String]) -> String {
    let mut shown: Vec<String> = names.iter().take(NAMES).cloned().collect();
    if names.len() > NAMES {
        shown.push(format!("{} more", names.len() - NAMES));
    }
    join_and(&shown)
}

fn join_and(parts: &[String]) -> String {
    match parts {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// Clauses as one sentence, its first letter capitalised.
fn sentence(clauses: &[String]) -> String {
    let text = clauses.join("; ");
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => String::new(),
    }
}

fn code(text: &str) -> String {
    format!("`{}`", text.replace('`', "'"))
}

fn quotable(text: &str) -> bool {
    let text = text.trim();
    !text.is_empty() && text.chars().count() <= QUOTED_CHARS && !text.contains(['\n', '`'])
}

/// A condition quoted as one: short, and not a whole match arm.
fn condition_quotable(text: &str) -> bool {
    quotable(text) && !text.contains("=>")
}

fn last_segment(call: &str) -> &str {
    call.rsplit([':', '.']).next().unwrap_or(call)
}

/// A call worth naming: not a macro, not routine plumbing.
fn notable(call: &str) -> bool {
    let last = last_segment(call);
    !call.ends_with('!') && last.chars().count() >= 3 && !ROUTINE_CALLS.contains(&last) && quotable(call)
}

/// A call the walkthrough names: a notable one of an item the change
/// defines or changes, of a plain function (`hash_of(…)`), or of concern.
fn worth_naming(call: &str, defined: &HashSet<&str>) -> bool {
    let plain = !call.contains('.') && !call.contains("::");
    notable(call) && (plain || defined.contains(last_segment(call)) || concerning(call).is_some())
}

/// The names of the items a change defines or changes, in all its files.
pub fn defined_names<'a>(files: impl IntoIterator<Item = &'a FileChange>) -> HashSet<&'a str> {
    files.into_iter().flat_map(|f| &f.structure.items).map(|i| i.name.as_str()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::change::fixtures::{one_hunk, PASSWORD_CHECK};
    use crate::pipeline::structure;

    fn walk(file: &FileChange) -> String {
        of_file(file, &Evidence::of_file(file), &FileFacts::default(), &defined_names([file]))
    }

    #[test]
    fn a_password_check_reduced_to_true_is_said_plainly() {
        let (path, header, lines) = PASSWORD_CHECK;
        let file = one_hunk(path, header, lines);
        let text = walk(&file);
        assert!(text.contains("`check_password` now only returns `True`"), "{text}");
        assert!(text.contains("no longer calls `hash_of`"), "{text}");
        let notes = behaviour(&file);
        assert!(notes.iter().any(|b| b.what.contains("now only returns `True`")), "{notes:?}");
        assert!(notes.iter().any(|b| b.what.contains("drops")), "{notes:?}");
    }

    /// A name a removed line bound (`var encode = encodeURIComponent`) and
    /// an added function defines again is not new: neither the row nor the
    /// title says it is added.
    #[test]
    fn a_function_replacing_a_binding_is_defined_anew() {
        let file = one_hunk(
            "index.js",
            "@@ -1,4 +1,9 @@",
            &[
                "-var encode = encodeURIComponent;",
                "+function encode (val) {",
                "+  return encodeURIComponent(val)",
                "+}",
                "+",
                "+function isDate (val) {",
                "+  return val instanceof Date",
                "+}",
                " module.exports = parse;",
            ],
        );
        assert_eq!(walk(&file), "Adds the function `isDate`; defines `encode` anew.");
        let evidence = Evidence::of_file(&file);
        assert_eq!(main_item(&file.structure, &evidence), Some(("Add", "isDate".to_string())));
    }

    /// A changed value is not a removal, and a method added beside a changed
    /// one of the same name (another type's) is added, not defined anew.
    #[test]
    fn bindings_and_methods_keep_their_direction() {
        let limit = one_hunk("settings.py", "@@ -1,2 +1,2 @@", &["-LIMIT = 3", "+LIMIT = 4", " NAME = 'x'"]);
        assert!(!Evidence::of_file(&limit).removes("LIMIT"));
        let file = one_hunk(
            "jobs.py",
            "@@ -1,3 +1,7 @@",
            &[
                " class A:",
                "-    def run(self):",
                "+    def run(self, x):",
                "         return 1",
                "+",
                "+class B:",
                "+    def run(self):",
                "+        return 2",
            ],
        );
        let text = walk(&file);
        assert!(text.contains("`B.run`") && !text.contains("anew"), "{text}");
    }

    /// "Only comments" is said when the whole item was read; from a bare
    /// patch another hunk may change the same item unseen.
    #[test]
    fn only_comments_needs_the_whole_item() {
        let file = one_hunk(
            "click/_compat.py",
            "@@ -10,4 +10,4 @@ class Stream:",
            &[
                "-    def auto_wrap_for_ansi(",
                "+    def auto_wrap_for_ansi(  # noqa: F811",
                "         stream, color=None",
                "     ):",
                "         return stream",
            ],
        );
        assert_eq!(walk(&file), "Edits comments in `auto_wrap_for_ansi`.");
        let old = "def f(a):\n    return a\n";
        let new = "def f(a):  # noqa: F811\n    return a\n";
        let whole = FileChange { structure: structure::of_versions("m.py", Some(old), Some(new)), ..file };
        assert_eq!(walk(&whole), "Edits only comments in `f`.");
    }

    /// An attribute added to or removed from an item is told as such (a
    /// derive, a decorator), not left as a row that says nothing.
    #[test]
    fn attributes_added_and_removed_are_told() {
        let file =
            one_hunk("src/client.rs", "@@ -1,2 +1,3 @@", &["+#[derive(Clone, Copy)]", " pub struct Client<'a> {"]);
        let old = "#[allow(dead_code)]\npub struct Client<'a> {\n    token: &'a str,\n}\n";
        let new = "#[derive(Clone, Copy)]\npub struct Client<'a> {\n    token: &'a str,\n}\n";
        let whole = FileChange { structure: structure::of_versions("src/client.rs", Some(old), Some(new)), ..file };
        assert_eq!(
            walk(&whole),
            "Adds `#[derive(Clone, Copy)]` to `Client`; removes `#[allow(dead_code)]` from `Client`."
        );
        let old = "@app.get('/a')\ndef a():\n    return 1\n";
        let new = "@app.get('/a')\n@login_required\ndef a():\n    return 1\n";
        let python = FileChange { structure: structure::of_versions("web/views.py", Some(old), Some(new)), ..whole };
        assert_eq!(walk(&python), "Adds `@login_required` to `a`.");
    }

    #[test]
    fn a_new_function_called_from_a_changed_one() {
        let file = one_hunk(
            "src/prose.rs",
            "@@ -1,5 +1,9 @@",
            &[
                " pub fn summarize(text: &str) -> String {",
                "-    text.trim().to_string()",
                "+    without_leading_also(text.trim())",
                " }",
                "+",
                "+fn without_leading_also(text: &str) -> String {",
                "+    text.replacen(\"It also\", \"It\", 1)",
                "+}",
            ],
        );
        assert_eq!(walk(&file), "Adds the function `without_leading_also`; `summarize` now calls it.");
    }

    #[test]
    fn removed_renamed_and_literals_are_named_with_their_kind() {
        let file = one_hunk(
            "src/limits.rs",
            "@@ -1,9 +1,6 @@",
            &[
                "-pub fn old_helper(a: u32) -> u32 {",
                "-    a + 1",
                "-}",
                " pub fn limit() -> usize {",
                "-    160",
                "+    200",
                " }",
                "-struct Gone;",
            ],
        );
        let text = walk(&file);
        assert!(text.starts_with("Removes the function `old_helper` and the type `Gone`"), "{text}");
        assert!(text.contains("`limit` changes `160` to `200`") || text.contains("changes `limit`"), "{text}");
    }

    #[test]
    fn docs_name_their_sections_and_unknown_files_quote_a_few_lines() {
        let docs = one_hunk("README.md", "@@ -1,4 +1,4 @@", &[" # Title", " ## Install", "-old step", "+new step"]);
        assert_eq!(walk(&docs), "Changes the section “Install”.");
        let unknown = one_hunk("data/table.xyz", "@@ -1 +1 @@", &["-a", "+b"]);
        assert_eq!(walk(&unknown), "Changes the line `a` to `b`.");
        let larger = one_hunk("data/table.xyz", "@@ -1 +1,3 @@", &["-a", "+b", "+c", "+d"]);
        assert_eq!(walk(&larger), "");
    }

    #[test]
    fn new_process_calls_are_behaviour() {
        let file = one_hunk(
            "src/run.rs",
            "@@ -1,3 +1,4 @@",
            &[
                " fn run(path: &str) {",
                "+    std::process::Command::new(\"sh\").arg(path).status().ok();",
                "     log(path);",
                " }",
            ],
        );
        let notes = behaviour(&file);
        assert!(notes.iter().any(|b| b.what.contains("starts a process")), "{notes:?}");
        // The same line in a test file is how a test works, not behaviour to review.
        let test = one_hunk("tests/run.rs", "@@ -1,3 +1,4 @@", &lines_of(&file));
        assert!(behaviour(&test).is_empty(), "{:?}", behaviour(&test));
    }

    /// A config file's row says which keys its change adds, removes or sets;
    /// a secret-looking key's values are not quoted.
    #[test]
    fn config_keys_are_told() {
        let file = one_hunk("deploy/app.yml", "@@ -1,2 +1,2 @@", &["-timeout: 10", "+timeout: 30"]);
        let old = "timeout: 10\ndb:\n  password: hunter2\nold_flag: true\n";
        let new = "timeout: 30\ndb:\n  password: hunter3\nretries: 3\n";
        let whole = FileChange { structure: structure::of_versions("deploy/app.yml", Some(old), Some(new)), ..file };
        assert_eq!(
            walk(&whole),
            "Adds `retries`; removes `old_flag`; sets `timeout` to `30` (was `10`); changes `db.password`."
        );
    }

    /// A file no parser reads has its few changed lines quoted; comments
    /// are not quoted, and past two lines nothing is said.
    #[test]
    fn few_lines_of_an_unparsed_file_are_quoted() {
        let script = one_hunk(
            ".ci/run",
            "@@ -3,2 +3,5 @@",
            &[
                " set -e",
                "+# the test model (98 MB, cached)",
                "+cargo run -q -- model fetch smollm2",
                "+",
                " cargo test",
            ],
        );
        assert_eq!(walk(&script), "Adds the line `cargo run -q -- model fetch smollm2`.");
        let ignore = one_hunk(".gitignore", "@@ -1,2 +1,2 @@", &[" target/", "-*.log", "+*.tmp"]);
        assert_eq!(walk(&ignore), "Changes the line `*.log` to `*.tmp`.");
        let comments = one_hunk("Dockerfile", "@@ -1,2 +1,2 @@", &["-# build", "+# build the binary", " FROM rust"]);
        assert_eq!(walk(&comments), "Edits only comments.");
        let many = one_hunk("Makefile", "@@ -1,1 +1,4 @@", &[" all:", "+\ta", "+\tb", "+\tc"]);
        assert_eq!(walk(&many), "");
        let secret = one_hunk(".env.example", "@@ -1,1 +1,1 @@", &["-API_TOKEN=abc", "+API_TOKEN=def"]);
        assert_eq!(walk(&secret), "");
    }

    /// A call moved from one function of the file to another is not a new call.
    #[test]
    fn a_call_moved_within_a_file_is_not_new_behaviour() {
        let old = "fn run(path: &str) {\n    std::fs::write(path, \"x\").ok();\n}\n";
        let new = "fn run(path: &str) {\n    save(path);\n}\n\nfn save(path: &str) {\n    std::fs::write(path, \"x\").ok();\n}\n";
        let file = one_hunk("src/run.rs", "@@ -1,3 +1,7 @@", &[" fn run(path: &str) {"]);
        let moved = FileChange { structure: structure::of_versions("src/run.rs", Some(old), Some(new)), ..file };
        assert!(behaviour(&moved).is_empty(), "{:?}", behaviour(&moved));
        let fresh = "fn run(path: &str) {\n    save(path);\n}\n\nfn save(path: &str) {\n    std::fs::write(path, \"x\").ok();\n}\n";
        let added = FileChange {
            structure: structure::of_versions("src/run.rs", Some("fn run(path: &str) {}\n"), Some(fresh)),
            ..moved
        };
        assert!(behaviour(&added).iter().any(|b| b.what.contains("writes a file")), "{:?}", behaviour(&added));
    }

    fn lines_of(file: &FileChange) -> Vec<&str> {
        match &file.content {
            crate::pipeline::change::Content::Hunks(hunks) => hunks[0].lines.iter().collect(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn a_match_handed_to_a_call_drops_no_check() {
        let file = one_hunk(
            "src/status.rs",
            "@@ -1,7 +1,3 @@",
            &[
                " fn name(self) -> &'static str {",
                "-    match self {",
                "-        Status::Added => \"added\",",
                "-        Status::Removed => \"removed\",",
                "-    }",
                "+    self.into()",
                " }",
            ],
        );
        assert!(behaviour(&file).iter().all(|b| !b.what.contains("drops")), "{:?}", behaviour(&file));
    }
}
