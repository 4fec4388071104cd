//! File descriptors: the process's limit raised at start, accept failures
//! logged (at most every few seconds), and a budget of connections that
//! have not made an authenticated request yet, so idle or unauthenticated
//! sockets cannot take every descriptor from the clients that matter.
//!
//! Every accepted connection starts *unproven*. The first request on it
//! that carries a valid credential proves it (the guard calls
//! [`Connections::proven`]). When more connections than the budget are
//! unproven, the oldest unproven one is closed: an attacker holding
//! sockets open only pushes out its own older sockets, while a client
//! that connects and authenticates is never closed by this.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// Raises the soft limit of open files to the hard limit and logs both;
/// returns the soft limit in force after.
pub fn raise_nofile_limit() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return 1024;
    };
    if soft >= hard {
        tracing::info!(soft, hard, "open file limit");
        return soft;
    }
    match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
        Ok(()) => {
            tracing::info!(soft = hard, hard, was = soft, "open file limit raised");
            hard
        }
        Err(e) => {
            tracing::warn!(soft, hard, error = %e, "could not raise the open file limit");
            soft
        }
    }
}

/// The soft limit of open files now.
pub fn nofile_limit() -> u64 {
    nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_or(1024, |(soft, _)| soft)
}

/// Logs a failed accept: running out of descriptors as a warning at most
/// once every 5 s (the server retries at once, and would log thousands of
/// lines), other errors at debug level. True when it warned.
pub fn log_accept_error(last: &AtomicU64, epoch: Instant, e: &io::Error) -> bool {
    let out_of_fds = matches!(e.raw_os_error(), Some(code) if code == EMFILE || code == ENFILE);
    if !out_of_fds {
        tracing::debug!(error = %e, "accept failed");
        return false;
    }
    // Seconds since `epoch`, plus one: `last` = 0 means never logged.
    let now = epoch.elapsed().as_secs() + 1;
    let before = last.load(Ordering::Relaxed);
    if (before == 0 || now.saturating_sub(before) >= 5)
        && last
            .compare_exchange(before, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        tracing::warn!(error = %e, limit = nofile_limit(), "out of file descriptors: new connections wait");
        return true;
    }
    false
}

const EMFILE: i32 = nix::errno::Errno::EMFILE as i32;
const ENFILE: i32 = nix::errno::Errno::ENFILE as i32;

#[derive(Debug, Default)]
struct Waiting {
    /// Unproven connections by when they came (a sequence number).
    by_age: BTreeMap<u64, (SocketAddr, CancellationToken)>,
    by_peer: HashMap<SocketAddr, u64>,
    next: u64,
}

/// The connections of one hub that have not proven themselves yet.
#[derive(Debug)]
pub struct Connections {
    budget: usize,
    waiting: Mutex<Waiting>,
}

impl Connections {
    /// At most `budget` unproven connections at once.
    pub fn new(budget: usize) -> Self {
        Connections {
            budget: budget.max(1),
            waiting: Mutex::new(Waiting::default()),
        }
    }

