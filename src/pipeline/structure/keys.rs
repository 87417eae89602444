//! The keys a JSON, TOML or YAML file's change adds, removes or sets,
//! read with the formats' own parsers from both versions: "adds
//! `models.smollm2-135m-instruct`; sets `timeout` to `30` (was `10`)".

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use serde_json::Value;

use super::{cut, MAX_FACTS};

/// How deep the comparison looks: past it a changed value is told by its
/// parent's key.
const MAX_DEPTH: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Format {
    Json,
    Toml,
    Yaml,
}

impl Format {
    pub(super) fn of_path(path: &str) -> Option<Format> {
        let name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
        let extension = name.rsplit_once('.').map(|(_, extension)| extension)?;
        match extension {
            "json" => Some(Format::Json),
            "toml" => Some(Format::Toml),
            "yml" | "yaml" => Some(Format::Yaml),
            _ => None,
        }
    }

    /// The document as JSON values; `None` when it does not parse (a
    /// template, a comment-bearing JSON, a half-written file).
    fn parse(self, text: &str) -> Option<Value> {
        match self {
            Format::Json => serde_json::from_str(text).ok(),
            Format::Toml => text.parse::<toml::Table>().ok().and_then(|table| serde_json::to_value(table).ok()),
            Format::Yaml => serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text)
                .ok()
                .and_then(|value| serde_json::to_value(value).ok()),
        }
    }
}

/// One key's change; `key` is its path, dot-joined (an entry of a list of
/// named objects is named by its `name`, `id` or `key`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeyChange {
    pub key: String,
    #[serde(flatten)]
    pub change: KeyChanged,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum KeyChanged {
    Added,
    Removed,
    /// A value set anew: both sides are short scalars.
    Set {
        old: String,
        new: String,
    },
    /// A value whose change is too large to quote (a list, a long text).
    Changed,
}

/// The keys changed between `old` and `new` (either may be absent: an added
/// or a deleted file has nothing to compare, and gives nothing); `None`
/// when a side does not parse.
pub(super) fn changed(format: Format, old: &str, new: &str) -> Option<Vec<KeyChange>> {
    let (old, new) = (format.parse(old)?, format.parse(new)?);
    let mut found = Vec::new();
    compare(&old, &new, "", 0, &mut found);
    Some(found)
}

fn compare(old: &Value, new: &Value, at: &str, depth: usize, found: &mut Vec<KeyChange>) {
    if old == new || found.len() >= MAX_FACTS {
        return;
    }
    let key = |name: &str| if at.is_empty() { name.to_string() } else { format!("{at}.{name}") };
    match (old, new) {
        _ if depth >= MAX_DEPTH => push(found, at.to_string(), KeyChanged::Changed),
        (Value::Object(old), Value::Object(new)) => {
            for (name, value) in new {
                match old.get(name) {
                    Some(before) => compare(before, value, &key(name), depth + 1, found),
                    None => push(found, key(name), KeyChanged::Added),
                }
                if found.len() >= MAX_FACTS {
                    return;
                }
            }
            for name in old.keys().filter(|name| !new.contains_key(*name)) {
                push(found, key(name), KeyChanged::Removed);
            }
        }
        // Entries matched by name through maps: a list of many entries costs its length, not its square.
        (Value::Array(old_list), Value::Array(new_list)) => match (named(old_list), named(new_list)) {
            (Some(old_named), Some(new_named)) => {
                let old_by_name: HashMap<&str, &Value> = old_named.iter().map(|(n, v)| (n.as_str(), *v)).collect();
                let new_names: HashSet<&str> = new_named.iter().map(|(n, _)| n.as_str()).collect();
                for (name, value) in &new_named {
                    match old_by_name.get(name.as_str()) {
                        Some(before) => compare(before, value, &key(name), depth + 1, found),
                        None => push(found, key(name), KeyChanged::Added),
                    }
                }
                for (name, _) in old_named.iter().filter(|(n, _)| !new_names.contains(n.as_str())) {
                    push(found, key(name), KeyChanged::Removed);
                }
            }
            _ => {
                let scalars = |list: &[Value]| list.iter().map(scalar).collect::<Option<Vec<String>>>();
                match (scalars(old_list), scalars(new_list)) {
                    (Some(old_items), Some(new_items)) => {
                        let (old_set, new_set): (HashSet<&String>, HashSet<&String>) =
                            (old_items.iter().collect(), new_items.iter().collect());
                        for item in new_items.iter().filter(|i| !old_set.contains(i)) {
                            push(found, key(item), KeyChanged::Added);
                        }
                        for item in old_items.iter().filter(|i| !new_set.contains(i)) {
                            push(found, key(item), KeyChanged::Removed);
                        }
                        if old_set == new_set {
                            push(found, at.to_string(), KeyChanged::Changed);
                        }
                    }
                    _ => push(found, at.to_string(), KeyChanged::Changed),
                }
            }
        },
        _ => match (scalar(old), scalar(new)) {
            (Some(old), Some(new)) => push(found, at.to_string(), KeyChanged::Set { old, new }),
            _ => push(found, at.to_string(), KeyChanged::Changed),
        },
    }
}

