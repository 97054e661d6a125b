"""The Sketchpad's mask brush in real JupyterLab and headless Debian Chromium (Playwright):
a person switches to the mask, paints a stroke, and the kernel sees it (docs/studio.md, "The
mask brush").

Checked from the kernel, on the Inputs that reached the backend (a recording wrapper around
``EchoBackend``) and on ``studio.mask``: white along the mask stroke and black far from it; the
frame's own pixels untouched by the translucent overlay (the masked request's ``image_url`` is
byte for byte the frame sent before the mask); the mask eraser; "clear mask" sends requests
without ``mask_url``; undo brings the mask back; all of it on the direct channel, then again on
the comm once the direct channel is lost. One Jupyter start; the runtime is printed.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

import pytest
from lcm_e2e_harness import (
    chromium,
    jupyter_server,
    kernel_eval,
    page_error_text,
    page_errors_of_ours,
    write_notebook,
)
from lcm_studio_page import data, shot, start_studio, stroke, until

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not Path("/usr/bin/chromium").exists(),
                       reason="needs Debian chromium (apt-get install -y chromium)"),
]

CELL = """\
from lcm_widgets import Studio
from lcm_widgets.backends.echo import EchoBackend

class Recording:
    \"\"\"Delegates to EchoBackend; keeps every Input the Studio sent.\"\"\"
    def __init__(self, inner):
        self.inner, self.inputs = inner, []
    @property
    def info(self):
        return self.inner.info
    async def generate(self, inp):
        self.inputs.append(inp)
        return await self.inner.generate(inp)
    async def aclose(self):
        await self.inner.aclose()

backend = Recording(EchoBackend())
studio = Studio(backend, prompt="a house by a lake", steps=4, strength=0.5, seed=1234,
                display_size=300)
studio"""

#: Kernel-side reader: the newest request and studio.mask at the given frame pixels.
PROBE = """\
import io, json
from PIL import Image

def _probe(points, plain_index=None):
    inp = backend.inputs[-1]
    mask = studio.mask
    req = None if inp.mask_url is None else Image.open(io.BytesIO(inp.mask_url)).convert("L")
    frame = Image.open(io.BytesIO(inp.image_url)).convert("RGB")
    plain = backend.inputs[plain_index].image_url if plain_index is not None else None
    return json.dumps({
        "n": len(backend.inputs), "idle": studio.wait(30), "has_mask": inp.mask_url is not None,
        "mask": None if mask is None else [mask.getpixel(p) for p in points],
        "request_mask": None if req is None else [req.getpixel(p) for p in points],
        "mask_size": None if req is None else list(req.size),
        "frame": [list(frame.getpixel(p)) for p in points],
        "same_frame": plain is not None and inp.image_url == plain,
        "error": studio.stats["error"]})
