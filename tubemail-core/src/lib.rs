#![doc = include_str!("../README.md")]

pub mod api;
pub mod name;
pub mod recording;
pub mod wire;

#[cfg(feature = "engine")]
pub mod engine;
#[cfg(feature = "engine")]
pub mod store;

pub use name::{FlowName, NameError, WorkerName};
pub use wire::*;
