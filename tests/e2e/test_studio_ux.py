"""The Studio's status line, controls and outputs in a real JupyterLab and Notebook 7, in
headless Debian Chromium (Playwright): what the person sees tells the truth.

One Jupyter start per app, several checks each (a start costs 20-40 s on the test machine).
A slow ``EchoBackend(delay=...)`` makes every frame take a while, so the busy state can be
seen. No timing thresholds: states, texts, counts and files are asserted; the runtime is printed.
"""

from __future__ import annotations

import io
import re
import time
from pathlib import Path
from typing import Any

import pytest
from lcm_e2e_harness import (
    chromium,
    jupyter_server,
    kernel_eval,
    open_notebook,
    page_error_text,
    page_errors_of_ours,
    run_first_cell_until,
    write_notebook,
)
from lcm_studio_page import data, num, shot, start_studio, stroke, until, wait_new_result

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not Path("/usr/bin/chromium").exists(),
                       reason="needs Debian chromium (apt-get install -y chromium)"),
]

#: Seconds each frame takes: long enough to see the busy state, short enough to keep going.
DELAY = 1.5

UX_CELL = f"""\
from lcm_widgets import Studio
from lcm_widgets.backends.echo import EchoBackend
backend = EchoBackend(delay={DELAY})
studio = Studio(backend, prompt="a house by a lake", steps=4, strength=0.5, seed=1234,
                display_size=300)
studio"""


#: The Studio root's and its controls' (scrollWidth, clientWidth), how many of the controls'
#: elements were measured, and those sticking out of the root sideways.
CONTROLS_OVERFLOW = """() => {
  const root = document.querySelector('.lcm-studio');
  const controls = root.querySelector('.lcm-studio-controls');
  const box = root.getBoundingClientRect();
  const shown = [...controls.querySelectorAll('*')]
    .map((e) => [e, e.getBoundingClientRect()]).filter(([, r]) => r.width > 0);
  const outside = shown.filter(([, r]) => r.left < box.left - 0.5 || r.right > box.right + 0.5)
    .map(([e, r]) => [e.tagName, String(e.className), r.left, r.right]);
  return {root: [root.scrollWidth, root.clientWidth],
          controls: [controls.scrollWidth, controls.clientWidth],
          count: shown.length, outside, box: [box.left, box.right]};
}"""


def state(page: Any) -> tuple[str, str]:
    """The status line's state: (its class list, its text)."""
    el = page.query_selector(".lcm-status .lcm-state")
    if el is None:
        return "", ""
    return str(el.get_attribute("class") or ""), str(el.text_content() or "")


def kernel(kc: Any, expr: str) -> str:
    """``print(expr)`` in the kernel; its last line."""
    return kernel_eval(kc, f"print({expr})").strip().splitlines()[-1]


def caption(page: Any) -> str:
    return str(page.text_content(".lcm-result-params") or "")


def stale_note(page: Any) -> str:
    return str(page.text_content(".lcm-output .lcm-stale-note") or "")


def layout_ys(page: Any) -> tuple[float, float]:
    """The status line's height and the controls' top, in CSS px."""
    return tuple(page.evaluate("""() => {
        const s = document.querySelector('.lcm-status').getBoundingClientRect();
        const c = document.querySelector('.lcm-studio-controls').getBoundingClientRect();
        return [s.height, c.top - s.top];
    }"""))


def type_into(page: Any, selector: str, text: str) -> None:
    box = page.locator(selector)
    box.fill(text)
    box.press("Enter")


#: Marks the first history button and records the output's class writes (old values).
WATCH_REPAINTS = """() => {
  const first = document.querySelector('.lcm-history .lcm-history-item');
  if (!first) return false;
  first.__lcmKept = true;
  window.__lcmClassWrites = [];
  new MutationObserver((rs) => { for (const r of rs) window.__lcmClassWrites.push(r.oldValue); })
    .observe(document.querySelector('.lcm-output'),
             { attributes: true, attributeFilter: ['class'], attributeOldValue: true });
  return true;
}"""
#: Whether the marked button is still in the strip, and how many class writes changed nothing.
WATCHED_REPAINTS = """() => {
  const items = [...document.querySelectorAll('.lcm-history .lcm-history-item')];
  const vals = [...window.__lcmClassWrites, document.querySelector('.lcm-output').className];
  return { kept: items.some((b) => b.__lcmKept === true), class_writes: vals.length - 1,
           noop_class_writes: vals.slice(1).filter((v, i) => v === vals[i]).length };
}"""


