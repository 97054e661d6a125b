"""Request builders and a pixel reader shared by the LocalLCM tests."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image

STAGES = {"decode", "encode_prompt", "encode_image", "denoise", "decode_latents",
          "encode_output", "total"}


def pixels(data: bytes) -> np.ndarray[Any, Any]:
    """Decoded RGB pixels as int16 (so that differences do not wrap)."""
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int16)


def i2i(sketch: bytes | str, **kw: Any) -> dict[str, Any]:
    """An image-to-image request: 4 steps at strength 0.5 (2 UNet evaluations), seed 1."""
    return {"prompt": "a house", "image_url": sketch, "num_inference_steps": 4,
            "strength": 0.5, "seed": 1, **kw}


def t2i(**kw: Any) -> dict[str, Any]:
    """A text-to-image request: 4 steps, seed 1."""
    return {"prompt": "a house", "num_inference_steps": 4, "seed": 1, **kw}
