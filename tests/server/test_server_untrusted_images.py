"""Untrusted image bytes in server requests: a refused format is refused from its magic bytes,
before any Pillow plugin parses it, with a 4xx naming the field and the allowed formats."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import msgpack
import pytest
from server_helpers import APP, AUTH, jpeg

from lcm_widgets.errors import InvalidImage
from lcm_widgets.images import image_header


def _tiff() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buf, "TIFF")
    return buf.getvalue()


def _psd() -> bytes:
    # a minimal PSD file header (signature, version 1, 6 reserved bytes, 3 channels, 8x8, 8 bit,
    # RGB), enough for Pillow's PSD plugin to accept it
    return (b"8BPS" + (1).to_bytes(2, "big") + bytes(6) + (3).to_bytes(2, "big")
            + (8).to_bytes(4, "big") * 2 + (8).to_bytes(2, "big") + (3).to_bytes(2, "big")
            + bytes(64))


@pytest.fixture
def plugin_calls() -> Iterator[list[str]]:
    """Spies on the TIFF and PSD plugins' open (``Image.register_open``): the names of the
    plugins that were handed data, restored after the test."""
    from PIL import Image, PsdImagePlugin, TiffImagePlugin

    Image.init()
    calls: list[str] = []
    saved = {fmt: (Image.OPEN[fmt]) for fmt in ("TIFF", "PSD")}

    def spy(fmt: str, cls: Any) -> Callable[..., Any]:
        def factory(fp: Any, filename: Any = None) -> Any:
            calls.append(fmt)
            return cls(fp, filename)
        return factory

    Image.register_open("TIFF", spy("TIFF", TiffImagePlugin.TiffImageFile),
                        TiffImagePlugin._accept)
    Image.register_open("PSD", spy("PSD", PsdImagePlugin.PsdImageFile), PsdImagePlugin._accept)
    # the spies work: Pillow's own open hands these bytes to them
    Image.open(io.BytesIO(_tiff())).close()
    assert calls == ["TIFF"]
    calls.clear()
    yield calls
    for fmt, (factory, accept) in saved.items():
        Image.register_open(fmt, factory, accept)


@pytest.mark.parametrize(("make", "name"), [(_tiff, "TIFF"), (_psd, "PSD")])
def test_rest_refuses_tiff_and_psd_before_any_plugin(serve: Any, plugin_calls: list[str],
                                                     make: Callable[[], bytes],
                                                     name: str) -> None:
    """POST /{app} with a TIFF/PSD data URI: 422 naming image_url, the format and the allowed
    ones; neither plugin ever saw the bytes; the server then serves the next request."""
    srv = serve()
    uri = "data:image/png;base64," + base64.b64encode(make()).decode()
    r = httpx.post(f"{srv.url}/{APP}/image-to-image", headers=AUTH,
                   json={"prompt": "x", "image_url": uri, "strength": 1})
    assert r.status_code == 422, r.text
    msg = r.json()["detail"][0]["msg"]
    assert msg.startswith(f"image_url: {name} images are not accepted")
    assert msg.endswith("allowed formats are JPEG, PNG, WEBP, BMP, GIF")
    assert r.json()["detail"][0]["loc"] == ["body", "image_url"]
    assert plugin_calls == []
    ok = httpx.post(f"{srv.url}/{APP}", headers=AUTH, json={"prompt": "after", "seed": 1})
    assert ok.status_code == 200


def test_realtime_refuses_tiff_bytes_before_any_plugin(serve: Any,
                                                       plugin_calls: list[str]) -> None:
    """Raw TIFF bytes in a realtime frame: INVALID_IMAGE naming the allowed formats."""
    from websockets.sync.client import connect

    srv = serve(auth=False)
    with connect(f"{srv.ws_url}/{APP}/realtime") as ws:
        ws.send(msgpack.packb({"prompt": "x", "image_url": _tiff(), "strength": 1}))
        err = json.loads(ws.recv())
    assert err["error"] == "INVALID_IMAGE"
    assert "TIFF images are not accepted" in err["reason"]
    assert "allowed formats are JPEG, PNG, WEBP, BMP, GIF" in err["reason"]
    assert plugin_calls == []


def test_configured_formats_are_the_only_ones_opened(serve: Any,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """ImageLimits(formats=("PNG",)) refuses a JPEG by name; an accepted image is opened with
    ``Image.open(..., formats=[its format])``."""
    from PIL import Image

    from lcm_widgets.server import ImageLimits

    seen: list[Any] = []
    real_open = Image.open

    def spy_open(fp: Any, mode: str = "r", formats: Any = None) -> Any:
        seen.append(formats)
        return real_open(fp, mode, formats)

    monkeypatch.setattr(Image, "open", spy_open)
    srv = serve(image_limits=ImageLimits(formats=("PNG",)))
    uri = "data:image/jpeg;base64," + base64.b64encode(jpeg()).decode()
    r = httpx.post(f"{srv.url}/{APP}", headers=AUTH,
                   json={"prompt": "x", "image_url": uri, "strength": 1})
    assert r.status_code == 422
    assert r.json()["detail"][0]["msg"] == (
        "image_url: JPEG images are not accepted (data starts with "
        f"{jpeg()[:8]!r}); allowed formats are PNG")
    assert seen == []  # refused from the magic bytes alone
    buf = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buf, "PNG")
    png = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    r = httpx.post(f"{srv.url}/{APP}", headers=AUTH,
                   json={"prompt": "x", "image_url": png, "strength": 1, "sync_mode": True})
    assert r.status_code == 200, r.text
    assert ["PNG"] in seen and None not in seen


def test_image_header_limits_name_field_limit_and_value() -> None:
    """image_header: the format, then the size limits, each naming the field and the value."""
    assert image_header(jpeg((40, 30)), field="f") == ("JPEG", 40, 30)
    with pytest.raises(InvalidImage, match=r"^f: image must be at most 32 pixels per side and "
                                           r"10000 pixels in all, got 40x30$"):
        image_header(jpeg((40, 30)), max_side=32, max_pixels=10_000, field="f")
    with pytest.raises(InvalidImage, match=r"^f: not an image in a recognised format"):
        image_header(b"hello", field="f")


def test_image_limits_refuse_formats_nothing_can_read() -> None:
    """ImageLimits(formats=...) must stay within the formats the decoder reads."""
    from lcm_widgets.server import ImageLimits

    with pytest.raises(ValueError, match=r"^image_limits.formats: must be among JPEG, PNG, "
                                         r"WEBP, BMP, GIF, got 'TIFF'$"):
        ImageLimits(formats=("PNG", "TIFF"))
