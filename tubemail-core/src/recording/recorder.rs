//! The recorder: one writer thread for every worker's recordings, fed
//! through a queue with a byte budget, so a slow disk costs recorded bytes
//! (reported as a gap) and never time on the caller's side.
//!
//! The caller only queues a reference-counted [`Bytes`] (no copy, no
//! escaping on its side); the writer encodes each piece straight into the
//! two files' buffers ([`Encoder`]) and writes them in large blocks.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde_json::json;

use super::encode::Encoder;
use super::time::{iso_millis, parse_bound, stem};
use super::{Frame, FramesResponse, RecordingFile, RecordingStatus};
use crate::name::WorkerName;
use crate::wire::HubConfig;

/// Bytes (plus a per-message overhead) that may wait for the disk.
const QUEUE_BUDGET: u64 = 32 << 20;
/// Accounting overhead of one queued message.
const MSG_OVERHEAD: u64 = 256;
/// Output is written in events of at most this many bytes, so rotation
/// happens close to the limit.
const PIECE: usize = 16 << 10;
/// Encoded lines are written to a file once this many are buffered (and
/// whenever the writer is idle).
const WRITE_AT: usize = 256 << 10;
/// When the queue runs empty, the writer looks again after this long
/// before it writes out and sleeps: output arriving in many small posts is
/// then written in large blocks, and posters rarely have to wake it.
const BATCH_WAIT: std::time::Duration = std::time::Duration::from_millis(2);
/// Longest `grep` pattern.
const MAX_PATTERN: usize = 1024;
/// Compiled size bound of a `grep` pattern.
const REGEX_SIZE: usize = 1 << 20;
/// Cast header defaults before the terminal's size is known.
const DEFAULT_SIZE: (u16, u16) = (80, 24);

/// Rotation size and how many recordings to keep (from the settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecorderLimits {
    /// A recording (cast + frames) is closed at this size.
    pub max_bytes_per_file: u64,
    /// Recordings kept per worker.
    pub keep_files: u32,
}

impl From<&HubConfig> for RecorderLimits {
    fn from(c: &HubConfig) -> Self {
        RecorderLimits {
            max_bytes_per_file: c.recording_max_bytes_per_file,
            keep_files: c.recording_keep_files,
        }
    }
}

