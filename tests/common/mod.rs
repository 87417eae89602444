//! Shared test helpers. The real-model and tiny-model tests need what
//! `precis setup` provisions (ONNX Runtime, the default model's GGUF, the
//! converter's Python packages); the README's test command runs it first.
//! Without it they are skipped with a message ([`provisioned`]), while the
//! App, Action and pipeline tests run on the deterministic fake model.
#![allow(dead_code)]

pub mod fake_github;
pub mod npm;
pub mod python_spy;
pub mod runner;

use std::path::{Path, PathBuf};
use std::process::Command;

use precis::language_model::FakeSource;
use precis::llm::{EngineOptions, Model};
use precis::pipeline::Summarizer;
use precis::progress::Progress;
use precis::provision::cache::Cache;
use precis::provision::models::{self, DEFAULT_MODEL};
use precis::provision::pip::Python;
use precis::provision::runtime::{self, Flavor};

/// The cache `precis setup` filled: models and the runtime are read from it;
/// no test writes summaries there.
pub fn cache() -> Cache {
    Cache::from_env().expect("a cache folder")
}

/// Whether `precis setup` ran (runtime and default model in the cache). A
/// test that needs them returns early when not, saying so; CI runs setup
/// first, and there `PRECIS_REQUIRE_MODEL` makes a missing model a failure.
pub fn provisioned(test: &str) -> bool {
    let cache = cache();
    let ready =
        runtime::locate(&cache, None, Flavor::Cpu).is_ok() && models::gguf_path(&cache, DEFAULT_MODEL).is_file();
    if !ready {
        assert!(
            std::env::var_os("PRECIS_REQUIRE_MODEL").is_none(),
            "{test}: run `precis setup` first (PRECIS_REQUIRE_MODEL is set)"
        );
        skip(test, "needs ONNX Runtime and the default model; run `cargo run --release -- setup` first");
    }
    ready
}

/// A registry model other than the default, converted in int8, when it is in
/// the cache (`precis model fetch NAME`; CI fetches it first, and there a
/// missing one is a failure); otherwise the test is skipped, saying so.
pub fn registry_model(test: &str, name: &str) -> Option<PathBuf> {
    if !provisioned(test) {
        return None;
    }
    let dir = models::model_dir(&cache(), name, models::Precision::Int8);
    if models::is_built(&dir) {
        return Some(dir);
    }
    assert!(
        std::env::var_os("PRECIS_REQUIRE_MODEL").is_none(),
        "{test}: run `precis model fetch {name}` first (PRECIS_REQUIRE_MODEL is set)"
    );
    skip(test, &format!("needs {name}; run `cargo run --release -- model fetch {name}` first"));
    None
}

/// Says a test was skipped where the reader sees it: on the process's stderr
/// itself, which cargo's output capture (it takes `eprintln!`) does not hold
/// back, with the running count of this test binary's skips.
pub fn skip(test: &str, why: &str) {
    use std::io::Write;
    use std::sync::atomic::{AtomicUsize, Ordering};
    static SKIPPED: AtomicUsize = AtomicUsize::new(0);
    let count = SKIPPED.fetch_add(1, Ordering::Relaxed) + 1;
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED {test} ({count} skipped in this test binary): {why}");
}

/// The error, one line; the progress log lines of stages before it are not part of it.
pub fn one_line_error(output: &std::process::Output) -> String {
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stderr: String =
        stderr.trim().lines().filter(|l| !l.contains("precis::progress:")).collect::<Vec<_>>().join("\n");
    assert_eq!(stderr.lines().count(), 1, "error is one line: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    stderr
}

/// A summarizer on the deterministic fake model, without a cache.
pub fn fake_summarizer() -> Summarizer {
    Summarizer::new(std::sync::Arc::new(FakeSource::new("fake-default")), None, Progress::hidden())
}

pub fn try_load(dir: &Path) -> anyhow::Result<Model> {
    let cache = cache();
    let lib = runtime::locate(&cache, None, Flavor::Cpu)
        .expect("ONNX Runtime is provisioned: run `precis setup` before the tests");
    let env = runtime::init(&lib).expect("ONNX Runtime loads");
    Model::load(dir, env, &EngineOptions { threads: Some(2), cuda: false })
}

pub fn load(dir: &Path) -> Model {
    try_load(dir).expect("model loads")
}

/// The real default model's GGUF, as `precis setup` left it in the cache.
pub fn real_gguf() -> PathBuf {
    let path = models::gguf_path(&cache(), DEFAULT_MODEL);
    assert!(path.is_file(), "{} missing: run `precis setup` before the tests", path.display());
    path
}

/// A tool of `tools/` run as precis runs Python, with the converter's
/// packages on its path (its paths must be absolute).
pub fn python(script: &str) -> Command {
    let cache = cache();
    let python = Python::find(&cache).expect("python3 with pip");
    let site = models::converter_env(&cache, &python).expect("converter packages");
    python.script(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tools").join(script), &site)
}

fn work_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("precis-tests");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Serialises building shared artefacts across test binaries.
fn build_once(name: &str, build: impl FnOnce(&Path)) -> PathBuf {
    use fs4::fs_std::FileExt;
    let dir = work_dir();
    let lock = std::fs::File::create(dir.join(format!("{name}.lock"))).unwrap();
    lock.lock_exclusive().unwrap();
    let path = dir.join(name);
    if !path.exists() {
        let staging = dir.join(format!("{name}.partial"));
        let _ = std::fs::remove_dir_all(&staging);
        let _ = std::fs::remove_file(&staging);
        build(&staging);
        std::fs::rename(&staging, &path).unwrap();
    }
    path
}

/// Which TEST model: qwen2 with `Mixed` matrices (Q8_0/Q5_0/Q4_0/F32) or all
/// `Q4` (Q4_0); or one of the other families the converter reads, with mixed
/// matrices (tools/make_test_gguf.py says what each architecture has).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Tiny {
    Mixed,
    Q4,
    Qwen3,
    Llama,
}

impl Tiny {
    pub fn name(self) -> &'static str {
        match self {
            Tiny::Mixed => "mixed",
            Tiny::Q4 => "q4_0",
            Tiny::Qwen3 => "qwen3",
            Tiny::Llama => "llama",
        }
    }

    fn generator_args(self) -> [&'static str; 2] {
        match self {
            Tiny::Mixed | Tiny::Q4 => ["--weights", self.name()],
            Tiny::Qwen3 | Tiny::Llama => ["--arch", self.name()],
        }
    }
}

