//! The one tokio runtime (pyo3-async-runtimes') and blocking calls on it.

use std::future::Future;
use std::time::Duration;

use pyo3::prelude::*;

/// How often a blocking call looks for Ctrl-C (and other signals).
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

/// Runs `fut` to completion with the GIL released, so other Python threads
/// run meanwhile. Every [`SIGNAL_CHECK`] it takes the GIL back briefly to run
/// signal handlers; if one raises (`KeyboardInterrupt`), the call is
/// abandoned and the exception propagates.
pub(crate) fn block<F>(py: Python<'_>, fut: F) -> PyResult<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    let rt = pyo3_async_runtimes::tokio::get_runtime();
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
