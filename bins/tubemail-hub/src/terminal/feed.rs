//! One worker's terminal at the hub: an output ring addressed by byte
//! offset, a screen model for repaints, the control frames for viewers and
//! the live events for its manager.
//!
//! Offsets count every byte received from the worker's `pty-out` since
//! the hub started. The ring keeps the newest bytes, so a viewer (or a
//! reconnecting one) reads on from its offset while that is still held; one
//! that fell further behind gets a repaint of the model instead, taken at
//! an exact offset: the model follows the ring off the hot path
//! ([`Terminal::catch_up`], on the blocking pool) and knows the offset it
//! has consumed, so "model state at S, then bytes from S on" has no gap and
//! no overlap, and parsing never delays output to viewers.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{broadcast, watch};
use tubemail_pty::{Screen, Size};

/// Live events for the manager's stream (`pty_attach`, `pty_data`, …).
pub type ManagerEvent = tubemail_core::StreamEvent;

/// What a viewer gets when it asks for bytes at an offset.
#[derive(Debug, PartialEq, Eq)]
pub enum Read {
    /// Bytes starting at the asked offset.
    Data(Vec<u8>),
    /// Nothing new yet.
    UpToDate,
    /// The offset is no longer in the ring (or is too far behind).
    Behind,
}

struct Ring {
    bytes: VecDeque<u8>,
    /// Offset of `bytes[0]`.
    start: u64,
    capacity: usize,
}

impl Ring {
    fn end(&self) -> u64 {
        self.start + self.bytes.len() as u64
    }

    fn push(&mut self, data: &[u8]) {
        if data.len() >= self.capacity {
            self.start = self.end() + (data.len() - self.capacity) as u64;
            self.bytes.clear();
            self.bytes.extend(&data[data.len() - self.capacity..]);
            return;
        }
        let excess = (self.bytes.len() + data.len()).saturating_sub(self.capacity);
        self.bytes.drain(..excess);
        self.start += excess as u64;
        self.bytes.extend(data);
    }
}

struct Model {
    screen: Screen,
    /// Offset the model has consumed up to.
    at: u64,
    /// The newest known size.
    size: Option<Size>,
    /// Resizes to apply once the model reaches their offset.
    resizes: VecDeque<(u64, Size)>,
}

/// One worker's terminal.
pub struct Terminal {
    model: Mutex<Model>,
    ring: Mutex<Ring>,
    /// The ring's end, for viewers waiting for output.
    end: watch::Sender<u64>,
    controls: broadcast::Sender<Arc<str>>,
    manager: broadcast::Sender<ManagerEvent>,
    viewers: AtomicUsize,
}

