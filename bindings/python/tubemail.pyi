"""Client for the TubeMail hub (Rust inside: the ``tubemail-client`` crate).

``Client`` blocks (and releases the GIL while it waits); ``AsyncClient`` has
the same operations as coroutines. Event ids are ordered strings
(``"0000000042"``): a later event has a greater id. Every error raised is a
``TubemailError``.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Literal, final

__all__ = [
    "Appended",
    "AsyncClient",
    "AsyncEventIterator",
    "BadRequest",
    "Client",
    "ConfigError",
    "DEFAULT_HUB_URL",
    "DecodeError",
    "Event",
    "EventIterator",
    "Flow",
    "Health",
    "NotFound",
    "PendingPermission",
    "Registration",
    "Run",
    "RunStarted",
    "SendReceipt",
    "ServerError",
    "Settings",
    "StateReason",
    "StreamEvent",
    "TubemailError",
    "Unauthorized",
    "Unreachable",
    "Worker",
    "WorkerStatus",
    "__version__",
]

__version__: str
#: The hub URL when none is given.
DEFAULT_HUB_URL: str

#: An event id: ``"0000000042"`` (or the same number as an ``int``).
_EventIdLike = str | int
_Behavior = Literal["allow", "deny"]
_JsonDict = dict[str, Any]

# -- errors -------------------------------------------------------------------

class TubemailError(Exception):
    """Base class of every error the hub client raises."""

    #: What went wrong (the hub's ``detail`` for HTTP errors).
    detail: str

class Unreachable(TubemailError):
    """The hub could not be reached (connection refused, timeout, TLS)."""

    #: The URL that failed.
    url: str

class Unauthorized(TubemailError):
    """The secret is missing or wrong (HTTP 401)."""

class NotFound(TubemailError):
    """The worker, flow, run or prompt asked for does not exist (HTTP 404)."""

class BadRequest(TubemailError):
    """The hub refused the input (HTTP 400/413/422), or an argument was
    invalid before anything was sent (a worker name, an event id, a
    behavior)."""

    #: Why, in the hub's words.
    reason: str

class ServerError(TubemailError):
    """Any other non-success answer (409 busy or no manager connected, 504
    manager silent, 5xx)."""

    #: The HTTP status.
    status: int

class DecodeError(TubemailError):
    """The hub's answer was not what the API promises."""

class ConfigError(TubemailError):
    """The client is misconfigured (hub URL, missing secret, timeout)."""

# -- results ------------------------------------------------------------------

class _Record:
    def to_dict(self) -> dict[str, Any]:
        """The attributes as a ``dict`` (nested records stay objects)."""

@final
class Health(_Record):
    """``GET /health``: the hub's version, uptime and load."""

    status: str
    service: str
    version: str
    git_sha: str
    #: ``"{h}h {m}m"`` or ``"{m}m {s}s"``.
    uptime: str
    disk_mb: float
    #: No online worker has a pending permission.
    safe_to_restart: bool
    workers_online: int
    workers_total: int
    pending_permissions: int

@final
class StateReason(_Record):
    """Why a worker is in its state, and since when."""

    #: ``idle``, ``busy``, ``waiting_permission`` or ``unknown``.
    state: str
    #: The deciding signal (``pending_permission``, ``observed_active``,
    #: ``unanswered_inbound``, …).
    signal: str
    #: Since when the signal holds (epoch seconds; 0 when unknown).
    since: float
    #: For ``channel_unavailable`` and ``blocked``: what the worker side saw
    #: (the CLI's reason, the screen's last lines).
    detail: str | None

@final
class Worker(_Record):
    """A roster row."""

    name: str
    cwd: str
    online: bool
    #: ``idle``, ``busy``, ``waiting_permission`` or ``unknown``.
    state: str
    last_activity: float
    pending_count: int
    event_count: int
    forwarder_version: str
    exited_cleanly: bool
    recording_enabled: bool
    context_pct: int | None
    registered_at: float
    #: ``online``, ``offline`` or ``exited``.
    presence: str
    state_reason: StateReason
    pid: int | None
    observed_active: bool | None
    last_event_id: str | None
    #: The Claude Code permission mode the worker runs in.
    permission_mode: str | None

@final
class WorkerStatus(_Record):
    """A worker's state with its reason and delivery receipts."""

    state: str
    pending_count: int
    last_activity: float
    event_count: int
    state_reason: StateReason
    #: ``online``, ``offline``, ``exited``; ``None`` for an unknown worker.
    presence: str | None
    last_event_id: str | None
    #: The newest event the worker's stream has handed over.
    delivered_through: str | None
    #: The newest event the worker confirmed it passed on to its session.
    acknowledged_through: str | None
    #: The Claude Code permission mode the worker runs in.
    permission_mode: str | None

