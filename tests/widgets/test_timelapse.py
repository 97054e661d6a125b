"""Studio.export_timelapse: a GIF with one picture per recorded result (read back frame by
frame), each the frame sent beside its result; clear errors for a bad path, fps, height, an
empty history and a missing MP4 writer. A real Studio on a real EchoBackend; results come in
through submit_image, as if drawn."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest
from lcm_test_helpers import LooseComm
from PIL import Image, ImageSequence

from lcm_widgets import Studio
from lcm_widgets.backends.echo import EchoBackend
from lcm_widgets.errors import BackendUnavailable, InvalidInput
from lcm_widgets.widgets.sketchpad import Sketchpad


@pytest.fixture
def studio() -> Iterator[Studio]:
    pad = Sketchpad(comm=LooseComm(), frame_width=64, frame_height=64)
    s = Studio(EchoBackend(), sketchpad=pad, prompt="a house", seed=3, steps=4, strength=0.5)
    yield s
    s.close()


def rgb(img: Image.Image, x: int, y: int) -> tuple[int, int, int]:
    r, g, b = img.getpixel((x, y))  # type: ignore[misc]
    return int(r), int(g), int(b)


COLOURS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30), (30, 200, 200)]


def test_gif_has_one_picture_per_result_with_frame_and_result_side_by_side(
        studio: Studio, tmp_path: Path) -> None:
    for colour in COLOURS:
        studio.submit_image(Image.new("RGB", (64, 64), colour))
    history = studio.history
    assert len(history) == len(COLOURS)
    path = studio.export_timelapse(tmp_path / "session.gif", fps=5, progress=False)
    gif = Image.open(path)
    assert gif.format == "GIF"
    pictures = [f.convert("RGB") for f in ImageSequence.Iterator(gif)]
    assert len(pictures) == len(history)  # one per recorded result, none merged
    assert gif.info["duration"] == 200 and gif.info.get("loop") == 0
    for pic, colour in zip(pictures, COLOURS, strict=True):
        assert pic.size == (64 + 8 + 64, 64)
        # left half: the frame sent (its colour, away from the number in the corner)
        left = rgb(pic, 48, 48)
        assert all(abs(a - e) < 40 for a, e in zip(left, colour, strict=True)), (left, colour)
        assert pic.getpixel((68, 32)) == (255, 255, 255)  # the gap between the two
    # the right half is each entry's result, in order (echo answers with the frame)
    for pic, entry in zip(pictures, history, strict=True):
        result = rgb(entry.image().convert("RGB"), 48, 48)
        got = rgb(pic, 72 + 48, 48)
        assert all(abs(a - e) < 40 for a, e in zip(got, result, strict=True))


def test_height_scales_every_picture(studio: Studio, tmp_path: Path) -> None:
    studio.submit_image(Image.new("RGB", (64, 64), "red"))
    path = studio.export_timelapse(tmp_path / "big.GIF", height=128, progress=True)
    assert Image.open(path).size == (128 + 8 + 128, 128)


@pytest.mark.parametrize("kwargs,match", [
    ({"path": "out.avi"}, r"path: must end in \.gif or \.mp4, got '.*/out\.avi'"),
    ({"fps": 0}, r"fps: must be a number above 0 and at most 60, got 0"),
    ({"fps": 120}, r"fps: must be a number above 0 and at most 60, got 120"),
    ({"height": 8}, r"height: must be a whole number between 16 and 4096, got 8"),
])
def test_bad_arguments_name_the_field_limit_and_value(studio: Studio, tmp_path: Path,
                                                      kwargs: dict[str, object],
                                                      match: str) -> None:
    studio.submit_image(Image.new("RGB", (64, 64), "red"))
    path = tmp_path / str(kwargs.pop("path", "ok.gif"))
    with pytest.raises(InvalidInput, match=match):
        studio.export_timelapse(path, **kwargs)  # type: ignore[arg-type]
    assert not path.exists()
    assert studio.export_timelapse(tmp_path / "ok.gif", progress=False).exists()  # goes on


def test_empty_history_is_a_clear_error(studio: Studio, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="history: there is no result to export yet"):
        studio.export_timelapse(tmp_path / "none.gif")


@pytest.mark.skipif(importlib.util.find_spec("imageio_ffmpeg") is not None,
                    reason="imageio's ffmpeg writer is installed: the MP4 test below runs")
def test_mp4_without_a_writer_says_what_to_install(studio: Studio, tmp_path: Path) -> None:
    studio.submit_image(Image.new("RGB", (64, 64), "red"))
    with pytest.raises(BackendUnavailable, match=r'pip install "imageio\[ffmpeg\]"'):
        studio.export_timelapse(tmp_path / "session.mp4")


@pytest.mark.skipif(importlib.util.find_spec("imageio_ffmpeg") is None,
                    reason='needs imageio\'s ffmpeg writer (pip install "imageio[ffmpeg]")')
def test_mp4_has_one_frame_per_result(studio: Studio, tmp_path: Path) -> None:
    import imageio.v2 as iio
    import imageio_ffmpeg

    for colour in COLOURS:
        studio.submit_image(Image.new("RGB", (64, 64), colour))
    path = studio.export_timelapse(tmp_path / "session.mp4", fps=5, progress=False)
    frames, _seconds = imageio_ffmpeg.count_frames_and_secs(str(path))  # ffmpeg decodes all
    assert frames == len(COLOURS)
    reader = iio.get_reader(str(path))
    try:
        assert reader.get_data(0).shape[:2] == (64, 64 + 8 + 64)
    finally:
        reader.close()
