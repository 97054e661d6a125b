"""A realtime WebSocket client for fal.ai's ``fast-lcm-diffusion`` and our own server.

:class:`RealtimeBackend` is a :class:`~lcm_widgets.backends.base.Backend`, so the Studio uses it
unchanged. It keeps one persistent WebSocket (opened lazily by the first ``generate``), sends
each input as one msgpack frame and matches results by ``request_id`` (an answer without one
answers the oldest request sent: servers answer a session in order). docs/remote.md describes
the protocol.

Flow (:mod:`._flights`): **every caller is served.** Concurrent ``generate`` calls are
pipelined on the socket, at most ``max_in_flight`` unanswered at once; newest-wins is each
consumer's own business (a Studio's or a Compare's engine paces itself). A caller that streams
frames itself may pass ``lane=``: within one lane a newer call replaces the one waiting behind
the lane's request in flight, and the replaced call raises
:class:`~lcm_widgets.errors.Superseded`.

Failures: a dropped connection is reopened on demand with exponential backoff and jitter and
what was in flight is resent (per lane, only its newest request); the callers fail with
:class:`~lcm_widgets.errors.ConnectionClosed` only once ``max_reconnects`` attempts in a row
have failed. Server errors are typed by the one error table (:mod:`lcm_widgets.protocol.errors`;
fal's idle-session ``TIMEOUT`` just closes the socket), a refused token is re-minted once, and
the backend keeps working after any of them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Hashable
from typing import Any

from .._extras import need
from ..errors import ConnectionClosed, InvalidInput, Unauthorized
from ..protocol import fal
from ..protocol.credentials import key_from_env
from ..protocol.endpoints import (
    FAL_REST_URL,
    FAL_RUN_URL,
    FAL_WS_URL,
    AppId,
    check_max_buffering,
    ws_base,
)
from ..runtime.loop import get_loop, run_sync, running_loop
from ..schema import Input, Output, parse_input
from ._dial import Dialer
from ._session import Request, Session, SessionStats
from .base import BackendInfo

__all__ = ["DEFAULT_MAX_IN_FLIGHT", "RealtimeBackend", "RealtimeStats"]

#: Requests sent and unanswered at once when neither ``max_in_flight`` nor ``max_buffering`` is
#: given (our server buffers 8 frames of a session by default).
DEFAULT_MAX_IN_FLIGHT = 4

#: The counters of :attr:`RealtimeBackend.stats`.
RealtimeStats = SessionStats


class RealtimeBackend:
    """Generate through a fal-style realtime WebSocket.

    Args:
        app: endpoint id, ``owner/alias`` (default ``fal-ai/fast-lcm-diffusion``).
        base_url: our server's ``http(s)://host:port``; None means fal.ai.
        key: API key. For fal.ai it defaults to ``FAL_KEY`` (or ``FAL_KEY_ID:FAL_KEY_SECRET``);
            for a self-hosted ``base_url`` it must be given (None = a ``--no-auth`` server).
        use_jwt: mint a short-lived token at ``{rest}/tokens/`` and put it in the URL (fal's
            way, the default); False sends ``Authorization: Key …`` on the handshake instead.
        max_buffering: ``max_buffering`` query parameter, 1..60, or None to let the server pick.
        max_in_flight: requests sent and unanswered at once (default ``max_buffering``, else
            :data:`DEFAULT_MAX_IN_FLIGHT`); never more than ``max_buffering``, or the server
            would drop the oldest.
        timeout: seconds to wait for one result; then :class:`RemoteTimeout` (code
            ``REQUEST_TIMEOUT``) and, if it was sent, the connection is reset.
        sync_mode: the ``sync_mode`` sent when the input leaves it unset (True: data URIs).
        max_reconnects: connection attempts in a row before the waiting calls fail.
        token_expiration: lifetime asked for each token, seconds.

    The key is held in the kernel only: it is never put in a widget trait, a log line or
    ``repr()``. The backend binds to the event loop of its first ``generate``; calls from
    another running loop are forwarded there.
    """

    def __init__(self, app: str = "fal-ai/fast-lcm-diffusion", *, base_url: str | None = None,
                 key: str | None = None, use_jwt: bool = True, max_buffering: int | None = None,
                 max_in_flight: int | None = None, timeout: float = 60.0,
                 sync_mode: bool = True, max_reconnects: int = 5, token_expiration: int = 120,
                 path: str = "/realtime", rest_url: str | None = None,
                 open_timeout: float = 30.0,
                 backoff: tuple[float, float, float] = (0.05, 2.0, 5.0),
                 fetch_images: bool = True) -> None:
        need("remote", "websockets", "httpx", what="RealtimeBackend")
        self.app = AppId.parse(app)
        if key is None and base_url is None:
            key = key_from_env()
            if key is None:
                raise Unauthorized("MISSING_KEY", "no fal API key: pass key=... or set FAL_KEY "
                                   "(or FAL_KEY_ID and FAL_KEY_SECRET)")
        buffering = check_max_buffering(max_buffering)
        window = max_in_flight if max_in_flight is not None else (
            buffering or DEFAULT_MAX_IN_FLIGHT)
        if isinstance(window, bool) or not isinstance(window, int) or not 1 <= window <= (
                buffering or 60):
            raise InvalidInput(f"max_in_flight: must be a whole number between 1 and "
                               f"{buffering or 60} (max_buffering), got {max_in_flight!r}",
                               field="max_in_flight")
        self.max_in_flight = window
        self.base_url = (base_url or FAL_RUN_URL).rstrip("/")
        self._dialer = Dialer(
            self.app, ws_root=FAL_WS_URL if base_url is None else ws_base(base_url),
            rest_url=rest_url or (FAL_REST_URL if base_url is None else self.base_url),
            key=key, use_jwt=use_jwt, path=path, max_buffering=buffering,
            token_expiration=token_expiration, open_timeout=open_timeout)
        #: one dialer per endpoint used: the app's own, and its ``/inpainting`` once a masked
        #: input comes (fal serves ``mask_url`` there only; docs/remote.md, "Inpainting")
        self._dialers: dict[AppId, Dialer] = {self.app: self._dialer}
        self.timeout, self.sync_mode = timeout, sync_mode
        self.max_reconnects, self.fetch_images = max_reconnects, fetch_images
        self._backoff = backoff
        self.stats = SessionStats()
        self._info = BackendInfo(name="realtime", model=self.app.full, device="remote",
                                 remote=True, extra={"url": self.url},
                                 app=f"{self.app.owner}/{self.app.alias}")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sessions: dict[AppId, Session] = {}  # one socket per endpoint, opened lazily
        self._closed = False

    def _session_for(self, app: AppId) -> Session:
        session = self._sessions.get(app)
        if session is None:
            dialer = self._dialers.get(app)
            if dialer is None:
                dialer = self._dialers[app] = self._dialer.for_app(app)
            session = self._sessions[app] = Session(
                dialer, self.stats, window=self.max_in_flight,
                max_reconnects=self.max_reconnects, delays=self._backoff)
        return session

    # ------------------------------------------------------------------ public API

    @property
    def info(self) -> BackendInfo:
        return self._info

    @property
    def url(self) -> str:
        """The WebSocket URL, without the token."""
        return self._dialer.url()

    @property
    def auth(self) -> str:
        """``"jwt"`` (minted token), ``"key"`` (``Authorization: Key``) or ``"none"``."""
        return self._dialer.auth

    @property
    def rest_url(self) -> str:
        """Where tokens are minted (``{rest_url}/tokens/``)."""
        return self._dialer.rest_url

    def __repr__(self) -> str:
        return f"RealtimeBackend(app={self.app.full!r}, url={self.url!r}, auth={self.auth!r})"

    async def generate(self, inp: Input | dict[str, Any], *, lane: Hashable | None = None
                       ) -> Output:
        """Send one input and wait for its result.

        ``lane`` (any hashable) groups a caller's own calls: a newer call on the lane replaces
        the lane's call that waits behind its request in flight. Without it, the call is
        served whatever else runs. Raises :class:`Superseded` for a call replaced that way,
        :class:`~lcm_widgets.errors.InvalidInput` for a bad input (checked locally, or the
        server's 422-style reason), :class:`RemoteError` and its subclasses for server errors,
        :class:`ConnectionClosed` when the server cannot be reached ``max_reconnects`` times.

        An input with ``mask_url`` goes to the app's ``/inpainting`` endpoint on a second
        socket of its own (opened on first use), as fal serves the mask there only.
        """
        if self._closed:
            raise ConnectionClosed(1000, "the backend was closed with aclose(); make a new one")
        loop = asyncio.get_running_loop()
        if self._loop is None or self._loop.is_closed() or not self._loop.is_running():
            self._sessions.clear()  # a loop that ended took its sockets with it
            self._loop = loop
        elif loop is not self._loop:
            cfut = asyncio.run_coroutine_threadsafe(self.generate(inp, lane=lane), self._loop)
            return await asyncio.wrap_future(cfut)
        parsed = parse_input(inp)
        payload = parsed.model_dump(exclude_unset=True)
        session = self._session_for(self.app.for_input(parsed.is_inpainting))
        asked = parsed.request_id or None
        rid = asked if asked is not None and asked not in session.flights else uuid.uuid4().hex
        payload["request_id"] = rid
        payload.setdefault("sync_mode", self.sync_mode)
        req = Request(rid, fal.encode_input(payload), loop.create_future(),
                      caller_id=asked if asked != rid else None)
        await session.submit(req, lane if lane is not None else req)
        # a timer instead of wait_for(shield(...)): two loop hops fewer per frame
        timer = (loop.call_later(self.timeout, session.expire, req, self.timeout)
                 if self.timeout else None)
        try:
            out = await req.future
        except asyncio.CancelledError:
            session.withdraw(req)  # a sent one stays until answered (then it is ignored)
            raise
        finally:
            if timer is not None:
                timer.cancel()
        if req.caller_id is not None:
            out.request_id = req.caller_id
        if self.fetch_images and any(i.content is None and i.url.startswith(("http:", "https:"))
                                     for i in out.images):
            await self._fetch_images(out)
        return out

    def generate_sync(self, inp: Input | dict[str, Any], timeout: float | None = None) -> Output:
        """``generate`` from synchronous code (a notebook cell), on the library's loop."""
        if self._loop is not None and running_loop() is self._loop:  # it would wait on itself
            raise RuntimeError("generate_sync() called on the loop this backend runs on; "
                               "use `await backend.generate(...)` instead")
        return run_sync(self.generate(inp), timeout)

    async def aclose(self) -> None:
        """Fail waiting calls with :class:`ConnectionClosed`, close the socket with 1000.

        Safe to call twice; ``generate`` afterwards raises :class:`ConnectionClosed`.
        """
        self._closed = True
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        if loop is not asyncio.get_running_loop():
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self.aclose(), loop))
            return
        for session in list(self._sessions.values()):
            await session.aclose(ConnectionClosed(1000, "the backend was closed"))
        for dialer in list(self._dialers.values()):
            await dialer.aclose()

    def close(self) -> None:
        """Synchronous :meth:`aclose` for notebook cells."""
        if self._loop is not None and not self._loop.is_closed() and self._loop.is_running():
            fut = asyncio.run_coroutine_threadsafe(self.aclose(), self._loop)
            if self._loop is get_loop():
                fut.result()
            return
        self._closed = True

    async def _fetch_images(self, out: Output) -> None:
        for img in out.images:
            if img.content is None and img.url.startswith(("http:", "https:")):
                img.content = await self._dialer.fetch(img.url)
