"""The Studio's status line, controls and outputs without a browser: a real Sketchpad on a
recording comm and the real EchoBackend (tests/e2e/test_studio_ux.py shows the same in
JupyterLab and Notebook 7).

What the kernel tells the views: ``activity`` while a frame is in flight, ``stale`` with the
reason when the output no longer matches the params, the kernel's medians in ``stats``; what it
does for them: ``restore`` from the history strip, ``paused``, ``load_frame`` after
``submit_image``, typed values checked with the error next to the control.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from lcm_test_helpers import LooseComm, until
from PIL import Image

from lcm_widgets.backends.echo import EchoBackend
from lcm_widgets.widgets._controls import parse_typed
from lcm_widgets.widgets.sketchpad import Sketchpad
from lcm_widgets.widgets.studio import Studio


def jpeg(colour: tuple[int, int, int], size: int = 64) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buf, "JPEG", quality=95)
    return buf.getvalue()


class View:
    """Plays one browser view (docs/widget-protocol.md) against the recording comm."""

    def __init__(self, comm: LooseComm) -> None:
        self.comm = comm
        self.seq = 0

    def frame(self, colour: tuple[int, int, int]) -> None:
        self.seq += 1
        self.comm.deliver({"type": "frame", "v": 1, "seq": self.seq, "width": 64, "height": 64,
                           "mime": "image/jpeg", "t_input": time.time() * 1000,
                           "reason": "stroke"}, [jpeg(colour)])

    def results(self) -> list[dict[str, Any]]:
        return [c for c, _ in self.comm.custom_of("result")]

    def ack_all(self) -> None:
        for c in self.results():
            self.comm.deliver({"type": "ack", "v": 1, "seq": c["seq"], "rid": c["rid"],
                               "t_paint": time.time() * 1000})

    def restore(self, rid: int, params: dict[str, Any]) -> None:
        self.comm.deliver({"type": "restore", "v": 1, "rid": rid, "params": params})


@pytest.fixture
def make() -> Iterator[Callable[..., tuple[Studio, View]]]:
    made: list[Studio] = []

    def _make(backend: Any = None, **kw: Any) -> tuple[Studio, View]:
        comm = LooseComm()
        pad = Sketchpad(comm=comm, frame_width=64, frame_height=64)
        kw.setdefault("prompt", "a house")
        studio = Studio(backend or EchoBackend(), sketchpad=pad, **kw)
        made.append(studio)
        return studio, View(comm)

    yield _make
    for s in made:
        s.close()


def test_activity_says_generating_while_a_frame_is_in_flight(
        make: Callable[..., tuple[Studio, View]]) -> None:
    """``activity`` is "generating" during a slow frame and empty once its result is out."""
    studio, view = make(EchoBackend(delay=0.5))
    assert studio.sketchpad is not None and studio.sketchpad.activity == ""
    view.frame((200, 0, 0))
    until(lambda: studio.sketchpad.activity == "generating", 10, "the busy activity")
    until(lambda: view.results(), 10, "the result")
    until(lambda: studio.sketchpad.activity == "", 10, "idle again")
    assert "ready" not in studio.sketchpad.status  # the view says ready, from activity


def test_stats_are_the_kernel_medians_in_named_keys(
        make: Callable[..., tuple[Studio, View]]) -> None:
    """The status line gets ``model_ms``, ``queue_ms``, ``deliver_ms``, ``kernel_ms`` and
    ``samples``; the browser counts results and results/s itself (no kernel ``fps`` 0)."""
    studio, view = make()
    view.frame((10, 20, 30))
    until(lambda: view.results(), 10, "the result")
    stats = until(lambda: studio.sketchpad.stats if studio.sketchpad else None, 10, "stats")
    assert {"model_ms", "queue_ms", "deliver_ms", "kernel_ms"} <= set(stats)
    assert stats["samples"] == 1 and "fps" not in stats and "results" not in stats


def test_an_invalid_combination_marks_the_output_stale_with_the_reason(
        make: Callable[..., tuple[Studio, View]]) -> None:
    """steps × strength < 1 fails the request: ``stale`` says why; a good result clears it."""
    studio, view = make()
    pad = studio.sketchpad
    assert pad is not None
    view.frame((0, 200, 0))
    until(lambda: view.results(), 10, "the first result")
    view.ack_all()
    studio.controls.widgets["strength"].value = 0.2  # 4 × 0.2 < 1
    until(lambda: pad.stale, 10, "the stale reason")
    assert pad.stale.startswith("invalid settings:") and "strength" in pad.stale
    studio.controls.widgets["strength"].value = 0.5
    until(lambda: pad.stale == "", 10, "the mark to clear")


def test_typed_values_are_checked_not_clamped(make: Callable[..., tuple[Studio, View]]) -> None:
    """A bad typed value shows its error next to the control (field, limit, value), keeps the
    params and marks the output stale; a good one is applied and clears both."""
    studio, _ = make(steps=4)
    pad, c = studio.sketchpad, studio.controls
    assert pad is not None
    for typed in ("80", "4.7", "abc", "0"):
        c.entries["num_inference_steps"].value = typed
        assert c.invalid["num_inference_steps"] == (
            f"steps: must be a whole number between 1 and 50, got {typed!r}")
        assert studio.params["num_inference_steps"] == 4
        assert c.widgets["num_inference_steps"].value == 4
        assert pad.stale == f"invalid settings: {c.invalid['num_inference_steps']}"
    c.entries["num_inference_steps"].value = "6"
    assert studio.params["num_inference_steps"] == 6 and c.widgets["num_inference_steps"].value == 6
    assert c.invalid == {} and pad.stale == ""
    c.entries["strength"].value = "1.5"
    assert c.invalid["strength"] == "strength: must be a number between 0 and 1, got '1.5'"
    c.widgets["strength"].value = 0.75  # dragging the slider replaces the bad text
    assert c.entries["strength"].value == "0.75" and c.invalid == {} and pad.stale == ""
    c.widgets["seed"].value = "-3"
    assert c.invalid["seed"].startswith("seed: must be a whole number between 0 and ")
    assert c.invalid["seed"].endswith("got '-3'")
    c.widgets["seed"].value = "42"
    assert studio.params["seed"] == 42 and c.invalid == {}


def test_parse_typed_names_the_field_the_limit_and_the_value() -> None:
    """The one check behind every entry."""
    assert parse_typed("num_inference_steps", " 8 ") == 8
    assert parse_typed("guidance_scale", "2.5") == 2.5
    with pytest.raises(ValueError, match=r"guidance: must be a number between 0 and 20, got 'nan'"):
        parse_typed("guidance_scale", "nan")


def test_unlocked_seed_field_shows_the_seed_used(
        make: Callable[..., tuple[Studio, View]]) -> None:
    """With the seed unlocked, the seed field follows the seed of the image sent."""
    studio, view = make(seed=5)
    studio.seed_locked = False
    view.frame((1, 2, 3))
    until(lambda: view.results(), 10, "the result")
    used = view.results()[-1]["params"]["seed"]
    until(lambda: studio.controls.widgets["seed"].value == str(used), 10, "the seed shown")
    assert studio.params["seed"] == used


def test_unlocked_seed_field_is_written_at_most_every_interval_and_ends_on_the_shown_seed(
        make: Callable[..., tuple[Studio, View]]) -> None:
    """Each seed-field write is a comm message to every view: with results faster than
    SEED_FIELD_INTERVAL the field is written less often than results come, and its last
    write (a trailing one) is the seed of the newest image sent."""
    from lcm_widgets.widgets.studio import SEED_FIELD_INTERVAL

    studio, view = make(seed=5)
    studio.seed_locked = False
    field = studio.controls.widgets["seed"]
    writes: list[str] = []
    field.observe(lambda ch: writes.append(ch["new"]), names="value")
    t0 = time.monotonic()
    n = 24
    for i in range(n):
        view.frame((i * 10, 0, 0))
        until(lambda i=i: len(view.results()) == i + 1, 10, f"result {i + 1}")
        view.ack_all()
    elapsed = time.monotonic() - t0
    used = view.results()[-1]["params"]["seed"]
    until(lambda: field.value == str(used), 10, "the seed shown, after the trailing write")
    assert studio.params["seed"] == used
    # the rule: one write now, then at most one per interval (each result had its own seed)
    assert len({r["params"]["seed"] for r in view.results()}) == n
    assert len(writes) <= 2 + elapsed / SEED_FIELD_INTERVAL, (len(writes), elapsed)
    assert len(writes) < n
    print(f"{n} results in {elapsed:.2f} s, {len(writes)} seed-field writes")


def test_restore_applies_a_results_params_and_locks_its_seed(
        make: Callable[..., tuple[Studio, View]]) -> None:
    """A ``restore`` from the history strip sets the params and seed it carries (the model
    name and unknown keys are ignored), locks the seed and re-renders."""
    studio, view = make(seed=5)
    view.frame((9, 9, 9))
    until(lambda: view.results(), 10, "the result")
    view.ack_all()
    first = view.results()[-1]
    assert first["params"]["model"] == "echo (cpu)" and first["params"]["negative_prompt"] == ""
    studio.update(seed=99, steps=8, strength=0.25)
    studio.seed_locked = False
    view.restore(first["rid"], first["params"])
    assert studio.params["seed"] == 5 and studio.params["num_inference_steps"] == 4
    assert studio.params["strength"] == 0.5 and studio.seed_locked
    assert studio.controls.widgets["seed"].value == "5"
    until(lambda: len(view.results()) >= 2 and view.results()[-1]["params"]["seed"] == 5, 10,
          "the re-render with the restored seed")
    view.restore(1, {"num_inference_steps": 0})  # a bad one: an error in words, nothing set
    until(lambda: studio.sketchpad and "could not restore" in studio.sketchpad.error, 10,
          "the restore error")
    assert studio.params["num_inference_steps"] == 4


def test_pause_holds_param_edits_until_resumed(
        make: Callable[..., tuple[Studio, View]]) -> None:
    """While paused a param edit renders nothing and marks the output stale; resuming
    renders the newest frame with the new params."""
    studio, view = make()
    pad = studio.sketchpad
    assert pad is not None
    view.frame((50, 50, 50))
    until(lambda: view.results(), 10, "the result")
    view.ack_all()
    started = studio.stats["started"]
    pad.paused = True  # as the view's pause button does
    assert studio.paused
    studio.update(prompt="a barn")
    assert studio.wait(10) and studio.stats["started"] == started
    assert pad.stale == "paused: the settings changed since this image"
    studio.paused = False
    assert not pad.paused
    until(lambda: view.results()[-1]["params"]["prompt"] == "a barn", 10, "the re-render")
    assert pad.stale == ""


def test_submit_image_shows_in_every_view_and_a_new_view_syncs_it(
        make: Callable[..., tuple[Studio, View]]) -> None:
    """``submit_image`` sends ``load_frame`` with a seq above the views' and answers that seq;
    a view opened later gets the submitted image in its ``sync``."""
    studio, view = make()
    view.frame((0, 0, 0))
    until(lambda: view.results(), 10, "the result")
    view.ack_all()
    studio.submit_image(Image.new("RGB", (32, 32), (250, 0, 0)))
    (load, _), = view.comm.custom_of("load_frame")
    assert load["seq"] == view.seq + 1
    assert view.results()[-1]["seq"] == load["seq"]
    view.comm.deliver({"type": "hello", "v": 1, "view": "late"})
    sync, bufs = view.comm.custom_of("sync")[-1]
    assert sync["frame"]["seq"] == load["seq"] and sync["seq"] == load["seq"]
    red = Image.open(io.BytesIO(bytes(bufs[0]))).convert("RGB").getpixel((32, 32))
    assert red[0] > 200 and red[1] < 60  # type: ignore[index]


def test_a_backend_given_as_a_function_loads_in_the_widget(
        make: Callable[..., tuple[Studio, View]]) -> None:
    """``Studio(lambda: ...)`` shows at once with "loading the model" as its activity; a frame
    drawn meanwhile is rendered once the backend is there, and the model name appears."""
    import threading

    gate = threading.Event()

    def load() -> EchoBackend:
        gate.wait(10)
        return EchoBackend()

    studio, view = make(load)
    pad = studio.sketchpad
    assert pad is not None and pad.activity == "loading the model"
    assert studio.backend is None and "loading the model" in pad.status
    view.frame((70, 80, 90))
    assert studio.stats["completed"] == 0
    gate.set()
    assert isinstance(studio.wait_loaded(10), EchoBackend)
    until(lambda: view.results(), 10, "the frame drawn while loading, rendered")
    assert "echo" in pad.status and "echo" in studio.controls.model.value


def test_a_backend_that_fails_to_load_says_why(
        make: Callable[..., tuple[Studio, View]]) -> None:
    """A loader that raises: the error in words, no activity, frames fail with it too."""
    from lcm_widgets.errors import BackendUnavailable

    def load() -> EchoBackend:
        raise OSError("no weights in /nowhere")

    studio, view = make(load)
    pad = studio.sketchpad
    assert pad is not None
    with pytest.raises(BackendUnavailable, match="could not load the model: no weights"):
        studio.wait_loaded(10)
    until(lambda: "could not load the model: no weights" in pad.error, 10, "the error")
    assert pad.activity == ""
    view.frame((1, 1, 1))
    assert studio.wait(10) and studio.stats["errors"] == 1
    with pytest.raises(TypeError, match="or a function that makes one, got int"):
        Studio(3, sketchpad=Sketchpad(comm=LooseComm()))  # type: ignore[arg-type]
