"""The Sketchpad's sources and the Compare grid's layout in a real JupyterLab, in headless
Debian Chromium (Playwright), in one Jupyter start:

* the webcam, with Chromium's fake camera (``--use-fake-device-for-media-stream
  --use-fake-ui-for-media-stream``): off until the button is clicked; then the camera's
  pictures reach the kernel as paced frames (reason ``camera``) and results are painted with
  no stroke at all; the device picker lists what ``enumerateDevices`` lists; turning it off
  stops the stream;
* a pasted image becomes the canvas's background (reason ``background``);
* "use result" makes the result the canvas (reason ``feedback``), and "loop" does it for
  each new result;
* a Compare grid with a long prompt axis and invalid cells: every cell of a row has the same
  top and height, every cell of a column the same left (bounding boxes); the invalid cells show
  their error in the image's place, with their button disabled;
* in a second start, Chromium's two fake cameras (``device-count=2``): the picker lists both
  and switching to the other one makes its pictures the canvas; an image file dropped on the
  canvas (dragenter, dragover, drop with a DataTransfer made in the page) becomes its
  background and is rendered; a Studio's canvas inside a Compare keeps its status rows inside
  its box, ending in an ellipsis with the whole row to hover.

Screenshots: ``test-artifacts/sources-jupyterlab.png``, ``sources-drop-jupyterlab.png``. No
timing thresholds.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from lcm_e2e_harness import (
    ARTIFACTS,
    FAKE_CAMERA_ARGS,
    chromium,
    jupyter_server,
    kernel_eval,
    open_notebook,
    page_errors_of_ours,
    run_first_cell_until,
    write_notebook,
)
from lcm_studio_page import num, stroke, until

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not Path("/usr/bin/chromium").exists(),
                       reason="needs Debian chromium (apt-get install -y chromium)"),
]

CELL = """\
import io, os
from IPython.display import display
from PIL import Image
from lcm_widgets import Compare, Studio
from lcm_widgets.backends.echo import EchoBackend
if os.environ.get("LCM_E2E_BACKEND", "tiny") == "tiny":
    from lcm_widgets import LocalLCM
    backend = LocalLCM("tiny", progress=False)
else:
    backend = EchoBackend()
studio = Studio(backend, prompt="a portrait", steps=2, strength=0.5, seed=7, frame_size=256,
                display_size=256)
reasons, seqs = [], []
studio.sketchpad.on_frame(lambda f: (reasons.append(f.reason), seqs.append(f.seq)))
LONG = "a very long prompt about a lighthouse on a cliff at dusk, in watercolour, wide angle"
compare = Compare(backend=EchoBackend(), sketchpad=False, prompt=[LONG, "a cat"],
                  steps=[1, 4], strength=[0.5, 0.9], cell_size=120)
