"""One LCM scheduler config, used by the tiny model and both full-size architectures."""

from __future__ import annotations

import json

import pytest

from lcm_widgets.models.arch import ARCHS, arch_configs
from lcm_widgets.models.scheduler import LCM_SCHEDULER, lcm_scheduler_config
from lcm_widgets.models.tiny import ensure_tiny_model, tiny_configs


def test_tiny_and_every_arch_use_the_one_config() -> None:
    """tiny and sd15/sdxl are built from LCM_SCHEDULER itself, with nothing changed."""
    assert tiny_configs()["scheduler"] == LCM_SCHEDULER
    assert set(ARCHS) == {"sd15", "sdxl"}
    for arch in ARCHS:
        assert arch_configs(arch)["scheduler"] == LCM_SCHEDULER, arch


def test_config_is_lcm_dreamshaper_v7s() -> None:
    """The values are LCM_Dreamshaper_v7's scheduler_config.json (steps_offset included)."""
    assert LCM_SCHEDULER == {
        "num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012,
        "beta_schedule": "scaled_linear", "original_inference_steps": 50,
        "set_alpha_to_one": True, "clip_sample": False, "prediction_type": "epsilon",
        "timestep_spacing": "leading", "timestep_scaling": 10.0, "steps_offset": 1}
    copy = lcm_scheduler_config()
    copy["steps_offset"] = 0
    assert LCM_SCHEDULER["steps_offset"] == 1


def test_steps_offset_does_not_change_lcm_timesteps() -> None:
    """As the scheduler module says: LCMScheduler.set_timesteps ignores steps_offset."""
    diffusers = pytest.importorskip("diffusers")
    with_offset = diffusers.LCMScheduler(**LCM_SCHEDULER)
    without = diffusers.LCMScheduler(**{**LCM_SCHEDULER, "steps_offset": 0})
    for steps in (1, 2, 4, 8, 50):
        with_offset.set_timesteps(steps)
        without.set_timesteps(steps)
        assert with_offset.timesteps.tolist() == without.timesteps.tolist(), steps
    with_offset.set_timesteps(4)
    assert with_offset.timesteps.tolist() == [999, 759, 499, 259]


def test_built_tiny_scheduler_has_the_config(model_cache: str) -> None:
    """The tiny folder's scheduler_config.json, written by save_pretrained, holds the config."""
    pytest.importorskip("diffusers")
    folder = ensure_tiny_model()
    saved = json.loads((folder / "pipeline" / "scheduler" / "scheduler_config.json").read_text())
    assert saved["_class_name"] == "LCMScheduler"
    assert {k: saved[k] for k in LCM_SCHEDULER} == LCM_SCHEDULER
