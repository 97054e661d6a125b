"""The Sketchpad's inpainting mask in the kernel (docs/studio.md, "The mask brush";
docs/widget-protocol.md, the ``frame`` message's ``mask``): frames with a mask, delivered
through the real Sketchpad handlers (the comm, and the direct channel's WebSocket), reach a
real EchoBackend as ``Input.mask_url``; without a mask the request is what it always was."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from lcm_test_helpers import LooseComm, until
from PIL import Image, ImageDraw

from lcm_widgets.backends.base import BackendInfo
from lcm_widgets.backends.echo import EchoBackend
from lcm_widgets.errors import ProtocolError
from lcm_widgets.protocol import widget as proto
from lcm_widgets.schema import Input, Output
from lcm_widgets.testing import RecordingComm
from lcm_widgets.widgets.sketchpad import Sketchpad
from lcm_widgets.widgets.studio import Studio

SIZE = 64


def jpeg(colour: tuple[int, int, int] = (200, 200, 200), size: int = SIZE) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buf, "JPEG", quality=95)
    return buf.getvalue()


def mask_png(box: tuple[int, int, int, int] = (10, 20, 50, 30), size: int = SIZE) -> bytes:
    """A greyscale PNG like the browser's: 255 inside ``box``, 0 elsewhere."""
    img = Image.new("L", (size, size), 0)
    ImageDraw.Draw(img).rectangle(box, fill=255)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def frame_content(seq: int, *, mask: bytes | None = None, reason: str = "stroke",
                  size: int = SIZE, mask_size: int | None = None) -> dict[str, Any]:
    c: dict[str, Any] = {"type": "frame", "v": 1, "seq": seq, "width": size, "height": size,
                         "mime": "image/jpeg", "t_input": time.time() * 1000,
                         "reason": reason}
    if mask is not None:
        ms = mask_size or size
        c["mask"] = {"mime": "image/png", "width": ms, "height": ms, "bytes": len(mask)}
    return c


class RecordingBackend:
    """A real Backend delegating to EchoBackend that keeps every Input it was asked for (what
    the Studio really sent)."""

    def __init__(self) -> None:
        self.inner = EchoBackend()
        self.inputs: list[Input] = []

    @property
    def info(self) -> BackendInfo:
        return self.inner.info

    async def generate(self, inp: Input) -> Output:
        self.inputs.append(inp)
        return await self.inner.generate(inp)

    async def aclose(self) -> None:
        await self.inner.aclose()


class Browser:
    """Plays a view on the comm: frames (with a mask as the second buffer), acks."""

    def __init__(self, comm: RecordingComm) -> None:
        self.comm = comm
        self.seq = 0

    def frame(self, data: bytes, mask: bytes | None = None, reason: str = "stroke",
              mask_size: int | None = None) -> int:
        self.seq += 1
        self.comm.deliver(frame_content(self.seq, mask=mask, reason=reason,
                                        mask_size=mask_size),
                          [data] if mask is None else [data, mask])
        return self.seq

    def ack_all(self) -> None:
        for content, _ in self.comm.custom_of("result"):
            self.comm.deliver({"type": "ack", "v": 1, "seq": content["seq"],
                               "rid": content["rid"], "t_paint": time.time() * 1000})


@pytest.fixture
def make() -> Iterator[Callable[[], tuple[Studio, Browser, RecordingBackend]]]:
    made: list[Studio] = []

    def _make() -> tuple[Studio, Browser, RecordingBackend]:
        comm = LooseComm()
        pad = Sketchpad(comm=comm, frame_width=SIZE, frame_height=SIZE)
        backend = RecordingBackend()
        studio = Studio(backend, sketchpad=pad, prompt="a house", seed=3, ack_timeout=0.2)
        made.append(studio)
        return studio, Browser(comm), backend

    yield _make
    for s in made:
        s.close()


def decoded(data: Any) -> Image.Image:
    assert isinstance(data, bytes)
    return Image.open(io.BytesIO(data)).convert("L")


