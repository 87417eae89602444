//! A GitHub Actions runner for this repository's composite `action.yml`, as
//! far as the action uses one: its steps in order, each `run:` script by
//! `bash --noprofile --norc -eo pipefail` in its working directory with the
//! variables and files a runner gives a step (`GITHUB_OUTPUT`,
//! `GITHUB_STEP_SUMMARY`, …); the `${{ }}` expressions evaluated (one this
//! runner does not know fails the test, so a new one in action.yml is never
//! passed over); and `actions/cache` as the runner's cache service: restored
//! where its step stands (the exact key, else the newest entry under a
//! restore key), saved after the last step when the job succeeded and the key
//! was not hit.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use serde_yaml_ng::Value as Yaml;

/// One job's event and workspace; inputs not given take their defaults.
pub struct Job {
    pub event_name: String,
    pub event: Value,
    pub workspace: PathBuf,
    pub api_url: String,
    pub token: String,
    pub inputs: Vec<(String, String)>,
}

/// What a job did: each step's log, the action's outputs.
pub struct Ran {
    pub steps: Vec<StepRun>,
    pub outputs: HashMap<String, String>,
    /// The job's home and temp folder, kept while its outputs are read.
    _machine: tempfile::TempDir,
}

pub struct StepRun {
    pub name: String,
    pub success: bool,
    /// stdout then stderr.
    pub log: String,
}

impl Ran {
    pub fn succeeded(&self) -> bool {
        self.steps.iter().all(|s| s.success)
    }

    /// The log of the step whose name starts with `name`.
    pub fn log(&self, name: &str) -> &str {
        &self.steps.iter().find(|s| s.name.starts_with(name)).unwrap_or_else(|| panic!("no step `{name}` ran")).log
    }

    pub fn all_logs(&self) -> String {
        self.steps.iter().map(|s| format!("## {} ({})\n{}\n", s.name, s.success, s.log)).collect()
    }
}

/// One runner machine kept across jobs only through its cache service, as
/// GitHub's hosted runners are: every job gets a fresh home and temp folder.
pub struct Runner {
    action_path: PathBuf,
    action: Yaml,
    store: tempfile::TempDir,
    /// Saved caches, oldest first: key and the folder holding its paths
    /// (each at its place relative to the home).
    caches: Vec<(String, PathBuf)>,
    jobs: u32,
}

/// A cache step's restore, remembered for its save after the last step.
struct Restored {
    key: String,
    paths: Vec<String>,
    hit: bool,
}

impl Runner {
    pub fn new() -> Runner {
        let action_path = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let action =
            serde_yaml_ng::from_str(&std::fs::read_to_string(action_path.join("action.yml")).unwrap()).unwrap();
        Runner { action_path, action, store: tempfile::tempdir().unwrap(), caches: Vec::new(), jobs: 0 }
    }

    /// An entry an earlier job saved under `key`: `path` (relative to the
    /// home) links to `target`, so a restore brings the link back.
    pub fn seed(&mut self, key: &str, path: &str, target: &Path) {
        let entry = match self.caches.iter().find(|(k, _)| k == key) {
            Some((_, entry)) => entry.clone(),
            None => {
                let entry = self.store.path().join(format!("entry-{}", self.caches.len()));
                self.caches.push((key.to_string(), entry.clone()));
                entry
            }
        };
        let link = entry.join(path);
        std::fs::create_dir_all(link.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, &link).unwrap();
    }

    pub fn cache_keys(&self) -> Vec<String> {
        self.caches.iter().map(|(k, _)| k.clone()).collect()
    }

    pub fn run(&mut self, job: &Job) -> Ran {
        self.jobs += 1;
        let machine = tempfile::tempdir().unwrap();
        let home = machine.path().join("home");
        let temp = machine.path().join("temp");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&temp).unwrap();
        let event_path = temp.join("event.json");
        std::fs::write(&event_path, job.event.to_string()).unwrap();

