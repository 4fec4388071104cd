//! Scoped credentials: per-worker tokens, operator tokens and read-only
//! operator tokens, issued by the holder of the shared secret.
//!
//! A token reads `tmt_<id>_<secret>`: `id` (16 hex digits) finds the row,
//! `secret` is 32 random bytes (URL-safe base64). Only the SHA-256 of the
//! whole token is stored, and it is compared in constant time. Every row
//! is kept in memory (tokens are few); writes go through to the store.
//!
//! Each token has a [`Revocation`] signal: the guard hands it to every
//! request the token authenticates, and revoking the token fires it, which
//! ends the streams and WebSockets it opened at once.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use base64::Engine as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio_util::sync::CancellationToken;
use tubemail_core::engine::now;
use tubemail_core::store::{Store, StoreError, TokenRow};
use tubemail_core::{Timestamp, WorkerName};

/// Token prefix (tells a scoped token from the shared secret in logs and
/// configuration files).
const PREFIX: &str = "tmt_";
/// Seconds between saves of a token's last-use time.
const LAST_USED_RESOLUTION: f64 = 60.0;

pub use tubemail_core::api::{TokenInfo, TokenKind};

/// Who a request authenticated as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The shared secret: everything.
    Admin,
    /// A worker token: this worker and its manager.
    Worker {
        /// Token id.
        id: String,
        /// The worker.
        worker: WorkerName,
    },
    /// A read-only operator token.
    OperatorRo {
        /// Token id.
        id: String,
    },
    /// An operator token.
    Operator {
        /// Token id.
        id: String,
    },
}

impl Scope {
    /// The token id, `None` for the shared secret.
    pub fn token_id(&self) -> Option<&str> {
        match self {
            Scope::Admin => None,
            Scope::Worker { id, .. } | Scope::OperatorRo { id } | Scope::Operator { id } => {
                Some(id)
            }
        }
    }
}

/// Fires when the credential a request came with is revoked (never for
/// the shared secret). The guard puts it in each authenticated request's
/// extensions; streams and WebSockets end on it.
#[derive(Debug, Clone, Default)]
pub struct Revocation(CancellationToken);

impl Revocation {
    /// Whether the credential is revoked already.
    pub fn is_revoked(&self) -> bool {
        self.0.is_cancelled()
    }

    /// Completes when the credential is revoked.
    pub async fn revoked(&self) {
        self.0.cancelled().await;
    }

    /// Like [`Revocation::revoked`], owning the signal (for `take_until`).
    pub fn into_revoked(self) -> impl Future<Output = ()> + Send + 'static {
        self.0.cancelled_owned()
    }
}

/// Failure to issue or revoke.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// No randomness available.
    #[error("no randomness available")]
    Random,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The store task could not run.
    #[error("store task failed")]
    Join,
}

struct Entry {
    row: TokenRow,
    /// `last_used_at` as last saved.
    saved_last_used: Option<Timestamp>,
    /// Fired by [`Tokens::revoke`].
    revocation: CancellationToken,
}

impl Entry {
    fn new(row: TokenRow) -> Self {
        let revocation = CancellationToken::new();
        if row.revoked {
            revocation.cancel();
        }
        Entry {
            saved_last_used: row.last_used_at,
            row,
            revocation,
        }
    }
}

/// The token registry.
pub struct Tokens {
    store: Arc<dyn Store>,
    by_id: RwLock<HashMap<String, Entry>>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens").finish_non_exhaustive()
    }
}

