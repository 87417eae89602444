//! The change's structure, parsed: which items (functions, methods, types,
//! traits, constants, tests) a file's change adds, removes, renames or
//! changes, and what changed inside a changed body (calls, conditions, early
//! returns, literals, a body reduced to a constant). Parsed with tree-sitter
//! from both versions of a file, or from a bare patch's hunks (`partial`);
//! for Markdown, the sections whose lines changed; for JSON, TOML and YAML,
//! the keys.

mod grammar;
mod keys;
mod sections;

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use regex::Regex;
use serde::Serialize;
use similar::{Algorithm, DiffOp};
use tree_sitter::{Node, ParseOptions, ParseState, Parser};

use super::change::Hunk;
pub use grammar::Language;
pub use keys::{KeyChange, KeyChanged};

/// Items listed per file; past it they are counted in `items_omitted`.
const MAX_ITEMS: usize = 300;
/// Entries in each list of a body's delta, and sections per file.
const MAX_FACTS: usize = 20;
/// Characters of a name, signature, condition, return or literal kept.
const MAX_TEXT: usize = 160;
/// Hunks of one file read from a bare patch.
const MAX_HUNKS: usize = 500;
/// Tokens of a body compared position by position for literals changed.
const MAX_TOKENS: usize = 20_000;
/// The longest one parse or one diff may take; a parse past it is given up (`partial`).
const BUDGET: Duration = Duration::from_secs(2);

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FileStructure {
    /// `None`: a file no parser here reads (no items).
    pub language: Option<Language>,
    /// Read from hunks only (a bare patch), or a parse was given up: items
    /// outside the hunks are unknown, and one cut by a hunk's edge may be misread.
    pub partial: bool,
    pub items: Vec<ItemChange>,
    #[serde(skip_serializing_if = "is_zero")]
    pub items_omitted: usize,
    /// Markdown: the headings of the sections whose lines changed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sections: Vec<String>,
    /// JSON, TOML, YAML: the keys added, removed or set.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<KeyChange>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    Function,
    /// A function of a type, trait, class or `impl` (its `owner`).
    Method,
    /// A struct, class, enum, union, record or type alias.
    Type,
    /// A trait or interface.
    Trait,
    Constant,
    /// A module, namespace or test group (`describe`).
    Module,
    Macro,
    Test,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    Added,
    Removed,
    /// The same body under a new name.
    Renamed {
        from: String,
    },
    /// The declaration before the body changed (parameters, return type, modifiers).
    SignatureChanged {
        old: String,
        new: String,
    },
    BodyChanged,
    /// Only the attributes written on it differ (Rust's `#[…]`, Python's decorators).
    AttributesChanged {
        added: Vec<String>,
        removed: Vec<String>,
    },
    /// Only the comments inside the body differ.
    CommentsChanged,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ItemChange {
    pub name: String,
    /// The type, trait, class, `impl` or module the item is in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    pub kind: ItemKind,
    pub change: Change,
    /// The item's first line (in the old version for a removed one); `None`
    /// for an item known only from a hunk's header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "BodyDelta::is_empty")]
    pub body: BodyDelta,
    /// A test, or an item inside test code (a `#[cfg(test)]` module, a
    /// `describe` group): never product code or public API.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub in_tests: bool,
}

/// What differs between the old and the new body (against an empty one for
/// an added or a removed item). Calls are named as written (`self.hash_of`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BodyDelta {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub calls_added: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub calls_removed: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions_added: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions_removed: Vec<String>,
    /// Returns before the body's last statement.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub early_returns_added: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub early_returns_removed: Vec<String>,
    /// Literals that differ at the same place in the body: `160 → 200`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub literals_changed: Vec<LiteralChange>,
    /// The new body only returns this literal; the old one did more.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reduced_to_constant: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LiteralChange {
    pub old: String,
    pub new: String,
}

impl BodyDelta {
    pub fn is_empty(&self) -> bool {
        *self == BodyDelta::default()
    }