def test_a_frame_with_a_mask_reaches_the_backend_as_mask_url(
        make: Callable[[], tuple[Studio, Browser, RecordingBackend]]) -> None:
    """The mask travels beside the frame, not in it: image_url is the frame's bytes as sent,
    mask_url decodes to the painted mask (white inside the stroke, black far from it)."""
    studio, browser, backend = make()
    frame, mask = jpeg(), mask_png()
    browser.frame(frame, mask=mask, reason="mask")
    until(lambda: backend.inputs, 20, "the request")
    inp = backend.inputs[-1]
    assert inp.is_inpainting and inp.image_url == frame and inp.mask_url == mask
    m = decoded(inp.mask_url)
    assert m.size == (SIZE, SIZE) and m.getpixel((30, 25)) == 255 and m.getpixel((5, 60)) == 0
    # the Python view: studio.mask / sketchpad.mask, a greyscale image of the last mask
    assert studio.mask is not None and studio.mask.mode == "L"
    assert list(studio.mask.getdata()) == list(m.getdata())
    assert studio.sketchpad is not None and studio.sketchpad.last_frame is not None
    assert studio.sketchpad.last_frame.data == frame and studio.sketchpad.last_frame.reason == "mask"
    until(lambda: studio.history, 20, "the result")
    assert studio.history[-1].params["inpainting"] is True
    content = studio.sketchpad.comm.custom_of("result")[-1][0]  # type: ignore[attr-defined]
    assert content["params"]["inpainting"] is True


def test_without_a_mask_the_request_is_unchanged(
        make: Callable[[], tuple[Studio, Browser, RecordingBackend]]) -> None:
    """No mask: no mask_url, and neither the request nor the result params mention one."""
    studio, browser, backend = make()
    browser.frame(jpeg())
    until(lambda: backend.inputs and studio.history, 20, "the result")
    inp = backend.inputs[-1]
    assert inp.mask_url is None and not inp.is_inpainting
    assert "mask_url" not in inp.model_dump(exclude_defaults=True)
    assert studio.mask is None
    assert "inpainting" not in studio.history[-1].params
    content = studio.sketchpad.comm.custom_of("result")[-1][0]  # type: ignore[union-attr]
    assert "inpainting" not in content["params"]


def test_painting_or_clearing_the_mask_is_a_change_the_same_mask_is_not(
        make: Callable[[], tuple[Studio, Browser, RecordingBackend]]) -> None:
    """The pacer's skip-the-unchanged compares the mask too: a mask painted on an unchanged
    drawing renders, the same mask again is skipped, a cleared mask renders without it."""
    studio, browser, backend = make()
    frame = jpeg()
    browser.frame(frame)
    studio.wait(20)
    browser.ack_all()
    browser.frame(frame, mask=mask_png(), reason="mask")
    until(lambda: len(backend.inputs) == 2, 20, "the masked request")
    studio.wait(20)
    browser.ack_all()
    browser.frame(frame, mask=mask_png(), reason="stroke")  # same pixels, same mask
    studio.wait(20)
    assert len(backend.inputs) == 2 and studio.stats["skipped"] == 1
    browser.frame(frame, reason="mask")  # the mask cleared in the view
    until(lambda: len(backend.inputs) == 3, 20, "the request without the mask")
    assert [i.mask_url is not None for i in backend.inputs] == [False, True, False]
    assert studio.mask is None


def test_a_mask_of_another_size_shows_an_error_naming_both_sizes_and_the_studio_goes_on(
        make: Callable[[], tuple[Studio, Browser, RecordingBackend]]) -> None:
    studio, browser, backend = make()
    browser.frame(jpeg(), mask=mask_png(size=32), mask_size=32)
    until(lambda: studio.stats["error"], 20, "the error")
    err = studio.stats["error"]
    assert "mask_url: must be 64x64 like image_url, got 32x32" in err, err
    assert studio.sketchpad is not None and studio.sketchpad.error == err
    assert backend.inputs == []  # never sent to the model
    browser.frame(jpeg((10, 200, 10)), mask=mask_png(), reason="mask")
    until(lambda: backend.inputs and not studio.stats["error"], 20, "the next frame rendered")
    assert backend.inputs[-1].mask_url is not None
    print("mask size error shown:", err)


def test_clear_mask_tells_every_view_and_forgets_the_mask_at_once(
        make: Callable[[], tuple[Studio, Browser, RecordingBackend]]) -> None:
    studio, browser, _ = make()
    browser.frame(jpeg(), mask=mask_png(), reason="mask")
    until(lambda: studio.mask is not None, 20, "the mask")
    pad = studio.sketchpad
    assert pad is not None
    pad.clear_mask()
    assert studio.mask is None and pad.mask is None and pad.frame == jpeg()
    sent = pad.comm.custom_of("clear_mask")  # type: ignore[attr-defined]
    assert sent and sent[-1][0] == {"type": "clear_mask", "v": 1}


def test_save_says_inpainting_when_a_mask_was_used(
        make: Callable[[], tuple[Studio, Browser, RecordingBackend]], tmp_path: Path) -> None:
    studio, browser, _ = make()
    browser.frame(jpeg(), mask=mask_png(), reason="mask")
    until(lambda: studio.history, 20, "the result")
    with Image.open(studio.save(tmp_path / "masked.png")) as img:
        assert img.text["inpainting"] == "mask"  # type: ignore[attr-defined]
    browser.ack_all()
    browser.frame(jpeg((1, 2, 3)))
    until(lambda: len(studio.history) == 2, 20, "the unmasked result")
    with Image.open(studio.save(tmp_path / "plain.png")) as img:
        assert "inpainting" not in img.text  # type: ignore[attr-defined]


