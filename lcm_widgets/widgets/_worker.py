"""The Studio's engine: the pacer, under a lock, plus one worker thread that owns the backend.

Threads (DESIGN.md §3):

* **Handlers** (comm messages, trait observers, API calls; maybe a kernel subshell thread)
  call :meth:`Engine.submit_frame`, :meth:`Engine.ack`, :meth:`Engine.params_changed`. They
  copy bytes, feed the pacer under the lock and return at once.
* **The worker thread** waits for a :class:`Job` (the pacer's ``StartRequest``), runs
  ``backend.generate`` (one at a time) on the library's loop (:func:`lcm_widgets._loop.run_sync`,
  as Compare and ``generate_sync`` do, so a backend shared with them has one loop and an async
  backend's background tasks keep running between frames), feeds the outcome back to the pacer
  and delivers results itself through the ``deliver`` callback. It also runs the pacer's
  scheduled ticks (param debounce, lost-ack timeout).

Side effects (delivering a result, showing an error) run outside the lock, in whichever thread
caused them.

Memory stays bounded: frames are kept only while the pacer may still render them, results only
while one is parked or awaits its ack (plus the newest), and a result whose ack the pacer gave
up on (:class:`~lcm_widgets.pacing.AckTimedOut`: no view, a reloaded page) is forgotten at once.

Two limits are also measured here, apart from the pacer's own counters:
``backend_max_concurrency`` (the most ``backend.generate`` calls of this engine running at once,
counted inside the coroutine on the loop) and ``max_unacked`` (the most results delivered to the
browser and neither acked nor given up at once).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..runtime.loop import run_sync
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
from ..schema import Input, Output
from ._stats import StageStats

__all__ = ["Engine", "FrameRecord", "Job", "ResultRecord", "plain_error"]

#: Hard caps on the ack bookkeeping (the pacer keeps one result awaiting its ack; these only
#: bound memory should a view misbehave).
MAX_UNACKED = 8
MAX_EARLY_ACKS = 16


@dataclass
class FrameRecord:
    """One input frame as the kernel keeps it (bytes already copied)."""

    key: int
    data: bytes
    mime: str
    width: int
    height: int
    received: float  # monotonic seconds
    t_input: float | None = None  # browser Date.now() ms of the input event, when known
    browser_seq: int | None = None
    reason: str = ""


@dataclass
class Job:
    """A request the pacer started: the frame and a snapshot of the params."""

    frame: FrameRecord
    params: dict[str, Any]
    started: float


@dataclass
class ResultRecord:
    """One generated result, before and after delivery."""

    rid: int
    frame: FrameRecord
    params: dict[str, Any]
    output: Output
    data: bytes
    mime: str
    width: int
    height: int
    timings_ms: dict[str, float] = field(default_factory=dict)
    finished: float = 0.0
    sent_seq: int | None = None  # the browser seq it was sent as (set by ``deliver``)


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


def digest(data: bytes) -> str:
    """A short hash of frame bytes (identical pixels → identical digest)."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


