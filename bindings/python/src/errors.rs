//! Python exceptions mirroring [`tubemail_client::Error`].

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyString;
use tubemail_client::Error;

use crate::runtime::with_python;

create_exception!(
    tubemail,
    TubemailError,
    PyException,
    "Base class of every error the hub client raises; `detail` says what went wrong."
);
create_exception!(
    tubemail,
    Unreachable,
    TubemailError,
    "The hub could not be reached (connection refused, timeout, TLS); `url` is the URL that failed."
);
create_exception!(
    tubemail,
    Unauthorized,
    TubemailError,
    "The secret is missing or wrong (HTTP 401)."
);
create_exception!(
    tubemail,
    NotFound,
    TubemailError,
    "The worker, flow, run or prompt asked for does not exist (HTTP 404)."
);
create_exception!(
    tubemail,
    BadRequest,
    TubemailError,
    "The hub refused the input (HTTP 400/413/422), or an argument was invalid; `reason` says why."
);
create_exception!(
    tubemail,
    ServerError,
    TubemailError,
    "Any other non-success answer; `status` is the HTTP status, `detail` the hub's message."
);
create_exception!(
    tubemail,
    DecodeError,
    TubemailError,
    "The hub's answer was not what the API promises."
);
create_exception!(
    tubemail,
    ConfigError,
    TubemailError,
    "The client is misconfigured (hub URL, missing secret, timeout)."
);

/// Adds the exception classes to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("TubemailError", py.get_type::<TubemailError>())?;
    m.add("Unreachable", py.get_type::<Unreachable>())?;
    m.add("Unauthorized", py.get_type::<Unauthorized>())?;
    m.add("NotFound", py.get_type::<NotFound>())?;
    m.add("BadRequest", py.get_type::<BadRequest>())?;
    m.add("ServerError", py.get_type::<ServerError>())?;
    m.add("DecodeError", py.get_type::<DecodeError>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    Ok(())
}

/// The message with its causes (`a: b: c`), as Python shows one string.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        cur = s.source();
    }
    msg
}

/// Converts a client error into the matching Python exception, with its
/// attributes set (`detail` always; `url`, `reason`, `status` where they
/// apply).
pub(crate) fn to_py_err(e: Error) -> PyErr {
    let msg = chain(&e);
    let fallback = msg.clone();
    with_python(|py| {
        let (err, detail, extra): (PyErr, String, Option<(&str, Py<PyAny>)>) = match e {
            Error::Unreachable { url, .. } => (
                Unreachable::new_err(msg.clone()),
                msg,
                Some(("url", PyString::new(py, &url).into_any().unbind())),
            ),
            Error::Unauthorized(d) => (Unauthorized::new_err(msg), d, None),
            Error::NotFound(d) => (NotFound::new_err(msg), d, None),
            Error::BadRequest(d) => (
                BadRequest::new_err(msg),
                d.clone(),
                Some(("reason", PyString::new(py, &d).into_any().unbind())),
            ),
            Error::Server { status, detail } => {
                let status = status.into_pyobject(py).map(|s| s.into_any().unbind());
                (
                    ServerError::new_err(msg),
                    detail,
                    status.ok().map(|s| ("status", s)),
                )
            }
            Error::Decode(d) => (DecodeError::new_err(msg), d, None),
            Error::Config(d) => (ConfigError::new_err(msg), d, None),
        };
        let value = err.value(py);
        // Setting attributes on a fresh exception instance cannot fail in
        // practice; if it did, the exception still carries its message.
        let _ = value.setattr("detail", detail);
        if let Some((name, v)) = extra {
            let _ = value.setattr(name, v);
        }
        err
    })
    .unwrap_or_else(|| TubemailError::new_err(fallback))
}

/// The error of a call that finished while the interpreter was exiting.
pub(crate) fn shutting_down() -> PyErr {
    TubemailError::new_err("the Python interpreter is shutting down")
}

/// A `BadRequest` for an argument rejected before anything was sent.
pub(crate) fn bad_argument(reason: String) -> Error {
    Error::BadRequest(reason)
}
