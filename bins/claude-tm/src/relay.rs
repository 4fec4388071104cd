//! Posts to the hub that must not be lost: replies and permission traffic.
//!
//! A post is tried at once with a couple of quick retries. If the hub stays
//! unreachable it is written to a spool directory (0600 files in a 0700
//! directory) and a background task delivers the spool, oldest first, when
//! the hub is back, including after the channel itself was restarted.
//! While anything is spooled, new posts queue behind it so the hub sees
//! them in order (a permission answer never overtakes its request).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, Notify};
use tubemail_client::core::{Behavior, Meta, WorkerName};
use tubemail_client::{Client, Error};

/// Waits between the quick retries of a fresh post.
const QUICK_RETRIES: [Duration; 2] = [Duration::from_millis(500), Duration::from_secs(2)];
/// How often the spool is retried while the hub is away.
const DRAIN_EVERY: Duration = Duration::from_secs(5);
/// Spool files kept per worker; the oldest go first beyond this.
const SPOOL_CAP: usize = 500;

/// One post to the hub.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Post {
    /// A reply from the worker.
    Outbound { text: String, meta: Meta },
    /// A permission prompt opened in the session.
    PermissionRequest {
        request_id: String,
        tool_name: String,
        description: String,
        input_preview: String,
    },
    /// A prompt was answered in the session.
    PermissionResponse {
        request_id: String,
        behavior: Behavior,
    },
}

/// What became of a post.
#[derive(Debug)]
pub enum Outcome {
    /// The hub has it.
    Sent,
    /// Kept on disk; it goes out when the hub is back.
    Spooled,
    /// The hub refused it, or it could not be kept.
    Failed(String),
}

/// Whether an error may go away by itself (retry) or never will (drop).
fn transient(e: &Error) -> bool {
    match e {
        Error::Unreachable { .. } | Error::Unauthorized(_) => true,
        Error::Server { status, .. } => *status >= 500 || *status == 429,
        _ => false,
    }
}

/// Replies and permission traffic for one worker.
pub struct Relay {
    client: Client,
    worker: WorkerName,
    dir: Option<PathBuf>,
    /// Held while posting, so posts reach the hub in order.
    order: Mutex<()>,
    wake: Notify,
    seq: AtomicU64,
}

impl Relay {
    /// A relay spooling under `dir` (`None`: nothing is kept on disk).
    pub fn new(client: Client, worker: WorkerName, dir: Option<PathBuf>) -> Arc<Relay> {
        let dir = dir.and_then(|d| match crate::paths::private_dir(&d) {
            Ok(d) => Some(d),
            Err(e) => {
                tracing::warn!(error = %e, dir = %d.display(), "no spool: posts may be lost while the hub is away");
                None
            }
        });
        Arc::new(Relay {
            client,
            worker,
            dir,
            order: Mutex::new(()),
            wake: Notify::new(),
            seq: AtomicU64::new(0),
        })
    }

    /// The default spool of `worker`: `<state dir>/spool/<worker>`.
    pub fn default_dir(worker: &WorkerName) -> Option<PathBuf> {
        crate::paths::state_dir()
            .ok()
            .map(|d| d.join("spool").join(worker.as_str()))
    }

    async fn send(&self, post: &Post) -> Result<(), Error> {
        let w = &self.worker;
        match post {
            Post::Outbound { text, meta } => self
                .client
                .outbound(w, text, Some(meta.clone()))
                .await
                .map(drop),
            Post::PermissionRequest {
                request_id,
                tool_name,
                description,
                input_preview,
            } => self
                .client
                .permission_request(w, request_id, tool_name, description, input_preview)
                .await
                .map(drop),
            Post::PermissionResponse {
                request_id,
                behavior,
            } => self
                .client
                .permission_response(w, request_id, *behavior)
                .await
                .map(drop),
        }
    }

    /// Posts now (with quick retries), else spools.
    pub async fn post(&self, post: Post) -> Outcome {
        let _order = self.order.lock().await;
        if self.spooled() == 0 {
            let mut waits = QUICK_RETRIES.iter();
            loop {
                match self.send(&post).await {
                    Ok(()) => return Outcome::Sent,
                    Err(e) if !transient(&e) => return Outcome::Failed(e.to_string()),
                    Err(e) => match waits.next() {
                        Some(wait) => {
                            tracing::debug!(error = %e, "hub post failed; retrying");
                            tokio::time::sleep(*wait).await;
                        }
                        None => {
                            tracing::warn!(error = %e, "hub unreachable; spooling");
                            break;
                        }
                    },
                }
            }
        }
        match self.spool(&post) {
            Ok(()) => {
                self.wake.notify_one();
                Outcome::Spooled
            }
            Err(e) => Outcome::Failed(format!("hub unreachable and the spool failed: {e:#}")),
        }
    }

    fn files(&self) -> Vec<PathBuf> {
        let Some(dir) = &self.dir else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "json"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
    }

    /// Posts waiting on disk.
    pub fn spooled(&self) -> usize {
        self.files().len()
    }

    fn spool(&self, post: &Post) -> anyhow::Result<()> {
        let Some(dir) = &self.dir else {
            anyhow::bail!("no spool directory");
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let name = format!("{nanos:020}-{seq:06}.json");
        crate::runtime::write_private(&dir.join(&name), &serde_json::to_vec(post)?)?;
        let files = self.files();
        for old in files.iter().take(files.len().saturating_sub(SPOOL_CAP)) {
            tracing::warn!(file = %old.display(), "spool full; dropping the oldest post");
            let _ = std::fs::remove_file(old);
        }
        Ok(())
    }

    /// Sends the spool oldest first; stops at the first transient failure.
    /// Returns how many are left.
    pub async fn drain(&self) -> usize {
        let _order = self.order.lock().await;
        for file in self.files() {
            let post = std::fs::read(&file)
                .ok()
                .and_then(|b| serde_json::from_slice::<Post>(&b).ok());
            let Some(post) = post else {
                tracing::warn!(file = %file.display(), "dropping an unreadable spool file");
                let _ = std::fs::remove_file(&file);
                continue;
            };
            match self.send(&post).await {
                Ok(()) => {}
                Err(e) if transient(&e) => return self.spooled(),
                Err(e) => tracing::warn!(error = %e, "the hub refused a spooled post; dropping it"),
            }
            let _ = std::fs::remove_file(&file);
        }
        0
    }

    /// Delivers the spool whenever something is in it, for as long as the
    /// relay lives.
    pub fn spawn_drainer(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let relay = self.clone();
        tokio::spawn(async move {
            loop {
                if relay.drain().await == 0 {
                    relay.wake.notified().await;
                } else {
                    tokio::time::sleep(DRAIN_EVERY).await;
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posts_round_trip_through_json() {
        let p = Post::PermissionResponse {
            request_id: "abcde".into(),
            behavior: Behavior::Allow,
        };
        let s = serde_json::to_string(&p).expect("json");
        assert_eq!(
            s,
            r#"{"op":"permission_response","request_id":"abcde","behavior":"allow"}"#
        );
        assert_eq!(serde_json::from_str::<Post>(&s).expect("back"), p);
    }

    #[test]
    fn only_passing_errors_are_retried() {
        assert!(transient(&Error::Server {
            status: 503,
            detail: String::new()
        }));
        assert!(!transient(&Error::BadRequest("no".into())));
        assert!(!transient(&Error::NotFound("no".into())));
    }
}
