//! A fake GitHub REST API on loopback: enough of it for precis's calls, with
//! state (comments, check runs, pull requests), a record of every request,
//! and failures to inject (status and Retry-After, or no answer at all) for
//! the retry tests. Comments are paged as GitHub pages them, oldest first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub body: Value,
    pub authorization: String,
}

#[derive(Default)]
pub struct State {
    pub requests: Vec<Recorded>,
    /// (issue number, comment id, body)
    pub comments: Vec<(u64, u64, String)>,
    /// Who wrote each of `comments`: the App's bot when its installation
    /// token posted it, else the Actions bot (a workflow's token).
    pub comment_authors: HashMap<u64, String>,
    /// Comments by others (issue number, comment id, body, login; a login
    /// ending in `[bot]` is a bot's), listed before `comments`.
    pub foreign_comments: Vec<(u64, u64, String, String)>,
    pub check_runs: HashMap<u64, Value>,
    pub pulls: HashMap<u64, Value>,
    /// Permission of every user: "write" unless set.
    pub permission: Option<String>,
    /// (method, path fragment, status, Retry-After, times left)
    pub failures: Vec<(String, String, u16, Option<u64>, usize)>,
    /// (method, path fragment): such a request is recorded and never answered.
    pub stalls: Vec<(String, String)>,
    next_id: u64,
}

pub struct FakeGitHub {
    pub url: String,
    pub state: Arc<Mutex<State>>,
    _server: tokio::task::JoinHandle<()>,
}

