#![doc = include_str!("../README.md")]

pub mod api;
pub mod command;
pub mod hooks;
pub mod limits;
pub mod name;
pub mod recording;
pub mod stream;
pub mod wire;

#[cfg(feature = "engine")]
pub mod engine;
#[cfg(feature = "engine")]
pub mod private;
#[cfg(feature = "engine")]
pub mod store;

pub use command::ManagerCommand;
pub use name::{FlowName, NameError, WorkerName};
pub use stream::StreamEvent;
pub use wire::*;