@final
class Event(_Record):
    """One timeline event."""

    event_id: str
    ts: float
    #: ``inbound``, ``outbound``, ``permission_request``,
    #: ``permission_response`` or ``interrupt``.
    kind: str
    #: Message text, tool name (permission_request) or behavior
    #: (permission_response).
    content: str
    meta: _JsonDict

@final
class SendReceipt(_Record):
    """Where a send was routed; returned once the message is on disk."""

    event_id: str
    queued_at: float
    #: ``worker (tubemail channel)`` or ``manager (harness command)``.
    routed_to: str
    #: The timeline it went to (the worker or its manager).
    worker: str
    #: True when the idempotency key matched an earlier send.
    duplicate: bool
    #: Set when the message is stored but cannot reach the worker's session
    #: yet (its channel unavailable, its terminal blocked).
    warning: str | None

@final
class Appended(_Record):
    """An event a worker appended."""

    event_id: str
    ts: float

@final
class PendingPermission(_Record):
    """A permission prompt waiting for an answer."""

    worker: str
    request_id: str
    tool_name: str
    description: str
    input_preview: str
    requested_at: float
    event_id: str | None
    online: bool

@final
class Settings(_Record):
    """Hub settings."""

    recording_enabled_by_default: bool
    recording_max_bytes_per_file: int
    recording_keep_files: int
    retention_max_age_days: int
    retention_max_events_per_worker: int
    retention_max_database_mib: int
    permission_timeout_secs: int
    permission_default_answer: _Behavior

@final
class Flow(_Record):
    """A saved message template."""

    name: str
    body: str
    default_worker: str | None
    meta: _JsonDict
    created_at: float
    updated_at: float
    last_run_at: float | None

@final
class Run(_Record):
    """One run of a flow with its worker's events during the run."""

    run_id: str
    flow_name: str
    worker: str
    started_at: float
    first_event_id: str
    finished_at: float | None
    events: list[Event]

@final
class RunStarted(_Record):
    """A started flow run."""

    run_id: str
    first_event_id: str
    queued_at: float
    worker: str

@final
class Registration(_Record):
    """The answer to ``register``."""

    worker: str
    #: Id of the worker's newest event, or ``""``.
    cursor: str

@final
class StreamEvent:
    """One event of a stream: a timeline event (with an id) or a status
    notice (``worker_online``, ``context_pct``, …; no id)."""

    #: The event id, ``None`` for status notices.
    id: str | None
    #: The SSE event name: ``channel_event``, ``outbound``,
    #: ``permission_request``, ``permission_response``, ``interrupt``,
    #: ``worker_online``, ``worker_offline``, …, ``closed``, ``resync``.
    event: str
    #: The JSON data (usually a ``dict``).
    data: Any
    #: ``data["worker"]`` when the data names a worker.
    worker: str | None

# -- streams ------------------------------------------------------------------

@final
class EventIterator:
    """Events as they happen; ``for ev in it``.

    Reconnects after a network failure or a hub restart and resumes after
    the last event it yielded, so nothing is lost or repeated. Raises after
    a permanent refusal (wrong secret, unknown id); stops when the hub hands
    a worker's stream to a newer reader. ``close()`` (or ``with``) drops the
    connection.
    """

    #: The newest event id yielded (or the ``since`` it started from): pass
    #: it as ``since`` to resume in a new iterator.
    last_id: str | None
    def __iter__(self) -> EventIterator: ...
    def __next__(self) -> StreamEvent: ...
    def close(self) -> None:
        """Drops the connection; iteration stops."""
    def __enter__(self) -> EventIterator: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool: ...

@final
class AsyncEventIterator:
    """Events as they happen for asyncio; ``async for ev in it``.

    ``await`` it (or ``async with`` it) to connect now, or iterate directly
    to connect on first use. Resumes like ``EventIterator``.
    """

    last_id: str | None
    def __aiter__(self) -> AsyncEventIterator: ...
    async def __anext__(self) -> StreamEvent: ...
    def __await__(self) -> Any: ...
    async def aclose(self) -> None:
        """Drops the connection; iteration stops."""
    async def __aenter__(self) -> AsyncEventIterator: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool: ...

# -- clients ------------------------------------------------------------------

