"""RealtimeBackend against our real server (uvicorn on 127.0.0.1, port 0) with echo models."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from lcm_test_helpers import CountingEcho

from lcm_widgets.backends.realtime import RealtimeBackend
from lcm_widgets.errors import (
    ConnectionClosed,
    InvalidImage,
    InvalidInput,
    RemoteError,
    RemoteTimeout,
    Superseded,
    Unauthorized,
)
from lcm_widgets.schema import Input, Output
from lcm_widgets.server import ServerConfig, ServerThread, create_app

KEY = "test-id:test-secret"
SMALL = {"width": 64, "height": 64}
FAST = (0.01, 1.5, 0.1)  # backoff for tests: many quick attempts


Serve = Callable[..., ServerThread]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start our server around a backend (auth on, key KEY); stops them all at the end."""
    started: list[ServerThread] = []

    def start(backend: Any = None, *, port: int = 0, **kw: Any) -> ServerThread:
        kw.setdefault("keys", [KEY])
        srv = ServerThread(create_app(backend or CountingEcho(), ServerConfig(**kw)), port=port).start()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()


def frame(i: int, **kw: Any) -> dict[str, Any]:
    """Frame number ``i`` as an input: the seed carries the frame number."""
    return {"prompt": f"frame {i}", "seed": i, "image_size": SMALL, **kw}


async def until(pred: Callable[[], bool], limit: float = 20.0) -> None:
    """Wait for ``pred()`` (a safety cap, not a timing assertion)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + limit
    while not pred():
        assert loop.time() < end, "condition not reached"
        await asyncio.sleep(0.005)


def jpeg(size: int = 64) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (size, size), (10, 200, 30)).save(buf, "JPEG")
    return buf.getvalue()


# ------------------------------------------------------------------ basics


async def test_round_trip_with_jwt(serve: Serve) -> None:
    """One generate: a token is minted, the result matches the request id, data URI decodes."""
    srv = serve()
    b = RealtimeBackend(base_url=srv.url, key=KEY)
    out = await b.generate({**frame(7), "image_url": jpeg(), "strength": 0.5})
    assert out.seed == 7 and out.request_id and len(out.request_id) == 32
    assert out.images[0].url.startswith("data:image/jpeg;base64,")
    assert out.images[0].data()[:3] == b"\xff\xd8\xff"
    assert out.timings["round_trip"] > 0
    assert (b.stats.token_mints, b.stats.connects, b.stats.max_in_flight) == (1, 1, 1)
    given = await b.generate(Input(prompt="x", seed=1, request_id="mine", image_size=SMALL))
    assert given.request_id == "mine"
    await b.aclose()


async def test_key_header_mode_and_info(serve: Serve) -> None:
    """use_jwt=False sends Authorization: Key; info and repr never show the key."""
    srv = serve()
    b = RealtimeBackend("fal-ai/fast-lcm-diffusion", base_url=srv.url, key=KEY, use_jwt=False,
                        max_buffering=2)
    assert (await b.generate(frame(3))).seed == 3
    assert b.stats.token_mints == 0
    assert b.info.name == "realtime" and b.info.remote and b.info.model == (
        "fal-ai/fast-lcm-diffusion")
    assert "test-secret" not in repr(b) + repr(b.info) + repr(vars(b))
    await b.aclose()


def test_fal_defaults_read_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without base_url: FAL_KEY is read, URLs point at fal.ai; no key → a clear error."""
    monkeypatch.delenv("FAL_KEY", raising=False)
    monkeypatch.delenv("FAL_KEY_ID", raising=False)
    with pytest.raises(Unauthorized, match="FAL_KEY"):
        RealtimeBackend("fal-ai/fast-lcm-diffusion")
    monkeypatch.setenv("FAL_KEY_ID", "kid")
    monkeypatch.setenv("FAL_KEY_SECRET", "ksecret")
    b = RealtimeBackend("fal-ai/fast-lcm-diffusion", max_buffering=4)
    assert b.url == "wss://fal.run/fal-ai/fast-lcm-diffusion/realtime?max_buffering=4"
    assert b.rest_url == "https://rest.fal.ai" and b.auth == "jwt"
    assert "ksecret" not in repr(b)


