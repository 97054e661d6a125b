"""Collect ``lcm-widgets bench --json`` files into one markdown table.

    python -m lcm_widgets.bench.collect OUTDIR [> summary.md]

One row per JSON file (sorted by arch, size, VAE, compile), with ms/frame p50/p95 for ours and
stock, their ratio, fps, the GPU model time and busy fraction, the calculated floor
(docs/gpu.md) and how many times above it ours runs. ``scripts/gpu_bench.sh`` calls this at the end.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["collect", "main"]

COLUMNS = ("run", "model", "size", "VAE", "compile", "dtype", "ours p50", "ours p95",
           "stock p50", "stock p95", "stock/ours p50", "ours fps", "ours outside model p50",
           "ours GPU model p50", "GPU busy", "floor", "ours / floor")


def _ms(d: dict[str, Any] | None, key: str, stat: str = "p50") -> str:
    if not d or key not in d:
        return "—"
    return f"{d[key][stat]:.2f}"


def _compile_text(cfg: dict[str, Any]) -> str:
    """``off``, the inductor mode, or ``mode/backend`` for another dynamo backend."""
    mode, backend = cfg.get("compile_mode"), cfg.get("compile_backend")
    if not mode:
        return "off"
    return str(mode) if backend in (None, "inductor") else f"{mode}/{backend}"


def _row(name: str, data: dict[str, Any]) -> list[str]:
    cfg, ours, stock = data["config"], data["ours"], data.get("stock")
    cuda = ours.get("model_time_source") == "cuda_events"
    floor = data.get("floor")
    return [
        name,
        str(cfg.get("arch") or cfg.get("model")),
        str(cfg.get("size")),
        "TAESD" if cfg.get("taesd") else "full",
        _compile_text(cfg),
        str(cfg.get("dtype")),
        _ms(ours, "ms_per_frame"), _ms(ours, "ms_per_frame", "p95"),
        _ms(stock, "ms_per_frame"), _ms(stock, "ms_per_frame", "p95"),
        f"{data['ratio']['p50']:.2f}x" if "ratio" in data else "—",
        f"{ours['fps']:.1f}",
        _ms(ours, "outside_model_ms"),
        _ms(ours, "model_total_ms") if cuda else "—",
        f"{ours['gpu_busy_fraction_p50']:.0%}" if cuda else "—",
        f"{floor['roofline_ms']:.2f}" if floor else "—",
        f"{data['x_floor']['ours']['ms_per_frame_p50']:.1f}x" if floor else "—",
    ]


def collect(folder: Path) -> str:
    """The markdown table of every ``*.json`` bench result under ``folder``."""
    rows = []
    env: dict[str, Any] = {}
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict) or "ours" not in data or "config" not in data:
            continue
        env = env or data.get("environment", {})
        rows.append(_row(path.stem, data))
    head = (f"{env.get('gpu') or env.get('platform', '?')}, torch {env.get('torch', '?')}, "
            f"diffusers {env.get('diffusers', '?')}, {env.get('date', '?')}; ms per frame")
    lines = [head, "", "| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Print the table for the folder given on the command line."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m lcm_widgets.bench.collect OUTDIR", file=sys.stderr)
        return 2
    print(collect(Path(args[0])), end="")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
