//! Event streams as a Python iterator and async iterator, wrapping
//! [`tubemail_client::EventStream`] (reconnect with backoff, `Last-Event-ID`
//! resume, no loss, no duplicates).

use std::sync::{Arc, Mutex as StdMutex};

use futures::StreamExt;
use pyo3::exceptions::PyStopAsyncIteration;
use pyo3::prelude::*;
use pyo3::types::PyString;
use tokio::sync::{Mutex, mpsc};
use tokio_util::sync::CancellationToken;
use tubemail_client::core::{EventId, WorkerName};
use tubemail_client::{Client, Error, EventStream, StreamEvent as RustStreamEvent};

use crate::convert::StreamEvent;
use crate::errors::{shutting_down, to_py_err};
use crate::runtime::{awaitable, block, ready, with_python};

/// How many events the read-ahead task buffers before it stops reading
/// (and the hub's stream waits).
const READ_AHEAD: usize = 1024;

/// Which stream.
#[derive(Clone)]
pub(crate) enum Source {
    /// `/api/events/stream`: every worker's events and status notices.
    Global,
    /// `/tubemail/{w}/stream`: what the worker's channel reads.
    Worker(WorkerName),
}

impl Source {
    async fn open(&self, hub: &Client, since: Option<EventId>) -> Result<EventStream, Error> {
        match self {
            Source::Global => hub.global_stream(since).await,
            Source::Worker(w) => hub.worker_stream(w, since).await,
        }
    }

    fn describe(&self) -> String {
        match self {
            Source::Global => "all workers".into(),
            Source::Worker(w) => w.to_string(),
        }
    }
}

type Item = Result<RustStreamEvent, Error>;

/// A connected stream: a task on the runtime reads it ahead into a
/// bounded queue, so events are ready when Python asks for them (each SSE
/// event arrives as its own HTTP chunk, and reading one at a time on demand
/// would cost a runtime round trip per event).
struct Open {
    queue: mpsc::Receiver<Item>,
    _reader: AbortOnDrop,
}

/// Stops the read-ahead task (and so closes the connection) when dropped.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Open {
    /// Starts reading `stream` ahead; must run inside the runtime.
    fn new(mut stream: EventStream) -> Self {
        let (tx, queue) = mpsc::channel(READ_AHEAD);
        let task = tokio::spawn(async move {
            while let Some(item) = stream.next().await {
                if tx.send(item).await.is_err() {
                    break; // the iterator is gone
                }
            }
        });
        Open {
            queue,
            _reader: AbortOnDrop(task.abort_handle()),
        }
    }

    /// The next item, waiting for one; `None` when the stream has ended.
    async fn next(&mut self) -> Option<Item> {
        self.queue.recv().await
    }

    /// An item that is here already.
    fn ready(&mut self) -> Option<Item> {
        self.queue.try_recv().ok()
    }
}

/// Not yet connected (async iterators connect on first use or `await`),
/// connected, or closed.
enum Feed {
    Pending {
        hub: Arc<Client>,
        source: Source,
        since: Option<EventId>,
    },
    Open(Box<Open>),
    Closed,
}

impl Feed {
    async fn connect(&mut self) -> Result<(), Error> {
        if let Feed::Pending { hub, source, since } = self {
            let stream = source.open(hub, *since).await?;
            *self = Feed::Open(Box::new(Open::new(stream)));
        }
        Ok(())
    }

    async fn next(&mut self) -> Option<Item> {
        if let Err(e) = self.connect().await {
            *self = Feed::Closed;
            return Some(Err(e));
        }
        match self {
            Feed::Open(open) => open.next().await,
            _ => None,
        }
    }

    /// A buffered item, without waiting.
    fn ready(&mut self) -> Option<Item> {
        match self {
            Feed::Open(open) => open.ready(),
            _ => None,
        }
    }
}

/// State shared by the iterator and the futures it hands out.
#[derive(Clone)]
struct Shared {
    feed: Arc<Mutex<Feed>>,
    last: Arc<StdMutex<Option<EventId>>>,
    /// Cancelled by `close()`, ending a `next()` waiting in another thread.
    closed: CancellationToken,
    what: String,
}

impl Shared {
    fn new(feed: Feed, since: Option<EventId>, what: String) -> Self {
        Shared {
            feed: Arc::new(Mutex::new(feed)),
            last: Arc::new(StdMutex::new(since)),
            closed: CancellationToken::new(),
            what,
        }
    }

    /// Converts an item (GIL held), remembering the newest id.
    fn deliver(&self, py: Python<'_>, item: Item) -> PyResult<StreamEvent> {
        let ev = item.map_err(to_py_err)?;
        if let Some(id) = ev.event_id()
            && let Ok(mut last) = self.last.lock()
        {
            *last = Some(id);
        }
        StreamEvent::new(py, &ev)
    }

    fn last_id(&self) -> Option<String> {
        self.last
            .lock()
            .ok()
            .and_then(|l| l.map(|id| id.to_string()))
    }

    /// A buffered item without releasing the GIL, if there is one and no
    /// other call holds the stream.
    fn try_ready(&self) -> Option<Item> {
        self.feed.try_lock().ok().and_then(|mut f| f.ready())
    }

