//! Tickets: single-use, short-lived credentials for what a browser opens
//! by URL (it cannot set headers there): a terminal WebSocket, scoped to
//! one worker, and the global event stream, carrying the scope of whoever
//! asked for it. Each is tied to the credential that asked for it: its
//! revocation ends what the ticket opened.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use tubemail_core::WorkerName;

use crate::tokens::Revocation;

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

/// An issued ticket.
#[derive(Debug)]
struct Open<T> {
    /// What it is for (a worker, or a scope).
    owner: T,
    at: Instant,
    revocation: Revocation,
}

/// The open tickets (in memory only, like the original), each for a `T`
/// (a worker, or a scope).
#[derive(Debug)]
pub struct Tickets<T = WorkerName> {
    open: Mutex<HashMap<String, Open<T>>>,
}

impl<T> Default for Tickets<T> {
    fn default() -> Self {
        Tickets {
            open: Mutex::new(HashMap::new()),
        }
    }
}

impl<T: Clone> Tickets<T> {
    /// Issues a ticket for `owner` to the credential of `revocation`:
    /// 32 random bytes, URL-safe base64 (43 characters). `None` when too
    /// many are open.
    pub fn issue(&self, owner: &T, revocation: Revocation) -> Option<String> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).ok()?;
        let ticket = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        // Expired tickets go here too (and on the hub's timer).
        open.retain(|_, t| t.at.elapsed() < TICKET_TTL);
        if open.len() >= MAX_OPEN {
            return None;
        }
        open.insert(
            ticket.clone(),
            Open {
                owner: owner.clone(),
                at: Instant::now(),
                revocation,
            },
        );
        Some(ticket)
    }

    /// Takes `ticket` out, whatever comes of it.
    fn take(&self, ticket: &str) -> Result<Open<T>, TicketError> {
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(ticket)
            .ok_or(TicketError::Unknown)
    }

    /// Takes `ticket` out: what it was issued for and the revocation of
    /// the credential it was issued to, if it is still fresh.
    pub fn redeem(&self, ticket: &str) -> Result<(T, Revocation), TicketError> {
        let open = self.take(ticket)?;
        if open.at.elapsed() >= TICKET_TTL {
            return Err(TicketError::Expired);
        }
        Ok((open.owner, open.revocation))
    }

    /// Takes `ticket` out (whatever the outcome) and checks it is for
    /// `worker` and still fresh; gives the revocation of the credential it
    /// was issued to.
    pub fn consume(&self, ticket: &str, worker: &T) -> Result<Revocation, TicketError>
    where
        T: PartialEq,
    {
        let open = self.take(ticket)?;
        if open.owner != *worker {
            return Err(TicketError::WrongWorker);
        }
        if open.at.elapsed() >= TICKET_TTL {
            return Err(TicketError::Expired);
        }
        Ok(open.revocation)
    }

    /// Drops expired tickets; returns how many.
    pub fn sweep(&self) -> usize {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let before = open.len();
        open.retain(|_, t| t.at.elapsed() < TICKET_TTL);
        before - open.len()
    }

    /// Tickets held now (used or expired ones are not).
    pub fn open_count(&self) -> usize {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Ages every ticket by `by` (tests of expiry without waiting).
    #[doc(hidden)]
    pub fn age_all(&self, by: Duration) {
        for t in self
            .open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values_mut()
        {
            t.at = t.at.checked_sub(by).unwrap_or(t.at);
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
        let one = t.issue(&a, Revocation::default()).unwrap();
        assert_eq!(one.len(), 43);
        assert_ne!(one, t.issue(&a, Revocation::default()).unwrap());
        assert!(t.consume(&one, &a).is_ok());
        assert_eq!(t.consume(&one, &a).err(), Some(TicketError::Unknown));
        let two = t.issue(&a, Revocation::default()).unwrap();
        assert_eq!(t.consume(&two, &b).err(), Some(TicketError::WrongWorker));
        assert_eq!(
            t.consume(&two, &a).err(),
            Some(TicketError::Unknown),
            "burned"
        );
        let three = t.issue(&a, Revocation::default()).unwrap();
        t.age_all(TICKET_TTL);
        assert_eq!(t.consume(&three, &a).err(), Some(TicketError::Expired));
        let four = t.issue(&a, Revocation::default()).unwrap();
        t.age_all(TICKET_TTL);
        assert_eq!(t.sweep(), 1);
        assert_eq!(t.consume(&four, &a).err(), Some(TicketError::Unknown));
        // Issuing drops expired tickets as well.
        let _five = t.issue(&a, Revocation::default()).unwrap();
        t.age_all(TICKET_TTL);
        let _six = t.issue(&a, Revocation::default()).unwrap();
        assert_eq!(t.open_count(), 1);
    }
}
