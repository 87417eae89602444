//! What the model wrote, checked and shaped: unusable answers refused, a
//! title line taken apart from the overview, and the items a change touches
//! computed from the diff itself.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use regex::Regex;

use super::change::{Content, FileChange};
use super::facts::ChangeFacts;
use super::prompts::Kind;

/// Why an answer is unusable, if it is: the input copied back (a small model
/// sometimes repeats prose it was asked to summarize).
pub fn answer_problem(text: &str, prompt: &str) -> Option<String> {
    let first = text.lines().next().unwrap_or("").trim_start_matches(['#', '-', '*', ' ']).trim();
    let probe: String = first.chars().take(40).collect();
    (probe.chars().count() == 40 && prompt.contains(&probe))
        .then(|| "the model repeated its input instead of summarizing it".into())
}

/// Trims an answer.
pub fn clean(text: &str) -> String {
    text.trim().to_string()
}

/// The model's title answer as a title: its first line without a label,
/// quotes, emphasis or a final period; nothing when it is not title-sized.
pub fn one_line_title(text: &str) -> String {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    let line = line.trim_start_matches('#').trim().replace("**", "");
    let line = match line.split_once(':') {
        Some((label, rest)) if label.trim().eq_ignore_ascii_case("title") => rest.trim().to_string(),
        _ => line,
    };
    let mut title = line.trim().trim_end_matches('.').trim();
    // Quotes around the whole title go; a backtick goes only with its pair.
    for quote in ['"', '\'', '*'] {
        title = title.trim_matches(quote).trim().trim_end_matches('.');
    }
    // A small model likes to open with the release's version ("1.20.2: …"): not part of a title.
    static VERSION: OnceLock<Regex> = OnceLock::new();
    let version =
        VERSION.get_or_init(|| Regex::new(r"^(?:v?\d+(?:\.\d+)*[%.]?\s*[:\-–.)]?\s+)+").expect("valid regex"));
    let mut title = version.replace(title, "").trim().to_string();
    if title.matches('`').count() % 2 == 1 {
        title = title.replacen('`', "", 1);
    }
    title
}

/// Why a title answer is not a title, if it is not: empty, too long, about
/// which files changed, or a list of names ("`Foo`, `Bar`, `void`").
pub fn title_problem(title: &str) -> Option<&'static str> {
    let words: Vec<&str> = title.split_whitespace().collect();
    // Words that are not names (nor the commas and "and" between them).
    let plain = super::grounding::code_names(title);
    let prose = words
        .iter()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric() && c != '_'))
        .filter(|w| !w.is_empty() && *w != "and" && !plain.iter().any(|n| n == w))
        .count();
    if words.is_empty() {
        Some("empty")
    } else if words.len() > 14 {
        Some("longer than a title")
    } else if title.starts_with("Changes to ") || title.starts_with("Update files") {
        Some("says which files changed, not what")
    } else if plain.len() >= 2 && prose <= 1 || title.matches(',').count() >= 2 && prose <= 2 {
        Some("a list of names")
    } else {
        None
    }
}

/// A title made from what is known when the model's is missing or failed
/// the gate: the main public item the change adds, changes or removes, else
/// the main item of its main code file (`main`: the verb and the name),
/// else the paths. One item with its verb, never a list.
pub fn fallback_title(kind: Kind, paths: &[&str], facts: Option<&ChangeFacts>, main: Option<(&str, &str)>) -> String {
    let more = |n: usize| match n {
        0 | 1 => String::new(),
        2 => " and one more".to_string(),
        n => format!(" and {} more", n - 1),
    };
    if let Some(facts) = facts {
        for (verb, names) in [
            ("Add", &facts.api.added),
            ("Change", &facts.api.changed),
            ("Move", &facts.api.moved),
            ("Remove", &facts.api.removed),
        ] {
            if let Some(first) = names.first() {
                return format!("{verb} `{first}`{}", more(names.len()));
            }
        }
    }
    if let (Kind::Change, Some((verb, name))) = (kind, main) {
        return format!("{verb} `{name}`");
    }
    match (kind, paths) {
        (Kind::Codebase, _) => format!("Overview of {} file(s)", paths.len()),
        (Kind::Change, [one]) => format!("Changes to {one}"),
        (Kind::Change, [a, b]) => format!("Changes to {a} and {b}"),
        (Kind::Change, _) => format!("Changes to {} files", paths.len()),
    }
}

