"""One RealtimeBackend, many callers: all served, pipelined on one socket, matched by id.

Against our real server (uvicorn on 127.0.0.1, port 0). No timing thresholds: the echo model
waits on a gate or sleeps so that calls overlap; the checks are on outcomes and counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from lcm_test_helpers import serving

from lcm_widgets.backends.echo import EchoBackend
from lcm_widgets.backends.realtime import DEFAULT_MAX_IN_FLIGHT, RealtimeBackend
from lcm_widgets.errors import InvalidInput, Superseded
from lcm_widgets.schema import Input, Output
from lcm_widgets.server import ServerThread

KEY = "test-id:test-secret"
SMALL = {"width": 64, "height": 64}


class SlowEcho(EchoBackend):
    """An echo model that takes ``delay`` seconds and records the order it saw requests in."""

    def __init__(self, delay: float = 0.02) -> None:
        super().__init__(delay=delay)
        self.order: list[str] = []

    async def generate(self, inp: Input) -> Output:
        self.order.append(inp.request_id)
        return await super().generate(inp)


@pytest.fixture
def serve() -> Iterator[Callable[..., ServerThread]]:
    """Our server around a backend (auth on); stopped at the end."""
    with contextlib.ExitStack() as stack:
        yield lambda backend=None, **kw: stack.enter_context(
            serving(backend or SlowEcho(), keys=(KEY,), **kw))


def frame(i: int, **kw: Any) -> dict[str, Any]:
    """Frame ``i``: the seed carries the number."""
    return {"prompt": f"frame {i}", "seed": i, "image_size": SMALL, **kw}


async def test_concurrent_callers_are_all_served_and_pipelined(
        serve: Callable[..., ServerThread]) -> None:
    """Three callers streaming 15 frames each, at once, without lanes: every call answered
    with its own result, nothing superseded, several requests in flight on one socket."""
    srv = serve(SlowEcho(delay=0.02))
    b = RealtimeBackend(base_url=srv.url, key=KEY)

    async def caller(c: int) -> list[int]:
        return [(await b.generate(frame(c * 100 + i))).seed for i in range(15)]

    results = await asyncio.gather(*(caller(c) for c in range(3)))
    assert results == [[c * 100 + i for i in range(15)] for c in range(3)]
    s = b.stats
    assert s.connects == 1 and s.superseded == 0 and s.dropped == 0
    assert s.sent == s.received == 45
    assert 2 <= s.max_in_flight <= DEFAULT_MAX_IN_FLIGHT
    health = await asyncio.to_thread(_health, srv)
    assert health["frames_dropped"] == 0 and health["generations"] == 45
    await b.aclose()


async def test_the_window_bounds_what_the_server_holds(
        serve: Callable[..., ServerThread]) -> None:
    """Ten calls at once with max_in_flight=2: all answered, never more than two sent and
    unanswered, so the server (buffering 2) drops none."""
    srv = serve(SlowEcho(delay=0.01))
    b = RealtimeBackend(base_url=srv.url, key=KEY, max_buffering=2)
    assert b.max_in_flight == 2
    seeds = [o.seed for o in await asyncio.gather(*(b.generate(frame(i)) for i in range(10)))]
    assert seeds == list(range(10))
    assert b.stats.max_in_flight == 2 and b.stats.superseded == 0
    assert (await asyncio.to_thread(_health, srv))["frames_dropped"] == 0
    await b.aclose()


async def test_colliding_request_ids_are_still_told_apart(
        serve: Callable[..., ServerThread]) -> None:
    """Two callers that pick the same request_id at once (two Compares numbering their cells
    alike) each get their own result, carrying the id they asked for."""
    srv = serve(SlowEcho(delay=0.05))
    b = RealtimeBackend(base_url=srv.url, key=KEY)
    one, two = await asyncio.gather(b.generate(frame(1, request_id="cell-0")),
                                    b.generate(frame(2, request_id="cell-0")))
    assert (one.seed, two.seed) == (1, 2)
    assert one.request_id == two.request_id == "cell-0"
    await b.aclose()


async def test_lanes_supersede_only_their_own(serve: Callable[..., ServerThread]) -> None:
    """A streaming caller on a lane has its waiting frame replaced by its newer one; a caller
    without a lane, at the same time, is served untouched."""
    gate = threading.Event()

    class Gated(SlowEcho):
        async def generate(self, inp: Input) -> Output:
            await asyncio.to_thread(gate.wait, 30)
            return await super().generate(inp)

    srv = serve(Gated())
    b = RealtimeBackend(base_url=srv.url, key=KEY)
    first = asyncio.create_task(b.generate(frame(1), lane="pen"))
    while b.stats.sent < 1:
        await asyncio.sleep(0.005)
    other = asyncio.create_task(b.generate(frame(50)))
    waiting = asyncio.create_task(b.generate(frame(2), lane="pen"))
    newest = asyncio.create_task(b.generate(frame(3), lane="pen"))
    with pytest.raises(Superseded) as err:
        await waiting
    assert err.value.by is not None
    gate.set()
    assert [(await t).seed for t in (first, other, newest)] == [1, 50, 3]
    assert b.stats.superseded == 1
    await b.aclose()


def test_max_in_flight_is_checked() -> None:
    """max_in_flight must lie in 1..max_buffering; the message names the field and limit."""
    with pytest.raises(InvalidInput, match=r"max_in_flight: must be a whole number between "
                                           r"1 and 3 \(max_buffering\), got 4"):
        RealtimeBackend(base_url="http://127.0.0.1:1", max_buffering=3, max_in_flight=4)
    with pytest.raises(InvalidInput, match="max_in_flight"):
        RealtimeBackend(base_url="http://127.0.0.1:1", max_in_flight=0)


def _health(srv: ServerThread) -> dict[str, Any]:
    import httpx

    return httpx.get(srv.url + "/health").json()  # type: ignore[no-any-return]
