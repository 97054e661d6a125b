"""``lcm-widgets bench-compare``: a 3x3 Compare grid through LocalLCM, batched vs cell by cell.

Renders ``--frames`` synthetic drawings through a 3x3 sweep (``--grid seed-guidance``: seeds
x guidance scales; ``prompt-seed``: prompts x seeds; both can share one model call per batch)
in two modes, alternating frame by frame in the same run so drift hits both alike:

* **batched**: the plan of :func:`lcm_widgets.sweep.plan_batches` with the backend's own info
  (one ``generate_batch`` call per group of at most ``--max-batch`` cells);
* **cell by cell**: the same cells, one ``generate`` call each.

Both go through the grid's own runner (:func:`lcm_widgets.widgets._grid.run_group`). Prints
grid-frames per second for each mode and their ratio, plus the largest pixel difference
between the two modes' images (batched and single calls must agree).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import io
import json
import os
import platform
import statistics
import sys
import time
from typing import Any

__all__ = ["register", "run"]

GRIDS: dict[str, dict[str, list[Any]]] = {
    "seed-guidance": {"seed": [1, 2, 3], "guidance": [1.0, 1.5, 2.0]},
    "prompt-seed": {"prompt": ["a house", "a boat", "a tree"], "seed": [1, 2, 3]},
}


def register(subparsers: Any) -> None:
    """Add the ``bench-compare`` subcommand."""
    p = subparsers.add_parser(
        "bench-compare", help="time a 3x3 Compare grid, batched vs cell by cell",
        description=__doc__.split("\n\n")[1] if __doc__ else None)
    p.add_argument("--model", default="tiny", help="LocalLCM preset or folder (default: tiny)")
    p.add_argument("--frames", type=int, default=10, help="timed grid-frames per mode (10)")
    p.add_argument("--warmup", type=int, default=1, help="untimed grid-frames per mode (1)")
    p.add_argument("--grid", choices=tuple(GRIDS), default="seed-guidance",
                   help="which 3x3 sweep (default: seed-guidance)")
    p.add_argument("--size", type=int, default=None,
                   help="square drawing side in pixels (default: the model's native size)")
    p.add_argument("--steps", type=int, default=4, help="num_inference_steps (default 4)")
    p.add_argument("--strength", type=float, default=0.5, help="img2img strength (0.5)")
    p.add_argument("--max-batch", type=int, default=9, help="LocalLCM max_batch (default 9)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--json", dest="json_path", default=None, help="write every number here")
    p.set_defaults(func=run)


def _drawing(i: int, size: int) -> bytes:
    """Frame ``i`` of a deterministic scribble: a few more strokes every frame."""
    import random

    from PIL import Image, ImageDraw

    img = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(img)
    rng = random.Random(1234)
    for _ in range(3 + i):
        pts = [(rng.uniform(0.1, 0.9) * size, rng.uniform(0.1, 0.9) * size) for _ in range(6)]
        colour = tuple(rng.randrange(256) for _ in range(3))
        draw.line(pts, fill=colour, width=max(2, size // 40))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def _max_diff(a: bytes, b: bytes) -> int:
    import numpy as np
    from PIL import Image

    x = np.asarray(Image.open(io.BytesIO(a)).convert("RGB"), dtype=np.int16)
    y = np.asarray(Image.open(io.BytesIO(b)).convert("RGB"), dtype=np.int16)
    return int(np.abs(x - y).max())


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and print the table; returns the exit status."""
    from dataclasses import replace

    from ..backends.local import LocalLCM
    from ..errors import InvalidInput
    from ..runtime.loop import run_sync
    from ..schema import Input
    from ..sweep import expand, plan_batches, validate_cells
    from ..widgets._grid import run_group

    if args.frames < 1:
        raise InvalidInput(f"--frames: must be at least 1, got {args.frames}", field="frames")
    if args.warmup < 0:
        raise InvalidInput(f"--warmup: must be at least 0, got {args.warmup}", field="warmup")
    print(f"loading LocalLCM({args.model!r}) ...", file=sys.stderr, flush=True)
    backend = LocalLCM(args.model, device=args.device, progress=False,
                       max_batch=args.max_batch)
    size = args.size or backend.native_size
    sweep = expand(GRIDS[args.grid], backend=backend)
    base = {"prompt": "a house by the sea", "num_inference_steps": args.steps,
            "strength": args.strength, "seed": 0}
    checked = validate_cells(sweep, base)
    bad = [str(c) for c in checked if not isinstance(c, Input)]
    if bad:
        raise InvalidInput("; ".join(bad), field=None)
    info = backend.info
    plans = {
        "batched": plan_batches(sweep.cells, checked, [info]),
        "cell by cell": plan_batches(sweep.cells, checked, [replace(info, can_batch=False)]),
    }
    times: dict[str, list[float]] = {m: [] for m in plans}
    images: dict[str, list[bytes]] = {m: [] for m in plans}
    total = args.warmup + args.frames
    for i in range(total):
        frame = _drawing(i, size)
        inputs = [c.model_copy(update={"image_url": frame}) if isinstance(c, Input) else None
                  for c in checked]
        order = list(plans) if i % 2 == 0 else list(reversed(plans))
        for mode in order:
            t0 = time.perf_counter()
            results = []
            for group in plans[mode]:
                results += run_sync(run_group(group, sweep.cells, inputs, backend, "local", i))
            dt = time.perf_counter() - t0
            errors = [r.error for r in results if r.error]
            if errors:
                raise RuntimeError(f"bench-compare: a cell failed: {errors[0]}")
            if i >= args.warmup:
                times[mode].append(dt)
                if i == total - 1:
                    images[mode] = [r.image or b"" for r in sorted(results,
                                                                   key=lambda r: r.cell.index)]
        print(f"grid-frame {i + 1}/{total}" + (" (warm-up)" if i < args.warmup else ""),
              file=sys.stderr, flush=True)
    run_sync(backend.aclose())

    rows = {}
    for mode, ts in times.items():
        mean = statistics.fmean(ts)
        rows[mode] = {"grid_frames": len(ts), "mean_s": mean,
                      "median_s": statistics.median(ts), "grid_fps": 1 / mean,
                      "cells_per_s": len(sweep.cells) / mean, "calls": len(plans[mode])}
    ratio = rows["batched"]["grid_fps"] / rows["cell by cell"]["grid_fps"]
    diff = max(_max_diff(a, b) for a, b in zip(images["batched"], images["cell by cell"], strict=True))
    print(f"\n3x3 Compare grid ({args.grid}), LocalLCM({args.model!r}) on {info.device} "
          f"{info.dtype}, {size}x{size} img2img, steps={args.steps}, "
          f"strength={args.strength}, {args.frames} grid-frames per mode "
          f"(+{args.warmup} warm-up), modes alternated\n")
    print("| mode | model calls / grid-frame | mean s / grid-frame | median s | grid-frames/s "
          "| cells/s |")
    print("|---|---|---|---|---|---|")
    for mode, r in rows.items():
        print(f"| {mode} | {r['calls']} | {r['mean_s']:.3f} | {r['median_s']:.3f} | "
              f"{r['grid_fps']:.3f} | {r['cells_per_s']:.2f} |")
    print(f"\nbatched / cell-by-cell grid-frames per second: **{ratio:.2f}x**")
    print(f"largest pixel difference between the modes' images (0-255): {diff}")
    if args.json_path:
        out = {"date": _dt.date.today().isoformat(), "machine": platform.platform(),
               "cpus": os.cpu_count(), "device": info.device, "dtype": info.dtype,
               "model": args.model, "grid": args.grid, "size": size, "steps": args.steps,
               "strength": args.strength, "modes": rows, "ratio": ratio,
               "max_pixel_diff": diff, "times": times}
        with open(args.json_path, "w") as fh:
            json.dump(out, fh, indent=2)
    return 0