    fn absorb(&mut self, other: BodyDelta) {
        let lists = [
            (&mut self.calls_added, other.calls_added),
            (&mut self.calls_removed, other.calls_removed),
            (&mut self.conditions_added, other.conditions_added),
            (&mut self.conditions_removed, other.conditions_removed),
            (&mut self.early_returns_added, other.early_returns_added),
            (&mut self.early_returns_removed, other.early_returns_removed),
        ];
        for (mine, theirs) in lists {
            for entry in theirs {
                if mine.len() < MAX_FACTS && !mine.contains(&entry) {
                    mine.push(entry);
                }
            }
        }
        let room = MAX_FACTS.saturating_sub(self.literals_changed.len());
        self.literals_changed.extend(other.literals_changed.into_iter().take(room));
        self.reduced_to_constant = self.reduced_to_constant.take().or(other.reduced_to_constant);
    }
}

impl ItemChange {
    /// The item's name as its language writes a method: `Type::name` (Rust,
    /// C++, PHP) or `Type.name`; a trait's impl (`Drop for Bar`) names the type.
    pub fn display_name(&self, language: Option<Language>) -> String {
        match (&self.owner, self.kind) {
            (Some(owner), ItemKind::Method) => {
                let owner = owner.rsplit(" for ").next().unwrap_or(owner);
                let separator =
                    if matches!(language, Some(Language::Rust | Language::Cpp | Language::Php)) { "::" } else { "." };
                format!("{owner}{separator}{}", self.name)
            }
            _ => self.name.clone(),
        }
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The structure of a change whose two versions are known (a range, a pull
/// request); `None` for a side that does not exist (an added or a deleted
/// file; a directory is all new).
pub fn of_versions(path: &str, old: Option<&str>, new: Option<&str>) -> FileStructure {
    if let (Some(format), Some(old), Some(new)) = (keys::Format::of_path(path), old, new) {
        // One that does not parse (a template, JSON with comments) is told by its lines.
        let keys = keys::changed(format, old, new).unwrap_or_default();
        return FileStructure { keys, ..FileStructure::default() };
    }
    let Some(language) = Language::of_path(path) else { return FileStructure::default() };
    let mut structure = FileStructure { language: Some(language), ..FileStructure::default() };
    if language == Language::Markdown {
        let (old, new) = (old.unwrap_or(""), new.unwrap_or(""));
        let (old_rows, new_rows) = changed_rows(old, new);
        sections::changed(new, &new_rows, None, &mut structure.sections);
        sections::changed(old, &old_rows, None, &mut structure.sections);
        structure.sections.truncate(MAX_FACTS);
        return structure;
    }
    fn items_of(language: Language, text: Option<&str>) -> Option<Vec<Parsed<'_>>> {
        match text {
            Some(text) => Outline::of(language, text, 1).map(|o| o.items),
            None => Some(Vec::new()),
        }
    }
    match (items_of(language, old), items_of(language, new)) {
        (Some(old), Some(new)) => structure.set_items(compare(old, new)),
        _ => structure.partial = true,
    }
    structure
}

/// The structure of a bare patch: each hunk's old side (context and removed
/// lines) and new side (context and added lines) parsed as fragments.
/// Always `partial`. Changes outside every item a hunk shows are told as the
/// body of the item its `@@` header names, when they are indented under it.
pub fn of_hunks(path: &str, hunks: &[Hunk]) -> FileStructure {
    let Some(language) = Language::of_path(path) else { return FileStructure::default() };
    let mut structure = FileStructure { language: Some(language), partial: true, ..FileStructure::default() };
    let sides: Vec<(Fragment, Fragment, &str)> = hunks
        .iter()
        .take(MAX_HUNKS)
        .map(|hunk| {
            let (old_start, new_start, context) = header(&hunk.header);
            (Fragment::of(hunk, '-', old_start), Fragment::of(hunk, '+', new_start), context)
        })
        .collect();
    if language == Language::Markdown {
        for (old, new, context) in &sides {
            let above = sections::heading_of(context);
            sections::changed(&new.text, &new.changed, above, &mut structure.sections);
            sections::changed(&old.text, &old.changed, above, &mut structure.sections);
        }
        structure.sections.truncate(MAX_FACTS);
        return structure;
    }
    let (mut old_items, mut new_items, mut enclosed) = (Vec::new(), Vec::new(), Vec::new());
    for (old, new, context) in &sides {
        let (Some(old_outline), Some(new_outline)) =
            (Outline::of(language, &old.text, old.first_line), Outline::of(language, &new.text, new.first_line))
        else {
            continue;
        };
        if old_outline.rest.tokens != new_outline.rest.tokens {
            let indent = |line: &str| line.len() - line.trim_start().len();
            let deepest = match (old.loose_indent(&old_outline), new.loose_indent(&new_outline)) {
                (Some(old), Some(new)) => Some(old.min(new)),
                (old, new) => old.or(new),
            };
            let enclosing = enclosing_item(language, context.trim());
            if let Some((name, kind)) = enclosing.filter(|_| deepest.is_some_and(|d| d > indent(context))) {
                enclosed.push((name, kind, delta(&old_outline.rest, &new_outline.rest)));
            }
        }
        // In a fragment cut from inside a body, a binding that parses as a top-level constant is a local.
        let local = |nested: bool, item: &Parsed<'_>| nested && item.kind == ItemKind::Constant;
        old_items.extend(old_outline.items.into_iter().filter(|i| !local(old.nested, i)));
        new_items.extend(new_outline.items.into_iter().filter(|i| !local(new.nested, i)));
    }
    let mut changes = compare(old_items, new_items);
    for (name, kind, body) in enclosed {
        let same = |c: &&mut ItemChange| {
            c.name == name && matches!(c.kind, ItemKind::Function | ItemKind::Method | ItemKind::Test)
        };
        match changes.iter_mut().find(same) {
            Some(known) => known.body.absorb(body),
            None => changes.push(ItemChange {
                in_tests: kind == ItemKind::Test,
                name,
                owner: None,
                kind,
                change: Change::BodyChanged,
                line: None,
                body,
            }),
        }
    }
    structure.set_items(changes);
    structure
}

impl FileStructure {
    /// The added lines of `hunks` that are not test code. An added line
    /// belongs to the changed item that starts last at or before it in the new
    /// version (what follows a test up to the next changed item is its body,
    /// as a Rust `mod tests` at a file's end is); every added line when the
    /// structure was read from hunks only.
    pub fn added_outside_tests<'h>(&self, hunks: &'h [Hunk]) -> Vec<&'h str> {
        let mut starts: Vec<(usize, bool)> = self
            .items
            .iter()
            .filter(|item| item.change != Change::Removed)
            .filter_map(|item| Some((item.line?, item.in_tests)))
            .collect();
        starts.sort_unstable();
        // The last item starting at or before `line`, by binary search: a patch's lines times its items stays cheap.
        let in_tests = |line: usize| {
            let before = starts.partition_point(|(start, _)| *start <= line);
            !self.partial && before > 0 && starts[before - 1].1
        };
        let mut outside = Vec::new();
        for hunk in hunks {
            let (_, mut line, _) = header(&hunk.header);
            for text in &hunk.lines {
                match text.strip_prefix('+') {
                    Some(added) => {
                        if !in_tests(line) {
                            outside.push(added);
                        }
                        line += 1;
                    }
                    None if text.starts_with('-') || text.starts_with('\\') => {}
                    None => line += 1,
                }
            }
        }
        outside
    }

