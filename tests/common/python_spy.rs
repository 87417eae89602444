//! A hostile checkout and a witness for the Python precis starts: the
//! checkout holds a `pip` package that records that it ran, and
//! `PRECIS_PYTHON` points at a wrapper that records how it was started
//! (working directory, arguments, environment) before running python3.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Secret values a runner or an operator may have in precis's environment,
/// by the variable that holds them.
pub const SECRETS: [(&str, &str); 6] = [
    ("PRECIS_GITHUB_TOKEN", "ghs_secret_job_token"),
    ("GITHUB_TOKEN", "ghs_secret_github_token"),
    ("INPUT_GITHUB_TOKEN", "ghs_secret_input_token"),
    ("ACTIONS_RUNTIME_TOKEN", "secret_runtime_token"),
    ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "secret_id_token"),
    ("PRECIS_WEBHOOK_SECRET", "secret_webhook"),
];

pub struct PythonSpy {
    dir: tempfile::TempDir,
}

/// One start of the wrapper.
pub struct Call {
    pub cwd: PathBuf,
    pub args: Vec<String>,
    /// What `env` printed.
    pub env: String,
}

impl PythonSpy {
    pub fn new() -> PythonSpy {
        let dir = tempfile::tempdir().unwrap();
        let calls = dir.path().join("calls");
        std::fs::create_dir(&calls).unwrap();
        let wrapper = dir.path().join("python3");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nout={}/$$\n{{ pwd -P; for a in \"$@\"; do printf 'arg %s\\n' \"$a\"; done; env; }} > \"$out\"\nexec python3 \"$@\"\n",
                calls.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        PythonSpy { dir }
    }

    /// The value for PRECIS_PYTHON.
    pub fn python(&self) -> PathBuf {
        self.dir.path().join("python3")
    }

    /// Sets `cmd` up as a step or an operator would, secrets included, with
    /// this wrapper as precis's Python and pip offline: its index refuses
    /// connections at once, so a cold cache fails fast after pip started.
    pub fn environment(&self, cmd: &mut assert_cmd::Command) {
        cmd.env("PRECIS_PYTHON", self.python())
            .env("PIP_INDEX_URL", "http://127.0.0.1:1/simple")
            .env("PIP_RETRIES", "0")
            .env("PIP_TIMEOUT", "1")
            .env("PIP_CONFIG_FILE", "/dev/null")
            .env("PIP_NO_CACHE_DIR", "1")
            .env_remove("PIP_EXTRA_INDEX_URL")
            .env_remove("PIP_FIND_LINKS");
        for (name, value) in SECRETS {
            cmd.env(name, value);
        }
    }

    /// Where the checkout's `pip` writes when it runs.
    pub fn marker(&self) -> PathBuf {
        self.dir.path().join("pull-request-code-ran")
    }

    /// Writes a `pip` package into `checkout` that, imported, writes
    /// [`PythonSpy::marker`] with the environment it saw.
    pub fn plant_pip(&self, checkout: &Path) {
        let code =
            format!("import os\nopen({:?}, 'a').write(repr(dict(os.environ)))\n", self.marker().to_str().unwrap());
        std::fs::create_dir_all(checkout.join("pip")).unwrap();
        std::fs::write(checkout.join("pip/__init__.py"), &code).unwrap();
        std::fs::write(checkout.join("pip/__main__.py"), &code).unwrap();
    }

    pub fn calls(&self) -> Vec<Call> {
        let mut calls: Vec<Call> = std::fs::read_dir(self.dir.path().join("calls"))
            .unwrap()
            .flatten()
            .map(|entry| {
                let text = std::fs::read_to_string(entry.path()).unwrap();
                let mut lines = text.lines();
                let cwd = PathBuf::from(lines.next().unwrap());
                let (args, env): (Vec<&str>, Vec<&str>) = lines.partition(|l| l.starts_with("arg "));
                Call {
                    cwd,
                    args: args.iter().map(|a| a.trim_start_matches("arg ").to_string()).collect(),
                    env: env.join("\n"),
                }
            })
            .collect();
        calls.sort_by(|a, b| a.args.cmp(&b.args));
        calls
    }

    /// Python was started at least once, and every time isolated, in a
    /// folder of `cache`, without a secret; the checkout's `pip` never ran.
    /// The calls checked are forgotten, so the next run is checked alone.
    pub fn assert_isolated(&self, cache: &Path) {
        let calls = self.calls();
        assert!(!calls.is_empty(), "python was never started");
        let cache = cache.canonicalize().unwrap();
        for call in &calls {
            assert_eq!(call.args.first().map(String::as_str), Some("-I"), "isolated: {:?}", call.args);
            assert!(call.cwd.starts_with(&cache), "{} is not in the cache {}", call.cwd.display(), cache.display());
            for (name, value) in SECRETS {
                assert!(
                    !call.env.contains(value) && !call.env.contains(name),
                    "{name} reached python: {:?}",
                    call.args
                );
            }
        }
        assert!(!self.marker().exists(), "the checkout's pip ran: {}", std::fs::read_to_string(self.marker()).unwrap());
        let calls = self.dir.path().join("calls");
        std::fs::remove_dir_all(&calls).unwrap();
        std::fs::create_dir(&calls).unwrap();
    }
}
