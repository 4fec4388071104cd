//! Python bindings for [`tubemail_client`]: the `tubemail` package.
//!
//! Built with maturin (`pip install ./bindings/python`); see
//! `bindings/python/README.md`. The classes wrap the Rust client, they do
//! not re-implement HTTP:
//!
//! - `client`: `Client` (blocking, GIL released while waiting) and
//!   `AsyncClient` (asyncio), generated from one list of operations.
//! - `ops`: each operation once, as a future ending in a Python object.
//! - `events`: `EventIterator` / `AsyncEventIterator` over
//!   [`tubemail_client::EventStream`].
//! - `convert`: JSON ⇄ Python, argument types, the result classes.
//! - `errors`: `TubemailError` and its subclasses.
//! - `runtime`: the tokio runtime, blocking calls, asyncio awaitables, and
//!   the gate that keeps runtime threads out of an exiting interpreter.
//!
//! Tested from Python: `bindings/python/tests` (pytest against a real hub).

mod client;
mod convert;
mod errors;
mod events;
mod ops;
mod runtime;

use pyo3::prelude::*;

/// Client for the TubeMail hub: `Client`, `AsyncClient`, event iterators,
/// result classes and exceptions.
#[pymodule(name = "tubemail")]
fn tubemail_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<client::Client>()?;
    m.add_class::<client::AsyncClient>()?;
    m.add_class::<events::EventIterator>()?;
    m.add_class::<events::AsyncEventIterator>()?;
    m.add_class::<convert::StreamEvent>()?;
    m.add_class::<convert::Event>()?;
    m.add_class::<convert::SendReceipt>()?;
    m.add_class::<convert::Appended>()?;
    m.add_class::<convert::Worker>()?;
    m.add_class::<convert::WorkerStatus>()?;
    m.add_class::<convert::StateReason>()?;
    m.add_class::<convert::PendingPermission>()?;
    m.add_class::<convert::Health>()?;
    m.add_class::<convert::Settings>()?;
    m.add_class::<convert::Flow>()?;
    m.add_class::<convert::Run>()?;
    m.add_class::<convert::RunStarted>()?;
    m.add_class::<convert::Registration>()?;
    errors::register(m)?;
    runtime::register(m)?;
    m.add("DEFAULT_HUB_URL", tubemail_client::DEFAULT_HUB_URL)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