/// Items a file's change defines or touches: definitions on changed lines
/// (whole files: unindented definitions), in order, without repeats. A
/// definition is code, not prose: the keyword opens the line (after
/// modifiers), and comment lines are skipped.
pub fn symbols(file: &FileChange) -> Vec<String> {
    let lines: Vec<&str> = match &file.content {
        Content::Hunks(hunks) => {
            hunks.iter().flat_map(|h| &h.lines).filter_map(|l| l.strip_prefix(['+', '-'])).collect()
        }
        Content::File(text) => text.lines().filter(|l| !l.starts_with([' ', '\t'])).collect(),
        _ => Vec::new(),
    };
    let mut found: Vec<String> = Vec::new();
    for name in lines.into_iter().filter_map(definition) {
        if !found.contains(&name) {
            found.push(name);
        }
    }
    found
}

/// The item a line of code defines, if it defines one: a keyword
/// (`fn`, `class`, `def`, …) opens it after modifiers, or (C, C++, Java,
/// C#) a return type comes before `name(…)`; never a keyword or a standard
/// type (`static void f()` defines `f`, not `void`). Comment lines define nothing.
pub(crate) fn definition(line: &str) -> Option<String> {
    static KEYWORD: OnceLock<Regex> = OnceLock::new();
    static TYPED: OnceLock<Regex> = OnceLock::new();
    static ARROW: OnceLock<Regex> = OnceLock::new();
    let code = line.trim_start();
    if is_comment(code) || code.starts_with("--") {
        return None;
    }
    let keyword = KEYWORD.get_or_init(|| {
        Regex::new(
            r"^\s*(?:(?:pub(?:\([^)]*\))?|export|default|async|static|public|private|protected|internal|final|abstract|unsafe|extern|override|open|data|sealed|inline|const)\s+)*(?:fn|struct|enum|trait|union|type|const|static|mod|macro_rules!|class|def|function|interface|func|fun|module|record|impl|object)\s+(?:\([^)]*\)\s*)?([A-Za-z_][A-Za-z0-9_]*)",
        )
        .expect("valid regex")
    });
    // `static int parse(const char *s) {`, `public List<String> names() throws X {`
    let typed = TYPED.get_or_init(|| {
        Regex::new(r"^\s*(?:[A-Za-z_][\w:<>,\[\]]*[\s*&]+)+\*?([A-Za-z_]\w*)\s*\([^;]*\)\s*(?:const\s*)?(?:throws\s+[\w., ]+)?\{?\s*$")
            .expect("valid regex")
    });
    // `const load = async (path) => {`, `export const load = function (`
    let arrow = ARROW.get_or_init(|| {
        Regex::new(r"^\s*(?:export\s+)?(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*=\s*(?:async\s*)?(?:function\b|\([^)]*\)\s*=>|[A-Za-z_$][\w$]*\s*=>)")
            .expect("valid regex")
    });
    let from_keyword = keyword.captures(line).map(|c| c[1].to_string());
    let name = match from_keyword {
        Some(name) if !not_a_definition(&name) => Some(name),
        _ => arrow.captures(line).map(|c| c[1].to_string()).or_else(|| {
            // `return f(x)` and `await g(y)` call; they do not define.
            let first = code.split(|c: char| !c.is_alphanumeric() && c != '_').next().unwrap_or("");
            const STATEMENTS: &[&str] = &[
                "return", "await", "raise", "throw", "yield", "new", "else", "case", "not", "and", "or", "in", "is",
                "assert", "del", "go", "defer", "echo", "puts", "print", "if", "for", "while", "switch", "catch",
                "elif", "when", "sizeof", "delete", "typeof", "using",
            ];
            (!STATEMENTS.contains(&first)).then(|| typed.captures(line)).flatten().map(|c| c[1].to_string())
        }),
    }?;
    (!not_a_definition(&name)).then_some(name)
}

