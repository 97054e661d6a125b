"""Order statistics for benchmark samples: percentiles and a small summary value type.

Pure Python (no numpy), so the bench helpers stay importable and testable anywhere.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

__all__ = ["Summary", "percentile", "summarize"]


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
    frac = pos - lo
    return xs[lo] + (xs[hi] - xs[lo]) * frac


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
