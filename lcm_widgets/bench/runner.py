"""The bench's frame loop: our lean path and the stock pipeline, interleaved, same frames.

Each *frame* is what the Studio sends: a 512x512 (``size``) sketch, JPEG-encoded in advance
at the Sketchpad's default quality (85: the browser's ``canvas.toBlob("image/jpeg", 0.85)``),
passed as ``image_url`` bytes. Every
frame adds a stroke to the previous one, as a person drawing does, so no two frames are equal.

What each side includes (both start from the JPEG bytes and end with JPEG bytes in an
:class:`~lcm_widgets.schema.Output`; the prompt and seed stay fixed, as while drawing):

* **ours**: ``LocalLCM.generate_sync(inp)``: validation, the hop to the library's loop thread
  and the worker thread, JPEG decode, cached prompt embeddings, VAE encode, the lean LCM loop,
  VAE decode, uint8 conversion, JPEG encode.
* **stock**: ``reference_output(lcm, inp)`` (:mod:`lcm_widgets.backends.local.reference`): the
  same JPEG decode, then a stock diffusers pipeline (``LatentConsistencyModelImg2ImgPipeline``,
  or the SDXL img2img pipeline) built around the same components and called with a PIL image
  in and PIL images out (it encodes the prompt on every call, as the stock pipeline does), then
  the same JPEG encode. It runs the same number of UNet evaluations (the bench checks and
  reports the count). Its UNet is the eager one: with ``compile`` only ours runs the compiled
  UNet, while both share the VAE (whose encoder and decoder are compiled in place).

The two sides alternate frame by frame (ours first on even frames, stock first on odd ones), so
load from other processes on a shared machine hits both alike; the ratio is measured in one
run.
"""

from __future__ import annotations

import functools
import io
import random
import time
from dataclasses import dataclass, field
from typing import Any

from .probes import ModelProbes, ProbeTarget

__all__ = ["FrameSample", "SideResult", "make_sketches", "model_targets", "run_frames"]

#: Model stages the probes time, in table order.
MODEL_STAGES = ("text_encoder", "vae_encode", "unet", "vae_decode")


def make_sketches(n: int, size: int = 512, *, seed: int = 0, quality: int = 85) -> list[bytes]:
    """``n`` JPEG frames of one drawing in progress: frame ``k`` has ``k + 1`` strokes."""
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    img = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    frames = []
    for _ in range(n):
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        points = [(rng.uniform(0, size), rng.uniform(0, size)) for _ in range(rng.randint(3, 8))]
        draw.line(points, fill=colour, width=rng.randint(max(2, size // 128), size // 32),
                  joint="curve")
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=quality)
        frames.append(buf.getvalue())
    return frames


def model_targets(lcm: Any, *, ours: bool) -> list[ProbeTarget]:
    """What to probe on a LocalLCM: the UNet the path calls, its VAE, the text encoders.

    Ours calls the (maybe compiled) UNet the lean loop holds; the stock path calls the
    pipeline's eager UNet. Both use the same VAE and text encoders.
    """
    pipe = lcm.components
    # LocalLCM keeps the callable its lean loop runs (an OptimizedModule when compiled) in
    # ``_unet``; it has no public name yet.
    unet = getattr(lcm, "_unet", None) if ours else None
    unet = unet if unet is not None else pipe.unet
    vae = lcm._c.vae if hasattr(lcm, "_c") else pipe.vae
    return [
        ProbeTarget("unet", unet, "forward"),
        ProbeTarget("vae_encode", vae, "encode"),
        ProbeTarget("vae_decode", vae, "decode"),
        ProbeTarget("text_encoder", getattr(pipe, "text_encoder", None), "forward"),
        ProbeTarget("text_encoder", getattr(pipe, "text_encoder_2", None), "forward"),
    ]


@dataclass
class FrameSample:
    """One frame of one side: wall seconds, our stage timings, probe wall/GPU seconds, calls."""

    wall: float
    timings: dict[str, float]
    model_wall: dict[str, float]
    model_gpu: dict[str, float]
    calls: dict[str, int]
    out_bytes: int
    output: bytes = field(default=b"", repr=False)


@dataclass
class SideResult:
    """All timed frames of one side."""

    name: str
    frames: list[FrameSample] = field(default_factory=list)


def _one(fn: Any, inp: Any, probes: ModelProbes) -> FrameSample:
    probes.start_frame()
    with probes.installed():
        t0 = time.perf_counter()
        out = fn(inp)
        wall = time.perf_counter() - t0
    model_wall, model_gpu, calls = probes.end_frame()
    return FrameSample(wall=wall, timings=dict(out.timings), model_wall=model_wall,
                       model_gpu=model_gpu, calls=calls, out_bytes=len(out.images[0].data()),
                       output=out.images[0].data())


def run_frames(lcm: Any, inputs: list[Any], *, warmup: int, cuda: bool, stock: bool = True,
               log: Any = None) -> tuple[SideResult, SideResult | None]:
    """Run ``warmup`` untimed then ``len(inputs) - warmup`` timed frames of each side,
    alternating; returns ``(ours, stock)`` (stock None when ``stock`` is False)."""
    p_ours = ModelProbes(model_targets(lcm, ours=True), cuda=cuda)
    p_stock = ModelProbes(model_targets(lcm, ours=False), cuda=cuda)
    sides = [("ours", lcm.generate_sync, p_ours)]
    if stock:
        from ..backends.local.reference import reference_output

        sides.append(("stock", functools.partial(reference_output, lcm), p_stock))
    results = {name: SideResult(name) for name, _, _ in sides}
    for i, inp in enumerate(inputs):
        order = sides if i % 2 == 0 else sides[::-1]
        for name, fn, probes in order:
            sample = _one(fn, inp, probes)
            if i >= warmup:
                results[name].frames.append(sample)
        if log is not None and (i + 1) % 10 == 0:
            log(f"  {i + 1}/{len(inputs)} frames")
    return results["ours"], results.get("stock")
