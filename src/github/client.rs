//! REST calls to GitHub (or GitHub Enterprise Server, or a fake in tests)
//! through octocrab's client: App JWT → installation tokens, cached and
//! renewed before they expire; retries with backoff on 5xx and rate limits,
//! honouring `Retry-After` up to [`MAX_RETRY_AFTER`]; writes one at a time,
//! spaced apart.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context, Result};
use http_body_util::BodyExt;
use serde_json::Value;

/// A GitHub token. It prints as `***`: tokens never reach logs or errors.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    pub fn new(token: impl Into<String>) -> Token {
        Token(token.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(***)")
    }
}

/// A GitHub App's id and private key.
pub struct AppCredentials {
    app_id: u64,
    key: jsonwebtoken::EncodingKey,
}

impl AppCredentials {
    /// `pem` is the PEM text of the App's private key (RSA).
    pub fn new(app_id: u64, pem: &str) -> Result<AppCredentials> {
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|_| {
            anyhow!("the private key is not an RSA key in PEM form; download a new one from the App's settings page")
        })?;
        Ok(AppCredentials { app_id, key })
    }

    /// A JWT that authenticates as the App: RS256, issued 60 s in the past
    /// (clock drift), expiring in 9 minutes (GitHub allows at most 10).
    pub fn jwt(&self) -> Result<String> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let claims = serde_json::json!({"iat": now - 60, "exp": now + 9 * 60, "iss": self.app_id.to_string()});
        jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256), &claims, &self.key)
            .map_err(|e| anyhow!("cannot sign the App JWT: {e}"))
    }
}

/// Called with the method and latency of every request.
type Observer = Box<dyn Fn(&str, Duration) + Send + Sync>;

/// Renew an installation token when it has less than this left.
const RENEW_BEFORE: Duration = Duration::from_secs(5 * 60);
const ATTEMPTS: u32 = 5;
/// The longest `Retry-After` waited out in place. A longer one fails the
/// request at once (a transient error: the App's job goes back to its queue
/// with the queue's own backoff) instead of holding a worker for hours.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(10 * 60);

/// The login of the Actions bot, whose comments a workflow's token writes.
const ACTIONS_BOT: &str = "github-actions[bot]";

/// One repository's installation token and when it expires; its lock is
/// held while the token is asked for, so one repository waits only for its
/// own request, never another installation's.
type TokenSlot = std::sync::Arc<tokio::sync::Mutex<Option<(Token, SystemTime)>>>;

pub struct GitHub {
    api: String,
    http: octocrab::Octocrab,
    app: Option<AppCredentials>,
    tokens: std::sync::Mutex<HashMap<(u64, String), TokenSlot>>,
    /// The login precis comments under, learnt once (see [`GitHub::own_login`]).
    own_login: tokio::sync::OnceCell<String>,
    /// When the last write went out; held while a write is in flight.
    last_write: tokio::sync::Mutex<Option<Instant>>,
    write_gap: Duration,
    /// First wait after a server error; doubles each retry.
    backoff: Duration,
    /// Wait after a rate limit that names no time.
    rate_limit_wait: Duration,
    observe: Option<Observer>,
}

/// GitHub refused a request, or could not be reached (`status` is `None` then).
#[derive(Debug, thiserror::Error)]
#[error("{detail}")]
pub struct GitHubError {
    pub status: Option<u16>,
    /// A rate limit (429, or a 403 that says so) that outlasted the waits.
    rate_limited: bool,
    detail: String,
}

impl GitHubError {
    /// The HTTP status of a failed GitHub call, if the error is one.
    pub fn status_of(err: &anyhow::Error) -> Option<u16> {
        err.downcast_ref::<GitHubError>().and_then(|e| e.status)
    }

    /// Whether trying again later may succeed: GitHub unreachable, a 5xx, a rate limit.
    pub fn is_transient(&self) -> bool {
        self.rate_limited || matches!(self.status, None | Some(500..=599))
    }
}

fn refused(status: u16, rate_limited: bool, detail: String) -> anyhow::Error {
    GitHubError { status: Some(status), rate_limited, detail }.into()
}

