//! `precis app create`: registers the GitHub App from its manifest, the way
//! GitHub's manifest flow works. A page on loopback posts the manifest to
//! GitHub; GitHub sends the browser back with a one-time code; precis trades
//! the code for the App's id, private key and webhook secret and writes them
//! to files only their owner can read.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use axum::extract::{Query, State};
use axum::response::Html;
use axum::routing::get;
use serde::Deserialize;
use serde_json::Value;

/// The manifest precis is registered with: the events it acts on and the
/// permissions its calls and those events need.
pub const MANIFEST: &str = include_str!("../../app-manifest.json");

/// The permission GitHub requires of an App before it delivers each event.
pub const EVENT_PERMISSIONS: &[(&str, &str)] =
    &[("pull_request", "pull_requests"), ("push", "contents"), ("issue_comment", "issues"), ("check_run", "checks")];

pub struct CreateOptions {
    /// GitHub's web root: `https://github.com`, or `https://HOST` for Enterprise Server.
    pub web_url: String,
    /// Its REST root: `https://api.github.com`, or `https://HOST/api/v3`.
    pub api_url: String,
    /// Register the App under this organization instead of the signed-in user.
    pub organization: Option<String>,
    pub name: String,
    /// Where GitHub will send webhooks: `https://YOUR-HOST/webhook`.
    pub webhook_url: String,
    /// The local page's address (loopback).
    pub listen: SocketAddr,
    /// The settings file written (the private key goes beside it).
    pub out: PathBuf,
}

/// What GitHub's conversion returns, and where precis put it.
#[derive(Debug)]
pub struct Created {
    pub id: u64,
    pub slug: String,
    pub html_url: String,
    pub settings_file: PathBuf,
    pub key_file: PathBuf,
}

/// The manifest for these options, sending the browser back to `redirect_url`.
pub fn manifest(options: &CreateOptions, redirect_url: &str) -> Result<Value> {
    let mut manifest: Value = serde_json::from_str(MANIFEST).context("app-manifest.json is not JSON")?;
    manifest["name"] = Value::String(options.name.clone());
    manifest["hook_attributes"]["url"] = Value::String(options.webhook_url.clone());
    manifest["redirect_url"] = Value::String(redirect_url.to_string());
    Ok(manifest)
}

fn check_options(options: &CreateOptions) -> Result<()> {
    for (setting, url) in [("--github-url", &options.web_url), ("--api-url", &options.api_url)] {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            bail!("{setting} `{url}` is not an http(s) URL; use https://github.com or your Enterprise host");
        }
    }
    if !options.webhook_url.starts_with("https://") && !options.webhook_url.starts_with("http://") {
        bail!(
            "--webhook-url `{}` is not an http(s) URL; give the public address GitHub will post to, like https://precis.example.com/webhook",
            options.webhook_url
        );
    }
    if !options.listen.ip().is_loopback() {
        bail!(
            "--listen {} is not a loopback address; the page is for a browser on this machine (use 127.0.0.1:PORT, or an SSH tunnel to it)",
            options.listen
        );
    }
    let name_ok = !options.name.trim().is_empty() && options.name.chars().count() <= 34;
    if !name_ok {
        bail!("--name must be 1 to 34 characters (GitHub's limit for an App's name)");
    }
    if let Some(org) = &options.organization {
        if !org.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') || org.is_empty() {
            bail!("--org `{org}` is not an organization's login; use its name as in github.com/ORG");
        }
    }
    for path in [options.out.clone(), key_path(&options.out)] {
        if path.exists() {
            bail!(
                "{} already exists; move it away or choose another --out, so no App's key is overwritten",
                path.display()
            );
        }
    }
    let folder = options.out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !folder.is_dir() {
        bail!("the folder of --out ({}) does not exist; create it first", folder.display());
    }
    Ok(())
}

/// The private key's file: beside the settings file.
fn key_path(out: &Path) -> PathBuf {
    out.with_extension("private-key.pem")
}

struct Flow {
    form_action: String,
    manifest: String,
    state: String,
    api_url: String,
    out: PathBuf,
    http: octocrab::Octocrab,
    done: Mutex<Option<tokio::sync::oneshot::Sender<Result<Created>>>>,
}

