"""Run the server: in the foreground (the CLI) or on a background thread (tests, notebooks).

:class:`ServerThread` starts uvicorn on ``127.0.0.1`` port 0 in a daemon thread and reports
the port it got; leaving the ``with`` block (or :meth:`stop`) shuts it down::

    with ServerThread(create_app(EchoBackend(), ServerConfig(auth=False))) as srv:
        print(srv.url)            # http://127.0.0.1:43817

Both use :class:`ReplyCloseWebSocketProtocol`, uvicorn's sans-I/O WebSocket protocol with one
change: a close frame without a status code is answered with code 1000 instead of an empty
echo. ``@fal-ai/client`` closes with no code and would otherwise report a spurious 1005 error
to its ``onError``.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import uvicorn
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Close, Frame, Opcode
from websockets.protocol import OPEN
from websockets.server import ServerProtocol

__all__ = ["ReplyCloseWebSocketProtocol", "ServerThread", "uvicorn_config"]

#: WebSocket messages up to this size reach the app, which answers bigger-than-allowed ones
#: with an x-fal-error instead of the protocol closing the socket with 1009.
WS_MAX_SIZE = 64 * 1024 * 1024


class _Reply1000ServerProtocol(ServerProtocol):
    def send_frame(self, frame: Frame) -> None:
        if frame.opcode is Opcode.CLOSE and not frame.data and self.state is OPEN:
            frame = Frame(Opcode.CLOSE, Close(1000, "").serialize())
        super().send_frame(frame)


class ReplyCloseWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol, answering a code-less close with 1000."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn.__class__ = _Reply1000ServerProtocol


def uvicorn_config(app: Any, *, host: str = "127.0.0.1", port: int = 0,
                   log_level: str = "warning", **kwargs: Any) -> uvicorn.Config:
    """A uvicorn config for our app (our WebSocket protocol, large frames allowed)."""
    return uvicorn.Config(app, host=host, port=port, log_level=log_level,
                          ws=ReplyCloseWebSocketProtocol, ws_max_size=WS_MAX_SIZE,
                          lifespan="on", **kwargs)


class ServerThread:
    """uvicorn on a daemon thread, bound to ``host`` (loopback) and a free port."""

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0,
                 log_level: str = "warning", startup_timeout: float = 30.0) -> None:
        self.app = app
        self.config = uvicorn_config(app, host=host, port=port, log_level=log_level)
        self.server = uvicorn.Server(self.config)
        self.startup_timeout = startup_timeout
        self._thread: threading.Thread | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.port = 0
        self.host = host

    @property
    def url(self) -> str:
        """``http://host:port`` (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """``ws://host:port`` (no trailing slash)."""
        return f"ws://{self.host}:{self.port}"

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self.loop = loop
        try:
            loop.run_until_complete(self.server.serve())
        finally:
            loop.close()

    def start(self) -> ServerThread:
        """Start and wait until the socket is bound; raises RuntimeError if it fails."""
        self._thread = threading.Thread(target=self._run, name="lcm-widgets-server",
                                        daemon=True)
        self._thread.start()
        ready = threading.Event()

        def poll() -> None:
            while self._thread is not None and self._thread.is_alive():
                if self.server.started:
                    ready.set()
                    return
                threading.Event().wait(0.01)
            ready.set()

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        ready.wait(self.startup_timeout)
        if not self.server.started:
            self.stop()
            raise RuntimeError("the lcm-widgets server did not start (see the log above)")
        sock = self.server.servers[0].sockets[0]
        self.port = sock.getsockname()[1]
        return self

    def run_coroutine(self, coro: Any, timeout: float | None = 30.0) -> Any:
        """Run ``coro`` on the server's loop (for tests poking at app state)."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Ask uvicorn to exit and wait for the thread."""
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():  # pragma: no cover - stuck connections
                self.server.force_exit = True
                self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
