//! Browser terminals and recordings: what the WebSocket bridge, the
//! manager's `pty-out`/`pty-control`, the recording routes and the MCP
//! recording tools share.
//!
//! # Layout
//! - `feed`: one worker's terminal (offset-addressed output ring, screen
//!   model, control frames, live events for its manager).
//! - `tickets`: single-use WebSocket tickets.
//!
//! A worker's manager streams its pty only while someone consumes it: a
//! browser is attached or the worker is recorded. `pty-out` answers 404
//! otherwise, and the manager stops.

mod feed;
mod tickets;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use serde_json::Value;
use tubemail_core::engine::Engine;
use tubemail_core::recording::{
    FramesQuery, FramesResponse, RecordError, Recorder, RecorderLimits, RecordingStatus,
};
use tubemail_core::{StreamEvent, WorkerName};
use tubemail_pty::Size;

pub use feed::{ManagerEvent, Read, Terminal};
pub use tickets::{TICKET_TTL, TicketError, Tickets};

/// Tunables of the terminal bridge.
#[derive(Debug, Clone)]
pub struct PtyOptions {
    /// Output bytes kept per worker for viewers that resume.
    pub ring_bytes: usize,
    /// A viewer further behind than this is switched to a repaint.
    pub viewer_lag_bytes: u64,
    /// Refuse WebSocket upgrades that did not come over TLS
    /// (`TUBEMAIL_PTY_TLS_ONLY=1`; always on when the hub serves TLS).
    pub tls_only: bool,
    /// How often expired tickets are dropped (the original's 60 s).
    pub ticket_sweep: std::time::Duration,
}

impl Default for PtyOptions {
    fn default() -> Self {
        PtyOptions {
            ring_bytes: 4 << 20,
            viewer_lag_bytes: 1 << 20,
            tls_only: false,
            ticket_sweep: std::time::Duration::from_secs(60),
        }
    }
}

/// Every worker's terminal, the tickets and the recorder.
pub struct Terminals {
    engine: Engine,
    map: Mutex<HashMap<WorkerName, Arc<Terminal>>>,
    /// Open WebSocket tickets.
    pub tickets: Tickets,
    /// The recording writer.
    pub recorder: Recorder,
    /// Tunables.
    pub options: PtyOptions,
}

impl std::fmt::Debug for Terminals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Terminals")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// `X-manager` → `X`.
pub fn managed_worker(manager: &WorkerName) -> Option<WorkerName> {
    let base = manager.as_str().strip_suffix("-manager")?;
    WorkerName::new(base).ok()
}

impl Terminals {
    /// Starts the recorder (files under `data_dir/recordings`).
    pub fn new(engine: Engine, data_dir: &Path, options: PtyOptions) -> std::io::Result<Self> {
        Ok(Terminals {
            engine,
            map: Mutex::new(HashMap::new()),
            tickets: Tickets::default(),
            recorder: Recorder::start(data_dir)?,
            options,
        })
    }

    /// The terminal of `worker` (created on first use).
    pub fn get(&self, worker: &WorkerName) -> Arc<Terminal> {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(worker.clone())
            .or_insert_with(|| {
                let term = Arc::new(Terminal::new(self.options.ring_bytes));
                tokio::spawn(follow(term.clone()));
                term
            })
            .clone()
    }

    fn existing(&self, worker: &WorkerName) -> Option<Arc<Terminal>> {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(worker)
            .cloned()
    }

    /// Whether `worker` is recorded.
    pub fn recording(&self, worker: &WorkerName) -> bool {
        self.engine
            .worker(worker)
            .is_some_and(|s| s.recording_enabled)
    }

    /// Whether anyone consumes the pty of `worker`.
    pub fn wanted(&self, worker: &WorkerName) -> bool {
        self.existing(worker).is_some_and(|t| t.viewers() > 0) || self.recording(worker)
    }

    fn limits(&self) -> RecorderLimits {
        RecorderLimits::from(&self.engine.hub_config())
    }

    /// Output from the manager; `false` when nobody consumes it. The
    /// recorder gets a reference to the same bytes (no copy; it escapes
    /// them on its own thread).
    pub fn output(&self, worker: &WorkerName, bytes: &Bytes) -> bool {
        let recording = self.recording(worker);
        let term = self.existing(worker);
        let viewers = term.as_ref().is_some_and(|t| t.viewers() > 0);
        if !recording && !viewers {
            return false;
        }
        // The recorder only queues: a slow disk never holds up viewers.
        if recording && !self.recorder.output(worker, bytes.clone(), self.limits()) {
            tracing::debug!(worker = %worker, bytes = bytes.len(), "recorder behind; output not recorded");
        }
        self.get(worker).output(bytes);
        true
    }

    /// A control object from the manager (the size echo, …), passed to
    /// every viewer as a text frame; `false` when nobody consumes it.
    pub fn control(&self, worker: &WorkerName, value: &Value) -> bool {
        if !self.wanted(worker) {
            return false;
        }
        let term = self.get(worker);
        if value["kind"] == "size"
            && let (Some(cols), Some(rows)) = (dim(&value["cols"]), dim(&value["rows"]))
        {
            term.resize(Size { rows, cols });
            if self.recording(worker) {
                self.recorder.resize(worker, cols, rows);
            }
        }
        term.control(&value.to_string());
        true
    }

