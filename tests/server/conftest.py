"""The ``serve`` fixture (real servers on 127.0.0.1 port 0, stopped after the test) and
``tiny`` (the real tiny LocalLCM)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from server_helpers import KEY

from lcm_widgets.backends.echo import EchoBackend
from lcm_widgets.server import ServerConfig, ServerThread, create_app


@pytest.fixture(scope="session")
def tiny(model_cache: str) -> Iterator[Any]:
    """One tiny LocalLCM (random weights, CPU), built in the session's model cache (see
    tests/conftest.py) and shared by the server tests that need a real model."""
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    from lcm_widgets.backends.local import LocalLCM
    from lcm_widgets.runtime.loop import run_sync

    lcm = LocalLCM("tiny", progress=False, warmup=False)
    yield lcm
    run_sync(lcm.aclose())


@pytest.fixture
def serve() -> Iterator[Callable[..., ServerThread]]:
    """``serve(backend=None, **server_config_fields)`` → a started ServerThread (keys=[KEY])."""
    started: list[ServerThread] = []

    def start(backend: Any = None, **kw: Any) -> ServerThread:
        kw.setdefault("keys", [KEY])
        srv = ServerThread(create_app(backend or EchoBackend(), ServerConfig(**kw))).start()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()