    /// Every item the change touches is test code (a Rust `#[cfg(test)]`
    /// module, tests): the file's change is a change of its tests.
    pub fn only_tests(&self) -> bool {
        !self.items.is_empty() && self.items.iter().all(|item| item.in_tests)
    }

    /// `name` is an item of test code here, and of nothing else.
    pub fn is_test_item(&self, name: &str) -> bool {
        let mut named = self.items.iter().filter(|item| item.name == name).peekable();
        named.peek().is_some() && named.all(|item| item.in_tests)
    }

    fn set_items(&mut self, mut items: Vec<ItemChange>) {
        items.sort_by_key(|item| item.line.unwrap_or(usize::MAX));
        self.items_omitted = items.len().saturating_sub(MAX_ITEMS);
        items.truncate(MAX_ITEMS);
        self.items = items;
    }
}

/// The function a hunk header's line opens. The line alone is no complete
/// definition, so it is also read closed the ways the languages close one.
fn enclosing_item(language: Language, line: &str) -> Option<(String, ItemKind)> {
    ["", "\n}", "\n    pass", "\nend"].iter().find_map(|close| {
        let text = format!("{line}{close}");
        let outline = Outline::of(language, &text, 0)?;
        let item = outline.items.into_iter().find(|i| matches!(i.kind, ItemKind::Function | ItemKind::Test))?;
        Some((item.name, item.kind))
    })
}

