//! The hub connection: [`Client`] and its builder, authenticated requests,
//! and HTTP statuses mapped to [`Error`]. Every request the crate makes is
//! built here ([`Client::request`]); the operations live in `client`,
//! `admin`, `worker` and `stream`.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tubemail_core::api::Reply;

use crate::error::{Error, Result};

/// The hub URL when none is configured.
pub const DEFAULT_HUB_URL: &str = "http://localhost:8004";

/// A handle on one hub; cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    pub(crate) base: String,
    pub(crate) secret: String,
    pub(crate) http: reqwest::Client,
    /// For streams and long waits: no overall timeout.
    pub(crate) long: reqwest::Client,
}

/// Builds a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    url: String,
    secret: Option<String>,
    timeout: Duration,
}

impl ClientBuilder {
    /// The hub's base URL (default [`DEFAULT_HUB_URL`]).
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = url.into();
        self
    }

    /// The bearer secret.
    pub fn secret(mut self, secret: impl Into<String>) -> Self {
        self.secret = Some(secret.into());
        self
    }

    /// Timeout of ordinary requests (default 30 s; streams have none).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<Client> {
        let secret = self
            .secret
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| Error::Config("no secret (set TUBEMAIL_SECRET)".into()))?;
        let base = self.url.trim().trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Error::Config(format!(
                "hub URL must start with http:// or https://, not {base:?}"
            )));
        }
        let build = |timeout: Option<Duration>| {
            let mut b = reqwest::Client::builder()
                .tcp_nodelay(true)
                .connect_timeout(Duration::from_secs(10));
            if let Some(t) = timeout {
                b = b.timeout(t);
            }
            b.build()
                .map_err(|e| Error::Config(format!("HTTP client: {e}")))
        };
        Ok(Client {
            base,
            secret: secret.trim().to_owned(),
            http: build(Some(self.timeout))?,
            long: build(None)?,
        })
    }
}

/// Percent-encodes a path segment (names allow spaces).
pub(crate) fn seg(name: &str) -> String {
    name.replace('%', "%25").replace(' ', "%20")
}

/// The hub's `detail` (a message, or FastAPI-style list), else the body.
fn detail(body: &str) -> String {
    match serde_json::from_str::<Value>(body) {
        Ok(v) => match &v["detail"] {
            Value::String(s) => s.clone(),
            Value::Null => body.to_owned(),
            other => other.to_string(),
        },
        Err(_) => body.to_owned(),
    }
}

/// Maps an HTTP status and body to a typed error.
pub(crate) fn status_error(status: StatusCode, body: &str) -> Error {
    let d = detail(body);
    match status.as_u16() {
        401 => Error::Unauthorized(d),
        404 => Error::NotFound(d),
        400 | 413 | 422 => Error::BadRequest(d),
        s => Error::Server {
            status: s,
            detail: d,
        },
    }
}

impl Client {
    /// A builder with the defaults.
    pub fn builder() -> ClientBuilder {
        ClientBuilder {
            url: DEFAULT_HUB_URL.into(),
            secret: None,
            timeout: Duration::from_secs(30),
        }
    }

    /// From `TUBEMAIL_HUB_URL` (empty = default) and the credential:
    /// `TUBEMAIL_TOKEN` (a scoped token: a worker's, an operator's, or
    /// read-only) when set, else `TUBEMAIL_SECRET`. It reads no `.env` file
    /// and no data dir: [`local::Env`](crate::local::Env) does.
    pub fn from_env() -> Result<Client> {
        let mut b = Client::builder();
        if let Ok(url) = std::env::var("TUBEMAIL_HUB_URL")
            && !url.trim().is_empty()
        {
            b = b.url(url);
        }
        let token = std::env::var("TUBEMAIL_TOKEN")
            .ok()
            .filter(|t| !t.trim().is_empty());
        if let Some(token) = token {
            b = b.secret(token.trim());
        } else if let Ok(secret) = std::env::var("TUBEMAIL_SECRET") {
            b = b.secret(secret);
        }
        b.build()
    }

    /// The hub's base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
        long: bool,
    ) -> Result<T> {
        let (mut req, url) = self.request(method, path, long);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|source| Error::Unreachable {
            url: url.clone(),
            source,
        })?;
        let status = resp.status();
        let text = resp.text().await.map_err(|source| Error::Unreachable {
            url: url.clone(),
            source,
        })?;
        if !status.is_success() {
            return Err(status_error(status, &text));
        }
        serde_json::from_str(&text).map_err(|e| Error::Decode(format!("{path}: {e}")))
    }

    pub(crate) async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.call(Method::GET, path, NO_BODY, false).await
    }

    /// A `POST` with an empty JSON object as its body (the operations that
    /// take no input).
    pub(crate) async fn post_empty<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.post(path, &Empty {}).await
    }

    pub(crate) async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &(impl Serialize + ?Sized),
    ) -> Result<T> {
        self.call(Method::POST, path, Some(body), false).await
    }

    /// An authenticated request to `path` (after the base URL), with the
    /// URL it goes to; `long`: the client without an overall timeout (for
    /// streams and long waits).
    pub(crate) fn request(
        &self,
        method: Method,
        path: &str,
        long: bool,
    ) -> (reqwest::RequestBuilder, String) {
        let url = format!("{}{path}", self.base);
        let client = if long { &self.long } else { &self.http };
        (client.request(method, &url).bearer_auth(&self.secret), url)
    }
}

/// No request body.
pub(crate) const NO_BODY: Option<&Empty> = None;

/// `{}`.
#[derive(Debug, serde::Serialize)]
pub(crate) struct Empty {}

/// The answer, or the original's soft error (`{"ok": false, "error": …}`
/// with HTTP 200) as [`Error::NotFound`] or [`Error::BadRequest`].
pub(crate) fn soft<T>(reply: Reply<T>) -> Result<T> {
    reply.into_result().map_err(|msg| {
        if msg.contains("not found") {
            Error::NotFound(msg)
        } else {
            Error::BadRequest(msg)
        }
    })
}