def test_lab_status_controls_outputs_and_restart(tmp_path: Path) -> None:
    """JupyterLab: the prompt fits at 600, 800, 1100 and 1400 px and no control overflows the
    widget sideways; busy while a slow frame is in flight,
    then ready; the figures in words (results shown = results painted, the model's time with
    its stages to hover); the status line keeps its height; a PNG download carries the params;
    clicking a history item restores its seed and params; invalid settings and a bad typed
    value mark the output stale with the reason and show the error next to the control; the
    seed field shows the seed used when unlocked; submit_image shows in the input canvas; a
    kernel restart says "kernel disconnected — run the cell again" and takes no strokes."""
    t0 = time.monotonic()
    nb = "ux.ipynb"
    (tmp_path / "root").mkdir()
    write_notebook(tmp_path / "root" / nb, [UX_CELL])
    with jupyter_server(tmp_path, app="lab", notebook=nb) as server, chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 1300})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(page_error_text(e)))
        box = start_studio(page, server, nb)
        # the bundle the page runs is this worktree's (the kernel imports it from PYTHONPATH)
        kc = server.kernel_client()
        try:
            here = str(Path(__file__).resolve().parents[2])
            assert kernel(kc, "__import__('lcm_widgets').__file__").startswith(here)
            # 1. the prompt fields fit their container at 600, 800, 1100 and 1400 px; nothing
            #    in the controls overflows the widget sideways
            for width in (600, 800, 1100, 1400):
                page.set_viewport_size({"width": width, "height": 1300})
                page.wait_for_timeout(300)
                fit = page.evaluate("""() => {
                    const c = document.querySelector('.lcm-studio').getBoundingClientRect();
                    return [...document.querySelectorAll(
                        '.lcm-control-prompt textarea, .lcm-control-negative-prompt input')]
                      .map((e) => e.getBoundingClientRect())
                      .map((r) => [r.left >= c.left - 0.5, r.right <= c.right + 0.5, r.width]);
                }""")
                assert len(fit) == 2 and all(f[0] and f[1] and f[2] > 100 for f in fit), \
                    (width, fit)
                wide = page.evaluate(CONTROLS_OVERFLOW)
                assert wide["root"][0] <= wide["root"][1], (width, wide)
                assert wide["controls"][0] <= wide["controls"][1], (width, wide)
                assert wide["count"] > 10 and wide["outside"] == [], (width, wide)
            page.set_viewport_size({"width": 1280, "height": 1300})
            page.wait_for_timeout(300)
            box = page.locator(".lcm-input canvas").first.bounding_box()
            height0, controls0 = layout_ys(page)
            # 2. busy while the slow frame is in flight, with its seconds; then ready
            stroke(page, box, [(0.2, 0.2), (0.8, 0.3), (0.5, 0.8)])
            until(lambda: "lcm-busy" in state(page)[0], 30, "the busy state")
            assert state(page)[1].startswith("generating…"), state(page)
            assert layout_ys(page) == (height0, controls0)  # nothing moved
            shot(page, "ux-busy.png")
            painted = wait_new_result(page, 0, 60)
            until(lambda: state(page)[1] == "ready", 30, "ready after the result")
            # 3. the figures: results shown = painted here; the model's time, stages to hover
            stroke(page, box, [(0.1, 0.9), (0.9, 0.1)])
            painted = wait_new_result(page, painted, 60)
            until(lambda: f"{num(page, 'results-painted')} results shown"
                  in (page.text_content(".lcm-status") or ""), 30, "the results count")
            model_part = page.locator(".lcm-status .lcm-stat", has_text="per image")
            until(lambda: model_part.count() == 1, 30, "the model's time per image")
            assert re.fullmatch(r"model [\d.]+ (s|ms) per image", model_part.text_content())
            hover = model_part.get_attribute("title") or ""
            assert "waiting for the model" in hover and "the model making the image" in hover
            assert "results/s" in (page.text_content(".lcm-status") or "")
            assert layout_ys(page) == (height0, controls0)
            # 4. download: a PNG with the params it was made with
            with page.expect_download() as info:
                page.click(".lcm-download")
            path = tmp_path / "download.png"
            info.value.save_as(path)
            from PIL import Image

            img = Image.open(io.BytesIO(path.read_bytes()))
            assert img.format == "PNG" and info.value.suggested_filename == "lcm-seed-1234.png"
            text = dict(img.text)  # type: ignore[attr-defined]
            assert (text["prompt"], text["seed"], text["steps"], text["strength"]) == (
                "a house by a lake", "1234", "4", "0.5"), text
            assert text["guidance_scale"] == "1.5" and text["software"] == "lcm_widgets"
            # 5. history: a result with other params, then click the first one back
            assert page.evaluate(WATCH_REPAINTS), "a history item to watch"
            kernel_eval(kc, "studio.update(seed=777, steps=8, strength=0.25)")
            until(lambda: "seed 777" in caption(page), 60, "the result with seed 777")
            items = page.locator(".lcm-history .lcm-history-item")
            until(lambda: items.count() >= 3, 30, "three results in the history strip")
            # new results keep the strip's buttons (only the new one is made) and write the
            # output's class only when it changes (each write is style work at display rate)
            watched = page.evaluate(WATCHED_REPAINTS)
            assert watched["kept"] and watched["noop_class_writes"] == 0, watched
            old = page.locator(".lcm-history-item[title*='seed 1234']").last
            old.click()
            until(lambda: kernel(kc, "studio.params['seed']") == "1234", 30, "the seed back")
            assert kernel(kc, "(studio.params['num_inference_steps'], studio.params['strength'],"
                              " studio.seed_locked)") == "(4, 0.5, True)"
            until(lambda: "seed 1234" in caption(page), 60, "a re-render with the old seed")
            assert page.input_value(".lcm-control-seed input") == "1234"
            assert page.input_value(".lcm-entry-num-inference-steps input") == "4"
            assert old.get_attribute("aria-current") == "true"
            # 6. invalid settings: the output says stale, with the reason
            kernel_eval(kc, "studio.controls.widgets['strength'].value = 0.2")
            until(lambda: "lcm-stale" in (page.get_attribute(".lcm-output", "class") or ""),
                  30, "the stale mark")
            note = stale_note(page)
            assert note.startswith("stale — invalid settings") and "strength" in note, note
            shot(page, "ux-stale.png")
            assert layout_ys(page) == (height0, controls0)
            kernel_eval(kc, "studio.controls.widgets['strength'].value = 0.5")
            until(lambda: stale_note(page) == "", 60, "the stale mark to go")
            # 7. a bad typed value: the error next to the control, nothing clamped
            steps_box = ".lcm-entry-num-inference-steps input"
            for typed in ("80", "4.7", "abc"):
                type_into(page, steps_box, typed)
                err = page.locator(".lcm-control-error", has_text="steps:")
                until(lambda typed=typed, err=err: f"got '{typed}'" in (err.text_content() or ""),
                      30,
                      f"the error for {typed!r}")
                assert "between 1 and 50" in (err.text_content() or "")
                assert kernel(kc, "studio.params['num_inference_steps']") == "4"
                until(lambda: "invalid settings: steps:" in stale_note(page), 30,
                      "the stale mark for a typed value")
            type_into(page, steps_box, "6")
            until(lambda: kernel(kc, "studio.params['num_inference_steps']") == "6", 30,
                  "a good typed value")
            until(lambda: page.locator(".lcm-control-error", has_text="steps:").count() == 0,
                  30, "the error to go")
            until(lambda: stale_note(page) == "", 60, "the stale mark to go")
            # 8. unlocked seed: the seed field shows the seed the image used
            kernel_eval(kc, "studio.seed_locked = False")
            painted = num(page, "results-painted")
            stroke(page, box, [(0.3, 0.6), (0.7, 0.65)])
            wait_new_result(page, painted, 60)
            kernel_eval(kc, "print(studio.wait(60))")
            assert re.search(r"seed (\d+)", caption(page)) is not None

            def seed_shown() -> bool:
                # read both each time: a frame still pending after the wait paints a newer one
                used = re.search(r"seed (\d+)", caption(page))
                return used is not None and \
                    page.input_value(".lcm-control-seed input") == used.group(1)

            until(seed_shown, 30, "the seed field to show the seed used")
            kernel_eval(kc, "studio.seed_locked = True")
            # 9. submit_image: the input canvas shows the submitted image
            kernel_eval(kc, "from PIL import Image\n"
                            "studio.submit_image(Image.new('RGB', (64, 64), (250, 0, 0)))")
            until(lambda: page.evaluate("""() => {
                const c = document.querySelector('.lcm-input canvas');
                const p = c.getContext('2d').getImageData(c.width / 2, c.height / 2, 1, 1).data;
                return p[0] > 200 && p[1] < 60 && p[2] < 60;
            }"""), 30, "the submitted image in the input canvas")
            shot(page, "ux-after-submit.png")
        finally:
            kc.stop_channels()
        # 10. a kernel restart (the notebook's restart button, as a person does it): the view
        #     says so and takes no more strokes
        page.click("jp-button[data-command='notebook:restart-kernel']")
        page.click(".jp-Dialog .jp-mod-accept")
        until(lambda: "lcm-disconnected" in state(page)[0], 60, "the disconnected message")
        assert state(page)[1] == "kernel disconnected — run the cell again"
        sent = num(page, "frames-sent")
        assert page.evaluate("() => getComputedStyle(document.querySelector("
                             "'.lcm-input canvas')).pointerEvents") == "none"
        stroke(page, box, [(0.2, 0.5), (0.8, 0.5)])
        page.wait_for_timeout(500)
        assert num(page, "frames-sent") == sent and data(page, "dirty") == "false"
        shot(page, "ux-disconnected.png")
        assert not page_errors_of_ours(errors), errors
    print(f"\n[e2e ux lab] whole test {time.monotonic() - t0:.1f} s")


