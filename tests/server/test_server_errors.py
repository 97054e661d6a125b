"""Every error answer comes from the one error table (``lcm_widgets.protocol.errors``): the
realtime code, the HTTP status and the ``error_type`` are the row of the exception raised."""

from __future__ import annotations

import json
from typing import Any

import httpx
import msgpack
import pytest
from server_helpers import APP, AUTH, KEY, wait_until
from websockets.sync.client import connect

from lcm_widgets.backends.echo import EchoBackend
from lcm_widgets.errors import ServerBusy, Unauthorized
from lcm_widgets.protocol.errors import code_for
from lcm_widgets.schema import Input, Output
from lcm_widgets.server.auth import AuthError
from lcm_widgets.server.jobs import QueueFull


class RaisingEcho(EchoBackend):
    """Echo that raises what the prompt names: ``!bug`` (a plain RuntimeError, a bug) or
    ``!busy`` (ServerBusy, as a remote backend over capacity would)."""

    async def generate(self, inp: Input) -> Output:
        if "!bug" in inp.prompt:
            raise RuntimeError("a bug in the backend")
        if "!busy" in inp.prompt:
            raise ServerBusy(429, "the remote model is over capacity")
        return await super().generate(inp)


def _rt(srv: Any) -> Any:
    return connect(f"{srv.ws_url}/{APP}/realtime", additional_headers=AUTH, open_timeout=20)


def _error(ws: Any) -> dict[str, Any]:
    msg = ws.recv(timeout=30)
    assert isinstance(msg, str), f"expected a text error, got {len(msg)} bytes"
    err: dict[str, Any] = json.loads(msg)
    assert err["type"] == "x-fal-error", err
    return err


@pytest.mark.parametrize(("prompt", "code", "status", "error_type", "detail"), [
    ("!bug", "INTERNAL_ERROR", 500, "internal_error",
     "internal error: RuntimeError: a bug in the backend"),
    ("!busy", "SERVER_BUSY", 429, "queue_full", "429: the remote model is over capacity"),
    ("!fail", "GENERATION_FAILED", 500, "generation_failed",
     "echo backend asked to fail by prompt 'x !fail'"),
])
def test_backend_errors_answer_with_their_row(serve: Any, prompt: str, code: str, status: int,
                                              error_type: str, detail: str) -> None:
    """One exception, one row: the realtime code, the sync status and body, the queue status
    agree; the realtime session and the server go on."""
    srv = serve(RaisingEcho())
    r = httpx.post(f"{srv.url}/{APP}", json={"prompt": f"x {prompt}"}, headers=AUTH)
    assert (r.status_code, r.json()) == (status, {"detail": detail, "error_type": error_type})
    sub = httpx.post(f"{srv.url}/queue/{APP}", json={"prompt": f"x {prompt}"},
                     headers=AUTH).json()
    wait_until(lambda: httpx.get(sub["status_url"], headers=AUTH).json()["status"]
               == "COMPLETED", what="the job")
    st = httpx.get(sub["status_url"], headers=AUTH).json()
    assert (st["error"], st["error_type"]) == (detail, error_type)
    assert httpx.get(sub["response_url"], headers=AUTH).status_code == status
    with _rt(srv) as ws:
        ws.send(msgpack.packb({"prompt": f"x {prompt}", "request_id": "e1"}))
        err = _error(ws)
        assert (err["error"], err["request_id"]) == (code, "e1")
        assert err["reason"] == detail.removeprefix("internal error: ")
        ws.send(msgpack.packb({"prompt": "fine", "request_id": "e2"}))
        assert msgpack.unpackb(ws.recv(timeout=30))["request_id"] == "e2"


def test_json_in_a_binary_frame_is_named(serve: Any) -> None:
    """A binary frame holding JSON (a common client mistake) is INVALID_MESSAGE saying so."""
    srv = serve()
    with _rt(srv) as ws:
        ws.send(json.dumps({"prompt": "x"}).encode())
        err = _error(ws)
        assert err["error"] == "INVALID_MESSAGE" and "got JSON" in err["reason"], err
        ws.send(msgpack.packb({"prompt": "x", "request_id": "after"}))
        assert msgpack.unpackb(ws.recv(timeout=30))["request_id"] == "after"


def test_server_exceptions_are_rows_of_the_table() -> None:
    """QueueFull is a ServerBusy (429 queue_full), AuthError an Unauthorized (401); both read
    as their reason alone."""
    full = QueueFull("queue is full: 2 requests waiting (max_queue 2); retry later")
    assert isinstance(full, ServerBusy) and str(full).startswith("queue is full")
    r = code_for(full)
    assert (r.code, r.http_status, r.error_type) == ("SERVER_BUSY", 429, "queue_full")
    denied = AuthError("unknown API key")
    assert isinstance(denied, Unauthorized) and str(denied) == "unknown API key"
    assert (code_for(denied).code, code_for(denied).http_status) == ("UNAUTHORIZED", 401)


def test_unknown_key_on_rest_is_the_unauthorized_row(serve: Any) -> None:
    """A refused key is HTTP 401 with the reason alone as detail (no error_type)."""
    srv = serve()
    r = httpx.post(f"{srv.url}/{APP}", json={"prompt": "x"},
                   headers={"Authorization": f"Key {KEY}x"})
    assert (r.status_code, r.json()) == (401, {"detail": "unknown API key"})
