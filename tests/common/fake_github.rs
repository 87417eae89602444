//! A fake GitHub REST API on loopback: enough of it for precis's calls, with
//! state (comments, check runs), a record of every request, and failures to
//! inject (status and Retry-After) for the retry tests.

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
    /// Comments by people (issue number, comment id, body): listed, never precis's.
    pub foreign_comments: Vec<(u64, u64, String)>,
    pub check_runs: HashMap<u64, Value>,
    pub pulls: HashMap<u64, Value>,
    /// Permission of every user: "write" unless set.
    pub permission: Option<String>,
    /// (method, path fragment, status, Retry-After, times left)
    pub failures: Vec<(String, String, u16, Option<u64>, usize)>,
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
            async move { handle(&state, method, uri, headers, body) }
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

fn handle(state: &Mutex<State>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let mut state = state.lock().unwrap();
    let path = uri.path().to_string();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    state.requests.push(Recorded { method: method.to_string(), path: path.clone(), body: body.clone(), authorization });
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
        ("POST", ["app", "installations", _, "access_tokens"]) => {
            ok(StatusCode::CREATED, json!({"token": "ghs_faketoken", "expires_at": "2099-01-01T00:00:00Z"}))
        }
        ("GET", ["repos", _, _, "issues", number, "comments"]) => {
            let number: u64 = number.parse().unwrap();
            let people = state
                .foreign_comments
                .iter()
                .filter(|c| c.0 == number)
                .map(|c| json!({"id": c.1, "body": c.2, "user": {"login": "octocat", "type": "User"}}));
            let list: Vec<Value> = people
                .chain(
                    state
                        .comments
                        .iter()
                        .filter(|c| c.0 == number)
                        .map(|c| json!({"id": c.1, "body": c.2, "user": {"login": "precis[bot]", "type": "Bot"}})),
                )
                .collect();
            ok(StatusCode::OK, Value::Array(list))
        }
        ("POST", ["repos", _, _, "issues", number, "comments"]) => {
            let text = body["body"].as_str().unwrap_or("").to_string();
            state.comments.push((number.parse().unwrap(), id, text));
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