/// Why a recording query failed.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// `grep` is not a valid (or is too large a) regular expression.
    #[error("invalid regex: {0}")]
    BadRegex(String),
    /// `since` or `until` is not a time.
    #[error("invalid {0}: expected an ISO-8601 time such as 2026-05-17T12:34:56Z")]
    BadTime(&'static str),
    /// The recordings could not be read.
    #[error("failed to read recordings in {path}")]
    Io {
        /// The directory or file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Filters of a frames query.
#[derive(Debug, Clone, Default)]
pub struct FramesQuery {
    /// Frames at or after this time (ISO-8601 or epoch seconds).
    pub since: Option<String>,
    /// Frames before this time.
    pub until: Option<String>,
    /// Regular expression the frame text must match.
    pub grep: Option<String>,
    /// Most frames returned (clamped to 1..=2000).
    pub limit: usize,
}

enum Msg {
    Output {
        worker: WorkerName,
        bytes: Bytes,
        at: SystemTime,
        limits: RecorderLimits,
    },
    Resize {
        worker: WorkerName,
        cols: u16,
        rows: u16,
        at: SystemTime,
    },
    Stop(WorkerName),
    Flush(tokio::sync::oneshot::Sender<()>),
    Prune {
        last_written_before: SystemTime,
        done: tokio::sync::oneshot::Sender<usize>,
    },
}

struct Shared {
    root: PathBuf,
    queued: AtomicU64,
    /// Active recording stem per worker (read by `status`).
    active: Mutex<HashMap<WorkerName, String>>,
    /// Bytes dropped per worker since its last written chunk.
    gaps: Mutex<HashMap<WorkerName, u64>>,
}

/// Handle on the recorder thread; cheap to clone. The thread ends when
/// the last handle is dropped, after writing what is queued.
#[derive(Clone)]
pub struct Recorder {
    shared: Arc<Shared>,
    tx: Sender<Msg>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("root", &self.shared.root)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Recorder {
    /// Starts the writer thread; recordings go under `data_dir/recordings`.
    pub fn start(data_dir: &Path) -> std::io::Result<Recorder> {
        let shared = Arc::new(Shared {
            root: data_dir.join("recordings"),
            queued: AtomicU64::new(0),
            active: Mutex::new(HashMap::new()),
            gaps: Mutex::new(HashMap::new()),
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let writer = Writer {
            shared: shared.clone(),
            workers: HashMap::new(),
            buf: Buffers::default(),
            current: None,
        };
        std::thread::Builder::new()
            .name("tubemail-recorder".into())
            .spawn(move || writer.run(&rx))?;
        Ok(Recorder { shared, tx })
    }

    fn send(&self, msg: Msg) {
        // The thread only ends when every handle is gone.
        let _ = self.tx.send(msg);
    }

    /// Queues output of `worker`; never blocks and never copies (a
    /// [`Bytes`] is shared, a `Vec` moved in). Returns `false` when the
    /// queue is over its budget (the disk is behind) and the bytes were
    /// dropped; the next written frame reports the gap.
    pub fn output(
        &self,
        worker: &WorkerName,
        bytes: impl Into<Bytes>,
        limits: RecorderLimits,
    ) -> bool {
        let bytes = bytes.into();
        let cost = bytes.len() as u64 + MSG_OVERHEAD;
        let queued = self.shared.queued.fetch_add(cost, Ordering::AcqRel);
        if queued + cost > QUEUE_BUDGET {
            self.shared.queued.fetch_sub(cost, Ordering::AcqRel);
            *lock(&self.shared.gaps).entry(worker.clone()).or_default() += bytes.len() as u64;
            return false;
        }
        self.send(Msg::Output {
            worker: worker.clone(),
            bytes,
            at: SystemTime::now(),
            limits,
        });
        true
    }

    /// The terminal of `worker` changed size (a `"r"` event; the size of
    /// the next recording's header).
    pub fn resize(&self, worker: &WorkerName, cols: u16, rows: u16) {
        self.send(Msg::Resize {
            worker: worker.clone(),
            cols,
            rows,
            at: SystemTime::now(),
        });
    }

    /// Closes the active recording of `worker`; later output starts a new one.
    pub fn stop(&self, worker: &WorkerName) {
        self.send(Msg::Stop(worker.clone()));
    }

    /// Waits until everything queued so far is written and flushed.
    pub async fn flush(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.send(Msg::Flush(tx));
        let _ = rx.await;
    }

    /// Deletes every worker's recordings last written before
    /// `last_written_before` (never one being written). Returns how many
    /// recordings went.
    pub async fn prune(&self, last_written_before: SystemTime) -> usize {
        let (done, rx) = tokio::sync::oneshot::channel();
        self.send(Msg::Prune {
            last_written_before,
            done,
        });
        rx.await.unwrap_or(0)
    }

    fn dir(&self, worker: &WorkerName) -> PathBuf {
        self.shared.root.join(worker.as_str())
    }

    /// Recording state and files of `worker` (blocking file system reads).
    pub fn status(
        &self,
        worker: &WorkerName,
        enabled: bool,
        limits: RecorderLimits,
    ) -> Result<RecordingStatus, RecordError> {
        let active = lock(&self.shared.active).get(worker).cloned();
        let dir = self.dir(worker);
        let mut files = Vec::new();
        for stem in stems(&dir)?.into_iter().rev() {
            let cast = dir.join(format!("{stem}.cast"));
            let frames = dir.join(format!("{stem}.frames.jsonl"));
            let Ok(cast_meta) = std::fs::metadata(&cast) else {
                continue;
            };
            let frames_meta = std::fs::metadata(&frames).ok();
            let modified = cast_meta
                .modified()
                .ok()
                .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
                .map_or(0.0, |d| d.as_secs_f64());
            let rel = |ext: &str| format!("recordings/{}/{stem}{ext}", worker.as_str());
            files.push(RecordingFile {
                cast_path: rel(".cast"),
                frames_path: frames_meta.as_ref().map(|_| rel(".frames.jsonl")),
                size_bytes: cast_meta.len() + frames_meta.map_or(0, |m| m.len()),
                modified,
                active: active.as_deref() == Some(stem.as_str()),
                stem,
            });
        }
        Ok(RecordingStatus {
            worker: worker.clone(),
            enabled,
            active_file: active.map(|s| format!("{s}.cast")),
            files,
            max_bytes_per_file: limits.max_bytes_per_file,
            keep_files: limits.keep_files,
        })
    }

    /// Recorded frames of `worker`, oldest first (blocking file reads).
    pub fn frames(
        &self,
        worker: &WorkerName,
        q: &FramesQuery,
    ) -> Result<FramesResponse, RecordError> {
        let bound = |raw: &Option<String>, field| {
            raw.as_deref()
                .filter(|s| !s.trim().is_empty())
                .map(|s| parse_bound(s).ok_or(RecordError::BadTime(field)))
                .transpose()
        };
        let since = bound(&q.since, "since")?;
        let until = bound(&q.until, "until")?;
        let grep = match q.grep.as_deref().filter(|g| !g.is_empty()) {
            Some(p) if p.chars().count() > MAX_PATTERN => {
                return Err(RecordError::BadRegex(format!(
                    "pattern longer than {MAX_PATTERN} characters"
                )));
            }
            Some(p) => Some(
                regex::RegexBuilder::new(p)
                    .size_limit(REGEX_SIZE)
                    .dfa_size_limit(REGEX_SIZE)
                    .build()
                    .map_err(|e| RecordError::BadRegex(e.to_string()))?,
            ),
            None => None,
        };
        let limit = q.limit.clamp(1, 2000);
        let dir = self.dir(worker);
        let mut frames = Vec::new();
        let mut truncated = false;
        'files: for stem in stems(&dir)? {
            // A recording starting at or after `until` holds nothing earlier.
            if let (Some(until), Some(start)) = (&until, stem_time(&stem))
                && start >= *until
            {
                break;
            }
            let path = dir.join(format!("{stem}.frames.jsonl"));
            let file = match File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => return Err(RecordError::Io { path, source }),
            };
            for line in BufReader::new(file).lines() {
                let line = line.map_err(|source| RecordError::Io {
                    path: path.clone(),
                    source,
                })?;
                // A line being written right now may be incomplete.
                let Ok(frame) = serde_json::from_str::<Frame>(&line) else {
                    continue;
                };
                if since.as_ref().is_some_and(|s| frame.t < *s)
                    || until.as_ref().is_some_and(|u| frame.t >= *u)
                    || grep.as_ref().is_some_and(|g| !g.is_match(&frame.delta))
                {
                    continue;
                }
                if frames.len() == limit {
                    truncated = true;
                    break 'files;
                }
                frames.push(frame);
            }
        }
        Ok(FramesResponse {
            worker: worker.clone(),
            frames,
            truncated,
        })
    }
}

/// `20260517T123456-789012Z` → `2026-05-17T12:34:56.789Z`.
fn stem_time(stem: &str) -> Option<String> {
    let s = |r: std::ops::Range<usize>| stem.get(r);
    Some(format!(
        "{}-{}-{}T{}:{}:{}.{}Z",
        s(0..4)?,
        s(4..6)?,
        s(6..8)?,
        s(9..11)?,
        s(11..13)?,
        s(13..15)?,
        s(16..19)?
    ))
}

/// Stems of the `.cast` files in `dir`, oldest first.
fn stems(dir: &Path) -> Result<Vec<String>, RecordError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(RecordError::Io {
                path: dir.to_owned(),
                source,
            });
        }
    };
    let mut stems: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".cast").map(str::to_owned))
        .collect();
    // Stems are UTC times with fixed-width fields: text order is time order.
    stems.sort();
    Ok(stems)
}

