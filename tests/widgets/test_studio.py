"""The Studio without a browser: a real Sketchpad on a recording comm, real EchoBackend.

Browser messages are delivered through the real ipywidgets path (``RecordingComm.deliver``);
what the Studio sends back is read from the comm's log. No timing thresholds: the tests wait
for outcomes (with generous deadlines) and print figures.
"""

from __future__ import annotations

import gc
import io
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from lcm_test_helpers import LooseComm, until
from PIL import Image, ImageDraw

from lcm_widgets.backends.base import BackendInfo
from lcm_widgets.backends.echo import EchoBackend
from lcm_widgets.errors import InvalidInput
from lcm_widgets.schema import Input, Output
from lcm_widgets.testing import RecordingComm
from lcm_widgets.widgets.sketchpad import Sketchpad
from lcm_widgets.widgets.studio import Studio


def jpeg(colour: tuple[int, int, int], size: int = 64, mark: int = 0) -> bytes:
    img = Image.new("RGB", (size, size), colour)
    if mark:
        ImageDraw.Draw(img).rectangle((0, 0, mark, mark), fill=(0, 0, 0))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=95)
    return buf.getvalue()


class CountingBackend:
    """A real Backend that delegates to another one and records how many ``generate`` calls
    run at once (the independent check of "one request in flight")."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls = self.active = self.max_active = 0
        self._lock = threading.Lock()

    @property
    def info(self) -> BackendInfo:
        return self.inner.info  # type: ignore[no-any-return]

    async def generate(self, inp: Input) -> Output:
        with self._lock:
            self.calls += 1
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            return await self.inner.generate(inp)  # type: ignore[no-any-return]
        finally:
            with self._lock:
                self.active -= 1

    async def aclose(self) -> None:
        await self.inner.aclose()


_Comm = LooseComm


class Browser:
    """Plays the browser side of docs/widget-protocol.md against a recording comm."""

    def __init__(self, comm: RecordingComm) -> None:
        self.comm = comm
        self.seq = 0

    def frame(self, data: bytes, reason: str = "stroke", size: int = 64) -> int:
        self.seq += 1
        self.comm.deliver({"type": "frame", "v": 1, "seq": self.seq, "width": size,
                           "height": size, "mime": "image/jpeg",
                           "t_input": time.time() * 1000, "reason": reason}, [data])
        return self.seq

    def results(self) -> list[tuple[dict[str, Any], bytes]]:
        return [(c, b[0]) for c, b in self.comm.custom_of("result")]

    def ack(self, content: dict[str, Any], dropped: bool = False) -> None:
        self.comm.deliver({"type": "ack", "v": 1, "seq": content["seq"], "rid": content["rid"],
                           "t_paint": time.time() * 1000, "dropped": dropped})

    def ack_all(self) -> None:
        for content, _ in self.results():
            self.ack(content)


@pytest.fixture
def make() -> Iterator[Callable[..., tuple[Studio, Browser]]]:
    made: list[Studio] = []

    def _make(backend: Any = None, **kw: Any) -> tuple[Studio, Browser]:
        comm = _Comm()
        pad = Sketchpad(comm=comm, frame_width=64, frame_height=64)
        kw.setdefault("prompt", "a house")
        studio = Studio(backend or EchoBackend(), sketchpad=pad, **kw)
        made.append(studio)
        return studio, Browser(comm)

    yield _make
    for s in made:
        s.close()


def test_frame_to_result_and_ack(make: Callable[..., tuple[Studio, Browser]]) -> None:
    counting = CountingBackend(EchoBackend())
    studio, browser = make(counting, seed=7)
    seq = browser.frame(jpeg((200, 10, 10)))
    assert browser.comm.custom_of("took")[-1][0]["seq"] == seq
    content, data = until(lambda: browser.results() and browser.results()[-1])
    assert content["seq"] == seq and content["params"]["seed"] == 7
    assert Image.open(io.BytesIO(data)).size == (64, 64)
    browser.ack(content)
    until(lambda: studio.stats["acked"] == 1)
    st = studio.stats
    assert st["frames_in"] == 1 and st["results_sent"] == 1 and st["max_in_flight"] == 1
    assert st["backend_max_concurrency"] == 1 == counting.max_active == counting.calls
    assert st["max_unacked_results"] == 1
    assert st["stroke_to_pixels_ms"]["p50"] is not None
    assert len(studio.history) == 1 and studio.history[0].params["prompt"] == "a house"
    print("stats after one frame:", {k: st[k] for k in ("latency_ms", "stroke_to_pixels_ms")})


def test_results_wait_for_the_ack_and_the_newest_wins(
        make: Callable[..., tuple[Studio, Browser]]) -> None:
    studio, browser = make(ack_timeout=60)
    browser.frame(jpeg((10, 10, 10)))
    until(lambda: len(browser.results()) == 1)
    for i in range(1, 7):  # the browser does not ack: the window fills, then the one slot
        browser.frame(jpeg((10 * i, 20, 30)))
        studio.wait(20)
    assert [m["seq"] for m, _ in browser.results()] == [1, 2]  # the window of 2
    browser.ack(browser.results()[0][0])
    until(lambda: len(browser.results()) == 3)
    assert browser.results()[2][0]["seq"] == 7  # the newest one, the others were dropped
    st = studio.stats
    assert st["max_result_slot"] == 1 and st["dropped_results"] == 4
    assert st["max_in_flight"] <= 1 and st["max_pending"] <= 1
    # measured outside the pacer: results sent and not acked, backend calls at once
    assert st["max_unacked_results"] == 2 and st["backend_max_concurrency"] == 1


def test_a_window_of_one_result_waits_for_each_ack(
        make: Callable[..., tuple[Studio, Browser]]) -> None:
    studio, browser = make(ack_timeout=60, result_window=1)
    browser.frame(jpeg((10, 10, 10)))
    until(lambda: len(browser.results()) == 1)
    for i in range(1, 6):
        browser.frame(jpeg((10 * i, 20, 30)))
        studio.wait(20)
    assert len(browser.results()) == 1
    browser.ack(browser.results()[0][0])
    until(lambda: len(browser.results()) == 2)
    assert browser.results()[1][0]["seq"] == 6
    assert studio.stats["max_unacked_results"] == 1


@pytest.mark.parametrize("window", [0, 17, 1.5, True])
def test_a_bad_result_window_names_the_field_the_limit_and_the_value(window: object) -> None:
    with pytest.raises(InvalidInput, match=r"result_window: must be a whole number from 1 to "
                                           rf"16, got {window!r}"):
        Studio(EchoBackend(), result_window=window)  # type: ignore[arg-type]


def test_flood_of_frames_keeps_one_in_flight_and_one_pending(
        make: Callable[..., tuple[Studio, Browser]]) -> None:
    counting = CountingBackend(EchoBackend(delay=0.05))
    studio, browser = make(counting)
    stop = threading.Event()

    def acker() -> None:
        seen = 0
        while not stop.is_set():
            res = browser.results()
            for content, _ in res[seen:]:
                browser.ack(content)
            seen = len(res)
            time.sleep(0.002)

    t = threading.Thread(target=acker)
    t.start()
    for i in range(60):
        browser.frame(jpeg((i * 4 % 256, 0, 0), mark=i))
        time.sleep(0.003)
    studio.wait(30)
    stop.set()
    t.join()
    st = studio.stats
    print("flood:", {k: st[k] for k in ("frames_in", "started", "results_sent", "dropped",
                                         "skipped", "max_in_flight", "max_pending",
                                         "backend_max_concurrency", "max_unacked_results")})
    assert st["max_in_flight"] == 1 and st["max_pending"] == 1
    assert counting.max_active == 1 and counting.calls == st["started"]
    assert st["backend_max_concurrency"] == 1 and st["max_unacked_results"] == 1
    assert st["started"] < st["frames_in"]
    # the last frame drawn is the last one rendered
    assert browser.results()[-1][0]["seq"] == browser.seq


def test_identical_frames_are_skipped(make: Callable[..., tuple[Studio, Browser]]) -> None:
    studio, browser = make()
    frame = jpeg((1, 2, 3))
    browser.frame(frame)
    studio.wait(20)
    browser.frame(frame, reason="undo")
    studio.wait(20)
    assert studio.stats["skipped"] == 1 and studio.stats["started"] == 1


def test_backend_error_shows_in_status_and_the_session_goes_on(
        make: Callable[..., tuple[Studio, Browser]]) -> None:
    studio, browser = make()
    studio.update(prompt="please !fail now")
    browser.frame(jpeg((5, 5, 5)))
    studio.wait(20)
    assert studio.sketchpad is not None
    assert "the model failed" in studio.sketchpad.error and "!fail" in studio.sketchpad.error
    assert studio.stats["errors"] == 1 and not browser.results()
    studio.update(prompt="a boat")  # re-renders the newest frame after the debounce
    until(lambda: browser.results())
    until(lambda: studio.sketchpad is not None and studio.sketchpad.error == "")
    browser.frame(jpeg((50, 5, 5)))
    until(lambda: len(browser.results()) >= 1 and studio.stats["completed"] >= 2)


def test_invalid_combination_from_the_controls_is_a_status_error(
        make: Callable[..., tuple[Studio, Browser]]) -> None:
    studio, browser = make(steps=2, strength=0.5)
    # as if the user dragged the strength slider to 0.25: steps * strength < 1
    studio.controls.widgets["strength"].value = 0.25
    browser.frame(jpeg((9, 9, 9)))
    studio.wait(20)
    assert studio.sketchpad is not None
    assert "invalid settings" in studio.sketchpad.error
    assert "num_inference_steps * strength" in studio.sketchpad.error
    studio.controls.widgets["strength"].value = 0.5
    until(lambda: browser.results())


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"steps": 80}, "num_inference_steps: must be between 1 and 50, got 80"),
    ({"strength": 1.5}, "strength: must be between 0.0 and 1.0, got 1.5"),
    ({"guidance_scale": -1}, "guidance_scale: must be between 0.0 and 20.0, got -1"),
    ({"steps": 1, "strength": 0.5}, "num_inference_steps \\* strength must be at least 1"),
    ({"seed": -3}, "seed: must be between 0 and"),
])
def test_bad_params_name_field_limit_value(make: Callable[..., tuple[Studio, Browser]],
                                           kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        Studio(EchoBackend(), prompt="x", **kwargs)
    studio, _ = make()
    before = studio.params
    with pytest.raises(InvalidInput, match=message):
        studio.update(**kwargs)
    assert studio.params == before  # nothing changed, the session keeps working


def test_update_unknown_param(make: Callable[..., tuple[Studio, Browser]]) -> None:
    studio, _ = make()
    with pytest.raises(InvalidInput, match="colour: not a Studio param"):
        studio.update(colour="red")


def test_seed_is_stable_until_new_seed(make: Callable[..., tuple[Studio, Browser]]) -> None:
    studio, browser = make()
    seed = studio.params["seed"]
    for i in range(3):
        browser.frame(jpeg((i * 50, 0, 0)))
        studio.wait(20)
        browser.ack_all()
    seeds = {c["params"]["seed"] for c, _ in browser.results()}
    assert seeds == {seed}
    new = studio.new_seed()
    assert studio.params["seed"] == new == int(studio.controls.widgets["seed"].value)
    until(lambda: browser.results()[-1][0]["params"]["seed"] == new)  # re-rendered


def test_unlocked_seed_changes_per_frame(make: Callable[..., tuple[Studio, Browser]]) -> None:
    studio, browser = make()
    studio.controls.lock.value = False
    assert not studio.seed_locked
    for i in range(3):
        browser.frame(jpeg((0, i * 50, 0)))
        studio.wait(20)
        browser.ack_all()
    until(lambda: len(browser.results()) == 3)
    assert len({c["params"]["seed"] for c, _ in browser.results()}) == 3


def test_controls_come_from_the_schema(make: Callable[..., tuple[Studio, Browser]]) -> None:
    studio, _ = make()
    w = studio.controls.widgets
    assert (w["num_inference_steps"].min, w["num_inference_steps"].max) == (1, 50)
    assert (w["strength"].min, w["strength"].max) == (0.0, 1.0)
    assert (w["guidance_scale"].min, w["guidance_scale"].max) == (0.0, 20.0)
    w["prompt"].value = "a red barn"
    assert studio.params["prompt"] == "a red barn"
    assert w["image_size"].value == "" and studio.params["image_size"] is None
    w["image_size"].value = "square"
    assert studio.params["image_size"] == "square"
    w["image_size"].value = ""
    assert studio.params["image_size"] is None
    assert "echo" in studio.controls.model.value


def test_submit_image_returns_the_output_and_save_writes_metadata(
        make: Callable[..., tuple[Studio, Browser]], tmp_path: Any) -> None:
    studio, browser = make(seed=11, steps=4, strength=0.5)
    img = Image.new("RGB", (300, 200), (0, 120, 0))
    out = studio.submit_image(img)
    assert out is not None and out.seed == 11
    assert Image.open(io.BytesIO(out.images[0].data())).size == (64, 64)
    path = studio.save(tmp_path / "result.png")
    meta = Image.open(path).text
    assert meta["prompt"] == "a house" and meta["seed"] == "11"
    assert meta["steps"] == "4" and meta["strength"] == "0.5"
    # the input canvas shows the submitted image: a load_frame with the next seq (1 before
    # any stroke), whose result answers that seq
    (load, bufs), = browser.comm.custom_of("load_frame")
    assert load["seq"] == 1 and (load["width"], load["height"]) == (64, 64)
    assert Image.open(io.BytesIO(bytes(bufs[0]))).size == (64, 64)
    assert browser.results()[-1][0]["seq"] == 1


def test_submit_image_raises_the_backend_error(
        make: Callable[..., tuple[Studio, Browser]]) -> None:
    studio, _ = make(prompt="!fail")
    from lcm_widgets.errors import GenerationFailed
    with pytest.raises(GenerationFailed):
        studio.submit_image(Image.new("RGB", (64, 64)))
    studio.update(prompt="fine")
    assert studio.submit_image(Image.new("RGB", (64, 64), (1, 1, 1))) is not None


def test_save_without_result_is_a_clear_error(
        make: Callable[..., tuple[Studio, Browser]], tmp_path: Any) -> None:
    studio, _ = make()
    with pytest.raises(ValueError, match="save: there is no result yet"):
        studio.save(tmp_path / "x.png")


def test_history_is_bounded(make: Callable[..., tuple[Studio, Browser]]) -> None:
    studio, _ = make(history_size=3)
    for i in range(5):
        studio.submit_image(Image.new("RGB", (64, 64), (i * 40, 0, 0)))
    assert len(studio.history) == 3


def test_lost_ack_does_not_stall(make: Callable[..., tuple[Studio, Browser]]) -> None:
    studio, browser = make(ack_timeout=0.2)
    for i in (1, 2):  # never acked: they fill the window of 2
        browser.frame(jpeg((i, i, i)))
        until(lambda i=i: len(browser.results()) == i)
    browser.frame(jpeg((3, 3, 3)))  # the timeout lets the third out
    until(lambda: len(browser.results()) == 3)
    assert studio.stats["ack_timeouts"] >= 1


def test_a_studio_starts_no_thread_and_close_stops_rendering(
        make: Callable[..., tuple[Studio, Browser]]) -> None:
    """The engine runs on the library loop: making Studios starts no thread of their own
    (three Studios, the same threads); after close, frames from the browser reach no backend."""
    from lcm_widgets.runtime.loop import get_loop

    get_loop()
    before = {t.ident for t in threading.enumerate()}
    made = [make(CountingBackend(EchoBackend())) for _ in range(3)]
    for _, browser in made:
        browser.frame(jpeg((1, 1, 1)))
    for studio, _ in made:
        assert studio.wait(20)
    assert {t.ident for t in threading.enumerate()} - before == set()
    studio, browser = made[0]
    calls = studio.backend.calls
    studio.close()
    assert studio.engine.closed
    browser.frame(jpeg((9, 9, 9)))
    assert studio.backend.calls == calls


def test_ipycanvas_source(tmp_path: Any) -> None:
    from ipycanvas import Canvas

    canvas = Canvas(width=64, height=64, sync_image_data=True)
    studio = Studio(EchoBackend(), source=canvas, prompt="x")
    try:
        assert studio.sketchpad is None
        buf = io.BytesIO()
        Image.new("RGBA", (64, 64), (0, 0, 255, 255)).save(buf, "PNG")
        canvas.set_trait("image_data", buf.getvalue())  # what the front end syncs
        until(lambda: studio.history)
        studio.wait(20)
        out = studio.history[-1].image()
        assert out.getpixel((32, 32))[2] > 200  # the blue PNG came through as a frame
        assert studio._view.image.value == studio.history[-1].image_bytes
    finally:
        studio.close()


def test_ipycanvas_source_needs_sync_image_data() -> None:
    from ipycanvas import Canvas

    with pytest.raises(ValueError, match="sync_image_data=True"):
        Studio(EchoBackend(), source=Canvas(width=64, height=64), prompt="x")


def test_import_is_lazy() -> None:
    import subprocess

    code = ("import sys, lcm_widgets; assert 'anywidget' not in sys.modules; "
            "assert 'torch' not in sys.modules; lcm_widgets.Studio; "
            "assert 'torch' not in sys.modules; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "ok"


# ------------------------------------------------------------------ bounded memory


def test_results_nobody_acks_are_forgotten(make: Callable[..., tuple[Studio, Browser]]) -> None:
    """No view acks (no browser, a reloaded page): every result's ack is given up after
    ack_timeout, and the Studio keeps no more than the newest result and frame around."""
    studio, browser = make(ack_timeout=0.01, history_size=4)
    n = 40
    for i in range(n):
        browser.frame(jpeg((i * 6, 40, 90), mark=i))
        until(lambda i=i: len(browser.results()) == i + 1)
    until(lambda: studio.stats["ack_timeouts"] == n)
    e = studio.engine
    sizes = {"unacked": len(e._unacked), "results": len(e._results),
             "frames": len(e._frames), "history": len(studio.history)}
    print("after", n, "unacked results:", sizes)
    assert sizes["unacked"] == 0 and sizes["results"] <= 1 and sizes["frames"] <= 1
    assert sizes["history"] == 4
    assert studio.stats["max_unacked_results"] <= 2  # the result window
    # late acks of the given-up results change nothing and are not kept
    browser.ack_all()
    assert studio.wait(10)
    assert len(e._unacked) == 0 and len(e._results) <= 1
    assert studio.stats["stroke_to_pixels_ms"]["p50"] is None
    # the session goes on: a new frame is sent, acked and counted
    browser.frame(jpeg((255, 255, 0)))
    until(lambda: len(browser.results()) == n + 1)
    browser.ack(browser.results()[-1][0])
    until(lambda: studio.stats["acked"] == n + 1 or studio.stats["ack_timeouts"] == n + 1)


# ------------------------------------------------------------------ acks


def test_dropped_results_are_left_out_of_stroke_to_pixels(
        make: Callable[..., tuple[Studio, Browser]]) -> None:
    """An ack with dropped=True returns the credit but is no stroke→pixels sample."""
    studio, browser = make(ack_timeout=60)
    browser.frame(jpeg((10, 20, 30)))
    until(lambda: len(browser.results()) == 1)
    browser.ack(browser.results()[0][0], dropped=True)
    until(lambda: studio.stats["acked"] == 1)
    assert studio.stats["stroke_to_pixels_ms"]["p50"] is None
    browser.frame(jpeg((30, 20, 10)))
    until(lambda: len(browser.results()) == 2)
    browser.ack(browser.results()[1][0])
    until(lambda: studio.stats["acked"] == 2)
    assert studio.stats["stroke_to_pixels_ms"]["p50"] is not None
    assert studio.engine.stats.summary()["e2e"]["n"] == 1


def test_acks_are_matched_by_result_id(make: Callable[..., tuple[Studio, Browser]]) -> None:
    """A late ack of a result the Studio gave up on does not count for a newer result of the
    same frame (a param re-render answers the same seq)."""
    # a window of one result: the re-render's result waits until result 1's ack is given up
    studio, browser = make(ack_timeout=0.2, result_window=1)
    browser.frame(jpeg((60, 60, 60)))
    until(lambda: len(browser.results()) == 1)
    studio.update(prompt="a boat")  # re-renders frame 1: a second result for seq 1
    until(lambda: len(browser.results()) == 2)
    assert studio.stats["ack_timeouts"] == 1
    first, second = browser.results()[0][0], browser.results()[1][0]
    assert first["seq"] == second["seq"] and first["rid"] < second["rid"]
    browser.ack(first)  # late: nothing waits for it any more
    assert studio.wait(10)  # the ack has been handled on the loop
    assert "e2e" not in studio.engine.stats.summary()
    assert studio.stats["acked"] == 1  # result 1, given up
    browser.ack(second)  # the ack the Studio waits for counts
    until(lambda: studio.stats["acked"] == 2)
    assert studio.engine.stats.summary()["e2e"]["n"] == 1


# ------------------------------------------------------------------ constructor arguments


def test_constructor_aliases_and_sketchpad_settings(
        make: Callable[..., tuple[Studio, Browser]]) -> None:
    studio, _ = make(guidance=3.0, negative="blurry", num_inference_steps=8, brush_size=20,
                     tool="eraser")
    p = studio.params
    assert (p["guidance_scale"], p["negative_prompt"], p["num_inference_steps"]) == (
        3.0, "blurry", 8)
    assert studio.controls.widgets["guidance_scale"].value == 3.0
    assert studio.sketchpad is not None
    assert (studio.sketchpad.brush_size, studio.sketchpad.tool) == (20, "eraser")
    own = Studio(EchoBackend(), prompt="x", negative_prompt="fog", brush_color="#FF0000",
                 display_size=200, frame_width=128)
    try:
        assert own.params["negative_prompt"] == "fog"
        assert own.sketchpad is not None
        assert (own.sketchpad.brush_color, own.sketchpad.display_size) == ("#ff0000", 200)
        assert (own.sketchpad.frame_width, own.sketchpad.frame_height) == (128, 512)
    finally:
        own.close()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"stepz": 8}, "stepz: not a Studio argument; did you mean 'steps'\\?"),
    ({"guidence": 3.0}, "guidence: not a Studio argument; did you mean 'guidance'\\?"),
    ({"colour": "red"}, "colour: not a Studio argument; use one of source, prompt"),
    ({"status": "hi"}, "status: not a Studio argument"),
    ({"guidance": 3.0, "guidance_scale": 2.0}, "guidance: is another name for guidance_scale"),
])
def test_unknown_constructor_arguments_are_refused(kwargs: dict[str, Any], message: str
                                                   ) -> None:
    with pytest.raises(InvalidInput, match=message) as info:
        Studio(EchoBackend(), prompt="x", **kwargs)
    if "not a Studio argument" in message:  # the valid names are listed
        assert "guidance_scale" in str(info.value) and "brush_size" in str(info.value)
        assert info.value.field == next(iter(kwargs))


def test_close_after_a_failed_constructor_is_quiet() -> None:
    """__del__ (and close) on a Studio whose constructor raised print nothing."""
    unraisable: list[Any] = []
    old, sys.unraisablehook = sys.unraisablehook, unraisable.append
    try:
        for bad in ({"steps": 80}, {"history_size": 0}, {"seed": -1}):
            with pytest.raises(InvalidInput):
                Studio(EchoBackend(), prompt="x", **bad)
        gc.collect()
    finally:
        sys.unraisablehook = old
    assert [f"{u.exc_type.__name__}: {u.exc_value}" for u in unraisable] == []


def test_close_twice(make: Callable[..., tuple[Studio, Browser]]) -> None:
    studio, _ = make()
    studio.close()
    studio.close()


# ------------------------------------------------------------------ one loop per backend

KEY = "test-id:test-secret"


def test_realtime_backend_shared_with_run_sync_keeps_one_connection(
        make: Callable[..., tuple[Studio, Browser]], caplog: pytest.LogCaptureFixture,
        capfd: pytest.CaptureFixture[str]) -> None:
    """A Studio and a direct ``run_sync`` call (as Compare or a cell make) share one
    RealtimeBackend against our real server: one connection, no reconnects, and closing the
    Studio leaves no pending task behind."""
    from lcm_widgets.backends.realtime import RealtimeBackend
    from lcm_widgets.runtime.loop import run_sync
    from lcm_widgets.server import ServerConfig, ServerThread, create_app

    srv = ServerThread(create_app(EchoBackend(), ServerConfig(keys=(KEY,))), port=0).start()
    backend = RealtimeBackend(base_url=srv.url, key=KEY)
    try:
        studio, browser = make(backend, ack_timeout=60)
        with caplog.at_level(logging.WARNING, logger="asyncio"):
            for i in range(3):
                browser.frame(jpeg((i * 70, 100, 30)))
                until(lambda i=i: len(browser.results()) == i + 1)
                browser.ack(browser.results()[-1][0])
            cell = run_sync(backend.generate({"prompt": "from a cell", "seed": 5,
                                              "image_size": {"width": 64, "height": 64}}),
                            timeout=30)
            assert cell.seed == 5
            browser.frame(jpeg((200, 200, 30)))
            until(lambda: len(browser.results()) == 4)
            print("realtime stats:", backend.stats)
            assert (backend.stats.connects, backend.stats.reconnects) == (1, 0)
            assert studio.stats["backend_max_concurrency"] == 1
            studio.close()
            gc.collect()
    finally:
        backend.close()
        srv.stop()
        gc.collect()
    printed = capfd.readouterr().err + caplog.text
    assert "Task was destroyed" not in printed and "Event loop is closed" not in printed


def test_realtime_backend_on_the_turbo_app_works_in_the_studio(
        make: Callable[..., tuple[Studio, Browser]]) -> None:
    """RealtimeBackend("fal-ai/fast-turbo-diffusion") in a Studio, unchanged, against a server
    serving both apps: frames come back as results; the steps slider has turbo's range, and
    steps over turbo's limit are refused at once with the turbo app's message (its schema is
    the backend's, info.app); the next valid edit renders again."""
    from lcm_widgets.backends.realtime import RealtimeBackend
    from lcm_widgets.server import ServerConfig, ServerThread, create_multi_app

    app = create_multi_app({"fal-ai/fast-lcm-diffusion": EchoBackend(),
                            "fal-ai/fast-turbo-diffusion": EchoBackend()},
                           ServerConfig(keys=(KEY,)))
    srv = ServerThread(app, port=0).start()
    backend = RealtimeBackend("fal-ai/fast-turbo-diffusion", base_url=srv.url, key=KEY)
    try:
        studio, browser = make(backend, ack_timeout=60, steps=2, strength=0.5)
        browser.frame(jpeg((200, 40, 40)))
        content, data = until(lambda: browser.results() and browser.results()[-1])
        assert content["params"]["num_inference_steps"] == 2
        assert Image.open(io.BytesIO(data)).size == (64, 64)
        browser.ack(content)
        assert studio.controls.widgets["num_inference_steps"].max == 4
        with pytest.raises(InvalidInput, match="between 1 and 4, got 8"):
            studio.update(steps=8)
        studio.update(steps=4)
        until(lambda: len(browser.results()) == 2)
        assert browser.results()[-1][0]["params"]["num_inference_steps"] == 4
        turbo = srv.app.apps["fal-ai/fast-turbo-diffusion"].state.lcm
        assert turbo.scheduler.generations == 2 and turbo.sessions_total == 1
    finally:
        backend.close()
        srv.stop()


# ------------------------------------------------------------------ the frame path


class _ThreadRecordingComm(_Comm):
    """Records the thread every custom message is sent from."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.sent_from: list[tuple[str, str]] = []

    def publish_msg(self, msg_type: str, data: Any = None, metadata: Any = None,
                    buffers: Any = None, **keys: Any) -> None:
        content = (data or {}).get("content") or {}
        if isinstance(content, dict) and "type" in content:
            self.sent_from.append((content["type"], threading.current_thread().name))
        super().publish_msg(msg_type, data, metadata, buffers, **keys)


def test_one_frame_crosses_the_threads_the_docs_name(model_cache: str) -> None:
    """docs/architecture.md, "One frame's path": the comm thread answers `took` and posts; the
    engine and the result send run on the library loop; LocalLCM's model work runs on its own
    model thread. Nothing else touches the frame."""
    pytest.importorskip("torch")
    from lcm_widgets.backends.local import LocalLCM

    seen: list[str] = []

    class Recording(LocalLCM):
        async def generate(self, inp: Input) -> Output:
            seen.append(threading.current_thread().name)
            return await super().generate(inp)

        def _run(self, *args: Any, **kwargs: Any) -> Any:  # the model's work
            seen.append(threading.current_thread().name)
            return super()._run(*args, **kwargs)

    backend = Recording("tiny", device="cpu", progress=False, warmup=False)
    comm = _ThreadRecordingComm()
    pad = Sketchpad(comm=comm, frame_width=64, frame_height=64)
    studio = Studio(backend, sketchpad=pad, prompt="a house", steps=2, strength=0.5)
    try:
        Browser(comm).frame(jpeg((30, 60, 90)))
        assert studio.wait(120)
        until(lambda: comm.custom_of("result"))
        comm_thread = threading.current_thread().name
        assert ("took", comm_thread) in comm.sent_from
        generate_thread, model_thread = seen
        assert generate_thread == "lcm-widgets-loop"
        assert model_thread.startswith("lcm-widgets-model-")
        assert [t for kind, t in comm.sent_from if kind == "result"] == ["lcm-widgets-loop"]
    finally:
        studio.close()
        from lcm_widgets.runtime.loop import run_sync

        run_sync(backend.aclose())
