"""HttpBackend against our real server: sync run, queue, errors."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from lcm_widgets.backends.echo import EchoBackend
from lcm_widgets.backends.http import HttpBackend, QueueStatus
from lcm_widgets.errors import (
    ConnectionClosed,
    InvalidInput,
    RemoteError,
    ServerBusy,
    Unauthorized,
)
from lcm_widgets.schema import Input, Output
from lcm_widgets.server import ServerConfig, ServerThread, create_app

KEY = "test-id:test-secret"
SMALL = {"width": 64, "height": 64}

Serve = Callable[..., ServerThread]


class GatedEcho(EchoBackend):
    """Echo that waits for ``gate`` on prompts containing "wait" (to hold jobs in the queue)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate: asyncio.Event | None = None

    async def generate(self, inp: Input) -> Output:
        if "wait" in inp.prompt:
            if self.gate is None:
                self.gate = asyncio.Event()
            await self.gate.wait()
        return await super().generate(inp)


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Our server around a backend (auth on, key KEY), stopped at the end."""
    started: list[ServerThread] = []

    def start(backend: Any = None, **kw: Any) -> ServerThread:
        kw.setdefault("keys", [KEY])
        srv = ServerThread(create_app(backend or EchoBackend(), ServerConfig(**kw))).start()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()


def _open_gate(srv: ServerThread, model: GatedEcho) -> None:
    async def go() -> None:
        if model.gate is None:
            model.gate = asyncio.Event()
        model.gate.set()

    srv.run_coroutine(go())


async def test_sync_run(serve: Serve) -> None:
    """generate() is one POST; the output parses and carries the server's request id."""
    srv = serve()
    b = HttpBackend(base_url=srv.url, key=KEY)
    out = await b.generate({"prompt": "x", "seed": 5, "image_size": SMALL})
    assert out.seed == 5 and out.request_id
    assert out.images[0].url.startswith("data:image/jpeg;base64,")
    assert out.images[0].data()[:3] == b"\xff\xd8\xff"
    assert b.info.name == "http" and b.info.remote
    assert "test-secret" not in repr(b)
    img = await b.generate({"prompt": "x", "image_url": out.images[0].data(), "strength": 0.5})
    assert img.images[0].width == 64
    await b.aclose()
    await b.aclose()


async def test_422_carries_field_errors(serve: Serve) -> None:
    """A 422 → InvalidInput whose errors are the server's detail list."""
    srv = serve()
    b = HttpBackend(base_url=srv.url, key=KEY)
    bad = Input.model_construct(prompt="x", guidance_scale=99.0)
    with pytest.raises(InvalidInput, match="guidance_scale: must be between") as ei:
        await b.generate(bad)
    assert ei.value.field == "guidance_scale"
    assert ei.value.errors[0]["loc"] == ["body", "guidance_scale"]
    assert (await b.generate({"prompt": "ok", "seed": 1, "image_size": SMALL})).seed == 1
    await b.aclose()


async def test_unauthorized(serve: Serve) -> None:
    """A wrong key → Unauthorized with status 401 and the server's detail."""
    srv = serve()
    b = HttpBackend(base_url=srv.url, key="nobody:nothing")
    with pytest.raises(Unauthorized) as ei:
        await b.generate({"prompt": "x"})
    assert ei.value.code == 401 and "API key" in ei.value.reason
    with pytest.raises(Unauthorized):
        await b.submit({"prompt": "x"})
    await b.aclose()


async def test_generation_failure(serve: Serve) -> None:
    """A model failure → RemoteError with the HTTP status and the server's reason."""
    srv = serve()
    b = HttpBackend(base_url=srv.url, key=KEY)
    with pytest.raises(RemoteError, match="asked to fail") as ei:
        await b.generate({"prompt": "!fail"})
    assert isinstance(ei.value.code, int) and ei.value.code >= 400
    await b.aclose()


