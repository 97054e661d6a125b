"""Tests for lcm_widgets.images: every input kind round-trips, every bad input is refused."""

from __future__ import annotations

import base64
import io
import os
import resource
import struct
import subprocess
import sys
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lcm_widgets.errors import InvalidImage, InvalidInput
from lcm_widgets.images import (
    FORMATS,
    MAX_BYTES,
    MAX_PIXELS,
    decode_data_uri,
    encode_image,
    image_dims,
    image_mime,
    image_to_array,
    load_image,
    to_data_uri,
)

# --- fixtures, generated -------------------------------------------------------------------


def _pattern(width: int = 32, height: int = 24) -> Image.Image:
    """A deterministic RGB image with distinct pixels (a gradient, not a flat colour)."""
    y, x = np.mgrid[0:height, 0:width]
    arr = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1),
                    (x + y) % 256], axis=-1).astype(np.uint8)
    return Image.fromarray(arr)


def _save(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _noise_jpeg(size: int = 64) -> bytes:
    rng = np.random.default_rng(0)
    return _save(Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)), "JPEG")


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_header(width: int, height: int, idat: bytes = b"not zlib data") -> bytes:
    """A PNG whose IHDR claims ``width x height`` RGB, with a tiny (here: corrupt) IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat)
            + _png_chunk(b"IEND", b""))


def _gif_with_frame(width: int, height: int) -> bytes:
    """A GIF whose logical screen is 1x1 but whose first frame claims ``width x height``."""
    screen = b"GIF89a" + struct.pack("<HHBBB", 1, 1, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"
    frame = b"," + struct.pack("<HHHHB", 0, 0, width, height, 0)
    return screen + frame + b"\x02\x02\x44\x01\x00;"


def _webp_header(chunk: bytes, width: int, height: int) -> bytes:
    """The first 30 bytes of a WebP file of the given kind and canvas size (no image data)."""
    if chunk == b"VP8X":
        body = b"\0" * 4 + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    elif chunk == b"VP8 ":
        body = b"\0" * 3 + b"\x9d\x01\x2a" + struct.pack("<HH", width, height)
    else:  # VP8L
        bits = (width - 1) | ((height - 1) << 14)
        body = b"\x2f" + bits.to_bytes(4, "little") + b"\0"
    return b"RIFF" + struct.pack("<I", 4 + 8 + len(body)) + b"WEBP" + chunk + struct.pack(
        "<I", len(body)) + body


def _message(exc_info: pytest.ExceptionInfo[InvalidImage]) -> str:
    return str(exc_info.value)


# --- decoding: every input kind --------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["PNG", "BMP", "WEBP", "GIF"])
def test_lossless_formats_round_trip_exactly(fmt: str) -> None:
    """PNG, BMP, lossless WebP and a GIF first frame decode to the pixels that were saved."""
    img = _pattern()
    if fmt == "GIF":  # GIF is palette-based: start from a few colours so it stays exact
        img = img.quantize(16).convert("RGB")
    kw = {"lossless": True} if fmt == "WEBP" else {}
    out = load_image(_save(img, fmt, **kw))
    assert out.mode == "RGB"
    assert out.size == img.size
    assert np.array_equal(np.asarray(out), np.asarray(img))


def test_jpeg_decodes_close_to_the_original() -> None:
    """JPEG is lossy: the decoded image has the size and roughly the pixels saved."""
    img = _pattern()
    out = load_image(_save(img, "JPEG", quality=95))
    assert (out.mode, out.size) == ("RGB", img.size)
    diff = np.abs(np.asarray(out, dtype=int) - np.asarray(img, dtype=int))
    assert diff.mean() < 8


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview])
def test_bytes_like_sources(wrap: type) -> None:
    """bytes, bytearray and memoryview all decode."""
    data = _save(_pattern(), "PNG")
    assert np.array_equal(np.asarray(load_image(wrap(data))), np.asarray(_pattern()))


@pytest.mark.parametrize("make_uri", [
    lambda b: "data:image/png;base64," + base64.b64encode(b).decode(),
    lambda b: "  DATA:Image/PNG;BASE64," + base64.b64encode(b).decode() + "\n",
    lambda b: "data:image/png;name=x.png;base64," + base64.encodebytes(b).decode(),
    lambda b: "data:;base64," + base64.b64encode(b).decode(),
    lambda b: "data:application/octet-stream;base64," + base64.b64encode(b).decode(),
    lambda b: "data:image/png," + "".join(f"%{c:02X}" for c in b),
], ids=["plain", "case-and-space", "params-and-line-wrapped", "no-type", "octet-stream",
        "percent-encoded"])
def test_data_uri_sources(make_uri: object) -> None:
    """Data URIs decode: any case, surrounding space, wrapped base64, percent-encoding."""
    data = _save(_pattern(), "PNG")
    out = load_image(make_uri(data))  # type: ignore[operator]
    assert np.array_equal(np.asarray(out), np.asarray(_pattern()))


def test_file_path_sources(tmp_path: Path) -> None:
    """A str path and a pathlib.Path both read the file."""
    path = tmp_path / "sketch.png"
    path.write_bytes(_save(_pattern(), "PNG"))
    for src in (str(path), path):
        assert np.array_equal(np.asarray(load_image(src)), np.asarray(_pattern()))


def test_pil_rgb_source_is_copied() -> None:
    """A PIL RGB image comes back equal but as a new object the caller may change freely."""
    img = _pattern()
    out = load_image(img)
    assert out is not img
    assert np.array_equal(np.asarray(out), np.asarray(img))


def test_transparency_is_composited_onto_white() -> None:
    """RGBA, LA and palette transparency become white where transparent, colour where opaque."""
    rgba = Image.new("RGBA", (2, 1), (0, 0, 0, 0))
    rgba.putpixel((1, 0), (10, 20, 30, 255))
    assert list(load_image(rgba).getdata()) == [(255, 255, 255), (10, 20, 30)]
    la = Image.new("LA", (1, 1), (0, 128))
    assert load_image(la).getpixel((0, 0)) == (127, 127, 127)
    pal = Image.new("P", (1, 1), 0)
    pal.putpalette([0, 0, 0] * 256)
    pal.info["transparency"] = 0
    assert load_image(pal).getpixel((0, 0)) == (255, 255, 255)
    png_rgba = _save(rgba, "PNG")
    assert list(load_image(png_rgba).getdata()) == [(255, 255, 255), (10, 20, 30)]


@pytest.mark.parametrize(("img", "expected"), [
    (Image.new("L", (1, 1), 77), (77, 77, 77)),
    (Image.new("1", (1, 1), 1), (255, 255, 255)),
    (Image.new("CMYK", (1, 1), (0, 0, 0, 0)), (255, 255, 255)),
    (Image.fromarray(np.array([[65535]], dtype=np.uint16)), (255, 255, 255)),
    (Image.fromarray(np.array([[257 * 100]], dtype=np.uint16)), (100, 100, 100)),
    (Image.new("I", (1, 1), 257 * 40), (40, 40, 40)),
    (Image.fromarray(np.array([[0.5]], dtype=np.float32)), (128, 128, 128)),
], ids=["L", "1", "CMYK", "I;16-max", "I;16-mid", "I", "F"])
def test_other_modes_convert_to_rgb(img: Image.Image, expected: tuple[int, int, int]) -> None:
    """Grey, bilevel, CMYK, 16-bit (scaled from 0-65535) and float (0-1) images become RGB."""
    out = load_image(img)
    assert out.mode == "RGB"
    assert out.getpixel((0, 0)) == expected


def test_sixteen_bit_png_is_scaled_not_clipped() -> None:
    """A 16-bit greyscale PNG keeps its tones instead of clipping everything above 255."""
    ramp = (np.arange(256, dtype=np.uint16) * 257).reshape(1, 256)
    out = np.asarray(load_image(_save(Image.fromarray(ramp), "PNG")))
    assert np.array_equal(out[0, :, 0], np.arange(256))


@pytest.mark.parametrize(("arr", "expected"), [
    (np.full((2, 3), 9, np.uint8), (9, 9, 9)),
    (np.full((2, 3, 1), 9, np.uint8), (9, 9, 9)),
    (np.full((2, 3, 3), (1, 2, 3), np.uint8), (1, 2, 3)),
    (np.full((2, 3, 4), (1, 2, 3, 255), np.uint8), (1, 2, 3)),
    (np.full((2, 3, 4), (1, 2, 3, 0), np.uint8), (255, 255, 255)),
    (np.full((2, 3, 3), (0.0, 0.5, 1.0), np.float64), (0, 128, 255)),
    (np.full((2, 3), 1.0, np.float16), (255, 255, 255)),
], ids=["HxW", "HxWx1", "HxWx3", "HxWx4-opaque", "HxWx4-clear", "float64", "float16"])
def test_array_sources(arr: np.ndarray, expected: tuple[int, int, int]) -> None:
    """Grey, RGB and RGBA uint8 arrays and float arrays in [0, 1] decode to RGB."""
    out = load_image(arr)
    assert (out.mode, out.size) == ("RGB", (3, 2))
    assert out.getpixel((2, 1)) == expected


def test_non_contiguous_array() -> None:
    """A flipped (strided) view decodes like its contiguous copy."""
    arr = np.asarray(_pattern())[:, ::-1]
    assert np.array_equal(np.asarray(load_image(arr)), arr)


def test_image_to_array_is_a_writable_uint8_copy(tmp_path: Path) -> None:
    """image_to_array gives (H, W, 3) uint8 that can be written without touching the source."""
    img = _pattern()
    arr = image_to_array(_save(img, "PNG"))
    assert (arr.shape, arr.dtype) == ((24, 32, 3), np.uint8)
    assert np.array_equal(arr, np.asarray(img))
    arr[0, 0] = 0  # writable
    with pytest.raises(InvalidImage, match=r"^image: "):
        image_to_array(b"nope")


def test_import_is_cheap() -> None:
    """Importing lcm_widgets.images imports neither PIL nor numpy."""
    code = ("import sys, lcm_widgets.images; "
            "assert 'PIL' not in sys.modules and 'numpy' not in sys.modules, sys.modules.keys()")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_public_constants() -> None:
    """The documented defaults and allow-list."""
    assert MAX_BYTES == 10 * 2**20
    assert MAX_PIXELS == 4096 * 4096
    assert FORMATS == ("JPEG", "PNG", "WEBP", "BMP", "GIF")


# --- decoding: refusals ------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "expected"), [
    (b"hello world", "image_url: not a recognised image format (data starts with "
                     "b'hello wo'); supported formats are JPEG, PNG, WEBP, BMP, GIF"),
    (b"", "image_url: not a recognised image format (data starts with b''); supported "
          "formats are JPEG, PNG, WEBP, BMP, GIF"),
    (b"%PDF-1.7\n", "image_url: PDF images are not supported (data starts with b'%PDF-1.7'); "
                    "supported formats are JPEG, PNG, WEBP, BMP, GIF"),
])
def test_unknown_formats(data: bytes, expected: str) -> None:
    """Data that is no allowed format is refused with its first bytes in the message."""
    with pytest.raises(InvalidImage) as info:
        load_image(data)
    assert _message(info) == expected
    assert info.value.field == "image_url"
    assert info.value.errors == [{"loc": ["body", "image_url"], "msg": expected,
                                  "type": "value_error"}]


def test_tiff_is_refused_by_name() -> None:
    """A real TIFF (which Pillow could read) is refused, and the message says it is a TIFF."""
    with pytest.raises(InvalidImage, match=r"^image_url: TIFF images are not supported "):
        load_image(_save(_pattern(), "TIFF"))


@pytest.mark.parametrize(("data", "fmt"), [
    (_noise_jpeg()[: len(_noise_jpeg()) // 2], "JPEG"),
    (_save(_pattern(), "PNG")[:-40], "PNG"),
    (b"\xff\xd8\xff\xe0 garbage after a JPEG signature", "JPEG"),
    (b"BM" + b"\0" * 3, "BMP"),
    (b"GIF89a\x01\x00\x01\x00\x00\x00\x00", "GIF"),
    (_png_header(4, 4), "PNG"),
], ids=["truncated-jpeg", "truncated-png", "garbage-jpeg", "short-bmp", "gif-no-frames",
        "png-corrupt-idat"])
def test_corrupt_and_truncated_data(data: bytes, fmt: str) -> None:
    """Corrupt or truncated data fails at load time with the PIL error chained."""
    with pytest.raises(InvalidImage) as info:
        load_image(data)
    assert _message(info).startswith(
        f"image_url: could not decode the {fmt} image; it is corrupt or truncated (")
    assert info.value.__cause__ is not None


def test_corrupt_webp() -> None:
    """A WebP with a valid size header but no image data is refused as corrupt."""
    with pytest.raises(InvalidImage, match=r"^image_url: could not decode the WEBP image"):
        load_image(_webp_header(b"VP8X", 8, 8))


def test_webp_without_size_in_header() -> None:
    """A WebP header too short to hold its size is refused before libwebp sees it."""
    with pytest.raises(InvalidImage) as info:
        load_image(b"RIFF\0\0\0\0WEBPVP8X")
    assert _message(info) == "image_url: not a valid WEBP image (no size in its header)"


def test_png_bomb_header_is_refused_before_decoding() -> None:
    """A 30000x30000 PNG header is refused from its header: no decode, no allocation."""
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(InvalidImage) as info:
        load_image(_png_header(30000, 30000))
    assert _message(info) == ("image_url: image is 30000x30000 = 900000000 pixels, over the "
                              "limit of 16777216")
    # The IDAT is not zlib data: had the pixels been decoded, the error would say "corrupt".
    assert info.value.__cause__ is None
    # Decoding would need 2.7 GB; the peak resident size must not have moved by anything close.
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    assert grown_kib < 200 * 1024


def test_max_pixels_is_configurable() -> None:
    """max_pixels applies to every kind of source, and the field name is the caller's."""
    data = _save(_pattern(32, 24), "PNG")
    expected = "sketch: image is 32x24 = 768 pixels, over the limit of 100"
    for src in (data, _pattern(32, 24), np.zeros((24, 32, 3), np.uint8)):
        with pytest.raises(InvalidImage) as info:
            load_image(src, max_pixels=100, field="sketch")
        assert _message(info) == expected
        assert info.value.field == "sketch"
    assert load_image(data, max_pixels=768).size == (32, 24)