struct Session {
    stem: String,
    cast: File,
    frames: File,
    /// Bytes of both files, buffered ones included.
    bytes: u64,
    started: SystemTime,
}

/// Encoded lines of one session not yet written to its files. One pair
/// for the writer, written out before it turns to another worker, when it
/// goes idle and when full (so idle workers hold no buffers).
#[derive(Default)]
struct Buffers {
    cast: Vec<u8>,
    frames: Vec<u8>,
}

impl Buffers {
    fn len(&self) -> usize {
        self.cast.len() + self.frames.len()
    }

    /// Writes the lines to `s`'s files; emptied even when that fails.
    fn write_to(&mut self, s: &mut Session) -> std::io::Result<()> {
        let cast = s.cast.write_all(&self.cast);
        let frames = s.frames.write_all(&self.frames);
        self.cast.clear();
        self.frames.clear();
        cast.and(frames)
    }
}

#[derive(Default)]
struct WorkerRec {
    session: Option<Session>,
    enc: Encoder,
    size: Option<(u16, u16)>,
}

struct Writer {
    shared: Arc<Shared>,
    workers: HashMap<WorkerName, WorkerRec>,
    buf: Buffers,
    /// The worker whose lines are in `buf`.
    current: Option<WorkerName>,
}

impl Writer {
    fn run(mut self, rx: &Receiver<Msg>) {
        loop {
            let msg = match rx.try_recv() {
                Ok(m) => m,
                Err(TryRecvError::Empty) => {
                    std::thread::sleep(BATCH_WAIT);
                    match rx.try_recv() {
                        Ok(m) => m,
                        Err(TryRecvError::Disconnected) => break,
                        Err(TryRecvError::Empty) => {
                            // Idle: make what was encoded visible to readers.
                            self.flush_all();
                            match rx.recv() {
                                Ok(m) => m,
                                Err(_) => break,
                            }
                        }
                    }
                }
                Err(TryRecvError::Disconnected) => break,
            };
            self.handle(msg);
        }
        self.flush_all();
    }

