"""An opt-in Jupyter server extension that turns Nagle's algorithm off on kernel websockets.

Why: jupyter_server never calls ``set_nodelay(True)`` on the kernel websocket. The kernel sends
``status: busy``, the ``comm_msg`` and ``status: idle`` as separate writes; with Nagle on, the
later ones wait for the browser's delayed ACK, about 40 ms on Linux, and every widget round
trip may pay it. A spike before this module was written measured a 16-byte echo at 54 → 20 ms
and a JPEG in/out at 55 → 16 ms with TCP_NODELAY (docs/studio.md). Our own end-to-end runs of the
Studio (docs/benchmarks.md, ``## Live widget``): on a quiet 2-core box with an instant model,
stroke-to-pixels p50 fell in both runs (195 → 123 ms and 170 → 157 ms); under heavy CPU load,
or with a model that takes most of a second per frame, the gain is lost in the noise. Expect
it to matter where a frame takes a few tens of ms (a fast model on a GPU).

It is **off unless enabled**, because it changes the server, not the widget::

    jupyter lab --ServerApp.jpserver_extensions='{"lcm_widgets.jupyter_nodelay": True}'

or, in ``jupyter_server_config.py``::

    c.ServerApp.jpserver_extensions = {"lcm_widgets.jupyter_nodelay": True}

or ``lcm-widgets demo --nodelay``. What it does: wraps
``KernelWebsocketHandler.open`` so that every kernel websocket calls
``self.set_nodelay(True)`` before it connects to the kernel. Nothing else changes; the server
logs ``lcm_widgets.jupyter_nodelay: TCP_NODELAY on kernel websockets`` when it is active.
"""

from __future__ import annotations

import functools
from typing import Any

__all__ = ["enable", "is_enabled"]

_MARK = "_lcm_widgets_nodelay"


def _handler_class() -> Any:
    from jupyter_server.services.kernels.websocket import KernelWebsocketHandler

    return KernelWebsocketHandler


def is_enabled() -> bool:
    """True when kernel websockets in this process get ``TCP_NODELAY``."""
    return bool(getattr(_handler_class().open, _MARK, False))


def enable() -> bool:
    """Patch ``KernelWebsocketHandler.open`` (once); returns False if it was already patched."""
    cls = _handler_class()
    if is_enabled():
        return False
    original = cls.open

    @functools.wraps(original)
    async def open(self: Any, *args: Any, **kwargs: Any) -> Any:
        self.set_nodelay(True)
        return await original(self, *args, **kwargs)

    setattr(open, _MARK, True)
    cls.open = open
    return True


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "lcm_widgets.jupyter_nodelay"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    enable()
    serverapp.log.info("lcm_widgets.jupyter_nodelay: TCP_NODELAY on kernel websockets")


# Older jupyter_server/notebook spelling.
load_jupyter_server_extension = _load_jupyter_server_extension