@pytest.mark.parametrize("chunk", [b"VP8X", b"VP8 ", b"VP8L"])
def test_webp_bomb_header_is_refused_before_libwebp(chunk: bytes) -> None:
    """Lossy, lossless and extended WebP sizes are read from the header before decoding."""
    with pytest.raises(InvalidImage) as info:
        load_image(_webp_header(chunk, 16000, 9000))
    assert _message(info) == ("image_url: image is 16000x9000 = 144000000 pixels, over the "
                              "limit of 16777216")


def test_pillow_decompression_bomb_error_is_wrapped() -> None:
    """Pillow's own DecompressionBombError (a GIF frame far larger than its screen) is ours."""
    with pytest.raises(InvalidImage) as info:
        load_image(_gif_with_frame(30000, 30000), max_pixels=10**10)
    assert _message(info).startswith("image_url: image is too large to decode safely, over "
                                     "the limit of 10000000000 pixels (Image size (900000000 "
                                     "pixels) exceeds limit of")
    assert isinstance(info.value.__cause__, Image.DecompressionBombError)


def test_pillow_decompression_bomb_warning_is_wrapped_when_warnings_are_errors() -> None:
    """Where warnings are errors, Pillow's DecompressionBombWarning becomes InvalidImage."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InvalidImage) as info:
            load_image(_gif_with_frame(10000, 10000), max_pixels=10**10)
    assert isinstance(info.value.__cause__, Image.DecompressionBombWarning)


def test_gif_frame_larger_than_screen_is_checked() -> None:
    """A GIF frame that grows the canvas past max_pixels is refused before decoding."""
    with pytest.raises(InvalidImage) as info:
        load_image(_gif_with_frame(5000, 5000))
    assert _message(info) == ("image_url: image is 5000x5000 = 25000000 pixels, over the "
                              "limit of 16777216")


def test_oversize_bytes() -> None:
    """Encoded data over max_bytes is refused with the limit and the size."""
    data = _save(_pattern(), "PNG")
    with pytest.raises(InvalidImage) as info:
        load_image(data, max_bytes=100)
    assert _message(info) == f"image_url: image is {len(data)} bytes, over the limit of 100 bytes"
    assert load_image(data, max_bytes=len(data)).size == (32, 24)


@pytest.mark.parametrize("encoding", ["base64", "percent"])
def test_oversize_data_uri(encoding: str) -> None:
    """A data URI holding more than max_bytes is refused (base64: before decoding)."""
    data = _save(_pattern(), "PNG")
    uri = (to_data_uri(data, "image/png") if encoding == "base64" else
           "data:image/png," + "".join(f"%{c:02X}" for c in data))
    with pytest.raises(InvalidImage) as info:
        load_image(uri, max_bytes=100)
    assert _message(info) == f"image_url: image is {len(data)} bytes, over the limit of 100 bytes"


def test_oversize_file_is_refused_before_reading(tmp_path: Path) -> None:
    """A file over max_bytes is refused from its size."""
    path = tmp_path / "big.png"
    path.write_bytes(_save(_pattern(), "PNG"))
    with pytest.raises(InvalidImage) as info:
        load_image(path, max_bytes=10)
    assert _message(info) == (f"image_url: image is {path.stat().st_size} bytes, over the "
                              "limit of 10 bytes")


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_endless_special_file_is_read_only_up_to_the_limit() -> None:
    """A file whose size is unknown (/dev/zero) is read up to max_bytes + 1, then refused."""
    with pytest.raises(InvalidImage) as info:
        load_image("/dev/zero", max_bytes=1000)
    assert _message(info) == ("image_url: image is more than 1000 bytes, over the limit of "
                              "1000 bytes")


@pytest.mark.parametrize(("uri", "expected"), [
    ("data:image/png;base64,abc!", "image_url: not valid base64 in data URI (Only base64 data "
                                   "is allowed)"),
    ("data:image/png;base64,abcde", "image_url: not valid base64 in data URI (Invalid "
                                    "base64-encoded string: number of data characters (5) "
                                    "cannot be 1 more than a multiple of 4)"),
    ("data:image/png;base64,abc", "image_url: not valid base64 in data URI (Incorrect "
                                  "padding)"),
    ("data:image/png;base64,é", "image_url: not valid base64 in data URI (string argument "
                                "should contain only ASCII characters)"),
    ("data:image/png;base64", "image_url: data URI has no ',' before its data, got "
                              "'data:image/png;base64'"),
    ("data:text/plain;base64,aGk=", "image_url: data URI has media type 'text/plain', "
                                    "expected an image/* type"),
])
def test_bad_data_uris(uri: str, expected: str) -> None:
    """Bad base64, a missing comma and a non-image media type each get a clear message."""
    with pytest.raises(InvalidImage) as info:
        load_image(uri)
    assert _message(info) == expected


@pytest.mark.parametrize("url", ["https://example.com/cat.png", "http://x/y.jpg",
                                 " ftp://host/file.png"])
def test_urls_are_not_fetched(url: str) -> None:
    """URLs are refused: fetching is the caller's job."""
    with pytest.raises(InvalidImage) as info:
        load_image(url)
    assert _message(info) == ("image_url: URLs are not fetched by lcm_widgets; download the "
                              f"image and pass its bytes, got {url!r}")


