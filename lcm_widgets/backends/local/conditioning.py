"""Prompt embeddings (LRU-cached) and guidance conditioning for the lean loop.

Guidance reaches the UNet in one of two ways, chosen by the model:

* **w-embedding** (UNets with ``time_cond_proj_dim``: LCM_Dreamshaper_v7, the ``tiny`` model,
  LCM-SDXL): ``guidance_scale - 1`` becomes a sinusoidal embedding added to the timestep
  embedding, one row per sample, and the batch is not doubled. As in diffusers' LCM pipelines,
  the negative prompt is not used: LCMs are distilled against the empty unconditional prompt
  (see the ``NOTE`` in ``LatentConsistencyModelPipeline.__call__``).
* **classifier-free guidance** (a base UNet with an LCM-LoRA fused in): when any sample in the
  batch has ``guidance_scale > 1`` the batch runs as ``[negative; positive]`` rows and is
  combined per sample; otherwise only the positive rows run. A sample with ``guidance_scale
  <= 1`` in such a batch is combined with scale 1 (its positive row alone), which is what it
  gets when it runs by itself (the stock pipelines also skip guidance at or below 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .cache import LRU
from .loop import guidance_embedding

__all__ = ["Conditioning", "PromptCache"]


@dataclass(frozen=True)
class _Embeds:
    cond: Any
    uncond: Any = None  # None when not encoded (w-embedding models)
    pooled: Any = None  # SDXL only
    uncond_pooled: Any = None


@dataclass(frozen=True)
class Conditioning:
    """What :func:`~.loop.denoise` needs besides the latents."""

    prompt_embeds: Any
    timestep_cond: Any | None
    added_cond_kwargs: dict[str, Any] | None
    cfg_scale: Any | None


class PromptCache:
    """Encodes prompts with the pipeline's own ``encode_prompt`` and keeps the newest ``size``.

    Not thread-safe on its own: :class:`~.backend.LocalLCM` uses it under its model lock.
    """

    def __init__(self, pipe: Any, *, time_cond: bool, family: str, device: Any, dtype: Any,
                 size: int = 64) -> None:
        self.pipe = pipe
        self.time_cond = time_cond
        self.family = family
        self.device = device
        self.dtype = dtype
        self.size = size
        self.hits = 0
        self.misses = 0
        self._cache: LRU[tuple[str, str | None], _Embeds] = LRU(size)
        self._w_cache: LRU[tuple[float, ...], Any] = LRU(size)

    def get(self, prompt: str, negative_prompt: str) -> _Embeds:
        """The embeddings of one ``(prompt, negative_prompt)``, from the cache when possible."""
        key = (prompt, None if self.time_cond else negative_prompt)
        hit = self._cache.get(key)
        if hit is not None:
            self.hits += 1
            return hit
        self.misses += 1
        return self._cache.put(key, self._encode(prompt, negative_prompt))

    def _w_embedding(self, guidance: tuple[float, ...], w_dim: int) -> Any:
        """The w-embedding rows for these guidance scales, kept on the device (small LRU)."""
        import torch

        def make() -> Any:
            w = torch.tensor([g - 1.0 for g in guidance])
            return guidance_embedding(w, embedding_dim=w_dim).to(device=self.device,
                                                                 dtype=self.dtype)

        return self._w_cache.get_or_make(guidance, make)

    def _encode(self, prompt: str, negative_prompt: str) -> _Embeds:
        pipe = self.pipe
        if self.family == "sdxl":
            pe, npe, pooled, npooled = pipe.encode_prompt(
                prompt=prompt, device=self.device, num_images_per_prompt=1,
                do_classifier_free_guidance=not self.time_cond,
                negative_prompt=negative_prompt or None)
            return _Embeds(pe, npe, pooled, npooled)
        if self.time_cond:
            pe, _ = pipe.encode_prompt(prompt, self.device, 1, False)
            return _Embeds(pe)
        pe, npe = pipe.encode_prompt(prompt, self.device, 1, True,
                                     negative_prompt=negative_prompt or None)
        return _Embeds(pe, npe)

    def conditioning(self, rows: Sequence[tuple[str, str, float]], size: tuple[int, int],
                     w_dim: int | None) -> Conditioning:
        """Stack ``(prompt, negative_prompt, guidance_scale)`` rows, one per sample."""
        import torch

        embeds = [self.get(p, n) for p, n, _ in rows]
        guidance = [g for _, _, g in rows]
        use_cfg = not self.time_cond and any(g > 1.0 for g in guidance)
        cond = torch.cat([e.cond for e in embeds])
        if use_cfg:
            prompt_embeds = torch.cat([torch.cat([e.uncond for e in embeds]), cond])
            # Scale 1 for rows that alone would run unguided: uncond + 1 * (cond - uncond).
            scales = [g if g > 1.0 else 1.0 for g in guidance]
            cfg = torch.tensor(scales, device=self.device, dtype=self.dtype).view(-1, 1, 1, 1)
        else:
            prompt_embeds, cfg = cond, None
        timestep_cond = None
        if self.time_cond and w_dim is not None:
            timestep_cond = self._w_embedding(tuple(guidance), w_dim)
        added = None
        if self.family == "sdxl":
            pooled = torch.cat([e.pooled for e in embeds])
            if use_cfg:
                pooled = torch.cat([torch.cat([e.uncond_pooled for e in embeds]), pooled])
            w_px, h_px = size
            time_ids = torch.tensor([[h_px, w_px, 0, 0, h_px, w_px]] * pooled.shape[0],
                                    device=self.device, dtype=prompt_embeds.dtype)
            added = {"text_embeds": pooled, "time_ids": time_ids}
        return Conditioning(prompt_embeds, timestep_cond, added, cfg)
