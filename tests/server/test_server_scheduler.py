"""The single fair worker, driven directly on an event loop (no network)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import msgpack
from server_helpers import AUTH, GatedEcho, health, wait_until
from websockets.sync.client import connect

from lcm_widgets.backends.base import BackendInfo
from lcm_widgets.backends.echo import EchoBackend
from lcm_widgets.schema import Input, Output
from lcm_widgets.server.scheduler import Scheduler, WorkItem


class StepEcho(EchoBackend):
    """Echo that waits for the test to allow each generation, and records batches."""

    def __init__(self) -> None:
        super().__init__()
        self.allow = asyncio.Semaphore(0)
        self.batches: list[list[str]] = []

    async def generate(self, inp: Input) -> Output:
        await self.allow.acquire()
        self.batches.append([inp.request_id])
        return await super().generate(inp)

    async def generate_batch(self, inputs: list[Input]) -> list[Output]:
        await self.allow.acquire()
        self.batches.append([i.request_id for i in inputs])
        return [await EchoBackend.generate(self, i) for i in inputs]


def _item(rid: str, results: list[tuple[str, Any]], **fields: Any) -> WorkItem:
    inp = Input(prompt=fields.pop("prompt", "p"), request_id=rid, **fields)
    return WorkItem(inp=inp, deliver=lambda res, _el: results.append((rid, res)))


async def test_round_robin_over_lanes() -> None:
    """Lanes take turns; inside a lane, oldest first."""
    model = StepEcho()
    sched = Scheduler(model)
    a, b, jobs = (sched.open_lane(n, maxlen=10) for n in ("a", "b", "jobs"))
    results: list[tuple[str, Any]] = []
    for i in range(3):
        sched.push(a, _item(f"a{i}", results))
    for i in range(2):
        sched.push(b, _item(f"b{i}", results))
    sched.push(jobs, _item("j0", results))
    for _ in range(6):
        model.allow.release()
    while len(results) < 6:
        await asyncio.sleep(0.001)
    await sched.stop()
    assert [r for r, _ in results] == ["a0", "b0", "j0", "a1", "b1", "a2"]


async def test_bounded_lane_drops_oldest() -> None:
    """A full lane drops its oldest item and says which."""
    sched = Scheduler(StepEcho())
    lane = sched.open_lane("s", maxlen=2)
    results: list[Any] = []
    first, second, third = (_item(r, results) for r in ("x0", "x1", "x2"))
    assert sched.push(lane, first) is None
    assert sched.push(lane, second) is None
    assert sched.push(lane, third) is first
    assert [i.inp.request_id for i in lane.items] == ["x1", "x2"] and lane.dropped == 1
    sched.close_lane(lane)
    assert sched.pending == 0
    await sched.stop()


async def test_failure_is_delivered_and_worker_goes_on() -> None:
    """A model exception answers that item only."""
    sched = Scheduler(EchoBackend())
    lane = sched.open_lane("s")
    results: list[tuple[str, Any]] = []
    sched.push(lane, _item("bad", results, prompt="!fail"))
    sched.push(lane, _item("good", results))
    while len(results) < 2:
        await asyncio.sleep(0.001)
    await sched.stop()
    assert isinstance(results[0][1], Exception) and isinstance(results[1][1], Output)


async def test_generation_timeout_answers_and_worker_goes_on() -> None:
    """A generation over generation_timeout is answered with GenerationTimeout (naming the
    limit) and cancelled; the next item runs; the count is kept."""
    import pytest

    from lcm_widgets.errors import GenerationTimeout

    sched = Scheduler(EchoBackend(), generation_timeout=0.2)
    lane = sched.open_lane("s")
    results: list[tuple[str, Any]] = []
    sched.push(lane, _item("stuck", results, prompt="a !hang"))
    sched.push(lane, _item("good", results))
    while len(results) < 2:
        await asyncio.sleep(0.001)
    await sched.stop()
    (rid, err), (rid2, out) = results
    assert rid == "stuck" and isinstance(err, GenerationTimeout) and err.timeout == 0.2
    assert str(err) == ("generation: took longer than the server's limit of 0.2 s "
                        "(generation_timeout); the model may be stuck or overloaded")
    assert rid2 == "good" and isinstance(out, Output)
    assert sched.timeouts == 1
    for bad in (0, -1.0):
        with pytest.raises(ValueError, match=f"generation_timeout: must be more than 0 "
                                             f"seconds \\(or None\\), got {bad}"):
            Scheduler(EchoBackend(), generation_timeout=bad)


async def test_batching_takes_compatible_heads_of_other_lanes() -> None:
    """batch=True: heads of other lanes with the same steps/size join one generate_batch."""
    model = StepEcho()
    sched = Scheduler(model, batch=True)
    a, b, c = (sched.open_lane(n) for n in "abc")
    results: list[Any] = []
    sched.push(a, _item("a0", results, num_inference_steps=4, seed=1))
    sched.push(b, _item("b0", results, num_inference_steps=4, seed=2, prompt="other"))
    sched.push(c, _item("c0", results, num_inference_steps=8))
    for _ in range(2):
        model.allow.release()
    while len(results) < 3:
        await asyncio.sleep(0.001)
    await sched.stop()
    assert model.batches == [["a0", "b0"], ["c0"]]


async def test_sync_generate_runs_in_a_thread() -> None:
    """A backend whose generate is a plain function is called off the event loop."""
    import threading

    class SyncBackend:
        info = BackendInfo(name="sync", model="sync")
        thread: str | None = None

        def generate(self, inp: Input) -> Output:
            SyncBackend.thread = threading.current_thread().name
            return Output(images=[], seed=1)

        async def aclose(self) -> None:
            return None

    sched = Scheduler(SyncBackend())  # type: ignore[arg-type]
    lane = sched.open_lane("s")
    results: list[Any] = []
    sched.push(lane, _item("s0", results))
    while not results:
        await asyncio.sleep(0.001)
    await sched.stop()
    assert isinstance(results[0][1], Output)
    assert SyncBackend.thread != threading.current_thread().name


class BatchRecordingEcho(GatedEcho):
    """GatedEcho that records the size of each model call."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    async def generate_batch(self, inputs: list[Input]) -> list[Output]:
        self.sizes.append(len(inputs))
        return [await EchoBackend.generate(self, i) for i in inputs]

    async def generate(self, inp: Input) -> Output:
        self.sizes.append(1)
        return await super().generate(inp)


def test_batch_option_batches_frames_of_two_sessions(serve: Any) -> None:
    """With batch=True, frames of two sessions waiting together run as one batch."""
    model = BatchRecordingEcho()
    srv = serve(model, batch=True, auth=False, keys=[])
    url = f"{srv.ws_url}/fal-ai/fast-lcm-diffusion/realtime"
    with connect(url) as a, connect(url) as b:
        a.send(msgpack.packb({"prompt": "a", "request_id": "a0"}))
        wait_until(lambda: health(srv)["busy"], what="a0 to start")
        a.send(msgpack.packb({"prompt": "a", "request_id": "a1"}))
        b.send(msgpack.packb({"prompt": "b", "request_id": "b0", "seed": 4}))
        wait_until(lambda: health(srv)["pending"] == 2, what="a1 and b0")
        model.gate.set()
        got = {msgpack.unpackb(x.recv(timeout=30))["request_id"] for x in (a, a, b)}
    assert got == {"a0", "a1", "b0"}
    assert model.sizes == [1, 2]
    assert httpx.get(srv.url + "/health", headers=AUTH).json()["batch"] is True
