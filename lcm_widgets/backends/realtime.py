"""A realtime WebSocket client for fal.ai's ``fast-lcm-diffusion`` and our own server.

:class:`RealtimeBackend` is a :class:`~lcm_widgets.backends.base.Backend`, so the Studio uses it
unchanged. It keeps one persistent WebSocket (opened lazily by the first ``generate``), sends
each input as one msgpack frame, and matches results by ``request_id`` (PROTOCOL.md §3).

Flow (DESIGN.md §1): **one request in flight, newest wins.** A ``generate`` call made while
another is in flight waits in a single pending slot; a newer call replaces it and the replaced
caller gets :class:`~lcm_widgets.errors.Superseded`. The server therefore never holds more than
one of our frames, and no queue grows anywhere.

Failures: a dropped connection is reopened on demand with exponential backoff and jitter,
resending only the newest request; the in-flight call fails with
:class:`~lcm_widgets.errors.ConnectionClosed` only once ``max_reconnects`` attempts in a row
have failed. Server errors are typed (``x-fal-error`` → :class:`RemoteError`, ``TIMEOUT`` →
:class:`RemoteTimeout`, a refused token → one re-mint, then :class:`Unauthorized`) and the
backend keeps working after any of them. The pure rules live in :mod:`._wire`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ..runtime.loop import get_loop, run_sync
from ..errors import (
    ConnectionClosed,
    LCMWidgetsError,
    ProtocolError,
    RemoteError,
    RemoteTimeout,
    Superseded,
    Unauthorized,
)
from ..schema import Input, Output, parse_input
from . import _wire as w
from ._dial import Dialer
from .base import BackendInfo

if TYPE_CHECKING:  # pragma: no cover
    from websockets.asyncio.client import ClientConnection

__all__ = ["RealtimeBackend", "RealtimeStats"]

log = logging.getLogger("lcm_widgets.realtime")


@dataclass
class RealtimeStats:
    """Counters a :class:`RealtimeBackend` keeps (read them, never write them).

    ``in_flight`` counts our frames the server holds unanswered on the current connection;
    ``max_in_flight`` is its high-water mark (1 by construction). ``dropped`` counts results
    whose ``request_id`` matched no waiting request.
    """

    connects: int = 0
    reconnects: int = 0
    token_mints: int = 0
    sent: int = 0
    received: int = 0
    superseded: int = 0
    errors: int = 0
    dropped: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    last_server_timing: float | None = None


@dataclass(eq=False)
class _Request:
    request_id: str
    payload: bytes
    future: asyncio.Future[Output]
    sent_on: int = -1  # connection number it went out on
    t_sent: float = 0.0


def _settle(fut: asyncio.Future[Any], exc: BaseException) -> None:
    if not fut.done():
        fut.set_exception(exc)
        fut.exception()  # mark retrieved: a caller that gave up must not log a warning


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
        timeout: seconds to wait for one result; then :class:`RemoteTimeout` (code
            ``REQUEST_TIMEOUT``) and the connection is reset.
        sync_mode: the ``sync_mode`` sent when the input leaves it unset (True: data URIs).
        max_reconnects: connection attempts in a row before a request fails.
        token_expiration: lifetime asked for each token, seconds.

    The key is held in the kernel only: it is never put in a widget trait, a log line or
    ``repr()``. The backend binds to the event loop of its first ``generate``; calls from
    another running loop are forwarded there.
    """

    def __init__(self, app: str = "fal-ai/fast-lcm-diffusion", *, base_url: str | None = None,
                 key: str | None = None, use_jwt: bool = True, max_buffering: int | None = None,
                 timeout: float = 60.0, sync_mode: bool = True, max_reconnects: int = 5,
                 token_expiration: int = 120, path: str = "/realtime",
                 rest_url: str | None = None, open_timeout: float = 30.0,
                 backoff: tuple[float, float, float] = (0.05, 2.0, 5.0),
                 fetch_images: bool = True) -> None:
        self.app = w.AppId.parse(app)
        if key is None and base_url is None:
            key = w.key_from_env()
            if key is None:
                raise Unauthorized("MISSING_KEY", "no fal API key: pass key=... or set FAL_KEY "
                                   "(or FAL_KEY_ID and FAL_KEY_SECRET)")
        self.base_url = (base_url or w.FAL_RUN_URL).rstrip("/")
        self._dialer = Dialer(
            self.app, ws_root=w.FAL_WS_URL if base_url is None else w.ws_base(base_url),
            rest_url=rest_url or (w.FAL_REST_URL if base_url is None else self.base_url),
            key=key, use_jwt=use_jwt, path=path,
            max_buffering=w.check_max_buffering(max_buffering),
            token_expiration=token_expiration, open_timeout=open_timeout)
        self.timeout, self.sync_mode = timeout, sync_mode
        self.max_reconnects, self.fetch_images = max_reconnects, fetch_images
        self._backoff = backoff
        self.stats = RealtimeStats()
        self._info = BackendInfo(name="realtime", model=self.app.full, device="remote",
                                 remote=True, extra={"url": self.url})
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._reset_connection_state()

    def _reset_connection_state(self) -> None:
        self._slots: w.Slots[_Request] = w.Slots()
        self._ws: ClientConnection | None = None
        self._conn_no = 0
        self._reader: asyncio.Task[None] | None = None
        self._pump_task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._failures = 0
        self._delays = w.backoff(*self._backoff)
        self._last_close: tuple[int | None, str] = (None, "")
        self._auth_retried = False
        self._last_output: Output | None = None
        self._bg: set[asyncio.Task[Any]] = set()

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

    async def generate(self, inp: Input | dict[str, Any]) -> Output:
        """Send one input and wait for its result.

        Raises :class:`Superseded` when a newer call replaced this one before it was answered,
        :class:`~lcm_widgets.errors.InvalidInput` for a bad input (checked locally, or the
        server's 422-style reason), :class:`RemoteError` and its subclasses for server errors,
        :class:`ConnectionClosed` when the server cannot be reached ``max_reconnects`` times.
        """
        if self._closed:
            raise ConnectionClosed(1000, "the backend was closed with aclose(); make a new one")
        loop = asyncio.get_running_loop()
        if self._loop is None or self._loop.is_closed() or not self._loop.is_running():
            self._reset_connection_state()
            self._loop = loop
        elif loop is not self._loop:
            cfut = asyncio.run_coroutine_threadsafe(self.generate(inp), self._loop)
            return await asyncio.wrap_future(cfut)
        parsed = parse_input(inp)
        payload = parsed.model_dump(exclude_unset=True)
        rid = parsed.request_id or uuid.uuid4().hex
        payload["request_id"] = rid
        payload.setdefault("sync_mode", self.sync_mode)
        req = _Request(rid, w.encode_input(payload), loop.create_future())
        to_send, superseded = self._slots.submit(req)
        if superseded is not None:
            self.stats.superseded += 1
            _settle(superseded.future, Superseded(superseded.request_id, rid))
        if to_send is not None:
            if self._ws is not None and (self._pump_task is None or self._pump_task.done()
                                         or self._wake is None or not self._wake.is_set()):
                await self._send_now(req, self._ws)  # fast path: the socket is open and idle
            else:
                self._kick()
        # a timer instead of wait_for(shield(...)): two loop hops fewer per frame
        timer = loop.call_later(self.timeout, self._expire, req) if self.timeout else None
        try:
            out = await req.future
        except asyncio.CancelledError:
            self._slots.withdraw(req)  # an in-flight one stays until answered (one in flight)
            raise
        finally:
            if timer is not None:
                timer.cancel()
        if self.fetch_images and any(i.content is None and i.url.startswith(("http:", "https:"))
                                     for i in out.images):
            await self._fetch_images(out)
        return out

    def generate_sync(self, inp: Input | dict[str, Any], timeout: float | None = None) -> Output:
        """``generate`` from synchronous code (a notebook cell), on the library's loop."""
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if self._loop is not None and running is self._loop:  # it would wait on itself
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
        for req in self._slots.clear():
            _settle(req.future, ConnectionClosed(1000, "the backend was closed"))
        tasks = [t for t in (self._pump_task, self._reader) if t is not None]
        self._pump_task = None
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close(1000, "client closed")
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._dialer.aclose()

    def close(self) -> None:
        """Synchronous :meth:`aclose` for notebook cells."""
        if self._loop is not None and not self._loop.is_closed() and self._loop.is_running():
            fut = asyncio.run_coroutine_threadsafe(self.aclose(), self._loop)
            if self._loop is get_loop():
                fut.result()
            return
        self._closed = True

    # ------------------------------------------------------------------ sending

    def _kick(self) -> None:
        if self._wake is None:
            self._wake = asyncio.Event()
        if self._pump_task is None or self._pump_task.done():
            self._pump_task = asyncio.get_running_loop().create_task(self._pump())
        self._wake.set()

    async def _pump(self) -> None:
        """The one task that connects and sends; woken whenever the in-flight slot changes."""
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._send_newest()
            except Exception as exc:
                err = exc
                if not isinstance(exc, LCMWidgetsError):  # a bug: fail the callers, keep going
                    log.exception("realtime sender failed")
                    err = ConnectionClosed(1006, f"unexpected client error: {exc!r}")
                    err.__cause__ = exc
                self._failures, self._delays = 0, w.backoff(*self._backoff)
                for req in self._slots.clear():
                    _settle(req.future, err)

    async def _send_newest(self) -> None:
        while True:
            req = self._slots.in_flight
            if req is None or (self._ws is not None and req.sent_on == self._conn_no):
                return
            if self._ws is None:
                if self._failures > self.max_reconnects:
                    code, reason = self._last_close
                    raise ConnectionClosed(code, f"{reason or 'connection lost'}; gave up after "
                                           f"{self.max_reconnects} reconnect attempts")
                delay = next(self._delays)
                if delay:
                    await asyncio.sleep(delay)
                try:
                    await self._connect()
                except Unauthorized:
                    if not self._dialer.can_remint or self._auth_retried:
                        raise
                    self._auth_retried = True  # a refused token: one fresh token, then give up
                    self._dialer.token.drop()
                    continue
                except ConnectionClosed as exc:
                    self._failures += 1
                    self._last_close = (exc.code, exc.reason)
                    continue
                except RemoteError as exc:
                    if not (isinstance(exc.code, int) and exc.code >= 500):
                        raise
                    self._failures += 1
                    self._last_close = (1011, str(exc))
                    continue
            old = self._slots.collapse()  # only the newest frame goes out on a fresh socket
            if old is not None:
                self.stats.superseded += 1
                _settle(old.future, Superseded(old.request_id, self._slots.in_flight.request_id
                                               if self._slots.in_flight else None))
            req = self._slots.in_flight
            if req is not None and self._ws is not None:
                await self._send_now(req, self._ws)
            return

    async def _send_now(self, req: _Request, ws: ClientConnection) -> None:
        req.sent_on, req.t_sent = self._conn_no, time.perf_counter()
        self.stats.sent += 1
        self.stats.in_flight += 1
        self.stats.max_in_flight = max(self.stats.max_in_flight, self.stats.in_flight)
        try:
            await ws.send(req.payload)
        except Exception:  # closed under us: the reader sees the close and wakes the pump
            req.sent_on = -1
            self.stats.sent -= 1
            self.stats.in_flight = max(0, self.stats.in_flight - 1)

    async def _connect(self) -> None:
        try:
            ws = await self._dialer.open()
        finally:
            self.stats.token_mints = self._dialer.mints
        self._ws = ws
        self._conn_no += 1
        self.stats.connects += 1
        self.stats.reconnects = self.stats.connects - 1
        self._reader = asyncio.get_running_loop().create_task(self._read(ws))
        log.debug("connected to %s (connection %d)", self.url, self._conn_no)

    def _expire(self, req: _Request) -> None:
        if req.future.done():
            return
        self._abandon(req)
        _settle(req.future, RemoteTimeout(
            "REQUEST_TIMEOUT", f"no result for request {req.request_id} within "
            f"{self.timeout:g} s; the connection was reset"))

    def _abandon(self, req: _Request) -> None:
        """A request timed out: drop it; if it was in flight, reset the connection."""
        if self._slots.withdraw(req):
            return
        if self._slots.in_flight is req:
            self._slots.finish()
            self._drop_connection()
            if self._slots.in_flight is not None:
                self._kick()

    def _drop_connection(self) -> None:
        ws, self._ws = self._ws, None
        self.stats.in_flight = 0
        if ws is not None:
            self._spawn(ws.close(1000, "client reset"))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._bg.add(task)
        task.add_done_callback(self._bg.discard)

    # ------------------------------------------------------------------ receiving

    async def _read(self, ws: ClientConnection) -> None:
        from websockets.exceptions import ConnectionClosed as WsClosed

        conn_no = self._conn_no
        try:
            async for frame in ws:
                try:
                    event = w.decode_frame(frame)
                except ProtocolError as exc:
                    self._fail_in_flight(exc)
                    continue
                self._on_event(event, ws)
        except WsClosed:
            pass
        finally:
            if self._ws is ws and self._conn_no == conn_no:
                self._on_lost(ws.close_code, ws.close_reason or "")

    def _on_event(self, event: w.Event, ws: ClientConnection) -> None:
        if isinstance(event, w.ResultFrame):
            self._on_result(event)
        elif isinstance(event, w.ErrorFrame):
            self.stats.errors += 1
            exc = w.error_for(event)
            rid = event.payload.get("request_id")
            req = self._slots.in_flight
            if req is not None and req.sent_on == self._conn_no and rid in (None, "",
                                                                            req.request_id):
                self._fail_in_flight(exc)
            else:
                log.debug("server error with no request in flight: %s", exc)
        elif isinstance(event, w.UnauthorizedFrame):
            self.stats.errors += 1
            self._dialer.token.drop()
            self._ws = None
            self.stats.in_flight = 0
            self._spawn(ws.close(1000, "unauthorized"))
            req = self._slots.in_flight
            if req is None:
                return
            if self._dialer.can_remint and not self._auth_retried:
                self._auth_retried = True
                self._kick()
            else:
                self._fail_in_flight(Unauthorized("Unauthorized", "the server refused the "
                                                  "credentials; check the API key",
                                                  payload=event.payload))
        elif isinstance(event, w.TimingsFrame):
            self.stats.last_server_timing = event.timing
            if self._last_output is not None and event.timing is not None:
                self._last_output.timings.setdefault("server", event.timing)
        else:
            log.debug("skipped a text frame: %r", event.payload)

    def _on_result(self, event: w.ResultFrame) -> None:
        req = self._slots.in_flight
        rid = event.request_id
        if req is None or req.sent_on != self._conn_no or rid not in (None, req.request_id):
            self.stats.dropped += 1
            log.debug("dropped a result for unknown request %r", rid)
            return
        self.stats.received += 1
        self.stats.in_flight = max(0, self.stats.in_flight - 1)
        self._failures, self._auth_retried = 0, False
        self._delays = w.backoff(*self._backoff)
        self._slots.finish()
        try:
            out = Output.model_validate(event.data)
        except ValidationError as exc:
            _settle(req.future, ProtocolError(f"result: not a fast-lcm-diffusion output ({exc})"))
        else:
            out.timings["round_trip"] = time.perf_counter() - req.t_sent
            self._last_output = out
            if not req.future.done():
                req.future.set_result(out)
        if self._slots.in_flight is not None:
            self._kick()

    def _fail_in_flight(self, exc: LCMWidgetsError) -> None:
        req = self._slots.in_flight
        if req is None:
            return
        if req.sent_on == self._conn_no:
            self.stats.in_flight = max(0, self.stats.in_flight - 1)
        self._slots.finish()
        _settle(req.future, exc)
        if self._slots.in_flight is not None:
            self._kick()

    def _on_lost(self, code: int | None, reason: str) -> None:
        self._ws = None
        self.stats.in_flight = 0
        self._last_close = (code, reason)
        req = self._slots.in_flight
        log.debug("connection closed (%s %s); request in flight: %s", code, reason,
                  req.request_id if req else None)
        if req is not None:
            self._failures += 1
            self._kick()

    async def _fetch_images(self, out: Output) -> None:
        for img in out.images:
            if img.content is None and img.url.startswith(("http:", "https:")):
                img.content = await self._dialer.fetch(img.url)
