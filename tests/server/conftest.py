"""The ``serve`` fixture: start real servers on 127.0.0.1 port 0, stop them after the test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from server_helpers import KEY

from lcm_widgets.backends.echo import EchoBackend
from lcm_widgets.server import ServerThread, create_app


@pytest.fixture
def serve() -> Iterator[Callable[..., ServerThread]]:
    """``serve(backend=None, **create_app_kwargs)`` → a started ServerThread (keys=[KEY])."""
    started: list[ServerThread] = []

    def start(backend: Any = None, **kw: Any) -> ServerThread:
        kw.setdefault("keys", [KEY])
        srv = ServerThread(create_app(backend or EchoBackend(), **kw)).start()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()
