"""Helpers for the server tests: a real uvicorn on 127.0.0.1 (port 0) in a thread."""

from __future__ import annotations

import asyncio
import io
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from lcm_widgets.backends.echo import EchoBackend
from lcm_widgets.schema import Input, Output
from lcm_widgets.server import ServerConfig, ServerThread, create_app

KEY = "test-key:test-secret"
AUTH = {"Authorization": f"Key {KEY}"}
APP = "fal-ai/fast-lcm-diffusion"


def jpeg(size: tuple[int, int] = (64, 64), colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A small JPEG."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "JPEG")
    return buf.getvalue()


class GatedEcho(EchoBackend):
    """An echo model that waits for ``gate`` before each generation and records the order.

    Tests hold the gate shut to line up work deterministically, then open it.
    """

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.gate = threading.Event()
        self.order: list[str] = []

    async def generate(self, inp: Input) -> Output:
        await asyncio.to_thread(self.gate.wait, 60)
        self.order.append(inp.request_id or inp.prompt)
        return await super().generate(inp)


def wait_until(pred: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    """Poll ``pred`` until true; fails the test after ``timeout`` (a deadline, not a metric)."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def health(srv: ServerThread) -> dict[str, Any]:
    """The server's /health."""
    return httpx.get(srv.url + "/health").json()


@contextmanager
def running(backend: Any = None, **kw: Any) -> Iterator[ServerThread]:
    """A server (``ServerConfig(**kw)``, keys=[KEY]) for the duration of a ``with`` block."""
    kw.setdefault("keys", [KEY])
    with ServerThread(create_app(backend or EchoBackend(), ServerConfig(**kw))) as srv:
        yield srv
