"""A Studio session as a timelapse: each recorded result beside the frame it answered.

:func:`write_timelapse` is what :meth:`~lcm_widgets.widgets.studio.Studio.export_timelapse`
calls. GIF needs only Pillow; MP4 needs an ffmpeg-backed writer (imageio with its ffmpeg
plugin, ``pip install "imageio[ffmpeg]"``) and says so when it is missing. Each picture carries
its number (``3/12``) in a corner, so no two are identical and the GIF writer never merges two
results into one frame.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BackendUnavailable, InvalidImage, InvalidInput

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from ._studio_parts import HistoryEntry

__all__ = ["FORMATS", "MAX_FPS", "timelapse_frames", "write_timelapse"]

FORMATS = (".gif", ".mp4")
MAX_FPS = 60.0
MP4_HINT = 'pip install "imageio[ffmpeg]"'
GAP = 8


def _open(data: bytes, what: str) -> Image.Image:
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise InvalidImage(f"{what}: could not decode the recorded image ({exc})",
                           field=what) from exc
    return img.convert("RGB")


def _side_by_side(frame: Image.Image, result: Image.Image, height: int, label: str
                  ) -> Image.Image:
    from PIL import Image, ImageDraw, ImageFont

    def scaled(img: Image.Image) -> Image.Image:
        width = max(1, round(img.width * height / img.height))
        return img if img.size == (width, height) else img.resize((width, height))

    left, right = scaled(frame), scaled(result)
    width = left.width + GAP + right.width
    width += width % 2  # even sides: H.264 needs them
    out = Image.new("RGB", (width, height + height % 2), "white")
    out.paste(left, (0, 0))
    out.paste(right, (left.width + GAP, 0))
    draw = ImageDraw.Draw(out)
    font = ImageFont.load_default(size=max(10, height // 20))
    box = draw.textbbox((4, 4), label, font=font)
    draw.rectangle((box[0] - 2, box[1] - 2, box[2] + 2, box[3] + 2), fill="black")
    draw.text((4, 4), label, fill="white", font=font)
    return out


def timelapse_frames(entries: Sequence[HistoryEntry], height: int | None = None,
                     bar: Any = None) -> list[Image.Image]:
    """One picture per entry: the frame sent (left) and its result (right), ``height`` pixels
    high (default: the first result's height), numbered in the top-left corner; ``bar`` (a
    tqdm-like object) is advanced once per picture."""
    pictures: list[Image.Image] = []
    h = height
    for i, entry in enumerate(entries):
        result = _open(entry.image_bytes, f"history[{i}].result")
        h = h or result.height
        pictures.append(_side_by_side(_open(entry.frame, f"history[{i}].frame"), result, h,
                                      f"{i + 1}/{len(entries)}"))
        if bar is not None:
            bar.update(1)
    return pictures


def write_timelapse(entries: Sequence[HistoryEntry], path: str | Path, *, fps: float = 4.0,
                    height: int | None = None, progress: bool = True) -> Path:
    """Write ``entries`` as a GIF or MP4 (by ``path``'s suffix), one picture per entry at
    ``fps``; a progress bar (tqdm, when installed) unless ``progress=False``. Returns the
    path."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise InvalidInput(f"path: must end in {' or '.join(FORMATS)}, got {str(path)!r}",
                           field="path")
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not 0 < fps <= MAX_FPS:
        raise InvalidInput(f"fps: must be a number above 0 and at most {MAX_FPS:g}, got "
                           f"{fps!r}", field="fps")
    if height is not None and (isinstance(height, bool) or not isinstance(height, int)
                               or not 16 <= height <= 4096):
        raise InvalidInput(f"height: must be a whole number between 16 and 4096, got "
                           f"{height!r}", field="height")
    if not entries:
        raise InvalidInput("history: there is no result to export yet; draw something first",
                           field="history")
    writer: Any = None
    if suffix == ".mp4":
        try:
            import imageio.v2 as iio
            import imageio_ffmpeg  # noqa: F401  (the writer imageio uses for .mp4)
        except ImportError as exc:
            raise BackendUnavailable(
                f"export_timelapse: writing MP4 needs imageio with its ffmpeg plugin "
                f"({exc}): {MP4_HINT}; or export a .gif") from exc
    bar = _bar(len(entries), f"timelapse {path.name}", progress)
    try:
        pictures = timelapse_frames(entries, height, bar)
        size = pictures[0].size  # one size for all (a frame-size change mid-session)
        pictures = [p if p.size == size else p.resize(size) for p in pictures]
        if suffix == ".gif":
            first, *rest = pictures
            first.save(path, "GIF", save_all=True, append_images=rest, loop=0,
                       duration=max(20, round(1000 / fps)), disposal=1)
        else:
            import numpy as np

            writer = iio.get_writer(str(path), fps=fps, codec="libx264", quality=8,
                                    macro_block_size=1, pixelformat="yuv420p")
            for pic in pictures:
                writer.append_data(np.asarray(pic))
            writer.close()
            writer = None
    finally:
        if writer is not None:
            writer.close()
        bar.close()
    return path


class _NoBar:
    def update(self, n: int) -> None:
        """Do nothing."""

    def close(self) -> None:
        """Do nothing."""


def _bar(total: int, desc: str, enabled: bool) -> Any:
    """A tqdm bar (a widget in a notebook, text elsewhere), or nothing."""
    if enabled:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return _NoBar()
        return tqdm(total=total, desc=desc, unit="frame")
    return _NoBar()
