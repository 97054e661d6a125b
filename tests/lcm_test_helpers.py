"""Helpers shared by tests in several folders (tests/ is on ``sys.path`` through its conftest).

Real parts only: a recording comm that needs no comm manager, an echo model that counts its
concurrent calls, a deadline-based wait, and our server on 127.0.0.1 around a backend.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from lcm_widgets.backends.echo import EchoBackend
from lcm_widgets.schema import Input, Output
from lcm_widgets.server import ServerConfig, ServerThread, create_app
from lcm_widgets.testing import RecordingComm

__all__ = ["CountingEcho", "LooseComm", "serving", "until"]


class LooseComm(RecordingComm):
    """A RecordingComm not registered with a comm manager: ``close`` must not unregister."""

    def close(self, *args: Any, **kwargs: Any) -> None:
        self._closed = True


class CountingEcho(EchoBackend):
    """The echo model, counting concurrent calls: the server-side in-flight figure."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.active = 0
        self.max_active = 0

    async def generate(self, inp: Input) -> Output:
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            return await super().generate(inp)
        finally:
            self.active -= 1


def until(cond: Callable[[], Any], timeout: float = 20.0, what: str = "condition", *,
          interval: float = 0.005) -> Any:
    """Poll ``cond`` until it returns something true and return that (a deadline, not a
    timing assertion); AssertionError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def serving(backend: Any, *, port: int = 0, **config: Any) -> Iterator[ServerThread]:
    """Our server around ``backend`` on 127.0.0.1 (``config``: ServerConfig fields)."""
    with ServerThread(create_app(backend, ServerConfig(**config)), port=port) as srv:
        yield srv
