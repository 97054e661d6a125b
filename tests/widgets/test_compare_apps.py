"""Several apps side by side (docs/compare.md, "Apps side by side"): each backend's cells are
checked with the schema of *its* app (``info.app``), and a Studio's sliders take that app's
range. Real ipywidgets over a recording comm; the tiny and tiny-turbo models, locally and
behind a real two-app server on 127.0.0.1 port 0 through two RealtimeBackends."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from lcm_widgets.apps import TURBO_APP, backend_schema
from lcm_widgets.apps.turbo import TURBO_APP_ID
from lcm_widgets.backends.base import BackendInfo
from lcm_widgets.backends.echo import EchoBackend
from lcm_widgets.errors import InvalidInput
from lcm_widgets.testing import RecordingComm

W = pytest.importorskip("ipywidgets")

LCM_APP_ID = "fal-ai/fast-lcm-diffusion"
KEY = "test-id:test-secret"
#: What the turbo schema says about 6 steps: the message every turbo cell with 6 steps shows.
TURBO_LIMIT = "num_inference_steps: must be between 1 and 4, got 6"


@pytest.fixture(autouse=True)
def recording_comm(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every widget gets a RecordingComm: real ipywidgets paths, messages kept for asserts."""
    import comm

    def create(**kw: Any) -> RecordingComm:
        c = RecordingComm(**kw)
        comm.get_comm_manager().register_comm(c)
        return c

    monkeypatch.setattr(comm, "create_comm", create)


class TurboEcho(EchoBackend):
    """An EchoBackend that says it speaks the turbo app (as a turbo server's clients do)."""

    def __init__(self) -> None:
        super().__init__()
        self._info = BackendInfo(name="echo", model="echo", app=TURBO_APP_ID)


def drawing() -> Image.Image:
    img = Image.new("RGB", (64, 64), "white")
    img.paste((200, 40, 40), (16, 16, 48, 48))
    return img


def test_each_backend_validates_its_cells_with_its_apps_schema() -> None:
    """One LCM and one turbo backend, steps 2, 4, 6: only the turbo row's 6 is refused, with
    the turbo schema's own message (no copy of the limit); what the cells leave out takes
    each app's defaults (guidance 1.5 on LCM, 1 on turbo)."""
    from lcm_widgets.sweep import expand, validate_cells

    assert backend_schema(TurboEcho()) is TURBO_APP
    assert backend_schema(EchoBackend()).input_model.__name__ == "Input"
    sweep = expand({"backend": [("lcm", EchoBackend()), ("turbo", TurboEcho())],
                    "steps": [2, 4, 6]})
    checked = validate_cells(sweep, {"prompt": "p", "strength": 0.5})
    bad = {i: str(c) for i, c in enumerate(checked) if isinstance(c, InvalidInput)}
    with pytest.raises(InvalidInput) as exc:
        TURBO_APP.parse({"prompt": "p", "num_inference_steps": 6})
    assert str(exc.value) == TURBO_LIMIT
    assert bad == {5: f"turbo · steps=6: {TURBO_LIMIT} (the fast-turbo-diffusion schema)"}
    assert [c.guidance_scale for c in checked[:3]] == [1.5] * 3  # type: ignore[union-attr]
    assert [c.guidance_scale for c in checked[3:5]] == [1.0] * 2  # type: ignore[union-attr]


def test_captions_list_the_swept_values_in_the_axes_order_and_wrap() -> None:
    """Three axes (two make the rows): the caption lists all three in the order given,
    wrapped between values on at most two lines in a fixed height, whole in the tooltip."""
    from lcm_widgets.widgets._grid import CAPTION_HEIGHT, LABEL_LINES, label_html
    from lcm_widgets.widgets.compare import Compare

    c = Compare(backend=EchoBackend(), prompt="p", seed=[1, 2], guidance=[1.0, 2.0],
                steps=[2, 4], sketchpad=False)
    try:
        cell = c.sweep.cell(3, 1)
        assert cell.parts == ("seed=2", "guidance=2", "steps=4")
        assert cell.caption == "seed=2 · guidance=2 · steps=4"
        label = label_html(cell)
        assert "title='seed=2 · guidance=2 · steps=4'" in label
        assert ">seed=2&nbsp;· guidance=2&nbsp;· steps=4</div>" in label
        assert f"-webkit-line-clamp:{LABEL_LINES}" in label and "white-space:normal" in label
        assert all(v.info.layout.height == CAPTION_HEIGHT for v in c._views)
        c.run(drawing())
        captions = [html.unescape(re.sub(r"<[^>]+>", " ", v.info.value)) for v in c._views]
        assert "seed=2\xa0· guidance=2\xa0· steps=4" in captions[7]
    finally:
        c.close()


