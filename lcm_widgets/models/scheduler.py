"""The one LCM scheduler config every model this package builds uses (tiny, sd15, sdxl).

The values are those of ``SimianLuo/LCM_Dreamshaper_v7``'s ``scheduler/scheduler_config.json``
for the :class:`diffusers.LCMScheduler` arguments the schedule and the step math depend on.
The ``tiny`` model and both full-size architectures of :mod:`.arch` (``sd15``, ``sdxl``) are
built with it; there is no other copy.

``steps_offset`` is there because the released file has it, not because it does anything to
this scheduler: in diffusers 0.42 ``LCMScheduler.__init__`` stores it in the config and
nothing reads it (``set_timesteps`` and ``step`` do not), so the LCM timesteps for any
``num_inference_steps`` are the same with 0 or 1 (4 steps: 999, 759, 499, 259).
``tests/models/test_scheduler.py`` checks that against the installed diffusers.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["LCM_SCHEDULER", "TURBO_SCHEDULER", "lcm_scheduler_config"]

#: The config, as in ``SimianLuo/LCM_Dreamshaper_v7``'s ``scheduler_config.json``. Read-only by
#: convention: take :func:`lcm_scheduler_config` for a copy to change.
LCM_SCHEDULER: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "original_inference_steps": 50,
    "set_alpha_to_one": True,
    "clip_sample": False,
    "prediction_type": "epsilon",
    "timestep_spacing": "leading",
    "timestep_scaling": 10.0,
    "steps_offset": 1,
}


def lcm_scheduler_config() -> dict[str, Any]:
    """A private copy of :data:`LCM_SCHEDULER` (``LCMScheduler(**lcm_scheduler_config())``)."""
    return copy.deepcopy(LCM_SCHEDULER)


#: The ``EulerDiscreteScheduler`` config of the ``tiny-turbo`` model: the SD noise schedule of
#: :data:`LCM_SCHEDULER` (the same betas) with ``trailing`` timesteps, the spacing 1-4-step
#: turbo sampling needs (one step at t=999; LocalLCM sets it on every turbo preset's scheduler).
TURBO_SCHEDULER: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "prediction_type": "epsilon",
    "timestep_spacing": "trailing",
    "steps_offset": 1,
}
