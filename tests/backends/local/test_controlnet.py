"""ControlNet in the lean loop, with the random-weight ``tiny-controlnet`` on the ``tiny`` model
(both loaded through from_pretrained), and the numpy Canny against OpenCV's output."""

from __future__ import annotations

import asyncio
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from local_helpers import i2i, pixels, t2i  # noqa: E402
from PIL import Image  # noqa: E402

from lcm_widgets.backends.local import LocalLCM  # noqa: E402
from lcm_widgets.backends.local.control_image import canny, prepare, scribble  # noqa: E402
from lcm_widgets.backends.local.controlnet import active_steps  # noqa: E402
from lcm_widgets.errors import InvalidImage, InvalidInput, ModelLoadError  # noqa: E402
from lcm_widgets.images import encode_image  # noqa: E402
from lcm_widgets.schema import parse_input  # noqa: E402

DATA = Path(__file__).parent / "data"
SMALL = {"width": 128, "height": 128}  # every request here: 128x128, to keep the tests quick


@pytest.fixture(scope="module")
def cn(model_cache: str) -> LocalLCM:
    """The tiny model with the tiny ControlNet."""
    return LocalLCM("tiny", controlnet="tiny-controlnet", progress=False, warmup=False)


@pytest.fixture(scope="module")
def bar() -> bytes:
    """Another sketch: one black vertical bar."""
    arr = np.full((512, 512, 3), 255, np.uint8)
    arr[50:450, 100:150] = 0
    return encode_image(arr, "png")


def _req(src: bytes, **kw: Any) -> dict[str, Any]:
    return i2i(src, image_size=SMALL, format="png", **kw)


def _png(out: Any) -> Any:
    return pixels(out.images[0].data())


def test_scale_zero_is_exactly_the_image_without_controlnet(cn: LocalLCM, lcm: LocalLCM,
                                                           sketch: bytes) -> None:
    """controlnet_conditioning_scale=0 gives the very bytes of controlnet='none' and of a
    LocalLCM with no ControlNet loaded; so does a guidance window with no step in it."""
    plain = lcm.generate_sync(_req(sketch)).images[0].content
    assert cn.generate_sync(_req(sketch, controlnet="none")).images[0].content == plain
    assert cn.generate_sync(_req(sketch, controlnet_conditioning_scale=0)).images[0].content \
        == plain
    assert cn.generate_sync(_req(sketch, control_guidance_start=1.0)).images[0].content == plain


def test_scale_and_control_image_change_the_image(cn: LocalLCM, sketch: bytes,
                                                  bar: bytes) -> None:
    """With the ControlNet on (its default), the image differs from scale 0, differs between
    scales, and changes with the control image (another sketch as control_image_url)."""
    off = _png(cn.generate_sync(_req(sketch, controlnet_conditioning_scale=0)))
    on = _png(cn.generate_sync(_req(sketch)))
    half = _png(cn.generate_sync(_req(sketch, controlnet_conditioning_scale=0.5)))
    other = _png(cn.generate_sync(_req(sketch, control_image_url=bar)))
    assert np.abs(on - off).mean() > 1
    assert np.abs(half - on).mean() > 0.5 and np.abs(half - off).mean() > 0.5
    assert np.abs(other - on).mean() > 1


def test_strength_one_is_txt2img_guided_by_the_frame(cn: LocalLCM, sketch: bytes) -> None:
    """With a ControlNet, strength 1 runs text-to-image with the frame as the control image:
    the same image (up to float rounding) as a text-to-image request whose control_image_url
    is the frame, and not the image without ControlNet."""
    a = cn.generate_sync(_req(sketch, strength=1.0, num_inference_steps=2))
    b = cn.generate_sync(t2i(control_image_url=sketch, image_size=SMALL, format="png",
                             num_inference_steps=2))
    plain = cn.generate_sync(t2i(image_size=SMALL, format="png", num_inference_steps=2))
    assert np.abs(_png(a) - _png(b)).max() <= 2
    assert np.abs(_png(a) - _png(plain)).mean() > 1