def test_files_can_be_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """allow_files=False refuses paths (for values that came over the network)."""
    monkeypatch.chdir(tmp_path)
    Path("secret.png").write_bytes(_save(_pattern(), "PNG"))
    for src in ("secret.png", Path("secret.png")):
        with pytest.raises(InvalidImage) as info:
            load_image(src, allow_files=False)
        assert _message(info) == "image_url: must be a data: URI or bytes, got 'secret.png'"
    assert load_image(_save(_pattern(), "PNG"), allow_files=False).size == (32, 24)


def test_unreadable_paths(tmp_path: Path) -> None:
    """A missing file and a folder are refused, saying what a string may be."""
    with pytest.raises(InvalidImage) as info:
        load_image(str(tmp_path / "missing.png"))
    assert _message(info) == (f"image_url: could not read the file "
                              f"{str(tmp_path / 'missing.png')!r} (No such file or directory); "
                              "a string must be a data: URI or a file path")
    assert isinstance(info.value.__cause__, FileNotFoundError)
    with pytest.raises(InvalidImage, match=r"\(Is a directory\)"):
        load_image(tmp_path)


def test_long_values_are_cut_in_messages() -> None:
    """A long string (raw base64 without 'data:') is shown cut, not in full."""
    raw = base64.b64encode(_noise_jpeg()).decode()
    with pytest.raises(InvalidImage) as info:
        load_image(raw)
    assert repr(raw)[:200] + "..." in _message(info)
    assert raw not in _message(info)