@pytest.mark.parametrize("bad", [0, 61])
def test_max_buffering_checked(bad: int) -> None:
    """max_buffering outside 1..60 is refused at construction."""
    with pytest.raises(InvalidInput, match="max_buffering"):
        RealtimeBackend(base_url="http://127.0.0.1:1", max_buffering=bad)


# ------------------------------------------------------------------ flow control


async def test_200_frames_newest_wins_one_in_flight(serve: Serve) -> None:
    """200 frames on one lane sent faster than the model: ordered results, ≤1 in flight, the
    last answered (a caller streaming its own frames)."""
    model = CountingEcho(delay=0.01)
    srv = serve(model)
    b = RealtimeBackend(base_url=srv.url, key=KEY)
    results: list[int] = []
    superseded = 0

    async def one(i: int) -> None:
        nonlocal superseded
        try:
            results.append((await b.generate(frame(i), lane="pen")).seed)
        except Superseded:
            superseded += 1

    tasks = []
    for i in range(200):
        tasks.append(asyncio.create_task(one(i)))
        if i % 5 == 4:  # bursts of 5 in one tick, then a short pause
            await asyncio.sleep(0.001)
    await asyncio.gather(*tasks)
    assert results == sorted(set(results)), "results out of order or repeated"
    assert results[-1] == 199, "the newest frame was not answered"
    assert len(results) + superseded == 200 and superseded >= 120
    assert b.stats.superseded == superseded
    assert b.stats.max_in_flight == 1 and model.max_active == 1
    assert model.calls == b.stats.sent == b.stats.received == len(results)
    assert srv.app.state.lcm.frames_dropped == 0
    await b.aclose()


async def test_superseded_and_cancelled_callers(serve: Serve) -> None:
    """A replaced pending call of a lane raises Superseded; a cancelled one leaves the flow
    intact."""
    srv = serve(CountingEcho(delay=0.05))
    b = RealtimeBackend(base_url=srv.url, key=KEY)
    first = asyncio.create_task(b.generate(frame(1), lane="pen"))
    await until(lambda: b.stats.sent == 1)
    second = asyncio.create_task(b.generate(frame(2), lane="pen"))
    third = asyncio.create_task(b.generate(frame(3), lane="pen"))
    with pytest.raises(Superseded, match="superseded"):
        await second
    assert (await first).seed == 1 and (await third).seed == 3
    inflight = asyncio.create_task(b.generate(frame(4), lane="pen"))
    await until(lambda: b.stats.sent == 3)
    inflight.cancel()  # stays in flight on the server until answered; not resent
    assert (await b.generate(frame(5), lane="pen")).seed == 5
    assert b.stats.max_in_flight == 1
    await b.aclose()


# ------------------------------------------------------------------ errors


async def test_server_validation_error_then_next_works(serve: Serve) -> None:
    """Bad fields reaching the server → InvalidInput with the server's reason and detail."""
    srv = serve()
    b = RealtimeBackend(base_url=srv.url, key=KEY)
    bad = Input.model_construct(prompt="x", num_inference_steps=999)  # skips local checks
    with pytest.raises(InvalidInput, match="num_inference_steps: must be between 1 and 50") as ei:
        await b.generate(bad)
    assert ei.value.field == "num_inference_steps"
    assert ei.value.errors[0]["loc"] == ["body", "num_inference_steps"]
    with pytest.raises(InvalidImage, match="image"):
        await b.generate({**frame(1), "image_url": b"not an image"})
    assert (await b.generate(frame(2))).seed == 2
    with pytest.raises(InvalidInput, match="num_inference_steps"):  # checked locally too
        await b.generate({"prompt": "x", "num_inference_steps": 0})
    await b.aclose()


async def test_generation_failure_is_typed(serve: Serve) -> None:
    """A model failure → RemoteError with the server's code and reason; the backend goes on."""
    srv = serve()
    b = RealtimeBackend(base_url=srv.url, key=KEY)
    with pytest.raises(RemoteError, match="asked to fail") as ei:
        await b.generate({"prompt": "please !fail"})
    assert ei.value.code == "GENERATION_FAILED"
    assert (await b.generate(frame(1))).seed == 1
    assert b.stats.connects == 1
    await b.aclose()