impl std::fmt::Debug for Terminal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Terminal")
            .field("viewers", &self.viewers.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Terminal {
    /// An empty terminal keeping the newest `ring_bytes` of output.
    pub fn new(ring_bytes: usize) -> Terminal {
        let (end, _) = watch::channel(0);
        Terminal {
            model: Mutex::new(Model {
                // 80x24 is never zero-sized.
                screen: Screen::new(Size::default()).unwrap_or_else(|_| unreachable_screen()),
                at: 0,
                size: None,
                resizes: VecDeque::new(),
            }),
            ring: Mutex::new(Ring {
                bytes: VecDeque::with_capacity(ring_bytes.min(1 << 20)),
                start: 0,
                capacity: ring_bytes.max(1),
            }),
            end,
            controls: broadcast::channel(64).0,
            manager: broadcast::channel(4096).0,
            viewers: AtomicUsize::new(0),
        }
    }

    /// Output from the worker's pty.
    pub fn output(&self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let end = {
            let mut ring = lock(&self.ring);
            ring.push(data);
            ring.end()
        };
        self.end.send_replace(end);
    }

    /// The terminal changed size (the manager's size echo): from the
    /// current offset on.
    pub fn resize(&self, size: Size) {
        if size.rows == 0 || size.cols == 0 {
            return;
        }
        let mut model = lock(&self.model);
        let at = self.end();
        model.resizes.push_back((at, size));
        model.size = Some(size);
    }

    /// Feeds the model up to `budget` bytes of the output it has not seen;
    /// `true` when more is waiting. CPU work: run it off the async threads.
    pub fn catch_up(&self, budget: usize) -> bool {
        let mut model = lock(&self.model);
        let mut fed = 0;
        loop {
            while let Some(&(at, size)) = model.resizes.front() {
                if at > model.at {
                    break;
                }
                model.resizes.pop_front();
                if let Err(e) = model.screen.resize(size) {
                    tracing::debug!(error = %e, "ignoring a bad terminal size");
                }
            }
            let (start, end) = {
                let ring = lock(&self.ring);
                (ring.start, ring.end())
            };
            if model.at < start {
                // The model fell further behind than the ring holds: it
                // goes on from the oldest byte kept (the screen repairs
                // itself with the next full redraw).
                tracing::debug!(skipped = start - model.at, "terminal model fell behind");
                model.at = start;
            }
            if model.at >= end {
                return false;
            }
            if fed >= budget {
                return true;
            }
            let stop = model
                .resizes
                .front()
                .map_or(end, |&(at, _)| at.min(end))
                .min(model.at + (budget - fed) as u64);
            let chunk = match self.read(model.at, (stop - model.at) as usize, u64::MAX) {
                Read::Data(bytes) => bytes,
                _ => return false,
            };
            model.screen.feed(&chunk);
            model.at += chunk.len() as u64;
            fed += chunk.len();
        }
    }

    /// The last known size.
    pub fn size(&self) -> Option<Size> {
        lock(&self.model).size
    }

    /// The offset the next output byte will have.
    pub fn end(&self) -> u64 {
        lock(&self.ring).end()
    }

    /// Whether every byte from `offset` on is still held.
    pub fn holds(&self, offset: u64) -> bool {
        let ring = lock(&self.ring);
        ring.start <= offset && offset <= ring.end()
    }

    /// Up to `max` bytes from `offset`; [`Read::Behind`] when that is out
    /// of the ring or more than `max_lag` bytes behind its end.
    pub fn read(&self, offset: u64, max: usize, max_lag: u64) -> Read {
        let ring = lock(&self.ring);
        let end = ring.end();
        if offset < ring.start || offset > end || end - offset > max_lag {
            return Read::Behind;
        }
        if offset == end {
            return Read::UpToDate;
        }
        let from = (offset - ring.start) as usize;
        let to = from + ((end - offset) as usize).min(max);
        let (a, b) = ring.bytes.as_slices();
        let mut out = Vec::with_capacity(to - from);
        if from < a.len() {
            out.extend_from_slice(&a[from..to.min(a.len())]);
        }
        if to > a.len() {
            out.extend_from_slice(&b[from.saturating_sub(a.len())..to - a.len()]);
        }
        Read::Data(out)
    }

    /// A repaint of the screen and the offset it is valid at (the model
    /// may lag the ring a little; the bytes from that offset are in it).
    pub fn snapshot(&self) -> (u64, Vec<u8>) {
        let model = lock(&self.model);
        (model.at, model.screen.repaint())
    }

    /// Waits for output beyond what a receiver saw.
    pub fn watch_end(&self) -> watch::Receiver<u64> {
        self.end.subscribe()
    }

    /// A control frame from the manager, for every viewer.
    pub fn control(&self, text: &str) {
        let _ = self.controls.send(Arc::from(text));
    }

    /// Control frames from now on.
    pub fn watch_controls(&self) -> broadcast::Receiver<Arc<str>> {
        self.controls.subscribe()
    }

    /// Sends a live event to the manager's stream (dropped when it is not
    /// connected).
    pub fn to_manager(&self, event: ManagerEvent) {
        let _ = self.manager.send(event);
    }

    /// Live events for the manager from now on.
    pub fn manager_events(&self) -> broadcast::Receiver<ManagerEvent> {
        self.manager.subscribe()
    }

    /// A viewer arrived; returns the new count.
    pub fn attach(&self) -> usize {
        self.viewers.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// A viewer left; returns the new count.
    pub fn detach(&self) -> usize {
        self.viewers
            .fetch_sub(1, Ordering::AcqRel)
            .saturating_sub(1)
    }

    /// Viewers attached now.
    pub fn viewers(&self) -> usize {
        self.viewers.load(Ordering::Acquire)
    }
}

#[cold]
fn unreachable_screen() -> Screen {
    // Size::default() is 80x24; Screen::new only fails on a zero size.
    panic!("an 80x24 screen could not be created")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_keeps_the_newest_bytes_at_their_offsets() {
        let t = Terminal::new(8);
        t.output(b"abcdef");
        assert_eq!(t.read(0, 100, 100), Read::Data(b"abcdef".to_vec()));
        assert_eq!(t.read(2, 3, 100), Read::Data(b"cde".to_vec()));
        assert_eq!(t.read(6, 100, 100), Read::UpToDate);
        t.output(b"ghij");
        assert_eq!(t.end(), 10);
        assert_eq!(t.read(1, 100, 100), Read::Behind);
        assert_eq!(t.read(2, 100, 100), Read::Data(b"cdefghij".to_vec()));
        assert_eq!(t.read(2, 100, 4), Read::Behind, "too far behind");
        t.output(b"0123456789xyz");
        assert_eq!(t.end(), 23);
        assert!(!t.holds(14) && t.holds(15) && t.holds(23) && !t.holds(24));
        assert_eq!(t.read(15, 100, 100), Read::Data(b"56789xyz".to_vec()));
    }

    #[test]
    fn snapshot_matches_the_offset() {
        let t = Terminal::new(1024);
        t.resize(Size { rows: 3, cols: 10 });
        t.output(b"one\r\ntwo");
        assert_eq!(t.snapshot().0, 0, "the model follows later");
        assert!(t.catch_up(4), "more to feed");
        assert!(!t.catch_up(1024));
        let (at, repaint) = t.snapshot();
        assert_eq!(at, 8);
        let mut copy = Screen::new(Size { rows: 3, cols: 10 }).unwrap();
        copy.feed(&repaint);
        assert_eq!(copy.text(), "one\ntwo");
        assert_eq!(t.size(), Some(Size { rows: 3, cols: 10 }));
    }
}