@final
class Client:
    """A blocking client for one hub; safe to share between threads.

    ``Client(url, secret)`` or ``Client.from_env()`` (``TUBEMAIL_HUB_URL``,
    ``TUBEMAIL_SECRET``). Calls release the GIL while they wait and can be
    interrupted with Ctrl-C.
    """

    def __new__(
        cls, url: str | None = None, secret: str | None = None, *, timeout: float = 30.0
    ) -> Client:
        """A client for the hub at ``url`` (default ``DEFAULT_HUB_URL``) with
        its bearer ``secret``; ``timeout`` (seconds) bounds ordinary requests
        (streams and ``wait`` have their own). ``ConfigError`` without a
        secret or with a URL that is not http(s)."""
    @staticmethod
    def from_env() -> Client:
        """From ``TUBEMAIL_HUB_URL`` (unset or empty: the default) and
        ``TUBEMAIL_TOKEN`` (a scoped token) or else ``TUBEMAIL_SECRET``;
        ``ConfigError`` without either."""
    @property
    def url(self) -> str:
        """The hub's base URL."""
    # streams
    def events(self, *, since: _EventIdLike | None = None) -> EventIterator:
        """Every worker's events and status notices from now on (or after
        ``since``). Connects before returning."""
    def worker_events(self, worker: str, *, since: _EventIdLike | None = None) -> EventIterator:
        """A worker's own stream (what its channel reads). Resumes after
        ``since``, else after what the worker's last stream handed over."""
    # orchestrator
    def health(self) -> Health:
        """The hub's version, uptime and load."""
    def workers(self) -> list[Worker]:
        """The roster."""
    def worker(self, name: str) -> Worker:
        """One roster row; ``NotFound`` for an unknown worker."""
    def send(
        self,
        worker: str,
        message: str,
        *,
        meta: _JsonDict | None = None,
        idempotency_key: str | None = None,
    ) -> SendReceipt:
        """Sends ``message`` (a harness command such as ``/clear`` goes to
        the worker's manager). Repeating ``idempotency_key`` returns the
        first receipt with ``duplicate=True`` instead of sending twice."""
    def receive(
        self, worker: str, *, since: _EventIdLike | None = None, limit: int = 100
    ) -> list[Event]:
        """Timeline events after ``since``, or the newest ``limit`` (1-500)."""
    def status(self, worker: str) -> WorkerStatus:
        """State with its reason and delivery receipts."""
    def wait(
        self, worker: str, *, since: _EventIdLike | None = None, timeout: float = 30.0
    ) -> list[Event]:
        """Waits up to ``timeout`` s (at most 300) for events after
        ``since`` (or from now); ``[]`` on timeout."""
    def interrupt(self, worker: str) -> str:
        """Interrupts the worker; returns the event id."""
    def restart(self, worker: str) -> str:
        """Restarts the worker's claude via its manager; returns the event id."""
    def stop(self, worker: str) -> str:
        """Stops the worker via its manager; returns the event id."""
    def keystroke(self, worker: str, keys: str) -> int:
        """Types ``keys`` (``enter``, ``esc``, text) via the manager;
        returns the byte count."""
    def clear_and_send(
        self, worker: str, message: str, *, delay: float = 1.5, restore_name: bool = True
    ) -> _JsonDict:
        """``/clear``, ``/rename <worker>``, then ``message``; ``ServerError``
        409 unless the worker is idle."""
    def manager_health(self, worker: str) -> _JsonDict:
        """Process health from the worker's manager (``ServerError`` 409 when
        its manager is not connected, 504 when it does not answer within 5 s)."""
    def screenshot(self, worker: str, *, max_lines: int | None = None) -> str:
        """The worker's screen text from its manager."""
    def reconnect_mcp(self, worker: str, server: str) -> _JsonDict:
        """Asks the worker's manager to reconnect one MCP server."""
    def purge(self, worker: str) -> bool:
        """Removes a worker with its timeline; ``True`` if it existed."""
    def permissions(
        self, worker: str | None = None, *, include_offline: bool = False
    ) -> list[PendingPermission]:
        """Pending permission prompts (of one worker, or all)."""
    def respond(self, worker: str, request_id: str, behavior: _Behavior) -> bool:
        """Answers a prompt; ``False`` when it was not pending."""
    def allow(self, worker: str, request_id: str) -> bool:
        """``respond(worker, request_id, "allow")``."""
    def deny(self, worker: str, request_id: str) -> bool:
        """``respond(worker, request_id, "deny")``."""
    def settings(self) -> Settings:
        """The hub's settings."""
    def update_settings(
        self,
        *,
        recording_enabled_by_default: bool | None = None,
        recording_max_bytes_per_file: int | None = None,
        recording_keep_files: int | None = None,
        retention_max_age_days: int | None = None,
        retention_max_events_per_worker: int | None = None,
        retention_max_database_mib: int | None = None,
        permission_timeout_secs: int | None = None,
        permission_default_answer: _Behavior | None = None,
    ) -> Settings:
        """Changes the given settings; ``BadRequest`` when out of range."""
    def flows(self) -> list[Flow]:
        """Every saved flow."""
    def save_flow(
        self,
        name: str,
        body: str,
        *,
        default_worker: str | None = None,
        meta: _JsonDict | None = None,
    ) -> Flow:
        """Creates or replaces a flow."""
    def run_flow(
        self, name: str, *, worker: str | None = None, meta: _JsonDict | None = None
    ) -> RunStarted:
        """Runs a flow (to ``worker``, else its default worker)."""
    def run_log(self, run_id: str) -> Run:
        """A run with its worker's events."""
    def delete_flow(self, name: str) -> bool:
        """Deletes a flow; ``True`` if it existed."""
    def rules(self) -> list[dict[str, Any]]:
        """The permission rules, in order (first match wins)."""
    def add_rule(
        self,
        verdict: Literal["allow", "deny", "ask"],
        *,
        worker: str | None = None,
        tool: str | None = None,
        project: str | None = None,
        input: str | None = None,
        name: str | None = None,
        timeout_secs: int | None = None,
        default_answer: _Behavior | None = None,
        position: int | None = None,
    ) -> dict[str, Any]:
        """Adds a rule; returns it with its id. ``BadRequest`` for a bad glob or regex."""
    def delete_rule(self, id: str) -> None:
        """Removes a rule."""
    def test_rules(
        self, worker: str, tool_name: str, input_preview: str | None = None, *, project: str | None = None
    ) -> dict[str, Any]:
        """Which rule would decide a prompt, and how (nothing is recorded)."""
    def webhooks(self) -> list[dict[str, Any]]:
        """Every webhook (URL redacted); the shared secret only."""
    def webhook_deliveries(self, id: str, limit: int = 20) -> list[dict[str, Any]]:
        """A webhook's notifications, newest first; the shared secret only."""
    # worker side (what a channel or manager calls; handy for simulations)
    def register(
        self,
        worker: str,
        cwd: str,
        *,
        pid: int | None = None,
        forwarder_version: str | None = None,
        permission_mode: str | None = None,
    ) -> Registration:
        """Registers (or re-registers) a worker."""
    def outbound(self, worker: str, text: str, *, meta: _JsonDict | None = None) -> Appended:
        """Posts a reply from the worker."""
    def permission_request(
        self,
        worker: str,
        request_id: str,
        tool_name: str,
        *,
        description: str | None = None,
        input_preview: str | None = None,
    ) -> Appended:
        """Relays a permission prompt from the worker."""
    def permission_response(self, worker: str, request_id: str, behavior: _Behavior) -> bool:
        """Reports a prompt answered at the worker; ``False`` when not pending."""
    def context_pct(self, worker: str, pct: int | None) -> bool:
        """Reports context window use; ``True`` when it changed."""
    def set_condition(
        self, worker: str, signal: str | None, *, detail: str | None = None
    ) -> bool:
        """Reports a condition (``channel_unavailable``, ``blocked``) or clears it
        (``None``); ``True`` when it changed."""
    def set_active(self, worker: str, is_active: bool) -> bool:
        """Reports whether the worker is working; ``True`` when it changed."""
    def delivered(self, worker: str, through: _EventIdLike) -> bool:
        """Confirms events up to ``through`` reached the worker's session."""
    def unregister(self, worker: str) -> None:
        """Ends the worker's streams (keeps its state)."""
    def goodbye(self, worker: str) -> None:
        """A clean exit."""

