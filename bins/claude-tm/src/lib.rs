//! The library part of `claude-tm`: what it reads off Claude Code's
//! rendered screen ([`screen`]). The binary (`src/main.rs`) holds the
//! launcher, the manager and the channel; this part is a library so its
//! readers can be tested against screens recorded from each supported CLI
//! version (`tests/screens.rs`).

pub mod screen;
