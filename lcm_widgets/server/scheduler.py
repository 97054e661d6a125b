"""The single model worker: one generation at a time, shared fairly.

Work arrives on **lanes**. Each realtime session is one lane, a bounded deque that drops its
oldest frame when full (``max_buffering``); all REST and queue jobs share one FIFO lane. One
worker task serves lanes round-robin: it takes the oldest item of the next lane that has work,
runs it, and puts the lane back at the end of the ring if it still has work. So N flooding
sessions each get 1/N of the model, and HTTP jobs get one turn per round: nobody starves.

With ``batch=True`` and a backend that can batch (:class:`~..backends.base.BatchingBackend`,
``info.batch_limit > 1``), the worker also takes the head item of the following lanes when the
backend's batch rule says it may share a call with the first (equal
:meth:`~..backends.base.BackendInfo.batch_key`) and runs them as one ``generate_batch`` call,
up to ``info.batch_limit`` *images* (the sum of ``num_images``). That is the same rule LocalLCM
and the Compare planner use: frames of different sessions batch whenever the backend could
batch them itself (image-to-image frames with different sources included, when the source
image is one of its ``batch_axes``). :attr:`Scheduler.batch_sizes` counts the model calls by
the number of requests in them (``/health`` shows it).

The worker never runs model code on the event loop itself: backends' ``generate`` is async
(LocalLCM offloads to its own thread); a backend whose ``generate`` is a plain function is
called through :func:`asyncio.to_thread`.

With ``generation_timeout`` set, a generation (or batch) that takes longer is answered with
:class:`~lcm_widgets.errors.GenerationTimeout` and the worker moves on to the next lane, so a
stuck model turns into errors its clients can see instead of requests that never end. The
backend's own work is cancelled where it can be (a coroutine); a model already running on a
thread (LocalLCM) finishes in the background, and the next generation waits for it there.
:meth:`Scheduler.abort` does the same for a running item whose client cancelled it (a queue
cancel, a sync client that hung up), so a hung generation never holds the worker longer than
its client wants it.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from ..backends.base import Backend, StepPreview
from ..errors import GenerationFailed, GenerationTimeout
from ..schema import Input, Output

__all__ = ["Lane", "Scheduler", "WorkItem"]

log = logging.getLogger("lcm_widgets.server")

_UNKEYED: Any = object()  # WorkItem.key not computed yet


@dataclass(eq=False)
class WorkItem:
    """One generation to run. ``deliver`` gets the Output or the exception (on the loop)."""

    inp: Input
    deliver: Callable[[Output | BaseException, float], None]
    on_start: Callable[[], None] | None = None
    #: Wants the backend's step previews (``/stream``): it then runs alone, through
    #: ``generate_with_previews`` when the backend has it.
    on_preview: Callable[[StepPreview], None] | None = None
    enqueued_at: float = field(default_factory=time.perf_counter)
    key: Hashable | None = field(default=_UNKEYED, repr=False)  # its batch key, once read


class Lane:
    """A source of work: a realtime session (``maxlen`` = its max_buffering) or the job FIFO."""

    def __init__(self, name: str, maxlen: int | None = None) -> None:
        self.name = name
        self.items: deque[WorkItem] = deque(maxlen=maxlen)
        self.in_ring = False
        self.dropped = 0
        self.closed = False

    def __repr__(self) -> str:
        return f"Lane({self.name!r}, pending={len(self.items)})"


class Scheduler:
    """Round-robin over lanes, one generation (or one batch) at a time."""

    def __init__(self, backend: Backend, *, batch: bool = False,
                 generation_timeout: float | None = None) -> None:
        if generation_timeout is not None and not generation_timeout > 0:
            raise ValueError(f"generation_timeout: must be more than 0 seconds (or None), "
                             f"got {generation_timeout}")
        self.backend = backend
        self.generation_timeout = generation_timeout
        self.timeouts = 0
        self.info = backend.info
        self.batch = bool(batch and self.info.batch_limit > 1
                          and hasattr(backend, "generate_batch"))
        #: Most images one model call may hold (1 without batching).
        self.max_batch = self.info.batch_limit if self.batch else 1
        #: Model calls by the number of requests in them: ``{1: 40, 3: 2}``.
        self.batch_sizes: Counter[int] = Counter()
        self._ring: deque[Lane] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.busy = False
        self._running: list[WorkItem] = []
        self._aborted: set[int] = set()
        self._why: str | None = None  # why the worker was cancelled: "timeout", "abort"
        self._running_pairs: list[tuple[Lane, WorkItem]] = []
        self._stopping = False
        self.aborts = 0
        self.generations = 0
        self.batches = 0
        self.lanes = 0

    # -- lanes ----------------------------------------------------------------------------

    def open_lane(self, name: str, maxlen: int | None = None) -> Lane:
        """A new lane; ``maxlen`` bounds it (the oldest item is dropped when full)."""
        self.lanes += 1
        return Lane(name, maxlen)

    def close_lane(self, lane: Lane) -> None:
        """Forget a lane and its pending items (the session ended); a generation running for
        it alone is stopped (:meth:`abort`): nobody is left to read its answer."""
        lane.closed = True
        lane.items.clear()
        if lane.in_ring:
            self._ring.remove(lane)
            lane.in_ring = False
        self.lanes -= 1
        for running_lane, item in list(self._running_pairs):
            if running_lane is lane:
                self.abort(item)

    def push(self, lane: Lane, item: WorkItem) -> WorkItem | None:
        """Queue ``item`` on ``lane``; returns the item dropped to make room, if any."""
        if lane.closed:
            raise RuntimeError(f"lane {lane.name} is closed")
        dropped = None
        if lane.items.maxlen is not None and len(lane.items) == lane.items.maxlen:
            dropped = lane.items[0]
            lane.dropped += 1
        lane.items.append(item)
        self._mark_ready(lane)
        self.start()
        return dropped

    def remove(self, lane: Lane, item: WorkItem) -> bool:
        """Take a not-yet-started item off its lane (queue cancel). True if it was there."""
        try:
            lane.items.remove(item)
        except ValueError:
            return False
        if not lane.items and lane.in_ring:
            self._ring.remove(lane)
            lane.in_ring = False
        return True

    def abort(self, item: WorkItem) -> bool:
        """Stop ``item``'s generation if it is running: True if the model call was stopped.

        Once every item of the running call is aborted, the call is cancelled and the worker
        moves on at once (a coroutine backend stops; a model already busy on a thread finishes
        in the background, as after a timeout). An item sharing a batch with others that still
        want their result just has its own answer discarded by its owner.
        """
        if not any(it is item for it in self._running):
            return False
        self._aborted.add(id(item))
        if all(id(it) in self._aborted for it in self._running):
            self._interrupt("abort")
            return True
        return False

    def _interrupt(self, why: str) -> None:
        """Cancel the worker out of the generation it is awaiting (timeout or abort)."""
        if self._why is None and self._running and self._task is not None:
            self._why = why
            self._task.cancel()

    def _mark_ready(self, lane: Lane) -> None:
        if not lane.in_ring and lane.items:
            lane.in_ring = True
            self._ring.append(lane)
        self._wake.set()

    def batching(self) -> dict[str, Any]:
        """What ``/health`` shows of batching: on or off, the most images per call, the model
        calls made, the most requests one held, and the calls by requests in them (at most
        ``max_batch`` sizes, so the answer stays small)."""
        return {"enabled": self.batch, "max_images": self.max_batch, "batches": self.batches,
                "largest": max(self.batch_sizes, default=0),
                "sizes": {str(n): c for n, c in sorted(self.batch_sizes.items())}}

    @property
    def pending(self) -> int:
        """Items waiting in all lanes (not counting the one running)."""
        return sum(len(lane.items) for lane in self._ring)

    # -- the worker -----------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker on the running loop (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(),
                                                                name="lcm-widgets-worker")

    async def stop(self) -> None:
        """Stop the worker; a generation in progress is cancelled."""
        if self._task is not None:
            self._stopping = True
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            self._stopping = False

    def _take(self) -> list[tuple[Lane, WorkItem]]:
        """The next item round-robin, plus compatible heads of other lanes when batching."""
        lane = self._ring.popleft()
        item = lane.items.popleft()
        taken = [(lane, item)]
        self._requeue(lane)
        key = self._key(item) if self.batch else None
        if key is None:
            return taken
        images = item.inp.num_images
        for other in list(self._ring):
            if images >= self.max_batch:
                break
            head = other.items[0] if other.items else None
            if head is None or images + head.inp.num_images > self.max_batch:
                continue
            if self._key(head) == key:
                self._ring.remove(other)
                other.in_ring = False
                taken.append((other, other.items.popleft()))
                images += head.inp.num_images
                self._requeue(other)
        return taken

    def _requeue(self, lane: Lane) -> None:
        if lane.items:
            lane.in_ring = True
            self._ring.append(lane)
        else:
            lane.in_ring = False

    def _key(self, item: WorkItem) -> Hashable | None:
        """The backend's batch key of ``item`` (read once; None: it runs alone)."""
        if item.on_preview is not None:
            return None  # previews are per request: it runs alone
        if item.key is _UNKEYED:
            try:
                item.key = self.info.batch_key(item.inp)
            except Exception:  # an unreadable source image: let the backend say so alone
                log.debug("no batch key for %r", item.inp.request_id, exc_info=True)
                item.key = None
        return item.key

    async def _run(self) -> None:
        while True:
            if not self._ring:
                self._wake.clear()
                await self._wake.wait()
                continue
            taken = self._take()
            for _lane, item in taken:
                if item.on_start is not None:
                    _safe(item.on_start)
            self.busy = True
            t0 = time.perf_counter()
            # the worker runs the generation itself (no task per frame); a deadline, or an
            # abort() of every item, cancels the worker out of it with a reason
            self._running, self._aborted, self._why = [it for _, it in taken], set(), None
            self._running_pairs = taken
            limit = self.generation_timeout
            deadline = (asyncio.get_running_loop().call_later(limit, self._interrupt, "timeout")
                        if limit is not None else None)
            results: list[Output | BaseException]
            try:
                results = await self._generate([item.inp for _, item in taken],
                                               taken[0][1].on_preview)
            except asyncio.CancelledError:
                why = self._why
                if why is None or self._stopping:
                    raise
                _uncancel()
                if why == "timeout":
                    self.timeouts += 1
                    log.warning("generation timed out after %s s (%s item(s))", limit,
                                len(taken))
                    results = [GenerationTimeout(
                        f"generation: took longer than the server's limit of {limit:g} s "
                        f"(generation_timeout); the model may be stuck or overloaded",
                        timeout=limit)] * len(taken)
                else:  # abort(): every item of it was cancelled
                    self.aborts += 1
                    results = [GenerationFailed("generation: cancelled while running")] * \
                        len(taken)
            except Exception as exc:  # one failure answers every item of the batch
                results = [exc] * len(taken)
            finally:
                if deadline is not None:
                    deadline.cancel()
                self.busy = False
                self._running, self._aborted, self._why = [], set(), None
                self._running_pairs = []
            elapsed = time.perf_counter() - t0
            self.generations += len(taken)
            self.batches += 1
            self.batch_sizes[len(taken)] += 1
            for (_lane, item), result in zip(taken, results, strict=True):
                _safe(item.deliver, result, elapsed)

    async def _generate(self, inputs: list[Input],
                        on_preview: Callable[[StepPreview], None] | None = None
                        ) -> list[Output | BaseException]:
        backend: Any = self.backend
        if on_preview is not None and len(inputs) == 1 and \
                hasattr(backend, "generate_with_previews"):
            return [await backend.generate_with_previews(inputs[0], on_preview)]
        if len(inputs) > 1:
            outs = await backend.generate_batch(inputs)
            if len(outs) != len(inputs):
                raise RuntimeError(f"generate_batch returned {len(outs)} outputs for "
                                   f"{len(inputs)} inputs")
            return list(outs)
        if inspect.iscoroutinefunction(backend.generate):
            return [await backend.generate(inputs[0])]
        out = await asyncio.to_thread(backend.generate, inputs[0])
        if inspect.isawaitable(out):
            out = await out
        return [out]


def _uncancel() -> None:
    """Forget the cancellation the worker just caught (Python 3.11+ counts them)."""
    task = asyncio.current_task()
    if task is not None and hasattr(task, "uncancel"):
        task.uncancel()


def _safe(fn: Callable[..., None], *args: Any) -> None:
    try:
        fn(*args)
    except Exception:  # a broken callback must not stop the worker
        log.exception("worker callback failed")
