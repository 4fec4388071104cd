//! Conversions between the hub's JSON and Python objects, argument types,
//! and the small result classes (`Event`, `SendReceipt`, `Worker`, …).
//!
//! Results are built from the wire JSON of the client's typed values, so a
//! class's attributes are exactly the hub's field names.

use pyo3::IntoPyObjectExt;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde::Serialize;
use serde_json::{Map, Number, Value};
use tubemail_client::core;
use tubemail_client::core::{Behavior, EventId, Meta, WorkerName};
use tubemail_client::{Error, StreamEvent as RustStreamEvent};

use crate::errors::{bad_argument, to_py_err};

/// JSON value → Python (`dict`, `list`, `str`, `int`, `float`, `bool`, `None`).
pub(crate) fn json_to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                PyFloat::new(py, n.as_f64().unwrap_or(f64::NAN)).into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(json_to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, item) in map {
                dict.set_item(k, json_to_py(py, item)?)?;
            }
            dict.into_any()
        }
    })
}

/// Python → JSON; anything that is not JSON-shaped is a `TypeError`.
pub(crate) fn py_to_json(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(Value::from(i));
        }
        if let Ok(u) = obj.extract::<u64>() {
            return Ok(Value::from(u));
        }
        return Err(PyTypeError::new_err(
            "integer out of the JSON range (-2**63 .. 2**64-1)",
        ));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Number::from_f64(f.value())
            .map(Value::Number)
            .ok_or_else(|| PyTypeError::new_err("NaN and infinity are not JSON"));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::String(s.to_str()?.to_owned()));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut map = Map::new();
        for (k, v) in d.iter() {
            let key = k.cast::<PyString>().map_err(|_| {
                PyTypeError::new_err(format!(
                    "JSON object keys must be str, not {}",
                    type_name(&k)
                ))
            })?;
            map.insert(key.to_str()?.to_owned(), py_to_json(&v)?);
        }
        return Ok(Value::Object(map));
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        let mut items = Vec::new();
        for item in obj.try_iter()? {
            items.push(py_to_json(&item?)?);
        }
        return Ok(Value::Array(items));
    }
    Err(PyTypeError::new_err(format!(
        "{} is not JSON (use dict, list, str, int, float, bool or None)",
        type_name(obj)
    )))
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "object".into())
}

/// A `meta` argument: a `dict` of JSON values.
pub(crate) struct MetaArg(pub(crate) Meta);

impl<'a, 'py> FromPyObject<'a, 'py> for MetaArg {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if !obj.is_instance_of::<PyDict>() {
            return Err(PyTypeError::new_err(format!(
                "meta must be a dict, not {}",
                type_name(&obj)
            )));
        }
        match py_to_json(&obj)? {
            Value::Object(map) => Ok(MetaArg(map)),
            _ => Err(PyTypeError::new_err("meta must be a dict")),
        }
    }
}

/// A `since` argument: an event id as `str` (`"0000000042"`) or `int`.
#[derive(Clone, Copy)]
pub(crate) struct SinceArg(pub(crate) EventId);

impl<'a, 'py> FromPyObject<'a, 'py> for SinceArg {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if let Ok(s) = obj.cast::<PyString>() {
            let s = s.to_str()?;
            return s
                .parse::<EventId>()
                .map(SinceArg)
                .map_err(|e| to_py_err(bad_argument(e.to_string())));
        }
        if obj.is_instance_of::<PyInt>() && !obj.is_instance_of::<PyBool>() {
            return obj
                .extract::<u64>()
                .map(|n| SinceArg(EventId(n)))
                .map_err(|_| {
                    to_py_err(bad_argument(
                        "an event id is a non-negative integer or its string".into(),
                    ))
                });
        }
        Err(PyTypeError::new_err(format!(
            "an event id is a str like \"0000000042\" (or an int), not {}",
            type_name(&obj)
        )))
    }
}

/// `"allow"` or `"deny"`.
pub(crate) struct BehaviorArg(pub(crate) Behavior);

