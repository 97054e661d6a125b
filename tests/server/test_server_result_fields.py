"""Result bodies carry fal's fields: ``request_id`` (as the header does), ``num_inference_steps``
and ``timings.inference`` (seconds) beside our per-stage timings; our own clients still parse
them."""

from __future__ import annotations

from typing import Any

import httpx
import msgpack
from server_helpers import APP, AUTH

from lcm_widgets.backends.http import HttpBackend
from lcm_widgets.backends.realtime import RealtimeBackend
from lcm_widgets.schema import Input, Output


class StagedEcho:
    """An echo model whose timings are per-stage, as LocalLCM's are (no ``inference`` key)."""

    def __init__(self) -> None:
        from lcm_widgets.backends.echo import EchoBackend

        self._echo = EchoBackend()
        self.info = self._echo.info

    async def generate(self, inp: Input) -> Output:
        out = await self._echo.generate(inp)
        out.timings = {"denoise": 0.001, "total": 0.002}
        return out

    async def aclose(self) -> None:
        return None


def _check(body: dict[str, Any], request_id: str, steps: int) -> None:
    assert body["request_id"] == request_id
    assert body["num_inference_steps"] == steps
    timings = body["timings"]
    assert isinstance(timings["inference"], float) and timings["inference"] >= 0
    assert timings["denoise"] == 0.001 and timings["total"] == 0.002  # the stages stay


def test_sync_result_body_fields(serve: Any) -> None:
    """POST /{app}: request_id equals x-fal-request-id (or the one the input gave)."""
    srv = serve(StagedEcho())
    r = httpx.post(f"{srv.url}/{APP}", headers=AUTH,
                   json={"prompt": "x", "num_inference_steps": 3})
    assert r.status_code == 200
    _check(r.json(), r.headers["x-fal-request-id"], 3)
    r = httpx.post(f"{srv.url}/{APP}", headers=AUTH, json={"prompt": "x", "request_id": "mine"})
    _check(r.json(), "mine", 6)  # the schema's default steps


def test_queue_result_body_fields(serve: Any) -> None:
    """The queue result carries the submit's request_id; the webhook-free path is the same."""
    srv = serve(StagedEcho())
    sub = httpx.post(f"{srv.url}/queue/{APP}", headers=AUTH,
                     json={"prompt": "queued", "num_inference_steps": 2}).json()
    for _ in range(2000):
        st = httpx.get(sub["status_url"], headers=AUTH).json()
        if st["status"] == "COMPLETED":
            break
    res = httpx.get(sub["response_url"], headers=AUTH)
    assert res.status_code == 200
    _check(res.json(), sub["request_id"], 2)


def test_realtime_json_result_fields(serve: Any) -> None:
    """A realtime JSON answer has num_inference_steps and timings.inference too (what the
    blog's client reads); the msgpack answer stays the backend's output as it was."""
    import json

    from websockets.sync.client import connect

    srv = serve(StagedEcho(), auth=False)
    with connect(f"{srv.ws_url}/{APP}/realtime") as ws:
        ws.send(json.dumps({"prompt": "x", "num_inference_steps": 5, "request_id": "r"}))
        _check(json.loads(ws.recv()), "r", 5)
        ws.send(msgpack.packb({"prompt": "x", "num_inference_steps": 5, "request_id": "m"}))
        out = msgpack.unpackb(ws.recv())
    assert out["request_id"] == "m" and out["timings"] == {"denoise": 0.001, "total": 0.002}


async def test_our_clients_parse_the_fields(serve: Any) -> None:
    """HttpBackend (sync and queue) reads these bodies as Outputs; RealtimeBackend (msgpack)
    still reads its results."""
    srv = serve(StagedEcho())
    key = "test-key:test-secret"
    http = HttpBackend(base_url=srv.url, key=key)
    out = await http.generate({"prompt": "x", "seed": 2, "num_inference_steps": 2})
    assert out.seed == 2 and out.request_id and "inference" in out.timings
    queued = await http.subscribe({"prompt": "x", "seed": 4})
    assert queued.seed == 4 and queued.request_id and "inference" in queued.timings
    await http.aclose()
    rt = RealtimeBackend(base_url=srv.url, key=key)
    out = await rt.generate({"prompt": "x", "seed": 9})
    assert out.seed == 9 and out.timings["denoise"] == 0.001
    await rt.aclose()
