//! What each language's syntax tree calls a definition, a call, a condition,
//! a return and a literal. Only definitions become items: an import, a type
//! that is only used, a keyword or a library call is never one.

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;
use tree_sitter::Node;

use super::ItemKind;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Rust,
    Python,
    JavaScript,
    TypeScript,
    Tsx,
    Go,
    Java,
    Kotlin,
    C,
    Cpp,
    CSharp,
    Ruby,
    Php,
    Markdown,
}

impl Language {
    /// The language a path's extension (or, for a few, its name) says.
    pub fn of_path(path: &str) -> Option<Language> {
        let name = path.rsplit('/').next().unwrap_or(path);
        if matches!(name, "Rakefile" | "Gemfile") {
            return Some(Language::Ruby);
        }
        let extension = name.rsplit_once('.')?.1.to_ascii_lowercase();
        Some(match extension.as_str() {
            "rs" => Language::Rust,
            "py" | "pyi" => Language::Python,
            "js" | "mjs" | "cjs" | "jsx" => Language::JavaScript,
            "ts" | "mts" | "cts" => Language::TypeScript,
            "tsx" => Language::Tsx,
            "go" => Language::Go,
            "java" => Language::Java,
            "kt" | "kts" => Language::Kotlin,
            "c" | "h" => Language::C,
            "cc" | "cpp" | "cxx" | "c++" | "hpp" | "hh" | "hxx" | "h++" | "ipp" => Language::Cpp,
            "cs" => Language::CSharp,
            "rb" | "rake" | "gemspec" => Language::Ruby,
            "php" => Language::Php,
            "md" | "markdown" => Language::Markdown,
            _ => return None,
        })
    }

    /// The grammar for `text`; `None` for Markdown, which has no items.
    pub(super) fn grammar(self, text: &str) -> Option<tree_sitter::Language> {
        let function = match self {
            Language::Rust => tree_sitter_rust::LANGUAGE,
            Language::Python => tree_sitter_python::LANGUAGE,
            Language::JavaScript => tree_sitter_javascript::LANGUAGE,
            Language::TypeScript => tree_sitter_typescript::LANGUAGE_TYPESCRIPT,
            Language::Tsx => tree_sitter_typescript::LANGUAGE_TSX,
            Language::Go => tree_sitter_go::LANGUAGE,
            Language::Java => tree_sitter_java::LANGUAGE,
            Language::Kotlin => tree_sitter_kotlin_ng::LANGUAGE,
            Language::C => tree_sitter_c::LANGUAGE,
            Language::Cpp => tree_sitter_cpp::LANGUAGE,
            Language::CSharp => tree_sitter_c_sharp::LANGUAGE,
            Language::Ruby => tree_sitter_ruby::LANGUAGE,
            // A hunk rarely holds the `<?php` tag the full grammar expects first.
            Language::Php if text.contains("<?php") => tree_sitter_php::LANGUAGE_PHP,
            Language::Php => tree_sitter_php::LANGUAGE_PHP_ONLY,
            Language::Markdown => return None,
        };
        Some(function.into())
    }

    pub(super) fn is_literal(self, kind: &str) -> bool {
        const EVERYWHERE: &[&str] = &["true", "false", "null", "nil", "none", "None", "True", "False", "undefined"];
        let kinds: &[&str] = match self {
            Language::Rust => &[
                "integer_literal",
                "float_literal",
                "string_literal",
                "raw_string_literal",
                "char_literal",
                "boolean_literal",
            ],
            Language::Python => &["integer", "float", "string", "concatenated_string"],
            Language::JavaScript | Language::TypeScript | Language::Tsx => &["number", "string", "template_string"],
            Language::Go => {
                &["int_literal", "float_literal", "interpreted_string_literal", "raw_string_literal", "rune_literal"]
            }
            Language::Java => &[
                "decimal_integer_literal",
                "hex_integer_literal",
                "octal_integer_literal",
                "binary_integer_literal",
                "decimal_floating_point_literal",
                "string_literal",
                "character_literal",
                "null_literal",
            ],
            Language::Kotlin => &["number_literal", "float_literal", "string_literal", "character_literal"],
            Language::C | Language::Cpp => &[
                "number_literal",
                "string_literal",
                "raw_string_literal",
                "char_literal",
                "nullptr",
                // A `#define`'s value is one unparsed token.
                "preproc_arg",
            ],
            Language::CSharp => &[
                "integer_literal",
                "real_literal",
                "string_literal",
                "verbatim_string_literal",
                "raw_string_literal",
                "character_literal",
                "boolean_literal",
                "null_literal",
            ],
            Language::Ruby => &["integer", "float", "string", "simple_symbol"],
            Language::Php => &["integer", "float", "string", "encapsed_string", "boolean"],
            Language::Markdown => &[],
        };
        kinds.contains(&kind) || EVERYWHERE.contains(&kind)
    }