buf = io.BytesIO()
Image.new("RGB", (256, 256), "orange").save(buf, "JPEG")
display(studio)
compare"""

PASTE_RED_PNG = """async () => {
  const c = document.createElement('canvas'); c.width = 64; c.height = 64;
  const g = c.getContext('2d'); g.fillStyle = '#ff0000'; g.fillRect(0, 0, 64, 64);
  const blob = await new Promise((r) => c.toBlob(r, 'image/png'));
  const dt = new DataTransfer();
  dt.items.add(new File([blob], 'red.png', { type: 'image/png' }));
  const root = document.querySelector('.lcm-sketchpad');
  root.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true,
                                                   cancelable: true }));
}"""

#: What the browser lists as cameras, as the picker's (value, label) pairs.
ENUMERATED = """async () => (await navigator.mediaDevices.enumerateDevices())
  .filter((d) => d.kind === 'videoinput').map((d, i) => [d.deviceId, d.label || `camera ${i + 1}`])"""

CENTRE_PIXEL = """() => {
  const c = document.querySelector('.lcm-sketchpad .lcm-input canvas');
  return Array.from(c.getContext('2d').getImageData(c.width / 2, c.height / 2, 1, 1).data);
}"""


def hook(page: Any, name: str) -> Any:
    return page.evaluate(f"() => document.querySelector('.lcm-sketchpad').__lcm.{name}")


def kernel_json(kc: Any, expr: str) -> Any:
    return json.loads(kernel_eval(kc, f"import json; print(json.dumps({expr}))").strip())


def boxes(page: Any, selector: str) -> list[dict[str, float]]:
    return list(page.eval_on_selector_all(selector, """els => els.map(e => {
        const r = e.getBoundingClientRect();
        return {x: r.x, y: r.y, width: r.width, height: r.height}; })"""))


def test_lab_webcam_paste_feedback_and_an_aligned_compare_grid(tmp_path: Path,
                                                               model_cache: str) -> None:
    nb = "sources.ipynb"
    (tmp_path / "root").mkdir()
    write_notebook(tmp_path / "root" / nb, [CELL])
    backend = os.environ.get("LCM_E2E_BACKEND", "tiny")
    with jupyter_server(tmp_path, app="lab", notebook=nb,
                        env={"LCM_E2E_BACKEND": backend}) as server, \
            chromium(args=FAKE_CAMERA_ARGS) as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        open_notebook(page, server, nb)
        run_first_cell_until(page, ".lcm-compare .lcm-compare-cell", artifacts=ARTIFACTS)
        until(lambda: "ready" in (page.text_content(".lcm-sketchpad .lcm-status") or ""), 180,
              "the Studio's status line")
        kc = server.kernel_client()
        try:
            # 1. the camera is off until asked for; on, its pictures become paced frames
            assert hook(page, "cameraOn") is False and hook(page, "cameraPictures") == 0
            assert kernel_json(kc, "reasons") == []
            page.locator(".lcm-sketchpad .lcm-camera").click()
            until(lambda: hook(page, "cameraOn") and hook(page, "cameraPictures") > 0, 60,
                  "the fake camera's pictures")
            until(lambda: "camera" in kernel_json(kc, "reasons"), 120,
                  "a camera frame in the kernel")
            until(lambda: num(page, "results-painted") >= 2, 240, "results from the camera")
            assert kernel_json(kc, "len(studio.history)") >= 1
            devices = page.eval_on_selector_all(".lcm-camera-device option",
                                                "els => els.map(e => [e.value, e.textContent])")
            assert devices and all(label for _, label in devices), devices  # named
            assert devices == page.evaluate(ENUMERATED), devices  # what the browser lists
            # paced like strokes: never two frames out at once, however many pictures came
            assert num(page, "max-in-flight") == 1
            assert num(page, "frames-sent") <= hook(page, "cameraPictures")
            page.locator(".lcm-sketchpad .lcm-camera").click()
            until(lambda: hook(page, "cameraOn") is False, 30, "the camera to stop")
            # 2. a pasted image becomes the background and goes to the kernel
            before = len(kernel_json(kc, "reasons"))
            page.evaluate(PASTE_RED_PNG)
            until(lambda: page.evaluate(CENTRE_PIXEL)[:3] == [255, 0, 0], 30,
                  "the pasted image on the canvas")
            until(lambda: "background" in kernel_json(kc, f"reasons[{before}:]"), 60,
                  "the pasted frame in the kernel")
            # 3. "use result": the painted result becomes the canvas. Wait for the result of
            # the pasted frame itself (or a newer one), by seq: it may already be painted by
            # now, and no other frame would come to raise a counter.
            got = kernel_json(kc, f"list(zip(reasons, seqs))[{before}:]")
            pasted = min(seq for reason, seq in got if reason == "background")
            until(lambda: hook(page, "pacer.newestPainted") >= pasted, 240,
                  "a result of the paste")
            before = len(kernel_json(kc, "reasons"))
            page.locator(".lcm-sketchpad .lcm-use-result").click()
            until(lambda: "feedback" in kernel_json(kc, f"reasons[{before}:]"), 60,
                  "the fed-back frame in the kernel")
            # "loop": every new result is fed back, paced like the rest
            before = len(kernel_json(kc, "reasons"))
            page.locator(".lcm-sketchpad .lcm-loop").check()
            until(lambda: kernel_json(kc, f"reasons[{before}:]").count("feedback") >= 2, 240,
                  "two looped frames in the kernel")
            page.locator(".lcm-sketchpad .lcm-loop").uncheck()
            assert num(page, "max-in-flight") == 1

            # 4. the Compare grid: long labels, invalid cells, still aligned
            kernel_eval(kc, "compare.run(buf.getvalue())", 120)
            until(lambda: page.locator(".lcm-compare .lcm-compare-image:visible").count() == 4,
                  60, "the four valid cells' images")
            cells = boxes(page, ".lcm-compare .lcm-compare-cell")
            assert len(cells) == 8  # 4 rows (prompt x steps) x 2 columns (strength)
            for r in range(4):
                row = cells[2 * r:2 * r + 2]
                assert len({round(b["y"], 1) for b in row}) == 1, row
                assert len({round(b["height"], 1) for b in row}) == 1, row
            assert len({round(b["height"], 1) for b in cells}) == 1, cells
            for c in range(2):
                assert len({round(b["x"], 1) for b in cells[c::2]}) == 1, cells[c::2]
            slots = boxes(page, ".lcm-compare .lcm-compare-slot")
            assert len({(round(b["width"]), round(b["height"])) for b in slots}) == 1, slots
            # each caption line stays inside its cell (cut with an ellipsis, never wider)
            for line in boxes(page, ".lcm-compare .lcm-compare-label, "
                                    ".lcm-compare .lcm-compare-latency"):
                assert line["width"] <= cells[0]["width"] + 0.5, line
            labels = page.eval_on_selector_all(".lcm-compare .lcm-compare-label",
                                               "els => els.map(e => e.title)")
            assert labels[0].startswith("prompt='a very long prompt") and \
                "steps=1 · strength=0.5" in labels[0], labels
            invalid = [i for i in range(8) if "steps=1" in labels[i]]
            assert len(invalid) == 4
            adopt = page.locator(".lcm-compare .lcm-compare-adopt")
            notes = page.locator(".lcm-compare .lcm-compare-note")
            for i in range(8):
                assert adopt.nth(i).is_disabled() == (i in invalid), i
                if i in invalid:
                    assert "must be at least 1" in (notes.nth(i).inner_text() or "")
                    assert notes.nth(i).is_visible()
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "sources-jupyterlab.png"))
            page.locator(".lcm-compare").evaluate("e => e.scrollIntoView({block: 'start'})")
            page.wait_for_timeout(300)
            page.screenshot(path=str(ARTIFACTS / "compare-layout-jupyterlab.png"))
        finally:
            kc.stop_channels()
        assert not page_errors_of_ours(errors), errors


DROP_CELL = """\
import os
from lcm_widgets import Compare, Studio
if os.environ.get("LCM_E2E_BACKEND", "tiny") == "tiny":
    from lcm_widgets import LocalLCM
    backend = LocalLCM("tiny", progress=False)
