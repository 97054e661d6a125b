"""``serve --batch`` with the real tiny LocalLCM: img2img frames of different sessions share a
model call, and ``/health`` (and ``LocalLCM.batch_sizes``) show it."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import msgpack
import pytest
from server_helpers import APP, AUTH, health
from websockets.asyncio.client import ClientConnection, connect

pytestmark = pytest.mark.slow

SESSIONS = 4
MAX_ROUNDS = 12  # a bound, not a target: batching shows up in the first round or two


def _jpeg(colour: tuple[int, int, int]) -> bytes:
    """A small 64x64 JPEG of one colour (each session gets its own)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), colour).save(buf, "JPEG")
    return buf.getvalue()


async def _round(sockets: list[ClientConnection], images: list[bytes],
                 n: int) -> dict[str, dict[str, Any]]:
    """Every session sends one img2img frame at once, then waits for its own answer."""

    async def one(i: int, ws: ClientConnection) -> tuple[str, dict[str, Any]]:
        rid = f"s{i}-r{n}"
        await ws.send(msgpack.packb({
            "prompt": f"session {i}", "image_url": images[i], "num_inference_steps": 2,
            "strength": 0.5, "seed": 100 * i + n, "request_id": rid, "sync_mode": True}))
        msg = await asyncio.wait_for(ws.recv(), 120)  # a deadline, not a measurement
        assert isinstance(msg, bytes), f"session {i}: expected a result, got {msg!r}"
        return rid, msgpack.unpackb(msg)

    return dict(await asyncio.gather(*(one(i, ws) for i, ws in enumerate(sockets))))


async def _drive(url: str, srv: Any) -> tuple[list[dict[str, dict[str, Any]]], dict[str, Any]]:
    images = [_jpeg(c) for c in ((200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30))]
    assert len(set(images)) == SESSIONS
    sockets = [await connect(url, additional_headers=AUTH, max_size=2**24)
               for _ in range(SESSIONS)]
    rounds: list[dict[str, dict[str, Any]]] = []
    try:
        for n in range(MAX_ROUNDS):
            rounds.append(await _round(sockets, images, n))
            stats = (await asyncio.to_thread(health, srv))["batching"]
            if stats["largest"] > 1:
                break
    finally:
        for ws in sockets:
            await ws.close()
    return rounds, stats


def test_batch_runs_img2img_frames_of_four_sessions_together(serve: Any, tiny: Any) -> None:
    """Four realtime sessions sending img2img frames of four different images at once: every
    frame is answered under its request_id, and some model call held more than one frame."""
    before = tiny.batch_sizes
    srv = serve(tiny, batch=True)
    assert health(srv)["batching"]["enabled"] is True
    rounds, stats = asyncio.run(_drive(f"{srv.ws_url}/{APP}/realtime", srv))
    for n, answers in enumerate(rounds):
        assert set(answers) == {f"s{i}-r{n}" for i in range(SESSIONS)}
        for rid, out in answers.items():
            assert out["request_id"] == rid and out["images"][0]["width"] == 64, out
    assert stats["largest"] > 1, f"no batch of more than one frame in {len(rounds)} rounds"
    assert any(int(size) > 1 and count > 0 for size, count in stats["sizes"].items()), stats
    assert sum(stats["sizes"].values()) == stats["batches"]
    assert sum(int(s) * c for s, c in stats["sizes"].items()) == SESSIONS * len(rounds)
    grown = tiny.batch_sizes - before
    assert any(size > 1 for size in grown), f"LocalLCM ran no call of more than one image: " \
                                            f"{dict(grown)}"