    pub(super) fn is_call(self, kind: &str) -> bool {
        let kinds: &[&str] = match self {
            Language::Rust => &["call_expression", "macro_invocation"],
            Language::Python => &["call"],
            Language::JavaScript | Language::TypeScript | Language::Tsx => &["call_expression", "new_expression"],
            Language::Go | Language::C | Language::Cpp | Language::Kotlin => &["call_expression"],
            Language::Java => &["method_invocation", "object_creation_expression"],
            Language::CSharp => &["invocation_expression", "object_creation_expression"],
            Language::Ruby => &["call"],
            Language::Php => &[
                "function_call_expression",
                "member_call_expression",
                "scoped_call_expression",
                "object_creation_expression",
            ],
            Language::Markdown => &[],
        };
        kinds.contains(&kind)
    }

    pub(super) fn is_condition(self, kind: &str) -> bool {
        let kinds: &[&str] = match self {
            Language::Rust => &["if_expression", "while_expression", "match_arm"],
            Language::Python => &["if_statement", "elif_clause", "while_statement", "conditional_expression"],
            Language::Kotlin => &["if_expression", "while_statement", "when_entry"],
            Language::Ruby => {
                &["if", "elsif", "unless", "while", "until", "if_modifier", "unless_modifier", "conditional"]
            }
            Language::Php => &["if_statement", "else_if_clause", "while_statement", "conditional_expression"],
            Language::Markdown => &[],
            _ => &["if_statement", "while_statement", "ternary_expression", "conditional_expression"],
        };
        kinds.contains(&kind)
    }

    pub(super) fn is_return(self, kind: &str) -> bool {
        match self {
            Language::Rust | Language::Kotlin => kind == "return_expression",
            Language::Ruby => kind == "return",
            _ => kind == "return_statement",
        }
    }
}

/// What a definition node defines.
pub(super) struct Definition<'t> {
    /// `None`: a block that only gives its members an owner (a Rust `impl`).
    pub kind: Option<ItemKind>,
    pub name: String,
    /// The owner the definition names itself (a Go receiver, C++'s `Type::method`).
    pub owner: Option<String>,
    pub body: Option<Node<'t>>,
}