    /// Writes what is buffered to its worker's files (readers see it).
    fn flush_all(&mut self) {
        let Some(worker) = self.current.take() else {
            return;
        };
        match self
            .workers
            .get_mut(&worker)
            .and_then(|r| r.session.as_mut())
        {
            Some(s) => {
                if let Err(e) = self.buf.write_to(s) {
                    tracing::warn!(worker = %worker, error = %e, "recording write failed; starting a new file with the next output");
                    self.close(&worker);
                }
            }
            None => {
                self.buf.cast.clear();
                self.buf.frames.clear();
            }
        }
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Output {
                worker,
                bytes,
                at,
                limits,
            } => {
                let cost = bytes.len() as u64 + MSG_OVERHEAD;
                self.shared.queued.fetch_sub(cost, Ordering::AcqRel);
                if self.current.as_ref() != Some(&worker) {
                    self.flush_all();
                }
                let gap = lock(&self.shared.gaps).remove(&worker);
                if let Err(e) = self.output(&worker, &bytes, at, limits, gap) {
                    tracing::warn!(worker = %worker, error = %e, "recording write failed; starting a new file with the next output");
                    self.close(&worker);
                } else if self
                    .workers
                    .get(&worker)
                    .is_some_and(|r| r.session.is_some())
                {
                    self.current = Some(worker);
                }
            }
            Msg::Prune {
                last_written_before,
                done,
            } => {
                self.flush_all();
                let _ = done.send(self.prune(last_written_before));
            }
            Msg::Resize {
                worker,
                cols,
                rows,
                at,
            } => {
                // The event goes after what is buffered.
                self.flush_all();
                let rec = self.workers.entry(worker.clone()).or_default();
                rec.size = Some((cols, rows));
                if let Some(s) = rec.session.as_mut() {
                    let t = secs_since(s.started, at);
                    let line = format!("[{t:.6}, \"r\", \"{cols}x{rows}\"]\n");
                    if let Err(e) = s.cast.write_all(line.as_bytes()) {
                        tracing::warn!(worker = %worker, error = %e, "recording write failed");
                        self.close(&worker);
                    } else {
                        s.bytes += line.len() as u64;
                    }
                }
            }
            Msg::Stop(worker) => {
                self.flush_all();
                self.close(&worker);
                self.workers.remove(&worker);
            }
            Msg::Flush(done) => {
                self.flush_all();
                let _ = done.send(());
            }
        }
    }

    /// Writes what is buffered (which is `worker`'s, if anything) and
    /// closes the worker's recording (the buffer is emptied either way).
    /// Removes recordings last written before `cutoff`, but the active
    /// ones; returns how many.
    fn prune(&self, cutoff: SystemTime) -> usize {
        let Ok(dirs) = std::fs::read_dir(&self.shared.root) else {
            return 0;
        };
        let active = lock(&self.shared.active).clone();
        let mut removed = 0;
        for dir in dirs.filter_map(|d| d.ok()) {
            let worker = dir.file_name().into_string().ok();
            let dir = dir.path();
            let Ok(all) = stems(&dir) else { continue };
            for stem in all {
                let writing = worker
                    .as_deref()
                    .is_some_and(|w| active.iter().any(|(a, s)| a.as_str() == w && *s == stem));
                let written =
                    std::fs::metadata(dir.join(format!("{stem}.cast"))).and_then(|m| m.modified());
                if !writing && written.is_ok_and(|t| t < cutoff) {
                    remove(&dir, &stem);
                    removed += 1;
                }
            }
        }
        removed
    }

    fn close(&mut self, worker: &WorkerName) {
        self.current = None;
        match self.workers.get_mut(worker).and_then(|r| r.session.take()) {
            Some(mut s) => {
                if let Err(e) = self.buf.write_to(&mut s) {
                    tracing::warn!(worker = %worker, error = %e, "could not finish a recording");
                }
            }
            None => {
                self.buf.cast.clear();
                self.buf.frames.clear();
            }
        }
        lock(&self.shared.active).remove(worker);
    }

    fn output(
        &mut self,
        worker: &WorkerName,
        bytes: &[u8],
        at: SystemTime,
        limits: RecorderLimits,
        mut gap: Option<u64>,
    ) -> std::io::Result<()> {
        // One time for the whole chunk, formatted once.
        let iso = iso_millis(at);
        if !self.workers.contains_key(worker) {
            self.workers.insert(worker.clone(), WorkerRec::default());
        }
        for piece in bytes.chunks(PIECE) {
            let Some(rec) = self.workers.get_mut(worker) else {
                break;
            };
            if rec.session.is_none() {
                let size = rec.size.unwrap_or(DEFAULT_SIZE);
                let (session, header) = open(&self.shared.root, worker, at, size, limits)?;
                lock(&self.shared.active).insert(worker.clone(), session.stem.clone());
                self.buf.cast.extend_from_slice(&header);
                rec.session = Some(session);
            }
            let Some(s) = rec.session.as_mut() else {
                continue;
            };
            let t = secs_since(s.started, at);
            let before = self.buf.len();
            rec.enc.encode(
                piece,
                t,
                &iso,
                gap.take(),
                &mut self.buf.cast,
                &mut self.buf.frames,
            );
            s.bytes += (self.buf.len() - before) as u64;
            if s.bytes >= limits.max_bytes_per_file {
                self.close(worker);
            } else if self.buf.len() >= WRITE_AT {
                self.buf.write_to(s)?;
            }
        }
        Ok(())
    }
}