impl FakeGitHub {
    pub async fn start() -> FakeGitHub {
        let state = Arc::new(Mutex::new(State { next_id: 1000, ..Default::default() }));
        let shared = state.clone();
        let app = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let state = shared.clone();
            async move {
                match handle(&state, method, uri, headers, body) {
                    Some(response) => response,
                    None => std::future::pending().await,
                }
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeGitHub { url, state, _server: server }
    }

    pub fn fail(&self, method: &str, path_fragment: &str, status: u16, retry_after: Option<u64>, times: usize) {
        self.state.lock().unwrap().failures.push((method.into(), path_fragment.into(), status, retry_after, times));
    }

    /// Requests of `method` whose path contains `path_fragment` get no answer from now on.
    pub fn stall(&self, method: &str, path_fragment: &str) {
        self.state.lock().unwrap().stalls.push((method.into(), path_fragment.into()));
    }

    /// Pull request `number` as GitHub would answer for it, with its head and base.
    pub fn set_pull(&self, number: u64, head: &str, base: &str) {
        let pull = json!({"number": number, "state": "open", "head": {"sha": head}, "base": {"sha": base}});
        self.state.lock().unwrap().pulls.insert(number, pull);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn count(&self, method: &str, fragment: &str) -> usize {
        self.requests().iter().filter(|r| r.method == method && r.path.contains(fragment)).count()
    }

    pub fn comments(&self) -> Vec<(u64, u64, String)> {
        self.state.lock().unwrap().comments.clone()
    }

    pub fn check_runs(&self) -> HashMap<u64, Value> {
        self.state.lock().unwrap().check_runs.clone()
    }
}

/// The installation token the fake hands out: what it writes is the App's bot's.
const INSTALLATION_TOKEN: &str = "ghs_faketoken";

/// The answer to one request; `None` for a stalled one (never answered).
fn handle(state: &Mutex<State>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Option<Response> {
    let mut state = state.lock().unwrap();
    let path = uri.path().to_string();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    state.requests.push(Recorded {
        method: method.to_string(),
        path: path.clone(),
        body: body.clone(),
        authorization: authorization.clone(),
    });
    if state.stalls.iter().any(|(m, fragment)| m == method.as_str() && path.contains(fragment)) {
        return None;
    }
    Some(answer(&mut state, method, &uri, &authorization, body))
}

fn answer(state: &mut State, method: Method, uri: &Uri, authorization: &str, body: Value) -> Response {
    let path = uri.path().to_string();
    if let Some(failure) = state.failures.iter_mut().find(|f| f.0 == method.as_str() && path.contains(&f.1) && f.4 > 0)
    {
        failure.4 -= 1;
        let mut response =
            (StatusCode::from_u16(failure.2).unwrap(), axum::Json(json!({"message": "injected failure"})))
                .into_response();
        if let Some(seconds) = failure.3 {
            response.headers_mut().insert("retry-after", seconds.to_string().parse().unwrap());
        }
        return response;
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    state.next_id += 1;
    let id = state.next_id;
    let ok = |status: StatusCode, value: Value| (status, axum::Json(value)).into_response();
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["app"]) => ok(StatusCode::OK, json!({"id": 1, "slug": "precis", "name": "precis"})),
        ("POST", ["app", "installations", _, "access_tokens"]) => {
            ok(StatusCode::CREATED, json!({"token": INSTALLATION_TOKEN, "expires_at": "2099-01-01T00:00:00Z"}))
        }
        ("GET", ["repos", _, _, "issues", number, "comments"]) => {
            let number: u64 = number.parse().unwrap();
            let user = |login: &str| {
                let kind = if login.ends_with("[bot]") { "Bot" } else { "User" };
                json!({"login": login, "type": kind})
            };
            let others = state
                .foreign_comments
                .iter()
                .filter(|c| c.0 == number)
                .map(|c| json!({"id": c.1, "body": c.2, "user": user(&c.3)}));
            let own = state.comments.iter().filter(|c| c.0 == number).map(|c| {
                let author = state.comment_authors.get(&c.1).map_or("precis[bot]", String::as_str);
                json!({"id": c.1, "body": c.2, "user": user(author)})
            });
            let query = |name: &str| -> Option<usize> {
                uri.query()?.split('&').find_map(|pair| pair.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
            };
            let (per_page, page) = (query("per_page").unwrap_or(30), query("page").unwrap_or(1));
            let list: Vec<Value> = others.chain(own).skip(per_page * (page.max(1) - 1)).take(per_page).collect();
            ok(StatusCode::OK, Value::Array(list))
        }
        ("POST", ["repos", _, _, "issues", number, "comments"]) => {
            let text = body["body"].as_str().unwrap_or("").to_string();
            state.comments.push((number.parse().unwrap(), id, text));
            let author = if authorization == format!("Bearer {INSTALLATION_TOKEN}") {
                "precis[bot]"
            } else {
                "github-actions[bot]"
            };
            state.comment_authors.insert(id, author.into());
            ok(StatusCode::CREATED, json!({"id": id}))
        }
        ("PATCH", ["repos", _, _, "issues", "comments", comment]) => {
            let comment: u64 = comment.parse().unwrap();
            let text = body["body"].as_str().unwrap_or("").to_string();
            match state.comments.iter_mut().find(|c| c.1 == comment) {
                Some(found) => {
                    found.2 = text;
                    ok(StatusCode::OK, json!({"id": comment}))
                }
                None => ok(StatusCode::NOT_FOUND, json!({"message": "Not Found"})),
            }
        }
        ("POST", ["repos", _, _, "check-runs"]) => {
            state.check_runs.insert(id, body.clone());
            ok(StatusCode::CREATED, json!({"id": id}))
        }
        ("PATCH", ["repos", _, _, "check-runs", run]) => {
            let run: u64 = run.parse().unwrap();
            let Some(existing) = state.check_runs.get_mut(&run) else {
                return ok(StatusCode::NOT_FOUND, json!({"message": "Not Found"}));
            };
            for (key, value) in body.as_object().unwrap() {
                existing[key] = value.clone();
            }
            ok(StatusCode::OK, json!({"id": run}))
        }
        ("GET", ["repos", _, _, "commits", sha, "check-runs"]) => {
            let name = uri
                .query()
                .and_then(|q| q.split('&').find_map(|pair| pair.strip_prefix("check_name=")))
                .map(str::to_string);
            let runs: Vec<Value> = state
                .check_runs
                .iter()
                .filter(|(_, run)| run["head_sha"] == *sha && name.as_deref().is_none_or(|name| run["name"] == name))
                .map(|(id, run)| {
                    let mut run = run.clone();
                    run["id"] = json!(id);
                    run
                })
                .collect();
            ok(StatusCode::OK, json!({"total_count": runs.len(), "check_runs": runs}))
        }
        ("GET", ["repos", _, _, "pulls", number]) => match state.pulls.get(&number.parse::<u64>().unwrap()) {
            Some(pull) => ok(StatusCode::OK, pull.clone()),
            None => ok(StatusCode::NOT_FOUND, json!({"message": "Not Found"})),
        },
        ("GET", ["repos", _, _, "collaborators", _, "permission"]) => {
            ok(StatusCode::OK, json!({"permission": state.permission.clone().unwrap_or_else(|| "write".into())}))
        }
        _ => ok(StatusCode::NOT_FOUND, json!({"message": format!("fake GitHub has no {method} {path}")})),
    }
}
