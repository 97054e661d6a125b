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


class LimitedEcho(StepEcho):
    """StepEcho whose batch rule allows ``max_batch`` images and, optionally, different source
    images in one call."""

    def __init__(self, max_batch: int, *, sources_batch: bool = False) -> None:
        super().__init__()
        axes = ("seed", "prompt", "num_images") + (("image_url",) if sources_batch else ())
        self._info = BackendInfo(name="echo", model="echo", can_batch=True, batch_axes=axes,
                                 max_batch=max_batch)


async def _run_all(sched: Scheduler, model: StepEcho, lanes: dict[str, list[dict[str, Any]]],
                   calls: int) -> list[Any]:
    results: list[Any] = []
    for name, items in lanes.items():
        lane = sched.open_lane(name)
        for fields in items:
            sched.push(lane, _item(fields.pop("rid"), results, **fields))
    for _ in range(calls):
        model.allow.release()
    want = sum(len(v) for v in lanes.values())
    deadline = asyncio.get_running_loop().time() + 30  # a deadline, not a measurement
    while len(results) < want:
        assert asyncio.get_running_loop().time() < deadline, f"calls so far: {model.batches}"
        await asyncio.sleep(0.001)
    await sched.stop()
    return results


async def test_batch_limit_counts_images_not_requests() -> None:
    """A batch holds at most info.batch_limit images (the sum of num_images); a request that
    does not fit waits for the next call, and a smaller one behind it may still join."""
    model = LimitedEcho(max_batch=3)
    sched = Scheduler(model, batch=True)
    await _run_all(sched, model, {"a": [{"rid": "a0", "num_images": 2}],
                                  "b": [{"rid": "b0", "num_images": 2}],
                                  "c": [{"rid": "c0", "num_images": 1}]}, calls=2)
    assert model.batches == [["a0", "c0"], ["b0"]]
    assert sched.batching()["sizes"] == {"2": 1, "1": 1} and sched.max_batch == 3


async def test_img2img_sources_batch_only_when_the_backend_says_so() -> None:
    """Different source images share a call only when image_url is one of the backend's
    batch_axes (and the sources have one size); the same rule LocalLCM uses."""
    from server_helpers import jpeg

    red, blue, big = jpeg(colour=(200, 0, 0)), jpeg(colour=(0, 0, 200)), jpeg((96, 64))
    frames = {"a": [{"rid": "a0", "image_url": red, "strength": 1}],
              "b": [{"rid": "b0", "image_url": blue, "strength": 1}],
              "c": [{"rid": "c0", "image_url": big, "strength": 1}],
              "d": [{"rid": "d0", "image_url": red, "strength": 1, "seed": 9}]}

    def copy() -> dict[str, list[dict[str, Any]]]:
        return {k: [dict(f) for f in v] for k, v in frames.items()}

    strict = LimitedEcho(max_batch=8)
    await _run_all(Scheduler(strict, batch=True), strict, copy(), calls=3)
    assert strict.batches == [["a0", "d0"], ["b0"], ["c0"]]
    mixed = LimitedEcho(max_batch=8, sources_batch=True)
    await _run_all(Scheduler(mixed, batch=True), mixed, copy(), calls=2)
    assert mixed.batches == [["a0", "b0", "d0"], ["c0"]]


async def test_batch_is_off_for_a_backend_that_cannot_batch() -> None:
    """batch=True with a backend whose batch_limit is 1 runs one request per call."""
    model = StepEcho()
    model._info = BackendInfo(name="echo", model="echo", can_batch=False,
                              batch_axes=("seed",), max_batch=8)
    sched = Scheduler(model, batch=True)
    assert sched.batch is False and sched.max_batch == 1
    await _run_all(sched, model, {"a": [{"rid": "a0"}], "b": [{"rid": "b0"}]}, calls=2)
    assert model.batches == [["a0"], ["b0"]]
    assert sched.batching() == {"enabled": False, "max_images": 1, "batches": 2, "largest": 1,
                                "sizes": {"1": 2}}


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
    body = httpx.get(srv.url + "/health", headers=AUTH).json()
    assert body["batch"] is True
    assert body["batching"] == {"enabled": True, "max_images": 64, "batches": 2, "largest": 2,
                                "sizes": {"1": 1, "2": 1}}