fn secs_since(start: SystemTime, at: SystemTime) -> f64 {
    at.duration_since(start).map_or(0.0, |d| d.as_secs_f64())
}

/// Starts a recording of `worker` (the session and its header line) and
/// removes the oldest beyond the limit.
fn open(
    root: &Path,
    worker: &WorkerName,
    at: SystemTime,
    (cols, rows): (u16, u16),
    limits: RecorderLimits,
) -> std::io::Result<(Session, Vec<u8>)> {
    let dir = root.join(worker.as_str());
    crate::private::create_dir_all(&dir)?;
    let mut t = at;
    let mut name = stem(t);
    // Two recordings started within the same microsecond (rotation within
    // one large chunk): keep both, in order.
    while dir.join(format!("{name}.cast")).exists() {
        t += std::time::Duration::from_micros(1);
        name = stem(t);
    }
    let cast = crate::private::create(&dir.join(format!("{name}.cast")))?;
    let frames = crate::private::create(&dir.join(format!("{name}.frames.jsonl")))?;
    let header = json!({
        "version": 2,
        "width": cols,
        "height": rows,
        "timestamp": at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        "title": format!("tubemail recording: {worker}"),
    });
    let header = format!("{header}\n").into_bytes();
    let session = Session {
        stem: name,
        cast,
        frames,
        bytes: header.len() as u64,
        started: at,
    };
    gc(&dir, limits.keep_files as usize);
    Ok((session, header))
}

/// Keeps the newest `keep` recordings in `dir`.
fn gc(dir: &Path, keep: usize) {
    let Ok(all) = stems(dir) else { return };
    let extra = all.len().saturating_sub(keep.max(1));
    for stem in &all[..extra] {
        remove(dir, stem);
    }
}