/// Keywords and standard types: what a definition's pattern may catch that
/// is not the item's name.
fn not_a_definition(name: &str) -> bool {
    const TYPES: &[&str] = &[
        "void", "size_t", "ssize_t", "int", "unsigned", "signed", "long", "short", "double", "float", "char", "bool",
        "auto", "usize", "isize", "u8", "u16", "u32", "u64", "u128", "i8", "i16", "i32", "i64", "i128", "f32", "f64",
        "String", "Self", "Option", "Result", "Vec", "Box", "Iterator", "Item", "Object", "Integer", "List", "Map",
        "byte", "boolean", "uint8_t", "uint16_t", "uint32_t", "uint64_t", "int8_t", "int16_t", "int32_t", "int64_t",
        "for", "if", "else", "while", "switch", "return", "new", "delete", "sizeof", "catch", "elif", "when",
    ];
    TYPES.contains(&name) || KEYWORDS.contains(&name.to_ascii_lowercase().as_str())
}

/// Whether a line (its indentation trimmed) is a comment in the C, shell or
/// Python families: `//`, `#` (not a Rust attribute), `/*` and its `*` lines.
pub(crate) fn is_comment(code: &str) -> bool {
    code.starts_with("//")
        || code.starts_with('#') && !code.starts_with("#[")
        || code.starts_with('*')
        || code.starts_with("/*")
}

/// Words of code that say nothing of a change by themselves.
const KEYWORDS: &[&str] = &[
    "and",
    "any",
    "as",
    "assert",
    "async",
    "await",
    "bool",
    "break",
    "case",
    "catch",
    "char",
    "class",
    "const",
    "continue",
    "crate",
    "def",
    "default",
    "del",
    "elif",
    "else",
    "enum",
    "except",
    "export",
    "extends",
    "false",
    "final",
    "finally",
    "float",
    "for",
    "from",
    "func",
    "function",
    "impl",
    "implements",
    "import",
    "int",
    "interface",
    "let",
    "match",
    "mod",
    "mut",
    "new",
    "nil",
    "none",
    "not",
    "null",
    "package",
    "pass",
    "private",
    "protected",
    "pub",
    "public",
    "raise",
    "ref",
    "return",
    "self",
    "static",
    "str",
    "string",
    "struct",
    "super",
    "switch",
    "the",
    "this",
    "throw",
    "throws",
    "trait",
    "true",
    "try",
    "type",
    "typeof",
    "undefined",
    "use",
    "var",
    "void",
    "where",
    "while",
    "with",
    "yield",
    "some",
    "ok",
    "err",
    "unwrap",
    "expect",
    "clone",
    "into",
    "len",
    "vec",
    "box",
];