"""

SIZE = 512  # the frame size (Studio's default frame_size)
Y = 0.6  # the mask stroke's height, as a fraction of the canvas
ON = [(0.3, Y), (0.5, Y), (0.7, Y)]  # along the mask stroke
OFF = [(0.5, 0.1), (0.05, 0.95)]  # far from it (and from the ink at y = 0.25)


def px(points: list[tuple[float, float]]) -> list[tuple[int, int]]:
    return [(round(fx * SIZE), round(fy * SIZE)) for fx, fy in points]


def probe(kc: Any, plain_index: int | None = None) -> dict[str, Any]:
    out = kernel_eval(kc, f"print(_probe({px(ON + OFF)!r}, {plain_index!r}))")
    return dict(json.loads(out.strip().splitlines()[-1]))


def n_inputs(kc: Any) -> int:
    return int(kernel_eval(kc, "print(len(backend.inputs))").strip().splitlines()[-1])


def settled(page: Any, kc: Any, want: Any, plain_index: int | None = None,
            timeout: float = 30) -> dict[str, Any]:
    """Poll until the view has sent everything (nothing dirty, nothing in flight) and the
    newest request, once the Studio is idle, satisfies ``want``."""
    last: dict[str, Any] = {}

    def check() -> bool:
        nonlocal last
        if data(page, "dirty") != "false" or data(page, "in-flight") != "0":
            return False
        last = probe(kc, plain_index)
        return bool(last["idle"] and want(last))

    try:
        until(check, timeout, "the request")
    except AssertionError:
        raise AssertionError(f"the newest request never matched; last probe {last}") from None
    return last


def white(rgb: list[int]) -> bool:
    """White frame pixels (JPEG-near): no red tint of the overlay."""
    r, g, b = rgb
    return min(r, g, b) >= 235 and abs(r - g) <= 8 and abs(r - b) <= 8


def test_lab_mask_brush_reaches_the_kernel_beside_the_frame(tmp_path: Path) -> None:
    t0 = time.monotonic()
    nb = "mask.ipynb"
    (tmp_path / "root").mkdir()
    write_notebook(tmp_path / "root" / nb, [CELL])
    with jupyter_server(tmp_path, app="lab", notebook=nb) as server, chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 1100})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(page_error_text(e)))
        box = start_studio(page, server, nb)
        kc = server.kernel_client()
        try:
            here = str(Path(__file__).resolve().parents[2])
            assert kernel_eval(kc, "print(__import__('lcm_widgets').__file__)").startswith(here)
            kernel_eval(kc, PROBE)
            until(lambda: data(page, "transport") == "direct", 30, "the direct channel")
            # 1. ink, no mask: the request has no mask_url
            stroke(page, box, [(0.1, 0.25), (0.9, 0.25)])
            plain = settled(page, kc, lambda p: p["n"] >= 1)
            assert not plain["has_mask"] and plain["mask"] is None
            plain_index = n_inputs(kc) - 1
            # 2. the mask brush: a stroke, shown translucent red, sent beside the frame
            toggle = page.locator(".lcm-mask")
            assert toggle.get_attribute("aria-pressed") == "false"
            toggle.click()
            assert toggle.get_attribute("aria-pressed") == "true"
            stroke(page, box, [(0.2, Y), (0.8, Y)])
            p = settled(page, kc, lambda p: p["has_mask"] and p["mask"][:3] == [255] * 3, plain_index)
            assert p["mask"] == [255, 255, 255, 0, 0], p
            assert p["request_mask"] == p["mask"] and p["mask_size"] == [SIZE, SIZE]
            assert p["same_frame"], "the mask changed the frame's bytes"
            assert all(white(c) for c in p["frame"]), p["frame"]  # no overlay in the frame
            overlay = page.evaluate(f"""() => {{
                const c = document.querySelector('.lcm-mask-overlay');
                const d = c.getContext('2d').getImageData({px(ON)[1][0]}, {px(ON)[1][1]}, 1, 1);
                return [getComputedStyle(c).opacity, [...d.data], c.width, c.height];
            }}""")
            assert overlay == ["0.4", [255, 0, 0, 255], SIZE, SIZE], overlay
            shot(page, "lab-mask-stroke.png")
            # 3. the eraser tool erases the mask (the drawing stays as it was)
            page.locator(".lcm-eraser").click()
            stroke(page, box, [(0.15, Y), (0.5, Y)])
            p = settled(page, kc, lambda p: p["has_mask"] and p["mask"][:3] == [0, 0, 255],
                        plain_index)
            assert p["same_frame"] and p["mask"][3:] == [0, 0], p
            page.locator(".lcm-brush").click()
            # 4. clear mask: requests without mask_url; undo brings the erased mask back
            n = n_inputs(kc)
            page.locator(".lcm-mask-clear").click()
            p = settled(page, kc, lambda p: p["n"] > n and not p["has_mask"], plain_index)
            assert p["mask"] is None and p["same_frame"], p
            page.locator(".lcm-undo").click()
            p = settled(page, kc, lambda p: p["has_mask"], plain_index)
            assert p["mask"][:3] == [0, 0, 255], p
            # 5. the same on the comm: the direct channel lost and blocked from now on
            jupyter_port = server.url.rsplit(":", 1)[1]
            page.route_web_socket(lambda url: f":{jupyter_port}/" not in url,
                                  lambda ws: ws.close(code=1011, reason="blocked by the test"))
            kernel_eval(kc, "studio.sketchpad._direct.close()")
            until(lambda: data(page, "transport") == "comm", 30, "the fallback to the comm")
            n = n_inputs(kc)
            page.locator(".lcm-mask-clear").click()
            settled(page, kc, lambda p: p["n"] > n and not p["has_mask"], plain_index)
            toggle.click()  # off: the pointer draws again...
            assert toggle.get_attribute("aria-pressed") == "false"
            toggle.click()  # ...and on again: paint on the comm
            stroke(page, box, [(0.2, Y), (0.8, Y)])
            p = settled(page, kc, lambda p: p["has_mask"] and p["mask"][:3] == [255] * 3, plain_index)
            assert p["mask"][3:] == [0, 0] and p["same_frame"], p
            assert kernel_eval(kc, "print(studio.sketchpad.transports)").strip() == \
                "{'direct': 0, 'comm': 1}"
            # figures: the mask's encoding (once per change) and its size beside the frame's
            fig = page.evaluate("""async () => {
                const lcm = document.querySelector('.lcm-sketchpad').__lcm;
                const ms = [];
                let e = null;
                for (let i = 0; i < 15; i++) {
                  lcm.mask.cache.bump();
                  const t = performance.now();
                  e = await lcm.mask.encoded();
                  ms.push(performance.now() - t);
                }
                const sent = lcm.trace().filter((r) => r.mask_bytes > 0);
                const last = sent[sent.length - 1];
                return {ms, png: e.png.byteLength, jpeg: last.bytes, mask_frames: sent.length,
                        encodes: lcm.mask.cache.encodes};
            }""")
            print(f"mask: {fig['png']} B PNG beside a {fig['jpeg']} B JPEG frame; encoding it "
                  f"(read + threshold + deflate) median "
                  f"{statistics.median(fig['ms']):.1f} ms, max {max(fig['ms']):.1f} ms; "
                  f"{fig['mask_frames']} frames carried a mask, "
                  f"{fig['encodes'] - 15} encodings for them")
            assert not page_errors_of_ours(errors), errors
        finally:
            kc.stop_channels()
    print(f"test_mask_browser: {time.monotonic() - t0:.1f} s")