    async fn next(self) -> Option<Item> {
        tokio::select! {
            biased;
            () = self.closed.cancelled() => None,
            item = async { self.feed.lock().await.next().await } => item,
        }
    }

    async fn close(self) {
        self.closed.cancel();
        *self.feed.lock().await = Feed::Closed;
    }

    fn repr(&self, class: &str, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "{class}({}, last_id={})",
            PyString::new(py, &self.what).repr()?,
            self.last_id().into_pyobject(py)?.into_any().repr()?
        ))
    }
}

/// Opens a stream now; errors (bad secret, unknown id, dead hub) raise here.
pub(crate) fn open_blocking(
    py: Python<'_>,
    hub: Arc<Client>,
    source: Source,
    since: Option<EventId>,
) -> PyResult<EventIterator> {
    let what = source.describe();
    // Open::new spawns the read-ahead task: inside the runtime.
    let open = block(
        py,
        async move { source.open(&hub, since).await.map(Open::new) },
    )?
    .map_err(to_py_err)?;
    Ok(EventIterator {
        shared: Shared::new(Feed::Open(Box::new(open)), since, what),
    })
}

/// An async iterator that connects on `await` or on first use.
pub(crate) fn open_async(
    hub: Arc<Client>,
    source: Source,
    since: Option<EventId>,
) -> AsyncEventIterator {
    let what = source.describe();
    AsyncEventIterator {
        shared: Shared::new(Feed::Pending { hub, source, since }, since, what),
    }
}

/// A stream of `StreamEvent`s; iterate it with `for`.
///
/// It reconnects on its own after a network failure or a hub restart and
/// resumes after the last event it yielded (`Last-Event-ID`), so no event
/// is lost or repeated. It ends (raises) after a permanent refusal such as
/// a wrong secret, or stops when the hub hands the worker's stream to a
/// newer reader. `last_id` is the id to pass as `since` to resume later in
/// a new iterator. Use it as a context manager, or call `close()`, to drop
/// the connection.
#[pyclass(module = "tubemail", frozen)]
pub(crate) struct EventIterator {
    shared: Shared,
}

#[pymethods]
impl EventIterator {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<StreamEvent>> {
        if let Some(item) = self.shared.try_ready() {
            return self.shared.deliver(py, item).map(Some);
        }
        let next = self.shared.clone().next();
        match block(py, next)? {
            Some(item) => self.shared.deliver(py, item).map(Some),
            None => Ok(None),
        }
    }

    /// The id of the newest event yielded (or the `since` it started from).
    #[getter]
    fn last_id(&self) -> Option<String> {
        self.shared.last_id()
    }

    /// Drops the connection; iteration stops.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        block(py, self.shared.clone().close())
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        self.shared.repr("EventIterator", py)
    }
}

impl AsyncEventIterator {
    /// An asyncio future that connects (if not yet) and yields the iterator.
    fn connected<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let shared = slf.get().shared.clone();
        let this = slf.clone().unbind();
        awaitable(slf.py(), async move {
            shared
                .feed
                .lock()
                .await
                .connect()
                .await
                .map_err(to_py_err)?;
            Ok(this)
        })
    }
}

/// A stream of `StreamEvent`s for asyncio; iterate it with `async for`.
///
/// `await` it to connect now (errors raise there), or iterate it directly
/// to connect on the first event. Reconnects and resumes like
/// `EventIterator`; `aclose()` (or `async with`) drops the connection.
#[pyclass(module = "tubemail", frozen)]
pub(crate) struct AsyncEventIterator {
    shared: Shared,
}

#[pymethods]
impl AsyncEventIterator {
    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if let Some(item) = self.shared.try_ready() {
            // Already here: an awaitable that is done, without a trip
            // through the runtime.
            let ev = self.shared.deliver(py, item)?;
            return ready(py, Bound::new(py, ev)?.into_any());
        }
        let shared = self.shared.clone();
        awaitable(py, async move {
            match shared.clone().next().await {
                Some(item) => with_python(|py| Py::new(py, shared.deliver(py, item)?))
                    .unwrap_or_else(|| Err(shutting_down())),
                None => Err(PyStopAsyncIteration::new_err(())),
            }
        })
    }

    fn __await__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        Self::connected(slf)?.call_method0("__await__")
    }

    /// The id of the newest event yielded (or the `since` it started from).
    #[getter]
    fn last_id(&self) -> Option<String> {
        self.shared.last_id()
    }

    /// Drops the connection; iteration stops.
    fn aclose<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let shared = self.shared.clone();
        awaitable(py, async move {
            shared.close().await;
            Ok(())
        })
    }

    fn __aenter__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        Self::connected(slf)
    }

    #[pyo3(signature = (*_exc))]
    fn __aexit__<'py>(
        &self,
        py: Python<'py>,
        _exc: &Bound<'py, pyo3::types::PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let shared = self.shared.clone();
        awaitable(py, async move {
            shared.close().await;
            Ok(false)
        })
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        self.shared.repr("AsyncEventIterator", py)
    }
}
