//! The library part of `claude-tm`: what it reads off Claude Code's
//! rendered screen ([`screen`]), and the launcher's loop ([`supervise`]).
//! The binary (`src/main.rs`) holds the launcher's checks, the manager and
//! the channel; the screen readers are here so they can be tested against
//! screens recorded from each supported CLI version (`tests/screens.rs`),
//! the loop so the std-only `claude-tm-supervise` can run it.

pub mod screen;
pub mod supervise;