/// A TEST model's GGUF: random weights, two layers, the real tokenizer.
pub fn tiny_gguf(kind: Tiny) -> PathBuf {
    build_once(&format!("tiny-{}.gguf", kind.name()), |out| {
        let status = python("make_test_gguf.py")
            .arg("--tokenizer-from")
            .arg(real_gguf())
            .arg("--out")
            .arg(out)
            .args(kind.generator_args())
            .status()
            .unwrap();
        assert!(status.success(), "make_test_gguf.py failed");
    })
}

/// A TEST model converted by `precis model convert`.
pub fn tiny_model_as(kind: Tiny, precision: &str) -> PathBuf {
    tiny_model_in(kind, precision, "genai")
}

/// A TEST model converted into a folder layout (genai or optimum).
pub fn tiny_model_in(kind: Tiny, precision: &str, layout: &str) -> PathBuf {
    let gguf = tiny_gguf(kind);
    build_once(&format!("tiny-{}-{precision}-{layout}", kind.name()), |out| {
        precis()
            .args(["model", "convert", "--precision", precision, "--layout", layout])
            .arg(&gguf)
            .arg("--out")
            .arg(out)
            .assert()
            .success();
    })
}

/// The mixed-grid TEST model in the CPU default precision.
pub fn tiny_model() -> PathBuf {
    tiny_model_as(Tiny::Mixed, "int8")
}

/// The precis binary in a clean environment: nothing inherited that changes
/// its behaviour (RUST_LOG, PRECIS_*, ORT_DYLIB_PATH, XDG_CACHE_HOME, GitHub's
/// variables); the cache is named explicitly, and summaries go to a folder
/// of the test's, never the user's cache.
pub fn precis() -> assert_cmd::Command {
    let mut cmd = clean(assert_cmd::Command::cargo_bin("precis").unwrap());
    cmd.env("XDG_CACHE_HOME", cache().root().parent().unwrap());
    cmd.env("PRECIS_SUMMARY_CACHE", summary_cache());
    cmd
}

/// `cmd` without the variables that change precis's behaviour (see [`precis`]).
pub fn clean(mut cmd: assert_cmd::Command) -> assert_cmd::Command {
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("PRECIS_")
            || name.starts_with("GITHUB_")
            || name.starts_with("RUNNER_")
            || ["RUST_LOG", "ORT_DYLIB_PATH", "XDG_CACHE_HOME"].contains(&name.as_str())
        {
            cmd.env_remove(&name);
        }
    }
    cmd.env("CI", "1");
    cmd
}

/// A summary cache for this test run only.
fn summary_cache() -> PathBuf {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap()).path().to_path_buf()
}

/// A git repository in a temporary folder, driven by the git command line.
pub struct Repo {
    pub dir: tempfile::TempDir,
}

impl Repo {
    pub fn new() -> Repo {
        let repo = Repo { dir: tempfile::tempdir().unwrap() };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .current_dir(self.path())
            .args(["-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"])
            .args(["-c", "core.autocrlf=false"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn write(&self, path: &str, bytes: impl AsRef<[u8]>) {
        let path = self.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.git(&["rev-parse", "HEAD"]).trim().to_string()
    }
}

/// A `package.json` whose test script retries `retries` times: a change of
/// it is one no parser tells, so the model is asked about it.
pub fn retries_manifest(retries: u8) -> String {
    format!("{{\"name\": \"demo\",\n \"scripts\": {{\"test\": \"node t.js --retries {retries}\"}}}}\n")
}

/// A Gemfile of `gems`: a dependency manifest that no parser here tells
/// (Ruby parses it, and holds no definitions), so the model is asked for its row.
pub fn gemfile(gems: &[&str]) -> String {
    let mut text = String::from("source \"https://rubygems.org\"\n");
    for gem in gems {
        text.push_str(&format!("gem \"{gem}\"\n"));
    }
    text
}

pub fn rust_file(name: &str, items: usize) -> String {
    (0..items)
        .map(|i| format!("/// Item {i} of {name}.\npub fn {name}_{i}(x: u32) -> u32 {{\n    x + {i}\n}}\n\n"))
        .collect()
}

/// A folder standing for the App's git host: repositories are served as
/// `OWNER/NAME.git` under it, as the App builds fetch URLs.
pub struct GitHostDir {
    pub dir: tempfile::TempDir,
}

impl GitHostDir {
    pub fn new() -> GitHostDir {
        GitHostDir { dir: tempfile::tempdir().unwrap() }
    }

    /// Serves the repository at `path` as `owner/name`.
    pub fn serve(&self, owner: &str, name: &str, path: &Path) {
        let at = self.dir.path().join(owner).join(format!("{name}.git"));
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(path, at).unwrap();
    }

    /// The host as the App is configured with it (`PRECIS_GIT_URL`).
    pub fn url(&self) -> String {
        format!("file://{}", self.dir.path().display())
    }

    pub fn host(&self) -> precis::app::repos::GitHost {
        precis::app::repos::GitHost::parse(&self.url()).unwrap()
    }
}