/// The definition `node` is, if it is one.
pub(super) fn definition<'t>(language: Language, node: Node<'t>, src: &str) -> Option<Definition<'t>> {
    let text = |n: Node<'_>| src.get(n.byte_range()).unwrap_or("");
    let field = |n: Node<'t>, name: &str| n.child_by_field_name(name);
    let named = || field(node, "name").map(|name| text(name).to_string());
    let item = |kind: ItemKind, body: Option<Node<'t>>| {
        Some(Definition { kind: Some(kind), name: named()?, owner: None, body })
    };
    let body = field(node, "body");
    use ItemKind::*;
    match (language, node.kind()) {
        (Language::Rust, "function_item") => {
            let test = preceding(node, "attribute_item").any(|a| RUST_TEST.is_match(text(a)));
            item(if test { Test } else { Function }, body)
        }
        (Language::Rust, "function_signature_item") => item(Function, None),
        (Language::Rust, "struct_item" | "enum_item" | "union_item") => item(Type, body),
        (Language::Rust, "type_item") => item(Type, field(node, "type")),
        (Language::Rust, "trait_item") => item(Trait, body),
        (Language::Rust, "mod_item") => item(Module, body),
        (Language::Rust, "const_item" | "static_item") => item(Constant, field(node, "value")),
        (Language::Rust, "macro_definition") => item(Macro, None),
        (Language::Rust, "impl_item") => {
            let own = base_name(text(field(node, "type")?));
            let name = match field(node, "trait") {
                Some(t) => format!("{} for {own}", base_name(text(t))),
                None => own,
            };
            Some(Definition { kind: None, name, owner: None, body })
        }
        (Language::Python, "function_definition") => {
            let name = named()?;
            let kind = if name.starts_with("test") { Test } else { Function };
            Some(Definition { kind: Some(kind), name, owner: None, body })
        }
        (Language::Python, "class_definition") => item(Type, body),
        (Language::Python, "assignment") => {
            let top = node.parent().and_then(|p| p.parent()).is_some_and(|g| g.kind() == "module");
            let left = field(node, "left").filter(|l| l.kind() == "identifier").map(text)?;
            let constant = top && left.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            constant.then(|| Definition {
                kind: Some(Constant),
                name: left.to_string(),
                owner: None,
                body: field(node, "right"),
            })
        }
        (Language::JavaScript | Language::TypeScript | Language::Tsx, kind) => script(node, kind, src),
        (Language::Go, "function_declaration") => {
            let name = named()?;
            let test = GO_TEST.is_match(&name);
            Some(Definition { kind: Some(if test { Test } else { Function }), name, owner: None, body })
        }
        (Language::Go, "method_declaration") => {
            let receiver = field(node, "receiver")?;
            let owner = descendants(receiver).find(|n| n.kind() == "type_identifier").map(|n| text(n).to_string());
            Some(Definition { kind: Some(Method), name: named()?, owner, body })
        }
        (Language::Go, "type_spec" | "type_alias") => {
            let kind = if field(node, "type").is_some_and(|t| t.kind() == "interface_type") { Trait } else { Type };
            item(kind, field(node, "type"))
        }
        (Language::Go, "const_spec") => item(Constant, field(node, "value")),
        (Language::Java, "method_declaration" | "constructor_declaration") => {
            let test = children(node).any(|c| c.kind() == "modifiers" && ANNOTATED_TEST.is_match(text(c)));
            item(if test { Test } else { Function }, body)
        }
        (Language::Java, "class_declaration" | "enum_declaration" | "record_declaration") => item(Type, body),
        (Language::Java, "interface_declaration" | "annotation_type_declaration") => item(Trait, body),
        (Language::Java, "field_declaration") => {
            let modifiers = children(node).find(|c| c.kind() == "modifiers").map(text).unwrap_or("");
            let constant = modifiers.split_whitespace().any(|m| m == "static")
                && modifiers.split_whitespace().any(|m| m == "final");
            let declarator = field(node, "declarator").filter(|_| constant)?;
            Some(Definition {
                kind: Some(Constant),
                name: text(field(declarator, "name")?).to_string(),
                owner: None,
                body: field(declarator, "value"),
            })
        }
        (Language::Kotlin, kind) => kotlin(node, kind, src),
        (Language::C | Language::Cpp, kind) => c_family(node, kind, src),
        (Language::CSharp, "method_declaration" | "constructor_declaration") => {
            let test = children(node).any(|c| c.kind() == "attribute_list" && CSHARP_TEST.is_match(text(c)));
            item(if test { Test } else { Function }, body)
        }
        (Language::CSharp, "class_declaration" | "struct_declaration" | "record_declaration" | "enum_declaration") => {
            item(Type, body)
        }
        (Language::CSharp, "interface_declaration") => item(Trait, body),
        (Language::CSharp, "namespace_declaration") => item(Module, body),
        (Language::CSharp, "field_declaration") => {
            children(node).find(|c| c.kind() == "modifier" && text(*c) == "const")?;
            let declarator = descendants(node).find(|n| n.kind() == "variable_declarator")?;
            let name = field(declarator, "name").or_else(|| declarator.named_child(0))?;
            let value = last_named(declarator).filter(|v| v.id() != name.id());
            Some(Definition { kind: Some(Constant), name: text(name).to_string(), owner: None, body: value })
        }
        (Language::Ruby, kind) => ruby(node, kind, src),
        (Language::Php, "function_definition" | "method_declaration") => {
            let name = named()?;
            let attributes = field(node, "attributes").map(text).unwrap_or("");
            let test = name.starts_with("test") || ANNOTATED_TEST.is_match(attributes);
            Some(Definition { kind: Some(if test { Test } else { Function }), name, owner: None, body })
        }
        (Language::Php, "class_declaration" | "enum_declaration") => item(Type, body),
        (Language::Php, "interface_declaration" | "trait_declaration") => item(Trait, body),
        (Language::Php, "namespace_definition") => item(Module, body),
        (Language::Php, "const_declaration") => {
            let element = children(node).find(|c| c.kind() == "const_element")?;
            let name = element.named_child(0)?;
            Some(Definition {
                kind: Some(Constant),
                name: text(name).to_string(),
                owner: None,
                body: last_named(element).filter(|v| v.id() != name.id()),
            })
        }
        _ => None,
    }
}

