//! Streams the worker's terminal to the hub while someone consumes it (a
//! browser watches or the worker is recorded), and applies what browsers
//! send: keystrokes and resizes.
//!
//! Hub events on the manager's stream: `pty_attach` (start, or for a new
//! viewer just echo the size), `pty_detach` (stop), `pty_data`
//! (`{"bytes_hex"}` keystrokes into the pty), `pty_resize` (`{"cols","rows"}`).
//!
//! Streaming starts with the size (`{"kind":"size"}` on `pty-control`) and
//! a repaint of the screen model, then tees every output chunk. The tee
//! runs under the screen lock, right after the chunk fed the model, so the
//! repaint and the bytes after it join without a gap or overlap. Output is
//! queued (bounded) and posted in order by one task, coalesced into large
//! posts (while the program writes a lot, the poster waits 3 ms to gather
//! more); the pty reader never waits for the hub. If the queue overflows
//! or a post fails, the queued bytes are replaced by a fresh repaint. A 404
//! (nobody consumes any more) stops streaming until the next `pty_attach`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Notify;
use tubemail_client::core::WorkerName;
use tubemail_client::{Client, StreamEvent};
use tubemail_pty::{Pty, Screen, Size};

/// Output queued for the hub at most; beyond it the queue becomes a repaint.
const MAX_QUEUED: usize = 8 << 20;
/// Largest single `pty-out` post.
const MAX_POST: usize = 1 << 20;
/// Give up after failing this long; the next `pty_attach` starts again.
const GIVE_UP: Duration = Duration::from_secs(120);
/// A chunk at least this large means the program is writing a lot (a
/// flood, a build log): the poster then gathers output for a moment and
/// makes fewer, larger posts (each post costs both processes an HTTP
/// request). Smaller chunks (typed keys echoed, a TUI redrawing) are
/// posted at once.
const BUSY_CHUNK: usize = 2048;
/// While busy, output gathered before posting: up to this many bytes…
const BATCH: usize = 256 << 10;
/// …or for this long.
const BATCH_WAIT: Duration = Duration::from_millis(3);

enum Item {
    Bytes(Vec<u8>),
    Control(Value),
}

#[derive(Default)]
struct Queue {
    items: VecDeque<Item>,
    bytes: usize,
    /// The size the hub was last told.
    size: Option<Size>,
}

impl Queue {
    fn clear(&mut self) {
        self.items.clear();
        self.bytes = 0;
    }

    fn push_bytes(&mut self, bytes: &[u8]) {
        self.bytes += bytes.len();
        if let Some(Item::Bytes(last)) = self.items.back_mut()
            && last.len() + bytes.len() <= MAX_POST
        {
            last.extend_from_slice(bytes);
            return;
        }
        self.items.push_back(Item::Bytes(bytes.to_vec()));
    }

    fn push_size(&mut self, size: Size) {
        self.size = Some(size);
        self.items.push_back(Item::Control(
            json!({"kind": "size", "cols": size.cols, "rows": size.rows}),
        ));
    }

    /// Starts over from the screen: its size, then a repaint.
    fn resync(&mut self, screen: &Screen) {
        self.clear();
        self.push_size(screen.size());
        self.push_bytes(&screen.repaint());
    }

    fn pop(&mut self) -> Option<Item> {
        let item = self.items.pop_front()?;
        if let Item::Bytes(b) = &item {
            self.bytes -= b.len();
        }
        Some(item)
    }
}

struct Shared {
    hub: Client,
    worker: WorkerName,
    screen: Arc<Mutex<Screen>>,
    /// A user's terminal owns the size: browser resizes are not applied.
    local_tty: bool,
    active: AtomicBool,
    /// The last chunk teed was at least [`BUSY_CHUNK`].
    busy: AtomicBool,
    queue: Mutex<Queue>,
    wake: Notify,
}

/// The streamer; cheap to clone. Dropping the last clone does not stop
/// the posting task: call [`PtyStream::stop`].
#[derive(Clone)]
pub struct PtyStream {
    shared: Arc<Shared>,
    task: Arc<tokio::task::JoinHandle<()>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A terminal dimension the hub sent, or `default` when out of range.
fn dim(n: u16, default: u16) -> u16 {
    if (1..=1000).contains(&n) { n } else { default }
}

impl PtyStream {
    /// Idle until the hub sends `pty_attach`.
    pub fn start(
        hub: Client,
        worker: WorkerName,
        screen: Arc<Mutex<Screen>>,
        local_tty: bool,
    ) -> PtyStream {
        let shared = Arc::new(Shared {
            hub,
            worker,
            screen,
            local_tty,
            active: AtomicBool::new(false),
            busy: AtomicBool::new(false),
            queue: Mutex::new(Queue::default()),
            wake: Notify::new(),
        });
        let task = tokio::spawn(post_loop(shared.clone()));
        PtyStream {
            shared,
            task: Arc::new(task),
        }
    }

    /// Stops the posting task.
    pub fn stop(&self) {
        self.task.abort();
    }

