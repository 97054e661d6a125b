"""The library's own asyncio loop, on a daemon thread.

Synchronous conveniences (``backend.generate_sync(...)`` in a cell) submit their coroutine here
and wait for the result, so the kernel's own loop is never patched or blocked (no nest-asyncio).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["get_loop", "run_sync", "running_loop"]

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def get_loop() -> asyncio.AbstractEventLoop:
    """The shared background loop, started on first use."""
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            t = threading.Thread(target=loop.run_forever, name="lcm-widgets-loop", daemon=True)
            t.start()
            _loop = loop
        return _loop


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The loop running on this thread, or None (``asyncio.get_running_loop`` without the
    RuntimeError): ``running_loop() is loop`` tells code that may run anywhere whether it is
    on ``loop``."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def run_sync(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run ``coro`` on the library loop and block until it finishes (or ``timeout`` seconds).

    Must not be called from the library loop itself (it would wait on itself).
    """
    loop = get_loop()
    if running_loop() is loop:
        coro.close()
        raise RuntimeError("run_sync() called from the lcm-widgets loop; await the coroutine")
    return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)