/// JavaScript and TypeScript: declarations, functions bound to names, and
/// `describe`/`it`/`test` blocks.
fn script<'t>(node: Node<'t>, kind: &str, src: &str) -> Option<Definition<'t>> {
    use ItemKind::*;
    let text = |n: Node<'_>| src.get(n.byte_range()).unwrap_or("");
    let name = || node.child_by_field_name("name").map(|n| text(n).to_string());
    let body = node.child_by_field_name("body");
    let function_value = |value: Node<'t>| {
        matches!(value.kind(), "arrow_function" | "function_expression" | "function" | "generator_function")
    };
    let (kind, name, body) = match kind {
        "function_declaration" | "generator_function_declaration" | "method_definition" => (Function, name()?, body),
        "method_signature" | "abstract_method_signature" => (Function, name()?, None),
        "class_declaration" | "abstract_class_declaration" => (Type, name()?, body),
        "interface_declaration" => (Trait, name()?, body),
        "enum_declaration" => (Type, name()?, body),
        "type_alias_declaration" => (Type, name()?, node.child_by_field_name("value")),
        "internal_module" | "module" => (Module, name()?, body),
        "variable_declarator" | "public_field_definition" | "field_definition" => {
            let bound = node.child_by_field_name("name").or_else(|| node.child_by_field_name("property"))?;
            if !matches!(bound.kind(), "identifier" | "property_identifier") {
                return None;
            }
            let value = node.child_by_field_name("value")?;
            if function_value(value) {
                (Function, text(bound).to_string(), value.child_by_field_name("body"))
            } else {
                // A top-level `const`, unless it is an import (`require(…)`, `await import(…)`).
                let declaration = node.parent().filter(|p| p.kind() == "lexical_declaration")?;
                let top = declaration.parent().is_some_and(|p| matches!(p.kind(), "program" | "export_statement"));
                let constant = top && declaration.child(0).is_some_and(|k| text(k) == "const");
                let import = descendants(value)
                    .take(8)
                    .any(|n| n.kind() == "import" || (n.kind() == "identifier" && text(n) == "require"));
                if !constant || import {
                    return None;
                }
                (Constant, text(bound).to_string(), Some(value))
            }
        }
        "call_expression" => {
            let callee = node.child_by_field_name("function").map(text)?;
            let arguments = node.child_by_field_name("arguments")?;
            let title = arguments.named_child(0).filter(|a| matches!(a.kind(), "string" | "template_string"))?;
            let kind = match callee {
                "it" | "test" => Test,
                "describe" => Module,
                _ => return None,
            };
            let callback = (1..arguments.named_child_count())
                .filter_map(|i| arguments.named_child(i))
                .find(|a| function_value(*a));
            (kind, unquoted(text(title)), callback.and_then(|c| c.child_by_field_name("body")))
        }
        _ => return None,
    };
    Some(Definition { kind: Some(kind), name, owner: None, body })
}

fn kotlin<'t>(node: Node<'t>, kind: &str, src: &str) -> Option<Definition<'t>> {
    use ItemKind::*;
    let text = |n: Node<'_>| src.get(n.byte_range()).unwrap_or("");
    let name = || node.child_by_field_name("name").map(|n| unquoted(text(n)));
    let child_of = |kinds: &[&str]| children(node).find(|c| kinds.contains(&c.kind()));
    let modifiers = child_of(&["modifiers"]).map(text).unwrap_or("");
    let (kind, name, body) = match kind {
        "function_declaration" => {
            let kind = if ANNOTATED_TEST.is_match(modifiers) { Test } else { Function };
            (kind, name()?, child_of(&["function_body"]))
        }
        "secondary_constructor" => (Function, "constructor".to_string(), child_of(&["block"])),
        "class_declaration" => {
            let interface = children(node).any(|c| c.kind() == "interface");
            (if interface { Trait } else { Type }, name()?, child_of(&["class_body", "enum_class_body"]))
        }
        "object_declaration" => (Type, name()?, child_of(&["class_body"])),
        "property_declaration" if modifiers.split_whitespace().any(|m| m == "const") => {
            let variable = child_of(&["variable_declaration"])?;
            let value = last_named(node).filter(|v| v.id() != variable.id());
            (Constant, unquoted(text(variable.named_child(0)?)), value)
        }
        _ => return None,
    };
    Some(Definition { kind: Some(kind), name, owner: None, body })
}

