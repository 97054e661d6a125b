"""``POST /{app}/stream``: server-sent events, a preview per step then the output, on a real
server (the official clients' fal.stream / fal_client.stream: tests/conformance)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from server_helpers import APP, AUTH, wait_until

from lcm_widgets.backends.base import StepPreview
from lcm_widgets.backends.echo import EchoBackend
from lcm_widgets.errors import GenerationFailed
from lcm_widgets.schema import Input, Output
from lcm_widgets.server.routes_stream import PREVIEW_BUFFER, PreviewBuffer


def read_events(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    """``(event name, data)`` of each server-sent event of a streamed response."""
    events: list[tuple[str, dict[str, Any]]] = []
    name = "message"
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            events.append((name, json.loads(line[6:])))
            name = "message"
    return events


def stream(srv: Any, body: dict[str, Any], sub: str = "") -> list[tuple[str, dict[str, Any]]]:
    with httpx.stream("POST", f"{srv.url}/{APP}{sub}/stream", json=body, headers=AUTH,
                      timeout=60) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        events = read_events(r)
        assert all(e[1]["request_id"] == r.headers["x-fal-request-id"] for e in events
                   if e[0] == "message")
    return events


def test_previews_then_the_output(serve: Any) -> None:
    """One preview per step (a data URI, 1/8 size), then the output (``partial: false``)."""
    srv = serve()
    events = stream(srv, {"prompt": "x", "num_inference_steps": 4, "seed": 3,
                          "image_size": {"width": 256, "height": 128}})
    previews, final = [e[1] for e in events[:-1]], events[-1][1]
    assert [p["step"] for p in previews] == [1, 2, 3, 4]
    assert all(p["partial"] and p["num_inference_steps"] == 4 for p in previews)
    img = previews[0]["images"][0]
    assert img["url"].startswith("data:image/jpeg;base64,")
    assert (img["width"], img["height"]) == (32, 16)
    assert final["partial"] is False and final["seed"] == 3
    assert final["images"][0]["url"].startswith(f"{srv.url}/files/")
    assert final["num_inference_steps"] == 4 and "inference" in final["timings"]


def test_image_to_image_streams_its_steps(serve: Any) -> None:
    """/image-to-image/stream: int(steps * strength) previews, then the output."""
    import base64

    from server_helpers import jpeg

    srv = serve()
    uri = "data:image/jpeg;base64," + base64.b64encode(jpeg((64, 64))).decode()
    events = stream(srv, {"prompt": "x", "image_url": uri, "strength": 0.5,
                          "num_inference_steps": 4, "sync_mode": True}, "/image-to-image")
    assert [e[1].get("step") for e in events] == [1, 2, None]
    assert events[-1][1]["images"][0]["url"].startswith("data:image/jpeg;base64,")


def test_errors_before_the_stream_are_plain_http_errors(serve: Any) -> None:
    """A bad input is a 422, a generation failing before any event its 500, as for /{app}."""
    srv = serve()
    r = httpx.post(f"{srv.url}/{APP}/stream", headers=AUTH,
                   json={"prompt": "x", "num_inference_steps": 0})
    assert r.status_code == 422
    assert r.json()["detail"][0]["msg"] == "num_inference_steps: must be between 1 and 50, got 0"
    r = httpx.post(f"{srv.url}/{APP}/stream", headers=AUTH, json={"prompt": "!fail"})
    assert r.status_code == 500 and r.json()["error_type"] == "generation_failed"
    assert httpx.post(f"{srv.url}/{APP}/stream", json={"prompt": "x"}).status_code == 401


class FailsMidway(EchoBackend):
    """Shows two steps, then fails."""

    async def generate_with_previews(self, inp: Input,
                                     on_preview: Callable[[StepPreview], None]) -> Output:
        for step in (1, 2):
            on_preview(StepPreview(step, 4, b"\xff\xd8\xff fake", 1, 1))
            await asyncio.sleep(0)
        raise GenerationFailed("the model broke at step 3")


def test_a_failure_after_the_first_event_ends_the_stream_with_an_error_event(
        serve: Any) -> None:
    srv = serve(FailsMidway())
    events = stream(srv, {"prompt": "x"})
    assert [e[0] for e in events] == ["message", "message", "error"]
    assert events[-1][1] == {"detail": "the model broke at step 3",
                             "error_type": "generation_failed", "status": 500}


class BigPreviews(EchoBackend):
    """40 steps with 256 KiB previews (more than the sockets buffer); ``finished`` is set when
    the model is done, whoever reads."""

    def __init__(self) -> None:
        super().__init__()
        self.finished = threading.Event()

    async def generate_with_previews(self, inp: Input,
                                     on_preview: Callable[[StepPreview], None]) -> Output:
        out = await self.generate(inp)
        if inp.prompt == "big":
            for step in range(1, 41):
                on_preview(StepPreview(step, 40, bytes(256 * 1024), 1, 1))
                await asyncio.sleep(0.001)
            self.finished.set()
        return out


def test_a_slow_reader_does_not_stall_the_model(serve: Any) -> None:
    """A client that does not read: the model finishes every step and serves the next request
    while the stream waits; the reader then gets some previews (older ones dropped, in order)
    and always the final output."""
    model = BigPreviews()
    srv = serve(model)
    with httpx.stream("POST", f"{srv.url}/{APP}/stream", json={"prompt": "big"},
                      headers=AUTH, timeout=60) as r:
        assert r.status_code == 200
        wait_until(model.finished.is_set, what="the model to finish with an unread stream")
        other = httpx.post(f"{srv.url}/{APP}", headers=AUTH, json={"prompt": "next"})
        assert other.status_code == 200 and other.json()["prompt"] == "next"
        events = read_events(r)
    steps = [e[1]["step"] for e in events[:-1]]
    assert steps == sorted(steps) and len(steps) < 40 and steps[-1] == 40
    assert events[-1][1]["partial"] is False and events[-1][1]["prompt"] == "big"


class HoldsAfterOneStep(EchoBackend):
    """Shows one step, then waits until cancelled."""

    async def generate_with_previews(self, inp: Input,
                                     on_preview: Callable[[StepPreview], None]) -> Output:
        on_preview(StepPreview(1, 4, b"\xff\xd8\xff", 1, 1))
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


def test_a_client_that_hangs_up_cancels_its_job(serve: Any) -> None:
    """Reading one event and closing stops the generation (the worker is free again)."""
    srv = serve(HoldsAfterOneStep())
    with httpx.stream("POST", f"{srv.url}/{APP}/stream", json={"prompt": "x"},
                      headers=AUTH, timeout=60) as r:
        next(r.iter_lines())
    scheduler = srv.app.state.lcm.scheduler
    wait_until(lambda: not scheduler.busy and scheduler.aborts >= 1,
               what="the abandoned stream's job to be cancelled")
    r = httpx.post(f"{srv.url}/{APP}", headers=AUTH, json={"prompt": "free"})
    assert r.status_code == 200


def test_preview_buffer_is_bounded_and_drops_the_oldest() -> None:
    """Pushes from another thread never block; at most PREVIEW_BUFFER wait."""

    async def main() -> tuple[list[int], int]:
        buf = PreviewBuffer(asyncio.get_running_loop())
        thread = threading.Thread(target=lambda: [buf.push(StepPreview(i, 50, b"", 1, 1))
                                                  for i in range(1, 51)])
        thread.start()
        thread.join()
        await asyncio.sleep(0)
        return [p.step for p in buf.take()], buf.dropped

    steps, dropped = asyncio.run(main())
    assert steps == list(range(51 - PREVIEW_BUFFER, 51)) and dropped == 50 - PREVIEW_BUFFER


def test_tiny_local_lcm_streams_latent_previews(serve: Any, tiny: Any) -> None:
    """The real tiny LocalLCM: one latent → RGB preview per UNet step, then its output."""
    srv = serve(tiny)
    events = stream(srv, {"prompt": "a cat", "num_inference_steps": 2, "seed": 1,
                          "image_size": {"width": 64, "height": 64}, "sync_mode": True})
    assert [e[1].get("step") for e in events] == [1, 2, None]
    preview = events[0][1]["images"][0]
    assert (preview["width"], preview["height"]) == (8, 8)
    from lcm_widgets.images import load_image

    assert load_image(preview["url"]).size == (8, 8)
    final = events[-1][1]
    assert final["images"][0]["width"] == 64 and final["partial"] is False
    assert tiny.batch_sizes  # it ran on the model


@pytest.mark.parametrize("steps", [1, 3])
def test_echo_previews_without_a_server(steps: int) -> None:
    """EchoBackend.generate_with_previews: one preview per step, the output unchanged."""
    got: list[StepPreview] = []

    async def main() -> Output:
        return await EchoBackend().generate_with_previews(
            Input(prompt="x", seed=2, num_inference_steps=steps), got.append)

    out = asyncio.run(main())
    assert [p.step for p in got] == list(range(1, steps + 1)) and out.seed == 2
    assert got[-1].data[:3] == b"\xff\xd8\xff" and (got[-1].width, got[-1].height) == (64, 64)
