//! What a file's diff shows, as the claims checks read it: names on added,
//! removed and context lines, the items defined on each side, the items
//! whose lines changed, and the behaviour signals a label is made from
//! (conditions and calls removed, a body reduced to a constant, literals
//! changed). Built from the hunks here; the fields are plain sets so a
//! parser of the code can fill them instead.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use regex::Regex;

use super::change::{Content, FileChange};
use super::shape::{definition, is_comment};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Evidence {
    /// Identifiers on added lines (code and comments), with how many times.
    pub added: BTreeMap<String, usize>,
    /// Identifiers on removed lines, with how many times.
    pub removed: BTreeMap<String, usize>,
    /// Identifiers on unchanged (context) lines and hunk headers.
    pub context: BTreeSet<String>,
    /// Items defined on added lines, and on removed lines.
    pub defined_added: BTreeSet<String>,
    pub defined_removed: BTreeSet<String>,
    /// Names a removed top-level line bound to a value (`var encode = …`):
    /// a function added under one of them defines the name anew.
    pub bound_removed: BTreeSet<String>,
    /// Items whose lines changed, with how many changed lines each: those
    /// defined on changed lines and those around a changed line (by the hunk
    /// header or an earlier definition).
    pub changed: BTreeMap<String, usize>,
    /// Condition lines (`if`, `elif`, `unless`, `guard`, `assert`) removed and added.
    pub conditions_removed: usize,
    pub conditions_added: usize,
    /// Functions called, with the removed and the added lines that call each.
    pub calls: BTreeMap<String, (usize, usize)>,
    /// Items whose changed body now only returns a constant (`return True`).
    pub reduced_to_constant: BTreeSet<String>,
    /// Line pairs that differ only in a number or a string (`160 → 200`).
    pub literals_changed: usize,
    /// The text of the changed (`+`, `-`) lines and of the unchanged ones: for
    /// names no identifier pattern reads (`rust-version`, `markdown-it`).
    pub changed_text: String,
    pub context_text: String,
}

/// The name a top-level line binds to a value (`var encode = encodeURIComponent;`,
/// `export const LIMIT = 3`, Python's `LIMIT = 3`): on a removed line, a name a
/// function "added" under the same name already had.
fn top_level_binding(line: &str) -> Option<String> {
    static BINDING: OnceLock<Regex> = OnceLock::new();
    let binding = BINDING.get_or_init(|| {
        Regex::new(r"^(?:export\s+)?(?:(?:var|let|const)\s+)?([A-Za-z_$][\w$]*)\s*(?::[^=]+)?=[^=>]")
            .expect("valid regex")
    });
    binding.captures(line).map(|c| c[1].to_string())
}

fn word() -> &'static Regex {
    static WORD: OnceLock<Regex> = OnceLock::new();
    WORD.get_or_init(|| Regex::new(r"[A-Za-z_$][A-Za-z0-9_$]*").expect("valid regex"))
}

