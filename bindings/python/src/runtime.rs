//! The one tokio runtime, blocking calls on it, asyncio awaitables for its
//! futures, and the rule that runtime threads touch Python only through
//! [`with_python`].
//!
//! Why not `pyo3_async_runtimes::tokio::future_into_py`: it resolves the
//! asyncio future from a runtime thread at any time, also while the
//! interpreter is shutting down, and that aborts the process
//! ("PyGILState_Release: thread state must be current") when a program
//! exits right after an awaited call failed. Here an `atexit` hook closes a
//! gate first and waits for runtime threads that are inside Python.

use std::future::Future;
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Duration;

use pyo3::IntoPyObjectExt;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyCFunction;
use tokio::runtime::Runtime;
use tokio::task::AbortHandle;

/// How often a blocking call on the main thread looks for Ctrl-C.
const SIGNAL_CHECK: Duration = Duration::from_millis(100);
/// How long interpreter shutdown waits for runtime threads inside Python.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(2);

static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();

/// The runtime (multi-threaded, one worker per core), built on first use.
pub(crate) fn rt() -> PyResult<&'static Runtime> {
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_name("tubemail-rt")
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| PyRuntimeError::new_err(format!("cannot start the tokio runtime: {e}")))
}

/// Runtime threads inside Python, and whether Python is shutting down.
struct Gate {
    closing: bool,
    inside: usize,
}

static GATE: Mutex<Gate> = Mutex::new(Gate {
    closing: false,
    inside: 0,
});
static GATE_LEFT: Condvar = Condvar::new();

/// Runs `f` with the GIL, unless the interpreter is shutting down (`None`).
/// Every use of Python from a runtime thread goes through here.
pub(crate) fn with_python<R>(f: impl for<'py> FnOnce(Python<'py>) -> R) -> Option<R> {
    {
        let mut g = GATE.lock().unwrap_or_else(|p| p.into_inner());
        if g.closing {
            return None;
        }
        g.inside += 1;
    }
    let out = Python::attach(f);
    let mut g = GATE.lock().unwrap_or_else(|p| p.into_inner());
    g.inside -= 1;
    if g.inside == 0 {
        GATE_LEFT.notify_all();
    }
    Some(out)
}

/// `atexit` hook: closes the gate and waits (GIL released) for runtime
/// threads still inside Python.
#[pyfunction]
fn _shutdown(py: Python<'_>) {
    py.detach(|| {
        let mut g = GATE.lock().unwrap_or_else(|p| p.into_inner());
        g.closing = true;
        let _ = GATE_LEFT.wait_timeout_while(g, SHUTDOWN_WAIT, |g| g.inside > 0);
    });
}

/// Registers the shutdown hook.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let hook = wrap_pyfunction!(_shutdown, m)?;
    m.py().import("atexit")?.call_method1("register", (hook,))?;
    Ok(())
}

/// `threading.get_ident()` of the main thread.
static MAIN_THREAD: PyOnceLock<u64> = PyOnceLock::new();

fn on_main_thread(py: Python<'_>) -> PyResult<bool> {
    let threading = py.import("threading")?;
    let main = MAIN_THREAD.get_or_try_init(py, || {
        threading
            .call_method0("main_thread")?
            .getattr("ident")?
            .extract::<u64>()
    })?;
    Ok(threading.call_method0("get_ident")?.extract::<u64>()? == *main)
}

/// Runs `fut` to completion with the GIL released, so other Python threads
/// run meanwhile. On the main thread it takes the GIL back every
/// [`SIGNAL_CHECK`] to run signal handlers; if one raises
/// (`KeyboardInterrupt`), the call is abandoned and the exception propagates.
pub(crate) fn block<F>(py: Python<'_>, fut: F) -> PyResult<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    let rt = rt()?;
    if !on_main_thread(py)? {
        // Signals are only handled on the main thread.
        return Ok(py.detach(|| rt.block_on(fut)));
    }
    let mut fut = std::pin::pin!(fut);
    loop {
        let slice = py.detach(|| {
            rt.block_on(async { tokio::time::timeout(SIGNAL_CHECK, fut.as_mut()).await })
        });
        match slice {
            Ok(out) => return Ok(out),
            Err(_elapsed) => py.check_signals()?,
        }
    }
}

/// `fut.set_result(value)` / `fut.set_exception(value)` unless the future
/// is done (cancelled) already; called on the event loop's thread.
#[pyfunction]
fn _resolve(fut: &Bound<'_, PyAny>, ok: bool, value: &Bound<'_, PyAny>) -> PyResult<()> {
    if fut.call_method0("done")?.is_truthy()? {
        return Ok(());
    }
    fut.call_method1(if ok { "set_result" } else { "set_exception" }, (value,))?;
    Ok(())
}

static RESOLVE: PyOnceLock<Py<PyCFunction>> = PyOnceLock::new();
static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The running asyncio loop (`RuntimeError` outside a coroutine).
pub(crate) fn running_loop(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    GET_RUNNING_LOOP
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(py.import("asyncio")?.getattr("get_running_loop")?.unbind())
        })?
        .bind(py)
        .call0()
}

/// Cancels the runtime task when its asyncio future is cancelled.
#[pyclass(frozen)]
struct AbortOnCancel {
    handle: AbortHandle,
}

#[pymethods]
impl AbortOnCancel {
    fn __call__(&self, fut: &Bound<'_, PyAny>) -> PyResult<()> {
        if fut.call_method0("cancelled")?.is_truthy()? {
            self.handle.abort();
        }
        Ok(())
    }
}

/// Runs `fut` on the runtime and returns an asyncio future of the running
/// loop that it resolves; cancelling that future cancels `fut`.
pub(crate) fn awaitable<'py, F, T>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    let event_loop = running_loop(py)?;
    let py_fut = event_loop.call_method0("create_future")?;
    let resolve = RESOLVE
        .get_or_try_init(py, || wrap_pyfunction!(_resolve, py).map(Bound::unbind))?
        .clone_ref(py);
    let target = py_fut.clone().unbind();
    let event_loop = event_loop.unbind();
    let task = rt()?.spawn(async move {
        let result = fut.await;
        with_python(move |py| {
            let (ok, value) = match result.and_then(|v| v.into_bound_py_any(py)) {
                Ok(v) => (true, v),
                Err(e) => (false, e.into_value(py).into_bound(py).into_any()),
            };
            // Fails only when the loop is closed: nobody is waiting then.
            let _ = event_loop
                .bind(py)
                .call_method1("call_soon_threadsafe", (resolve, target, ok, value));
        });
    });
    py_fut.call_method1(
        "add_done_callback",
        (AbortOnCancel {
            handle: task.abort_handle(),
        },),
    )?;
    Ok(py_fut)
}

/// An asyncio future that is already resolved with `value`.
pub(crate) fn ready<'py>(py: Python<'py>, value: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let fut = running_loop(py)?.call_method0("create_future")?;
    fut.call_method1("set_result", (value,))?;
    Ok(fut)
}