    /// How many unproven connections may be open at once.
    pub fn budget(&self) -> usize {
        self.budget
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new connection from `peer`: counted as unproven; the oldest
    /// unproven ones beyond the budget are told to close.
    fn admit(&self, peer: SocketAddr) -> (u64, CancellationToken) {
        let token = CancellationToken::new();
        let mut w = self.lock();
        let seq = w.next;
        w.next += 1;
        w.by_age.insert(seq, (peer, token.clone()));
        if let Some(old) = w.by_peer.insert(peer, seq) {
            w.by_age.remove(&old);
        }
        while w.by_age.len() > self.budget {
            let Some((_, (old_peer, old))) = w.by_age.pop_first() else {
                break;
            };
            w.by_peer.remove(&old_peer);
            old.cancel();
        }
        (seq, token)
    }

    /// The connection from `peer` made an authenticated request: it is no
    /// longer counted, nor ever closed here.
    pub fn proven(&self, peer: SocketAddr) {
        let mut w = self.lock();
        if let Some(seq) = w.by_peer.remove(&peer) {
            w.by_age.remove(&seq);
        }
    }

    /// Connection `seq` from `peer` closed.
    fn closed(&self, peer: SocketAddr, seq: u64) {
        let mut w = self.lock();
        w.by_age.remove(&seq);
        if w.by_peer.get(&peer) == Some(&seq) {
            w.by_peer.remove(&peer);
        }
    }

    /// Unproven connections open now.
    pub fn waiting(&self) -> usize {
        self.lock().by_age.len()
    }
}

/// An acceptor that sets TCP_NODELAY (streams write many small frames;
/// without it the second of two quick writes waits for the peer's delayed
/// ACK, ~40 ms) and counts the connection against the budget.
#[derive(Debug, Clone)]
pub struct Budgeted {
    conns: Arc<Connections>,
}

impl Budgeted {
    /// Counting against `conns`.
    pub fn new(conns: Arc<Connections>) -> Self {
        Budgeted { conns }
    }
}

impl<S> Accept<TcpStream, S> for Budgeted {
    type Stream = Watched;
    type Service = S;
    type Future = std::future::Ready<io::Result<(Watched, S)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let accepted = stream.set_nodelay(true).and_then(|()| {
            let peer = stream.peer_addr()?;
            let (seq, token) = self.conns.admit(peer);
            Ok((
                Watched {
                    inner: stream,
                    peer,
                    seq,
                    closing: Box::pin(token.cancelled_owned()),
                    conns: self.conns.clone(),
                },
                service,
            ))
        });
        std::future::ready(accepted)
    }
}

/// A connection that ends (reads see EOF, writes fail) once the budget
/// closes it.
pub struct Watched {
    inner: TcpStream,
    peer: SocketAddr,
    seq: u64,
    closing: Pin<Box<WaitForCancellationFutureOwned>>,
    conns: Arc<Connections>,
}

impl Watched {
    fn closed(&mut self, cx: &mut Context<'_>) -> bool {
        self.closing.as_mut().poll(cx).is_ready()
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.conns.closed(self.peer, self.seq);
    }
}

fn evicted() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "closed: too many unauthenticated connections",
    )
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.closed(cx) {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.closed(cx) {
            return Poll::Ready(Err(evicted()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_out_of_descriptors_is_said_once_every_few_seconds() {
        let last = AtomicU64::new(0);
        let epoch = Instant::now();
        let emfile = io::Error::from_raw_os_error(EMFILE);
        assert!(log_accept_error(&last, epoch, &emfile));
        assert!(!log_accept_error(&last, epoch, &emfile));
        assert!(!log_accept_error(
            &last,
            epoch,
            &io::Error::from_raw_os_error(ENFILE)
        ));
        // Five seconds on (an epoch 5 s earlier), it is said again.
        if let Some(earlier) = epoch.checked_sub(std::time::Duration::from_secs(5)) {
            assert!(log_accept_error(&last, earlier, &emfile));
        }
        let other = io::Error::from(io::ErrorKind::ConnectionReset);
        assert!(!log_accept_error(&AtomicU64::new(0), epoch, &other));
    }

    #[test]
    fn the_oldest_unproven_connections_make_room() {
        let conns = Connections::new(2);
        let peer = |port| SocketAddr::from(([127, 0, 0, 1], port));
        let (_, a) = conns.admit(peer(1));
        let (_, b) = conns.admit(peer(2));
        conns.proven(peer(2));
        let (_, c) = conns.admit(peer(3));
        let (d_seq, d) = conns.admit(peer(4));
        assert!(a.is_cancelled(), "the oldest unproven one goes");
        assert!(!b.is_cancelled(), "a proven one stays");
        assert!(!c.is_cancelled() && !d.is_cancelled());
        conns.closed(peer(4), d_seq);
        assert_eq!(conns.waiting(), 1);
    }
}
