"""The Compare grid's engine: its configuration, frame intake, pacing and the worker thread.

:class:`GridWorker` is the adapter between the pacer (:class:`~lcm_widgets.pacing.Pacer`, with
the **grid-frame** as its unit of work) and the backends: drawings come in through
:meth:`GridWorker.frame_in` (from any thread), axis edits through :meth:`GridWorker.reconfigure`,
and one worker thread renders the newest frame through the batch plan, painting each cell as
its group finishes. :func:`run_group` is the only place the grid calls a backend: one
:meth:`~lcm_widgets.backends.base.BatchingBackend.generate_batch` call for a batched group,
``generate`` otherwise; a failure becomes an error on each cell of that group, never an
exception out of the grid. No widgets here: the Compare paints through a callback.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..runtime.loop import run_sync
from ..errors import InvalidInput, LCMWidgetsError
from ..pacing import DropStale, Pacer, ScheduleTick, SendResult, ShowStatus, StartRequest
from ..schema import Input, Output
from ..sweep import BatchGroup, Cell, Sweep, build_inputs, expand, plan_batches, validate_cells

if TYPE_CHECKING:  # pragma: no cover
    from ..backends.base import Backend

__all__ = ["CellResult", "GridConfig", "GridWorker", "build_config", "run_group"]


@dataclass(frozen=True)
class CellResult:
    """The newest outcome of one cell: an image, or an error in plain words."""

    cell: Cell
    frame: int
    params: Mapping[str, Any]
    backend: str
    seed: int | None = None
    latency_ms: float = 0.0
    image: bytes | None = None
    mime: str = "image/jpeg"
    timings: Mapping[str, float] = field(default_factory=dict)
    batch_size: int = 1
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The row ``Compare.results`` returns."""
        return {
            "row": self.cell.row, "col": self.cell.col, "label": self.cell.label,
            "labels": self.cell.labels, "backend": self.backend, "params": dict(self.params),
            "seed": self.seed, "latency_ms": self.latency_ms, "image": self.image,
            "mime": self.mime, "timings": dict(self.timings), "batch_size": self.batch_size,
            "frame": self.frame, "error": self.error,
        }


def _params(inp: Input) -> dict[str, Any]:
    return inp.model_dump(exclude={"image_url", "request_id", "sync_mode", "num_images"})


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, LCMWidgetsError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


async def run_group(group: BatchGroup, cells: Sequence[Cell], inputs: Sequence[Input | None],
                    backend: Backend, backend_name: str, frame: int) -> list[CellResult]:
    """Run one planned group and return one :class:`CellResult` per cell of it.

    A batched group is one ``generate_batch`` call; its wall time is each cell's latency.
    """
    members = [(cells[i], inputs[i]) for i in group.cells]
    reqs = [inp for _, inp in members if inp is not None]
    if len(reqs) != len(members):
        raise ValueError("run_group: the plan holds a cell without a request")
    t0 = time.perf_counter()
    try:
        if group.batched:
            outs: list[Output] = await backend.generate_batch(reqs)  # type: ignore[attr-defined]
            if len(outs) != len(reqs):
                raise LCMWidgetsError(f"generate_batch: returned {len(outs)} outputs for "
                                      f"{len(reqs)} inputs")
        else:
            outs = [await backend.generate(reqs[0])]
    except Exception as exc:  # a backend failure shows in its cells; the grid goes on
        ms = (time.perf_counter() - t0) * 1000
        return [CellResult(cell, frame, _params(inp), backend_name, seed=inp.seed,
                           latency_ms=ms, batch_size=len(reqs), error=_error_text(exc))
                for cell, inp in zip((c for c, _ in members), reqs, strict=True)]
    ms = (time.perf_counter() - t0) * 1000
    results = []
    for (cell, _), inp, out in zip(members, reqs, outs, strict=True):
        if not out.images:
            results.append(CellResult(cell, frame, _params(inp), backend_name, seed=out.seed,
                                      latency_ms=ms, batch_size=len(reqs),
                                      error="the backend returned no image"))
            continue
        img = out.images[0]
        results.append(CellResult(cell, frame, _params(inp), backend_name, seed=out.seed,
                                  latency_ms=ms, image=img.data(),
                                  mime=img.content_type or "image/jpeg",
                                  timings=dict(out.timings), batch_size=len(reqs)))
    return results


@dataclass(frozen=True)
class GridConfig:
    """A sweep with its validated cells and batch plan; replaced whole on every edit."""

    sweep: Sweep
    checked: tuple[Input | InvalidInput, ...]
    plan: tuple[BatchGroup, ...]
    base_key: str


def base_key(base: Mapping[str, Any]) -> str:
    """A comparable fingerprint of the base params (to notice a Studio's params changing)."""
    return repr(sorted(base.items()))


def build_config(axes: Sequence[tuple[str, Sequence[Any]]], base: Mapping[str, Any],
                 backend: Backend | None) -> GridConfig:
    """Expand ``axes`` over ``base``, validate every cell and plan the batches.

    Raises :class:`InvalidInput` for axes that are wrong on their own.
    """
    sweep = expand(axes, backend=backend)
    checked = tuple(validate_cells(sweep, base))
    infos = [be.info for _, be in sweep.backends]
    plan = tuple(plan_batches(sweep.cells, checked, infos))
    return GridConfig(sweep, checked, plan, base_key(base))


