//! `precis serve` as a process: settings checked at start (one line, never
//! the key), health over HTTP, and a clean stop on SIGTERM, also while a
//! job's fetch waits on a git host that sends nothing.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `precis serve` with none of the caller's settings: every `PRECIS_*`
/// variable and `RUST_LOG` removed (the cache stays: ONNX Runtime is there).
fn serve_command() -> Command {
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("precis"));
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_none_or(|n| n.starts_with("PRECIS_") || n == "RUST_LOG") {
            command.env_remove(name);
        }
    }
    command
}

fn key_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/test-app-key.pem")
}

/// The start-up error of `precis serve` with `settings`: one line, within 10 s.
fn serve_error(settings: &[(&str, &str)]) -> String {
    let data = tempfile::tempdir().unwrap();
    let mut command = serve_command();
    command.arg("serve").args(["--model", "no/such/model"]);
    command.env("PRECIS_DATA_DIR", data.path());
    for (name, value) in settings {
        command.env(name, value);
    }
    let child = command.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut running = Running(child);
    let started = Instant::now();
    let exit = loop {
        if let Some(exit) = running.0.try_wait().unwrap() {
            break exit;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no start-up error within 10 s for {settings:?}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!exit.success());
    let mut stderr = String::new();
    running.0.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let stderr = stderr.trim().to_string();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    stderr
}

#[test]
fn missing_or_bad_settings_fail_at_start() {
    let key = key_path();
    let key = key.to_str().unwrap();
    assert!(serve_error(&[]).contains("PRECIS_APP_ID is not set"));
    assert!(serve_error(&[("PRECIS_APP_ID", "abc")]).contains("is not a number"));
    assert!(serve_error(&[("PRECIS_APP_ID", "1")]).contains("PRECIS_PRIVATE_KEY is not set"));
    assert!(serve_error(&[("PRECIS_APP_ID", "1"), ("PRECIS_PRIVATE_KEY", "/no/key.pem")])
        .contains("names no readable key file"));
    assert!(serve_error(&[("PRECIS_APP_ID", "1"), ("PRECIS_PRIVATE_KEY", "-----BEGIN nonsense")])
        .contains("not an RSA key"));
    assert!(serve_error(&[("PRECIS_APP_ID", "1"), ("PRECIS_PRIVATE_KEY", key)])
        .contains("PRECIS_WEBHOOK_SECRET is not set"));
    let base = [("PRECIS_APP_ID", "1"), ("PRECIS_PRIVATE_KEY", key), ("PRECIS_WEBHOOK_SECRET", "s")];
    let with = |setting: (&str, &str)| serve_error(&[&base[..], &[setting]].concat());
    assert!(with(("PRECIS_LISTEN", "nowhere")).contains("PRECIS_LISTEN `nowhere` is not an address"));
    assert!(with(("PRECIS_GITHUB_API_URL", "not a url")).contains("PRECIS_GITHUB_API_URL `not a url` is not"));
    assert!(with(("PRECIS_GIT_URL", "github.com")).contains("PRECIS_GIT_URL `github.com` is not a git host URL"));
    // The model is loaded last: every setting was fine.
    assert!(serve_error(&base).contains("model folder no/such/model does not exist"));
}

#[test]
fn a_private_key_that_is_not_a_key_file_is_refused_without_echo() {
    // The body of a PEM key without its armour: key material, not a path.
    let material = format!("MIIEowIBAAKCAQEA{}", "q8Zr/x+Lk0".repeat(160));
    let error = serve_error(&[("PRECIS_APP_ID", "1"), ("PRECIS_PRIVATE_KEY", &material)]);
    assert!(error.contains("PRECIS_PRIVATE_KEY") && error.contains(".pem"), "{error}");
    assert!(!error.contains("MIIEowIBAAKCAQEA") && !error.contains("q8Zr"), "the key was echoed: {error}");
    // A device is not read (it would never end); nor is a file far larger than any key.
    let error = serve_error(&[("PRECIS_APP_ID", "1"), ("PRECIS_PRIVATE_KEY", "/dev/zero")]);
    assert!(error.contains("PRECIS_PRIVATE_KEY") && error.contains("not a regular file"), "{error}");
    let big = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(big.path(), vec![b'A'; 100 * 1024]).unwrap();
    let error = serve_error(&[("PRECIS_APP_ID", "1"), ("PRECIS_PRIVATE_KEY", big.path().to_str().unwrap())]);
    assert!(error.contains("PRECIS_PRIVATE_KEY") && error.contains("over 64 KiB"), "{error}");
    assert!(!error.contains(big.path().to_str().unwrap()), "{error}");
}

#[test]
fn numbers_out_of_range_blank_secrets_and_other_schemes_are_refused() {
    let key = key_path();
    let key = key.to_str().unwrap();
    let base = [("PRECIS_APP_ID", "1"), ("PRECIS_PRIVATE_KEY", key), ("PRECIS_WEBHOOK_SECRET", "s")];
    let with = |setting: (&str, &str)| serve_error(&[&base[..], &[setting]].concat());
    for (name, value, range) in [
        ("PRECIS_LEASE_SECONDS", "18446744073709551615", "from 3 to 86400"),
        ("PRECIS_LEASE_SECONDS", "2", "from 3 to 86400"),
        ("PRECIS_RETENTION_DAYS", "213503982334602", "from 1 to 3650"),
        ("PRECIS_REPO_CACHE_DAYS", "213503982334602", "from 1 to 3650"),
        ("PRECIS_RETRY_SECONDS", "18446744073709551615", "from 1 to 600"),
        ("PRECIS_JOB_SECONDS", "18446744073709551615", "from 1 to 86400"),
    ] {
        let error = with((name, value));
        assert!(error.contains(name) && error.contains(range), "{name}={value}: {error}");
    }
    for blank in ["", "   "] {
        let secret = serve_error(&[&base[..2], &[("PRECIS_WEBHOOK_SECRET", blank)]].concat());
        assert!(secret.contains("PRECIS_WEBHOOK_SECRET"), "{secret}");
        // A blank token would leave /metrics open: refused, not ignored.
        let token = with(("PRECIS_METRICS_TOKEN", blank));
        assert!(token.contains("PRECIS_METRICS_TOKEN is blank"), "{token}");
    }
    let scheme = with(("PRECIS_GITHUB_API_URL", "ftp://x"));
    assert!(scheme.contains("PRECIS_GITHUB_API_URL `ftp://x`") && scheme.contains("http(s)"), "{scheme}");
    assert!(!scheme.contains("PRECIS_GIT_URL"), "{scheme}");
}

fn http(port: u16, request: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(answer)
}

/// Kills the server if the test fails before it stopped.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `precis serve` process on the tiny model, its port, and its log (all of it once it ends).
struct Served {
    running: Running,
    port: u16,
    log: Option<std::thread::JoinHandle<String>>,
    data: tempfile::TempDir,
}

impl Served {
    fn start(settings: &[(&str, &str)]) -> Served {
        let data = tempfile::tempdir().unwrap();
        let mut command = serve_command();
        command.args(["-v", "serve", "--device", "cpu", "--model"]).arg(common::tiny_model());
        command
            .env("PRECIS_APP_ID", "1")
            .env("PRECIS_PRIVATE_KEY", key_path())
            .env("PRECIS_WEBHOOK_SECRET", "secret")
            .env("PRECIS_DATA_DIR", data.path())
            .env("PRECIS_LISTEN", "127.0.0.1:0");
        for (name, value) in settings {
            command.env(name, value);
        }
        let child = command.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        let mut running = Running(child);
        // The system picks the port; precis logs the address it bound.
        let (lines, log) = std::sync::mpsc::channel();
        let stderr = std::io::BufReader::new(running.0.stderr.take().unwrap());
        let reader = std::thread::spawn(move || {
            use std::io::BufRead;
            let mut all = String::new();
            for line in stderr.lines().map_while(Result::ok) {
                let _ = lines.send(line.clone());
                all.push_str(&line);
                all.push('\n');
            }
            all
        });
        let port: u16 = loop {
            let line = log.recv_timeout(Duration::from_secs(60)).expect("the server logs where it listens");
            if let Some(rest) = line.split("listening on 127.0.0.1:").nth(1) {
                break rest.split(':').next().unwrap().parse().unwrap();
            }
        };
        let start = Instant::now();
        let health = loop {
            if let Some(answer) = http(port, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n") {
                break answer;
            }
            assert!(start.elapsed() < Duration::from_secs(60), "the server did not come up");
            std::thread::sleep(Duration::from_millis(100));
        };
        assert!(health.starts_with("HTTP/1.1 200") && health.ends_with("ok"), "{health}");
        Served { running, port, log: Some(reader), data }
    }

    /// Posts a delivery signed with the server's secret; the answer.
    fn deliver(&self, event: &str, delivery: &str, body: &str) -> String {
        let signature = precis::github::signature::sign(b"secret", body.as_bytes());
        let request = format!(
            "POST /webhook HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-GitHub-Event: {event}\r\nX-GitHub-Delivery: {delivery}\r\nX-Hub-Signature-256: {signature}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        http(self.port, &request).unwrap_or_default()
    }

    /// Sends SIGTERM; the exit status and the whole log, if it exits within `limit`.
    fn terminate(&mut self, limit: Duration) -> (std::process::ExitStatus, String) {
        let child = &mut self.running.0;
        let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        assert!(status.success());
        let stopped = Instant::now();
        let exit = loop {
            if let Some(exit) = child.try_wait().unwrap() {
                break exit;
            }
            assert!(stopped.elapsed() < limit, "no exit within {limit:?} of SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        };
        (exit, self.log.take().expect("terminated once").join().unwrap())
    }
}

#[test]
fn serves_health_and_stops_on_sigterm() {
    if !common::provisioned("serves_health_and_stops_on_sigterm") {
        return;
    }
    let mut served = Served::start(&[]);
    let ping = served.deliver("ping", "p-1", r#"{"zen":"Keep it logically awesome.","hook_id":1}"#);
    assert!(ping.starts_with("HTTP/1.1 202"), "{ping}");
    let (exit, stderr) = served.terminate(Duration::from_secs(30));
    assert!(exit.success(), "{stderr}");
    assert!(stderr.contains("stopping: finishing the jobs in progress"), "{stderr}");
    assert!(served.data.path().join("jobs.db").exists());
}

/// The grace period a stop gives the jobs in progress (docs/APP.md).
const GRACE: Duration = Duration::from_secs(60);

/// How a fake git host answers a fetch.
#[derive(Clone, Copy)]
enum GitHostBehaviour {
    /// Accepts the connection and never sends a byte.
    Silent,
    /// Sends one byte of an endless HTTP header every 5 s: never silent
    /// long enough to time out, never done.
    Trickling,
}

/// Starts `precis serve`, makes a job fetch from a git host that behaves
/// so, sends SIGTERM while the fetch waits, and asserts a clean exit within `limit`.
fn sigterm_while_a_fetch_waits(behaviour: GitHostBehaviour, limit: Duration) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let fake = runtime.block_on(common::fake_github::FakeGitHub::start());
    let host = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let git_url = format!("http://{}", host.local_addr().unwrap());
    let (accepted, fetching) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for mut stream in host.incoming().map_while(Result::ok) {
            let _ = accepted.send(());
            match behaviour {
                GitHostBehaviour::Silent => held.push(stream),
                GitHostBehaviour::Trickling => {
                    std::thread::spawn(move || {
                        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: ".iter().chain(std::iter::repeat(&b'a')) {
                            if stream.write_all(&[*byte]).is_err() {
                                return;
                            }
                            std::thread::sleep(Duration::from_secs(5));
                        }
                    });
                }
            }
        }
    });
    // GitHub's view of the pull request matches the delivery, so the job is not stale.
    fake.set_pull(7, &"a".repeat(40), &"b".repeat(40));
    let mut served = Served::start(&[("PRECIS_GITHUB_API_URL", &fake.url), ("PRECIS_GIT_URL", &git_url)]);
    let payload = serde_json::json!({
        "action": "opened",
        "number": 7,
        "pull_request": {"number": 7, "state": "open", "draft": false,
            "head": {"sha": "a".repeat(40), "ref": "feature"}, "base": {"sha": "b".repeat(40), "ref": "main"}},
        "repository": {"name": "demo", "full_name": "octo/demo", "owner": {"login": "octo"},
            "clone_url": "https://github.com/octo/demo.git", "default_branch": "main"},
        "installation": {"id": 42},
    });
    let answer = served.deliver("pull_request", "pr-1", &payload.to_string());
    assert!(answer.starts_with("HTTP/1.1 202") && answer.contains("queued"), "{answer}");
    fetching.recv_timeout(Duration::from_secs(60)).expect("the job fetches from the fake git host");
    let (exit, stderr) = served.terminate(limit);
    assert!(exit.success(), "{stderr}");
    assert!(stderr.contains("stopping: finishing the jobs in progress"), "{stderr}");
}

#[test]
fn sigterm_ends_the_process_within_the_grace_period_while_a_fetch_waits_on_a_silent_host() {
    if !common::provisioned("sigterm_ends_the_process_within_the_grace_period_while_a_fetch_waits_on_a_silent_host") {
        return;
    }
    // The fetch fails after 30 s of silence, the job ends, the process exits.
    sigterm_while_a_fetch_waits(GitHostBehaviour::Silent, GRACE);
}

#[test]
fn sigterm_ends_the_process_soon_after_the_grace_period_while_a_fetch_never_ends() {
    if !common::provisioned("sigterm_ends_the_process_soon_after_the_grace_period_while_a_fetch_never_ends") {
        return;
    }
    // The stuck fetch is left behind: 5 s after the grace period the process exits anyway.
    sigterm_while_a_fetch_waits(GitHostBehaviour::Trickling, GRACE + Duration::from_secs(10));
}