/// Serves the page until GitHub sends the browser back, then writes the
/// credentials. `on_ready` gets the page's URL to open.
pub async fn create(options: CreateOptions, on_ready: impl FnOnce(&str)) -> Result<Created> {
    check_options(&options)?;
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .with_context(|| format!("cannot listen on {}; choose another --listen", options.listen))?;
    let address = listener.local_addr()?;
    let page = format!("http://{address}/");
    let redirect = format!("http://{address}/created");
    let state = hex::encode(rand::random::<[u8; 16]>());
    let web = options.web_url.trim_end_matches('/');
    let form_action = match &options.organization {
        Some(org) => format!("{web}/organizations/{org}/settings/apps/new?state={state}"),
        None => format!("{web}/settings/apps/new?state={state}"),
    };
    let http = octocrab::Octocrab::builder()
        .set_connect_timeout(Some(std::time::Duration::from_secs(10)))
        .set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .build()
        .context("cannot build the HTTP client")?;
    let (done, result) = tokio::sync::oneshot::channel();
    let flow = Arc::new(Flow {
        form_action,
        manifest: manifest(&options, &redirect)?.to_string(),
        state,
        api_url: options.api_url.trim_end_matches('/').to_string(),
        out: options.out.clone(),
        http,
        done: Mutex::new(Some(done)),
    });
    let router = axum::Router::new().route("/", get(start_page)).route("/created", get(created_page)).with_state(flow);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    on_ready(&page);
    let created = result.await.context("the setup page stopped before GitHub sent the browser back")?;
    let _ = stop.send(());
    let _ = server.await;
    created
}

async fn start_page(State(flow): State<Arc<Flow>>) -> Html<String> {
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Create the precis GitHub App</title></head>\n\
         <body onload=\"document.forms[0].submit()\">\n\
         <h1>Create the precis GitHub App</h1>\n\
         <p>Sending you to GitHub to create the App from its manifest…</p>\n\
         <form method=\"post\" action=\"{}\">\n\
         <input type=\"hidden\" name=\"manifest\" value=\"{}\">\n\
         <button type=\"submit\">Create the App on GitHub</button>\n\
         </form></body></html>\n",
        html_escape(&flow.form_action),
        html_escape(&flow.manifest)
    ))
}

#[derive(Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
}

async fn created_page(State(flow): State<Arc<Flow>>, Query(callback): Query<Callback>) -> Html<String> {
    if callback.state.as_deref() != Some(flow.state.as_str()) {
        // Not the browser GitHub sent back: ignore, keep waiting.
        return Html(page("Not this App", "This link does not belong to the App being created; nothing was done."));
    }
    let outcome = match callback.code.as_deref() {
        Some(code)
            if !code.is_empty()
                && code.len() <= 100
                && code.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
        {
            convert(&flow, code).await
        }
        _ => Err(anyhow::anyhow!("GitHub sent the browser back without a valid code; run `precis app create` again")),
    };
    let html = match &outcome {
        Ok(created) => page(
            "The App is created",
            &format!(
                "Its settings are in {} (the private key in {}). Install it on your repositories: <a href=\"{}/installations/new\">{}/installations/new</a>. You can close this tab.",
                html_escape(&created.settings_file.display().to_string()),
                html_escape(&created.key_file.display().to_string()),
                html_escape(&created.html_url),
                html_escape(&created.html_url)
            ),
        ),
        Err(err) => page("The App was not created", &html_escape(&format!("{err:#}"))),
    };
    if let Some(done) = flow.done.lock().unwrap_or_else(|p| p.into_inner()).take() {
        let _ = done.send(outcome);
    }
    Html(html)
}

fn page(title: &str, body: &str) -> String {
    format!("<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head><body><h1 id=\"title\">{title}</h1><p>{body}</p></body></html>\n")
}

#[derive(Deserialize)]
struct Conversion {
    id: u64,
    slug: String,
    html_url: String,
    pem: String,
    webhook_secret: Option<String>,
}

