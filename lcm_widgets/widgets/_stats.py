"""Rolling figures for the Studio's status line and ``Studio.stats`` (kernel side).

Pure bookkeeping with times passed in: a bounded window of recent samples per stage, the
results-per-second rate, and the one-line plain-words status text built from them.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

__all__ = ["StageStats", "format_status", "percentile"]

WINDOW = 120  # samples kept per stage (about 10-30 s of live drawing)


def percentile(values: list[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100, nearest rank) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[rank]


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
                out[stage] = {"p50": round(percentile(values, 50) or 0.0, 1),
                              "p95": round(percentile(values, 95) or 0.0, 1),
                              "n": float(len(values))}
        return out


def format_status(fps: float, summary: dict[str, dict[str, float]], *, model: str,
                  error: str = "", state: str = "") -> str:
    """The status line in plain words, e.g.
    ``"4.2 fps · stroke→pixels 180 ms · kernel 140 ms · generate 120 ms · tiny (cpu)"``."""
    parts: list[str] = []
    if error:
        parts.append(f"error: {error}")
    elif state:
        parts.append(state)
    if fps:
        parts.append(f"{fps:.1f} fps")
    for stage, label in (("e2e", "stroke→pixels"), ("kernel", "kernel"),
                         ("generate", "generate")):
        s = summary.get(stage)
        if s:
            parts.append(f"{label} {s['p50']:.0f} ms")
    parts.append(model)
    return " · ".join(parts)