/// Names the change brings in: identifiers in the code of added lines
/// (string literals and comments left out) that no removed or unchanged line
/// of the file shows, the most used first. They point a small model (and the
/// choice between its answers) at what is new rather than at the context
/// around it. Linear in the diff's size.
pub fn new_names(file: &FileChange, most: usize) -> Vec<String> {
    static WORD: OnceLock<Regex> = OnceLock::new();
    static LITERAL: OnceLock<Regex> = OnceLock::new();
    let word = WORD.get_or_init(|| Regex::new(r"[A-Za-z_][A-Za-z0-9_]*").expect("valid regex"));
    // Quoted text is data, not names (and may hold secrets); single quotes are short (chars, not lifetimes' spans).
    let literal = LITERAL
        .get_or_init(|| Regex::new(r#""(?:[^"\\]|\\.)*"|'(?:[^'\\\n]|\\.){0,3}'|`[^`]*`"#).expect("valid regex"));
    let Content::Hunks(hunks) = &file.content else { return Vec::new() };
    let lines = || hunks.iter().flat_map(|h| &h.lines);
    let known: HashSet<&str> =
        lines().filter(|l| !l.starts_with('+')).flat_map(|l| word.find_iter(l).map(|m| m.as_str())).collect();
    // name → (uses, first use)
    let mut counts: HashMap<String, (usize, usize)> = HashMap::new();
    for line in lines().filter_map(|l| l.strip_prefix('+')) {
        let code = line.trim_start();
        if is_comment(code) {
            continue;
        }
        let code = literal.replace_all(code, " ");
        let code = [" //", " #", "/*"].iter().filter_map(|c| code.find(c)).min().map_or(&code[..], |end| &code[..end]);
        for name in word.find_iter(code).map(|m| m.as_str()) {
            let random = name.chars().filter(char::is_ascii_digit).count() >= 3;
            if name.len() < 3
                || name.len() > 40
                || random
                || known.contains(name)
                || KEYWORDS.contains(&name.to_ascii_lowercase().as_str())
            {
                continue;
            }
            let order = counts.len();
            counts.entry(name.to_string()).or_insert((0, order)).0 += 1;
        }
    }
    let mut ranked: Vec<(String, (usize, usize))> = counts.into_iter().collect();
    ranked.sort_by_key(|(_, (uses, first))| (std::cmp::Reverse(*uses), *first));
    ranked.into_iter().take(most).map(|(name, _)| name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::change::{Hunk, Status};

    #[test]
    fn new_names_are_those_only_added_lines_show() {
        let hunk = Hunk {
            header: "@@ -1,3 +1,4 @@".into(),
            lines: vec![
                " fn serialize(opt: &Options) {".into(),
                "-    write(opt.path);".into(),
                "+    write(opt.path);".into(),
                "+    if let Some(priority) = opt.priority { write_priority(priority, &mut out); }".into(),
                "+    // a comment about commentword".into(),
                "+    let token = \"ghp_secretsecretsecret\"; # trailing_comment".into(),
            ]
            .into(),
        };
        let file = FileChange {
            path: "src/lib.rs".into(),
            old_path: None,
            status: Status::Modified,
            additions: 3,
            deletions: 1,
            structure: Default::default(),
            content: Content::Hunks(vec![hunk]),
        };
        assert_eq!(new_names(&file, 6), vec!["priority", "write_priority", "out", "token"]);
        assert_eq!(new_names(&file, 1), vec!["priority"]);
    }

    #[test]
    fn copied_input_is_not_a_summary() {
        let prompt = "Summarize:\n+## Measured: summaries and the webhook endpoint\n+Numbers follow.";
        assert!(answer_problem("## Measured: summaries and the webhook endpoint", prompt).is_some());
        assert!(answer_problem("The README gains a section with measured numbers.", prompt).is_none());
    }

    #[test]
    fn a_title_answer_becomes_a_title() {
        assert_eq!(
            one_line_title("**Title:** \"Retry before the last attempt.\"\nIt waits."),
            "Retry before the last attempt"
        );
        assert_eq!(title_problem(&one_line_title(&"word ".repeat(20))), Some("longer than a title"));
        assert_eq!(title_problem("Change `SomeType`, `void`, `size_t`"), Some("a list of names"));
        assert_eq!(title_problem("SomeType, Parser and size_t"), Some("a list of names"));
        assert_eq!(title_problem("Return `true` from `check_password`"), None);
        assert_eq!(title_problem("Retry before the last attempt"), None);
        assert_eq!(one_line_title("1.20.2: Fix strict JSON errors"), "Fix strict JSON errors");
        assert_eq!(one_line_title("1. Use `urlParse` for redirects"), "Use `urlParse` for redirects");
    }

    #[test]
    fn items_are_definitions_not_words_in_comments() {
        let file = FileChange {
            path: "src/a.rs".into(),
            old_path: None,
            status: Status::Modified,
            additions: 5,
            deletions: 0,
            structure: Default::default(),
            content: Content::Hunks(vec![Hunk {
                header: "@@".into(),
                lines: vec![
                    "+/// This function panics when the struct is empty.".into(),
                    "+// a type for the module".into(),
                    "+pub(crate) async fn run_jobs() {}".into(),
                    "+impl Queue {".into(),
                    "+    const LIMIT: usize = 3;".into(),
                    "+let value = type_of(x);".into(),
                ]
                .into(),
            }]),
        };
        assert_eq!(symbols(&file), vec!["run_jobs", "Queue", "LIMIT"]);
    }

    #[test]
    fn definitions_are_never_keywords_types_or_calls() {
        assert_eq!(definition("static void flush_queue(struct queue *q) {").as_deref(), Some("flush_queue"));
        assert_eq!(definition("const size_t limit = 3;"), None);
        assert_eq!(definition("    public List<String> names() throws IOException {").as_deref(), Some("names"));
        assert_eq!(definition("export const load = async (path) => {").as_deref(), Some("load"));
        assert_eq!(definition("    return compute(x)"), None);
        assert_eq!(definition("    let total = items.iter().chain(more).count();"), None);
        assert_eq!(definition("impl Iterator for Lines {"), None, "a trait's impl defines no new name here");
    }
}