/// Removes one recording (its cast and its frame index).
fn remove(dir: &Path, stem: &str) {
    for ext in [".cast", ".frames.jsonl"] {
        let path = dir.join(format!("{stem}{ext}"));
        if let Err(e) = std::fs::remove_file(&path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %path.display(), error = %e, "could not remove an old recording");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: u64, keep: u32) -> RecorderLimits {
        RecorderLimits {
            max_bytes_per_file: max,
            keep_files: keep,
        }
    }

    #[tokio::test]
    async fn writes_cast_and_frames_rotates_and_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let r = Recorder::start(dir.path()).unwrap();
        let w: WorkerName = "rec-tm".parse().unwrap();
        let none = r.status(&w, true, limits(65_536, 2)).unwrap();
        assert!(none.files.is_empty() && none.active_file.is_none());

        r.resize(&w, 100, 30);
        assert!(r.output(
            &w,
            &b"$ echo hi\r\n\x1b[1mhi\x1b[0m\r\n"[..],
            limits(65_536, 2)
        ));
        r.flush().await;
        let st = r.status(&w, true, limits(65_536, 2)).unwrap();
        assert_eq!(st.files.len(), 1);
        let f = &st.files[0];
        assert!(f.active && st.active_file == Some(format!("{}.cast", f.stem)));
        assert_eq!(f.cast_path, format!("recordings/rec-tm/{}.cast", f.stem));
        let cast = std::fs::read_to_string(dir.path().join(&f.cast_path)).unwrap();
        let mut lines = cast.lines();
        let header: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
        assert_eq!(header["version"], 2);
        assert_eq!(
            (header["width"].clone(), header["height"].clone()),
            (100.into(), 30.into())
        );
        let ev: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
        assert_eq!(ev[1], "o");
        assert_eq!(ev[2], "$ echo hi\r\n\x1b[1mhi\x1b[0m\r\n");
        let got = r
            .frames(
                &w,
                &FramesQuery {
                    grep: Some("^hi".into()),
                    limit: 10,
                    ..Default::default()
                },
            )
            .unwrap();
        assert!(got.frames.is_empty(), "grep is per frame, not per line");
        let got = r
            .frames(
                &w,
                &FramesQuery {
                    grep: Some("(?m)^hi".into()),
                    limit: 10,
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(got.frames.len(), 1);
        assert_eq!(got.frames[0].delta, "$ echo hi\r\nhi\r\n");

        // 40 KiB per chunk against a 64 KiB limit: a new file every 2 chunks;
        // only the newest 2 stay.
        let chunk = vec![b'x'; 40 << 10];
        for _ in 0..8 {
            assert!(r.output(&w, chunk.clone(), limits(65_536, 2)));
        }
        r.flush().await;
        let st = r.status(&w, true, limits(65_536, 2)).unwrap();
        assert_eq!(st.files.len(), 2, "{st:?}");
        for f in &st.files {
            assert!(f.size_bytes < 65_536 + (2 * PIECE as u64) + 1024, "{f:?}");
        }
        r.stop(&w);
        r.flush().await;
        assert!(
            r.status(&w, false, limits(65_536, 2))
                .unwrap()
                .active_file
                .is_none()
        );
    }

    #[tokio::test]
    async fn interleaved_workers_keep_their_own_lines_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let r = Recorder::start(dir.path()).unwrap();
        let (a, b): (WorkerName, WorkerName) = ("a-tm".parse().unwrap(), "b-tm".parse().unwrap());
        let l = limits(5 << 20, 2);
        for i in 0..50 {
            r.output(&a, format!("a{i}\n"), l);
            r.output(&b, format!("b{i}\n"), l);
            if i == 20 {
                r.resize(&a, 120, 40);
                r.stop(&b);
            }
        }
        r.flush().await;
        for (w, other) in [(&a, "b"), (&b, "a")] {
            let st = r.status(w, true, l).unwrap();
            let mut text = String::new();
            let mut resizes = 0;
            // Oldest first.
            for f in st.files.iter().rev() {
                let cast = std::fs::read_to_string(dir.path().join(&f.cast_path)).unwrap();
                for line in cast.lines().skip(1) {
                    let ev: serde_json::Value = serde_json::from_str(line).unwrap();
                    match ev[1].as_str().unwrap() {
                        "o" => text.push_str(ev[2].as_str().unwrap()),
                        _ => {
                            assert_eq!(ev[2], "120x40");
                            assert!(text.ends_with("a20\n"), "{text}");
                            resizes += 1;
                        }
                    }
                }
            }
            let name = &w.as_str()[..1];
            let want: String = (0..50).map(|i| format!("{name}{i}\n")).collect();
            assert_eq!(text, want, "{w}");
            assert!(!text.contains(other));
            assert_eq!(resizes, usize::from(name == "a"));
            // b's recording was stopped once: a second file.
            assert_eq!(st.files.len(), if name == "b" { 2 } else { 1 });
        }
    }

    #[tokio::test]
    async fn queries_filter_by_time_and_limit_and_refuse_bad_input() {
        let dir = tempfile::tempdir().unwrap();
        let r = Recorder::start(dir.path()).unwrap();
        let w: WorkerName = "q-tm".parse().unwrap();
        let l = limits(5 << 20, 4);
        for i in 0..5 {
            r.output(&w, format!("line {i}\n"), l);
            r.flush().await;
            tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        }
        let all = r
            .frames(
                &w,
                &FramesQuery {
                    limit: 100,
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(all.frames.len(), 5);
        let first3 = r
            .frames(
                &w,
                &FramesQuery {
                    limit: 3,
                    ..Default::default()
                },
            )
            .unwrap();
        assert!(first3.truncated);
        assert_eq!(first3.frames[0].delta, "line 0\n");
        let t2 = all.frames[2].t.clone();
        let after = r
            .frames(
                &w,
                &FramesQuery {
                    since: Some(t2.clone()),
                    limit: 100,
                    ..Default::default()
                },
            )
            .unwrap();
        assert!(after.frames.iter().all(|f| f.t >= t2) && after.frames.len() >= 3);
        let before = r
            .frames(
                &w,
                &FramesQuery {
                    until: Some(t2.clone()),
                    limit: 100,
                    ..Default::default()
                },
            )
            .unwrap();
        assert!(before.frames.iter().all(|f| f.t < t2));
        assert_eq!(before.frames.len() + after.frames.len(), 5);
        let e = r
            .frames(
                &w,
                &FramesQuery {
                    grep: Some("(".into()),
                    limit: 1,
                    ..Default::default()
                },
            )
            .unwrap_err();
        assert!(e.to_string().starts_with("invalid regex"), "{e}");
        let e = r
            .frames(
                &w,
                &FramesQuery {
                    grep: Some("a{1000}{1000}".into()),
                    limit: 1,
                    ..Default::default()
                },
            )
            .unwrap_err();
        assert!(matches!(e, RecordError::BadRegex(_)), "{e}");
        let e = r
            .frames(
                &w,
                &FramesQuery {
                    since: Some("yesterday".into()),
                    limit: 1,
                    ..Default::default()
                },
            )
            .unwrap_err();
        assert!(matches!(e, RecordError::BadTime("since")), "{e}");
    }

    #[tokio::test]
    async fn prune_removes_old_finished_recordings_only() {
        let dir = tempfile::tempdir().unwrap();
        let r = Recorder::start(dir.path()).unwrap();
        let (old, live, fresh): (WorkerName, WorkerName, WorkerName) = (
            "old-tm".parse().unwrap(),
            "live-tm".parse().unwrap(),
            "fresh-tm".parse().unwrap(),
        );
        for w in [&old, &live, &fresh] {
            assert!(r.output(w, &b"hello\r\n"[..], limits(65_536, 4)));
        }
        r.stop(&old);
        r.stop(&fresh);
        r.flush().await;
        let day_ago = SystemTime::now() - std::time::Duration::from_secs(86_400);
        for w in [&old, &live] {
            let st = r.status(w, true, limits(65_536, 4)).unwrap();
            let cast = std::fs::File::options()
                .append(true)
                .open(dir.path().join(&st.files[0].cast_path))
                .unwrap();
            cast.set_modified(day_ago).unwrap();
        }
        let cutoff = SystemTime::now() - std::time::Duration::from_secs(3_600);
        assert_eq!(r.prune(cutoff).await, 1);
        let files = |w: &WorkerName| r.status(w, true, limits(65_536, 4)).unwrap().files.len();
        assert_eq!(
            files(&old),
            0,
            "finished and old: gone, with its frame index"
        );
        assert!(
            !dir.path()
                .join("recordings/old-tm")
                .read_dir()
                .unwrap()
                .any(|_| true)
        );
        assert_eq!(files(&live), 1, "still being written: kept however old");
        assert_eq!(files(&fresh), 1, "finished but recent: kept");
    }
}
