"""``lcm-widgets bench-live``: stroke→pixels and results/s in a real JupyterLab + Chromium.

See :mod:`lcm_widgets.bench.live` for what is measured and how. Needs the ``test`` extra
(playwright, nbformat), JupyterLab and Debian's Chromium at ``/usr/bin/chromium``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    from ..bench.live import CASES, INPUT_JITTER, INPUT_RATE, STEP_MS

    p = subparsers.add_parser(
        "bench-live", help="stroke→pixels and results/s of the Studio in real JupyterLab",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=10.0,
                   help="seconds of scripted strokes per case (10; 600 for the soak)")
    p.add_argument("--cases", default="studio-echo,floor,floor-direct,studio-tiny",
                   help=f"comma-separated, in order; of {', '.join(CASES)} "
                        "(default: studio-echo,floor,floor-direct,studio-tiny)")
    p.add_argument("--app", choices=("lab", "notebook"), default="lab",
                   help="JupyterLab (default) or Notebook 7")
    p.add_argument("--driver", default="synth",
                   help="who draws the strokes, comma-separated to compare in one run: synth "
                        "(default: pointer events made in the page at --input-rate, with "
                        "Playwright detached while it draws) or mouse (Playwright's mouse, "
                        "--step-ms apart; its CDP client slows the page)")
    p.add_argument("--input-rate", type=float, default=INPUT_RATE,
                   help=f"pointer events/s of the synth driver ({INPUT_RATE:g})")
    p.add_argument("--input-jitter", type=float, default=INPUT_JITTER,
                   help="synth driver: move each gap between pointer events by up to this "
                        f"fraction of the period, uniformly ({INPUT_JITTER:g}; at 0 the events "
                        "keep one phase against the display for the whole page load)")
    p.add_argument("--step-ms", type=float, default=STEP_MS,
                   help=f"mouse driver: pause between scripted mouse moves, ms ({STEP_MS:g}; "
                        "the tests use 16)")
    p.add_argument("--repeat", type=int, default=1,
                   help="rounds of all the cases, each case's runs pooled (1): a page load's "
                        "median moves with its phase against the display, pooling samples it")
    p.add_argument("--soak", action="store_true",
                   help="sample kernel RSS and the page's JS heap while drawing")
    p.add_argument("--sample-every", type=float, default=30.0,
                   help="seconds between soak samples (30)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..bench.jupyter import CHROMIUM
    from ..bench.live import CASES, DRIVERS, run_cases, summary_lines

    try:
        import nbformat  # noqa: F401
        import playwright  # noqa: F401
    except ModuleNotFoundError as exc:
        raise SystemExit(f"bench-live needs {exc.name}: pip install 'lcm-widgets[test]'"
                         ) from None
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"bench-live needs Chromium at {CHROMIUM} (Debian: apt-get install "
                         "chromium)")
    if args.seconds <= 0:
        raise SystemExit(f"--seconds: must be more than 0, got {args.seconds}")
    if args.step_ms < 0:
        raise SystemExit(f"--step-ms: must be at least 0, got {args.step_ms}")
    if args.soak and args.sample_every <= 0:
        raise SystemExit(f"--sample-every: must be more than 0, got {args.sample_every}")
    if not 0 < args.input_rate <= 1000:
        raise SystemExit(f"--input-rate: must be more than 0 and at most 1000, got "
                         f"{args.input_rate}")
    if not 0 <= args.input_jitter <= 1:
        raise SystemExit(f"--input-jitter: must be from 0 to 1 (a fraction of the period), got "
                         f"{args.input_jitter}")
    if not 1 <= args.repeat <= 50:
        raise SystemExit(f"--repeat: must be from 1 to 50, got {args.repeat}")
    if args.repeat > 1 and args.soak:
        raise SystemExit(f"--repeat: a soak runs once; leave --repeat at 1 with --soak, got "
                         f"{args.repeat}")
    drivers = [d.strip() for d in args.driver.split(",") if d.strip()]
    if not drivers or any(d not in DRIVERS for d in drivers) or len(set(drivers)) < len(drivers):
        raise SystemExit(f"--driver: each must be one of {', '.join(DRIVERS)}, once; got "
                         f"{args.driver!r}")
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    bad = [c for c in cases if c not in CASES]
    if not cases or bad:
        raise SystemExit(f"--cases: each must be one of {', '.join(CASES)}, got {args.cases!r}")
    res = run_cases(cases, seconds=args.seconds, app=args.app, step_ms=args.step_ms,
                    drivers=drivers, input_rate=args.input_rate,
                    input_jitter=args.input_jitter, repeat=args.repeat,
                    soak_every=args.sample_every if args.soak else 0.0,
                    log=lambda s: print(s, file=sys.stderr if args.json else sys.stdout))
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        print("\n".join(summary_lines(res)))
    return 0