fn c_family<'t>(node: Node<'t>, kind: &str, src: &str) -> Option<Definition<'t>> {
    use ItemKind::*;
    let text = |n: Node<'_>| src.get(n.byte_range()).unwrap_or("");
    let body = node.child_by_field_name("body");
    let (kind, name, owner, body) = match kind {
        "function_definition" => {
            let (owner, name, parameters) = declared_name(node.child_by_field_name("declarator")?, src)?;
            if matches!(name.as_str(), "TEST" | "TEST_F" | "TEST_P" | "TYPED_TEST") {
                // GoogleTest: `TEST(Suite, Name) { … }`.
                let words: Vec<&str> = parameters.trim_matches(['(', ')']).split(',').map(str::trim).collect();
                (Test, words.join("."), None, body)
            } else {
                (Function, name, owner, body)
            }
        }
        // Without a body, `struct foo` only uses the type.
        "struct_specifier" | "union_specifier" | "enum_specifier" | "class_specifier" => {
            body?;
            (Type, text(node.child_by_field_name("name")?).to_string(), None, body)
        }
        "type_definition" => {
            let declarator = node.child_by_field_name("declarator")?;
            (Type, text(declarator).to_string(), None, node.child_by_field_name("type"))
        }
        "namespace_definition" => (Module, text(node.child_by_field_name("name")?).to_string(), None, body),
        "preproc_def" => {
            (Constant, text(node.child_by_field_name("name")?).to_string(), None, node.child_by_field_name("value"))
        }
        "preproc_function_def" => {
            (Macro, text(node.child_by_field_name("name")?).to_string(), None, node.child_by_field_name("value"))
        }
        _ => return None,
    };
    Some(Definition { kind: Some(kind), name, owner, body })
}

/// A C or C++ declarator's name, its scope (`Type::` of an out-of-line
/// method) and its parameter list's text.
fn declared_name(mut declarator: Node<'_>, src: &str) -> Option<(Option<String>, String, String)> {
    let text = |n: Node<'_>| src.get(n.byte_range()).unwrap_or("").to_string();
    let mut parameters = String::new();
    for _ in 0..16 {
        match declarator.kind() {
            "function_declarator" => {
                parameters = declarator.child_by_field_name("parameters").map(text).unwrap_or_default();
                declarator = declarator.child_by_field_name("declarator")?;
            }
            "qualified_identifier" => {
                let scope = declarator.child_by_field_name("scope").map(|s| base_name(&text(s)));
                let name = text(declarator.child_by_field_name("name")?);
                return Some((scope, name, parameters));
            }
            "identifier" | "field_identifier" | "destructor_name" | "operator_name" | "template_function" => {
                return Some((None, text(declarator), parameters));
            }
            _ => declarator = declarator.child_by_field_name("declarator").or_else(|| declarator.named_child(0))?,
        }
    }
    None
}

fn ruby<'t>(node: Node<'t>, kind: &str, src: &str) -> Option<Definition<'t>> {
    use ItemKind::*;
    let text = |n: Node<'_>| src.get(n.byte_range()).unwrap_or("");
    let field = |name: &str| node.child_by_field_name(name);
    let (kind, name, body) = match kind {
        "method" | "singleton_method" => {
            let name = text(field("name")?).to_string();
            (if name.starts_with("test_") { Test } else { Function }, name, field("body"))
        }
        "class" => (Type, text(field("name")?).to_string(), field("body")),
        "module" => (Module, text(field("name")?).to_string(), field("body")),
        "assignment" => {
            let left = field("left").filter(|l| l.kind() == "constant")?;
            (Constant, text(left).to_string(), field("right"))
        }
        // RSpec and Minitest: `describe "…" do`, `it "…" do`, `test "…" do`.
        "call" => {
            let block = field("block")?;
            let title = field("arguments")?.named_child(0)?;
            let kind = match text(field("method")?) {
                "it" | "specify" | "test" | "example" => Test,
                "describe" | "context" => Module,
                _ => return None,
            };
            (kind, unquoted(text(title)), Some(block))
        }
        _ => return None,
    };
    Some(Definition { kind: Some(kind), name, owner: None, body })
}

