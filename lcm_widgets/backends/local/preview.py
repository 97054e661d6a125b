"""A cheap RGB look at latents: the step previews of ``LocalLCM.generate_with_previews``.

Each LCM step's ``denoised`` latents (already the model's guess of the final image, in latent
space) are mapped to RGB by one fixed linear map per latent channel, one pixel per latent pixel
(a 512x512 image gives a 64x64 preview). No VAE runs: the map is the well-known least-squares
fit of the VAE decoder's mean colour for Stable Diffusion latents (SD 1.x/2.x, and another for
SDXL), good enough to watch an image appear. Latents of another channel count (a custom model)
fall back to their first three channels, normalised.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["latents_to_rgb"]

# rows: latent channels 0..3; columns: R, G, B (scaled latents in, about [-1, 1] out)
_SD_FACTORS = ((0.3512, 0.2297, 0.3227), (0.3250, 0.4974, 0.2350),
               (-0.2829, 0.1762, 0.2721), (-0.2120, -0.2616, -0.7177))
_SDXL_FACTORS = ((0.3651, 0.4232, 0.4341), (-0.2533, -0.0042, 0.1068),
                 (0.1076, 0.1111, -0.0362), (-0.3165, -0.2492, -0.2188))
_SDXL_BIAS = (0.1084, -0.0175, -0.0011)


def latents_to_rgb(latents: torch.Tensor, family: str = "sd") -> Any:
    """``(B, C, h, w)`` scaled latents → ``(B, h, w, 3)`` uint8 numpy (on the host)."""
    import torch

    x = latents.detach().float()
    if x.shape[1] == 4:
        factors = torch.tensor(_SDXL_FACTORS if family == "sdxl" else _SD_FACTORS,
                               dtype=x.dtype, device=x.device)
        rgb = torch.einsum("bchw,cr->brhw", x, factors)
        if family == "sdxl":
            rgb = rgb + torch.tensor(_SDXL_BIAS, dtype=x.dtype, device=x.device)[None, :, None,
                                                                                 None]
    else:
        rgb = x[:, :3] if x.shape[1] >= 3 else x[:, :1].expand(-1, 3, -1, -1)
        lo = rgb.amin(dim=(2, 3), keepdim=True)
        hi = rgb.amax(dim=(2, 3), keepdim=True)
        rgb = (rgb - lo) / (hi - lo).clamp_min(1e-6) * 2 - 1
    out = ((rgb.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return out.permute(0, 2, 3, 1).contiguous().cpu().numpy()