/// Trades the one-time code for the App's credentials and writes them.
async fn convert(flow: &Flow, code: &str) -> Result<Created> {
    let path = format!("/app-manifests/{code}/conversions");
    let request = http::Request::builder()
        .method("POST")
        .uri(format!("{}{path}", flow.api_url))
        .header(http::header::ACCEPT, "application/vnd.github+json")
        .header("X-GitHub-Api-Version", "2022-11-28")
        .header(http::header::USER_AGENT, concat!("precis/", env!("CARGO_PKG_VERSION")))
        .body(String::new())
        .context("cannot build the conversion request")?;
    let response = flow
        .http
        .execute(request)
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach GitHub at {}: {e}", flow.api_url))?;
    let status = response.status();
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .map_err(|e| anyhow::anyhow!("GitHub's answer broke off: {e}"))?
        .to_bytes();
    if !status.is_success() {
        bail!("GitHub refused the code ({status}); codes last one hour and work once: run `precis app create` again");
    }
    let conversion: Conversion = serde_json::from_slice(&body)
        .context("GitHub's answer to the code is not the App's credentials; run `precis app create` again")?;
    let secret = conversion.webhook_secret.filter(|s| !s.trim().is_empty()).context(
        "GitHub created the App without a webhook secret; set one in the App's settings and in PRECIS_WEBHOOK_SECRET",
    )?;
    let key_file = absolute(&key_path(&flow.out));
    write_private(&key_file, conversion.pem.as_bytes())?;
    let settings = format!(
        "# The GitHub App `{}` ({}), made by `precis app create`.\n\
         # precis serve reads these variables: `set -a; . {}; set +a; precis serve`, or `docker run --env-file`.\n\
         PRECIS_APP_ID={}\nPRECIS_PRIVATE_KEY={}\nPRECIS_WEBHOOK_SECRET={}\n",
        conversion.slug,
        conversion.html_url,
        flow.out.display(),
        conversion.id,
        key_file.display(),
        secret
    );
    write_private(&flow.out, settings.as_bytes())?;
    Ok(Created {
        id: conversion.id,
        slug: conversion.slug,
        html_url: conversion.html_url,
        settings_file: flow.out.clone(),
        key_file,
    })
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// A new file only its owner can read or write; never replaces one.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file =
        std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).with_context(|| {
            format!("cannot create {}; choose a writable --out that does not exist yet", path.display())
        })?;
    file.write_all(bytes).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(out: PathBuf) -> CreateOptions {
        CreateOptions {
            web_url: "https://github.com".into(),
            api_url: "https://api.github.com".into(),
            organization: None,
            name: "precis".into(),
            webhook_url: "https://precis.example.com/webhook".into(),
            listen: "127.0.0.1:0".parse().unwrap(),
            out,
        }
    }

    #[test]
    fn the_manifest_has_a_permission_for_every_event_it_subscribes_to() {
        let manifest = manifest(&options("x.env".into()), "http://127.0.0.1:1/created").unwrap();
        let permissions = manifest["default_permissions"].as_object().unwrap();
        for event in manifest["default_events"].as_array().unwrap() {
            let event = event.as_str().unwrap();
            let (_, needed) = EVENT_PERMISSIONS
                .iter()
                .find(|(e, _)| *e == event)
                .unwrap_or_else(|| panic!("{event}: which permission GitHub needs for it is not known"));
            assert!(permissions.contains_key(*needed), "{event} needs the {needed} permission");
        }
        assert_eq!(manifest["redirect_url"], "http://127.0.0.1:1/created");
        assert_eq!(manifest["hook_attributes"]["url"], "https://precis.example.com/webhook");
    }

    #[test]
    fn an_existing_settings_file_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("app.env");
        std::fs::write(&out, "keep").unwrap();
        let err = check_options(&options(out.clone())).unwrap_err().to_string();
        assert!(err.contains("already exists"), "{err}");
        assert_eq!(std::fs::read_to_string(out).unwrap(), "keep");
    }

    #[test]
    fn the_page_escapes_what_it_embeds() {
        assert_eq!(html_escape(r#"{"a":"<b>&'"}"#), "{&quot;a&quot;:&quot;&lt;b&gt;&amp;&#39;&quot;}");
    }
}