class Engine:
    """Pacer + worker thread for one backend. See the module docstring for the threads.

    ``make_input(job)`` turns a job into an :class:`Input` (may raise InvalidInput);
    ``deliver(result)`` sends a result to the browser and returns the browser's result id to
    wait an ack for, or None when nothing will ack it (the result counts as shown at once);
    ``on_error(text)`` shows or clears (``""``) the error; ``on_result(result)`` is told of
    every result as it arrives (history, stats), in the worker thread.
    """

    def __init__(self, backend: Any, *, make_input: Callable[[Job], Input],
                 deliver: Callable[[ResultRecord], int | None],
                 on_error: Callable[[str], None],
                 on_result: Callable[[ResultRecord], None],
                 debounce: float = 0.1, ack_timeout: float = 2.0,
                 clock: Callable[[], float] = time.monotonic, name: str = "studio") -> None:
        self.backend = backend
        self.pacer = Pacer(debounce=debounce, ack_timeout=ack_timeout)
        self.stats = StageStats()
        self._make_input = make_input
        self._deliver = deliver
        self._on_error = on_error
        self._on_result = on_result
        self._clock = clock
        self._cond = threading.Condition()
        self._frames: dict[int, FrameRecord] = {}
        self._results: dict[int, ResultRecord] = {}
        self._acks: dict[int, ResultRecord] = {}  # browser result id → result awaiting ack
        self._early: dict[int, float | None] = {}  # acks that beat deliver() returning
        self._given_up: dict[int, None] = {}  # results timed out before deliver() returned
        self._last_browser_rid = 0
        self._job: Job | None = None
        self._next_tick: float | None = None
        self._closed = False
        self._key = 0
        self._rid = 0
        self._active = 0
        self._in_backend = 0  # touched on the library loop only
        self.backend_max_concurrency = 0  # most generate() calls of ours running at once
        self.max_unacked = 0  # most results delivered and neither acked nor given up at once
        self.last_error: tuple[int, BaseException] | None = None
        self.last_result: ResultRecord | None = None
        self.snapshot_params: Callable[[], dict[str, Any]] = dict
        self._thread = threading.Thread(target=self._run, name=f"lcm-{name}-worker",
                                        daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ handler side
    def submit_frame(self, data: bytes, *, mime: str, width: int, height: int,
                     t_input: float | None = None, browser_seq: int | None = None,
                     reason: str = "") -> int:
        """Hand a frame (bytes already copied) to the pacer; returns its key."""
        now = self._clock()
        with self._cond:
            self._key += 1
            rec = FrameRecord(self._key, data, mime, width, height, now, t_input, browser_seq,
                              reason)
            self._frames[rec.key] = rec
            effects = self._apply(self.pacer.frame_arrived(rec.key, digest(data), now))
        self._run_effects(effects)
        return rec.key

    def params_changed(self) -> None:
        """The params changed: re-render the newest frame after the debounce."""
        with self._cond:
            effects = self._apply(self.pacer.params_changed(self._clock()))
        self._run_effects(effects)

    def ack(self, rid: int | None, t_paint: float | None = None, *,
            seq: int | None = None) -> None:
        """The browser painted (at ``t_paint``) or dropped (``t_paint`` None) result ``rid``
        (the browser's result id); without a rid, the newest result sent as browser frame
        ``seq``. An ack for a result the pacer gave up on is ignored."""
        with self._cond:
            if rid is None:
                rid = max((r for r, rec in self._acks.items() if rec.sent_seq == seq),
                          default=None)
                if rid is None:
                    return
            rec = self._acks.pop(rid, None)
            if rec is None:
                if rid > self._last_browser_rid:  # it beat deliver() returning
                    _bounded_put(self._early, rid, t_paint, MAX_EARLY_ACKS)
                return  # else a late ack for a result given up on: nothing waits for it
            effects = self._acked(rec, t_paint)
        self._run_effects(effects)

    def _acked(self, rec: ResultRecord, t_paint: float | None) -> list[Callable[[], None]]:
        """Under the lock: the browser acked ``rec``; a painted one counts for stroke→pixels."""
        if t_paint is not None and rec.frame.t_input is not None:
            self.stats.add("e2e", t_paint - rec.frame.t_input)
        return self._apply(self.pacer.result_acked(rec.frame.key, self._clock(), rec.rid))

    @property
    def unacked(self) -> int:
        """Results delivered to the browser and neither acked nor given up, now."""
        return len(self._acks)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until nothing is in flight or pending; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self.pacer.busy or self._job is not None or self._active:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Stop the worker thread (the running request, if any, finishes first)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    @property
    def closed(self) -> bool:
        return self._closed

    # ------------------------------------------------------------------ pacer actions
    def _apply(self, actions: list[Action]) -> list[Callable[[], None]]:
        """Carry out state changes (under the lock); return side effects to run after it."""
        effects: list[Callable[[], None]] = []
        for a in actions:
            if isinstance(a, StartRequest):
                frame = self._frames[a.key]
                self._job = Job(frame, self.snapshot_params(), self._clock())
                self._cond.notify_all()
            elif isinstance(a, SendResult):
                rec = self._results[a.rid]
                effects.append(lambda rec=rec: self._send(rec))  # type: ignore[misc]
            elif isinstance(a, ShowStatus):
                effects.append(lambda text=a.text: self._on_error(text))  # type: ignore[misc]
            elif isinstance(a, DropStale):
                if a.rid is not None:
                    self._results.pop(a.rid, None)
            elif isinstance(a, AckTimedOut):
                lost = [r for r, rec in self._acks.items() if rec.rid == a.rid]
                for r in lost:
                    del self._acks[r]
                if not lost:  # deliver() has not returned yet: _send must not keep it
                    _bounded_put(self._given_up, a.rid, None, MAX_UNACKED)
            elif isinstance(a, ScheduleTick) and (self._next_tick is None
                                                  or a.at < self._next_tick):
                self._next_tick = a.at
                self._cond.notify_all()
        self._prune()
        return effects

    def _prune(self) -> None:
        keep = {self.pacer.in_flight, self.pacer.pending, self.pacer.newest_key}
        for key in [k for k in self._frames if k not in keep]:
            del self._frames[key]
        slot = self.pacer.result_slot
        keep_rids = {rec.rid for rec in self._acks.values()} | ({slot[1]} if slot else set())
        for rid in [r for r in self._results if r not in keep_rids]:
            if self._results[rid] is not self.last_result:
                del self._results[rid]

    def _run_effects(self, effects: list[Callable[[], None]]) -> None:
        for effect in effects:
            effect()

    def _send(self, rec: ResultRecord) -> None:
        t0 = self._clock()
        browser_rid = self._deliver(rec)
        now = self._clock()
        self.stats.add("deliver", (now - t0) * 1000)
        self.stats.add("kernel", (now - rec.frame.received) * 1000)
        self.stats.result_at(now)
        effects: list[Callable[[], None]] = []
        with self._cond:
            if browser_rid is None:  # nothing will ack: count it as shown now
                effects = self._apply(self.pacer.result_acked(rec.frame.key, now, rec.rid))
            else:
                self._last_browser_rid = max(self._last_browser_rid, browser_rid)
                if rec.rid in self._given_up:
                    del self._given_up[rec.rid]
                    self._early.pop(browser_rid, None)
                elif browser_rid in self._early:
                    effects = self._acked(rec, self._early.pop(browser_rid))
                else:
                    _bounded_put(self._acks, browser_rid, rec, MAX_UNACKED)
                    self.max_unacked = max(self.max_unacked, len(self._acks))
        self._run_effects(effects)

    # ------------------------------------------------------------------ worker thread
    def _run(self) -> None:
        while True:
            with self._cond:
                job = self._wait_for_work()
                if job is None and self._closed:
                    return
                if job is not None:
                    self._job = None
                    self._active += 1
            if job is None:
                self._tick()
            else:
                self._generate(job)

    def _wait_for_work(self) -> Job | None:
        """Under the lock: the next job, or None when a tick is due or the engine closed."""
        while not self._closed and self._job is None:
            if self._next_tick is not None:
                left = self._next_tick - self._clock()
                if left <= 0:
                    return None
                self._cond.wait(left)
            else:
                self._cond.wait()
        return self._job

    def _tick(self) -> None:
        with self._cond:
            self._next_tick = None
            effects = self._apply(self.pacer.tick(self._clock()))
        self._run_effects(effects)

    async def _call_backend(self, inp: Input) -> Output:
        """``backend.generate(inp)``, counting how many of our calls run at once (on the loop)."""
        self._in_backend += 1
        self.backend_max_concurrency = max(self.backend_max_concurrency, self._in_backend)
        try:
            return await self.backend.generate(inp)  # type: ignore[no-any-return]
        finally:
            self._in_backend -= 1

    def _generate(self, job: Job) -> None:
        key = job.frame.key
        t0 = self._clock()
        self.stats.add("queue", (t0 - job.frame.received) * 1000)
        try:
            inp = self._make_input(job)
            output = run_sync(self._call_backend(inp))
            image = output.images[0]
            data = image.data()
        except Superseded as exc:
            why = str(exc) or "superseded by a newer request"
            self._finish(lambda now: self.pacer.request_dropped(key, why, now))
            return
        except Exception as exc:
            self.last_error = (key, exc)
            text = plain_error(exc)
            self._finish(lambda now: self.pacer.backend_error(key, text, now))
            return
        t1 = self._clock()
        self.stats.add("generate", (t1 - t0) * 1000)
        timings = {"queue": round((t0 - job.frame.received) * 1000, 1),
                   "generate": round((t1 - t0) * 1000, 1)}
        for stage, seconds in output.timings.items():
            timings[f"model_{stage}"] = round(seconds * 1000, 1)
        params = dict(job.params)
        params["seed"] = output.seed
        with self._cond:
            self._rid += 1
            rid = self._rid
        rec = ResultRecord(rid, job.frame, params, output, data,
                           image.content_type or "image/jpeg",
                           image.width or job.frame.width, image.height or job.frame.height,
                           timings, t1)
        self.last_result = rec
        self._on_result(rec)
        with self._cond:
            self._results[rid] = rec
        self._finish(lambda now: self.pacer.result_arrived(key, rid, now))

    def _finish(self, event: Callable[[float], list[Action]]) -> None:
        with self._cond:
            self._active -= 1
            effects = self._apply(event(self._clock()))
            self._cond.notify_all()
        self._run_effects(effects)


def _bounded_put(d: dict[int, Any], key: int, value: Any, limit: int) -> None:
    """``d[key] = value``, dropping the oldest entries beyond ``limit``."""
    d[key] = value
    while len(d) > limit:
        del d[next(iter(d))]
