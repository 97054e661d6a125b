"""One engine per consumer (a Studio, a Compare): its pacer and its backend calls, on the library loop.

An :class:`Engine` is the adapter between the sans-I/O :class:`~lcm_widgets.pacing.Pacer` and
the world. Everything it owns lives on the library's asyncio loop (:mod:`.loop`), so there is
no lock around the pacer and no thread of its own:

* **Handlers post, nothing more.** Comm handlers (the kernel's main thread or a subshell
  thread), trait observers and API calls call :meth:`Engine.post_frame`, :meth:`Engine.post_ack`
  and :meth:`Engine.post_params_changed`; each copies nothing more than it was given and posts
  the event with ``loop.call_soon_threadsafe`` (hand-off 1).
* **The loop decides.** The pacer's ``StartRequest`` becomes a task running the consumer's
  ``render(job)`` coroutine (the Studio's is one ``backend.generate``; LocalLCM then runs the
  model on its own thread and wakes the loop when done: hand-offs 2 and 3). Its outcome goes
  back to the pacer, whose ``SendResult`` calls ``deliver(record)`` on the loop (the Sketchpad's
  ``send_result`` is thread-safe). Timers (param debounce, lost-ack timeout) are loop timers.
* **One result-id space.** The engine numbers results; ``deliver`` sends that id to the
  browser, the browser acks it, :meth:`post_ack` hands it back and the pacer matches it.

docs/architecture.md draws this path. Memory stays bounded: frames are kept only while the
pacer may still render them and results only while one is parked or awaits its ack (plus
:attr:`Engine.last_result`).

Two limits are measured here apart from the pacer's own counters: ``max_concurrency`` (the
most ``render`` calls of this engine running at once) and ``max_unacked`` (the most results
delivered and neither acked nor given up at once).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from ..errors import (
    BackendUnavailable,
    ConnectionClosed,
    GenerationFailed,
    InvalidInput,
    LCMWidgetsError,
    RemoteError,
    Superseded,
)
from ..pacing import (
    AckTimedOut,
    Action,
    DropStale,
    Pacer,
    ScheduleTick,
    SendResult,
    ShowStatus,
    StartRequest,
)
from ..stats import StageStats
from .loop import get_loop, running_loop

__all__ = ["Engine", "FrameRecord", "Job", "ResultRecord", "plain_error"]

log = logging.getLogger("lcm_widgets.engine")

V = TypeVar("V")


@dataclass(frozen=True)
class FrameRecord:
    """One input frame as the kernel keeps it (bytes already copied)."""

    key: int
    data: bytes = field(repr=False)
    mime: str
    width: int
    height: int
    received: float  # the engine's clock (monotonic seconds)
    t_input: float | None = None  # browser Date.now() ms of the oldest change, when known
    browser_seq: int | None = None
    reason: str = ""
    mask: bytes | None = field(default=None, repr=False)  # the inpainting mask, when painted


@dataclass(frozen=True)
class Job:
    """A request the pacer started: the frame and a snapshot of the params."""

    frame: FrameRecord
    params: dict[str, Any]
    started: float


@dataclass
class ResultRecord(Generic[V]):
    """What ``render`` produced for a job, numbered ``rid`` (the id the browser acks)."""

    rid: int
    job: Job
    value: V
    finished: float
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def frame(self) -> FrameRecord:
        """The frame this result answers."""
        return self.job.frame


def plain_error(exc: BaseException) -> str:
    """A backend error in plain words for the status line."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, InvalidInput):
        return f"invalid settings: {text}"
    if isinstance(exc, GenerationFailed):
        return f"the model failed: {text}"
    if isinstance(exc, BackendUnavailable):
        return f"backend unavailable: {text}"
    if isinstance(exc, ConnectionClosed):
        return f"lost the connection to the server: {text}"
    if isinstance(exc, RemoteError):
        return f"the server answered with an error: {text}"
    if isinstance(exc, LCMWidgetsError):
        return text
    return f"unexpected {type(exc).__name__}: {text}"


def digest(data: bytes, mask: bytes | None = None) -> str:
    """A short hash of frame bytes and the frame's mask, if any (identical pixels and mask →
    identical digest; a mask painted on an unchanged drawing is a change)."""
    h = hashlib.blake2b(data, digest_size=16)
    if mask is not None:
        h.update(b"\0mask\0")
        h.update(mask)
    return h.hexdigest()


def _quietly(what: str, fn: Callable[..., Any], *args: Any) -> None:
    """Call a consumer's callback; a failure is logged, never raised into the loop."""
    try:
        fn(*args)
    except Exception:
        log.exception("engine: %s raised", what)