def test_batch_rows_use_their_own_frame_as_control(cn: LocalLCM, sketch: bytes,
                                                   bar: bytes) -> None:
    """Two frames in one batch: each row is controlled by its own frame (equal to alone)."""
    reqs = [_req(sketch), _req(bar, seed=2)]
    outs = asyncio.run(cn.generate_batch([parse_input(r) for r in reqs]))
    assert cn.batch_sizes[2] >= 1
    for req, out in zip(reqs, outs, strict=True):
        alone = cn.generate_sync(req)
        assert np.abs(_png(out) - _png(alone)).max() <= 2


def test_guidance_window_follows_diffusers_rule() -> None:
    """Step i of n is guided unless i/n < start or (i+1)/n > end."""
    assert active_steps(4, 0.0, 1.0) == (True, True, True, True)
    assert active_steps(4, 0.25, 0.75) == (False, True, True, False)
    assert active_steps(4, 0.0, 0.5) == (True, True, False, False)
    assert active_steps(4, 1.0, 1.0) == (False,) * 4


def test_canny_matches_opencv() -> None:
    """Our Canny on a fixed colour image gives OpenCV's cv2.Canny(image, 100, 200) output
    (saved from opencv-python-headless 5.0.0), within 0.5% of the pixels."""
    src = np.asarray(Image.open(DATA / "canny_input.png").convert("RGB"))
    ref = np.asarray(Image.open(DATA / "canny_opencv.png").convert("L"))
    got = canny(src)
    assert got.shape == ref.shape and got.dtype == np.uint8
    assert set(np.unique(got)) <= {0, 255}
    assert (got > 0).sum() > 500  # the image has edges
    assert (got != ref).mean() <= 0.005


def test_canny_of_a_square_is_its_outline() -> None:
    """A grey square on black: edges on its border only, none inside or far outside."""
    img = np.zeros((64, 64), np.uint8)
    img[16:48, 16:48] = 200
    e = canny(img) > 0
    assert e[16:48, 14:18].any(axis=1).all() and e[16:48, 46:50].any(axis=1).all()
    assert not e[20:44, 20:44].any() and not e[:12].any() and not e[52:].any()
    assert prepare(np.stack([img] * 3, axis=2), "canny").shape == (64, 64, 3)


def test_scribble_is_ink_white_on_black() -> None:
    """Dark and bright-coloured strokes become white, the white paper and JPEG-ish noise black."""
    arr = np.full((8, 8, 3), 255, np.uint8)
    arr[0, 0] = (0, 0, 0)
    arr[1, 1] = (255, 255, 0)  # yellow
    arr[2, 2] = (245, 250, 240)  # near-white noise
    out = scribble(arr)
    assert out[0, 0].tolist() == out[1, 1].tolist() == [255, 255, 255]
    assert out[2, 2].tolist() == out[5, 5].tolist() == [0, 0, 0]


def _png_bomb(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"not zlib")
            + chunk(b"IEND", b""))


def test_bad_inputs_name_the_field_and_the_session_keeps_working(cn: LocalLCM,
                                                                 sketch: bytes) -> None:
    """An unknown ControlNet in a request, a decompression-bomb control image: errors naming
    the field and the value; the next request still runs."""
    with pytest.raises(InvalidInput) as info:
        cn.generate_sync(_req(sketch, controlnet="depth"))
    assert info.value.field == "controlnet"
    assert str(info.value) == ("controlnet: must be 'none' or a ControlNet this LocalLCM loaded "
                               "('tiny-controlnet'), got 'depth'; load it with "
                               "LocalLCM(model, controlnet=...)")
    with pytest.raises(InvalidImage) as bomb:
        cn.generate_sync(_req(sketch, control_image_url=_png_bomb(30000, 30000)))
    assert bomb.value.field == "control_image_url"
    assert str(bomb.value) == ("control_image_url: image is 30000x30000 = 900000000 pixels, "
                               "over the limit of 16777216")
    assert cn.generate_sync(_req(sketch)).images[0].content