        let mut context = Context {
            github: HashMap::from([
                ("token", job.token.clone()),
                ("action_path", self.action_path.display().to_string()),
                // A local action (`uses: ./`) has no ref.
                ("action_ref", String::new()),
                ("action_repository", String::new()),
                ("server_url", "http://127.0.0.1:1".to_string()),
                ("run_id", format!("{}", 1000 + self.jobs)),
                ("workspace", job.workspace.display().to_string()),
                ("event_name", job.event_name.clone()),
            ]),
            runner: HashMap::from([
                ("temp", temp.display().to_string()),
                ("os", "Linux".to_string()),
                ("arch", "X64".to_string()),
            ]),
            inputs: HashMap::new(),
            ids: self.action["runs"]["steps"]
                .as_sequence()
                .unwrap()
                .iter()
                .filter_map(|s| s["id"].as_str().map(String::from))
                .collect(),
            steps: HashMap::new(),
        };
        for (name, spec) in self.action["inputs"].as_mapping().unwrap() {
            let name = name.as_str().unwrap().to_string();
            let value = match job.inputs.iter().find(|(n, _)| *n == name) {
                Some((_, v)) => v.clone(),
                None => context.template(spec["default"].as_str().unwrap_or("")),
            };
            context.inputs.insert(name, value);
        }
        for (name, _) in &job.inputs {
            assert!(context.inputs.contains_key(name), "action.yml has no input `{name}`");
        }

        let real_home = std::env::var_os("HOME").map(PathBuf::from).unwrap();
        let mut ran = Ran { steps: Vec::new(), outputs: HashMap::new(), _machine: machine };
        let mut restored = Vec::new();
        let steps = self.action["runs"]["steps"].as_sequence().unwrap().clone();
        for (index, step) in steps.iter().enumerate() {
            let name = step["name"].as_str().unwrap_or("(unnamed)").to_string();
            if let Some(uses) = step["uses"].as_str() {
                assert!(
                    uses.starts_with("actions/cache@"),
                    "action.yml uses `{uses}`, which this runner does not know"
                );
                let with = &step["with"];
                let list = |v: &Yaml| -> Vec<String> {
                    context
                        .template(v.as_str().unwrap_or(""))
                        .lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .map(String::from)
                        .collect()
                };
                let paths: Vec<String> = list(&with["path"])
                    .into_iter()
                    .map(|p| {
                        p.strip_prefix("~/").unwrap_or_else(|| panic!("a cache path outside the home: {p}")).to_string()
                    })
                    .collect();
                let key = context.template(with["key"].as_str().unwrap());
                let restore_keys = list(&with["restore-keys"]);
                let found = self.caches.iter().rev().find(|(k, _)| *k == key).map(|e| (true, e)).or_else(|| {
                    restore_keys.iter().find_map(|prefix| {
                        self.caches.iter().rev().find(|(k, _)| k.starts_with(prefix)).map(|e| (false, e))
                    })
                });
                let log = match found {
                    Some((hit, (found_key, entry))) => {
                        for path in &paths {
                            if entry.join(path).symlink_metadata().is_ok() {
                                copy(&entry.join(path), &home.join(path));
                            }
                        }
                        restored.push(Restored { key: key.clone(), paths, hit });
                        format!("Cache restored from key: {found_key}")
                    }
                    None => {
                        restored.push(Restored { key: key.clone(), paths, hit: false });
                        format!("Cache not found for input keys: {key}")
                    }
                };
                ran.steps.push(StepRun { name, success: true, log });
                continue;
            }

            let script = step["run"].as_str().unwrap_or_else(|| panic!("step `{name}` neither runs nor uses"));
            assert_eq!(step["shell"].as_str(), Some("bash"), "a composite step names its shell");
            let dir = match step["working-directory"].as_str() {
                Some(d) => PathBuf::from(context.template(d)),
                None => job.workspace.clone(),
            };
            let output = temp.join(format!("output-{index}"));
            let summary = temp.join(format!("summary-{index}"));
            let file = temp.join(format!("step-{index}.sh"));
            std::fs::write(&file, script).unwrap();
            let mut command = super::clean(assert_cmd::Command::new("bash"));
            command.args(["--noprofile", "--norc", "-eo", "pipefail"]).arg(&file).current_dir(&dir);
            // The toolchain where this machine keeps it, as a runner's image does.
            for (name, default) in [("CARGO_HOME", ".cargo"), ("RUSTUP_HOME", ".rustup")] {
                command.env(name, std::env::var_os(name).unwrap_or_else(|| real_home.join(default).into()));
            }
            command
                .env_remove("CARGO_TARGET_DIR")
                .env("HOME", &home)
                .env("CI", "true")
                .env("GITHUB_ACTIONS", "true")
                .env("GITHUB_EVENT_NAME", &job.event_name)
                .env("GITHUB_EVENT_PATH", &event_path)
                .env("GITHUB_REPOSITORY", job.event["repository"]["full_name"].as_str().unwrap())
                .env("GITHUB_API_URL", &job.api_url)
                .env("GITHUB_SERVER_URL", &context.github["server_url"])
                .env("GITHUB_RUN_ID", &context.github["run_id"])
                .env("GITHUB_WORKSPACE", &job.workspace)
                .env("GITHUB_ACTION_PATH", &self.action_path)
                .env("GITHUB_OUTPUT", &output)
                .env("GITHUB_STEP_SUMMARY", &summary)
                .env("GITHUB_ENV", temp.join(format!("env-{index}")))
                .env("GITHUB_PATH", temp.join(format!("path-{index}")))
                .env("RUNNER_TEMP", &temp)
                .env("RUNNER_OS", "Linux")
                .env("RUNNER_ARCH", "X64");
            if let Some(env) = step["env"].as_mapping() {
                for (name, value) in env {
                    command.env(name.as_str().unwrap(), context.template(value.as_str().unwrap_or("")));
                }
            }
            let out = command.output().unwrap();
            let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            let success = out.status.success();
            ran.steps.push(StepRun { name, success, log });
            if let Some(id) = step["id"].as_str() {
                context.steps.insert(id.to_string(), read_outputs(&output));
            }
            if !success {
                return ran;
            }
        }

