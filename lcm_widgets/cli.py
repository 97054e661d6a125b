"""``lcm-widgets``: the command line.

Each subcommand lives next to the code it drives and registers itself through a
``register(subparsers)`` function, so this file stays a dispatcher. Heavy imports happen inside
the subcommand, never here.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ._version import __version__

# module path → the subcommands it registers (documentation only; order = help order)
_COMMAND_MODULES = (
    "lcm_widgets.commands.generate",   # generate, doctor
    "lcm_widgets.commands.bench",      # bench (local backend, issue: GPU fast path)
    "lcm_widgets.commands.bench_realtime",  # bench-realtime (server + WebSocket client)
    "lcm_widgets.commands.bench_compare",   # bench-compare (grid batching)
    "lcm_widgets.commands.bench_live",      # bench-live (the Studio in real JupyterLab)
    "lcm_widgets.commands.serve",      # serve
    "lcm_widgets.commands.demo",       # demo
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lcm-widgets",
        description="Live sketch-to-image with Latent Consistency Models.",
    )
    parser.add_argument("--version", action="version", version=f"lcm-widgets {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a real missing dependency inside the module
                raise
            continue
        mod.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from .errors import LCMWidgetsError

    try:
        return int(args.func(args) or 0)
    except LCMWidgetsError as exc:
        print(f"lcm-widgets {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