def test_unknown_controlnet_at_load_is_a_clear_error(model_cache: str) -> None:
    """LocalLCM(controlnet=...) with a name that is no preset, id or folder, and with an id that
    is not in the offline cache: errors naming the value."""
    with pytest.raises(InvalidInput) as info:
        LocalLCM("tiny", controlnet="depthy", progress=False, warmup=False)
    assert info.value.field == "controlnet" and "'depthy'" in str(info.value)
    assert "scribble, canny, tiny-controlnet" in str(info.value)
    with pytest.raises(ModelLoadError, match=r"controlnet 'nobody/no-such-controlnet': could "
                                             r"not load 'nobody/no-such-controlnet'"):
        LocalLCM("tiny", controlnet="nobody/no-such-controlnet", progress=False, warmup=False)


def test_compare_sweeps_the_controlnet_scale(cn: LocalLCM, sketch: bytes) -> None:
    """A real Compare grid over controlnet_conditioning_scale=[0, 1] on the ControlNet model:
    the scale-0 cell is the image without ControlNet, the scale-1 cell the ControlNet's."""
    pytest.importorskip("ipywidgets")
    from lcm_widgets.widgets.compare import Compare

    c = Compare(backend=cn, sketchpad=False, prompt="a house", steps=4, strength=0.5, seed=1,
                format="png", image_size=SMALL, controlnet_conditioning_scale=[0, 1])
    try:
        results = c.run(sketch)
    finally:
        c.close()
    assert [r["error"] for r in results] == ["", ""]
    off = cn.generate_sync(_req(sketch, controlnet="none"))
    on = cn.generate_sync(_req(sketch))
    assert np.abs(pixels(results[0]["image"]) - _png(off)).max() <= 2
    assert np.abs(pixels(results[1]["image"]) - _png(on)).max() <= 2


def test_studio_has_controlnet_controls_from_the_schema(cn: LocalLCM, lcm: LocalLCM,
                                                        sketch: bytes) -> None:
    """A Studio on a ControlNet backend shows a ControlNet selector (off + the loaded ones) and
    a scale slider bounded by the schema; moving the slider changes params and the image, and
    'off' gives the plain image. A Studio on a backend without ControlNets shows neither."""
    W = pytest.importorskip("ipywidgets")
    from lcm_widgets.widgets.studio import Studio

    s = Studio(cn, prompt="a house", steps=4, strength=0.5, seed=1, image_size="square")
    plain = Studio(lcm, prompt="a house")
    try:
        pick, slider = s.controls.widgets["controlnet"], \
            s.controls.widgets["controlnet_conditioning_scale"]
        assert isinstance(pick, W.Dropdown) and isinstance(slider, W.FloatSlider)
        assert list(pick.options) == [("off", "none"), ("tiny-controlnet", "tiny-controlnet")]
        assert pick.value == "tiny-controlnet" and (slider.min, slider.max) == (0.0, 2.0)
        assert s.params["controlnet"] == "tiny-controlnet"
        assert "controlnet" not in plain.controls.widgets and "controlnet" not in plain.params
        full = s.submit_image(sketch)
        slider.value = 0.25  # as the browser sets it
        assert s.params["controlnet_conditioning_scale"] == 0.25
        quarter = s.submit_image(sketch)
        pick.value = "none"
        off = s.submit_image(sketch)
        assert full is not None and quarter is not None and off is not None
        assert np.abs(_png(full) - _png(quarter)).mean() > 0.5
        s.update(controlnet_conditioning_scale=0.0, controlnet="tiny-controlnet")
        assert slider.value == 0.0 and pick.value == "tiny-controlnet"
        zero = s.submit_image(sketch)
        assert zero is not None and np.abs(_png(zero) - _png(off)).max() <= 2
        with pytest.raises(InvalidInput, match=r"controlnet_conditioning_scale: must be between"):
            s.update(controlnet_conditioning_scale=5)
    finally:
        s.close()
        plain.close()