@pytest.mark.parametrize("src", [42, [1, 2, 3], None])
def test_unsupported_source_types(src: object) -> None:
    """Other types are refused, naming the type."""
    with pytest.raises(InvalidImage) as info:
        load_image(src)  # type: ignore[arg-type]
    assert _message(info) == ("image_url: expected image bytes, a data: URI, a file path, a "
                              "PIL image or a numpy array, got " + type(src).__name__)


def test_lazy_pil_image_that_fails_to_load() -> None:
    """A PIL image opened lazily from truncated data fails when load_image loads it."""
    data = _noise_jpeg()
    img = Image.open(io.BytesIO(data[: len(data) // 2]))
    with pytest.raises(InvalidImage, match=r"^image_url: could not decode the image \("):
        load_image(img)


@pytest.mark.parametrize(("arr", "expected"), [
    (np.zeros(5, np.uint8), "array must have shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), "
                            "got (5,)"),
    (np.zeros((2, 2, 2), np.uint8), "array must have shape (H, W), (H, W, 1), (H, W, 3) or "
                                    "(H, W, 4), got (2, 2, 2)"),
    (np.zeros((1, 2, 2, 3), np.uint8), "array must have shape (H, W), (H, W, 1), (H, W, 3) or "
                                       "(H, W, 4), got (1, 2, 2, 3)"),
    (np.zeros((3, 8, 8), np.uint8), "array must have shape (H, W), (H, W, 1), (H, W, 3) or "
                                    "(H, W, 4), got (3, 8, 8); for channels-first data use "
                                    "arr.transpose(1, 2, 0)"),
    (np.zeros((0, 5, 3), np.uint8), "array must be at least 1x1 pixels, got shape (0, 5, 3)"),
    (np.zeros((2, 2, 3), np.int64), "array dtype must be uint8 (0-255) or float (0-1), got "
                                    "int64"),
    (np.zeros((2, 2), np.uint16), "array dtype must be uint8 (0-255) or float (0-1), got "
                                  "uint16"),
    (np.zeros((2, 2), bool), "array dtype must be uint8 (0-255) or float (0-1), got bool"),
    (np.full((2, 2), 255.0), "float array values must be in [0, 1], got values from 255 to "
                             "255"),
    (np.array([[-0.5, 0.5]]), "float array values must be in [0, 1], got values from -0.5 to "
                              "0.5"),
    (np.array([[np.nan, 0.5]]), "float array has NaN or infinite values"),
    (np.array([[np.inf]], np.float32), "float array has NaN or infinite values"),
    (np.broadcast_to(np.uint8(0), (5000, 5000, 3)), "image is 5000x5000 = 25000000 pixels, "
                                                    "over the limit of 16777216"),
], ids=["1d", "two-channels", "4d", "channels-first", "empty", "int64", "uint16", "bool",
        "float-0-255", "float-negative", "nan", "inf", "too-many-pixels"])
def test_bad_arrays(arr: np.ndarray, expected: str) -> None:
    """Wrong shapes, dtypes and value ranges are refused, naming what was received."""
    with pytest.raises(InvalidImage) as info:
        load_image(arr)
    assert _message(info) == f"image_url: {expected}"


# --- encoding ----------------------------------------------------------------------------------


def test_encode_jpeg_and_png() -> None:
    """JPEG and PNG bytes carry their signatures and decode back to the image."""
    img = _pattern()
    jpeg = encode_image(img)
    png = encode_image(img, "png")
    assert jpeg.startswith(b"\xff\xd8\xff")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert np.array_equal(np.asarray(load_image(png)), np.asarray(img))
    assert Image.open(io.BytesIO(jpeg)).format == "JPEG"
    assert encode_image(img, "JPG") == encode_image(img, "jpeg")


def test_png_uses_fast_compression() -> None:
    """PNG is written with compress_level=1 (the same bytes Pillow writes with it)."""
    img = Image.open(io.BytesIO(_noise_jpeg()))
    assert encode_image(img, "png") == _save(img, "PNG", compress_level=1)


def test_jpeg_quality_changes_the_size() -> None:
    """A higher quality gives larger JPEG bytes."""
    img = Image.open(io.BytesIO(_noise_jpeg()))
    assert len(encode_image(img, quality=30)) < len(encode_image(img, quality=95))


def test_encode_keeps_or_composites_alpha() -> None:
    """PNG keeps RGBA and L; JPEG composites transparency onto white; other modes become RGB."""
    rgba = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    assert Image.open(io.BytesIO(encode_image(rgba, "png"))).mode == "RGBA"
    assert Image.open(io.BytesIO(encode_image(Image.new("L", (4, 4)), "png"))).mode == "L"
    assert Image.open(io.BytesIO(encode_image(Image.new("P", (4, 4)), "png"))).mode == "RGB"
    back = Image.open(io.BytesIO(encode_image(rgba, "jpeg")))
    assert back.mode == "RGB"
    assert np.asarray(back).min() > 250


def test_encode_arrays() -> None:
    """Arrays encode with the same rules as load_image; RGBA arrays keep alpha in PNG."""
    arr = np.asarray(_pattern())
    assert np.array_equal(np.asarray(load_image(encode_image(arr, "png"))), arr)
    rgba = np.zeros((2, 2, 4), np.uint8)
    assert Image.open(io.BytesIO(encode_image(rgba, "png"))).mode == "RGBA"
    with pytest.raises(InvalidImage, match=r"^image: array dtype must be uint8"):
        encode_image(np.zeros((2, 2), np.int32))


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"format": "gif"}, "format: must be one of 'jpeg' or 'png', got 'gif'"),
    ({"format": None}, "format: must be one of 'jpeg' or 'png', got None"),
    ({"quality": 0}, "quality: must be a whole number between 1 and 100, got 0"),
    ({"quality": 101}, "quality: must be a whole number between 1 and 100, got 101"),
    ({"quality": 85.0}, "quality: must be a whole number between 1 and 100, got 85.0"),
    ({"quality": True}, "quality: must be a whole number between 1 and 100, got True"),
])
def test_encode_bad_arguments(kwargs: dict[str, object], expected: str) -> None:
    """Bad format and quality arguments are InvalidInput naming the argument."""
    with pytest.raises(InvalidInput) as info:
        encode_image(_pattern(), **kwargs)  # type: ignore[arg-type]
    assert str(info.value) == expected
    assert info.value.field == expected.split(":")[0]
    assert not isinstance(info.value, InvalidImage)