/// A hunk header's first old and new line and the text git puts after it.
fn header(header: &str) -> (usize, usize, &str) {
    static HEADER: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@ ?(.*)$").expect("valid regex"));
    match HEADER.captures(header) {
        Some(c) => {
            let number = |i: usize| c.get(i).and_then(|m| m.as_str().parse().ok()).unwrap_or(1);
            (number(1), number(2), c.get(3).map_or("", |m| m.as_str()))
        }
        None => (1, 1, ""),
    }
}

/// One side of a hunk as text to parse, its common indentation removed.
struct Fragment {
    text: String,
    first_line: usize,
    /// Rows (from 0) of this side's changed lines.
    changed: Vec<usize>,
    /// Each row's indentation before the common one was removed.
    indents: Vec<usize>,
    /// Every line was indented: the fragment lies inside some body.
    nested: bool,
}

impl Fragment {
    fn of(hunk: &Hunk, side: char, first_line: usize) -> Fragment {
        let lines: Vec<(&str, bool)> = hunk
            .lines
            .iter()
            .filter_map(|line| {
                let mut chars = line.chars();
                match chars.next() {
                    Some(' ') => Some((chars.as_str(), false)),
                    Some(prefix) if prefix == side => Some((chars.as_str(), true)),
                    _ => None,
                }
            })
            .collect();
        let indent = |line: &str| line.len() - line.trim_start().len();
        let common = lines.iter().filter(|(l, _)| !l.trim().is_empty()).map(|(l, _)| indent(l)).min().unwrap_or(0);
        let text =
            lines.iter().map(|(l, _)| l.get(common..).unwrap_or_else(|| l.trim_start())).collect::<Vec<_>>().join("\n");
        let changed = lines.iter().enumerate().filter(|(_, (_, changed))| *changed).map(|(row, _)| row).collect();
        let indents = lines.iter().map(|(l, _)| indent(l)).collect();
        Fragment { text, first_line, changed, indents, nested: common > 0 }
    }

    /// The least indentation of a changed, non-blank line outside every item.
    fn loose_indent(&self, outline: &Outline<'_>) -> Option<usize> {
        let lines: Vec<&str> = self.text.split('\n').collect();
        self.changed
            .iter()
            .filter(|&&row| lines.get(row).is_some_and(|l| !l.trim().is_empty()))
            .filter(|&&row| !outline.spans.iter().any(|&(first, last)| (first..=last).contains(&row)))
            .filter_map(|&row| self.indents.get(row).copied())
            .min()
    }
}

/// The rows of `old` and `new` a line diff finds changed.
fn changed_rows(old: &str, new: &str) -> (Vec<usize>, Vec<usize>) {
    let (old_lines, new_lines): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    let ops =
        similar::capture_diff_slices_deadline(Algorithm::Myers, &old_lines, &new_lines, Some(Instant::now() + BUDGET));
    let (mut old_rows, mut new_rows) = (Vec::new(), Vec::new());
    for op in ops {
        match op {
            DiffOp::Equal { .. } => {}
            DiffOp::Delete { old_index, old_len, .. } => old_rows.extend(old_index..old_index + old_len),
            DiffOp::Insert { new_index, new_len, .. } => new_rows.extend(new_index..new_index + new_len),
            DiffOp::Replace { old_index, old_len, new_index, new_len } => {
                old_rows.extend(old_index..old_index + old_len);
                new_rows.extend(new_index..new_index + new_len);
            }
        }
    }
    (old_rows, new_rows)
}

/// A token of a body: compared in sequence, so a body is its tokens, not its layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Token<'s> {
    text: &'s str,
    literal: bool,
}

/// What a body holds, as the delta compares it.
#[derive(Debug, Default)]
struct Facts<'s> {
    tokens: Vec<Token<'s>>,
    comments: Vec<&'s str>,
    calls: Vec<String>,
    conditions: Vec<String>,
    early_returns: Vec<String>,
    /// The literal the body only returns.
    constant: Option<String>,
}

/// An item as parsed from one version.
struct Parsed<'s> {
    owner: Option<String>,
    name: String,
    kind: ItemKind,
    line: usize,
    /// The declaration without its comments.
    signature: String,
    /// The declaration as written, comments included.
    head: &'s str,
    /// Attributes written on it outside its node (see [`grammar::attributes`]).
    attributes: Vec<String>,
    facts: Facts<'s>,
    in_tests: bool,
}