def test_controlnet_with_classifier_free_guidance(tmp_path: Path, model_cache: str,
                                                  sketch: bytes) -> None:
    """A plain-UNet SD model (guidance is CFG, as an LCM-LoRA model's): at guidance 2 the
    control image serves both halves of the batch; scale 0 is exactly controlnet='none'."""
    from test_local_variants import build_sd_cfg

    m = LocalLCM(str(build_sd_cfg(tmp_path / "sd-cfg")), controlnet="tiny-controlnet",
                 progress=False, warmup=False, safety_checker=False)
    assert m.info.extra["guidance"] == "cfg"
    req = _req(sketch, guidance_scale=2.0, negative_prompt="blurry")
    off = m.generate_sync({**req, "controlnet": "none"})
    zero = m.generate_sync({**req, "controlnet_conditioning_scale": 0})
    on = m.generate_sync(req)
    assert off.images[0].content == zero.images[0].content
    assert np.abs(_png(on) - _png(off)).mean() > 1


def test_controlnet_on_sdxl_is_refused_naming_both(tmp_path: Path, model_cache: str) -> None:
    """An SD1.5 ControlNet on an SDXL model: ModelLoadError naming the ControlNet and the
    model."""
    from test_local_variants import build_sdxl

    folder = str(build_sdxl(tmp_path / "sdxl", time_cond=True))
    with pytest.raises(ModelLoadError) as info:
        LocalLCM(folder, controlnet="tiny-controlnet", progress=False, warmup=False)
    assert str(info.value) == (f"controlnet: 'tiny-controlnet' needs a Stable Diffusion 1.5 "
                               f"model; {folder!r} is SDXL")


def test_controlnet_with_a_compiled_unet(cn: LocalLCM, model_cache: str, sketch: bytes) -> None:
    """The UNet compiled with fullgraph (dynamo's eager backend: tracing and guards, no code
    generation) takes the ControlNet's residuals: the same pixels as uncompiled, on and off."""
    m = LocalLCM("tiny", controlnet="tiny-controlnet", progress=False, warmup=False,
                 compile_backend="eager")
    assert m.compile_backend == "eager"
    for extra in ({}, {"controlnet": "none"}):
        got = m.generate_sync(_req(sketch, **extra))
        want = cn.generate_sync(_req(sketch, **extra))
        assert np.abs(_png(got) - _png(want)).max() <= 1


def test_controlnet_on_the_turbo_preset(model_cache: str, sketch: bytes, bar: bytes) -> None:
    """tiny-controlnet steers tiny-turbo (Euler, 1-4 steps, no guidance) the same way: scale 0
    is the very image without the ControlNet, scale 1 and another control image differ."""
    m = LocalLCM("tiny-turbo", controlnet="tiny-controlnet", progress=False, warmup=False)
    try:
        req = {"num_inference_steps": 2}
        plain = m.generate_sync(_req(sketch, controlnet="none", **req)).images[0].content
        assert m.generate_sync(_req(sketch, controlnet_conditioning_scale=0, **req)
                               ).images[0].content == plain
        on = _png(m.generate_sync(_req(sketch, **req)))
        other = _png(m.generate_sync(_req(sketch, control_image_url=bar, **req)))
        off = _png(m.generate_sync(_req(sketch, controlnet="none", **req)))
        assert np.abs(on - off).mean() > 1 and np.abs(other - on).mean() > 1
        assert m.info.app == "fal-ai/fast-turbo-diffusion"
    finally:
        asyncio.run(m.aclose())
