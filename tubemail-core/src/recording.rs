//! Terminal recordings: the wire shapes (always) and, with the `engine`
//! feature, the [`Recorder`] that writes them.
//!
//! Per worker, `recordings/<worker>/<stem>.cast` (asciinema v2: a header
//! line, then `[t, "o", text]` output and `[t, "r", "COLSxROWS"]` resize
//! events) and `<stem>.frames.jsonl` (one `{"t", "delta"}` line per output
//! chunk, escape sequences stripped, for searching). A recording (both
//! files together) is closed once it reaches `recording_max_bytes_per_file`
//! and the next output starts a new one; only the newest
//! `recording_keep_files` recordings of a worker are kept.
//!
//! # Layout
//! - `time`: UTC timestamps of the formats, parsing of query bounds.
//! - `text`: UTF-8 across chunk boundaries and escape-sequence stripping.
//! - `encode`: the `.cast` and frame lines of a piece of output, escaped
//!   straight into the writer's buffers.
//! - `recorder`: the writer thread, rotation, GC, status and frame queries.

use serde::{Deserialize, Serialize};

use crate::name::WorkerName;
use crate::wire::Timestamp;

#[cfg(feature = "schema")]
use schemars::JsonSchema;

#[cfg(feature = "engine")]
mod encode;
#[cfg(feature = "engine")]
mod recorder;
#[cfg(feature = "engine")]
mod text;
#[cfg(feature = "engine")]
mod time;

#[cfg(feature = "engine")]
pub use encode::{Encoder, escape_json};
#[cfg(feature = "engine")]
pub use recorder::{FramesQuery, RecordError, Recorder, RecorderLimits};
#[cfg(feature = "engine")]
pub use text::{AnsiStripper, Utf8Carry};
#[cfg(feature = "engine")]
pub use time::{iso_millis, parse_bound};

/// One recording of a worker (`GET /api/workers/{w}/recording`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct RecordingFile {
    /// File stem, `YYYYMMDDTHHMMSS-<microseconds>Z` (UTC start time).
    pub stem: String,
    /// The asciinema v2 file, relative to the hub's data dir.
    pub cast_path: String,
    /// The text frames file, relative to the hub's data dir (absent if
    /// missing).
    pub frames_path: Option<String>,
    /// Bytes of both files.
    pub size_bytes: u64,
    /// Last modification (epoch seconds).
    pub modified: Timestamp,
    /// Whether output is being written to it now.
    pub active: bool,
}

/// Recording state and files of a worker (the original's
/// `RecordingStatus`, with paths relative to the data dir).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct RecordingStatus {
    /// The worker.
    pub worker: WorkerName,
    /// Whether its terminal is recorded.
    pub enabled: bool,
    /// `<stem>.cast` being written, if any.
    pub active_file: Option<String>,
    /// Recordings, newest first.
    pub files: Vec<RecordingFile>,
    /// Rotation size of one recording (settings).
    pub max_bytes_per_file: u64,
    /// Recordings kept per worker (settings).
    pub keep_files: u32,
}

/// One text frame: the output of one chunk with escape sequences removed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct Frame {
    /// UTC time, `2026-05-17T12:34:56.789Z`.
    pub t: String,
    /// The text.
    pub delta: String,
    /// Output bytes lost before this frame because the disk could not keep
    /// up (absent when none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gap_bytes: Option<u64>,
}

/// `GET /api/workers/{w}/recording/frames` and `tm_get_recording`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct FramesResponse {
    /// The worker.
    pub worker: WorkerName,
    /// Matching frames, oldest first.
    pub frames: Vec<Frame>,
    /// More frames matched than `limit`.
    pub truncated: bool,
}