#: The same Studio, its backend made by a function that takes a while (a model loading).
LOADING_CELL = UX_CELL.replace("studio = Studio(backend,", """import threading
loaded = threading.Event()
def load():
    loaded.wait(120)
    return backend
studio = Studio(load,""")


def test_notebook7_loading_pause_resume_and_download(tmp_path: Path) -> None:
    """Notebook 7: while the backend loads the status line says so (and a stroke waits for
    it); Pause stops frames while drawing (the output says stale, the state paused); Resume
    sends the newest drawing and its result clears the mark; the download button gives a PNG
    with the params; a kernel restart through the REST API shows the lost kernel."""
    t0 = time.monotonic()
    nb = "ux7.ipynb"
    (tmp_path / "root").mkdir()
    write_notebook(tmp_path / "root" / nb, [LOADING_CELL])
    with jupyter_server(tmp_path, app="notebook", notebook=nb) as server, \
            chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 1300})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(page_error_text(e)))
        open_notebook(page, server, nb)
        run_first_cell_until(page, ".lcm-sketchpad .lcm-input canvas")
        until(lambda: state(page)[1].startswith("loading the model…"), 60, "the loading state")
        assert "lcm-busy" in state(page)[0]
        canvas = page.locator(".lcm-input canvas").first
        canvas.scroll_into_view_if_needed()
        box = dict(canvas.bounding_box() or {})
        stroke(page, box, [(0.3, 0.3), (0.6, 0.6)])  # drawn while loading
        shot(page, "notebook7-loading.png")
        kc = server.kernel_client()
        try:
            assert kernel(kc, "studio.backend") == "None"
            kernel_eval(kc, "loaded.set()")
        finally:
            kc.stop_channels()
        wait_new_result(page, 0, 60)  # the stroke drawn while loading
        until(lambda: "echo (cpu)" in (page.text_content(".lcm-status") or ""), 30,
              "the model's name once loaded")
        stroke(page, box, [(0.2, 0.2), (0.8, 0.8)])
        painted = wait_new_result(page, num(page, "results-painted"), 60)
        until(lambda: state(page)[1] == "ready", 30, "ready")
        page.click(".lcm-pause")
        until(lambda: state(page)[1] == "paused", 10, "the paused state")
        assert page.get_attribute(".lcm-pause", "aria-pressed") == "true"
        sent = num(page, "frames-sent")
        stroke(page, box, [(0.8, 0.2), (0.2, 0.8)])
        until(lambda: "paused: the drawing changed" in stale_note(page), 10, "the stale mark")
        page.wait_for_timeout(1000)
        assert num(page, "frames-sent") == sent and data(page, "dirty") == "true"
        kc = server.kernel_client()
        try:
            assert kernel(kc, "studio.paused") == "True"
        finally:
            kc.stop_channels()
        shot(page, "notebook7-paused.png")
        painted = num(page, "results-painted")  # results of the stroke before the pause
        page.click(".lcm-pause")  # Resume
        wait_new_result(page, painted, 60)
        until(lambda: num(page, "frames-sent") == sent + 1, 30, "the one frame Resume sends")
        page.wait_for_timeout(500)
        assert num(page, "frames-sent") == sent + 1
        until(lambda: stale_note(page) == "", 30, "the stale mark to go")
        assert state(page)[1] in ("ready", "") or "generating" in state(page)[1]
        with page.expect_download() as info:
            page.click(".lcm-download")
        path = tmp_path / "download.png"
        info.value.save_as(path)
        from PIL import Image

        text = dict(Image.open(path).text)  # type: ignore[attr-defined]
        assert (text["prompt"], text["seed"], text["steps"]) == ("a house by a lake", "1234",
                                                                 "4"), text
        # a restart from outside the page (the REST API): the view notices as well, through
        # its lost direct channel and the unanswered hello that follows
        server.api(f"/api/kernels/{server.kernel_id}/restart", {}, method="POST")
        until(lambda: "lcm-disconnected" in state(page)[0], 60, "the lost kernel noticed")
        assert "run the cell again" in state(page)[1], state(page)
        print(f"\n[e2e ux notebook7] after a REST restart: {state(page)[1]!r}")
        assert not page_errors_of_ours(errors), errors
    print(f"[e2e ux notebook7] whole test {time.monotonic() - t0:.1f} s")