    /// A viewer attached: the manager streams (again) and echoes its size.
    pub fn viewer_attached(&self, worker: &WorkerName) -> Arc<Terminal> {
        let term = self.get(worker);
        term.attach();
        term.to_manager(StreamEvent::PtyAttach {});
        term
    }

    /// A viewer left: the manager stops when nobody else consumes.
    pub fn viewer_left(&self, worker: &WorkerName, term: &Terminal) {
        if term.detach() == 0 && !self.recording(worker) {
            term.to_manager(StreamEvent::PtyDetach {});
        }
    }

    /// Live events for the manager `manager` (`X-manager`) and whether it
    /// should start streaming right away; `None` for other names.
    pub fn manager_feed(
        &self,
        manager: &WorkerName,
    ) -> Option<(tokio::sync::broadcast::Receiver<ManagerEvent>, bool)> {
        let worker = managed_worker(manager)?;
        let rx = self.get(&worker).manager_events();
        Some((rx, self.wanted(&worker)))
    }

    /// Turns recording of a known worker on or off (`NotFound` for an
    /// unknown one) and tells its manager to stream or stop.
    pub async fn set_recording(
        &self,
        worker: &WorkerName,
        enabled: bool,
    ) -> Result<(), tubemail_core::engine::Error> {
        self.engine.set_recording(worker, enabled).await?;
        let term = self.get(worker);
        if enabled {
            term.to_manager(StreamEvent::PtyAttach {});
        } else {
            self.recorder.stop(worker);
            if term.viewers() == 0 {
                term.to_manager(StreamEvent::PtyDetach {});
            }
        }
        // Let a stop reach the writer before anyone reads the status.
        self.recorder.flush().await;
        Ok(())
    }

    /// Recording state and files of `worker`.
    pub async fn status(&self, worker: &WorkerName) -> Result<RecordingStatus, RecordError> {
        let enabled = self.recording(worker);
        let limits = self.limits();
        let recorder = self.recorder.clone();
        let worker = worker.clone();
        tokio::task::spawn_blocking(move || recorder.status(&worker, enabled, limits))
            .await
            .unwrap_or_else(|e| {
                Err(RecordError::Io {
                    path: "recordings".into(),
                    source: std::io::Error::other(e),
                })
            })
    }

    /// Recorded frames of `worker`, oldest first.
    pub async fn frames(
        &self,
        worker: &WorkerName,
        query: FramesQuery,
    ) -> Result<FramesResponse, RecordError> {
        let recorder = self.recorder.clone();
        let worker = worker.clone();
        tokio::task::spawn_blocking(move || recorder.frames(&worker, &query))
            .await
            .unwrap_or_else(|e| {
                Err(RecordError::Io {
                    path: "recordings".into(),
                    source: std::io::Error::other(e),
                })
            })
    }
}

/// Keeps a terminal's screen model up with its output, on the blocking
/// pool so parsing never holds up the async threads.
async fn follow(term: Arc<Terminal>) {
    let mut end = term.watch_end();
    while end.changed().await.is_ok() {
        loop {
            let t = term.clone();
            match tokio::task::spawn_blocking(move || t.catch_up(256 << 10)).await {
                Ok(true) => {}
                _ => break,
            }
        }
    }
}

/// A terminal dimension: 1..=1000.
fn dim(v: &Value) -> Option<u16> {
    v.as_u64()
        .filter(|n| (1..=1000).contains(n))
        .and_then(|n| u16::try_from(n).ok())
}

/// `cols`/`rows` of a browser resize, the original's 80×24 when absent or
/// out of range.
pub fn resize_request(v: &Value) -> (u16, u16) {
    (dim(&v["cols"]).unwrap_or(80), dim(&v["rows"]).unwrap_or(24))
}

/// A frame from a browser viewer.
#[derive(Debug, Clone, Copy)]
pub enum ViewerFrame<'a> {
    /// Keystrokes or a paste.
    Binary(&'a [u8]),
    /// A JSON control object (`resize`, `ping`).
    Text(&'a str),
}

/// What a viewer's frame asks of the manager: `pty_data` with the bytes in
/// hex, `pty_resize` with a size in range, or nothing (empty input, `ping`,
/// other kinds and bad JSON are ignored, as in the original).
pub fn viewer_frame(frame: ViewerFrame<'_>) -> Option<StreamEvent> {
    match frame {
        ViewerFrame::Binary([]) => None,
        ViewerFrame::Binary(b) => Some(StreamEvent::PtyData {
            bytes_hex: tubemail_core::hex(b),
        }),
        ViewerFrame::Text(t) => match serde_json::from_str::<Value>(t) {
            Ok(v) if v["kind"] == "resize" => {
                let (cols, rows) = resize_request(&v);
                Some(StreamEvent::PtyResize { cols, rows })
            }
            _ => None,
        },
    }
}
