"""Helpers of ``lcm-widgets bench``: statistics, H100/H200 floors, model probes, the frame loop
and the report. Importing this package imports neither torch nor diffusers.

* percentiles and :class:`~lcm_widgets.stats.Summary` (re-exported from :mod:`lcm_widgets.stats`);
* :mod:`.floors`: the PERF.md FLOP counts and per-frame floors (one place for the constants);
* :mod:`.probes`: per-call wall and CUDA-event timing of the UNet, VAE and text encoders;
* :mod:`.runner`: sketch frames and the interleaved ours-vs-stock loop;
* :mod:`.report`: the numbers (JSON) and the markdown tables.
"""

from __future__ import annotations

from .floors import Floor, frame_floor, gpu_kind
from ..stats import Summary, percentile, summarize

__all__ = ["Floor", "Summary", "frame_floor", "gpu_kind", "percentile", "summarize"]