else:
    from lcm_widgets.backends.echo import EchoBackend
    backend = EchoBackend()
studio = Studio(backend, prompt="a portrait", steps=2, strength=0.5, seed=7, frame_size=256,
                display_size=200)
reasons, seqs = [], []
studio.sketchpad.on_frame(lambda f: (reasons.append(f.reason), seqs.append(f.seq)))
compare = Compare(studio, steps=[2, 4], strength=[0.5], cell_size=96)
compare"""

#: Drags a blue PNG made in the page onto the canvas; whether each event was cancelled (what
#: makes an element a drop target for a real drag).
DROP_BLUE_PNG = """async () => {
  const c = document.createElement('canvas'); c.width = 64; c.height = 64;
  const g = c.getContext('2d'); g.fillStyle = '#0000ff'; g.fillRect(0, 0, 64, 64);
  const blob = await new Promise((r) => c.toBlob(r, 'image/png'));
  const dt = new DataTransfer();
  dt.items.add(new File([blob], 'blue.png', { type: 'image/png' }));
  const target = document.querySelector('.lcm-sketchpad .lcm-input canvas');
  const out = [];
  for (const type of ['dragenter', 'dragover', 'drop']) {
    const ev = new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true });
    target.dispatchEvent(ev);
    out.push(ev.defaultPrevented);
  }
  return out;
}"""

#: The Sketchpad's box in the Compare, the Sketchpad, and its two status rows.
STATUS_ROWS = """() => {
  const pad = document.querySelector('.lcm-compare .lcm-sketchpad');
  const box = pad.closest('.widget-box').getBoundingClientRect();
  const rect = (e) => { const r = e.getBoundingClientRect(); return [r.left, r.right]; };
  const rows = [...pad.querySelectorAll('.lcm-status-main, .lcm-status-figures')].map((e) => ({
    rect: rect(e), ellipsis: getComputedStyle(e).textOverflow === 'ellipsis',
    overflows: e.scrollWidth > e.clientWidth, title: e.title,
    text: [...e.children].map((c) => c.textContent).join(' · ')}));
  return {box: [box.left, box.right], pad: rect(pad), rows};
}"""


def test_lab_drop_two_cameras_and_the_status_rows_in_a_compare(tmp_path: Path,
                                                               model_cache: str) -> None:
    nb = "drop.ipynb"
    (tmp_path / "root").mkdir()
    write_notebook(tmp_path / "root" / nb, [DROP_CELL])
    backend = os.environ.get("LCM_E2E_BACKEND", "tiny")
    two_cameras = ["--use-fake-device-for-media-stream=device-count=2",
                   "--use-fake-ui-for-media-stream"]
    with jupyter_server(tmp_path, app="lab", notebook=nb,
                        env={"LCM_E2E_BACKEND": backend}) as server, \
            chromium(args=two_cameras) as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        open_notebook(page, server, nb)
        run_first_cell_until(page, ".lcm-compare .lcm-sketchpad", artifacts=ARTIFACTS)
        until(lambda: "ready" in (page.text_content(".lcm-sketchpad .lcm-status") or ""), 180,
              "the Studio's status line")
        kc = server.kernel_client()
        try:
            # 1. a dropped image file becomes the background, goes to the kernel, is rendered
            assert page.evaluate(DROP_BLUE_PNG) == [True, True, True]
            until(lambda: page.evaluate(CENTRE_PIXEL)[:3] == [0, 0, 255], 30,
                  "the dropped image on the canvas")
            until(lambda: "background" in kernel_json(kc, "reasons"), 60,
                  "the dropped frame in the kernel")
            until(lambda: num(page, "results-painted") >= 1, 240, "a result of the drop")
            assert "lcm-dragover" not in (page.get_attribute(".lcm-input", "class") or "")
            # 2. the status rows stay inside the canvas's box in the Compare, cut with an
            #    ellipsis, the whole row to hover
            canvas = page.locator(".lcm-input canvas").first
            canvas.scroll_into_view_if_needed()
            stroke(page, dict(canvas.bounding_box() or {}), [(0.2, 0.2), (0.8, 0.7)])
            until(lambda: num(page, "results-painted") >= 2, 240, "a result of the stroke")
            until(lambda: "results/s" in (page.text_content(".lcm-status-figures") or ""), 60,
                  "the figures")
            lay = page.evaluate(STATUS_ROWS)
            left, right = lay["box"]
            assert left - 0.5 <= lay["pad"][0] and lay["pad"][1] <= right + 0.5, lay
            for row in lay["rows"]:
                assert row["rect"][1] <= right + 0.5 and row["ellipsis"], row
                assert row["title"] == row["text"], row
            assert lay["rows"][1]["overflows"], lay  # the figures do not fit: cut, not clipped
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "sources-drop-jupyterlab.png"))
            # 3. two cameras: the picker lists both; choosing the other one switches to it
            page.locator(".lcm-sketchpad .lcm-camera").click()
            until(lambda: hook(page, "cameraOn") and hook(page, "cameraPictures") > 0, 60,
                  "the fake camera's pictures")
            options = page.eval_on_selector_all(".lcm-camera-device option",
                                                "els => els.map(e => [e.value, e.textContent])")
            assert len(options) == 2 and options == page.evaluate(ENUMERATED), options
            first = hook(page, "cameraDevice")
            other = next(value for value, _ in options if value != first)
            page.select_option(".lcm-sketchpad .lcm-camera-device", other)
            until(lambda: hook(page, "cameraDevice") == other, 60, "the other camera")
            pictures = hook(page, "cameraPictures")
            until(lambda: hook(page, "cameraPictures") > pictures, 60, "its pictures")
            assert page.input_value(".lcm-sketchpad .lcm-camera-device") == other
            before = len(kernel_json(kc, "reasons"))
            until(lambda: "camera" in kernel_json(kc, f"reasons[{before}:]"), 120,
                  "a frame of the other camera in the kernel")
            page.locator(".lcm-sketchpad .lcm-camera").click()
            until(lambda: hook(page, "cameraOn") is False, 30, "the camera to stop")
            assert num(page, "max-in-flight") == 1
        finally:
            kc.stop_channels()
        assert not page_errors_of_ours(errors), errors
