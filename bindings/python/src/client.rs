//! `tubemail.Client` (blocking) and `tubemail.AsyncClient` (asyncio).

use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::convert::{BehaviorArg, MetaArg, SinceArg, worker_name};
use crate::errors::to_py_err;
use crate::events::{AsyncEventIterator, EventIterator, Source, open_async, open_blocking};
use crate::ops::Core;
use crate::runtime::{awaitable, block};

/// A blocking client for one hub; safe to share between threads.
///
/// Every call releases the GIL while it waits for the hub. Errors raise a
/// subclass of `TubemailError`.
///
/// ```python
/// hub = tubemail.Client("http://127.0.0.1:8004", secret)  # or Client.from_env()
/// sent = hub.send("myproject-tm", "run the tests")
/// for ev in hub.wait("myproject-tm", since=sent.event_id, timeout=60):
///     print(ev.kind, ev.content)
/// ```
#[pyclass(module = "tubemail", frozen)]
pub(crate) struct Client {
    core: Core,
}

/// An asyncio client for one hub: every operation of `Client`, as a
/// coroutine.
///
/// ```python
/// hub = tubemail.AsyncClient.from_env()
/// sent = await hub.send("myproject-tm", "run the tests")
/// async for ev in hub.events():
///     print(ev.event, ev.data)
/// ```
#[pyclass(module = "tubemail", frozen)]
pub(crate) struct AsyncClient {
    core: Core,
}

fn repr(class: &str, core: &Core, py: Python<'_>) -> PyResult<String> {
    Ok(format!(
        "{class}({})",
        PyString::new(py, core.hub.url()).repr()?
    ))
}

