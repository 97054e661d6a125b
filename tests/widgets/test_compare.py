"""The Compare grid without a browser: real ipywidgets over a recording comm, real backends."""

from __future__ import annotations

import sys
import threading
from typing import Any

import pytest
from PIL import Image

from lcm_widgets.backends.base import BackendInfo
from lcm_widgets.backends.echo import EchoBackend
from lcm_widgets.errors import InvalidInput
from lcm_widgets.schema import Input, Output
from lcm_widgets.testing import RecordingComm

W = pytest.importorskip("ipywidgets")


@pytest.fixture(autouse=True)
def recording_comm(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every widget gets a RecordingComm: real ipywidgets paths, messages kept for asserts."""
    import comm

    def create(**kw: Any) -> RecordingComm:
        c = RecordingComm(**kw)
        comm.get_comm_manager().register_comm(c)  # so that widget.close() can unregister it
        return c

    monkeypatch.setattr(comm, "create_comm", create)


def drawing(colour: str = "red", size: int = 64) -> Image.Image:
    return Image.new("RGB", (size, size), colour)


def frontend_update(widget: Any, **state: Any) -> None:
    """What the browser sends when the user edits a widget."""
    widget.comm.deliver_state(state)


def frontend_click(button: Any) -> None:
    """What the browser sends when the user clicks a Button."""
    button.comm.deliver({"event": "click"})


class CountingEcho(EchoBackend):
    """EchoBackend that records the size of every model call."""

    def __init__(self, *, can_batch: bool = True, **kw: Any) -> None:
        super().__init__(**kw)
        self.call_sizes: list[int] = []
        self._info = BackendInfo(name="echo", model="echo", can_batch=can_batch,
                                 batch_axes=("seed", "prompt", "guidance_scale"), max_batch=4)

    async def generate(self, inp: Input) -> Output:
        self.call_sizes.append(1)
        return await super().generate(inp)

    async def generate_batch(self, inputs: list[Input]) -> list[Output]:
        self.call_sizes.append(len(inputs))
        return [await EchoBackend.generate(self, i) for i in inputs]


class GatedEcho(EchoBackend):
    """EchoBackend whose first call blocks until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.images: list[bytes] = []

    async def generate(self, inp: Input) -> Output:
        import asyncio

        self.entered.set()
        while not self.gate.is_set():
            await asyncio.sleep(0.005)
        self.images.append(inp.image_url if isinstance(inp.image_url, bytes) else b"")
        return await super().generate(inp)


@pytest.fixture
def make() -> Any:
    from lcm_widgets.widgets.compare import Compare

    made: list[Any] = []

    def _make(*args: Any, **kw: Any) -> Any:
        kw.setdefault("sketchpad", False)
        c = Compare(*args, **kw)
        made.append(c)
        return c

    yield _make
    for c in made:
        c.close()


def test_three_by_three_grid_renders_every_valid_cell(make: Any) -> None:
    """steps x strength: 9 cells, labelled; the invalid combination shows its own error."""
    c = make(backend=EchoBackend(), prompt="a house", steps=[2, 4, 8],
             strength=[0.3, 0.5, 0.7])
    assert (c.sweep.n_rows, c.sweep.n_cols) == (3, 3)
    assert c.errors == {(0, 0): "steps=2 · strength=0.3: num_inference_steps * strength must be "
                                "at least 1 for image-to-image, got int(2 * 0.3) = 0; raise "
                                "num_inference_steps or strength"}
    results = c.run(drawing())
    assert len(results) == 9
    ok = [r for r in results if not r["error"]]
    assert len(ok) == 8 and all(r["image"][:2] == b"\xff\xd8" for r in ok)
    assert {(r["row"], r["col"]) for r in ok} == {(r, k) for r in range(3) for k in range(3)} - {
        (0, 0)}
    first = results[5]
    assert first["labels"] == {"row": "steps=4", "col": "strength=0.7"}
    assert first["params"]["num_inference_steps"] == 4 and first["params"]["strength"] == 0.7
    assert first["params"]["prompt"] == "a house" and first["latency_ms"] >= 0
    # The widgets show it: each cell's Image holds the bytes, its caption the latency.
    image, info, _button, note, _slot = c._views[5]
    assert image.value == first["image"] and " ms" in info.value
    assert "steps=4 · strength=0.7" in info.value  # the caption names the cell's values
    assert image.layout.display is None and note.layout.display == "none"
    # The invalid cell: its error in the image's place (no empty image), no adopting it.
    bad = c._views[0]
    assert "must be at least 1" in bad.note.value and bad.image.layout.display == "none"
    assert bad.button.disabled and "invalid" in bad.info.value
    assert not any(v.button.disabled for v in c._views[1:])
    with pytest.raises(InvalidInput, match=r"adopt: cell \(0, 0\) is invalid"):
        c.adopt(0, 0)
    assert "3×3 grid on echo" in c.status.value
    # The comm carried the images to the (would-be) browser as binary buffers.
    assert any(first["image"] in sent.buffers for sent in image.comm.log)


def test_batched_groups_use_generate_batch_and_others_go_cell_by_cell(make: Any) -> None:
    """seed x guidance on a batching backend runs ceil(9/4) calls; a non-batching one 9."""
    be = CountingEcho()
    c = make(backend=be, prompt="p", seed=[1, 2, 3], guidance=[1.0, 2.0, 3.0])
    c.run(drawing())
    assert be.call_sizes == [4, 4, 1]
    assert [r["batch_size"] for r in c.results] == [4] * 8 + [1]
    solo = CountingEcho(can_batch=False)
    c2 = make(backend=solo, prompt="p", seed=[1, 2, 3], guidance=[1.0, 2.0, 3.0])
    c2.run(drawing())
    assert solo.call_sizes == [1] * 9


def test_a_failing_cell_shows_its_error_and_the_grid_goes_on(make: Any) -> None:
    """One prompt makes the backend fail: that row shows the error, the other rows render."""
    be = CountingEcho(can_batch=False)
    c = make(backend=be, prompt=["a cat", "!fail please"], seed=[1, 2])
    res = c.run(drawing())
    bad = [r for r in res if r["error"]]
    assert [(r["row"], r["col"]) for r in bad] == [(1, 0), (1, 1)]
    assert "echo backend asked to fail" in bad[0]["error"]
    assert all(r["image"] for r in res if r["row"] == 0)
    assert "asked to fail" in c._views[2].note.value and "failed" in c._views[2].info.value
    assert not c._views[2].button.disabled  # valid params: a failed render can be adopted
    c.run(drawing("blue"))  # and the next frame still renders
    assert {r["frame"] for r in c.results} == {2}


def test_newest_frame_wins_for_the_grid_as_a_whole(make: Any) -> None:
    """Frames arriving while a grid runs collapse to the newest; every cell ends on it, and
    while it runs no cell is more than one frame behind another."""
    be = GatedEcho()
    c = make(backend=be, prompt="p", seed=[1, 2, 3], guidance=[1.0, 2.0])
    painted: list[dict[int, int]] = []
    original = c._paint

    def spy(res: Any) -> None:
        original(res)
        painted.append({i: r.frame for i, r in c._results.items()})

    c._paint = spy
    k1 = c.submit(drawing("red"))
    assert be.entered.wait(10)
    c.submit(drawing("green"))
    c.submit(drawing("yellow"))
    k4 = c.submit(drawing("blue"))
    be.gate.set()
    assert c.wait(30)
    assert {r["frame"] for r in c.results} == {k4}
    assert c._pacer.counters.started == 2 and c._pacer.counters.dropped_frames == 2
    assert {f for snap in painted for f in snap.values()} == {k1, k4}
    assert all(max(s.values()) - min(s.values()) <= k4 - k1 for s in painted)
    # Same drawing again: skipped, nothing re-runs.
    calls = len(be.images)
    c.submit(drawing("blue"))
    assert c.wait(10) and len(be.images) == calls


def schema_range(field: str) -> tuple[Any, Any]:
    """``(ge, le)`` of an Input field, read here independently of the widget code."""
    meta = Input.model_fields[field].metadata
    return (next(m.ge for m in meta if hasattr(m, "ge")),
            next(m.le for m in meta if hasattr(m, "le")))


def col_editor(c: Any, col: int) -> Any:
    """The value widget of column header ``col`` (grid: corner, column headers, rows)."""
    return c.grid.children[1 + col]


def row_editor(c: Any, row: int) -> Any:
    """The value widget of row header ``row`` (an HBox of "name =" and the editor), or the
    label of a row that has no editor."""
    header = c.grid.children[1 + c.sweep.n_cols + row * (c.sweep.n_cols + 1)]
    return header.children[1] if isinstance(header, W.HBox) else header


def test_numeric_axes_get_sliders_bounded_by_the_schema(make: Any) -> None:
    """Int fields get an IntSlider, float fields a FloatSlider, min/max from the schema's
    ge/le; no slider sends while it is dragged (continuous_update=False)."""
    c = make(backend=EchoBackend(), prompt="p", steps=[2, 4], strength=[0.5, 0.7])
    steps, strength = row_editor(c, 1), col_editor(c, 1)
    assert type(steps) is W.IntSlider and steps.value == 4
    assert (steps.min, steps.max) == schema_range("num_inference_steps") == (1, 50)
    assert type(strength) is W.FloatSlider and strength.value == 0.7
    assert (strength.min, strength.max) == schema_range("strength") == (0.0, 1.0)
    c2 = make(backend=EchoBackend(), prompt="p", guidance=[1, 2.5], guidance_rescale=[0.0, 0.3])
    guidance, rescale = row_editor(c2, 0), col_editor(c2, 1)
    assert type(guidance) is W.FloatSlider and guidance.value == 1.0
    assert (guidance.min, guidance.max) == schema_range("guidance_scale") == (0.0, 20.0)
    assert type(rescale) is W.FloatSlider and rescale.value == 0.3
    assert (rescale.min, rescale.max) == schema_range("guidance_rescale") == (0.0, 1.0)
    for w in (steps, strength, guidance, rescale):
        assert w.continuous_update is False and w.readout
    assert "lcm-compare-col-value" in strength._dom_classes
    assert "lcm-compare-row-value" in steps._dom_classes


def test_seed_is_an_int_text_and_other_axes_keep_text_boxes(make: Any) -> None:
    """seed (0..2**64-1) is an IntText, not a slider; prompt, negative_prompt, model_name and
    size are text boxes; a backend axis and flattened rows are plain labels."""
    c = make(backend=EchoBackend(), seed=[1, 2], prompt=["a cat", "a dog"])
    seed, prompt = row_editor(c, 1), col_editor(c, 0)
    assert type(seed) is W.IntText and seed.value == 2 and seed.continuous_update is False
    assert type(prompt) is W.Text and prompt.value == "a cat"
    c2 = make(backend=EchoBackend(), prompt="p", model_name=["tiny"],
              size=["square", {"width": 384, "height": 256}])
    assert type(row_editor(c2, 0)) is W.Text and row_editor(c2, 0).value == "tiny"
    assert [col_editor(c2, i).value for i in range(2)] == ["square", "384x256"]
    c3 = make(backend=EchoBackend(), prompt="p", negative_prompt=["blurry", ""])
    assert [type(row_editor(c3, i)) for i in range(2)] == [W.Text, W.Text]
    c4 = make(prompt="p", backend=[("a", EchoBackend()), ("b", EchoBackend())],
              strength=[0.5, 0.7])
    assert isinstance(row_editor(c4, 0), W.HTML) and "<b>a</b>" in row_editor(c4, 0).value
    assert type(col_editor(c4, 0)) is W.FloatSlider  # the other axis still slides
    c5 = make(backend=EchoBackend(), prompt="p", seed=[None, 3])  # a random seed: text
    assert type(row_editor(c5, 0)) is W.Text and row_editor(c5, 0).value == "none"
    assert type(row_editor(c5, 1)) is W.IntText


def test_slider_edit_rerenders_the_newest_frame_once_after_the_debounce(make: Any) -> None:
    """A slider moved in the browser re-renders the same frame with the new value, once, after
    the debounce; quick successive edits collapse into that one re-render."""
    import time

    c = make(backend=EchoBackend(), prompt="p", steps=[2, 4], strength=[0.5, 0.7],
             debounce=0.3)
    c.run(drawing())
    painted: list[tuple[float, float]] = []  # (time, strength) of every painted cell
    original = c._paint

    def spy(res: Any) -> None:
        painted.append((time.monotonic(), res.params["strength"]))
        original(res)

    c._paint = spy
    slider = col_editor(c, 1)
    t0 = time.monotonic()
    frontend_update(slider, value=0.8)
    frontend_update(slider, value=0.9)
    assert c.sweep.col_labels == ("strength=0.5", "strength=0.9")  # applied at once...
    assert c.wait(10)
    assert painted and min(t for t, _ in painted) >= t0 + 0.25  # ...rendered after the quiet
    assert 0.8 not in {s for _, s in painted}  # the intermediate value never rendered
    assert [r["params"]["strength"] for r in c.results] == [0.5, 0.9, 0.5, 0.9]
    assert {r["frame"] for r in c.results} == {1}  # the same frame, re-rendered
    assert c._pacer.counters.rerenders == 1 and len(painted) == 4
    # A row slider (an IntSlider) the same way.
    frontend_update(row_editor(c, 0), value=6)
    assert c.wait(10)
    assert c.sweep.row_labels == ("steps=6", "steps=4")
    assert [r["params"]["num_inference_steps"] for r in c.results] == [6, 6, 4, 4]
    assert c._pacer.counters.rerenders == 2
    # The same value again changes nothing.
    frontend_update(row_editor(c, 0), value=6)
    assert c.wait(10) and c._pacer.counters.rerenders == 2
    # set_value from Python moves the slider and re-renders.
    c.set_value("strength", 0, 0.6)
    assert col_editor(c, 0).value == 0.6
    assert c.wait(10) and c._pacer.counters.rerenders == 3
    assert [r["params"]["strength"] for r in c.results] == [0.6, 0.9, 0.6, 0.9]
    assert any(m.data.get("state", {}).get("value") == 0.6 for m in col_editor(c, 0).comm.log)


def test_a_slider_value_invalid_for_one_cell_shows_there_and_the_grid_goes_on(
        make: Any) -> None:
    """strength 0.2 makes int(2 * 0.2) = 0 steps for the steps=2 row: that cell shows the
    error, the steps=8 cell renders with 0.2, the grid keeps going."""
    c = make(backend=EchoBackend(), prompt="p", steps=[2, 8], strength=[0.5, 0.7])
    c.run(drawing())
    frontend_update(col_editor(c, 0), value=0.2)
    assert c.wait(10)
    assert c.errors == {(0, 0): "steps=2 · strength=0.2: num_inference_steps * strength must be "
                                "at least 1 for image-to-image, got int(2 * 0.2) = 0; raise "
                                "num_inference_steps or strength"}
    res = {(r["row"], r["col"]): r for r in c.results}
    assert "int(2 * 0.2) = 0" in res[0, 0]["error"] and "int(2 * 0.2)" in c._views[0].note.value
    assert not res[1, 0]["error"] and res[1, 0]["params"]["strength"] == 0.2
    assert res[1, 0]["image"] and " ms" in c._views[2][1].value
    assert col_editor(c, 0).value == 0.2  # the slider keeps the value the cell reports on
    frontend_update(col_editor(c, 0), value=0.5)  # and moving on clears it
    assert c.wait(10) and c.errors == {}
    assert all(not r["error"] for r in c.results)
    assert not c._views[0].button.disabled and c._views[0].note.layout.display == "none"


def test_seed_int_text_edits_and_refusals(make: Any) -> None:
    """The seed box re-renders with a new seed; a value out of the schema's range is refused
    with the axis, limit and value, and the box goes back to the grid's seed."""
    c = make(backend=EchoBackend(), prompt="p", seed=[1, 2])
    c.run(drawing())
    box = row_editor(c, 0)
    frontend_update(box, value=7)
    assert c.wait(10)
    assert [r["seed"] for r in c.results] == [7, 2] and c.sweep.row_labels[0] == "seed=7"
    frontend_update(box, value=-1)
    assert "not applied: seed: must be between 0 and 18446744073709551615, got -1" in (
        c.status.value)
    assert box.value == 7 and c.sweep.row_labels[0] == "seed=7"
    assert c.wait(10) and c._pacer.counters.rerenders == 1


def test_text_axes_edit_as_typed(make: Any) -> None:
    """A prompt box re-renders with the new text; an invalid size is refused with the axis and
    the box keeps what was typed (the user may be mid-word)."""
    c = make(backend=EchoBackend(), prompt=["a cat", "a dog"], size=["square", "portrait_4_3"])
    c.run(drawing())
    frontend_update(row_editor(c, 1), value="a horse")
    assert c.wait(10)
    assert [r["params"]["prompt"] for r in c.results] == ["a cat"] * 2 + ["a horse"] * 2
    frontend_update(col_editor(c, 1), value="portrait")
    assert "not applied: size:" in c.status.value
    assert col_editor(c, 1).value == "portrait" and c.sweep.col_labels[1] == (
        "size='portrait_4_3'")
    frontend_update(col_editor(c, 1), value="320x256")
    assert c.wait(10)
    assert c.sweep.col_labels[1] == "size=320x256"


def test_set_axis_changes_the_grid_shape(make: Any) -> None:
    """set_axis may add values: the grid grows and the newest frame renders in it."""
    c = make(backend=EchoBackend(), prompt="p", seed=[1, 2])
    c.run(drawing())
    c.set_axis("seed", [1, 2, 3])
    assert c.wait(10)
    assert c.sweep.n_rows == 3 and len(c.results) == 3 and len(c._views) == 3
    with pytest.raises(InvalidInput, match="steps: not an axis of this grid; its axes are seed"):
        c.set_axis("steps", [1])
    with pytest.raises(InvalidInput, match="seed: must be between 0 and"):
        c.set_axis("seed", [-1])
    assert c.sweep.n_rows == 3
    with pytest.raises(IndexError, match="seed: has 3 values, got index 5"):
        c.set_value("seed", 5, 1)


def test_adopt_without_a_studio_returns_the_cell_params(make: Any) -> None:
    """Clicking a cell's button adopts its params (kept in .adopted without a Studio)."""
    c = make(backend=EchoBackend(), prompt="p", steps=[4, 8], strength=[0.5, 0.7])
    frontend_click(c._views[3][2])
    assert c.adopted == {"num_inference_steps": 8, "strength": 0.7}
    assert "adopted steps=8 · strength=0.7" in c.status.value
    assert c.adopt(0, 1) == {"num_inference_steps": 4, "strength": 0.7}
    with pytest.raises(IndexError, match=r"cell \(2, 0\) is outside the 2x2 grid"):
        c.adopt(2, 0)


def test_construction_errors_are_clear(make: Any) -> None:
    """Bad axes fail at construction with the field, limit and value; unknown names list all."""
    with pytest.raises(InvalidInput, match=r"^steps: must be between 1 and 50, got 0$"):
        make(backend=EchoBackend(), steps=[0])
    with pytest.raises(InvalidInput, match="colour: not a sweepable parameter; valid axes are"):
        make(backend=EchoBackend(), colour=[1, 2])
    with pytest.raises(InvalidInput, match="backend: no backend given"):
        make(steps=[1, 2])


def test_backend_axis_ab(make: Any) -> None:
    """Two backends as rows: each row runs on its own backend, labelled from info or given."""
    a, b = CountingEcho(), CountingEcho(can_batch=False)
    c = make(prompt="p", backend=[("fast", a), b], seed=[1, 2])
    c.run(drawing())
    assert c.sweep.row_labels == ("fast", "echo")
    assert [r["backend"] for r in c.results] == ["fast", "fast", "echo", "echo"]
    assert a.call_sizes == [2] and b.call_sizes == [1, 1]


def test_results_table_plot_and_saved_grid(make: Any, tmp_path: Any,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """to_dataframe, plot_latency and save work on a rendered grid."""
    c = make(backend=EchoBackend(), prompt="p", steps=[2, 4], strength=[0.5, 0.7])
    c.run(drawing())
    df = c.to_dataframe()
    assert list(df["steps"]) == [2, 2, 4, 4] and list(df["strength"]) == [0.5, 0.7, 0.5, 0.7]
    assert {"latency_ms", "seed", "row_label", "col_label", "batch_size"} <= set(df.columns)
    assert "image" not in df.columns and "image" in c.to_dataframe(images=True).columns
    fig = c.plot_latency()
    assert fig.axes[0].get_title().startswith("latency per cell")
    path = tmp_path / "grid.png"
    c.save(path, cell_size=64)
    img = Image.open(path)
    assert img.format == "PNG" and img.width > 2 * 64 and img.height > 2 * 64
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"to_dataframe\(\) needs pandas"):
        c.to_dataframe()


def jpeg(colour: str, size: int = 64) -> bytes:
    import io

    buf = io.BytesIO()
    drawing(colour, size).save(buf, "JPEG")
    return buf.getvalue()


def browser_frame(pad: Any, seq: int, colour: str) -> None:
    """What the canvas sends after a stroke: a ``frame`` message with the JPEG as a buffer."""
    pad.comm.deliver({"type": "frame", "v": 1, "seq": seq, "width": 64, "height": 64,
                      "mime": "image/jpeg", "t_input": 0, "reason": "stroke"}, [jpeg(colour)])


def test_own_sketchpad_frames_feed_the_grid(make: Any) -> None:
    """Without a Studio, Compare makes a Sketchpad (no output canvas) and renders its frames."""
    c = make(backend=EchoBackend(), prompt="p", seed=[1, 2], sketchpad=None)
    pad = c._sketchpad
    assert pad is not None and pad.show_output is False
    assert pad in c.children[0].children[0].children  # in its fixed-width box
    browser_frame(pad, 1, "red")
    assert c.wait(10)
    assert len(c.results) == 2 and c.source is not None
    assert pad.comm.custom_of("took")  # the canvas got its credit back
    c.close()
    browser_frame(pad, 2, "blue")  # after close the grid no longer listens
    assert {r["frame"] for r in c.results} == {1}
    with pytest.raises(RuntimeError, match="compare: closed"):
        c.submit(drawing())


def test_shared_studio_canvas_base_params_and_adopt(make: Any) -> None:
    """Compare(studio, ...) listens to the Studio's canvas, starts from studio.params, and a
    click on a cell sets the Studio's steps and strength."""
    from lcm_widgets.widgets.studio import Studio

    backend = EchoBackend()
    studio = Studio(backend, prompt="a lighthouse", steps=4, strength=0.5, seed=11)
    try:
        c = make(studio, sketchpad=None, steps=[2, 4, 8], strength=[0.3, 0.5, 0.7])
        assert c._sketchpad is studio.sketchpad
        browser_frame(studio.sketchpad, 1, "red")
        assert c.wait(10) and studio.wait(10)
        res = c.results
        assert len(res) == 9 and sum(1 for r in res if r["error"]) == 1
        assert {r["params"]["prompt"] for r in res} == {"a lighthouse"}
        assert {r["seed"] for r in res if not r["error"]} == {11}
        frontend_click(c._views[7][2])  # row steps=8, column strength=0.5
        assert studio.params["num_inference_steps"] == 8
        assert studio.params["strength"] == 0.5
        assert "adopted steps=8 · strength=0.5 into the Studio" in c.status.value
        # The Studio's new prompt becomes every cell's base on the next frame.
        studio.update(prompt="a boat")
        browser_frame(studio.sketchpad, 2, "blue")
        assert c.wait(10)
        assert {r["params"]["prompt"] for r in c.results} == {"a boat"}
        # A field the Studio has no control for is refused by name.
        c2 = make(studio, format=["jpeg", "png"])
        with pytest.raises(InvalidInput, match="adopt: the Studio has no control for format"):
            c2.adopt(0, 0)
    finally:
        studio.close()


def test_three_axes_flatten_rows_with_plain_labels(make: Any) -> None:
    """Three axes: rows are combinations of the first two (labels, not editors)."""
    c = make(backend=EchoBackend(), prompt="p", seed=[1, 2], guidance=[1.0, 2.0],
             steps=[2, 4])
    assert (c.sweep.n_rows, c.sweep.n_cols) == (4, 2)
    row_header = c.grid.children[3]  # corner + 2 column headers, then row 0's header
    assert isinstance(row_header, W.HTML) and "seed=1, guidance=1" in row_header.value
    assert "rows: <b>seed × guidance</b>" in c.grid.children[0].value
    res = c.run(drawing())
    assert len(res) == 8 and all(not r["error"] for r in res)


def test_saved_grid_keeps_every_label_and_error_inside_its_box(make: Any,
                                                               tmp_path: Any) -> None:
    """Long row and column labels and a long error in small cells: the gutters between the
    label column, the cells and the rows stay blank (nothing drawn crosses into them), and
    every cell still has its caption."""
    from lcm_widgets.widgets._grid import png_layout

    long = "a very long prompt about a lighthouse on a cliff at dusk, in watercolour"
    c = make(backend=EchoBackend(), prompt=[long, "a cat"], steps=[1, 4], strength=[0.3, 0.9])
    c.run(drawing())
    assert len(c.errors) == 4 and max(len(e) for e in c.errors.values()) > 120
    cs = 64
    path = tmp_path / "grid.png"
    c.save(path, cell_size=cs)
    img = Image.open(path).convert("RGB")
    px = img.load()
    assert px is not None
    lw, hh, ch, pad = png_layout(source=True).values()  # save() puts the drawing in the corner
    n_rows, n_cols = c.sweep.n_rows, c.sweep.n_cols
    assert (n_rows, n_cols) == (4, 2)
    row_h = cs + ch + pad

    def blank(x0: int, x1: int, y0: int, y1: int) -> bool:
        return all(px[x, y] == (255, 255, 255) for x in range(x0, x1) for y in range(y0, y1))

    assert blank(lw, img.width, hh - 3, hh - 1), "a column label runs into the cells"
    # the strip between the row labels and the first column of cells
    assert blank(lw - pad, lw - 1, 0, img.height), "a row label runs into the cells"
    for col in range(n_cols):  # between a column and the next (outlines at x-1 and x+cs)
        x = lw + col * (cs + pad)
        assert blank(x + cs + 1, x + cs + pad - 1, 0, img.height), f"column {col} overflows"
    for row in range(n_rows):
        y = hh + row * row_h
        # between the image and its caption, and between the caption and the next row
        assert blank(lw, img.width, y + cs + 1, y + cs + 3), f"row {row}: text below a cell"
        assert blank(lw, img.width, y + cs + ch, y + row_h - 1), f"row {row}: caption overflows"
        for col in range(n_cols):  # every cell has a caption (ink under its image)
            x = lw + col * (cs + pad)
            assert not blank(x, x + cs, y + cs + 3, y + cs + ch), (row, col)