    /// Queues a chunk of output that was just fed to `screen` (call with
    /// the screen's lock held). Does nothing while not streaming.
    pub fn tee(&self, screen: &Screen, bytes: &[u8]) {
        if !self.shared.active.load(Ordering::Acquire) {
            return;
        }
        self.shared
            .busy
            .store(bytes.len() >= BUSY_CHUNK, Ordering::Relaxed);
        let mut q = lock(&self.shared.queue);
        let size = screen.size();
        if q.size != Some(size) {
            q.push_size(size);
        }
        if q.bytes + bytes.len() > MAX_QUEUED {
            // The hub is far behind: what it gets next is the screen as it
            // is now (which already includes these bytes).
            tracing::debug!(
                queued = q.bytes,
                "pty stream queue full; sending a repaint instead"
            );
            q.resync(screen);
        } else {
            q.push_bytes(bytes);
        }
        drop(q);
        self.shared.wake.notify_one();
    }

    /// Starts streaming (size + repaint), or for a stream already running
    /// echoes the size for the new viewer.
    fn attach(&self) {
        let screen = lock(&self.shared.screen);
        let mut q = lock(&self.shared.queue);
        if self.shared.active.swap(true, Ordering::AcqRel) {
            q.push_size(screen.size());
        } else {
            q.resync(&screen);
        }
        drop(q);
        drop(screen);
        self.shared.wake.notify_one();
    }

    /// Handles a terminal event of the hub; `false` for other events.
    pub async fn handle(&self, event: &StreamEvent, pty: &Pty) -> bool {
        match event {
            StreamEvent::PtyAttach {} => self.attach(),
            StreamEvent::PtyDetach {} => stop_streaming(&self.shared),
            StreamEvent::PtyData { bytes_hex } => match tubemail_client::core::unhex(bytes_hex) {
                Some(bytes) if !bytes.is_empty() => {
                    if let Err(e) = pty.write_all(&bytes).await {
                        tracing::warn!(error = %e, "could not type browser keys into the pty");
                    }
                }
                _ => tracing::debug!("ignoring pty_data without valid bytes_hex"),
            },
            StreamEvent::PtyResize { cols, rows } => {
                let size = Size {
                    cols: dim(*cols, 80),
                    rows: dim(*rows, 24),
                };
                let screen = {
                    let mut screen = lock(&self.shared.screen);
                    if !self.shared.local_tty {
                        if let Err(e) = pty.resize(size) {
                            tracing::warn!(error = %e, "could not resize the pty");
                        } else if let Err(e) = screen.resize(size) {
                            tracing::warn!(error = %e, "could not resize the screen model");
                        }
                    }
                    screen.size()
                };
                // Echo the size in force (the user's terminal's, when it owns it).
                if self.shared.active.load(Ordering::Acquire) {
                    lock(&self.shared.queue).push_size(screen);
                    self.shared.wake.notify_one();
                }
            }
            _ => return false,
        }
        true
    }
}

fn stop_streaming(shared: &Shared) {
    shared.active.store(false, Ordering::Release);
    lock(&shared.queue).clear();
}

async fn post_loop(shared: Arc<Shared>) {
    let mut failing_since: Option<Instant> = None;
    let mut backoff = Duration::from_millis(500);
    loop {
        shared.wake.notified().await;
        // A flood: let it gather into one large post (fewer requests for
        // the manager and the hub to handle per MiB).
        if shared.busy.load(Ordering::Relaxed) && lock(&shared.queue).bytes < BATCH {
            tokio::time::sleep(BATCH_WAIT).await;
        }
        loop {
            let Some(item) = lock(&shared.queue).pop() else {
                break;
            };
            let sent = match item {
                Item::Bytes(bytes) => shared.hub.pty_out(&shared.worker, bytes).await,
                Item::Control(v) => shared.hub.pty_control(&shared.worker, &v).await,
            };
            match sent {
                Ok(true) => {
                    failing_since = None;
                    backoff = Duration::from_millis(500);
                }
                Ok(false) => {
                    tracing::debug!("nobody watches the terminal any more; streaming stops");
                    stop_streaming(&shared);
                    break;
                }
                Err(e) => {
                    let since = *failing_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= GIVE_UP {
                        tracing::warn!(error = %e, "terminal streaming failed for 2 minutes; stopping until the next attach");
                        stop_streaming(&shared);
                        failing_since = None;
                        break;
                    }
                    tracing::debug!(error = %e, ?backoff, "terminal post failed; retrying with a repaint");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    if shared.active.load(Ordering::Acquire) {
                        let screen = lock(&shared.screen);
                        lock(&shared.queue).resync(&screen);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_coalesces_and_resyncs() {
        let mut q = Queue::default();
        q.push_bytes(b"ab");
        q.push_bytes(b"cd");
        assert_eq!(q.items.len(), 1);
        assert_eq!(q.bytes, 4);
        let mut screen = Screen::new(Size { rows: 2, cols: 5 }).unwrap();
        screen.feed(b"hi");
        q.resync(&screen);
        assert_eq!(q.items.len(), 2);
        assert!(matches!(q.pop(), Some(Item::Control(v)) if v["cols"] == 5 && v["rows"] == 2));
        assert!(matches!(q.pop(), Some(Item::Bytes(b)) if b == screen.repaint()));
        assert_eq!(q.bytes, 0);
        assert_eq!(dim(0, 80), 80);
        assert_eq!(dim(5000, 80), 80);
        assert_eq!(dim(132, 80), 132);
    }
}