impl<'a, 'py> FromPyObject<'a, 'py> for BehaviorArg {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        let s = obj.cast::<PyString>().map_err(|_| {
            PyTypeError::new_err(format!(
                "behavior must be \"allow\" or \"deny\", not {}",
                type_name(&obj)
            ))
        })?;
        let s = s.to_str()?;
        Behavior::parse(s).map(BehaviorArg).ok_or_else(|| {
            to_py_err(bad_argument(format!(
                "behavior must be \"allow\" or \"deny\", not {s:?}"
            )))
        })
    }
}

/// Parses a worker name the way the hub does.
pub(crate) fn worker_name(name: &str) -> Result<WorkerName, Error> {
    name.parse()
        .map_err(|e| bad_argument(format!("invalid worker name {name:?}: {e}")))
}

/// Reads one field of the wire JSON as a Rust/Python value.
pub(crate) trait FromJson: Sized {
    /// `what` names the field for the error message.
    fn from_json(py: Python<'_>, v: &Value, what: &str) -> PyResult<Self>;
}

fn decode(what: &str, v: &Value) -> PyErr {
    to_py_err(Error::Decode(format!("{what}: unexpected {v}")))
}

impl FromJson for String {
    fn from_json(_: Python<'_>, v: &Value, what: &str) -> PyResult<Self> {
        v.as_str().map(str::to_owned).ok_or_else(|| decode(what, v))
    }
}

impl FromJson for f64 {
    fn from_json(_: Python<'_>, v: &Value, what: &str) -> PyResult<Self> {
        v.as_f64().ok_or_else(|| decode(what, v))
    }
}

impl FromJson for bool {
    fn from_json(_: Python<'_>, v: &Value, what: &str) -> PyResult<Self> {
        v.as_bool().ok_or_else(|| decode(what, v))
    }
}

impl FromJson for u64 {
    fn from_json(_: Python<'_>, v: &Value, what: &str) -> PyResult<Self> {
        v.as_u64().ok_or_else(|| decode(what, v))
    }
}

impl FromJson for i64 {
    fn from_json(_: Python<'_>, v: &Value, what: &str) -> PyResult<Self> {
        v.as_i64().ok_or_else(|| decode(what, v))
    }
}

impl<T: FromJson> FromJson for Option<T> {
    fn from_json(py: Python<'_>, v: &Value, what: &str) -> PyResult<Self> {
        match v {
            Value::Null => Ok(None),
            v => T::from_json(py, v, what).map(Some),
        }
    }
}

impl FromJson for Py<PyAny> {
    fn from_json(py: Python<'_>, v: &Value, _: &str) -> PyResult<Self> {
        Ok(json_to_py(py, v)?.unbind())
    }
}

impl<T: FromJson> FromJson for Vec<T> {
    fn from_json(py: Python<'_>, v: &Value, what: &str) -> PyResult<Self> {
        v.as_array()
            .ok_or_else(|| decode(what, v))?
            .iter()
            .map(|item| T::from_json(py, item, what))
            .collect()
    }
}

/// Turns a finished call's value into a Python object (with the GIL held).
pub(crate) trait ToPy: Send + 'static {
    /// The Python object.
    fn to_py(self, py: Python<'_>) -> PyResult<Py<PyAny>>;
}

impl ToPy for () {
    fn to_py(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(py.None())
    }
}

impl ToPy for bool {
    fn to_py(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(PyBool::new(py, self).to_owned().into_any().unbind())
    }
}

impl ToPy for u64 {
    fn to_py(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(self.into_pyobject(py)?.into_any().unbind())
    }
}

impl ToPy for String {
    fn to_py(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(PyString::new(py, &self).into_any().unbind())
    }
}

impl ToPy for EventId {
    fn to_py(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.to_string().to_py(py)
    }
}

impl ToPy for Value {
    fn to_py(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(json_to_py(py, &self)?.unbind())
    }
}

impl<T: ToPy> ToPy for Vec<T> {
    fn to_py(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let list = PyList::empty(py);
        for item in self {
            list.append(item.to_py(py)?)?;
        }
        Ok(list.into_any().unbind())
    }
}

/// The wire JSON of a client value.
fn wire(v: &impl Serialize, what: &str) -> PyResult<Value> {
    serde_json::to_value(v).map_err(|e| to_py_err(Error::Decode(format!("{what}: {e}"))))
}

/// Declares a frozen result class with read-only attributes named after
/// the wire fields, a `__repr__`, and `from_json`.
macro_rules! record {
    (
        $(#[doc = $doc:literal])*
        $name:ident {
            $( $(#[doc = $fdoc:literal])* $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[doc = $doc])*
        #[pyclass(module = "tubemail", frozen, get_all)]
        pub(crate) struct $name {
            $( $(#[doc = $fdoc])* pub(crate) $field: $ty, )*
        }

        impl $name {
            /// Reads the class from the hub's JSON for it.
            pub(crate) fn from_json(py: Python<'_>, v: &Value) -> PyResult<Self> {
                Ok(Self {
                    $( $field: FromJson::from_json(
                        py,
                        &v[stringify!($field)],
                        concat!(stringify!($name), ".", stringify!($field)),
                    )?, )*
                })
            }
        }

        impl FromJson for Py<$name> {
            fn from_json(py: Python<'_>, v: &Value, _: &str) -> PyResult<Self> {
                Py::new(py, $name::from_json(py, v)?)
            }
        }

        #[pymethods]
        impl $name {
            fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
                let parts: Vec<String> = vec![
                    $( format!(
                        "{}={}",
                        stringify!($field),
                        (&self.$field).into_bound_py_any(py)?.repr()?
                    ), )*
                ];
                Ok(format!("{}({})", stringify!($name), parts.join(", ")))
            }

            /// The attributes as a `dict` (nested records stay objects).
            fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
                let d = PyDict::new(py);
                $( d.set_item(stringify!($field), (&self.$field).into_bound_py_any(py)?)?; )*
                Ok(d)
            }
        }
    };
}

/// Implements [`ToPy`] for a client type through its wire JSON.
macro_rules! to_py_via {
    ($($rust:ty => $class:ident),* $(,)?) => {$(
        impl ToPy for $rust {
            fn to_py(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
                let v = wire(&self, stringify!($class))?;
                Ok(Py::new(py, $class::from_json(py, &v)?)?.into_any())
            }
        }
    )*};
}

record! {
    /// `GET /health`: the hub's version, uptime and load.
    Health {
        /// Always `"ok"`.
        status: String,
        /// Always `"tubemail"`.
        service: String,
        /// Hub version.
        version: String,
        /// Git revision the hub was built from, when known.
        git_sha: String,
        /// Time since start, `"{h}h {m}m"` or `"{m}m {s}s"`.
        uptime: String,
        /// Size of the data dir in MiB.
        disk_mb: f64,
        /// No online worker has a pending permission.
        safe_to_restart: bool,
        /// Online workers, managers excluded.
        workers_online: u64,
        /// Registry entries, managers included.
        workers_total: u64,
        /// Pending permissions of online workers.
        pending_permissions: u64,
    }
}

record! {
    /// Why a worker is in its state, and since when.
    StateReason {
        /// `idle`, `busy`, `waiting_permission` or `unknown`.
        state: String,
        /// The deciding signal (`pending_permission`, `observed_active`, …).
        signal: String,
        /// Since when the signal holds (epoch seconds; 0 when unknown).
        since: f64,
        /// For `channel_unavailable` and `blocked`: what the worker side
        /// saw (the CLI's reason, the screen's last lines).
        detail: Option<String>,
    }
}

record! {
    /// A roster row (`GET /api/workers`).
    Worker {
        /// Worker name.
        name: String,
        /// Working directory it registered with.
        cwd: String,
        /// Whether its stream is connected.
        online: bool,
        /// `idle`, `busy`, `waiting_permission` or `unknown`.
        state: String,
        /// Last sign of life (epoch seconds).
        last_activity: f64,
        /// Pending permission prompts.
        pending_count: u64,
        /// Events on its timeline.
        event_count: u64,
        /// Version string its forwarder registered with.
        forwarder_version: String,
        /// Whether it said goodbye.
        exited_cleanly: bool,
        /// Whether recording is on.
        recording_enabled: bool,
        /// Context window use reported by the manager (percent).
        context_pct: Option<u64>,
        /// First registration (epoch seconds).
        registered_at: f64,
        /// `online`, `offline` or `exited`.
        presence: String,
        /// Why `state` is what it is.
        state_reason: Py<StateReason>,
        /// Process id the channel registered with.
        pid: Option<i64>,
        /// Last manager observation of activity.
        observed_active: Option<bool>,
        /// Id of the newest timeline event.
        last_event_id: Option<String>,
        /// The Claude Code permission mode the worker runs in.
        permission_mode: Option<String>,
    }
}

record! {
    /// A worker's state with its reason and delivery receipts.
    WorkerStatus {
        /// `idle`, `busy`, `waiting_permission` or `unknown`.
        state: String,
        /// Pending permission prompts.
        pending_count: u64,
        /// Last sign of life (epoch seconds).
        last_activity: f64,
        /// Events on its timeline.
        event_count: u64,
        /// Why `state` is what it is.
        state_reason: Py<StateReason>,
        /// `online`, `offline` or `exited` (`None` for an unknown worker).
        presence: Option<String>,
        /// Id of the newest timeline event.
        last_event_id: Option<String>,
        /// The newest event the worker's stream has handed over.
        delivered_through: Option<String>,
        /// The newest event the worker confirmed it passed on to its session.
        acknowledged_through: Option<String>,
        /// The Claude Code permission mode the worker runs in.
        permission_mode: Option<String>,
    }
}

record! {
    /// One timeline event.
    Event {
        /// Ordered id (`"0000000042"`): later events have greater ids.
        event_id: String,
        /// When the hub stored it (epoch seconds).
        ts: f64,
        /// `inbound`, `outbound`, `permission_request`, `permission_response` or `interrupt`.
        kind: String,
        /// Message text, tool name (permission_request) or behavior (permission_response).
        content: String,
        /// Free-form metadata.
        meta: Py<PyAny>,
    }
}

record! {
    /// Where a send was routed; answered once the message is on the hub's disk.
    SendReceipt {
        /// Id of the stored event.
        event_id: String,
        /// When it was stored (epoch seconds).
        queued_at: f64,
        /// `worker (tubemail channel)` or `manager (harness command)`.
        routed_to: String,
        /// The timeline it went to (the worker or its manager).
        worker: String,
        /// True when the idempotency key matched an earlier send.
        duplicate: bool,
        /// Set when the message is stored but cannot reach the worker's
        /// session yet (its channel unavailable, its terminal blocked).
        warning: Option<String>,
    }
}

record! {
    /// An event a worker appended (outbound, permission request).
    Appended {
        /// Id of the stored event.
        event_id: String,
        /// When it was stored (epoch seconds).
        ts: f64,
    }
}

record! {
    /// A permission prompt waiting for an answer.
    PendingPermission {
        /// The worker that asked.
        worker: String,
        /// Claude Code's id for the prompt.
        request_id: String,
        /// The tool that wants to run.
        tool_name: String,
        /// Human description of the call.
        description: String,
        /// Preview of the tool input.
        input_preview: String,
        /// When the hub received the request (epoch seconds).
        requested_at: f64,
        /// Id of the `permission_request` event, when there is one.
        event_id: Option<String>,
        /// Whether the worker's channel is connected now.
        online: bool,
    }
}

record! {
    /// Hub settings.
    Settings {
        /// New workers start recording.
        recording_enabled_by_default: bool,
        /// Rotate a recording file at this size (bytes, >= 65 536).
        recording_max_bytes_per_file: u64,
        /// Recording files kept per worker (1-64).
        recording_keep_files: u64,
        /// Events (and recordings) older than this many days are deleted (0 = kept).
        retention_max_age_days: u64,
        /// Each worker keeps at most this many events (0 = no limit).
        retention_max_events_per_worker: u64,
        /// The database is kept under this many MiB (0 = no limit).
        retention_max_database_mib: u64,
        /// Unanswered permission prompts get the default answer after this
        /// many seconds (0 = never).
        permission_timeout_secs: u64,
        /// The answer an expired prompt gets: "allow" or "deny".
        permission_default_answer: String,
    }
}

record! {
    /// A saved message template.
    Flow {
        /// Flow name.
        name: String,
        /// Message text.
        body: String,
        /// Worker a run goes to when none is given.
        default_worker: Option<String>,
        /// Meta sent with every run.
        meta: Py<PyAny>,
        /// First save (epoch seconds).
        created_at: f64,
        /// Last save (epoch seconds).
        updated_at: f64,
        /// Last run (epoch seconds).
        last_run_at: Option<f64>,
    }
}

record! {
    /// One run of a flow with its worker's events during the run.
    Run {
        /// Run id.
        run_id: String,
        /// The flow that ran.
        flow_name: String,
        /// The worker it went to.
        worker: String,
        /// When it started (epoch seconds).
        started_at: f64,
        /// The message the run sent.
        first_event_id: String,
        /// When it was finished.
        finished_at: Option<f64>,
        /// Worker events from the start to the finish (or now).
        events: Vec<Py<Event>>,
    }
}

record! {
    /// A started flow run.
    RunStarted {
        /// Run id (for `run_log`).
        run_id: String,
        /// Id of the message the run sent.
        first_event_id: String,
        /// When it was sent.
        queued_at: f64,
        /// The worker it went to.
        worker: String,
    }
}

record! {
    /// The answer to `register`.
    Registration {
        /// The worker.
        worker: String,
        /// Id of its newest event, or `""`.
        cursor: String,
    }
}

to_py_via! {
    core::Health => Health,
    core::WorkerSummary => Worker,
    core::WorkerStatus => WorkerStatus,
    core::Event => Event,
    core::SendReceipt => SendReceipt,
    core::Appended => Appended,
    core::PendingPermission => PendingPermission,
    core::HubConfig => Settings,
    core::Flow => Flow,
    core::RunLog => Run,
    core::api::RegisterResponse => Registration,
    core::api::RunStarted => RunStarted,
}

/// Implements [`ToPy`] for a client type as the `dict` of its wire JSON.
macro_rules! to_py_dict {
    ($($rust:ty),* $(,)?) => {$(
        impl ToPy for $rust {
            fn to_py(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
                wire(&self, stringify!($rust))?.to_py(py)
            }
        }
    )*};
}

to_py_dict! {
    tubemail_client::PermissionRule,
    tubemail_client::RuleDecision,
    tubemail_client::WebhookView,
    tubemail_client::DeliveryView,
    core::api::ClearAndSendResponse,
    core::command::ManagerHealth,
    core::command::ReconnectOutcome,
}

/// One event of a stream: a timeline event (with an id) or a status notice.
#[pyclass(module = "tubemail", frozen, get_all)]
pub(crate) struct StreamEvent {
    /// The event id (`None` for status notices such as `worker_online`).
    pub(crate) id: Option<String>,
    /// The SSE event name (`channel_event`, `outbound`, `permission_request`,
    /// `worker_online`, …).
    pub(crate) event: String,
    /// The JSON data (usually a `dict`).
    pub(crate) data: Py<PyAny>,
    /// `data["worker"]` when the data names a worker, else `None`.
    pub(crate) worker: Option<String>,
}

impl StreamEvent {
    /// Converts a stream event of the Rust client.
    pub(crate) fn new(py: Python<'_>, ev: &RustStreamEvent) -> PyResult<Self> {
        let (name, data) = ev.to_sse();
        let data: Value = serde_json::from_str(&data)
            .map_err(|e| to_py_err(Error::Decode(format!("StreamEvent: {e}"))))?;
        Ok(StreamEvent {
            id: ev.event_id().map(|id| id.to_string()),
            worker: data["worker"].as_str().map(str::to_owned),
            data: json_to_py(py, &data)?.unbind(),
            event: name.to_owned(),
        })
    }
}

#[pymethods]
impl StreamEvent {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "StreamEvent(id={}, event={}, data={})",
            (&self.id).into_bound_py_any(py)?.repr()?,
            PyString::new(py, &self.event).repr()?,
            self.data.bind(py).repr()?,
        ))
    }
}
