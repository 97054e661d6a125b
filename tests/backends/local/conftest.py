"""One tiny LocalLCM and one sketch for the LocalLCM tests of this folder."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from lcm_widgets.images import encode_image


@pytest.fixture(scope="session")
def lcm(model_cache: str) -> Any:
    """One tiny LocalLCM for the whole session (built into the session's model cache)."""
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    from lcm_widgets.backends.local import LocalLCM

    return LocalLCM("tiny", progress=False)


@pytest.fixture(scope="session")
def sketch() -> bytes:
    """A 512x512 PNG 'sketch': white canvas, a few coloured strokes."""
    arr = np.full((512, 512, 3), 255, np.uint8)
    arr[100:200, 50:450] = (30, 90, 200)
    arr[300:420, 200:260] = (200, 40, 40)
    return encode_image(arr, "png")