/// The item a node is in, by name, and its kind (`None`: a Rust `impl`).
type Enclosing = Option<(String, Option<ItemKind>)>;

/// Where a node lies: the item it is in, and whether that is inside test code.
#[derive(Clone, Default)]
struct Scope {
    enclosing: Enclosing,
    in_tests: bool,
}

/// A text's items, and what lies outside them.
struct Outline<'s> {
    items: Vec<Parsed<'s>>,
    /// The code outside every item.
    rest: Facts<'s>,
    /// The rows (first, last) each item spans.
    spans: Vec<(usize, usize)>,
}

impl<'s> Outline<'s> {
    /// `None` when the text cannot be parsed within the budget.
    fn of(language: Language, text: &'s str, first_line: usize) -> Option<Outline<'s>> {
        let mut parser = Parser::new();
        parser.set_language(&language.grammar(text)?).ok()?;
        let started = Instant::now();
        let mut past_budget = |_: &ParseState| started.elapsed() > BUDGET;
        let options = ParseOptions::new().progress_callback(&mut past_budget);
        let bytes = text.as_bytes();
        let tree = parser.parse_with_options(&mut |at, _| bytes.get(at..).unwrap_or_default(), None, Some(options))?;
        let root = tree.root_node();

        // Definitions, outermost first, each with the item it is in.
        let mut definitions = Vec::new();
        let mut stack: Vec<(Node<'_>, Scope)> = vec![(root, Scope::default())];
        while let Some((node, scope)) = stack.pop() {
            let Some(definition) = grammar::definition(language, node, text) else {
                stack.extend(children(node).rev().map(|child| (child, scope.clone())));
                continue;
            };
            let enclosing = &scope.enclosing;
            let owner = definition.owner.clone().or_else(|| enclosing.as_ref().map(|(name, _)| name.clone()));
            let in_type = matches!(enclosing, Some((_, None | Some(ItemKind::Type | ItemKind::Trait))));
            let kind = match definition.kind {
                Some(ItemKind::Function) if in_type || definition.owner.is_some() => Some(ItemKind::Method),
                kind => kind,
            };
            // A Rust `impl`'s associated type (`type Err = …`) is part of the impl, not an item of its own.
            if matches!(enclosing, Some((_, None))) && node.kind() == "type_item" {
                continue;
            }
            let in_tests = scope.in_tests || grammar::opens_tests(language, node, text, &definition);
            if matches!(kind, None | Some(ItemKind::Type | ItemKind::Trait | ItemKind::Module)) {
                let inner = Scope { enclosing: Some((cut(&definition.name), definition.kind)), in_tests };
                stack.extend(children(node).rev().map(|child| (child, inner.clone())));
            }
            definitions.push((node, definition, owner, kind, in_tests));
        }
        let skip: HashSet<usize> = definitions.iter().map(|(node, ..)| node.id()).collect();
        let mut items = Vec::new();
        let mut spans = Vec::new();
        for (node, definition, owner, kind, in_tests) in definitions {
            let Some(kind) = kind else { continue };
            let head_end = definition.body.map_or(node.end_byte(), |body| body.start_byte());
            let head_end = head_end.max(node.start_byte());
            let signature = cut(&without_comments(node, head_end, text));
            let head = text.get(node.start_byte()..head_end).unwrap_or("");
            let facts = definition.body.map(|body| facts(language, body, text, &skip)).unwrap_or_default();
            let attributes = grammar::attributes(language, node, text);
            spans.push((node.start_position().row, node.end_position().row));
            items.push(Parsed {
                owner: owner.map(|o| cut(&o)),
                name: cut(&definition.name),
                kind,
                line: first_line + node.start_position().row,
                signature,
                head,
                attributes,
                facts,
                in_tests,
            });
        }
        let rest = facts(language, root, text, &skip);
        Some(Outline { items, rest, spans })
    }
}

/// The text of `node` up to `end` without the comments in it: a comment
/// added to a declaration (`def f(  # noqa`) leaves its signature as it was.
fn without_comments(node: Node<'_>, end: usize, text: &str) -> String {
    let mut out = String::new();
    let mut at = node.start_byte();
    let mut stack = vec![node];
    let mut comments = Vec::new();
    while let Some(current) = stack.pop() {
        if current.start_byte() >= end {
            continue;
        }
        if current.kind().contains("comment") {
            comments.push(current.byte_range());
        } else {
            stack.extend(children(current));
        }
    }
    comments.sort_by_key(|range| range.start);
    for range in comments {
        out.push_str(text.get(at..range.start.max(at)).unwrap_or(""));
        out.push(' ');
        at = at.max(range.end);
    }
    out.push_str(text.get(at..end.max(at)).unwrap_or(""));
    out
}

fn children<'t>(node: Node<'t>) -> impl DoubleEndedIterator<Item = Node<'t>> {
    (0..node.child_count()).filter_map(move |i| node.child(i))
}