#: A Studio whose LocalLCM("tiny") load is slowed where a person would watch it: the loader
#: listens to its own load (load_progress, as the Studio does) and pauses on each step, holding
#: the unet step until the test has looked; the Studio is displayed twice.
PROGRESS_CELL = """\
import threading, time
from IPython.display import display
from lcm_widgets import LocalLCM, Studio
from lcm_widgets.backends.local.loading import load_progress
go = threading.Event()
heard = []
def hold(event):
    heard.append(event.text)
    if event.step == "unet":
        go.wait(120)
    elif event.total is not None:
        time.sleep(0.3)
def load():
    with load_progress(hold):
        return LocalLCM("tiny", progress=False, warmup=False)
studio = Studio(load, prompt="a house", steps=2, strength=0.5, seed=3, frame_size=256,
                display_size=256)
display(studio)
studio"""


def states(page: Any) -> list[str]:
    return list(page.eval_on_selector_all(".lcm-status .lcm-state",
                                          "els => els.map((e) => e.textContent)"))


def test_lab_loading_progress_in_two_views(tmp_path: Path, model_cache: str) -> None:
    """JupyterLab: ``Studio(lambda: LocalLCM("tiny"))`` displayed twice; while the load is held
    at its unet step both views say ``loading the model: unet (k/n)…`` with a bar of the k-1
    steps done (the kernel heard the same step); a stroke drawn meanwhile is rendered once the
    load goes on, and both views then say ready with the model's name."""
    t0 = time.monotonic()
    nb = "progress.ipynb"
    (tmp_path / "root").mkdir()
    write_notebook(tmp_path / "root" / nb, [PROGRESS_CELL])
    with jupyter_server(tmp_path, app="lab", notebook=nb) as server, chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(page_error_text(e)))
        open_notebook(page, server, nb)
        run_first_cell_until(page, ".lcm-sketchpad >> nth=1")
        step = re.compile(r"loading the model: unet \((\d+)/(\d+)\)… [\d.]+ s")
        until(lambda: len(states(page)) == 2 and all(step.fullmatch(s) for s in states(page)),
              180, "both views at the unet step")
        k, n = (int(g) for g in step.fullmatch(states(page)[0]).groups())  # type: ignore[union-attr]
        assert 1 < k < n, states(page)
        bars = page.eval_on_selector_all(
            ".lcm-status .lcm-progress",
            "els => els.map((e) => [e.getAttribute('aria-valuenow'), "
            "e.getAttribute('aria-valuemax'), e.firstElementChild.style.width])")
        assert bars == [[str(k - 1), str(n), f"{round(100 * (k - 1) / n)}%"]] * 2, bars
        canvas = page.locator(".lcm-input canvas").first
        canvas.scroll_into_view_if_needed()
        stroke(page, dict(canvas.bounding_box() or {}), [(0.2, 0.3), (0.7, 0.6)])
        shot(page, "loading-progress-jupyterlab.png")
        kc = server.kernel_client()
        try:
            assert kernel(kc, "heard[-1]") == f"unet ({k}/{n})"
            assert kernel(kc, "studio.backend") == "None"
            kernel_eval(kc, "go.set()")
            until(lambda: states(page) == ["ready", "ready"], 180, "both views ready")
            until(lambda: page.locator(".lcm-status", has_text="tiny (cpu)").count() == 2, 30,
                  "the model's name in both views")
            assert kernel(kc, "heard[-1]") == "loaded"
        finally:
            kc.stop_channels()
        assert page.locator(".lcm-status .lcm-progress").count() == 0
        wait_new_result(page, 0, 120)  # the stroke drawn while loading
        assert not page_errors_of_ours(errors), errors
    print(f"\n[e2e ux progress] whole test {time.monotonic() - t0:.1f} s")
