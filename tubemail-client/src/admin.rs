//! The operator's housekeeping: scoped tokens, terminal recordings and
//! flow runs.

use reqwest::Method;

use tubemail_core::api::{RecordingToggle, Reply, RunFinished};
use tubemail_core::recording::{FramesResponse, RecordingStatus};
use tubemail_core::{Timestamp, WorkerName};

use crate::error::Result;
use crate::transport::{Client, NO_BODY, seg, soft};

pub use tubemail_core::api::{IssuedToken, TokenInfo, TokenKind, WhoAmI};
use tubemail_core::api::{RevokeResponse, TokenIssueRequest, TokensResponse};

/// Which recorded frames to read (all optional).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FramesFilter {
    /// ISO-8601 time or epoch seconds, inclusive.
    pub since: Option<String>,
    /// ISO-8601 time or epoch seconds, exclusive.
    pub until: Option<String>,
    /// A regular expression the frame's text must match.
    pub grep: Option<String>,
    /// At most this many (the hub clamps to 1–2000; default 200).
    pub limit: Option<u32>,
}

/// `k=v&…` of the given pairs, values percent-encoded.
fn query(pairs: &[(&str, Option<String>)]) -> String {
    let q: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", encode(v))))
        .collect();
    if q.is_empty() {
        String::new()
    } else {
        format!("?{}", q.join("&"))
    }
}

/// Percent-encodes everything but unreserved characters.
fn encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Client {
    /// Every issued token, revoked ones too (shared secret only: another
    /// credential gets [`Error::Server`](crate::Error::Server) 403).
    pub async fn tokens(&self) -> Result<Vec<TokenInfo>> {
        Ok(self.get::<TokensResponse>("/api/tokens").await?.tokens)
    }

    /// Issues a scoped token; a [`TokenKind::Worker`] token needs `worker`,
    /// the operator kinds take none ([`Error::BadRequest`](crate::Error::BadRequest) otherwise).
    pub async fn issue_token(
        &self,
        kind: TokenKind,
        worker: Option<&WorkerName>,
        label: &str,
    ) -> Result<IssuedToken> {
        let body = TokenIssueRequest {
            kind,
            worker: worker.map(|w| w.as_str().to_owned()),
            label: Some(label.to_owned()),
        };
        self.post("/api/tokens", &body).await
    }

    /// Revokes a token at once; `false` when it was revoked already
    /// ([`Error::NotFound`](crate::Error::NotFound) for an unknown id).
    pub async fn revoke_token(&self, id: &str) -> Result<bool> {
        let r: RevokeResponse = self
            .call(
                Method::DELETE,
                &format!("/api/tokens/{}", encode(id)),
                NO_BODY,
                false,
            )
            .await?;
        Ok(r.revoked)
    }

    /// Recording state and files of a worker.
    pub async fn recording(&self, w: &WorkerName) -> Result<RecordingStatus> {
        self.get(&format!("/api/workers/{}/recording", seg(w.as_str())))
            .await
    }

    /// Turns recording of a worker's terminal on or off
    /// ([`Error::NotFound`](crate::Error::NotFound) for a worker the hub does not know).
    pub async fn set_recording(&self, w: &WorkerName, enabled: bool) -> Result<RecordingStatus> {
        self.post(
            &format!("/api/workers/{}/recording", seg(w.as_str())),
            &RecordingToggle { enabled },
        )
        .await
    }

    /// Recorded text frames, oldest first.
    pub async fn recording_frames(
        &self,
        w: &WorkerName,
        filter: &FramesFilter,
    ) -> Result<FramesResponse> {
        let q = query(&[
            ("since", filter.since.clone()),
            ("until", filter.until.clone()),
            ("grep", filter.grep.clone()),
            ("limit", filter.limit.map(|l| l.to_string())),
        ]);
        self.get(&format!(
            "/api/workers/{}/recording/frames{q}",
            seg(w.as_str())
        ))
        .await
    }

    /// Marks a flow run finished; returns when ([`Error::NotFound`](crate::Error::NotFound) for an
    /// unknown run).
    pub async fn finish_run(&self, run_id: &str) -> Result<Timestamp> {
        let r: Reply<RunFinished> = self
            .post_empty(&format!("/api/flows/runs/{}/finish", encode(run_id)))
            .await?;
        Ok(soft(r)?.finished_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_encoded() {
        assert_eq!(query(&[("a", None)]), "");
        assert_eq!(
            query(&[
                ("grep", Some("a b&c=d/é".into())),
                ("limit", Some("5".into()))
            ]),
            "?grep=a%20b%26c%3Dd%2F%C3%A9&limit=5"
        );
    }

    #[test]
    fn an_issued_token_is_not_in_debug_output() {
        let t = IssuedToken {
            token: "tmt_abc_secretpart".into(),
            info: TokenInfo {
                id: "abc".into(),
                kind: TokenKind::Worker,
                worker: Some("a-tm".into()),
                label: String::new(),
                created_at: 0.0,
                last_used_at: None,
                revoked: false,
            },
        };
        assert!(!format!("{t:?}").contains("secretpart"));
        assert_eq!(
            serde_json::to_value(&t).ok().map(|v| v["kind"].clone()),
            Some(serde_json::Value::from("worker"))
        );
    }
}
