"""``lcm-widgets bench --controlnet/--lora``: the extra cost per frame of a ControlNet or a LoRA,
measured in the same run as the plain frame.

Each frame runs once plain and once per variant (the variant's fields added to the same
request), in an order that rotates from frame to frame, so that drift in the machine's load
falls on every side alike. Each side's ms/frame is the wall time of ``generate_sync``; the
extra cost is the difference of the medians (and the ratio), per variant.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from ..stats import summarize

__all__ = ["extra_cost", "format_extra_cost"]


def extra_cost(lcm: Any, inputs: Sequence[Any], variants: Mapping[str, Mapping[str, Any]], *,
               warmup: int) -> dict[str, Any]:
    """Time ``inputs`` plain and with each of ``variants`` (name → fields to add); the first
    ``warmup`` inputs are run and not timed. Returns ``{"plain": Summary dict (ms), name:
    {..., "extra_ms_p50", "ratio_p50"}}``."""
    sides = ["plain", *variants]
    times: dict[str, list[float]] = {s: [] for s in sides}
    for k, inp in enumerate(inputs):
        order = sides[k % len(sides):] + sides[:k % len(sides)]
        for side in order:
            req = inp if side == "plain" else inp.model_copy(update=dict(variants[side]))
            t0 = time.perf_counter()
            lcm.generate_sync(req)
            dt = (time.perf_counter() - t0) * 1000.0
            if k >= warmup:
                times[side].append(dt)
    plain = summarize(times["plain"])
    out: dict[str, Any] = {"plain": plain.to_dict()}
    for side in variants:
        s = summarize(times[side])
        out[side] = {**s.to_dict(), "extra_ms_p50": s.p50 - plain.p50,
                     "ratio_p50": s.p50 / plain.p50 if plain.p50 else None}
    return out


def format_extra_cost(res: Mapping[str, Any], title: str) -> str:
    """A markdown table of :func:`extra_cost`'s result."""
    lines = [title, "", "| frame | ms/frame p50 | ms/frame p95 | extra ms p50 | ratio p50 |",
             "|---|---|---|---|---|"]
    p = res["plain"]
    lines.append(f"| plain | {p['p50']:.1f} | {p['p95']:.1f} |  |  |")
    for side, s in res.items():
        if side == "plain":
            continue
        ratio = f"{s['ratio_p50']:.2f}x" if s["ratio_p50"] is not None else ""
        lines.append(f"| {side} | {s['p50']:.1f} | {s['p95']:.1f} | {s['extra_ms_p50']:+.1f} | "
                     f"{ratio} |")
    return "\n".join(lines)