def test_encode_bad_image_type() -> None:
    """encode_image takes only PIL images and arrays."""
    with pytest.raises(InvalidImage) as info:
        encode_image(b"bytes")  # type: ignore[arg-type]
    assert str(info.value) == "image: expected a PIL image or a numpy array, got bytes"


# --- data URIs ---------------------------------------------------------------------------------


def test_data_uri_round_trip() -> None:
    """to_data_uri and decode_data_uri are inverse."""
    data = bytes(range(256))
    uri = to_data_uri(data, "image/png")
    assert uri.startswith("data:image/png;base64,")
    assert decode_data_uri(uri) == ("image/png", data)
    assert to_data_uri(bytearray(b"x")) == "data:image/jpeg;base64,eA=="
    assert decode_data_uri("data:Text/Plain;charset=utf-8,a%20b") == ("text/plain", b"a b")
    assert decode_data_uri("data:,") == ("", b"")


def test_decode_data_uri_refuses_other_strings() -> None:
    """A string that is not a data URI is refused, with the field the caller names."""
    with pytest.raises(InvalidImage) as info:
        decode_data_uri("https://example.com/x.png", field="url")
    assert str(info.value) == ("url: not a data URI (expected 'data:<type>;base64,<data>'), "
                               "got 'https://example.com/x.png'")
    assert info.value.field == "url"