@pytest.mark.parametrize("meta,buffers,text", [
    ({"mime": "image/png", "bytes": 3}, None, "frame.mask.bytes: must be a whole number"),
    ("yes", None, "frame.mask: must be an object"),
    ({"mime": "text/plain", "bytes": 1}, None, "frame.mask.mime: must be an image type"),
    ({"mime": "image/png"}, None, "frame.mask: missing field 'bytes'"),
    ({"mime": "image/png", "bytes": 1}, [b"jpeg", b""], "frame.mask: the mask buffer is empty"),
])
def test_malformed_masks_are_refused_naming_the_field(meta: Any, buffers: Any,
                                                      text: str) -> None:
    content = {**frame_content(1), "mask": meta}
    with pytest.raises(ProtocolError, match=text.replace("*", r"\*")):
        proto.parse_frame(content, buffers or [b"ab"])


def test_the_direct_channel_carries_the_mask_after_the_frame() -> None:
    """On the direct channel a frame's mask is the payload's tail (``mask.bytes`` long): the
    Sketchpad splits it off, over a real WebSocket."""
    websockets = pytest.importorskip("websockets")
    assert websockets
    from websockets.asyncio.client import connect

    from lcm_widgets.widgets._direct import pack, unpack

    origin = "http://127.0.0.1:8888"
    comm = RecordingComm()
    pad = Sketchpad(comm=comm, frame_width=SIZE, frame_height=SIZE)
    got: list[proto.Frame] = []
    pad.on_frame(got.append)
    comm.deliver({"type": "hello", "v": 1, "view": "v1", "origin": origin}, [])
    d = [c for c, _ in comm.custom_of("direct") if c["view"] == "v1"][-1]
    frame, mask = jpeg(), mask_png()

    async def talk() -> None:
        async with connect(d["url"], origin=origin) as ws:
            await ws.send(pack({"type": "auth", "token": d["token"], "view": "v1"}))
            assert unpack(await ws.recv())[0]["type"] == "ready"
            await ws.send(pack(frame_content(4, mask=mask, reason="mask"), frame + mask))
            took, _ = unpack(await ws.recv())
            assert (took["type"], took["seq"]) == ("took", 4)
            await ws.send(pack(frame_content(5), frame))

    asyncio.run(asyncio.wait_for(talk(), 30))
    until(lambda: len(got) == 2, 10, "both frames")
    assert got[0].data == frame and got[0].mask == mask and got[0].reason == "mask"
    assert got[1].data == frame and got[1].mask is None
    pad.close()


@pytest.mark.parametrize("kind", ["realtime", "http"])
def test_a_remote_studio_sends_the_mask_to_the_apps_inpainting_endpoint(kind: str) -> None:
    """A Studio on a remote backend (our server on 127.0.0.1 over a real socket) paints with
    the mask: the masked frame reaches the server's model with its mask (the backend sends it
    to ``/{app}/inpainting``, as the app's own endpoint drops ``mask_url``), the next frame
    without one arrives without it."""
    pytest.importorskip("fastapi")
    from lcm_widgets.backends.http import HttpBackend
    from lcm_widgets.backends.realtime import RealtimeBackend
    from lcm_widgets.server import ServerConfig, ServerThread, create_app

    served = RecordingBackend()
    key = "k:s"
    with ServerThread(create_app(served, ServerConfig(keys=[key]))) as srv:
        remote = (RealtimeBackend(base_url=srv.url, key=key) if kind == "realtime"
                  else HttpBackend(base_url=srv.url, key=key))
        comm = LooseComm()
        pad = Sketchpad(comm=comm, frame_width=SIZE, frame_height=SIZE)
        studio = Studio(remote, sketchpad=pad, prompt="a house", seed=3, ack_timeout=0.2)
        browser = Browser(comm)
        try:
            frame, mask = jpeg(), mask_png()
            browser.frame(frame, mask=mask, reason="mask")
            until(lambda: served.inputs and studio.history, 30, "the masked result")
            assert served.inputs[-1].mask_url == mask and served.inputs[-1].image_url == frame
            assert studio.history[-1].params["inpainting"] is True
            browser.ack_all()
            browser.frame(jpeg((90, 90, 90)))
            until(lambda: len(served.inputs) == 2 and len(studio.history) == 2, 30,
                  "the unmasked result")
            assert served.inputs[-1].mask_url is None and not served.inputs[-1].is_inpainting
        finally:
            studio.close()