/// Names called on a line of code: identifiers before `(`, keywords left out.
fn calls(code: &str) -> Vec<String> {
    static CALL: OnceLock<Regex> = OnceLock::new();
    let call = CALL.get_or_init(|| Regex::new(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(").expect("valid regex"));
    const NOT_CALLS: &[&str] = &[
        "if", "elif", "while", "for", "switch", "return", "match", "catch", "fn", "def", "function", "func", "and",
        "or", "not", "in", "sizeof",
    ];
    call.captures_iter(code).map(|c| c[1].to_string()).filter(|n| !NOT_CALLS.contains(&n.as_str())).collect()
}

fn is_condition(code: &str) -> bool {
    ["if ", "if(", "elif ", "else if", "} else if", "unless ", "guard ", "assert", "require(", "when "]
        .iter()
        .any(|start| code.starts_with(start))
}

/// A line that only gives back a constant: `return True`, `true`, `return 0;`.
fn is_constant_return(code: &str) -> bool {
    let value = code.trim_end_matches(';').trim();
    let value = value.strip_prefix("return").map(str::trim).unwrap_or(value);
    ["true", "false", "True", "False", "None", "null", "nil", "0", "1", "-1", "\"\"", "''", "[]", "{}", "Ok(())"]
        .contains(&value)
}

/// A line with its numbers and quoted strings replaced, to tell a changed literal.
fn without_literals(code: &str) -> String {
    static LITERAL: OnceLock<Regex> = OnceLock::new();
    let literal = LITERAL.get_or_init(|| {
        Regex::new(r#""(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|\b\d[\d_.]*[A-Za-z]*\b"#).expect("valid regex")
    });
    literal.replace_all(code, "#").into_owned()
}

impl Evidence {
    /// The evidence of one file: its hunks, or a whole file as added lines.
    pub fn of_file(file: &FileChange) -> Evidence {
        match &file.content {
            Content::Hunks(hunks) => {
                let mut evidence = Evidence::default();
                for hunk in hunks {
                    evidence.read_hunk(&hunk.header, hunk.lines.iter());
                }
                evidence
            }
            Content::File(text) => {
                let lines: Vec<String> = text.lines().map(|l| format!("+{l}")).collect();
                let mut evidence = Evidence::default();
                evidence.read_hunk("", lines.iter().map(String::as_str));
                evidence
            }
            _ => Evidence::default(),
        }
    }

    /// The evidence of diff text (what a prompt shows the model): each `@@`
    /// header and the `+`, `-` and ` ` lines after it. `None` when the text
    /// holds no hunk (whole files, or summaries of files).
    pub fn of_diff_text(text: &str) -> Option<Evidence> {
        let mut evidence = Evidence::default();
        let mut hunk: Option<(&str, Vec<String>)> = None;
        let mut any = false;
        for line in text.lines() {
            if line.starts_with("@@") {
                if let Some((header, lines)) = hunk.take() {
                    evidence.read_hunk(header, lines.iter().map(String::as_str));
                }
                hunk = Some((line, Vec::new()));
                any = true;
            } else if let Some((_, lines)) = hunk.as_mut().filter(|_| line.starts_with(['+', '-', ' '])) {
                lines.push(line.to_string());
            } else if let Some((header, lines)) = hunk.take() {
                evidence.read_hunk(header, lines.iter().map(String::as_str));
            }
        }
        if let Some((header, lines)) = hunk {
            evidence.read_hunk(header, lines.iter().map(String::as_str));
        }
        any.then_some(evidence)
    }

    fn read_hunk<'a>(&mut self, header: &str, lines: impl IntoIterator<Item = &'a str>) {
        // The item a changed line belongs to: the header's, until a definition says otherwise.
        let heading = header.splitn(3, "@@").nth(2).unwrap_or("");
        // A header that is not a definition by the patterns here (`run(x) {`) still names its item.
        let mut around = definition(heading.trim()).or_else(|| calls(heading).into_iter().next());
        for name in word().find_iter(heading) {
            self.context.insert(name.as_str().to_string());
        }
        let (mut minus_code, mut plus_code): (Vec<&str>, Vec<&str>) = (Vec::new(), Vec::new());
        let flush = |this: &mut Evidence, around: &Option<String>, minus: &mut Vec<&str>, plus: &mut Vec<&str>| {
            this.close_run(around.as_deref(), minus, plus);
            minus.clear();
            plus.clear();
        };
        for line in lines {
            let (sign, text) = match line.split_at_checked(1) {
                Some((sign, text)) => (sign, text),
                None => continue,
            };
            let code = text.trim();
            let defined = definition(text);
            if let Some(name) = &defined {
                around = Some(name.clone());
            }
            let names = word().find_iter(text).map(|m| m.as_str().to_string());
            let lines = if sign == " " { &mut self.context_text } else { &mut self.changed_text };
            lines.push_str(text);
            lines.push('\n');
            match sign {
                "+" | "-" => {
                    let (uses, defs, run) = if sign == "+" {
                        (&mut self.added, &mut self.defined_added, &mut plus_code)
                    } else {
                        (&mut self.removed, &mut self.defined_removed, &mut minus_code)
                    };
                    for name in names {
                        *uses.entry(name).or_default() += 1;
                    }
                    if let Some(name) = defined {
                        defs.insert(name);
                    } else if let Some(name) = (sign == "-").then(|| top_level_binding(text)).flatten() {
                        self.bound_removed.insert(name);
                    }
                    if let Some(name) = around.as_ref().filter(|_| !code.is_empty()) {
                        *self.changed.entry(name.clone()).or_default() += 1;
                    }
                    if !code.is_empty() && !is_comment(code) {
                        run.push(code);
                        for call in calls(code) {
                            let counts = self.calls.entry(call).or_default();
                            if sign == "+" {
                                counts.1 += 1;
                            } else {
                                counts.0 += 1;
                            }
                        }
                    }
                }
                _ => {
                    flush(self, &around, &mut minus_code, &mut plus_code);
                    self.context.extend(names);
                }
            }
        }
        flush(self, &around, &mut minus_code, &mut plus_code);
    }

    /// Functions called on fewer lines than before.
    pub fn calls_removed(&self) -> impl Iterator<Item = &str> {
        self.calls.iter().filter(|(_, (removed, added))| removed > added).map(|(name, _)| name.as_str())
    }

    /// One run of removed and added lines between context lines.
    fn close_run(&mut self, around: Option<&str>, minus: &[&str], plus: &[&str]) {
        let count = |lines: &[&str]| lines.iter().filter(|l| is_condition(l)).count();
        let (removed, added) = (count(minus), count(plus));
        self.conditions_removed += removed.saturating_sub(added);
        self.conditions_added += added.saturating_sub(removed);
        if !plus.is_empty() && plus.iter().all(|l| is_constant_return(l)) && minus.len() >= 2 {
            if let Some(name) = around {
                self.reduced_to_constant.insert(name.to_string());
            }
        }
        self.literals_changed += minus
            .iter()
            .zip(plus)
            .filter(|(old, new)| old != new && without_literals(old) == without_literals(new))
            .count();
    }

    /// Both files' evidence in one (for the overview and the title).
    pub fn merge(&mut self, other: &Evidence) {
        for (name, n) in &other.added {
            *self.added.entry(name.clone()).or_default() += n;
        }
        for (name, n) in &other.removed {
            *self.removed.entry(name.clone()).or_default() += n;
        }
        self.context.extend(other.context.iter().cloned());
        self.defined_added.extend(other.defined_added.iter().cloned());
        self.defined_removed.extend(other.defined_removed.iter().cloned());
        self.bound_removed.extend(other.bound_removed.iter().cloned());
        for (name, n) in &other.changed {
            *self.changed.entry(name.clone()).or_default() += n;
        }
        self.conditions_removed += other.conditions_removed;
        self.conditions_added += other.conditions_added;
        for (name, (removed, added)) in &other.calls {
            let counts = self.calls.entry(name.clone()).or_default();
            counts.0 += removed;
            counts.1 += added;
        }
        self.reduced_to_constant.extend(other.reduced_to_constant.iter().cloned());
        self.literals_changed += other.literals_changed;
        self.changed_text.push_str(&other.changed_text);
        self.context_text.push_str(&other.context_text);
    }

    fn uses(map: &BTreeMap<String, usize>, name: &str) -> usize {
        map.get(name).copied().unwrap_or(0)
    }

    /// Whether the diff shows `name` at all (a checked claim needs it there).
    pub fn mentions(&self, name: &str) -> bool {
        self.added.contains_key(name) || self.removed.contains_key(name) || self.context.contains(name)
    }

    /// Defined by added lines and not by removed ones, or only on added lines.
    pub fn brings_in(&self, name: &str) -> bool {
        (self.defined_added.contains(name) && !self.defined_removed.contains(name))
            || (self.added.contains_key(name) && !self.removed.contains_key(name) && !self.context.contains(name))
    }

    /// Used on more lines than before.
    pub fn more_uses(&self, name: &str) -> bool {
        Self::uses(&self.added, name) > Self::uses(&self.removed, name)
    }

    /// Gone: defined by removed lines and not added ones, or on fewer lines than before.
    pub fn removes(&self, name: &str) -> bool {
        (self.defined_removed.contains(name) && !self.defined_added.contains(name))
            || Self::uses(&self.removed, name) > Self::uses(&self.added, name)
    }

    /// On an added line: in the new code, as part of the change.
    pub fn in_new_code(&self, name: &str) -> bool {
        self.added.contains_key(name)
    }

    /// Its lines changed: on a changed line, or an item around one.
    pub fn is_changed(&self, name: &str) -> bool {
        self.changed.contains_key(name) || self.added.contains_key(name) || self.removed.contains_key(name)
    }

    /// Seen only on unchanged lines: never what the change does.
    pub fn context_only(&self, name: &str) -> bool {
        self.context.contains(name) && !self.is_changed(name)
    }

    /// `text` is on unchanged lines and on no changed one, as written.
    pub fn only_on_unchanged_lines(&self, text: &str) -> bool {
        self.context_text.contains(text) && !self.changed_text.contains(text)
    }

    /// The item with the most changed lines, if any.
    pub fn main_item(&self) -> Option<&str> {
        self.changed
            .iter()
            .max_by_key(|(name, n)| (**n, std::cmp::Reverse(name.as_str())))
            .map(|(name, _)| name.as_str())
    }

    /// The change alters behaviour: conditions gone or come, calls gone, a body reduced to a constant, literals changed.
    pub fn changes_behaviour(&self) -> bool {
        // Conditions moved (one gone here, one come there) are no change.
        self.conditions_removed != self.conditions_added
            || self.calls_removed().next().is_some()
            || !self.reduced_to_constant.is_empty()
            || self.literals_changed > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::change::fixtures::{one_hunk, PASSWORD_CHECK};

    #[test]
    fn a_password_check_reduced_to_true() {
        let (path, header, lines) = PASSWORD_CHECK;
        let evidence = Evidence::of_file(&one_hunk(path, header, lines));
        assert!(evidence.changed.contains_key("check_password"));
        assert!(evidence.removes("hash_of") && !evidence.in_new_code("hash_of"));
        assert_eq!(evidence.conditions_removed, 1);
        assert_eq!(evidence.calls_removed().collect::<Vec<_>>(), vec!["hash_of"]);
        assert!(evidence.reduced_to_constant.contains("check_password"), "{evidence:?}");
        assert!(evidence.context_only("hashlib"));
        assert!(evidence.changes_behaviour());
    }

    #[test]
    fn a_new_function_called_from_a_changed_one() {
        let evidence = Evidence::of_file(&one_hunk(
            "src/pipeline/mapreduce.rs",
            "@@ -120,7 +120,9 @@ pub fn summarize(",
            &[
                "     let text = bounded(&answer.text, 3, 70, false);",
                "-    overview = text;",
                "+    overview = without_leading_also(&text);",
                "+    let limit = 200;",
                " }",
                "+fn without_leading_also(text: &str) -> String {",
                "+    text.replace(\"It also\", \"It\")",
                "+}",
            ],
        ));
        assert!(evidence.changed.contains_key("summarize"), "the header's item: {evidence:?}");
        assert!(evidence.brings_in("without_leading_also"));
        assert!(evidence.context_only("bounded"));
        assert!(!evidence.changes_behaviour(), "nothing removed, no literal changed");
        let literal = Evidence::of_file(&one_hunk(
            "a.rs",
            "@@ -1 +1 @@",
            &["-const LIMIT: usize = 160;", "+const LIMIT: usize = 200;"],
        ));
        assert_eq!(literal.literals_changed, 1);
    }
}