def test_decode_data_uri_limit() -> None:
    """decode_data_uri has no limit unless max_bytes is given."""
    uri = to_data_uri(b"x" * 100)
    assert len(decode_data_uri(uri)[1]) == 100
    with pytest.raises(InvalidImage, match=r"^image_url: image is 100 bytes, over the limit "
                                           r"of 99 bytes$"):
        decode_data_uri(uri, max_bytes=99)


@pytest.mark.parametrize("mime", ["", "image", "image/png;base64", "image/png,x", " image/png"])
def test_to_data_uri_bad_mime(mime: str) -> None:
    """A malformed media type would produce a broken URI, so it is refused."""
    with pytest.raises(InvalidInput) as info:
        to_data_uri(b"x", mime)
    assert str(info.value) == f"mime: must look like 'image/jpeg', got {mime!r}"


# --- header-only size and media type ---------------------------------------------------------


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "GIF", "WEBP"])
def test_image_dims_reads_the_header_of_every_allowed_format(fmt: str) -> None:
    """image_dims gives (width, height) from bytes or a data URI, for each allowed format."""
    data = _save(_pattern(40, 24), fmt)
    assert image_dims(data) == (40, 24)
    assert image_dims(memoryview(data)) == (40, 24)
    assert image_dims(to_data_uri(data, image_mime(data))) == (40, 24)


def test_image_dims_does_not_decode_pixels() -> None:
    """A header claiming a huge PNG is measured without touching its (corrupt) pixel data."""
    assert image_dims(_png_header(20000, 10)) == (20000, 10)


@pytest.mark.parametrize("src", [b"", b"not an image", b"II*\x00tiff", "a/path.png",
                                 "data:image/png;base64,!!!", _webp_header(b"VP8 ", 4, 4)[:20]])
def test_image_dims_is_none_when_it_cannot_tell(src: bytes | str) -> None:
    """Unknown formats, paths, broken data URIs and truncated headers give None (the real
    decode that follows names the problem)."""
    assert image_dims(src) is None


def test_image_mime_sniffs_magic_bytes() -> None:
    """image_mime names the allowed format from the data's first bytes, never guessing."""
    assert image_mime(_save(_pattern(), "PNG")) == "image/png"
    assert image_mime(_save(_pattern(), "JPEG")) == "image/jpeg"
    assert image_mime(_webp_header(b"VP8X", 8, 8)) == "image/webp"
    assert image_mime(b"II*\x00") == "application/octet-stream"
