"""The sans-I/O pacer: which frame to render next, and when to show which result.

The pacer is a plain state machine. Its adapter, :class:`~lcm_widgets.runtime.engine.Engine`
(one per Studio or Compare), feeds it *events* and carries out the *actions* it returns; it
has no clock, no threads, no asyncio and no widgets, so every rule below is tested by feeding
event sequences (see ``tests/test_pacing.py``). Times are passed in as seconds (any monotonic
clock). docs/architecture.md shows where it sits on a frame's path.

Rules:

* **One request in flight.** :class:`StartRequest` is returned only when nothing is in flight.
* **One pending slot, newest wins.** A frame that arrives while a request runs waits in the
  pending slot; a newer frame replaces it and the older is dropped (:class:`DropStale`).
* **Skip the unchanged.** A frame whose digest (pixels) and params version equal those of the
  newest request already made (pending, in flight, or last finished) starts nothing.
* **A result window, then one result slot.** At most ``result_window`` results (2 by default)
  are out at the browser unacked: the browser may decode and paint one while the next one
  travels. A result that finds the window full waits in the result slot, and a newer one
  replaces it. Result ids are the adapter's, one id space end to end (the browser acks the
  id it was sent). A result older than the newest one sent is never sent: requests start in
  frame order and one at a time, so results arrive in order and the slot keeps the newest
  (the tests check that sent frame keys never go back; the browser drops one that arrives
  after a newer one was painted, and acks it as dropped). Acks are matched by result id: an
  ack for another result (a late one, or one the pacer no longer waits for) changes nothing.
  An ack that never comes (no view, a reloaded page) is given up after ``ack_timeout``
  seconds so nothing stalls: :class:`AckTimedOut` tells the adapter to forget that result.
  With ``auto_ack`` (a consumer whose results are shown as they arrive, such as the Compare
  grid) a sent result counts as acked at once: nothing waits and no ack timer runs.
* **Param edits re-render the newest frame** after ``debounce`` seconds of quiet
  (:class:`ScheduleTick` asks the adapter to call :meth:`Pacer.tick` then); a new frame
  arriving meanwhile already carries the new params, so the re-render is dropped.
* **Errors are shown and the session goes on**: :meth:`Pacer.backend_error` frees the slot,
  returns :class:`ShowStatus` with the message, and the next frame starts as usual; the next
  good result clears the message.

Frame keys are increasing integers chosen by the adapter (the Studio numbers every frame it
receives, from the browser, an ipycanvas or :meth:`~lcm_widgets.widgets.studio.Studio.submit_image`).

The ``max_in_flight``, ``max_pending`` and ``max_result_slot`` counters are high-water marks of
event accounting (requests started minus requests finished; frames put in the pending slot
minus frames taken out or dropped; results parked minus results sent or dropped), not of the
slots' occupancy, so a bug that overwrote a slot would show up as 2. The Studio also measures
the same limits outside the pacer (``backend_max_concurrency``, ``max_unacked_results``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "AckTimedOut",
    "Action",
    "DropStale",
    "Pacer",
    "PacerCounters",
    "ScheduleTick",
    "SendResult",
    "ShowStatus",
    "StartRequest",
]


@dataclass(frozen=True)
class StartRequest:
    """Run the backend on frame ``key`` with the params of ``params_version``."""

    key: int
    params_version: int


@dataclass(frozen=True)
class SendResult:
    """Send result ``rid`` (answering frame ``key``) to the browser."""

    key: int
    rid: int


@dataclass(frozen=True)
class ShowStatus:
    """Show ``text`` as the error part of the status line (``""`` clears it)."""

    text: str


@dataclass(frozen=True)
class DropStale:
    """Frame or result ``key`` will never be rendered/shown; ``why`` says so in words."""

    key: int
    why: str
    rid: int | None = None


@dataclass(frozen=True)
class AckTimedOut:
    """The browser did not ack result ``rid`` (for frame ``key``) within ``ack_timeout``: stop
    waiting for it and forget it (a late ack for it changes nothing)."""

    key: int
    rid: int


@dataclass(frozen=True)
class ScheduleTick:
    """Call :meth:`Pacer.tick` at time ``at`` (or later)."""

    at: float


Action = StartRequest | SendResult | ShowStatus | DropStale | ScheduleTick | AckTimedOut


@dataclass
class PacerCounters:
    """What happened so far; tests and ``Studio.stats`` read these."""

    frames_in: int = 0
    started: int = 0
    completed: int = 0
    errors: int = 0
    results_sent: int = 0
    acked: int = 0
    ack_timeouts: int = 0
    skipped: int = 0
    dropped_frames: int = 0
    dropped_results: int = 0
    rerenders: int = 0
    max_in_flight: int = 0
    max_pending: int = 0
    max_result_slot: int = 0

    @property
    def dropped(self) -> int:
        """Frames and results dropped as stale."""
        return self.dropped_frames + self.dropped_results

    def as_dict(self) -> dict[str, int]:
        """All counters (and ``dropped``) as a plain dict."""
        out = dict(self.__dict__)
        out["dropped"] = self.dropped
        return out


Signature = tuple[str, int]  # (pixel digest, params version)


@dataclass
class Pacer:
    """Decides what to render and what to show; see the module docstring for the rules.

    ``debounce``: seconds of quiet after a param edit before the newest frame is re-rendered.
    ``ack_timeout``: seconds to wait for the browser's ack of a sent result before giving it
    up. ``auto_ack``: every sent result counts as acked at once. ``result_window``: the most
    results sent and not yet acked (1: each result waits for the ack of the one before).
    """

    debounce: float = 0.1
    ack_timeout: float = 2.0
    auto_ack: bool = False
    result_window: int = 2
    counters: PacerCounters = field(default_factory=PacerCounters)

    # state (read-only for adapters)
    params_version: int = 0
    newest_key: int | None = None
    newest_digest: str | None = None
    in_flight: int | None = None
    pending: int | None = None
    shown_key: int | None = None
    #: results sent and not yet acked: rid → (frame key, time sent), oldest first
    unacked: dict[int, tuple[int, float]] = field(default_factory=dict)
    result_slot: tuple[int, int] | None = None

    _in_flight_sig: Signature | None = None
    _pending_sig: Signature | None = None
    _done_sig: Signature | None = None
    _rerender_at: float | None = None
    _error_shown: bool = False
    # event accounting behind the max_* counters (see the module docstring)
    _n_in_flight: int = 0
    _n_pending: int = 0
    _n_slot: int = 0

    def __post_init__(self) -> None:
        if self.debounce < 0:
            raise ValueError(f"debounce: must be at least 0 seconds, got {self.debounce}")
        if self.ack_timeout <= 0:
            raise ValueError(f"ack_timeout: must be more than 0 seconds, got {self.ack_timeout}")
        window = self.result_window
        if isinstance(window, bool) or not isinstance(window, int) or not 1 <= window <= 16:
            raise ValueError(f"result_window: must be a whole number from 1 to 16, got {window!r}")

    @property
    def awaiting_rid(self) -> int | None:
        """The oldest result sent and not yet acked (None: none)."""
        return next(iter(self.unacked), None)

    @property
    def awaiting_ack(self) -> int | None:
        """The frame key of :attr:`awaiting_rid`."""
        rid = self.awaiting_rid
        return None if rid is None else self.unacked[rid][0]

    # ------------------------------------------------------------------ events
    def frame_arrived(self, key: int, digest: str) -> list[Action]:
        """A new frame ``key`` (pixels hashed to ``digest``) arrived."""
        self.counters.frames_in += 1
        if self.newest_key is not None and key <= self.newest_key:
            self.counters.dropped_frames += 1
            return [DropStale(key, f"frame {key} arrived after frame {self.newest_key}")]
        self.newest_key, self.newest_digest = key, digest
        # This frame is rendered with the newest params: a re-render due for an edit made
        # before it would only repeat it (or, after an error, repeat the error).
        self._rerender_at = None
        return self._want((digest, self.params_version), key)

    def params_changed(self, now: float) -> list[Action]:
        """The generation params changed at ``now``; re-render after the debounce."""
        self.params_version += 1
        self._rerender_at = now + self.debounce
        return [ScheduleTick(self._rerender_at)]

    def tick(self, now: float) -> list[Action]:
        """Time passed: run a due param re-render, give up on a lost ack."""
        actions: list[Action] = []
        lost = [(rid, key) for rid, (key, sent_at) in self.unacked.items()
                if now - sent_at >= self.ack_timeout]
        for rid, key in lost:
            self.counters.ack_timeouts += 1
            actions.append(AckTimedOut(key, rid))
            actions += self._acked(rid, now)
        if self.unacked:
            due = ScheduleTick(min(t for _, t in self.unacked.values()) + self.ack_timeout)
            if due not in actions:  # a result sent just now scheduled it already
                actions.append(due)
        if self._rerender_at is not None:
            if now < self._rerender_at:
                actions.append(ScheduleTick(self._rerender_at))
            else:
                self._rerender_at = None
                if self.newest_key is not None and self.newest_digest is not None:
                    self.counters.rerenders += 1
                    actions += self._want((self.newest_digest, self.params_version),
                                          self.newest_key)
        return actions

    def result_arrived(self, key: int, rid: int, now: float) -> list[Action]:
        """The in-flight request for frame ``key`` produced result ``rid``."""
        self._finish(key)
        self.counters.completed += 1
        self._done_sig = self._in_flight_sig
        actions: list[Action] = []
        if self._error_shown:
            self._error_shown = False
            actions.append(ShowStatus(""))
        if len(self.unacked) >= self.result_window:
            if self.result_slot is not None:
                old_key, old_rid = self.result_slot
                self._n_slot -= 1
                self.counters.dropped_results += 1
                actions.append(DropStale(old_key, f"result {old_rid} replaced by result {rid} "
                                                  "before the browser was ready", old_rid))
            self.result_slot = (key, rid)
            self._n_slot += 1
            self.counters.max_result_slot = max(self.counters.max_result_slot, self._n_slot)
        else:
            actions += self._send(key, rid, now)
        return actions + self._start_pending()

    def backend_error(self, key: int, error: str) -> list[Action]:
        """The in-flight request for frame ``key`` failed with the plain-words ``error``."""
        self._finish(key)
        self.counters.errors += 1
        self._done_sig = None  # the same frame may be retried
        self._error_shown = True
        return [ShowStatus(error), *self._start_pending()]

    def request_dropped(self, key: int, why: str) -> list[Action]:
        """The in-flight request for frame ``key`` ended without a result and without an error
        (for example :class:`~lcm_widgets.errors.Superseded` from a newest-wins backend)."""
        self._finish(key)
        self.counters.dropped_frames += 1
        return [DropStale(key, why), *self._start_pending()]

    def result_acked(self, rid: int, now: float) -> list[Action]:
        """The browser painted (or dropped) result ``rid``. An ack for any other result (a late
        one, a second view's, one given up on) changes nothing."""
        if rid not in self.unacked:
            return []
        return self._acked(rid, now)

    # ------------------------------------------------------------------ helpers
    @property
    def busy(self) -> bool:
        """True while a request is in flight or waiting."""
        return self.in_flight is not None or self.pending is not None

    @property
    def rerender_pending(self) -> bool:
        """True while a param edit waits for its debounced re-render."""
        return self._rerender_at is not None

    def _want(self, sig: Signature, key: int) -> list[Action]:
        """Make sure the newest frame ``key`` with ``sig`` ends up rendered."""
        if self.in_flight is not None and sig == self._in_flight_sig:
            actions = self._drop_pending(key, f"frame {key} matches the request in flight")
            self.counters.skipped += 1
            return actions
        if self.pending is not None:
            if sig == self._pending_sig:
                self.counters.skipped += 1
                return []
        elif self.in_flight is None and sig == self._done_sig:
            self.counters.skipped += 1
            return []
        if self.in_flight is None:
            return [self._start(key, sig)]
        actions = self._drop_pending(key, f"frame {key} arrived while it waited")
        self.pending, self._pending_sig = key, sig
        self._n_pending += 1
        self.counters.max_pending = max(self.counters.max_pending, self._n_pending)
        return actions

    def _drop_pending(self, new_key: int, why: str) -> list[Action]:
        if self.pending is None:
            return []
        key, self.pending, self._pending_sig = self.pending, None, None
        self._n_pending -= 1
        if key == new_key:  # a param re-render of the same frame: nothing is lost
            return []
        self.counters.dropped_frames += 1
        return [DropStale(key, why)]

    def _start(self, key: int, sig: Signature) -> StartRequest:
        self.in_flight, self._in_flight_sig = key, sig
        self.counters.started += 1
        self._n_in_flight += 1
        self.counters.max_in_flight = max(self.counters.max_in_flight, self._n_in_flight)
        return StartRequest(key, sig[1])

    def _start_pending(self) -> list[Action]:
        if self.pending is None or self._pending_sig is None:
            return []
        key, sig = self.pending, self._pending_sig
        self.pending = self._pending_sig = None
        self._n_pending -= 1
        return [self._start(key, sig)]

    def _finish(self, key: int) -> None:
        if self.in_flight != key:
            raise ValueError(f"key: no request in flight for frame {key} "
                             f"(in flight: {self.in_flight})")
        self.in_flight = None
        self._n_in_flight -= 1

    def _send(self, key: int, rid: int, now: float) -> list[Action]:
        self.shown_key = key
        self.counters.results_sent += 1
        if self.auto_ack:
            self.counters.acked += 1
            return [SendResult(key, rid)]
        self.unacked[rid] = (key, now)
        return [SendResult(key, rid), ScheduleTick(now + self.ack_timeout)]

    def _acked(self, rid: int, now: float) -> list[Action]:
        del self.unacked[rid]
        self.counters.acked += 1
        if self.result_slot is None:
            return []
        (key, rid), self.result_slot = self.result_slot, None
        self._n_slot -= 1
        return self._send(key, rid, now)
