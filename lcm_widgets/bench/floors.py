"""Physical floors of one frame on H100/H200: the FLOP and roofline constants, in one place.

The figures and how they were derived are in ``docs/gpu.md`` ("Floors": the component table and
its derivation). They are *calculated*, not measured: FLOPs counted with
``torch.utils.flop_counter`` on the exact configs of :mod:`lcm_widgets.models.arch` (batch 1,
fp16), attention costed as a fused flash kernel; the per-op roofline charges every
GEMM/conv/attention op ``max(FLOPs / peak, bytes / bandwidth)`` with element-wise work assumed
fused away. Peak: 790 TFLOP/s dense bf16
(measured in this workplace on an H100); bandwidth 3.0 TB/s (H100), 4.3 TB/s (H200).

A frame's floor is the sum of its components: ``evals`` UNet evaluations, the image encode
(image-to-image only) and the decode, with the prompt embeddings cached (the text encoder is not
run per frame). Example (docs/gpu.md): SD1.5 img2img, 2 UNet evals, full VAE, H100
= 2 x 1.308 + 1.454 + 3.263 = 7.33 ms; with TAESD 2.98 ms.

Floors exist only at the resolution they were counted for (512 for ``sd15``, 1024 for ``sdxl``)
and only for the H100 and H200; everywhere else :func:`frame_floor` returns None.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["COMPONENTS", "FLOOR_SIZE", "PEAK_TFLOPS", "Floor", "frame_floor", "gpu_kind"]

#: Dense bf16/fp16 tensor peak, TFLOP/s (docs/gpu.md, "Floors").
PEAK_TFLOPS: dict[str, float] = {"H100": 790.0, "H200": 790.0}
#: HBM bandwidth, TB/s (docs/gpu.md, "Floors").
BANDWIDTH_TBS: dict[str, float] = {"H100": 3.0, "H200": 4.3}
#: The resolution each architecture's counts are for.
FLOOR_SIZE: dict[str, int] = {"sd15": 512, "sdxl": 1024}


@dataclass(frozen=True)
class Component:
    """One batch-1 fp16 evaluation: GFLOP and per-op fused roofline ms per GPU (docs/gpu.md)."""

    gflop: float
    roofline_ms: dict[str, float]


#: (arch, component) → counts. Components: unet (one evaluation), vae_encode, vae_decode,
#: taesd_encode, taesd_decode (TAESDXL for sdxl), text_encoder (all text encoders, 77 tokens).
COMPONENTS: dict[tuple[str, str], Component] = {
    ("sd15", "unet"): Component(803.3, {"H100": 1.308, "H200": 1.151}),
    ("sd15", "vae_encode"): Component(1116.7, {"H100": 1.454, "H200": 1.435}),
    ("sd15", "vae_decode"): Component(2514.5, {"H100": 3.263, "H200": 3.224}),
    ("sd15", "taesd_encode"): Component(122.3, {"H100": 0.176, "H200": 0.167}),
    ("sd15", "taesd_decode"): Component(141.4, {"H100": 0.190, "H200": 0.186}),
    ("sd15", "text_encoder"): Component(13.3, {"H100": 0.067, "H200": 0.047}),
    ("sdxl", "unet"): Component(6761.2, {"H100": 8.879, "H200": 8.745}),
    ("sdxl", "vae_encode"): Component(4879.0, {"H100": 6.336, "H200": 6.260}),
    ("sdxl", "vae_decode"): Component(10470.4, {"H100": 13.572, "H200": 13.419}),
    ("sdxl", "taesd_encode"): Component(489.3, {"H100": 0.704, "H200": 0.667}),
    ("sdxl", "taesd_decode"): Component(565.4, {"H100": 0.759, "H200": 0.744}),
    ("sdxl", "text_encoder"): Component(13.3 + 97.9, {"H100": 0.067 + 0.467,
                                                      "H200": 0.047 + 0.326}),
}


@dataclass(frozen=True)
class Floor:
    """The floor of one frame: ``roofline_ms`` (per-op fused roofline, the headline floor),
    ``compute_ms`` (FLOPs / peak only) and the ``tflop`` it counts."""

    gpu: str
    arch: str
    evals: int
    taesd: bool
    img2img: bool
    tflop: float
    compute_ms: float
    roofline_ms: float

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return asdict(self)


def gpu_kind(name: str | None) -> str | None:
    """``"H100"`` or ``"H200"`` from a CUDA device name (``torch.cuda.get_device_name()``),
    else None. (An H100 PCIe has a somewhat lower peak than the SXM part the floors assume.)"""
    if not name:
        return None
    upper = name.upper()
    for kind in ("H200", "H100"):
        if kind in upper:
            return kind
    return None


def frame_floor(gpu: str | None, arch: str | None, *, evals: int, taesd: bool, img2img: bool,
                size: int) -> Floor | None:
    """The floor of one frame, or None where there are no counts (another GPU, another
    architecture such as ``tiny``, or another resolution)."""
    if gpu not in PEAK_TFLOPS or arch not in FLOOR_SIZE or size != FLOOR_SIZE[arch]:
        return None
    if evals < 0:
        raise ValueError(f"evals: must be at least 0, got {evals}")
    vae = "taesd" if taesd else "vae"
    parts = ["unet"] * evals + ([f"{vae}_encode"] if img2img else []) + [f"{vae}_decode"]
    comps = [COMPONENTS[(arch, p)] for p in parts]
    gflop = sum(c.gflop for c in comps)
    return Floor(gpu=gpu, arch=arch, evals=evals, taesd=taesd, img2img=img2img,
                 tflop=gflop / 1000.0, compute_ms=gflop / PEAK_TFLOPS[gpu],  # GFLOP / (TFLOP/s) = ms
                 roofline_ms=sum(c.roofline_ms[gpu] for c in comps))