fn push(found: &mut Vec<KeyChange>, key: String, change: KeyChanged) {
    if found.len() < MAX_FACTS {
        found.push(KeyChange { key: cut(&key), change });
    }
}

/// A list of objects each named by the same field (`name`, `id` or `key`),
/// the names distinct: entries are matched by name, not by position.
fn named(list: &[Value]) -> Option<Vec<(String, &Value)>> {
    if list.is_empty() {
        return None;
    }
    ["name", "id", "key"].iter().find_map(|field| {
        let names: Vec<(String, &Value)> =
            list.iter().map(|v| Some((scalar(v.get(field)?)?, v))).collect::<Option<_>>()?;
        let mut seen = HashSet::new();
        names.iter().all(|(name, _)| seen.insert(name.as_str())).then_some(names)
    })
}

/// A scalar as written: a string, number or boolean.
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        Value::Null => Some("null".into()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(path: &str, old: &str, new: &str) -> Vec<(String, KeyChanged)> {
        let format = Format::of_path(path).expect("a config format");
        changed(format, old, new).expect("both parse").into_iter().map(|k| (k.key, k.change)).collect()
    }

    #[test]
    fn a_named_entry_added_to_a_json_list_is_named() {
        let old = r#"{"models": [{"name": "a", "size": 1}], "version": 1}"#;
        let new = r#"{"models": [{"name": "a", "size": 2}, {"name": "b", "size": 3}], "version": 1}"#;
        assert_eq!(
            keys("models/registry.json", old, new),
            vec![
                ("models.a.size".into(), KeyChanged::Set { old: "1".into(), new: "2".into() }),
                ("models.b".into(), KeyChanged::Added)
            ]
        );
    }

    #[test]
    fn toml_and_yaml_keys_are_compared_by_path() {
        let old = "[server]\nport = 8080\nhost = \"0.0.0.0\"\n";
        let new = "[server]\nport = 9090\n\n[cache]\ndir = \"/var/cache\"\n";
        assert_eq!(
            keys("config/app.toml", old, new),
            // Keys in name order (the parsed tables keep no order).
            vec![
                ("cache".into(), KeyChanged::Added),
                ("server.port".into(), KeyChanged::Set { old: "8080".into(), new: "9090".into() }),
                ("server.host".into(), KeyChanged::Removed),
            ]
        );
        let old = "jobs:\n  test:\n    steps:\n      - name: Build\n        run: make\n";
        let new = "jobs:\n  test:\n    steps:\n      - name: Build\n        run: make all\n      - name: Lint\n        run: make lint\n";
        assert_eq!(
            keys(".github/workflows/ci.yml", old, new),
            vec![
                ("jobs.test.steps.Build.run".into(), KeyChanged::Set { old: "make".into(), new: "make all".into() }),
                ("jobs.test.steps.Lint".into(), KeyChanged::Added),
            ]
        );
    }

    #[test]
    fn lists_of_scalars_and_unparsable_files() {
        let old = r#"{"features": ["a", "b"]}"#;
        let new = r#"{"features": ["b", "c"]}"#;
        assert_eq!(
            keys("f.json", old, new),
            vec![("features.c".into(), KeyChanged::Added), ("features.a".into(), KeyChanged::Removed)]
        );
        assert!(changed(Format::Json, "{ // a comment\n}", "{}").is_none(), "not JSON: told by its lines");
        assert_eq!(Format::of_path("src/lib.rs"), None);
        assert_eq!(Format::of_path("Cargo.TOML"), Some(Format::Toml));
    }
}