def test_header_sliders_take_the_grids_app_range() -> None:
    """A grid whose backends all speak the turbo app bounds its steps sliders 1-4 (widened to
    show a value out of range, never clamping it); a grid of two apps keeps the LCM range."""
    from lcm_widgets.widgets.compare import Compare

    c = Compare(backend=TurboEcho(), prompt="p", strength=0.5, steps=[2, 6], sketchpad=False)
    both = Compare(backend=[EchoBackend(), TurboEcho()], prompt="p", strength=0.5,
                   steps=[2, 6], sketchpad=False)
    try:
        sliders = [c._view.headers[("row", i)] for i in range(2)]  # one axis: the rows
        assert [(w.min, w.max, w.value) for w in sliders] == [(1, 4, 2), (1, 6, 6)]
        assert c.errors == {(1, 0): f"steps=6: {TURBO_LIMIT} (the fast-turbo-diffusion schema)"}
        c.set_value("steps", 0, 5)  # from Python: the slider widens, the cell shows the error
        assert (sliders[0].max, sliders[0].value) == (5, 5) and c.sweep.axes[0].values[0] == 5
        assert set(c.errors) == {(0, 0), (1, 0)}
        c.set_value("steps", 1, 3)
        assert set(c.errors) == {(0, 0)}
        assert [both._view.headers[("col", i)].max for i in range(2)] == [50, 50]
    finally:
        c.close()
        both.close()


@pytest.fixture(scope="module")
def models(model_cache: str) -> Iterator[tuple[Any, Any]]:
    """The tiny LCM and the tiny turbo model (random weights, CPU)."""
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    from lcm_widgets.backends.local import LocalLCM
    from lcm_widgets.runtime.loop import run_sync

    lcm = LocalLCM("tiny", progress=False, warmup=False)
    turbo = LocalLCM("tiny-turbo", progress=False, warmup=False)
    yield lcm, turbo
    run_sync(lcm.aclose())
    run_sync(turbo.aclose())


def _check_grid(c: Any, tmp_path: Path) -> None:
    """Both rows render; the turbo row's 6 steps shows the turbo limit in its cell and caption;
    the saved grid has every row's label and every cell's image or error."""
    c.run(drawing(), timeout=600)
    assert c.errors == {(1, 2): f"turbo · steps=6: {TURBO_LIMIT} (the fast-turbo-diffusion "
                                "schema)"}
    res = {(r["row"], r["col"]): r for r in c.results}
    for key in [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)]:
        assert res[key]["image"] and not res[key]["error"], (key, res[key]["error"])
        assert res[key]["params"]["num_inference_steps"] == [2, 4, 6][key[1]]
    assert res[(1, 2)]["image"] is None and TURBO_LIMIT in res[(1, 2)]["error"]
    view = c._views[5]
    assert TURBO_LIMIT in html.unescape(view.note.value) and view.button.disabled
    assert "invalid: not rendered" in view.info.value
    cs = 64
    path = tmp_path / "apps.png"
    c.save(path, cell_size=cs)
    img = Image.open(path).convert("RGB")
    from lcm_widgets.widgets._grid import png_layout

    lw, hh, ch, pad = png_layout(source=True).values()
    px = img.load()
    assert px is not None

    def inked(x0: int, x1: int, y0: int, y1: int, red: bool = False) -> bool:
        return any((px[x, y][0] > 150 > px[x, y][1]) if red else px[x, y] != (255, 255, 255)
                   for x in range(x0, x1) for y in range(y0, y1))

    for row in range(2):
        y = hh + row * (cs + ch + pad)
        assert inked(pad, lw - pad, y, y + cs), f"row {row} has no label"
        for col in range(3):
            x = lw + col * (cs + pad)
            assert inked(x, x + cs, y + cs + 3, y + cs + ch), (row, col)  # its caption
    x, y = lw + 2 * (cs + pad), hh + (cs + ch + pad)
    assert inked(x + 2, x + cs - 2, y + 2, y + cs - 2, red=True), "no error in the turbo cell"


