//! `precis serve` as a process: settings checked at start, health over
//! HTTP, and a clean stop on SIGTERM.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const VARIABLES: [&str; 8] = [
    "PRECIS_APP_ID",
    "PRECIS_PRIVATE_KEY",
    "PRECIS_WEBHOOK_SECRET",
    "PRECIS_GITHUB_API_URL",
    "PRECIS_GIT_URL",
    "PRECIS_METRICS_TOKEN",
    "PRECIS_DATA_DIR",
    "PRECIS_LISTEN",
];

fn key_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/test-app-key.pem")
}

fn serve_error(settings: &[(&str, &str)]) -> String {
    let data = tempfile::tempdir().unwrap();
    let mut command = common::precis();
    command.arg("serve").args(["--model", "no/such/model"]);
    for name in VARIABLES {
        command.env_remove(name);
    }
    command.env("PRECIS_DATA_DIR", data.path());
    for (name, value) in settings {
        command.env(name, value);
    }
    let out = command.output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
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
    assert!(serve_error(&[("PRECIS_APP_ID", "1"), ("PRECIS_PRIVATE_KEY", "/no/key.pem")]).contains("cannot be read"));
    assert!(serve_error(&[("PRECIS_APP_ID", "1"), ("PRECIS_PRIVATE_KEY", "-----BEGIN nonsense")])
        .contains("not an RSA key"));
    assert!(serve_error(&[("PRECIS_APP_ID", "1"), ("PRECIS_PRIVATE_KEY", key)])
        .contains("PRECIS_WEBHOOK_SECRET is not set"));
    let base = [("PRECIS_APP_ID", "1"), ("PRECIS_PRIVATE_KEY", key), ("PRECIS_WEBHOOK_SECRET", "s")];
    assert!(serve_error(&[&base[..], &[("PRECIS_LISTEN", "nowhere")]].concat())
        .contains("PRECIS_LISTEN `nowhere` is not an address"));
    assert!(serve_error(&[&base[..], &[("PRECIS_GITHUB_API_URL", "not a url")]].concat()).contains("is not a URL"));
    assert!(serve_error(&[&base[..], &[("PRECIS_GIT_URL", "github.com")]].concat())
        .contains("PRECIS_GIT_URL `github.com` is not a git host URL"));
    // The model is loaded last: every setting was fine.
    assert!(serve_error(&base).contains("model folder no/such/model does not exist"));
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

#[test]
fn serves_health_and_stops_on_sigterm() {
    if !common::provisioned("serves_health_and_stops_on_sigterm") {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("precis"));
    command.args(["-v", "serve", "--device", "cpu", "--model"]).arg(common::tiny_model());
    for name in VARIABLES {
        command.env_remove(name);
    }
    let child = command
        .env("PRECIS_APP_ID", "1")
        .env("PRECIS_PRIVATE_KEY", key_path())
        .env("PRECIS_WEBHOOK_SECRET", "secret")
        .env("PRECIS_DATA_DIR", data.path())
        .env("PRECIS_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut running = Running(child);
    let child = &mut running.0;
    // The system picks the port; precis logs the address it bound.
    let (lines, log) = std::sync::mpsc::channel();
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
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
    let body = r#"{"zen":"Keep it logically awesome.","hook_id":1}"#;
    let signature = precis::github::signature::sign(b"secret", body.as_bytes());
    let ping = format!(
        "POST /webhook HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-GitHub-Event: ping\r\nX-GitHub-Delivery: p-1\r\nX-Hub-Signature-256: {signature}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    assert!(http(port, &ping).unwrap().starts_with("HTTP/1.1 202"));
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let stopped = Instant::now();
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(stopped.elapsed() < Duration::from_secs(30), "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = reader.join().unwrap();
    assert!(exit.success(), "{stderr}");
    assert!(stderr.contains("stopping: finishing the jobs in progress"), "{stderr}");
    assert!(data.path().join("jobs.db").exists());
}
