"""A LocalLCM load tells its steps: the real tiny model through the real ``from_pretrained``
path, heard with ``on_progress`` and with ``load_progress`` (how a Studio hears a load its
loader function started), in order, ending at the total."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from lcm_widgets.backends.local.loading import LoadProgress, LoadReporter, load_progress


def test_reporter_counts_steps_and_ends_at_the_total() -> None:
    """Before ``plan`` the total is unknown (None) and the step not counted; each step's event
    says how many were done before it; ``finish`` says ``loaded`` with ``done == total``."""
    heard: list[LoadProgress] = []
    r = LoadReporter(heard.append, later=["warm-up"])
    r.step("import torch")
    r.plan(2)
    r.step("unet")
    r.step("vae")
    r.step("warm-up")
    r.finish()
    assert [(e.step, e.done, e.total) for e in heard] == [
        ("import torch", 0, None), ("unet", 0, 3), ("vae", 1, 3), ("warm-up", 2, 3),
        ("loaded", 3, 3)]
    assert [e.text for e in heard] == ["import torch", "unet (1/3)", "vae (2/3)",
                                       "warm-up (3/3)", "loaded"]


def test_load_progress_is_per_thread_and_nests() -> None:
    """Listeners of ``load_progress`` hear reporters made on their thread, inside the ``with``
    only; a listener that raises is logged and dropped, the others go on hearing."""
    outer: list[str] = []
    inner: list[str] = []
    other: list[str] = []

    def boom(event: LoadProgress) -> None:
        raise RuntimeError("display gone")

    with load_progress(lambda e: outer.append(e.step)):
        with load_progress(boom), load_progress(lambda e: inner.append(e.step)):
            r = LoadReporter()
            r.step("a")
            r.step("b")
        t = threading.Thread(target=lambda: LoadReporter(lambda e: other.append(e.step)).step("c"))
        t.start()
        t.join()
        LoadReporter().step("d")
    LoadReporter().step("e")
    assert outer == ["a", "b", "d"]
    assert inner == ["a", "b"]
    assert other == ["c"]


def steps(events: list[LoadProgress]) -> list[str]:
    return [e.step for e in events]


def check_counts(events: list[LoadProgress]) -> None:
    """Counted events go up one by one from 0 and end at ``loaded`` with done == total."""
    counted = [e for e in events if e.total is not None]
    total = counted[-1].total
    assert all(e.total == total for e in counted)
    assert [e.done for e in counted] == list(range(len(counted)))
    assert counted[-1] == LoadProgress("loaded", total, total)
    assert len(counted) == total + 1


def test_tiny_load_tells_each_part_in_order(model_cache: str) -> None:
    """``LocalLCM("tiny")``: import torch, then the pipeline's parts (tokenizer, text encoder,
    unet, vae, scheduler), the move to the CPU and the warm-up, then ``loaded``; the same
    events reach ``on_progress`` and a ``load_progress`` listener."""
    pytest.importorskip("diffusers")
    from lcm_widgets.backends.local import LocalLCM

    direct: list[LoadProgress] = []
    ambient: list[LoadProgress] = []
    with load_progress(ambient.append):
        lcm = LocalLCM("tiny", progress=False, on_progress=direct.append)
    assert direct == ambient
    assert steps(direct) == ["import torch", "tokenizer", "text encoder", "unet", "vae",
                             "scheduler", "to cpu", "warm-up", "loaded"]
    assert direct[0].total is None
    check_counts(direct)
    out = lcm.generate_sync({"prompt": "a house", "num_inference_steps": 1})
    assert out.images[0].width == 512


def test_taesd_and_controlnet_are_steps_too(model_cache: str) -> None:
    """TAESD and each ControlNet are steps of their own, counted in the total from the start;
    without the warm-up there is no warm-up step."""
    pytest.importorskip("diffusers")
    from lcm_widgets.backends.local import LocalLCM

    events: list[LoadProgress] = []
    LocalLCM("tiny", progress=False, vae="taesd", controlnet=["tiny-controlnet"],
             warmup=False, on_progress=events.append)
    assert steps(events) == ["import torch", "tokenizer", "text encoder", "unet", "vae",
                             "scheduler", "taesd", "to cpu", "controlnet tiny-controlnet",
                             "loaded"]
    check_counts(events)


def test_a_failed_load_ends_without_loaded(model_cache: str,
                                           caplog: pytest.LogCaptureFixture) -> None:
    """A load that fails stops telling at the step that failed (no ``loaded``), and a
    listener that raises does not stop a load."""
    pytest.importorskip("diffusers")
    from lcm_widgets.backends.local import LocalLCM
    from lcm_widgets.errors import ModelLoadError

    events: list[Any] = []
    with pytest.raises(ModelLoadError):
        LocalLCM("tiny", progress=False, controlnet="owner/not-a-controlnet", warmup=False,
                 on_progress=events.append)
    assert events[-1].step == "controlnet owner/not-a-controlnet"

    def broken(event: LoadProgress) -> None:
        raise ValueError("no screen")

    with caplog.at_level(logging.ERROR):
        lcm = LocalLCM("tiny", progress=False, warmup=False, on_progress=broken)
    assert lcm.native_size == 512
    assert "a load progress listener failed" in caplog.text