/// Generates the operations on both classes from one list: the blocking
/// method runs the shared future with the GIL released, the async one
/// returns it as an awaitable. `sync { … }` / `async { … }` hold the
/// methods that differ.
macro_rules! operations {
    (
        sync { $($sync:tt)* }
        async { $($async_:tt)* }
        $(
            $(#[doc = $doc:literal])*
            #[pyo3(signature = $sig:tt)]
            fn $name:ident($($arg:ident: $ty:ty),* $(,)?);
        )*
    ) => {
        #[pymethods]
        impl Client {
            $($sync)*
            $(
                $(#[doc = $doc])*
                #[pyo3(signature = $sig)]
                #[allow(clippy::too_many_arguments, reason = "one Rust argument per Python keyword argument")]
                fn $name(&self, py: Python<'_>, $($arg: $ty),*) -> PyResult<Py<PyAny>> {
                    block(py, self.core.$name($($arg),*))?
                }
            )*
        }

        #[pymethods]
        impl AsyncClient {
            $($async_)*
            $(
                $(#[doc = $doc])*
                #[pyo3(signature = $sig)]
                #[allow(clippy::too_many_arguments, reason = "one Rust argument per Python keyword argument")]
                fn $name<'py>(&self, py: Python<'py>, $($arg: $ty),*) -> PyResult<Bound<'py, PyAny>> {
                    awaitable(py, self.core.$name($($arg),*))
                }
            )*
        }
    };
}

operations! {
    sync {
        /// A client for the hub at `url` (default `http://localhost:8004`)
        /// with its bearer `secret`; `timeout` (seconds) bounds ordinary
        /// requests (streams and `wait` have their own).
        #[new]
        #[pyo3(signature = (url=None, secret=None, *, timeout=30.0))]
        fn new(url: Option<String>, secret: Option<String>, timeout: f64) -> PyResult<Self> {
            Ok(Client { core: Core::new(url, secret, timeout)? })
        }

        /// A client from `TUBEMAIL_HUB_URL` (empty or unset: the default)
        /// and `TUBEMAIL_TOKEN` (a scoped token) or else `TUBEMAIL_SECRET`;
        /// raises `ConfigError` without either.
        #[staticmethod]
        fn from_env() -> PyResult<Self> {
            Ok(Client { core: Core::from_env()? })
        }

        /// The hub's base URL.
        #[getter]
        fn url(&self) -> &str {
            self.core.hub.url()
        }

        /// Every worker's events and status notices from now on (or after
        /// `since`), as an iterator of `StreamEvent` that reconnects and
        /// resumes on its own. Connects before returning.
        #[pyo3(signature = (*, since=None))]
        fn events(&self, py: Python<'_>, since: Option<SinceArg>) -> PyResult<EventIterator> {
            open_blocking(py, self.core.hub.clone(), Source::Global, since.map(|s| s.0))
        }

        /// A worker's own stream (what its channel reads): messages to it,
        /// permission answers, interrupts. Resumes after `since`, else after
        /// what the worker's last stream handed over. Opening it marks the
        /// worker online, and a newer reader of the same worker ends this one.
        #[pyo3(signature = (worker, *, since=None))]
        fn worker_events(&self, py: Python<'_>, worker: &str, since: Option<SinceArg>) -> PyResult<EventIterator> {
            let w = worker_name(worker).map_err(to_py_err)?;
            open_blocking(py, self.core.hub.clone(), Source::Worker(w), since.map(|s| s.0))
        }

        fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
            repr("Client", &self.core, py)
        }
    }
    async {
        /// An asyncio client for the hub at `url` (default
        /// `http://localhost:8004`) with its bearer `secret`; `timeout`
        /// (seconds) bounds ordinary requests.
        #[new]
        #[pyo3(signature = (url=None, secret=None, *, timeout=30.0))]
        fn new(url: Option<String>, secret: Option<String>, timeout: f64) -> PyResult<Self> {
            Ok(AsyncClient { core: Core::new(url, secret, timeout)? })
        }

        /// A client from `TUBEMAIL_HUB_URL` (empty or unset: the default)
        /// and `TUBEMAIL_TOKEN` (a scoped token) or else `TUBEMAIL_SECRET`;
        /// raises `ConfigError` without either.
        #[staticmethod]
        fn from_env() -> PyResult<Self> {
            Ok(AsyncClient { core: Core::from_env()? })
        }

        /// The hub's base URL.
        #[getter]
        fn url(&self) -> &str {
            self.core.hub.url()
        }

        /// Every worker's events and status notices, as an async iterator of
        /// `StreamEvent` that reconnects and resumes on its own. `await` it
        /// to connect now ("from now" = from then), or `async for` over it
        /// directly to connect on first use.
        #[pyo3(signature = (*, since=None))]
        fn events(&self, since: Option<SinceArg>) -> AsyncEventIterator {
            open_async(self.core.hub.clone(), Source::Global, since.map(|s| s.0))
        }

        /// A worker's own stream, as an async iterator (see `events`).
        #[pyo3(signature = (worker, *, since=None))]
        fn worker_events(&self, worker: &str, since: Option<SinceArg>) -> PyResult<AsyncEventIterator> {
            let w = worker_name(worker).map_err(to_py_err)?;
            Ok(open_async(self.core.hub.clone(), Source::Worker(w), since.map(|s| s.0)))
        }

        fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
            repr("AsyncClient", &self.core, py)
        }
    }

    /// The hub's version, uptime and load (`Health`).
    #[pyo3(signature = ())]
    fn health();

    /// The roster: a `Worker` per registered worker.
    #[pyo3(signature = ())]
    fn workers();

    /// One roster row (`Worker`); `NotFound` for an unknown worker.
    #[pyo3(signature = (name))]
    fn worker(name: String);

    /// Sends `message` to `worker` (a harness command such as `/clear` goes
    /// to its manager); returns a `SendReceipt` once the message is on the
    /// hub's disk. Repeating an `idempotency_key` returns the first receipt
    /// (`duplicate=True`) instead of sending twice.
    #[pyo3(signature = (worker, message, *, meta=None, idempotency_key=None))]
    fn send(worker: String, message: String, meta: Option<MetaArg>, idempotency_key: Option<String>);

    /// The worker's timeline: `Event`s after `since` (an event id), or the
    /// newest `limit` (1-500).
    #[pyo3(signature = (worker, *, since=None, limit=100))]
    fn receive(worker: String, since: Option<SinceArg>, limit: u32);

    /// The worker's state with its reason and delivery receipts (`WorkerStatus`).
    #[pyo3(signature = (worker))]
    fn status(worker: String);

    /// Waits up to `timeout` seconds (at most 300) for events after `since`
    /// (or from now); returns them as soon as there are any, `[]` on timeout.
    #[pyo3(signature = (worker, *, since=None, timeout=30.0))]
    fn wait(worker: String, since: Option<SinceArg>, timeout: f64);

    /// Interrupts the worker; returns the event id.
    #[pyo3(signature = (worker))]
    fn interrupt(worker: String);

    /// Restarts the worker's claude via its manager; returns the event id.
    #[pyo3(signature = (worker))]
    fn restart(worker: String);

    /// Stops the worker via its manager; returns the event id.
    #[pyo3(signature = (worker))]
    fn stop(worker: String);

    /// Types `keys` (`enter`, `esc`, text, …) via the manager; returns the
    /// number of bytes sent.
    #[pyo3(signature = (worker, keys))]
    fn keystroke(worker: String, keys: String);

    /// `/clear`, then `/rename <worker>` (if `restore_name`), then `message`,
    /// `delay` seconds apart; `ServerError` 409 unless the worker is idle.
    #[pyo3(signature = (worker, message, *, delay=1.5, restore_name=true))]
    fn clear_and_send(worker: String, message: String, delay: f64, restore_name: bool);

    /// Process health from the worker's manager (a `dict`); `ServerError`
    /// 409 at once when its manager is not connected, 504 when a connected
    /// manager does not answer within 5 s.
    #[pyo3(signature = (worker))]
    fn manager_health(worker: String);

    /// The worker's screen text from its manager (waits up to 5 s).
    #[pyo3(signature = (worker, *, max_lines=None))]
    fn screenshot(worker: String, max_lines: Option<u32>);

    /// Asks the worker's manager to reconnect one MCP server (waits up to
    /// 30 s); returns the manager's answer as a `dict`.
    #[pyo3(signature = (worker, server))]
    fn reconnect_mcp(worker: String, server: String);

    /// Removes a worker with its timeline; `True` if it existed.
    #[pyo3(signature = (worker))]
    fn purge(worker: String);

    /// Pending permission prompts (`PendingPermission`), of one worker or
    /// of all; those of offline workers too with `include_offline`.
    #[pyo3(signature = (worker=None, *, include_offline=false))]
    fn permissions(worker: Option<String>, include_offline: bool);

    /// Answers a permission prompt with `"allow"` or `"deny"`; `False` when
    /// it was not pending.
    #[pyo3(signature = (worker, request_id, behavior))]
    fn respond(worker: String, request_id: String, behavior: BehaviorArg);

    /// `respond(worker, request_id, "allow")`.
    #[pyo3(signature = (worker, request_id))]
    fn allow(worker: String, request_id: String);

    /// `respond(worker, request_id, "deny")`.
    #[pyo3(signature = (worker, request_id))]
    fn deny(worker: String, request_id: String);

    /// The hub's `Settings`.
    #[pyo3(signature = ())]
    fn settings();

    /// Changes the given settings (the others stay); returns all `Settings`.
    /// Out-of-range values raise `BadRequest`.
    #[pyo3(signature = (*, recording_enabled_by_default=None, recording_max_bytes_per_file=None, recording_keep_files=None, retention_max_age_days=None, retention_max_events_per_worker=None, retention_max_database_mib=None, permission_timeout_secs=None, permission_default_answer=None))]
    fn update_settings(
        recording_enabled_by_default: Option<bool>,
        recording_max_bytes_per_file: Option<u64>,
        recording_keep_files: Option<u32>,
        retention_max_age_days: Option<u32>,
        retention_max_events_per_worker: Option<u64>,
        retention_max_database_mib: Option<u64>,
        permission_timeout_secs: Option<u64>,
        permission_default_answer: Option<BehaviorArg>,
    );

    /// Every saved `Flow`.
    #[pyo3(signature = ())]
    fn flows();

    /// Saves (creates or replaces) a flow; returns the `Flow`.
    #[pyo3(signature = (name, body, *, default_worker=None, meta=None))]
    fn save_flow(name: String, body: String, default_worker: Option<String>, meta: Option<MetaArg>);

    /// Runs a flow (to `worker`, else its default worker); returns a
    /// `RunStarted` with the run id and the id of the message it sent.
    #[pyo3(signature = (name, *, worker=None, meta=None))]
    fn run_flow(name: String, worker: Option<String>, meta: Option<MetaArg>);

    /// A `Run` with its worker's events.
    #[pyo3(signature = (run_id))]
    fn run_log(run_id: String);

    /// Deletes a flow; `True` if it existed.
    #[pyo3(signature = (name))]
    fn delete_flow(name: String);

    /// The permission rules, in order (first match wins), as dicts.
    #[pyo3(signature = ())]
    fn rules();

    /// Adds a permission rule (at the end, or at `position`); returns it
    /// with its id. `verdict` is "allow", "deny" or "ask"; `worker`,
    /// `tool` (both default "*", any) and `project` are names or globs,
    /// `input` a regex on the tool's main argument. An invalid glob or
    /// regex raises `BadRequest`.
    #[pyo3(signature = (verdict, *, worker=None, tool=None, project=None, input=None, name=None, timeout_secs=None, default_answer=None, position=None))]
    fn add_rule(
        verdict: String,
        worker: Option<String>,
        tool: Option<String>,
        project: Option<String>,
        input: Option<String>,
        name: Option<String>,
        timeout_secs: Option<u64>,
        default_answer: Option<BehaviorArg>,
        position: Option<usize>,
    );

    /// Removes a permission rule; `BadRequest`/`NotFound` as the hub says.
    #[pyo3(signature = (id))]
    fn delete_rule(id: String);

    /// Which rule would decide a prompt, and how (nothing is recorded):
    /// a dict with `rule`, `verdict`, `timeout_secs`, `default_answer`.
    #[pyo3(signature = (worker, tool_name, input_preview=None, *, project=None))]
    fn test_rules(worker: String, tool_name: String, input_preview: Option<String>, project: Option<String>);

    /// Every webhook (URL redacted, secret never shown), as dicts; the
    /// shared secret only.
    #[pyo3(signature = ())]
    fn webhooks();

    /// A webhook's notifications, newest first, as dicts (status,
    /// attempts, last error); the shared secret only.
    #[pyo3(signature = (id, limit=20))]
    fn webhook_deliveries(id: String, limit: u32);

    /// Worker side: registers (or re-registers) `worker`; returns a
    /// `Registration`.
    #[pyo3(signature = (worker, cwd, *, pid=None, forwarder_version=None, permission_mode=None))]
    fn register(
        worker: String,
        cwd: String,
        pid: Option<i64>,
        forwarder_version: Option<String>,
        permission_mode: Option<String>,
    );

    /// Worker side: posts a reply from `worker`; returns the `Appended` event.
    #[pyo3(signature = (worker, text, *, meta=None))]
    fn outbound(worker: String, text: String, meta: Option<MetaArg>);

    /// Worker side: relays a permission prompt (with a human
    /// `description` and a preview of the tool input); returns the
    /// `Appended` event.
    #[pyo3(signature = (worker, request_id, tool_name, *, description=None, input_preview=None))]
    fn permission_request(
        worker: String,
        request_id: String,
        tool_name: String,
        description: Option<String>,
        input_preview: Option<String>,
    );

    /// Worker side: reports a prompt answered at the worker (`"allow"` or
    /// `"deny"`); `False` when it was not pending.
    #[pyo3(signature = (worker, request_id, behavior))]
    fn permission_response(worker: String, request_id: String, behavior: BehaviorArg);

    /// Manager side: reports context window use in percent (`None`:
    /// unknown); `True` when it changed.
    #[pyo3(signature = (worker, pct))]
    fn context_pct(worker: String, pct: Option<u8>);

    /// Worker side: reports a condition that keeps `worker` from taking
    /// messages, `"channel_unavailable"` or `"blocked"`, with what was seen
    /// (`detail`); `signal=None` clears it. `True` when it changed.
    #[pyo3(signature = (worker, signal, *, detail=None))]
    fn set_condition(worker: String, signal: Option<String>, detail: Option<String>);

    /// Manager side: reports whether the worker is working (also a
    /// heartbeat); `True` when it changed.
    #[pyo3(signature = (worker, is_active))]
    fn set_active(worker: String, is_active: bool);

    /// Worker side: confirms that events up to `through` (an event id)
    /// reached the worker's session; a later stream opened without an id
    /// resumes after it. `True` when the position moved.
    #[pyo3(signature = (worker, through))]
    fn delivered(worker: String, through: SinceArg);

    /// Worker side: ends the worker's streams (keeps its state).
    #[pyo3(signature = (worker))]
    fn unregister(worker: String);

    /// Worker side: a clean exit.
    #[pyo3(signature = (worker))]
    fn goodbye(worker: String);
}