@final
class AsyncClient:
    """``Client``'s operations as coroutines, for asyncio."""

    def __new__(
        cls, url: str | None = None, secret: str | None = None, *, timeout: float = 30.0
    ) -> AsyncClient:
        """See ``Client``."""
    @staticmethod
    def from_env() -> AsyncClient:
        """From ``TUBEMAIL_HUB_URL`` and ``TUBEMAIL_TOKEN`` or else ``TUBEMAIL_SECRET``."""
    @property
    def url(self) -> str:
        """The hub's base URL."""
    def events(self, *, since: _EventIdLike | None = None) -> AsyncEventIterator:
        """Every worker's events and status notices; ``await`` it to connect
        now, or ``async for`` over it to connect on first use."""
    def worker_events(
        self, worker: str, *, since: _EventIdLike | None = None
    ) -> AsyncEventIterator:
        """A worker's own stream (see ``events``)."""
    async def health(self) -> Health: ...
    async def workers(self) -> list[Worker]: ...
    async def worker(self, name: str) -> Worker: ...
    async def send(
        self,
        worker: str,
        message: str,
        *,
        meta: _JsonDict | None = None,
        idempotency_key: str | None = None,
    ) -> SendReceipt: ...
    async def receive(
        self, worker: str, *, since: _EventIdLike | None = None, limit: int = 100
    ) -> list[Event]: ...
    async def status(self, worker: str) -> WorkerStatus: ...
    async def wait(
        self, worker: str, *, since: _EventIdLike | None = None, timeout: float = 30.0
    ) -> list[Event]: ...
    async def interrupt(self, worker: str) -> str: ...
    async def restart(self, worker: str) -> str: ...
    async def stop(self, worker: str) -> str: ...
    async def keystroke(self, worker: str, keys: str) -> int: ...
    async def clear_and_send(
        self, worker: str, message: str, *, delay: float = 1.5, restore_name: bool = True
    ) -> _JsonDict: ...
    async def manager_health(self, worker: str) -> _JsonDict: ...
    async def screenshot(self, worker: str, *, max_lines: int | None = None) -> str: ...
    async def reconnect_mcp(self, worker: str, server: str) -> _JsonDict: ...
    async def purge(self, worker: str) -> bool: ...
    async def permissions(
        self, worker: str | None = None, *, include_offline: bool = False
    ) -> list[PendingPermission]: ...
    async def respond(self, worker: str, request_id: str, behavior: _Behavior) -> bool: ...
    async def allow(self, worker: str, request_id: str) -> bool: ...
    async def deny(self, worker: str, request_id: str) -> bool: ...
    async def settings(self) -> Settings: ...
    async def update_settings(
        self,
        *,
        recording_enabled_by_default: bool | None = None,
        recording_max_bytes_per_file: int | None = None,
        recording_keep_files: int | None = None,
        retention_max_age_days: int | None = None,
        retention_max_events_per_worker: int | None = None,
        retention_max_database_mib: int | None = None,
        permission_timeout_secs: int | None = None,
        permission_default_answer: _Behavior | None = None,
    ) -> Settings: ...
    async def flows(self) -> list[Flow]: ...
    async def save_flow(
        self,
        name: str,
        body: str,
        *,
        default_worker: str | None = None,
        meta: _JsonDict | None = None,
    ) -> Flow: ...
    async def run_flow(
        self, name: str, *, worker: str | None = None, meta: _JsonDict | None = None
    ) -> RunStarted: ...
    async def run_log(self, run_id: str) -> Run: ...
    async def delete_flow(self, name: str) -> bool: ...
    async def rules(self) -> list[dict[str, Any]]: ...
    async def add_rule(
        self,
        verdict: Literal["allow", "deny", "ask"],
        *,
        worker: str | None = None,
        tool: str | None = None,
        project: str | None = None,
        input: str | None = None,
        name: str | None = None,
        timeout_secs: int | None = None,
        default_answer: _Behavior | None = None,
        position: int | None = None,
    ) -> dict[str, Any]: ...
    async def delete_rule(self, id: str) -> None: ...
    async def test_rules(
        self, worker: str, tool_name: str, input_preview: str | None = None, *, project: str | None = None
    ) -> dict[str, Any]: ...
    async def webhooks(self) -> list[dict[str, Any]]: ...
    async def webhook_deliveries(self, id: str, limit: int = 20) -> list[dict[str, Any]]: ...
    async def register(
        self,
        worker: str,
        cwd: str,
        *,
        pid: int | None = None,
        forwarder_version: str | None = None,
        permission_mode: str | None = None,
    ) -> Registration: ...
    async def outbound(
        self, worker: str, text: str, *, meta: _JsonDict | None = None
    ) -> Appended: ...
    async def permission_request(
        self,
        worker: str,
        request_id: str,
        tool_name: str,
        *,
        description: str | None = None,
        input_preview: str | None = None,
    ) -> Appended: ...
    async def permission_response(
        self, worker: str, request_id: str, behavior: _Behavior
    ) -> bool: ...
    async def context_pct(self, worker: str, pct: int | None) -> bool: ...
    async def set_condition(
        self, worker: str, signal: str | None, *, detail: str | None = None
    ) -> bool: ...
    async def set_active(self, worker: str, is_active: bool) -> bool: ...
    async def delivered(self, worker: str, through: _EventIdLike) -> bool: ...
    async def unregister(self, worker: str) -> None: ...
    async def goodbye(self, worker: str) -> None: ...