class GridWorker:
    """Frame intake, pacing and the render thread of one grid.

    ``base()`` gives the current base params (read again at every grid-frame), ``rebuild()`` a
    fresh :class:`GridConfig` when they changed, ``paint(result)`` shows one cell's result (it
    calls :meth:`store`), ``status()`` refreshes the status line after every grid-frame.
    All state is guarded by :attr:`lock` (a Condition, notified on every change).
    """

    def __init__(self, config: GridConfig, *, debounce: float,
                 base: Callable[[], dict[str, Any]], rebuild: Callable[[], GridConfig],
                 paint: Callable[[CellResult], None], status: Callable[[], None]) -> None:
        self.lock = threading.Condition()
        self.pacer = Pacer(debounce=debounce)
        self.results: dict[int, CellResult] = {}
        self.source: bytes | None = None
        self.error = ""
        self.closed = False
        self._config = config
        self._base, self._rebuild, self._paint, self._status = base, rebuild, paint, status
        self._frames: dict[int, bytes] = {}
        self._next_key = 0
        self._tick_at: float | None = None
        self._start: int | None = None
        self._running = False
        self._thread = threading.Thread(target=self._work, name="lcm-compare", daemon=True)

    @property
    def config(self) -> GridConfig:
        """The configuration frames render with now."""
        return self._config

    def start(self) -> None:
        """Start the worker thread."""
        self._thread.start()

    def close(self, timeout: float = 30.0) -> None:
        """Stop the worker thread (waits for the group in flight, up to ``timeout`` s)."""
        with self.lock:
            self.closed = True
            self.lock.notify_all()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=timeout)

    def frame_in(self, data: bytes) -> int:
        """Take one drawing (encoded bytes) from any thread; returns its frame key."""
        digest = hashlib.blake2b(data, digest_size=16).hexdigest()
        with self.lock:
            self._next_key += 1
            key = self._next_key
            self._frames[key] = data
            self._handle(self.pacer.frame_arrived(key, digest, time.monotonic()))
        return key

    def reconfigure(self, config: GridConfig, *, clear: bool) -> None:
        """Render with ``config`` from now on: the newest frame re-renders after the debounce.
        ``clear`` forgets every cell's result (the grid changed shape)."""
        with self.lock:
            self._config = config
            self._handle(self.pacer.params_changed(time.monotonic()), ticks=True)
            if clear:
                self.results.clear()

    def store(self, res: CellResult) -> bool:
        """Keep ``res`` as its cell's newest result; False when an edit replaced that cell."""
        with self.lock:
            if self._config.sweep.cells[res.cell.index:res.cell.index + 1] != (res.cell,):
                return False
            self.results[res.cell.index] = res
            return True

    def busy(self) -> bool:
        """True while a grid-frame runs, waits, or an edit's debounce is pending."""
        with self.lock:
            return self._running or self._start is not None or self.pacer.busy or (
                self._tick_at is not None)

    def wait(self, timeout: float | None) -> bool:
        """Block until nothing is left to render; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.lock:
            while self.busy():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self.lock.wait(left)
        return True

    # ------------------------------------------------------------------ the thread
    def _handle(self, actions: list[Any], ticks: bool = False) -> None:
        """Carry out pacer actions (called with the lock held).

        Only the debounce ticks of axis edits are kept (``ticks=True``): results are acked as
        soon as their cells are painted, so the pacer's ack-timeout ticks have nothing to do.
        """
        for act in actions:
            if isinstance(act, StartRequest):
                self._start = act.key
            elif isinstance(act, ScheduleTick) and ticks:
                self._tick_at = act.at if self._tick_at is None else min(self._tick_at, act.at)
            elif isinstance(act, SendResult):
                # The cells were painted as their results came: nothing waits for a browser.
                self._handle(self.pacer.result_acked(act.key, time.monotonic()))
            elif isinstance(act, ShowStatus):
                self.error = act.text
            elif isinstance(act, DropStale) and act.rid is None:
                self._frames.pop(act.key, None)
        self.lock.notify_all()

    def _work(self) -> None:
        while True:
            with self.lock:
                while not self.closed and self._start is None:
                    now = time.monotonic()
                    if self._tick_at is not None and now >= self._tick_at:
                        self._tick_at = None
                        self._handle(self.pacer.tick(now), ticks=True)
                        continue
                    self.lock.wait(None if self._tick_at is None else self._tick_at - now)
                if self.closed:
                    return
                key, self._start = self._start, None
                assert key is not None  # the loop above waits for a start
                data = self._frames.get(key, b"")
                for old in [k for k in self._frames if k < key]:
                    del self._frames[old]
                self._running = True
            try:
                self._render(key, data)
                with self.lock:
                    self._running = False
                    self.source = data
                    self._handle(self.pacer.result_arrived(key, key, time.monotonic()))
            except Exception as exc:  # a bug must not kill the worker; show it and go on
                with self.lock:
                    self._running = False
                    self._handle(self.pacer.backend_error(key, f"grid failed: {exc}",
                                                          time.monotonic()))
            self._status()

    def _render(self, key: int, data: bytes) -> None:
        config = self._config
        base = self._base()
        if base_key(base) != config.base_key:  # the Studio's params changed
            config = self._rebuild()
            with self.lock:
                self._config = config
        inputs = build_inputs(config.checked, data, request_prefix=f"compare-{key}-")
        names = [label for label, _ in config.sweep.backends]
        for cell, chk in zip(config.sweep.cells, config.checked, strict=True):
            if isinstance(chk, InvalidInput):
                params = {**base, **cell.overrides}
                self._paint(CellResult(cell, key, params, names[cell.backend],
                                       seed=params.get("seed"), error=str(chk)))
        for group in config.plan:
            backend = config.sweep.backends[group.backend][1]
            results = run_sync(run_group(group, config.sweep.cells, inputs, backend,
                                         names[group.backend], key))
            for res in results:
                self._paint(res)
            if self.closed or (self._config is not config and self._config.sweep.cells != (
                    config.sweep.cells)):
                return  # the grid changed shape: the re-render paints the new one