async def test_bad_key_is_unauthorized(serve: Serve) -> None:
    """A wrong key → Unauthorized, both when minting (401) and in-band (key header)."""
    srv = serve()
    jwt = RealtimeBackend(base_url=srv.url, key="who:ever")
    with pytest.raises(Unauthorized, match="unknown API key") as ei:
        await jwt.generate(frame(1))
    assert ei.value.code == 401
    hdr = RealtimeBackend(base_url=srv.url, key="who:ever", use_jwt=False)
    with pytest.raises(Unauthorized, match="refused"):
        await hdr.generate(frame(1))
    anon = RealtimeBackend(base_url=srv.url, key=None)
    with pytest.raises(Unauthorized):
        await anon.generate(frame(1))
    for b in (jwt, hdr, anon):
        await b.aclose()


async def test_handshake_rejection_is_typed() -> None:
    """An HTTP status at the upgrade (a gateway's way) → Unauthorized / ServerBusy / RemoteError."""
    from websockets.asyncio.server import serve as ws_serve
    from websockets.http11 import Response

    status = {"code": 403}

    def reject(conn: Any, request: Any) -> Response:
        body = json.dumps({"detail": f"nope {status['code']}"}).encode()
        return conn.respond(status["code"], body.decode())

    async with ws_serve(lambda ws: ws.close(), "127.0.0.1", 0, process_request=reject) as s:
        port = s.sockets[0].getsockname()[1]
        b = RealtimeBackend(base_url=f"http://127.0.0.1:{port}", key=KEY, use_jwt=False,
                            max_reconnects=1, backoff=FAST)
        with pytest.raises(Unauthorized, match="nope 403"):
            await b.generate(frame(1))
        status["code"] = 404
        with pytest.raises(RemoteError, match="404") as ei:
            await b.generate(frame(1))
        assert ei.value.code == 404
        await b.aclose()


async def test_unknown_app_path(serve: Serve) -> None:
    """A realtime path the server does not serve → RemoteError NOT_FOUND with its reason."""
    srv = serve()
    b = RealtimeBackend("someone/else", base_url=srv.url, key=KEY, use_jwt=False,
                        max_reconnects=0)
    with pytest.raises(RemoteError, match="no realtime endpoint") as ei:
        await b.generate(frame(1))
    assert ei.value.code == "NOT_FOUND"
    await b.aclose()


async def test_request_timeout_resets_and_recovers(serve: Serve) -> None:
    """No result within ``timeout`` → RemoteTimeout; the next call works on a new socket."""
    class Sleepy(CountingEcho):
        async def generate(self, inp: Input) -> Output:
            if "sleep" in inp.prompt:
                await asyncio.sleep(1.0)
            return await super().generate(inp)

    srv = serve(Sleepy())
    b = RealtimeBackend(base_url=srv.url, key=KEY, timeout=30)
    assert (await b.generate(frame(1))).seed == 1  # connected
    b.timeout = 0.2
    with pytest.raises(RemoteTimeout, match=r"within 0\.2 s") as ei:
        await b.generate({"prompt": "sleep"})
    assert ei.value.code == "REQUEST_TIMEOUT"
    b.timeout = 30
    assert (await b.generate(frame(2))).seed == 2
    assert b.stats.connects == 2
    await b.aclose()


# ------------------------------------------------------------------ reconnects and tokens


async def test_server_restart_mid_stream(serve: Serve) -> None:
    """Kill the server with a request in flight, restart on the same port: the stream goes on."""
    srv = serve(CountingEcho(delay=0.5))
    port = srv.port
    b = RealtimeBackend(base_url=srv.url, key=KEY, max_reconnects=200, backoff=FAST)
    assert (await b.generate(frame(0))).seed == 0
    pending = asyncio.create_task(b.generate(frame(1), lane="pen"))
    await until(lambda: b.stats.sent == 2)
    await asyncio.to_thread(srv.stop)
    newer = asyncio.create_task(b.generate(frame(2), lane="pen"))  # waits behind 1
    await asyncio.to_thread(serve, CountingEcho(delay=0.01), port=port)
    results = await asyncio.gather(pending, newer, return_exceptions=True)
    seeds = [r.seed for r in results if isinstance(r, Output)]
    assert seeds[-1] == 2 and all(isinstance(r, Output | Superseded) for r in results)
    for i in range(3, 8):
        assert (await b.generate(frame(i))).seed == i
    assert b.stats.reconnects >= 1
    assert b.stats.token_mints == 2  # the new server refused the old token once
    await b.aclose()


