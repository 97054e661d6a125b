"""An instant model for tests, demos and transport benchmarks.

:class:`EchoBackend` answers every request at once (or after ``delay`` seconds) with the input
image — its own bytes when they are already in the output format and no size is asked (only
the header is read), else re-encoded — or a flat image whose colour depends on the seed for
text-to-image. It speaks the real schema, so servers, clients and widgets exercise their whole
path without a GPU; it is how the transport benchmarks separate our overhead from model time.

Fault injection for tests: a prompt containing ``fail_on`` (default ``"!fail"``) raises
:class:`~lcm_widgets.errors.GenerationFailed`; one containing ``hang_on`` (default ``"!hang"``)
never answers (until cancelled), like a stuck model.

:meth:`EchoBackend.generate_with_previews` also shows steps (small, faded previews), so the
server's ``/stream`` route can be tested without torch.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable

from ..errors import GenerationFailed
from ..schema import FalImage, Input, Output, resolve_image_size
from .base import BackendInfo, StepPreview

__all__ = ["EchoBackend"]


class EchoBackend:
    """Returns the input image (img2img) or a seed-coloured square (txt2img)."""

    def __init__(self, *, delay: float = 0.0, fail_on: str = "!fail",
                 hang_on: str = "!hang") -> None:
        self.delay = delay
        self.fail_on = fail_on
        self.hang_on = hang_on
        self.calls = 0
        self._info = BackendInfo(name="echo", model="echo", can_batch=True,
                                 batch_axes=("seed", "prompt", "guidance_scale"), max_batch=64)

    @property
    def info(self) -> BackendInfo:
        return self._info

    async def generate(self, inp: Input) -> Output:
        t0 = time.perf_counter()
        self.calls += 1
        if self.fail_on and self.fail_on in inp.prompt:
            raise GenerationFailed(f"echo backend asked to fail by prompt {inp.prompt!r}")
        if self.hang_on and self.hang_on in inp.prompt:
            await asyncio.Event().wait()  # never set: only cancellation ends it
        if self.delay:
            await asyncio.sleep(self.delay)
        seed = inp.seed if inp.seed is not None else random.randrange(2**32)
        images = [self._image(inp, seed + i) for i in range(inp.num_images)]
        return Output(images=images, seed=seed, prompt=inp.prompt,
                      has_nsfw_concepts=[False] * len(images),
                      timings={"inference": time.perf_counter() - t0},
                      request_id=inp.request_id or None)

    async def generate_batch(self, inputs: list[Input]) -> list[Output]:
        return [await self.generate(i) for i in inputs]

    async def generate_with_previews(self, inp: Input,
                                     on_preview: Callable[[StepPreview], None]) -> Output:
        """:meth:`generate`, with one :class:`~.base.StepPreview` per step first (the steps
        an LCM would run: ``int(num_inference_steps * strength)`` for image-to-image): the
        first output image at 1/8 of its size, faded from grey towards it step by step."""
        out = await self.generate(inp)
        from PIL import Image

        from ..images import encode_image, load_image

        final = load_image(out.images[0].content or out.images[0].url, allow_files=False)
        small = final.resize((max(1, final.width // 8), max(1, final.height // 8)))
        grey = Image.new("RGB", small.size, (128, 128, 128))
        steps = inp.num_inference_steps
        if inp.is_img2img:
            steps = max(1, min(steps, int(steps * inp.strength)))
        for step in range(1, steps + 1):
            frame = Image.blend(grey, small, step / steps)
            on_preview(StepPreview(step=step, steps=steps, data=encode_image(frame, "jpeg"),
                                   width=small.width, height=small.height))
            await asyncio.sleep(0)  # a real model yields between steps too
        return out

    def _image(self, inp: Input, seed: int) -> FalImage:
        from PIL import Image

        from ..images import encode_image, load_image, to_data_uri

        same = self._same_bytes(inp)
        if same is not None:
            data, width, height = same
            mime = f"image/{inp.format}"
            return FalImage(url=to_data_uri(data, mime), width=width, height=height,
                            content_type=mime, content=data)
        if inp.image_url is not None:
            img = load_image(inp.image_url, allow_files=False)
            if inp.image_size is not None:
                img = img.resize(resolve_image_size(inp.image_size, img.size))
        else:
            rng = random.Random(seed)
            colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
            img = Image.new("RGB", resolve_image_size(inp.image_size, (512, 512)), colour)
        data = encode_image(img, inp.format)
        mime = f"image/{inp.format}"
        return FalImage(url=to_data_uri(data, mime), width=img.width, height=img.height,
                        content_type=mime, content=data)

    @staticmethod
    def _same_bytes(inp: Input) -> tuple[bytes, int, int] | None:
        """The input's own bytes (and size) when they are already the answer: an image given
        as bytes or a data URI, in the output format, with no size asked. Only the header is
        read (and checked); the pixels are never decoded, so the model costs ~nothing."""
        from ..images import image_data_uri_bytes, image_header

        src = inp.image_url
        if src is None or inp.image_size is not None:
            return None
        if isinstance(src, str):
            if not src.startswith("data:"):
                return None
            src = image_data_uri_bytes(src)
        fmt, width, height = image_header(src)
        if fmt.lower() != inp.format.lower():
            return None
        return bytes(src), width, height

    async def aclose(self) -> None:
        return None

