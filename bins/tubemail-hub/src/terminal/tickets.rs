//! WebSocket tickets: single-use, short-lived, scoped to one worker, and
//! tied to the credential that asked for them (its revocation ends the
//! WebSocket the ticket opened).

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
struct Open {
    worker: WorkerName,
    at: Instant,
    revocation: Revocation,
}

/// The open tickets (in memory only, like the original).
#[derive(Debug, Default)]
pub struct Tickets {
    open: Mutex<HashMap<String, Open>>,
}

impl Tickets {
    /// Issues a ticket for `worker` to the credential of `revocation`:
    /// 32 random bytes, URL-safe base64 (43 characters). `None` when too
    /// many are open.
    pub fn issue(&self, worker: &WorkerName, revocation: Revocation) -> Option<String> {
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
                worker: worker.clone(),
                at: Instant::now(),
                revocation,
            },
        );
        Some(ticket)
    }

    /// Takes `ticket` out (whatever the outcome) and checks it is for
    /// `worker` and still fresh; gives the revocation of the credential it
    /// was issued to.
    pub fn consume(&self, ticket: &str, worker: &WorkerName) -> Result<Revocation, TicketError> {
        let taken = self
            .open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(ticket);
        let Some(open) = taken else {
            return Err(TicketError::Unknown);
        };
        if open.worker != *worker {
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
