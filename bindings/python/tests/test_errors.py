"""Each exception type, from a real hub (401, 404, 400, 409), a dead hub, a
server that is not a hub, and a bad configuration."""

from __future__ import annotations

import asyncio
import http.server
import threading
from pathlib import Path
from typing import Iterator

import pytest

import tubemail
from pyclient_support import Hub
from hubproc import free_port

ALL = (
    tubemail.Unreachable,
    tubemail.Unauthorized,
    tubemail.NotFound,
    tubemail.BadRequest,
    tubemail.ServerError,
    tubemail.DecodeError,
    tubemail.ConfigError,
)


def test_hierarchy() -> None:
    for cls in ALL:
        assert issubclass(cls, tubemail.TubemailError)
        assert cls.__module__ == "tubemail"
        assert cls.__doc__
    assert issubclass(tubemail.TubemailError, Exception)


def test_wrong_secret_is_unauthorized(hub: Hub, name: str) -> None:
    bad = tubemail.Client(hub.url, "not-the-secret")
    with pytest.raises(tubemail.Unauthorized) as e:
        bad.send(name, "x")
    assert e.value.detail
    assert "not-the-secret" not in str(e.value)
    with pytest.raises(tubemail.Unauthorized):
        bad.events()  # the stream's first connection
    with pytest.raises(tubemail.Unauthorized):
        bad.worker_events(name)


def test_not_found(client: tubemail.Client, name: str) -> None:
    with pytest.raises(tubemail.NotFound) as e:
        client.worker(name)
    assert name in e.value.detail or "not found" in e.value.detail.lower()
    with pytest.raises(tubemail.NotFound):
        client.run_log("0000000000000000000000")


def test_bad_request_carries_the_reason(client: tubemail.Client, name: str) -> None:
    with pytest.raises(tubemail.BadRequest) as e:
        client.update_settings(recording_max_bytes_per_file=10)
    assert "recording_max_bytes_per_file" in e.value.reason
    assert e.value.reason == e.value.detail
    assert e.value.reason in str(e.value)
    # Refused before anything is sent:
    with pytest.raises(tubemail.BadRequest, match="invalid worker name"):
        client.send("no/slashes", "x")
    with pytest.raises(tubemail.BadRequest, match="event id"):
        client.events(since="abc")


def test_server_error_has_the_status(client: tubemail.Client, name: str) -> None:
    client.send(name, "keeps it busy")
    with pytest.raises(tubemail.ServerError) as e:
        client.clear_and_send(name, "x", delay=0)
    assert e.value.status == 409 and e.value.detail


def test_dead_hub_is_unreachable() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    c = tubemail.Client(url, "s", timeout=5)
    with pytest.raises(tubemail.Unreachable) as e:
        c.health()
    assert e.value.url == f"{url}/health"
    assert "refused" in str(e.value).lower()
    with pytest.raises(tubemail.Unreachable):
        c.events()


@pytest.fixture
def not_a_hub(tmp_path: Path) -> Iterator[str]:
    """A plain HTTP file server whose /health is not the hub's JSON."""
    (tmp_path / "health").write_text("this is not json")
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_an_answer_that_is_not_the_api_is_a_decode_error(not_a_hub: str) -> None:
    with pytest.raises(tubemail.DecodeError) as e:
        tubemail.Client(not_a_hub, "s").health()
    assert "/health" in e.value.detail


def test_config_errors(monkeypatch: pytest.MonkeyPatch, hub: Hub) -> None:
    with pytest.raises(tubemail.ConfigError, match="secret"):
        tubemail.Client(hub.url)
    with pytest.raises(tubemail.ConfigError, match="http"):
        tubemail.Client("ftp://example", "s")
    with pytest.raises(tubemail.ConfigError, match="timeout"):
        tubemail.Client(hub.url, "s", timeout=-1)
    with pytest.raises(tubemail.ConfigError, match="timeout"):
        tubemail.AsyncClient(hub.url, "s", timeout=float("nan"))

    monkeypatch.delenv("TUBEMAIL_SECRET", raising=False)
    monkeypatch.setenv("TUBEMAIL_HUB_URL", hub.url)
    with pytest.raises(tubemail.ConfigError, match="TUBEMAIL_SECRET"):
        tubemail.Client.from_env()
    monkeypatch.setenv("TUBEMAIL_SECRET", hub.secret)
    c = tubemail.Client.from_env()
    assert c.url == hub.url and c.health().status == "ok"
    monkeypatch.setenv("TUBEMAIL_HUB_URL", "")
    assert tubemail.Client.from_env().url == tubemail.DEFAULT_HUB_URL
    assert tubemail.AsyncClient.from_env().url == tubemail.DEFAULT_HUB_URL


def test_async_client_raises_the_same_types(hub: Hub, name: str) -> None:
    async def main() -> None:
        bad = tubemail.AsyncClient(hub.url, "wrong")
        with pytest.raises(tubemail.Unauthorized):
            await bad.workers()
        with pytest.raises(tubemail.Unauthorized):
            await bad.events()
        good = tubemail.AsyncClient(hub.url, hub.secret)
        with pytest.raises(tubemail.NotFound):
            await good.worker(name)
        with pytest.raises(tubemail.BadRequest):
            await good.update_settings(recording_keep_files=65)
        dead = tubemail.AsyncClient(f"http://127.0.0.1:{free_port()}", "s")
        with pytest.raises(tubemail.Unreachable):
            await dead.health()
        # A stream iterated without awaiting raises on its first event.
        with pytest.raises(tubemail.Unreachable):
            async for _ in dead.events():
                pass

    asyncio.run(main())
