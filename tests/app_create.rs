//! `precis app create` driven the way a person does it: a real browser
//! (headless Chromium) opens the local page, which posts the manifest to a
//! fake GitHub; GitHub sends the browser back with a code, which precis
//! trades for the App's credentials and writes, readable by their owner only.
//!
//! Needs Debian's `chromium` (`apt-get install chromium`); without it the
//! test says it is skipped, unless PRECIS_REQUIRE_BROWSER is set (CI), where
//! that is a failure.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use axum::extract::{Path as UrlPath, Query, State};
use axum::response::{IntoResponse, Redirect};
use axum::routing::post;
use axum::{Form, Json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CODE: &str = "one-time-code-42";

#[derive(Default)]
struct FakeGitHub {
    manifest: Mutex<Option<serde_json::Value>>,
    conversions: Mutex<usize>,
}

#[derive(serde::Deserialize)]
struct NewApp {
    manifest: String,
}

#[derive(serde::Deserialize)]
struct StateParam {
    state: String,
}

/// GitHub's "create from manifest" page, already confirmed by the user:
/// it sends the browser to the manifest's redirect_url with a code.
async fn new_app(
    State(fake): State<Arc<FakeGitHub>>,
    Query(query): Query<StateParam>,
    Form(form): Form<NewApp>,
) -> axum::response::Response {
    let manifest: serde_json::Value = serde_json::from_str(&form.manifest).unwrap();
    let redirect = manifest["redirect_url"].as_str().unwrap().to_string();
    *fake.manifest.lock().unwrap() = Some(manifest);
    Redirect::to(&format!("{redirect}?code={CODE}&state={}", query.state)).into_response()
}

async fn conversion(State(fake): State<Arc<FakeGitHub>>, UrlPath(code): UrlPath<String>) -> axum::response::Response {
    if code != CODE {
        return (axum::http::StatusCode::NOT_FOUND, "no such code").into_response();
    }
    *fake.conversions.lock().unwrap() += 1;
    let pem =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/test-app-key.pem")).unwrap();
    (
        axum::http::StatusCode::CREATED,
        Json(serde_json::json!({
            "id": 4242,
            "slug": "precis-test",
            "html_url": "https://github.example/apps/precis-test",
            "pem": pem,
            "webhook_secret": "secret-from-github",
            "client_id": "Iv1.x",
            "client_secret": "not-used"
        })),
    )
        .into_response()
}

#[test]
fn a_browser_creates_the_app_and_the_credentials_are_written_privately() {
    if !Path::new(CHROMIUM).exists() {
        assert!(
            std::env::var_os("PRECIS_REQUIRE_BROWSER").is_none(),
            "{CHROMIUM} is missing and PRECIS_REQUIRE_BROWSER is set: apt-get install chromium"
        );
        common::skip("a_browser_creates_the_app", "needs Debian's chromium (apt-get install chromium)");
        return;
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let fake = Arc::new(FakeGitHub::default());
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let github = format!("http://{}", listener.local_addr().unwrap());
    let router = axum::Router::new()
        .route("/settings/apps/new", post(new_app))
        .route("/app-manifests/{code}/conversions", post(conversion))
        .with_state(fake.clone());
    runtime.spawn(async move { axum::serve(listener, router).await });

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("precis-app.env");
    let mut precis = Command::new(env!("CARGO_BIN_EXE_precis"))
        .args(["app", "create", "--webhook-url", "https://precis.example.com/webhook", "--name", "precis-test"])
        .args(["--github-url", &github, "--api-url", &github, "--listen", "127.0.0.1:0", "--out"])
        .arg(&out)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(precis.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let page =
        line.split_whitespace().find(|w| w.starts_with("http://")).unwrap_or_else(|| panic!("{line}")).to_string();

    let profile = tempfile::tempdir().unwrap();
    let browser = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=15000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(&page)
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&browser.stdout);
    // The browser is done: precis has either finished or never will.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(status) = precis.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            precis.kill().unwrap();
            panic!("precis app create still waits after the browser finished; the browser saw: {dom}");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert!(status.success(), "precis app create failed: {rest}");
    assert!(dom.contains("The App is created"), "the browser ends on the done page: {dom}");

    let manifest = fake.manifest.lock().unwrap().clone().expect("the browser posted the manifest");
    assert_eq!(manifest["name"], "precis-test");
    assert_eq!(manifest["hook_attributes"]["url"], "https://precis.example.com/webhook");
    assert!(manifest["redirect_url"].as_str().unwrap().starts_with("http://127.0.0.1:"));
    assert_eq!(*fake.conversions.lock().unwrap(), 1, "the code is traded once");

    let settings = std::fs::read_to_string(&out).unwrap();
    assert!(settings.contains("PRECIS_APP_ID=4242\n"), "{settings}");
    assert!(settings.contains("PRECIS_WEBHOOK_SECRET=secret-from-github\n"), "{settings}");
    let key = dir.path().join("precis-app.private-key.pem");
    assert!(settings.contains(&format!("PRECIS_PRIVATE_KEY={}\n", key.display())), "{settings}");
    assert!(std::fs::read_to_string(&key).unwrap().starts_with("-----BEGIN"));
    for file in [&out, &key] {
        let mode = std::fs::metadata(file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} is private", file.display());
    }
}

#[test]
fn a_second_run_never_overwrites_an_apps_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("precis-app.env");
    std::fs::write(&out, "PRECIS_APP_ID=1\n").unwrap();
    let output = common::precis()
        .args(["app", "create", "--webhook-url", "https://precis.example.com/webhook", "--listen", "127.0.0.1:0"])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("already exists") && stderr.trim().lines().count() == 1, "{stderr}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "PRECIS_APP_ID=1\n");
}
