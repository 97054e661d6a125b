"""One realtime socket's life for :class:`~.realtime.RealtimeBackend`: connect, send, read, route.

A :class:`Session` owns the socket and everything tied to it: the one sender task (the
*pump*, woken whenever something waits to be sent), the reader task, reconnects with
backoff, and the routing of what the server answers to the waiting requests held in a
:class:`~._flights.Flights` (who goes out next). It runs on one event loop and is not
thread-safe; the backend hands it requests on that loop.

Answers are matched by ``request_id``; one without an id answers the oldest request sent
(servers answer a session in order). Errors are typed by :func:`~lcm_widgets.protocol.errors.
exception_for`; a ``TIMEOUT`` (fal's idle-session close) and a refused token end the
connection, and what was in flight is resent on the next one (a refused token is re-minted
once). A lost connection counts as a failed attempt when something was in flight; after
``max_reconnects`` failed attempts in a row every waiting request fails.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ..errors import (
    ConnectionClosed,
    LCMWidgetsError,
    ProtocolError,
    RemoteError,
    RemoteTimeout,
    Superseded,
    Unauthorized,
)
from ..protocol import fal
from ..protocol.errors import exception_for
from ..schema import Output
from ._dial import Dialer, backoff
from ._flights import Flights

if TYPE_CHECKING:  # pragma: no cover
    from websockets.asyncio.client import ClientConnection

__all__ = ["Request", "Session", "SessionStats", "settle"]

log = logging.getLogger("lcm_widgets.realtime")


@dataclass
class SessionStats:
    """Counters of a realtime backend (read them, never write them).

    ``in_flight`` counts requests the server holds unanswered on the current connection and
    ``max_in_flight`` its high-water mark (at most the backend's ``max_in_flight``).
    ``superseded`` counts calls a newer call on the same lane replaced; ``dropped`` answers
    whose ``request_id`` matched no request sent.
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
class Request:
    """One ``generate`` call: the frame to send and the future its caller awaits."""

    request_id: str
    payload: bytes
    future: asyncio.Future[Output]
    caller_id: str | None = None  # the request_id the caller chose, when another went out
    t_sent: float = 0.0

    @property
    def name(self) -> str:
        """The id the caller knows this request by."""
        return self.caller_id or self.request_id


def settle(fut: asyncio.Future[Any], exc: BaseException) -> None:
    """Fail ``fut`` with ``exc`` unless it is done (and mark the exception retrieved, so a
    caller that gave up logs no warning)."""
    if not fut.done():
        fut.set_exception(exc)
        fut.exception()


class Session:
    """The socket of one backend, on one loop (see the module docstring)."""

    def __init__(self, dialer: Dialer, stats: SessionStats, *, window: int,
                 max_reconnects: int, delays: tuple[float, float, float]) -> None:
        self.dialer, self.stats = dialer, stats
        self.max_reconnects = max_reconnects
        self.flights: Flights[Request] = Flights(window)
        self._delay_args = delays
        self._delays = backoff(*delays)
        self._ws: ClientConnection | None = None
        self._conn_no = 0
        self._reader: asyncio.Task[None] | None = None
        self._pump_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._failures = 0
        self._last_close: tuple[int | None, str] = (None, "")
        self._auth_retried = False
        self._bg: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ the backend's calls
    async def submit(self, req: Request, lane: Hashable) -> None:
        """Hold ``req`` on ``lane`` and send it as soon as the window allows."""
        old = self.flights.submit(req, lane)
        if old is not None:
            self.stats.superseded += 1
            settle(old.future, Superseded(old.name, req.name))
        if self._ws is not None and (self._pump_task is None or self._pump_task.done()):
            await self._send_ready(self._ws)  # fast path: the socket is open and the pump idle
        else:
            self._kick()

    def withdraw(self, req: Request) -> None:
        """The caller gave up on ``req`` (a sent one stays until answered, then is ignored)."""
        self.flights.withdraw(req)

    def expire(self, req: Request, timeout: float) -> None:
        """No answer to ``req`` within ``timeout`` seconds: fail it; if the server holds it,
        reset the connection (what else was in flight is resent on the next one)."""
        if req.future.done():
            return
        if self.flights.is_sent(req.request_id):
            self.flights.finish(req.request_id)
            self._drop_connection()
        else:
            self.flights.withdraw(req)
        settle(req.future, RemoteTimeout(
            "REQUEST_TIMEOUT", f"no result for request {req.name} within {timeout:g} s; the "
            "connection was reset"))
        if self.flights.waiting:
            self._kick()

    async def aclose(self, error: LCMWidgetsError) -> None:
        """Fail every waiting request with ``error`` and close the socket with 1000."""
        for req in self.flights.clear():
            settle(req.future, error)
        tasks = [t for t in (self._pump_task, self._reader) if t is not None]
        self._pump_task = None
        ws, self._ws = self._ws, None
        if ws is not None:
            try:
                await ws.close(1000, "client closed")
            except Exception:  # already gone
                log.debug("close failed", exc_info=True)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, *self._bg, return_exceptions=True)

    # ------------------------------------------------------------------ sending
    def _kick(self) -> None:
        if self._pump_task is None or self._pump_task.done():
            self._pump_task = asyncio.get_running_loop().create_task(self._pump())
        self._wake.set()

    async def _pump(self) -> None:
        """The one task that connects; it ends when nothing is left to do."""
        while self._wake.is_set():
            self._wake.clear()
            try:
                await self._connect_and_send()
            except Exception as exc:
                err = exc
                if not isinstance(exc, LCMWidgetsError):  # a bug: fail the callers, keep going
                    log.exception("realtime sender failed")
                    err = ConnectionClosed(1006, f"unexpected client error: {exc!r}")
                    err.__cause__ = exc
                self._failures, self._delays = 0, backoff(*self._delay_args)
                for req in self.flights.clear():
                    settle(req.future, err)
                self.stats.in_flight = 0

    async def _connect_and_send(self) -> None:
        while self.flights.waiting and self._ws is None:
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
                if not self.dialer.can_remint or self._auth_retried:
                    raise
                self._auth_retried = True  # a refused token: one fresh token, then give up
                self.dialer.token.drop()
            except ConnectionClosed as exc:
                self._failures += 1
                self._last_close = (exc.code, exc.reason)
            except RemoteError as exc:
                if not (isinstance(exc.code, int) and exc.code >= 500):
                    raise
                self._failures += 1
                self._last_close = (1011, str(exc))
        if self._ws is not None:
            await self._send_ready(self._ws)

    async def _send_ready(self, ws: ClientConnection) -> None:
        """Send whatever the window allows."""
        while self._ws is ws and (req := self.flights.next_to_send()) is not None:
            req.t_sent = time.perf_counter()
            self.stats.sent += 1
            self.stats.in_flight = self.flights.sent
            self.stats.max_in_flight = max(self.stats.max_in_flight, self.stats.in_flight)
            try:
                await ws.send(req.payload)
            except Exception:  # closed under us: the reader sees the close and resends
                self.flights.unsend(req)
                self.stats.sent -= 1
                self.stats.in_flight = self.flights.sent
                return

    async def _connect(self) -> None:
        try:
            ws = await self.dialer.open()
        finally:
            self.stats.token_mints = self.dialer.mints
        self._ws = ws
        self._conn_no += 1
        self.stats.connects += 1
        self.stats.reconnects = self.stats.connects - 1
        self._reader = asyncio.get_running_loop().create_task(self._read(ws))
        log.debug("connected to %s (connection %d)", self.dialer.url(), self._conn_no)

    def _drop_connection(self) -> None:
        """Close the socket ourselves; what was in flight on it is resent on the next."""
        ws, self._ws = self._ws, None
        self._resend_lost()
        if ws is not None:
            task = asyncio.get_running_loop().create_task(ws.close(1000, "client reset"))
            self._bg.add(task)
            task.add_done_callback(self._bg.discard)

    def _resend_lost(self) -> None:
        for old, newer in self.flights.connection_lost():
            self.stats.superseded += 1
            settle(old.future, Superseded(old.name, newer.name))
        self.stats.in_flight = 0

    # ------------------------------------------------------------------ receiving
    async def _read(self, ws: ClientConnection) -> None:
        from websockets.exceptions import ConnectionClosed as WsClosed

        try:
            async for frame in ws:
                if self._ws is not ws:
                    return
                try:
                    event = fal.decode_frame(frame)
                except ProtocolError as exc:
                    self._answer(None, exc)
                    continue
                self._on_event(event)
        except WsClosed:
            pass
        finally:
            if self._ws is ws:
                self._on_lost(ws.close_code, ws.close_reason or "")

    def _on_event(self, event: fal.Event) -> None:
        if isinstance(event, fal.ResultFrame):
            try:
                out: Output | LCMWidgetsError = Output.model_validate(event.data)
            except ValidationError as exc:
                out = ProtocolError(f"result: not a fast-lcm-diffusion output ({exc})")
            self._answer(event.request_id, out)
        elif isinstance(event, fal.ErrorFrame):
            self.stats.errors += 1
            error = exception_for(event.code, event.reason, event.payload)
            if isinstance(error, ConnectionClosed):  # fal's idle TIMEOUT: the session is over
                log.debug("server ended the session: %s", error)
                self._drop_connection()
                if self.flights.waiting:
                    self._kick()
            else:
                self._answer(event.request_id, error)
        elif isinstance(event, fal.UnauthorizedFrame):
            self.stats.errors += 1
            self.dialer.token.drop()
            self._drop_connection()
            if not self.flights.waiting:
                return
            if self.dialer.can_remint and not self._auth_retried:
                self._auth_retried = True
                self._kick()
            else:
                err = Unauthorized("Unauthorized", "the server refused the credentials; check "
                                   "the API key", payload=event.payload)
                for req in self.flights.clear():
                    settle(req.future, err)
        elif isinstance(event, fal.TimingsFrame):
            self.stats.last_server_timing = event.timing
        else:
            log.debug("skipped a text frame: %r", event.payload)

    def _answer(self, request_id: str | None, outcome: Output | LCMWidgetsError) -> None:
        """Settle the sent request ``request_id`` (None: the oldest) and send what may go."""
        if request_id is None:
            oldest = self.flights.oldest_sent()
            request_id = oldest.request_id if oldest is not None else None
        req = self.flights.finish(request_id) if request_id is not None else None
        if req is None:
            self.stats.dropped += 1
            log.debug("dropped an answer for unknown request %r", request_id)
            return
        self.stats.in_flight = self.flights.sent
        if isinstance(outcome, Output):
            self.stats.received += 1
            self._failures, self._auth_retried = 0, False
            self._delays = backoff(*self._delay_args)
            outcome.timings["round_trip"] = time.perf_counter() - req.t_sent
            if not req.future.done():
                req.future.set_result(outcome)
        else:
            settle(req.future, outcome)
        if self.flights.waiting:
            self._kick()

    def _on_lost(self, code: int | None, reason: str) -> None:
        self._ws = None
        self._last_close = (code, reason)
        lost = self.flights.sent
        log.debug("connection closed (%s %s); %d request(s) in flight", code, reason, lost)
        self._resend_lost()
        if lost:
            self._failures += 1
        if self.flights.waiting:
            self._kick()
