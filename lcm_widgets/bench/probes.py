"""Timing probes around the model calls of a frame: the UNet, the VAE, the text encoders.

A :class:`ModelProbes` wraps bound methods *on the instance* (``unet.forward``,
``vae.encode``, ``vae.decode``, ``text_encoder.forward``) for the duration of a ``with`` block,
so the same probes measure our lean loop and the stock pipeline without touching either. Each
call is timed with ``time.perf_counter`` (on the CPU that is the compute time) and, on CUDA,
with a pair of CUDA events on the current stream (the GPU time of the work the call launched,
read after the frame has finished).

Wrap the *outermost* callable a path uses: for a ``torch.compile``'d UNet that is the
``OptimizedModule`` (its ``forward`` runs the compiled code), never the module inside it, or the
probe itself would be traced into the compiled graph.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ModelProbes", "ProbeTarget"]

_MISSING = object()


@dataclass(frozen=True)
class ProbeTarget:
    """Time ``obj.<method>`` calls under the stage name ``stage``."""

    stage: str
    obj: Any
    method: str


@dataclass
class _Frame:
    wall: dict[str, float] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    events: list[tuple[str, Any, Any]] = field(default_factory=list)


class ModelProbes:
    """Collects per-stage model time for one frame at a time.

    >>> probes = ModelProbes(targets, cuda=False)        # doctest: +SKIP
    >>> with probes.installed():
    ...     probes.start_frame(); run_one_frame(); wall, gpu, calls = probes.end_frame()
    """

    def __init__(self, targets: list[ProbeTarget], *, cuda: bool = False) -> None:
        self.targets = [t for t in targets if t.obj is not None]
        self.cuda = cuda
        self._frame = _Frame()
        self._torch: Any = None
        if cuda:
            import torch

            self._torch = torch

    def _wrap(self, stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def probe(*args: Any, **kwargs: Any) -> Any:
            frame = self._frame
            ev0 = ev1 = None
            if self.cuda:
                ev0 = self._torch.cuda.Event(enable_timing=True)
                ev1 = self._torch.cuda.Event(enable_timing=True)
                ev0.record()
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                frame.wall[stage] = frame.wall.get(stage, 0.0) + time.perf_counter() - t0
                frame.calls[stage] = frame.calls.get(stage, 0) + 1
                if ev0 is not None and ev1 is not None:
                    ev1.record()
                    frame.events.append((stage, ev0, ev1))

        probe.__wrapped__ = fn  # type: ignore[attr-defined]
        return probe

    @contextmanager
    def installed(self) -> Iterator[ModelProbes]:
        """Wrap every target's method for the block; restore them afterwards, even on error."""
        saved: list[tuple[Any, str, Any]] = []
        seen: set[tuple[int, str]] = set()
        try:
            for t in self.targets:
                if (id(t.obj), t.method) in seen:
                    continue
                seen.add((id(t.obj), t.method))
                before = t.obj.__dict__.get(t.method, _MISSING)
                saved.append((t.obj, t.method, before))
                setattr(t.obj, t.method, self._wrap(t.stage, getattr(t.obj, t.method)))
            yield self
        finally:
            for obj, method, before in reversed(saved):
                if before is _MISSING:
                    # object.__delattr__: nn.Module.__delattr__ only knows params/buffers/modules
                    object.__delattr__(obj, method)
                else:
                    object.__setattr__(obj, method, before)

    def start_frame(self) -> None:
        """Forget the previous frame's samples."""
        self._frame = _Frame()

    def end_frame(self) -> tuple[dict[str, float], dict[str, float], dict[str, int]]:
        """``(wall seconds, GPU seconds, calls)`` per stage for the frame just run. On CUDA this
        waits for the recorded events (the frame's own output copy has usually done so)."""
        frame = self._frame
        gpu: dict[str, float] = {}
        if frame.events:
            frame.events[-1][2].synchronize()
            for stage, ev0, ev1 in frame.events:
                gpu[stage] = gpu.get(stage, 0.0) + ev0.elapsed_time(ev1) / 1000.0
        return dict(frame.wall), gpu, dict(frame.calls)