def test_lcm_and_turbo_through_a_real_two_app_server(models: tuple[Any, Any],
                                                     tmp_path: Path) -> None:
    """A server with the LCM app on tiny and the turbo app on tiny-turbo; one RealtimeBackend
    per app in one Compare: each row runs on its app (the server counts its generations), the
    turbo row's 6 steps is refused in its cell, and the saved grid is labelled."""
    from lcm_widgets.backends.realtime import RealtimeBackend
    from lcm_widgets.server import ServerConfig, ServerThread, create_multi_app
    from lcm_widgets.widgets.compare import Compare

    lcm, turbo = models
    app = create_multi_app({LCM_APP_ID: lcm, TURBO_APP_ID: turbo}, ServerConfig(keys=(KEY,)))
    srv = ServerThread(app, port=0).start()
    backends = [RealtimeBackend(a, base_url=srv.url, key=KEY) for a in (LCM_APP_ID,
                                                                          TURBO_APP_ID)]
    assert [b.info.app for b in backends] == [LCM_APP_ID, TURBO_APP_ID]
    c = None
    try:
        c = Compare(backend=[("lcm", backends[0]), ("turbo", backends[1])], steps=[2, 4, 6],
                    prompt="a cat", strength=0.5, seed=3, size={"width": 64, "height": 64},
                    sketchpad=False)
        _check_grid(c, tmp_path)
        counts = {a: srv.app.apps[a].state.lcm.scheduler.generations
                  for a in (LCM_APP_ID, TURBO_APP_ID)}
        assert counts == {LCM_APP_ID: 3, TURBO_APP_ID: 2}
    finally:
        if c is not None:
            c.close()
        for b in backends:
            b.close()
        srv.stop()


def test_lcm_and_turbo_local_backends_side_by_side(models: tuple[Any, Any],
                                                   tmp_path: Path) -> None:
    """The same grid on the two LocalLCMs themselves: tiny-turbo's info.app is the turbo app,
    so its row is checked with the turbo limits too."""
    from lcm_widgets.widgets.compare import Compare

    lcm, turbo = models
    assert (lcm.info.app, turbo.info.app) == (LCM_APP_ID, TURBO_APP_ID)
    c = Compare(backend=[("lcm", lcm), ("turbo", turbo)], steps=[2, 4, 6], prompt="a cat",
                strength=0.5, seed=3, size={"width": 64, "height": 64}, sketchpad=False)
    try:
        _check_grid(c, tmp_path)
    finally:
        c.close()


def test_studio_on_a_turbo_backend_shows_the_turbo_range_and_defaults(
        models: tuple[Any, Any]) -> None:
    """A Studio on tiny-turbo (and on an HttpBackend of the turbo app): steps slider 1-4,
    starting at the turbo schema's 2 steps and guidance 1; 6 steps is refused from Python and
    from the steps entry with the turbo limit. On the LCM model: 1-50, 4 steps, guidance 1.5."""
    from lcm_widgets.backends.http import HttpBackend
    from lcm_widgets.widgets.studio import Studio

    lcm, turbo = models
    remote = HttpBackend(TURBO_APP_ID, base_url="http://127.0.0.1:9", key=KEY)
    assert remote.info.app == TURBO_APP_ID
    made = [Studio(turbo, prompt="a cat"), Studio(remote, prompt="a cat"),
            Studio(lcm, prompt="a cat")]
    try:
        for studio in made[:2]:
            steps = studio.controls.widgets["num_inference_steps"]
            assert (steps.min, steps.max, steps.value) == (1, 4, 2)
            assert studio.params["guidance_scale"] == 1.0
            with pytest.raises(InvalidInput, match="between 1 and 4, got 6"):
                studio.update(steps=6)
            studio.controls.entries["num_inference_steps"].value = "6"
            assert studio.controls.invalid == {
                "num_inference_steps": "steps: must be a whole number between 1 and 4, got '6'"}
            assert studio.params["num_inference_steps"] == 2
            studio.update(steps=4)
            assert steps.value == 4
        steps = made[2].controls.widgets["num_inference_steps"]
        assert (steps.min, steps.max, steps.value) == (1, 50, 4)
        assert made[2].params["guidance_scale"] == 1.5
        made[2].update(steps=6)
    finally:
        for studio in made:
            studio.close()
