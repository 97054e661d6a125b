"""The notebook widgets: Sketchpad (canvas), Studio (canvas + controls + output + stats), Compare.

Importing this package is cheap: the widget classes (and anywidget) load on first access.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .compare import Compare
    from .sketchpad import Frame, Sketchpad
    from .studio import Studio

_LAZY = {
    "Sketchpad": "lcm_widgets.widgets.sketchpad",
    "Frame": "lcm_widgets.protocol.widget",
    "Studio": "lcm_widgets.widgets.studio",
    "Compare": "lcm_widgets.widgets.compare",
}

__all__ = ["Compare", "Frame", "Sketchpad", "Studio"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lcm_widgets.widgets' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
