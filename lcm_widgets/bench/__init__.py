"""Helpers of ``lcm-widgets bench``: statistics, H100/H200 floors, model probes, the frame loop
and the report. Importing this package imports neither torch nor diffusers.

* percentiles and :class:`~lcm_widgets.stats.Summary` (re-exported from :mod:`lcm_widgets.stats`);
* :mod:`.floors`: the FLOP counts and per-frame floors of docs/gpu.md (one place for the
  constants);
* :mod:`.probes`: per-call wall and CUDA-event timing of the UNet, VAE and text encoders;
* :mod:`.runner`: sketch frames and the interleaved ours-vs-stock loop;
* :mod:`.report`: the numbers (JSON) and the markdown tables.
"""

from __future__ import annotations

from ..stats import Summary, percentile, summarize
from .floors import Floor, frame_floor, gpu_kind

__all__ = ["Floor", "Summary", "frame_floor", "gpu_kind", "percentile", "summarize"]