async def test_queue_submit_status_result(serve: Serve) -> None:
    """submit → status (IN_QUEUE/IN_PROGRESS) → iter_status to COMPLETED → result."""
    model = GatedEcho()
    srv = serve(model)
    b = HttpBackend(base_url=srv.url, key=KEY)
    h = await b.submit({"prompt": "wait", "seed": 3, "image_size": SMALL})
    assert h.request_id and h.status_url.endswith(f"/requests/{h.request_id}/status")
    st = await b.status(h.request_id)
    assert st.status in {"IN_QUEUE", "IN_PROGRESS"} and not st.done
    seen: list[QueueStatus] = []
    it = b.iter_status(h.request_id, logs=True)
    seen.append(await it.__anext__())
    _open_gate(srv, model)
    async for s in it:
        seen.append(s)
    assert seen[-1].done and seen[-1].logs is not None
    out = await b.result(h.request_id)
    assert out.seed == 3
    await b.aclose()


async def test_queue_polling_and_subscribe(serve: Serve) -> None:
    """subscribe() follows a request to the end; polling works when asked for directly."""
    srv = serve()
    b = HttpBackend(base_url=srv.url, key=KEY, poll_interval=0.01)
    statuses: list[str] = []
    out = await b.subscribe({"prompt": "x", "seed": 8, "image_size": SMALL},
                            on_status=lambda s: statuses.append(s.status))
    assert out.seed == 8 and statuses[-1] == "COMPLETED"
    h = await b.submit({"prompt": "y", "seed": 9, "image_size": SMALL})
    while not (await b.status(h.request_id, logs=False)).done:
        await asyncio.sleep(0.01)
    assert (await b.result(h.request_id)).seed == 9
    await b.aclose()


async def test_cancel(serve: Serve) -> None:
    """A queued request can be cancelled; a finished one answers ALREADY_COMPLETED."""
    model = GatedEcho()
    srv = serve(model)
    b = HttpBackend(base_url=srv.url, key=KEY)
    running = await b.submit({"prompt": "wait", "image_size": SMALL})
    queued = await b.submit({"prompt": "second", "image_size": SMALL})
    assert await b.cancel(queued.request_id) == "CANCELLATION_REQUESTED"
    _open_gate(srv, model)
    async for _ in b.iter_status(running.request_id):
        pass
    assert await b.cancel(running.request_id) == "ALREADY_COMPLETED"
    final = await b.status(queued.request_id)
    assert final.done and final.error
    with pytest.raises(RemoteError):
        await b.result(queued.request_id)
    with pytest.raises(RemoteError) as ei:
        await b.status("no-such-request")
    assert ei.value.code == 404
    await b.aclose()


async def test_queue_full_is_server_busy(serve: Serve) -> None:
    """More than max_queue waiting jobs → ServerBusy (429)."""
    model = GatedEcho()
    srv = serve(model, max_queue=1)
    b = HttpBackend(base_url=srv.url, key=KEY)
    await b.submit({"prompt": "wait"})
    with pytest.raises(ServerBusy) as ei:
        for _ in range(3):
            await b.submit({"prompt": "more"})
    assert ei.value.code == 429
    _open_gate(srv, model)
    await b.aclose()


async def test_transport_error() -> None:
    """Nothing listening → ConnectionClosed with the httpx error chained."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    b = HttpBackend(base_url=f"http://127.0.0.1:{port}", key=None)
    with pytest.raises(ConnectionClosed) as ei:
        await b.generate({"prompt": "x"})
    assert ei.value.__cause__ is not None
    await b.aclose()


def test_urls_for_fal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without base_url: fal.run, queue.fal.run and FAL_KEY (no network touched)."""
    monkeypatch.setenv("FAL_KEY", "k:s")
    b = HttpBackend("fal-ai/fast-lcm-diffusion/image-to-image")
    assert b.run_url == "https://fal.run/fal-ai/fast-lcm-diffusion/image-to-image"
    assert b._requests_url("r1", "/status") == (
        "https://queue.fal.run/fal-ai/fast-lcm-diffusion/requests/r1/status")
    monkeypatch.delenv("FAL_KEY")
    with pytest.raises(Unauthorized, match="FAL_KEY"):
        HttpBackend()


def test_generate_sync(serve: Serve) -> None:
    """generate_sync from synchronous code."""
    srv = serve()
    b = HttpBackend(base_url=srv.url, key=KEY)
    assert b.generate_sync({"prompt": "x", "seed": 2, "image_size": SMALL}, timeout=30).seed == 2