/// The facts of a body, whose nested items (`skip`) are left to themselves.
fn facts<'s>(language: Language, body: Node<'_>, text: &'s str, skip: &HashSet<usize>) -> Facts<'s> {
    let piece = |node: Node<'_>| text.get(node.byte_range()).unwrap_or("");
    let statements = statements_of(body);
    let last = (0..statements.named_child_count())
        .rev()
        .filter_map(|i| statements.named_child(i))
        .find(|n| !n.kind().contains("comment"));
    let mut facts = Facts::default();
    let mut stack = vec![body];
    while let Some(node) = stack.pop() {
        if node.id() != body.id() && skip.contains(&node.id()) {
            continue;
        }
        let kind = node.kind();
        if kind.contains("comment") {
            facts.comments.push(piece(node));
            continue;
        }
        if is_literal(language, node, text) {
            facts.tokens.push(Token { text: piece(node), literal: true });
            continue;
        }
        if node.child_count() == 0 {
            if !piece(node).trim().is_empty() {
                facts.tokens.push(Token { text: piece(node), literal: false });
            }
            continue;
        }
        if language.is_call(kind) {
            facts.calls.extend(callee(node, text));
        }
        if language.is_condition(kind) {
            let condition = node.child_by_field_name("condition").unwrap_or(node);
            facts.conditions.push(cut(piece(condition)));
        }
        if language.is_return(kind) && !is_last(node, statements, last) {
            facts.early_returns.push(cut(piece(node)));
        }
        stack.extend(children(node).rev());
    }
    facts.constant = constant_of(language, body, text);
    facts
}

/// The node whose children are a body's statements: a Kotlin function's
/// block, a Go block's statement list.
fn statements_of(body: Node<'_>) -> Node<'_> {
    let mut node = body;
    for _ in 0..3 {
        let named: Vec<Node<'_>> = (0..node.named_child_count())
            .filter_map(|i| node.named_child(i))
            .filter(|n| !n.kind().contains("comment"))
            .collect();
        match named.as_slice() {
            [only] if ["block", "body", "statement_list", "statements"].iter().any(|k| only.kind().ends_with(k)) => {
                node = *only
            }
            _ => break,
        }
    }
    node
}

/// Whether a return is its body's last statement (not an early return).
fn is_last(node: Node<'_>, statements: Node<'_>, last: Option<Node<'_>>) -> bool {
    let mut statement = node;
    while let Some(parent) = statement.parent().filter(|p| p.kind() == "expression_statement") {
        statement = parent;
    }
    statement.parent().is_some_and(|p| p.id() == statements.id()) && last.is_some_and(|l| l.id() == statement.id())
}

/// The literal a body only returns (`{ true }`, `return true;`, `=> true`).
fn constant_of(language: Language, body: Node<'_>, text: &str) -> Option<String> {
    let mut node = body;
    for _ in 0..8 {
        if is_literal(language, node, text) {
            return Some(cut(text.get(node.byte_range())?));
        }
        // Named children, and literals some grammars leave unnamed.
        let mut significant = children(node)
            .filter(|n| (n.is_named() || is_literal(language, *n, text)) && !n.kind().contains("comment"));
        let only = significant.next().filter(|_| significant.next().is_none())?;
        if node.kind().contains("unary") && is_literal(language, only, text) {
            return Some(cut(text.get(node.byte_range())?));
        }
        node = only;
    }
    None
}

/// Kotlin's grammar reads `true`, `false` and `null` as identifiers.
fn is_literal(language: Language, node: Node<'_>, text: &str) -> bool {
    language.is_literal(node.kind())
        || (node.kind() == "identifier" && matches!(text.get(node.byte_range()), Some("true" | "false" | "null")))
}

/// What a call calls, as written: `hash_of`, `self.hash_of`, `os.ReadFile`.
fn callee(node: Node<'_>, text: &str) -> Option<String> {
    let piece = |n: Node<'_>| text.get(n.byte_range()).unwrap_or("");
    if let Some(function) = ["function", "macro", "constructor"].iter().find_map(|f| node.child_by_field_name(f)) {
        let name = path_or_last(piece(function))?;
        return Some(if node.kind() == "macro_invocation" { format!("{name}!") } else { name });
    }
    if let Some(name) = node.child_by_field_name("name").or_else(|| node.child_by_field_name("method")) {
        let separator = match node.kind() {
            "member_call_expression" => "->",
            "scoped_call_expression" => "::",
            _ => ".",
        };
        let receiver = ["object", "receiver", "scope"]
            .iter()
            .find_map(|f| node.child_by_field_name(f))
            .map(piece)
            .filter(|r| SIMPLE_PATH.is_match(r));
        let name = piece(name);
        return Some(cut(&match receiver {
            Some(receiver) => format!("{receiver}{separator}{name}"),
            None => name.to_string(),
        }));
    }
    path_or_last(piece(node.child_by_field_name("type").or_else(|| node.named_child(0))?))
}

static SIMPLE_PATH: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z_$@][\w$]*(?:(?:\.|::|->|\?\.)[A-Za-z_$@][\w$]*)*$").expect("valid regex"));