/// A successful answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl GitHub {
    /// `api` is the REST root: `https://api.github.com`, or
    /// `https://HOST/api/v3` for GitHub Enterprise Server.
    /// Needs a Tokio runtime (the HTTP client starts a task in it).
    pub fn new(api: &str, app: Option<AppCredentials>) -> Result<GitHub> {
        let api = Self::check_api_url(api)?;
        // A stalled GitHub must not hold a worker forever.
        let http = octocrab::Octocrab::builder()
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(Duration::from_secs(60)))
            .set_write_timeout(Some(Duration::from_secs(60)))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(GitHub {
            api,
            http,
            app,
            tokens: Default::default(),
            own_login: Default::default(),
            last_write: Default::default(),
            write_gap: Duration::from_secs(1),
            backoff: Duration::from_secs(1),
            rate_limit_wait: Duration::from_secs(60),
            observe: None,
        })
    }

    /// The API root without a trailing slash, or why it is not a URL.
    pub fn check_api_url(api: &str) -> Result<String> {
        let api = api.trim_end_matches('/').to_string();
        api.parse::<http::Uri>().ok().filter(|u| u.scheme().is_some() && u.host().is_some()).with_context(|| {
            format!("GitHub API URL `{api}` is not a URL; use https://api.github.com or https://HOST/api/v3")
        })?;
        Ok(api)
    }

    /// Spacing of writes and waits after failures (tests shorten them).
    pub fn with_timing(mut self, write_gap: Duration, backoff: Duration, rate_limit_wait: Duration) -> GitHub {
        (self.write_gap, self.backoff, self.rate_limit_wait) = (write_gap, backoff, rate_limit_wait);
        self
    }

    /// Called with the method and latency of every request (metrics).
    pub fn observe(mut self, observe: impl Fn(&str, Duration) + Send + Sync + 'static) -> GitHub {
        self.observe = Some(Box::new(observe));
        self
    }

    pub fn api(&self) -> &str {
        &self.api
    }

    /// An installation token for one repository of the installation, with
    /// only the permissions precis uses; from the cache while it has time left.
    pub async fn installation_token(&self, installation: u64, repository: &str) -> Result<Token> {
        let slot = {
            let mut tokens = self.tokens.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            tokens.entry((installation, repository.to_string())).or_default().clone()
        };
        let mut slot = slot.lock().await;
        if let Some((token, expires)) = &*slot {
            if expires.duration_since(SystemTime::now()).unwrap_or_default() > RENEW_BEFORE {
                return Ok(token.clone());
            }
        }
        let jwt = self.app_jwt()?;
        #[derive(serde::Deserialize)]
        struct InstallationToken {
            token: String,
            expires_at: Option<String>,
        }
        let narrowed = serde_json::json!({
            "repositories": [repository],
            "permissions": {"contents": "read", "metadata": "read", "pull_requests": "write", "checks": "write"},
        });
        let reply = self
            .send_spaced(
                &jwt,
                "POST",
                &format!("/app/installations/{installation}/access_tokens"),
                Some(&narrowed),
                false,
            )
            .await?;
        let answer: InstallationToken =
            serde_json::from_value(reply.body).context("GitHub's installation token answer has no token")?;
        let expires = answer
            .expires_at
            .and_then(|t| humantime::parse_rfc3339_weak(&t).ok())
            .unwrap_or_else(|| SystemTime::now() + Duration::from_secs(3600));
        let token = Token::new(answer.token);
        *slot = Some((token.clone(), expires));
        Ok(token)
    }

    fn app_jwt(&self) -> Result<Token> {
        let app = self.app.as_ref().context("no GitHub App credentials; set PRECIS_APP_ID and PRECIS_PRIVATE_KEY")?;
        Ok(Token::new(app.jwt()?))
    }

    /// The login precis's own comments carry: the App's bot (`SLUG[bot]`,
    /// the slug from `GET /app`, asked once) with App credentials; without
    /// them (the Action, on a workflow's token) the Actions bot.
    pub async fn own_login(&self) -> Result<&str> {
        if self.app.is_none() {
            return Ok(ACTIONS_BOT);
        }
        let login = self
            .own_login
            .get_or_try_init(|| async {
                #[derive(serde::Deserialize)]
                struct App {
                    slug: String,
                }
                let app: App = self.get(&self.app_jwt()?, "/app").await?;
                Ok::<_, anyhow::Error>(format!("{}[bot]", app.slug))
            })
            .await?;
        Ok(login)
    }

    /// A GET whose answer is read as `T` (only the fields precis uses).
    pub async fn get<T: serde::de::DeserializeOwned>(&self, token: &Token, path: &str) -> Result<T> {
        let body = self.send(token, "GET", path, None).await?.body;
        serde_json::from_value(body)
            .with_context(|| format!("GitHub's answer to GET {path} is not what precis expects"))
    }

    /// Sends a request, retrying server errors and rate limits; other
    /// failures are one-line errors with GitHub's message.
    pub async fn send(&self, token: &Token, method: &str, path: &str, body: Option<&Value>) -> Result<Reply> {
        self.send_spaced(token, method, path, body, method != "GET").await
    }

    /// [`GitHub::send`]; `write`: one at a time, spaced apart (what writes
    /// to repositories need; a token exchange does not, and must not wait
    /// behind another installation's).
    async fn send_spaced(
        &self,
        token: &Token,
        method: &str,
        path: &str,
        body: Option<&Value>,
        write: bool,
    ) -> Result<Reply> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let answer = if write {
                let mut last = self.last_write.lock().await;
                if let Some(at) = *last {
                    tokio::time::sleep(self.write_gap.saturating_sub(at.elapsed())).await;
                }
                let answer = self.request(token, method, path, body).await;
                *last = Some(Instant::now());
                answer
            } else {
                self.request(token, method, path, body).await
            };
            let (status, headers, text) = match answer {
                Ok(answer) => answer,
                // A dropped connection is as transient as a 502.
                Err(detail) if attempt < ATTEMPTS => {
                    let wait = self.backoff * 2u32.pow(attempt - 1);
                    tracing::warn!("{detail}; retrying in {} s", wait.as_secs_f64());
                    tokio::time::sleep(wait).await;
                    continue;
                }
                Err(detail) => return Err(GitHubError { status: None, rate_limited: false, detail }.into()),
            };
            let parsed: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            if (200..300).contains(&status) {
                return Ok(Reply { status, body: parsed });
            }
            let message = parsed["message"].as_str().unwrap_or("").to_string();
            let retry_after =
                headers.get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
            let rate_limited = status == 429
                || (status == 403
                    && (retry_after.is_some()
                        || headers.get("x-ratelimit-remaining").is_some_and(|v| v == "0")
                        || message.to_lowercase().contains("rate limit")));
            let retry_after = retry_after.map(Duration::from_secs);
            let wait = match (rate_limited, status) {
                (true, _) => retry_after.unwrap_or(self.rate_limit_wait),
                (false, 500..=599) => retry_after.unwrap_or(self.backoff * 2u32.pow(attempt - 1)),
                _ => {
                    let message = if message.is_empty() { "no message" } else { &message };
                    return Err(refused(
                        status,
                        false,
                        format!("GitHub answered {status} to {method} {path}: {message}"),
                    ));
                }
            };
            if wait > MAX_RETRY_AFTER {
                return Err(refused(
                    status,
                    rate_limited,
                    format!(
                        "GitHub answered {status} to {method} {path} and asks to wait {} s, longer than precis waits ({} s): {message}",
                        wait.as_secs(),
                        MAX_RETRY_AFTER.as_secs()
                    ),
                ));
            }
            if attempt >= ATTEMPTS {
                return Err(refused(
                    status,
                    rate_limited,
                    format!("GitHub answered {status} to {method} {path} {ATTEMPTS} times; giving up: {message}"),
                ));
            }
            tracing::warn!("GitHub answered {status} to {method} {path}; retrying in {} s", wait.as_secs_f64());
            tokio::time::sleep(wait).await;
        }
    }

    /// One exchange; the error is a line saying why no answer came.
    async fn request(
        &self,
        token: &Token,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, http::HeaderMap, String), String> {
        let request = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.api))
            .header(http::header::AUTHORIZATION, format!("Bearer {}", token.expose()))
            .header(http::header::ACCEPT, "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .header(http::header::USER_AGENT, concat!("precis/", env!("CARGO_PKG_VERSION")));
        let request = match body {
            Some(body) => request.header(http::header::CONTENT_TYPE, "application/json").body(body.to_string()),
            None => request.body(String::new()),
        }
        .map_err(|e| format!("cannot build the request {method} {path}: {e}"))?;
        let start = Instant::now();
        let response =
            self.http.execute(request).await.map_err(|e| format!("cannot reach GitHub for {method} {path}: {e}"))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("GitHub's answer to {method} {path} broke off: {e}"))?;
        if let Some(observe) = &self.observe {
            observe(method, start.elapsed());
        }
        Ok((status, headers, String::from_utf8_lossy(&bytes.to_bytes()).into_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_never_print() {
        let token = Token::new("ghs_secret");
        assert_eq!(format!("{token:?}"), "Token(***)");
    }
}