class Engine(Generic[V]):
    """Pacing and backend calls of one consumer, on the library loop (see the module docstring).

    ``render(job)``: the coroutine that turns a job into a value (raises for a failed request;
    :class:`~lcm_widgets.errors.Superseded` means "dropped, not failed"). ``deliver(record)``:
    show a result (on the loop); with ``auto_ack`` it counts as shown at once, otherwise the
    browser's ack (:meth:`post_ack` with ``record.rid``) returns the credit. ``params()``: the
    params snapshot a job starts with. ``on_result(record)`` / ``on_error(text)``: told of every
    result as it arrives, and of the error text to show (``""`` clears it).
    """

    def __init__(self, render: Callable[[Job], Awaitable[V]], *,
                 deliver: Callable[[ResultRecord[V]], None] | None = None,
                 params: Callable[[], dict[str, Any]] = dict,
                 on_result: Callable[[ResultRecord[V]], None] | None = None,
                 on_error: Callable[[str], None] | None = None,
                 debounce: float = 0.1, ack_timeout: float = 2.0, auto_ack: bool = False,
                 result_window: int = 2,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.pacer = Pacer(debounce=debounce, ack_timeout=ack_timeout, auto_ack=auto_ack,
                           result_window=result_window)
        self.stats = StageStats()
        self._render, self._deliver, self._params = render, deliver, params
        self._on_result, self._on_error = on_result, on_error
        self._clock = clock
        self._loop = get_loop()
        self._cond = threading.Condition()
        self._keys = itertools.count(1)
        self._rids = itertools.count(1)
        self._posted = 0  # events posted and not yet handled on the loop
        self._idle = True
        self._closed = False
        # loop-side state
        self._frames: dict[int, FrameRecord] = {}
        self._results: dict[int, ResultRecord[V]] = {}
        self._task: asyncio.Task[None] | None = None
        self._tick: asyncio.TimerHandle | None = None
        self._tick_at: float | None = None
        self._unacked: set[int] = set()
        self._running = 0
        self.max_concurrency = 0
        self.max_unacked = 0
        self.last_result: ResultRecord[V] | None = None
        self.last_error: tuple[int, BaseException] | None = None

    # ------------------------------------------------------------------ any thread
    def post_frame(self, data: bytes, *, mime: str, width: int, height: int,
                   t_input: float | None = None, browser_seq: int | None = None,
                   reason: str = "", mask: bytes | None = None) -> int:
        """Hand a frame (bytes already copied) to the engine, with its inpainting mask if it
        has one; returns its key.

        Raises RuntimeError after :meth:`close`.
        """
        with self._cond:
            if self._closed:
                raise RuntimeError("engine: closed; it renders no more frames")
            rec = FrameRecord(next(self._keys), data, mime, width, height, self._clock(),
                              t_input, browser_seq, reason, mask)
            self._post_locked(self._frame_in, rec)
        return rec.key

    def post_ack(self, rid: int | None, t_paint: float | None = None) -> None:
        """The browser painted (at ``t_paint``, epoch ms) or dropped (``t_paint`` None) result
        ``rid``; None stands for "the result you are waiting for" (a browser that sent no id)."""
        with self._cond:
            if not self._closed:
                self._post_locked(self._ack_in, rid, t_paint)

    def post_params_changed(self) -> None:
        """The params changed: re-render the newest frame after the debounce."""
        with self._cond:
            if not self._closed:
                self._post_locked(self._params_in)

    def _post_locked(self, fn: Callable[..., None], *args: Any) -> None:
        self._posted += 1
        self._idle = False
        if self._on_loop():  # a direct-channel frame or ack: no need to wake the loop
            self._loop.call_soon(self._handle, fn, args)
        else:
            self._loop.call_soon_threadsafe(self._handle, fn, args)

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    @property
    def idle(self) -> bool:
        """True when nothing is posted, in flight, pending or waiting for its debounce."""
        with self._cond:
            return self._idle

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until :attr:`idle`; False on timeout. Not on the library loop itself."""
        self._not_on_loop("wait_idle")
        with self._cond:
            return self._cond.wait_for(lambda: self._idle or self._closed, timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Render nothing more. A request already running finishes (its result is not shown);
        from outside the loop, wait up to ``timeout`` seconds for it. Safe to call twice."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        self._loop.call_soon_threadsafe(self._cancel_tick)
        if not self._on_loop():
            with self._cond:
                self._cond.wait_for(lambda: self._task is None, timeout)

    def _on_loop(self) -> bool:
        return running_loop() is self._loop

    def _not_on_loop(self, what: str) -> None:
        if self._on_loop():
            raise RuntimeError(f"{what}() called on the lcm-widgets loop, where it would wait "
                               "on itself")

    # ------------------------------------------------------------------ the loop
    def _handle(self, fn: Callable[..., None], args: tuple[Any, ...]) -> None:
        try:
            if not self._closed:
                fn(*args)
        finally:
            with self._cond:
                self._posted -= 1
            self._settle()

    def _frame_in(self, rec: FrameRecord) -> None:
        self._frames[rec.key] = rec
        self._apply(self.pacer.frame_arrived(rec.key, digest(rec.data, rec.mask)))

    def _params_in(self) -> None:
        self._apply(self.pacer.params_changed(self._clock()))

    def _ack_in(self, rid: int | None, t_paint: float | None) -> None:
        if rid is None:
            rid = self.pacer.awaiting_rid
            if rid is None:
                return
        self._unacked.discard(rid)
        rec = self._results.get(rid) if rid in self.pacer.unacked else None
        if rec is not None and t_paint is not None and rec.frame.t_input is not None:
            self.stats.add("e2e", t_paint - rec.frame.t_input)
        self._apply(self.pacer.result_acked(rid, self._clock()))

    def _apply(self, actions: list[Action]) -> None:
        """Carry out the pacer's actions, in order."""
        for a in actions:
            if isinstance(a, StartRequest):
                job = Job(self._frames[a.key], self._params(), self._clock())
                self._task = self._loop.create_task(self._run(job))
            elif isinstance(a, SendResult):
                self._send(self._results[a.rid])
            elif isinstance(a, ShowStatus):
                if self._on_error is not None:
                    _quietly("on_error", self._on_error, a.text)
            elif isinstance(a, DropStale):
                if a.rid is not None:
                    self._results.pop(a.rid, None)
            elif isinstance(a, AckTimedOut):
                self._unacked.discard(a.rid)
            elif isinstance(a, ScheduleTick):
                self._schedule_tick(a.at)
        self._prune()

    def _send(self, rec: ResultRecord[V]) -> None:
        t0 = self._clock()
        if self._deliver is not None:
            _quietly("deliver", self._deliver, rec)
        now = self._clock()
        self.stats.add("deliver", (now - t0) * 1000)
        self.stats.add("kernel", (now - rec.frame.received) * 1000)
        self.stats.result_at(now)
        if not self.pacer.auto_ack:
            self._unacked.add(rec.rid)
            self.max_unacked = max(self.max_unacked, len(self._unacked))

    async def _run(self, job: Job) -> None:
        key = job.frame.key
        self._running += 1
        self.max_concurrency = max(self.max_concurrency, self._running)
        t0 = self._clock()
        self.stats.add("queue", (t0 - job.frame.received) * 1000)
        try:
            value = await self._render(job)
        except Superseded as exc:
            actions = self.pacer.request_dropped(key, str(exc) or "superseded")
        except Exception as exc:
            self.last_error = (key, exc)
            actions = self.pacer.backend_error(key, plain_error(exc))
        else:
            t1 = self._clock()
            self.stats.add("generate", (t1 - t0) * 1000)
            timings = {"queue": round((t0 - job.frame.received) * 1000, 1),
                       "generate": round((t1 - t0) * 1000, 1)}
            rec = ResultRecord(next(self._rids), job, value, t1, timings)
            self._results[rec.rid] = rec
            self.last_result = rec
            if self._on_result is not None and not self._closed:
                _quietly("on_result", self._on_result, rec)
            actions = self.pacer.result_arrived(key, rec.rid, t1)
        finally:
            self._running -= 1
        with self._cond:
            self._task = None
        if not self._closed:
            self._apply(actions)
        self._settle()

    def _schedule_tick(self, at: float) -> None:
        if self._tick is not None and self._tick_at is not None and self._tick_at <= at:
            return
        self._cancel_tick()
        self._tick_at = at
        self._tick = self._loop.call_later(max(0.0, at - self._clock()), self._on_tick)

    def _cancel_tick(self) -> None:
        if self._tick is not None:
            self._tick.cancel()
        self._tick = self._tick_at = None

    def _on_tick(self) -> None:
        self._tick = self._tick_at = None
        if not self._closed:
            self._apply(self.pacer.tick(self._clock()))
        self._settle()

    def _prune(self) -> None:
        p = self.pacer
        keep = {p.in_flight, p.pending, p.newest_key}
        for key in [k for k in self._frames if k not in keep]:
            del self._frames[key]
        keep_rids = {*p.unacked, p.result_slot[1] if p.result_slot else None}
        for rid in [r for r in self._results if r not in keep_rids]:
            del self._results[rid]

    def _settle(self) -> None:
        """Recompute :attr:`idle` and wake whoever waits for it."""
        p = self.pacer
        with self._cond:
            self._idle = (self._posted == 0 and self._task is None and not p.busy
                          and not p.rerender_pending)
            self._cond.notify_all()