/// A callee's path (`a.b.c`, `std::fs::read`) without generic arguments, or
/// for a longer expression its last name.
fn path_or_last(callee: &str) -> Option<String> {
    static GENERICS: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?:::)?<[^<>()]*>").expect("valid regex"));
    static NAME: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[A-Za-z_$][\w$]*").expect("valid regex"));
    let compact: String = callee.split_whitespace().collect();
    let plain = GENERICS.replace_all(&compact, "");
    if plain.len() <= 80 && SIMPLE_PATH.is_match(&plain) {
        return Some(plain.into_owned());
    }
    NAME.find_iter(&plain).last().map(|m| m.as_str().to_string())
}

/// Whitespace made single spaces, at most `MAX_TEXT` characters.
fn cut(text: &str) -> String {
    let compact = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match compact.char_indices().nth(MAX_TEXT) {
        Some((at, _)) => format!("{}…", &compact[..at]),
        None => compact,
    }
}

/// Matches old items to new ones by (owner, name, kind), those with the same
/// signature first; what is left is renamed (same body), added or removed.
fn compare(old: Vec<Parsed<'_>>, new: Vec<Parsed<'_>>) -> Vec<ItemChange> {
    let key = |item: &Parsed<'_>| (item.owner.clone(), item.name.clone(), item.kind);
    let mut by_key: HashMap<(Option<String>, String, ItemKind), Vec<usize>> = HashMap::new();
    for (index, item) in old.iter().enumerate() {
        by_key.entry(key(item)).or_default().push(index);
    }
    let mut old_match: Vec<Option<usize>> = vec![None; old.len()];
    let mut new_match: Vec<Option<usize>> = vec![None; new.len()];
    for same_signature in [true, false] {
        for (j, item) in new.iter().enumerate() {
            if new_match[j].is_some() {
                continue;
            }
            let candidates = by_key.get(&key(item)).map(Vec::as_slice).unwrap_or_default();
            let found = candidates
                .iter()
                .copied()
                .find(|&i| old_match[i].is_none() && (!same_signature || old[i].signature == item.signature));
            if let Some(i) = found {
                old_match[i] = Some(j);
                new_match[j] = Some(i);
            }
        }
    }
    let mut changes = Vec::new();
    let empty = Facts::default();
    for (j, item) in new.iter().enumerate() {
        if let Some(i) = new_match[j] {
            changes.extend(changed(&old[i], item));
            continue;
        }
        // A rename keeps a body of some substance (more than its braces).
        let renamed = (0..old.len()).find(|&i| {
            old_match[i].is_none()
                && old[i].kind == item.kind
                && old[i].owner == item.owner
                && item.facts.tokens.len() > 3
                && old[i].facts.tokens == item.facts.tokens
        });
        let (change, body) = match renamed {
            Some(i) => {
                old_match[i] = Some(j);
                (Change::Renamed { from: old[i].name.clone() }, BodyDelta::default())
            }
            None => (Change::Added, delta(&empty, &item.facts)),
        };
        changes.push(ItemChange {
            name: item.name.clone(),
            owner: item.owner.clone(),
            kind: item.kind,
            change,
            line: Some(item.line),
            body,
            in_tests: item.in_tests,
        });
    }
    for (_, item) in old.iter().enumerate().filter(|(i, _)| old_match[*i].is_none()) {
        changes.push(ItemChange {
            name: item.name.clone(),
            owner: item.owner.clone(),
            kind: item.kind,
            change: Change::Removed,
            line: Some(item.line),
            body: delta(&item.facts, &empty),
            in_tests: item.in_tests,
        });
    }
    changes
}

