"""EchoBackend: the instant model of the tests and the transport benchmarks."""

from __future__ import annotations

import asyncio
import io

import pytest
from PIL import Image

from lcm_widgets.backends.echo import EchoBackend
from lcm_widgets.errors import InvalidImage
from lcm_widgets.images import to_data_uri
from lcm_widgets.schema import Input


def encoded(fmt: str = "JPEG", size: tuple[int, int] = (64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 30, 40)).save(buf, fmt)
    return buf.getvalue()


def run(inp: Input) -> tuple[bytes, int, int, str]:
    out = asyncio.run(EchoBackend().generate(inp))
    img = out.images[0]
    assert img.content is not None
    return img.content, int(img.width or 0), int(img.height or 0), str(img.content_type)


def test_jpeg_in_jpeg_out_is_the_same_bytes_from_bytes_or_a_data_uri() -> None:
    data = encoded()
    for src in (data, to_data_uri(data, "image/jpeg")):
        assert run(Input(prompt="x", image_url=src, format="jpeg")) == \
            (data, 64, 48, "image/jpeg")


def test_another_format_or_a_size_is_re_encoded() -> None:
    png = encoded("PNG")
    content, w, h, mime = run(Input(prompt="x", image_url=png, format="jpeg"))
    assert content[:2] == b"\xff\xd8" and (w, h, mime) == (64, 48, "image/jpeg")
    content, w, h, _ = run(Input(prompt="x", image_url=encoded(), format="jpeg",
                                 image_size={"width": 256, "height": 128}))
    assert content != encoded() and (w, h) == (256, 128)


def test_a_refused_format_is_refused_before_any_decoding() -> None:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "TIFF")
    with pytest.raises(InvalidImage, match="TIFF"):
        run(Input(prompt="x", image_url=buf.getvalue(), format="jpeg"))
