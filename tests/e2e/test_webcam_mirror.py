"""The webcam's mirror toggle in a real JupyterLab, in headless Debian Chromium (Playwright):
the frames that reach the kernel are really flipped.

Chromium's fake camera plays a still picture written by the test
(``--use-file-for-fake-video-capture``, a Y4M file): the left 40 % dark, the rest bright, so
the orientation of every frame is unambiguous. With the mirror off the kernel's frame has the
dark band on the left (as the camera sees it); ticking the mirror makes the next distinct frame
the kernel receives the horizontal flip of that one (decoded, compared with numpy within JPEG
tolerance), and the result shown (the echo model returns its input) follows; unticking it
brings the first frame back.

A still picture gives identical frames, and identical frames are skipped by design, so after
each toggle the test waits for one new distinct frame and one new result, not a stream. No
timing thresholds: every wait is bounded and only pixels, counts and states are asserted.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from lcm_e2e_harness import (
    FAKE_CAMERA_ARGS,
    chromium,
    jupyter_server,
    kernel_eval,
    page_error_text,
    page_errors_of_ours,
    write_notebook,
)
from lcm_studio_page import num, shot, start_studio, until

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not Path("/usr/bin/chromium").exists(),
                       reason="needs Debian chromium (apt-get install -y chromium)"),
]

FRAME = 256

#: Every *distinct* camera frame the kernel receives, in order (a still camera sends the same
#: bytes again and again; keeping each once keeps the test's reads small).
CELL = f"""\
from lcm_widgets import Studio
from lcm_widgets.backends.echo import EchoBackend
studio = Studio(EchoBackend(), prompt="a portrait", steps=2, strength=0.5, seed=7,
                frame_size={FRAME}, display_size={FRAME})
cam = []
def _keep(f):
    if f.reason == "camera" and (not cam or cam[-1] != f.data):
        cam.append(f.data)
studio.sketchpad.on_frame(_keep)
studio"""

#: The output canvas's mean brightness in its left and right fifths.
OUTPUT_SIDES = """() => {
  const c = document.querySelector('.lcm-sketchpad .lcm-output canvas');
  const g = c.getContext('2d'), w = Math.floor(c.width / 5), h = c.height;
  const mean = (x) => { const d = g.getImageData(x, 0, w, h).data; let s = 0;
    for (let i = 0; i < d.length; i += 4) s += d[i] + d[i + 1] + d[i + 2];
    return s / (3 * w * h); };
  return [mean(0), mean(c.width - w)];
}"""

DARK, BRIGHT = 30, 220  # luma of the picture's two parts (Y4M, 8 bit)


def write_picture(path: Path, width: int = 320, height: int = 240) -> None:
    """A still Y4M picture (two identical frames; Chromium loops the file): the left 40 %
    dark, the rest bright. 4:3 like a webcam, so the Studio centre-crops it to its square."""
    y = np.full((height, width), DARK, np.uint8)
    y[:, int(width * 0.4):] = BRIGHT
    chroma = np.full((height // 2, width // 2), 128, np.uint8).tobytes()
    with path.open("wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(2):
            f.write(b"FRAME\n" + y.tobytes() + chroma + chroma)


def camera_frames(kc: Any) -> list[np.ndarray]:
    """The kernel's distinct camera frames, decoded to float RGB arrays."""
    from PIL import Image

    out = kernel_eval(kc, "import base64, json; "
                          "print(json.dumps([base64.b64encode(d).decode() for d in cam]))")
    return [np.asarray(Image.open(io.BytesIO(base64.b64decode(s))).convert("RGB"), np.float64)
            for s in json.loads(out.strip().splitlines()[-1])]


def mad(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference, 0-255."""
    return float(np.abs(a - b).mean())


def sides(img: np.ndarray) -> tuple[float, float]:
    """Mean brightness of the left and right fifths."""
    w = img.shape[1] // 5
    return float(img[:, :w].mean()), float(img[:, -w:].mean())


def orientation(left: float, right: float) -> str:
    """"as seen" (the camera's own: dark on the left), "flipped", or "?" (neither)."""
    if left < 60 and right > 180:
        return "as seen"
    if left > 180 and right < 60:
        return "flipped"
    return "?"


def of_frame(img: np.ndarray) -> str:
    return orientation(*sides(img))


def of_output(page: Any) -> str:
    return orientation(*page.evaluate(OUTPUT_SIDES))


def test_lab_webcam_mirror_flips_the_frames_the_kernel_gets(tmp_path: Path) -> None:
    nb = "mirror.ipynb"
    (tmp_path / "root").mkdir()
    write_notebook(tmp_path / "root" / nb, [CELL])
    picture = tmp_path / "picture.y4m"
    write_picture(picture)
    args = [*FAKE_CAMERA_ARGS, f"--use-file-for-fake-video-capture={picture}"]
    with jupyter_server(tmp_path, app="lab", notebook=nb) as server, \
            chromium(args=args) as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(page_error_text(e)))
        start_studio(page, server, nb)
        kc = server.kernel_client()
        mirror = page.locator(".lcm-sketchpad .lcm-mirror")
        try:
            assert mirror.is_checked()  # on by default, like a mirror
            # 1. mirror off, camera on: the kernel's frame is the picture as the camera sees it
            mirror.uncheck()
            page.locator(".lcm-sketchpad .lcm-camera").click()
            until(lambda: page.evaluate(
                "() => document.querySelector('.lcm-sketchpad').__lcm.cameraPictures") > 0,
                60, "the fake camera's pictures")
            until(lambda: (fs := camera_frames(kc)) and of_frame(fs[-1]) == "as seen", 60,
                  "an unmirrored camera frame in the kernel")
            until(lambda: of_output(page) == "as seen", 60, "its result, unmirrored")
            frames = camera_frames(kc)
            plain, n = frames[-1], len(frames)
            assert plain.shape == (FRAME, FRAME, 3) and of_frame(plain) == "as seen"
            # 2. mirror on: the next distinct frame is the horizontal flip of that one
            painted = num(page, "results-painted")
            mirror.check()
            until(lambda: len(camera_frames(kc)) > n, 60, "a new frame after the mirror")
            frames = camera_frames(kc)
            mirrored = frames[n]  # the first new one: no half-way frame in between
            assert of_frame(mirrored) == "flipped", sides(mirrored)
            assert mad(mirrored, plain[:, ::-1]) < 8, mad(mirrored, plain[:, ::-1])
            assert mad(mirrored, plain) > 60, mad(mirrored, plain)
            # one new result for it (not skipped as unchanged), and it shows the flip
            until(lambda: num(page, "results-painted") > painted, 60, "a result of the flip")
            until(lambda: of_output(page) == "flipped", 60, "the result, mirrored")
            shot(page, "webcam-mirror-jupyterlab.png")
            # 3. mirror off again: the picture as first received
            n = len(frames)
            painted = num(page, "results-painted")
            mirror.uncheck()
            until(lambda: len(camera_frames(kc)) > n, 60, "a new frame after unmirroring")
            again = camera_frames(kc)[n]
            assert mad(again, plain) < 8 and of_frame(again) == "as seen", \
                (mad(again, plain), sides(again))
            until(lambda: num(page, "results-painted") > painted, 60, "a result of it")
            page.locator(".lcm-sketchpad .lcm-camera").click()
            until(lambda: page.evaluate(
                "() => document.querySelector('.lcm-sketchpad').__lcm.cameraOn") is False,
                30, "the camera to stop")
            assert num(page, "max-in-flight") == 1
        finally:
            kc.stop_channels()
        assert not page_errors_of_ours(errors), errors
