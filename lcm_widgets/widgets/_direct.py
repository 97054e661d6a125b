"""The direct channel: a Sketchpad's frames and results over a WebSocket served by the kernel.

The notebook's comm carries every message through the Jupyter server (browser → server → ZMQ
→ kernel and back), which on a small machine costs tens of ms per hop (docs/benchmarks.md,
"bench-live"). When the browser runs on the kernel's machine it can instead reach a small
WebSocket server inside the kernel process: one per process, on 127.0.0.1 with a random port,
running on the library loop (so it works while a cell runs, and frames land on the loop the
engine runs on). A view that cannot reach it (a remote JupyterHub, Colab, VS Code remote) keeps
the comm. docs/widget-protocol.md, "The direct channel", has the rules; in short:

* **Who may connect.** A view learns the URL and its widget's token only through the comm (a
  ``direct`` message answering its ``hello``, which also names the page's origin). The
  handshake is refused (403) unless its ``Origin`` is one a view of that widget reported; the
  first message must carry the token (compared in constant time) within 5 s, else the
  connection is closed with code 4403. Both refusals are counted (:attr:`Endpoint.refused`).
* **What travels.** Binary messages only, each ``[4-byte big-endian header length][JSON
  header][payload]``: the same ``frame``/``ack`` (browser → kernel) and ``took``/``result``
  (kernel → browser) contents as on the comm, the image as the payload (a frame's inpainting
  mask, when it carries one, follows the frame's bytes: ``frame.mask.bytes`` long).
* **No loss.** Each connection has an ordered outbox drained by one task; a closed connection
  makes its view fall back to the comm (it says ``hello`` there again).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import struct
import threading
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import ProtocolError
from ..runtime.loop import get_loop, running_loop

__all__ = ["DirectServer", "Endpoint", "pack", "unpack"]

log = logging.getLogger("lcm_widgets.direct")

_LEN = struct.Struct(">I")
#: Largest message accepted (a 2048x2048 JPEG at quality 1.0 stays well below it).
MAX_MESSAGE = 32 * 1024 * 1024
#: Largest JSON header accepted.
MAX_HEADER = 64 * 1024
#: Seconds a new connection has to send its token.
AUTH_TIMEOUT = 5.0
#: ``LCM_WIDGETS_TRANSPORT=comm`` turns the direct channel off for this process.
ENV_TRANSPORT = "LCM_WIDGETS_TRANSPORT"


def pack(header: Mapping[str, Any], payload: bytes | bytearray | memoryview = b"") -> bytes:
    """One direct-channel message: length-prefixed JSON header, then the payload."""
    h = json.dumps(header, separators=(",", ":")).encode()
    return b"".join((_LEN.pack(len(h)), h, payload))


def unpack(data: bytes) -> tuple[dict[str, Any], bytes]:
    """``(header, payload)`` of a message; :class:`ProtocolError` names what is wrong."""
    if len(data) < _LEN.size:
        raise ProtocolError(f"direct message: must start with a 4-byte header length, got "
                            f"{len(data)} bytes")
    (n,) = _LEN.unpack_from(data)
    if n > MAX_HEADER or _LEN.size + n > len(data):
        raise ProtocolError(f"direct message: header length {n} does not fit the message "
                            f"({len(data)} bytes, header at most {MAX_HEADER})")
    try:
        header = json.loads(data[_LEN.size:_LEN.size + n])
    except ValueError as exc:
        raise ProtocolError(f"direct message: the header is not JSON ({exc})") from None
    if not isinstance(header, dict):
        raise ProtocolError(f"direct message: the header must be a JSON object, got "
                            f"{type(header).__name__}")
    return header, data[_LEN.size + n:]


class _Conn:
    """One authenticated connection: its view id and an ordered outbox."""

    def __init__(self, ws: Any, view: str) -> None:
        self.ws = ws
        self.view = view
        self.outbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.sent = 0

    async def drain(self) -> None:
        while (msg := await self.outbox.get()) is not None:
            try:
                await self.ws.send(msg)
                self.sent += 1
            except Exception:  # closed: the handler ends and detaches us
                return


class Endpoint:
    """One widget's side of the direct channel (the Sketchpad owns one).

    ``on_message(header, payload)`` is called on the library loop for every message of an
    authenticated connection. Thread-safe: :meth:`send` and :meth:`allow_origin` may be called
    from any thread.
    """

    def __init__(self, server: DirectServer, on_message: Callable[[dict[str, Any], bytes], None],
                 on_views: Callable[[], None] | None = None) -> None:
        self.server = server
        self.id = secrets.token_hex(8)
        self.token = secrets.token_urlsafe(24)
        self.origins: set[str] = set()
        self.refused = 0
        self.accepted = 0
        self._on_message = on_message
        self._on_views = on_views
        self._conns: set[_Conn] = set()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """Where a view connects."""
        return f"ws://127.0.0.1:{self.server.port}/{self.id}"

    @property
    def views(self) -> set[str]:
        """Ids of the views connected now."""
        with self._lock:
            return {c.view for c in self._conns}

    def allow_origin(self, origin: str) -> None:
        """A view of this widget (speaking through the comm) runs in a page of ``origin``."""
        with self._lock:
            self.origins.add(origin)

    def send(self, header: Mapping[str, Any], payload: bytes = b"") -> int:
        """Queue a message to every connected view, in order; returns how many got it."""
        msg = pack(header, payload)
        with self._lock:
            conns = list(self._conns)
        loop = self.server.loop
        if running_loop() is loop:  # on the loop (a result, a took): queue it now
            for c in conns:
                c.outbox.put_nowait(msg)
        else:
            for c in conns:
                loop.call_soon_threadsafe(c.outbox.put_nowait, msg)
        return len(conns)

    def close(self) -> None:
        """Forget the widget: close its connections."""
        self.server.unregister(self)
        with self._lock:
            conns, self._conns = list(self._conns), set()
        for c in conns:
            self.server.loop.call_soon_threadsafe(c.outbox.put_nowait, None)
            asyncio.run_coroutine_threadsafe(c.ws.close(1001, "widget closed"), self.server.loop)

    # ---- the loop --------------------------------------------------------------------------
    def _attach(self, conn: _Conn) -> None:
        with self._lock:
            self._conns.add(conn)
            self.accepted += 1
        if self._on_views is not None:
            self._on_views()

    def _detach(self, conn: _Conn) -> None:
        with self._lock:
            self._conns.discard(conn)
        if self._on_views is not None:
            self._on_views()


class DirectServer:
    """The kernel process's one direct-channel server (see the module docstring).

    :meth:`get` starts it on first use and returns None when it cannot run here (the
    ``websockets`` package missing, ``LCM_WIDGETS_TRANSPORT=comm``, no loopback socket): the
    widgets then use the comm alone.
    """

    _instance: DirectServer | None = None
    _failed = False
    _class_lock = threading.Lock()

    def __init__(self) -> None:
        self.loop = get_loop()
        self.port = 0
        self._endpoints: dict[str, Endpoint] = {}
        self._lock = threading.Lock()
        self._server: Any = None
        fut = asyncio.run_coroutine_threadsafe(self._start(), self.loop)
        fut.result(10)

    @classmethod
    def get(cls) -> DirectServer | None:
        """The running server, started on first call; None where it cannot run."""
        with cls._class_lock:
            if cls._instance is not None or cls._failed:
                return cls._instance
            if os.environ.get(ENV_TRANSPORT, "").strip().lower() == "comm":
                cls._failed = True
                log.info("direct channel off (%s=comm): widgets use the comm", ENV_TRANSPORT)
                return None
            try:
                cls._instance = cls()
            except Exception as exc:  # ImportError (no websockets), OSError (no socket)...
                cls._failed = True
                log.info("direct channel unavailable (%s): widgets use the comm", exc)
            return cls._instance

    def endpoint(self, on_message: Callable[[dict[str, Any], bytes], None],
                 on_views: Callable[[], None] | None = None) -> Endpoint:
        """A new widget's endpoint."""
        ep = Endpoint(self, on_message, on_views)
        with self._lock:
            self._endpoints[ep.id] = ep
        return ep

    def unregister(self, ep: Endpoint) -> None:
        with self._lock:
            self._endpoints.pop(ep.id, None)

    async def _start(self) -> None:
        from websockets.asyncio.server import serve

        self._server = await serve(self._handle, "127.0.0.1", 0, compression=None,
                                   max_size=MAX_MESSAGE, process_request=self._check,
                                   server_header=None, ping_interval=None)
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("direct channel listening on 127.0.0.1:%d", self.port)

    def _lookup(self, path: str) -> Endpoint | None:
        with self._lock:
            return self._endpoints.get(path.strip("/").split("?", 1)[0])

    def _check(self, connection: Any, request: Any) -> Any:
        """Handshake: the widget must exist and the Origin must be one of its views'."""
        ep = self._lookup(request.path)
        if ep is None:
            return connection.respond(404, "no such widget\n")
        origin = request.headers.get("Origin")
        with ep._lock:
            allowed = origin in ep.origins
        if not allowed:
            ep.refused += 1
            log.warning("direct channel: refused a connection from Origin %r", origin)
            return connection.respond(403, "origin not allowed\n")
        return None

    async def _handle(self, ws: Any) -> None:
        ep = self._lookup(ws.request.path)
        if ep is None:  # the widget closed during the handshake
            await ws.close(1001, "widget closed")
            return
        try:
            first = await asyncio.wait_for(ws.recv(), AUTH_TIMEOUT)
            header, _ = unpack(first) if isinstance(first, bytes) else ({}, b"")
        except (TimeoutError, ProtocolError, Exception):
            header = {}
        token, view = header.get("token"), header.get("view")
        if header.get("type") != "auth" or not isinstance(token, str) or \
                not secrets.compare_digest(token, ep.token) or not isinstance(view, str):
            ep.refused += 1
            log.warning("direct channel: refused a connection without the widget's token")
            await ws.close(4403, "bad token")
            return
        conn = _Conn(ws, view)
        writer = asyncio.get_running_loop().create_task(conn.drain())
        ep._attach(conn)
        await ws.send(pack({"type": "ready", "view": view}))
        try:
            async for msg in ws:
                if not isinstance(msg, bytes):
                    log.warning("direct channel: ignoring a text message")
                    continue
                try:
                    h, payload = unpack(msg)
                except ProtocolError as exc:
                    log.warning("direct channel: ignoring a malformed message: %s", exc)
                    continue
                ep._on_message(h, payload)
        except Exception:  # the peer went away mid-message
            pass
        finally:
            ep._detach(conn)
            conn.outbox.put_nowait(None)
            with contextlib.suppress(BaseException):
                await writer


def origin_of(content: Mapping[str, Any]) -> str | None:
    """The page origin a ``hello`` names, when it is a plausible ``scheme://host[:port]``."""
    o = content.get("origin")
    if isinstance(o, str) and 0 < len(o) <= 256 and "://" in o and "/" not in o.split("://", 1)[1]:
        return o
    return None