/// Whether everything inside the definition `node` is test code: a test, a
/// Rust `#[cfg(test)]` module, a `describe`/`context` group, a Python `Test…` class.
pub(super) fn opens_tests(language: Language, node: Node<'_>, src: &str, definition: &Definition<'_>) -> bool {
    let text = |n: Node<'_>| src.get(n.byte_range()).unwrap_or("");
    match (definition.kind, language, node.kind()) {
        (Some(ItemKind::Test), ..) => true,
        (Some(ItemKind::Module), Language::Rust, "mod_item") => {
            preceding(node, "attribute_item").any(|a| RUST_CFG_TEST.is_match(text(a)))
        }
        (Some(ItemKind::Module), _, "call_expression" | "call") => true,
        (Some(ItemKind::Type), Language::Python, "class_definition") => definition.name.starts_with("Test"),
        _ => false,
    }
}

/// The attributes written on the definition `node` outside its own text, each
/// with its whitespace collapsed: Rust's `#[…]` items before it, Python's
/// decorators (Java, Kotlin, C# and TypeScript annotations are inside the
/// node, in its declaration).
pub(super) fn attributes(language: Language, node: Node<'_>, src: &str) -> Vec<String> {
    let text = |n: Node<'_>| src.get(n.byte_range()).unwrap_or("").split_whitespace().collect::<Vec<_>>().join(" ");
    let mut found: Vec<String> = match language {
        Language::Rust => preceding(node, "attribute_item").map(text).collect(),
        Language::Python => node
            .parent()
            .filter(|parent| parent.kind() == "decorated_definition")
            .map(|parent| children(parent).filter(|c| c.kind() == "decorator").map(text).collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    // `preceding` walks backwards; attributes read top to bottom.
    if language == Language::Rust {
        found.reverse();
    }
    found
}

static RUST_CFG_TEST: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^#\[\s*cfg\s*\((?:\s*all\s*\()?[^\]]*\btest\b").expect("valid regex"));
static RUST_TEST: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^#\[\s*(?:[\w:]+::)?test\b").expect("valid regex"));
static GO_TEST: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?:Test|Benchmark|Fuzz)(?:[A-Z0-9_]|$)").expect("valid regex"));
static ANNOTATED_TEST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[@\[](?:[\w.]+\.)?(?:Test|ParameterizedTest|RepeatedTest|TestFactory|TestTemplate)\b")
        .expect("valid regex")
});
static CSHARP_TEST: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(?:Test|Fact|Theory|TestMethod|DataTestMethod|TestCase)\b").expect("valid regex"));

/// A type's name without its generic arguments: `Foo` of `Foo<T>`.
fn base_name(text: &str) -> String {
    let end = text.find('<').unwrap_or(text.len());
    text[..end].split_whitespace().collect()
}

/// A test's title or a Kotlin name without its quotes or backticks.
fn unquoted(text: &str) -> String {
    text.trim_matches(['"', '\'', '`', ':']).to_string()
}

fn children<'t>(node: Node<'t>) -> impl Iterator<Item = Node<'t>> {
    (0..node.child_count()).filter_map(move |i| node.child(i))
}

fn last_named(node: Node<'_>) -> Option<Node<'_>> {
    node.named_child(node.named_child_count().checked_sub(1)?)
}

/// The siblings right before `node` of the given kind (comments between them skipped).
fn preceding<'t>(node: Node<'t>, kind: &'static str) -> impl Iterator<Item = Node<'t>> {
    std::iter::successors(node.prev_named_sibling(), |n| n.prev_named_sibling())
        .filter(|n| !n.kind().contains("comment"))
        .take_while(move |n| n.kind() == kind)
}

/// Every node under `node`, in document order.
pub(super) fn descendants(node: Node<'_>) -> impl Iterator<Item = Node<'_>> {
    let mut stack = vec![node];
    std::iter::from_fn(move || {
        let next = stack.pop()?;
        stack.extend((0..next.child_count()).rev().filter_map(|i| next.child(i)));
        Some(next)
    })
}
