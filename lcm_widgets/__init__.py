"""lcm_widgets: live sketch-to-image with Latent Consistency Models, in a notebook cell.

Importing this package is cheap: it imports no torch, diffusers or widget code. The names below
load their module on first access.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import (
    BackendError,
    BackendUnavailable,
    ConnectionClosed,
    GenerationFailed,
    GenerationTimeout,
    InvalidImage,
    InvalidInput,
    LCMWidgetsError,
    ModelLoadError,
    ProtocolError,
    RemoteError,
    RemoteTimeout,
    ServerBusy,
    Superseded,
    Unauthorized,
)

if TYPE_CHECKING:  # pragma: no cover
    from .backends.base import Backend, BackendInfo
    from .backends.echo import EchoBackend
    from .backends.http import HttpBackend
    from .backends.local import LocalLCM
    from .backends.realtime import RealtimeBackend
    from .schema import Input, Output
    from .widgets.compare import Compare
    from .widgets.sketchpad import Sketchpad
    from .widgets.studio import Studio

_LAZY = {
    "Backend": "lcm_widgets.backends.base",
    "BackendInfo": "lcm_widgets.backends.base",
    "EchoBackend": "lcm_widgets.backends.echo",
    "Input": "lcm_widgets.schema",
    "Output": "lcm_widgets.schema",
    "LocalLCM": "lcm_widgets.backends.local",
    "RealtimeBackend": "lcm_widgets.backends.realtime",
    "HttpBackend": "lcm_widgets.backends.http",
    "Sketchpad": "lcm_widgets.widgets.sketchpad",
    "Studio": "lcm_widgets.widgets.studio",
    "Compare": "lcm_widgets.widgets.compare",
}

__all__ = [
    "Backend",
    "BackendError",
    "BackendInfo",
    "BackendUnavailable",
    "Compare",
    "ConnectionClosed",
    "EchoBackend",
    "GenerationFailed",
    "GenerationTimeout",
    "HttpBackend",
    "Input",
    "InvalidImage",
    "InvalidInput",
    "LCMWidgetsError",
    "LocalLCM",
    "ModelLoadError",
    "Output",
    "ProtocolError",
    "RealtimeBackend",
    "RemoteError",
    "RemoteTimeout",
    "ServerBusy",
    "Sketchpad",
    "Studio",
    "Superseded",
    "Unauthorized",
    "__version__",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lcm_widgets' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