        // The caches' post steps, last first; nothing saved over an exact hit.
        for cache in restored.iter().rev() {
            if cache.hit || self.caches.iter().any(|(k, _)| *k == cache.key) {
                continue;
            }
            let entry = self.store.path().join(format!("entry-{}", self.caches.len()));
            let mut saved = false;
            for path in &cache.paths {
                if home.join(path).symlink_metadata().is_ok() {
                    copy(&home.join(path), &entry.join(path));
                    saved = true;
                }
            }
            if saved {
                self.caches.push((cache.key.clone(), entry));
            }
        }
        for (name, spec) in self.action["outputs"].as_mapping().unwrap() {
            ran.outputs.insert(name.as_str().unwrap().to_string(), context.template(spec["value"].as_str().unwrap()));
        }
        ran
    }
}

/// What a step wrote to its `GITHUB_OUTPUT`: `name=value` lines and
/// `name<<DELIMITER` blocks.
fn read_outputs(path: &Path) -> HashMap<String, String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut outputs = HashMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delimiter)) = line.split_once("<<") {
            let value: Vec<&str> = lines.by_ref().take_while(|l| *l != delimiter).collect();
            outputs.insert(name.to_string(), value.join("\n"));
        } else if let Some((name, value)) = line.split_once('=') {
            outputs.insert(name.to_string(), value.to_string());
        }
    }
    outputs
}

/// `cp -a`: links stay links, as the cache's archive keeps them.
fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    let status = std::process::Command::new("cp").arg("-a").arg(from).arg(to).status().unwrap();
    assert!(status.success(), "cp -a {} {}", from.display(), to.display());
}

/// The expression contexts action.yml reads.
struct Context {
    github: HashMap<&'static str, String>,
    runner: HashMap<&'static str, String>,
    inputs: HashMap<String, String>,
    /// The ids action.yml gives its steps.
    ids: Vec<String>,
    steps: HashMap<String, HashMap<String, String>>,
}

impl Context {
    /// `text` with each `${{ … }}` replaced by its value.
    fn template(&self, text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${{") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find("}}").unwrap_or_else(|| panic!("an unclosed expression in {text}")) + start;
            out.push_str(&self.value(rest[start + 3..end].trim()));
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        out
    }

    /// `a || b || 'literal'`: the first operand that is not empty.
    fn value(&self, expression: &str) -> String {
        expression.split("||").map(|operand| self.operand(operand.trim())).find(|v| !v.is_empty()).unwrap_or_default()
    }

    fn operand(&self, operand: &str) -> String {
        if let Some(literal) = operand.strip_prefix('\'').and_then(|o| o.strip_suffix('\'')) {
            return literal.to_string();
        }
        let parts: Vec<&str> = operand.split('.').collect();
        let known = match parts.as_slice() {
            ["github", name] => self.github.get(name).cloned(),
            ["runner", name] => self.runner.get(name).cloned(),
            ["inputs", name] => self.inputs.get(*name).cloned(),
            // A step that did not run, or wrote no such output, gives ''.
            ["steps", id, "outputs", name] if self.ids.iter().any(|i| i == id) => {
                Some(self.steps.get(*id).and_then(|o| o.get(*name)).cloned().unwrap_or_default())
            }
            _ => None,
        };
        known.unwrap_or_else(|| panic!("action.yml uses `{operand}`, which this runner does not know"))
    }
}
