//! Tickets: single-use, short-lived credentials for what a browser opens
//! by URL (it cannot set headers there): a terminal WebSocket, scoped to
//! one worker, and the global event stream, carrying the scope of whoever
//! asked for it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use tubemail_core::WorkerName;

/// How long a ticket stays valid (the original's 30 s).
pub const TICKET_TTL: Duration = Duration::from_secs(30);
/// Open tickets at most; more answer 429 until some expire or are used.
const MAX_OPEN: usize = 1024;

/// Why a ticket was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketError {
    /// Never issued, already used, or burned.
    Unknown,
    /// Issued for another worker (it is burned now).
    WrongWorker,
    /// Older than [`TICKET_TTL`].
    Expired,
}

impl TicketError {
    /// A short reason for logs and the refusal body.
    pub fn reason(self) -> &'static str {
        match self {
            TicketError::Unknown => "unknown or already used ticket",
            TicketError::WrongWorker => "ticket is for another worker",
            TicketError::Expired => "ticket expired",
        }
    }
}

/// The open tickets (in memory only, like the original), each for a `T`
/// (a worker, or a scope).
#[derive(Debug)]
pub struct Tickets<T = WorkerName> {
    open: Mutex<HashMap<String, (T, Instant)>>,
}

impl<T> Default for Tickets<T> {
    fn default() -> Self {
        Tickets {
            open: Mutex::new(HashMap::new()),
        }
    }
}

impl<T: Clone> Tickets<T> {
    /// Issues a ticket for `worker`: 32 random bytes, URL-safe base64
    /// (43 characters). `None` when too many are open.
    pub fn issue(&self, worker: &T) -> Option<String> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).ok()?;
        let ticket = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        // Expired tickets go here too (and on the hub's timer).
        open.retain(|_, (_, at)| at.elapsed() < TICKET_TTL);
        if open.len() >= MAX_OPEN {
            return None;
        }
        open.insert(ticket.clone(), (worker.clone(), Instant::now()));
        Some(ticket)
    }

    /// Takes `ticket` out, whatever comes of it: what it was issued for
    /// and when.
    fn take(&self, ticket: &str) -> Result<(T, Instant), TicketError> {
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(ticket)
            .ok_or(TicketError::Unknown)
    }

    /// Takes `ticket` out: what it was issued for, if it is still fresh.
    pub fn redeem(&self, ticket: &str) -> Result<T, TicketError> {
        let (owner, at) = self.take(ticket)?;
        if at.elapsed() >= TICKET_TTL {
            return Err(TicketError::Expired);
        }
        Ok(owner)
    }

    /// Takes `ticket` out and checks it is for `worker` and still fresh
    /// (a ticket for another worker is burned).
    pub fn consume(&self, ticket: &str, worker: &T) -> Result<(), TicketError>
    where
        T: PartialEq,
    {
        let (owner, at) = self.take(ticket)?;
        if owner != *worker {
            return Err(TicketError::WrongWorker);
        }
        if at.elapsed() >= TICKET_TTL {
            return Err(TicketError::Expired);
        }
        Ok(())
    }

    /// Drops expired tickets; returns how many.
    pub fn sweep(&self) -> usize {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let before = open.len();
        open.retain(|_, (_, at)| at.elapsed() < TICKET_TTL);
        before - open.len()
    }

    /// Tickets held now (used or expired ones are not).
    pub fn open_count(&self) -> usize {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Ages every ticket by `by` (tests of expiry without waiting).
    #[doc(hidden)]
    pub fn age_all(&self, by: Duration) {
        for (_, at) in self
            .open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values_mut()
        {
            *at = at.checked_sub(by).unwrap_or(*at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_use_scoped_and_expiring() {
        let t = Tickets::default();
        let a: WorkerName = "a-tm".parse().unwrap();
        let b: WorkerName = "b-tm".parse().unwrap();
        let one = t.issue(&a).unwrap();
        assert_eq!(one.len(), 43);
        assert_ne!(one, t.issue(&a).unwrap());
        assert_eq!(t.consume(&one, &a), Ok(()));
        assert_eq!(t.consume(&one, &a), Err(TicketError::Unknown));
        let two = t.issue(&a).unwrap();
        assert_eq!(t.consume(&two, &b), Err(TicketError::WrongWorker));
        assert_eq!(t.consume(&two, &a), Err(TicketError::Unknown), "burned");
        let three = t.issue(&a).unwrap();
        t.age_all(TICKET_TTL);
        assert_eq!(t.consume(&three, &a), Err(TicketError::Expired));
        let four = t.issue(&a).unwrap();
        t.age_all(TICKET_TTL);
        assert_eq!(t.sweep(), 1);
        assert_eq!(t.consume(&four, &a), Err(TicketError::Unknown));
        // Issuing drops expired tickets as well.
        let _five = t.issue(&a).unwrap();
        t.age_all(TICKET_TTL);
        let _six = t.issue(&a).unwrap();
        assert_eq!(t.open_count(), 1);
    }
}
