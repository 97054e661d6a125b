"""Optional dependencies: which extra brings what, and one way to say one is missing.

Each feature that needs an extra calls :func:`need` before importing it, so a missing one
always fails with :class:`~lcm_widgets.errors.BackendUnavailable` (an ``ImportError`` too)
whose message ends with the exact line to run, e.g. ``pip install "lcm-widgets[compare]"``.
The README's install table lists the same extras.
"""

from __future__ import annotations

import importlib

from .errors import BackendUnavailable

__all__ = ["EXTRAS", "install_line", "need"]

#: extra -> (what needs it, the modules it brings that the code imports). ``all`` has them all.
EXTRAS: dict[str, tuple[str, tuple[str, ...]]] = {
    "local": ("LocalLCM, the tiny and full-size random-weight models, generate",
              ("torch", "diffusers", "transformers", "accelerate", "safetensors", "tqdm",
               "peft", "filelock", "platformdirs")),
    "remote": ("RealtimeBackend, HttpBackend", ("websockets", "httpx")),
    "server": ("lcm-widgets serve, lcm_widgets.server",
               ("fastapi", "uvicorn", "websockets", "httpx")),
    "notebook": ("lcm-widgets demo, the notebooks", ("jupyterlab", "ipycanvas")),
    "compare": ("Compare.to_dataframe (pandas), Compare.plot_latency (matplotlib)",
                ("pandas", "matplotlib")),
}


def install_line(extra: str) -> str:
    """``pip install "lcm-widgets[EXTRA]"`` (double quotes: the same in sh, zsh and cmd)."""
    return f'pip install "lcm-widgets[{extra}]"'


def need(extra: str, *modules: str, what: str) -> None:
    """Import ``modules`` (each at most once: Python caches them) or raise
    :class:`BackendUnavailable` naming ``what`` needs it, the extra and the install line."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise BackendUnavailable(
                f"{what} needs {name}, from the {extra!r} extra ({exc}): "
                f"{install_line(extra)}") from exc