async def test_reconnect_budget_spent(serve: Serve) -> None:
    """With the server gone for good, the in-flight call fails with ConnectionClosed."""
    srv = serve(CountingEcho(delay=0.5))
    b = RealtimeBackend(base_url=srv.url, key=KEY, use_jwt=False, max_reconnects=2,
                        backoff=FAST)
    assert (await b.generate(frame(0))).seed == 0
    task = asyncio.create_task(b.generate(frame(1)))
    await until(lambda: b.stats.sent == 2)
    await asyncio.to_thread(srv.stop)
    with pytest.raises(ConnectionClosed, match="gave up after 2 reconnect attempts"):
        await task
    with pytest.raises(ConnectionClosed, match="could not connect"):
        await b.generate(frame(2))  # a fresh budget, spent again
    await b.aclose()


async def test_idle_timeout_then_lazy_reconnect_and_token_refresh(serve: Serve) -> None:
    """The server's idle TIMEOUT closes quietly; the next call reconnects with a fresh token."""
    srv = serve(session_timeout=0.2)
    b = RealtimeBackend(base_url=srv.url, key=KEY, token_expiration=1)
    assert (await b.generate(frame(1))).seed == 1
    await asyncio.sleep(1.0)  # past the idle timeout and 90% of the token's lifetime
    assert (await b.generate(frame(2))).seed == 2
    assert b.stats.connects == 2 and b.stats.token_mints == 2
    await b.aclose()


async def test_refused_token_is_reminted_once(serve: Serve) -> None:
    """A token the server no longer accepts → one re-mint and retry, invisible to the caller."""
    srv = serve()
    b = RealtimeBackend(base_url=srv.url, key=KEY)
    assert (await b.generate(frame(1))).seed == 1
    port = srv.port
    srv.stop()  # a new server has a new signing secret: the cached token is now invalid
    serve(port=port)
    assert (await b.generate(frame(2))).seed == 2
    assert b.stats.token_mints == 2 and b.stats.connects >= 2
    await b.aclose()


async def test_timings_frames_are_recorded(serve: Serve) -> None:
    """x-fal-message timings are skipped as results and recorded in the stats; an output
    already returned is never changed by the timings frame that follows it."""
    srv = serve(emit_timings=True)
    b = RealtimeBackend(base_url=srv.url, key=KEY)
    first = await b.generate(frame(1))
    before = dict(first.timings)
    assert (await b.generate(frame(2))).seed == 2
    assert b.stats.last_server_timing is not None and b.stats.last_server_timing > 0
    assert first.timings == before and "server" not in first.timings
    assert b.stats.received == 2 and b.stats.dropped == 0
    await b.aclose()


# ------------------------------------------------------------------ lifecycle


async def test_aclose_idempotent(serve: Serve) -> None:
    """aclose twice is fine; generate afterwards raises ConnectionClosed."""
    await RealtimeBackend(base_url="http://127.0.0.1:1").aclose()  # never connected
    srv = serve()
    b = RealtimeBackend(base_url=srv.url, key=KEY)
    await b.generate(frame(1))
    await b.aclose()
    await b.aclose()
    with pytest.raises(ConnectionClosed, match="aclose"):
        await b.generate(frame(2))


def test_generate_sync(serve: Serve) -> None:
    """generate_sync runs on the library loop from plain synchronous code."""
    srv = serve()
    b = RealtimeBackend(base_url=srv.url, key=KEY)
    assert b.generate_sync(frame(4), timeout=30).seed == 4
    assert b.generate_sync(frame(5), timeout=30).seed == 5
    b.close()
    with pytest.raises(ConnectionClosed):
        b.generate_sync(frame(6), timeout=30)


async def test_generate_sync_on_own_loop_is_refused(serve: Serve) -> None:
    """generate_sync from the loop the backend is bound to would deadlock: a clear error."""
    srv = serve()
    b = RealtimeBackend(base_url=srv.url, key=KEY)
    await b.generate(frame(1))
    with pytest.raises(RuntimeError, match=r"await backend\.generate"):
        b.generate_sync(frame(2))
    await b.aclose()