fn digest(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn info(row: &TokenRow) -> Option<TokenInfo> {
    Some(TokenInfo {
        id: row.id.clone(),
        kind: TokenKind::parse(&row.kind)?,
        worker: row.worker.as_ref().map(|w| w.as_str().to_owned()),
        label: row.label.clone(),
        created_at: row.created_at,
        last_used_at: row.last_used_at,
        revoked: row.revoked,
    })
}

impl Tokens {
    /// Loads every stored token.
    pub fn load(store: Arc<dyn Store>) -> Result<Self, StoreError> {
        let by_id = store
            .tokens()?
            .into_iter()
            .map(|row| (row.id.clone(), Entry::new(row)))
            .collect();
        Ok(Tokens {
            store,
            by_id: RwLock::new(by_id),
        })
    }

    async fn save(&self, row: TokenRow) -> Result<(), TokenError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.put_token(&row))
            .await
            .map_err(|_| TokenError::Join)??;
        Ok(())
    }

    /// Issues a token; returns its description and the token (shown once).
    pub async fn issue(
        &self,
        kind: TokenKind,
        worker: Option<WorkerName>,
        label: String,
    ) -> Result<(TokenInfo, String), TokenError> {
        let mut id = [0u8; 8];
        let mut secret = [0u8; 32];
        getrandom::fill(&mut id).map_err(|_| TokenError::Random)?;
        getrandom::fill(&mut secret).map_err(|_| TokenError::Random)?;
        let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let token = format!(
            "{PREFIX}{id}_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
        );
        let row = TokenRow {
            id: id.clone(),
            hash: digest(&token),
            kind: kind.as_str().to_owned(),
            worker,
            label,
            created_at: now(),
            last_used_at: None,
            revoked: false,
        };
        self.save(row.clone()).await?;
        let info = info(&row).ok_or(TokenError::Join)?;
        self.by_id
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, Entry::new(row));
        tracing::info!(id = info.id, kind = kind.as_str(), worker = ?info.worker, "token issued");
        Ok((info, token))
    }

    /// Every token, oldest first (no secrets).
    pub fn list(&self) -> Vec<TokenInfo> {
        let map = self.by_id.read().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<TokenInfo> = map.values().filter_map(|e| info(&e.row)).collect();
        out.sort_by(|a, b| a.created_at.total_cmp(&b.created_at));
        out
    }

    /// Revokes `id` at once; `None` when there is no such token, else
    /// whether it was live until now.
    pub async fn revoke(&self, id: &str) -> Result<Option<bool>, TokenError> {
        let row = {
            let mut map = self.by_id.write().unwrap_or_else(|p| p.into_inner());
            let Some(entry) = map.get_mut(id) else {
                return Ok(None);
            };
            if entry.row.revoked {
                return Ok(Some(false));
            }
            entry.row.revoked = true;
            // In-flight streams of the token end now, before the store
            // write: revocation must not wait for the disk.
            entry.revocation.cancel();
            entry.row.clone()
        };
        tracing::info!(id, "token revoked");
        self.save(row).await?;
        Ok(Some(true))
    }

    /// The revocation signal of token `id`; an unknown id gets one that
    /// has fired already.
    pub fn revocation(&self, id: &str) -> Revocation {
        let map = self.by_id.read().unwrap_or_else(|p| p.into_inner());
        match map.get(id) {
            Some(entry) => Revocation(entry.revocation.clone()),
            None => {
                let gone = CancellationToken::new();
                gone.cancel();
                Revocation(gone)
            }
        }
    }

    /// The scope of a presented token, or `None` for an unknown, malformed
    /// or revoked one.
    pub fn authenticate(&self, token: &str) -> Option<Scope> {
        let (id, _) = token.strip_prefix(PREFIX)?.split_once('_')?;
        let hash = digest(token);
        let now = now();
        let (scope, save) = {
            let mut map = self.by_id.write().unwrap_or_else(|p| p.into_inner());
            let entry = map.get_mut(id)?;
            let same: bool = hash.as_bytes().ct_eq(entry.row.hash.as_bytes()).into();
            if !same || entry.row.revoked {
                return None;
            }
            let scope = match (TokenKind::parse(&entry.row.kind)?, &entry.row.worker) {
                (TokenKind::Worker, Some(w)) => Scope::Worker {
                    id: id.to_owned(),
                    worker: w.clone(),
                },
                (TokenKind::OperatorRo, _) => Scope::OperatorRo { id: id.to_owned() },
                (TokenKind::Operator, _) => Scope::Operator { id: id.to_owned() },
                (TokenKind::Worker, None) => return None,
            };
            entry.row.last_used_at = Some(now);
            let stale = entry
                .saved_last_used
                .is_none_or(|t| now - t >= LAST_USED_RESOLUTION);
            let save = stale.then(|| {
                entry.saved_last_used = Some(now);
                entry.row.clone()
            });
            (scope, save)
        };
        if let Some(row) = save {
            let store = self.store.clone();
            tokio::task::spawn_blocking(move || {
                if let Err(e) = store.put_token(&row) {
                    tracing::warn!(error = %e, "could not save a token's last use");
                }
            });
        }
        Some(scope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for k in [
            TokenKind::Worker,
            TokenKind::OperatorRo,
            TokenKind::Operator,
        ] {
            assert_eq!(TokenKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(TokenKind::parse("admin"), None);
        assert_eq!(digest("").len(), 64);
    }
}