/// How a matched item changed, if it did. A type, trait or module shows
/// its own changes only (its members are items of their own).
fn changed(old: &Parsed<'_>, new: &Parsed<'_>) -> Option<ItemChange> {
    let container = matches!(new.kind, ItemKind::Type | ItemKind::Trait | ItemKind::Module);
    let change = if old.signature != new.signature {
        Change::SignatureChanged { old: old.signature.clone(), new: new.signature.clone() }
    } else if old.facts.tokens != new.facts.tokens && new.kind != ItemKind::Module {
        Change::BodyChanged
    } else if old.attributes != new.attributes {
        Change::AttributesChanged {
            added: only_in(&new.attributes, &old.attributes).iter().map(|a| cut(a)).collect(),
            removed: only_in(&old.attributes, &new.attributes).iter().map(|a| cut(a)).collect(),
        }
    } else if (old.facts.comments != new.facts.comments || cut(old.head) != cut(new.head)) && !container {
        Change::CommentsChanged
    } else {
        return None;
    };
    Some(ItemChange {
        name: new.name.clone(),
        owner: new.owner.clone(),
        kind: new.kind,
        change,
        line: Some(new.line),
        body: delta(&old.facts, &new.facts),
        in_tests: new.in_tests,
    })
}

/// The entries of `these` not in `those`, each once, at most [`MAX_FACTS`].
fn only_in(these: &[String], those: &[String]) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for entry in these {
        if found.len() < MAX_FACTS && !those.contains(entry) && !found.contains(entry) {
            found.push(entry.clone());
        }
    }
    found
}

fn delta(old: &Facts<'_>, new: &Facts<'_>) -> BodyDelta {
    BodyDelta {
        calls_added: only_in(&new.calls, &old.calls),
        calls_removed: only_in(&old.calls, &new.calls),
        conditions_added: only_in(&new.conditions, &old.conditions),
        conditions_removed: only_in(&old.conditions, &new.conditions),
        early_returns_added: only_in(&new.early_returns, &old.early_returns),
        early_returns_removed: only_in(&old.early_returns, &new.early_returns),
        literals_changed: literals_changed(&old.tokens, &new.tokens),
        reduced_to_constant: new.constant.clone().filter(|_| old.constant.is_none() && !old.tokens.is_empty()),
    }
}

/// Literals that differ where the token sequences otherwise line up: in each
/// replaced stretch whose tokens pair one to one, literal for literal (an
/// expression put where a literal was, `False` → `pre["ignore_merges"]`, is
/// not a literal changed).
fn literals_changed(old: &[Token<'_>], new: &[Token<'_>]) -> Vec<LiteralChange> {
    if old.is_empty() || new.is_empty() || old.len() > MAX_TOKENS || new.len() > MAX_TOKENS {
        return Vec::new();
    }
    let mut changed = Vec::new();
    let ops = similar::capture_diff_slices_deadline(Algorithm::Myers, old, new, Some(Instant::now() + BUDGET));
    for op in ops {
        let DiffOp::Replace { old_index, old_len, new_index, new_len } = op else { continue };
        let (before, after) = (&old[old_index..old_index + old_len], &new[new_index..new_index + new_len]);
        if old_len != new_len || before.iter().zip(after).any(|(b, a)| !(b.literal && a.literal)) {
            continue;
        }
        for (old, new) in before.iter().zip(after).map(|(b, a)| (b.text, a.text)).filter(|(old, new)| old != new) {
            if changed.len() < MAX_FACTS {
                changed.push(LiteralChange { old: cut(old), new: cut(new) });
            }
        }
    }
    changed
}
