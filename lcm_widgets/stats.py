"""Order statistics, one definition for the whole project: percentiles, summaries, rolling stages.

**The percentile** is linear interpolation between the closest ranks (numpy's default
``method="linear"``): for ``n`` sorted samples the ``q``-th percentile sits at position
``(n - 1) * q / 100``. The browser computes its figures with the same definition
(``js/stats.js``; ``tests/test_percentile_parity.py`` runs both on the same samples), so a
p50 from the page, from :attr:`Studio.stats <lcm_widgets.widgets.studio.Studio.stats>` and from
``lcm-widgets bench`` mean the same thing.

Pure Python (no numpy), importable anywhere; times are passed in.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

__all__ = ["WINDOW", "StageStats", "Summary", "percentile", "spread", "summarize"]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0–100) of ``values`` by linear interpolation between the
    closest ranks (numpy's default ``method="linear"``).

    Raises ValueError for an empty sequence, a NaN, or ``q`` outside [0, 100].
    """
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"q: must be between 0 and 100, got {q}")
    if not values:
        raise ValueError("values: need at least one sample, got none")
    xs = sorted(float(v) for v in values)
    if any(math.isnan(x) for x in xs):
        raise ValueError("values: must not contain NaN")
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def spread(values: Sequence[float]) -> dict[str, float | None]:
    """``{"p50": ..., "p95": ...}`` of ``values``; both None when there are none."""
    if not values:
        return {"p50": None, "p95": None}
    return {"p50": percentile(values, 50), "p95": percentile(values, 95)}


@dataclass(frozen=True)
class Summary:
    """``n`` samples: median, 95th percentile, mean, min and max, in the samples' unit."""

    n: int
    p50: float
    p95: float
    mean: float
    min: float
    max: float

    def scaled(self, factor: float) -> Summary:
        """The same summary with every statistic multiplied by ``factor`` (e.g. s → ms)."""
        return Summary(self.n, self.p50 * factor, self.p95 * factor, self.mean * factor,
                       self.min * factor, self.max * factor)

    def to_dict(self) -> dict[str, float]:
        """A JSON-ready dict."""
        return asdict(self)


def summarize(values: Iterable[float]) -> Summary:
    """The :class:`Summary` of ``values`` (at least one)."""
    xs = [float(v) for v in values]
    return Summary(n=len(xs), p50=percentile(xs, 50), p95=percentile(xs, 95),
                   mean=math.fsum(xs) / len(xs) if xs else math.nan,
                   min=min(xs) if xs else math.nan, max=max(xs) if xs else math.nan)


#: Samples kept per stage by :class:`StageStats` (about 10–30 s of live drawing).
WINDOW = 120


@dataclass
class StageStats:
    """Recent per-stage durations (ms) and result times, bounded by ``window``."""

    window: int = WINDOW
    stages: dict[str, deque[float]] = field(default_factory=dict)
    result_times: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))

    def add(self, stage: str, ms: float) -> None:
        """Record one duration of ``stage`` in milliseconds."""
        q = self.stages.get(stage)
        if q is None:
            q = self.stages[stage] = deque(maxlen=self.window)
        q.append(float(ms))

    def samples(self, stage: str) -> list[float]:
        """The recent durations of ``stage`` (ms), oldest first."""
        return list(self.stages.get(stage, ()))

    def result_at(self, t: float) -> None:
        """Record that a result was delivered at time ``t`` (seconds, monotonic)."""
        self.result_times.append(t)

    def fps(self, now: float, span: float = 5.0) -> float:
        """Results per second over the last ``span`` seconds (0 when fewer than two)."""
        recent = [t for t in self.result_times if now - t <= span]
        if len(recent) < 2:
            return 0.0
        dt = recent[-1] - recent[0]
        return (len(recent) - 1) / dt if dt > 0 else 0.0

    def summary(self) -> dict[str, dict[str, float]]:
        """``{stage: {"p50", "p95", "n"}}`` for every stage with samples."""
        out: dict[str, dict[str, float]] = {}
        for stage, q in self.stages.items():
            values = list(q)
            if values:
                out[stage] = {"p50": round(percentile(values, 50), 1),
                              "p95": round(percentile(values, 95), 1),
                              "n": float(len(values))}
        return out
