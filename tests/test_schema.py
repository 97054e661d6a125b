"""Tests for lcm_widgets.schema: fal's fast-lcm-diffusion input and output, and its messages."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from pydantic import ValidationError

from lcm_widgets.errors import InvalidImage, InvalidInput
from lcm_widgets.schema import (
    IMAGE_SIZE_PRESETS,
    MODEL_NAMES,
    FalImage,
    ImageSize,
    Input,
    Output,
    format_validation_error,
    parse_input,
    resolve_image_size,
)
from lcm_widgets.schema_extensions import EXTENSION_FIELDS

PRESETS = ("square_hd, square, portrait_4_3, portrait_16_9, landscape_4_3, landscape_16_9 or "
           "{width, height}")
MODELS = ("'stabilityai/stable-diffusion-xl-base-1.0', 'runwayml/stable-diffusion-v1-5', "
          "'lcm-dreamshaper-v7', 'tiny', 'sd-turbo', 'sdxl-turbo' or 'tiny-turbo'")
STEPS_RULE = ("num_inference_steps * strength must be at least 1 for image-to-image, got "
              "int({}) = 0; raise num_inference_steps or strength")


def _x(**fields: Any) -> dict[str, Any]:
    """A request with a prompt and the given fields."""
    return {"prompt": "x", **fields}


# Each row: the request, then (loc after "body", error type, message) for every problem.
INVALID: list[tuple[str, Any, list[tuple[tuple[str, ...], str, str]]]] = [
    ("missing-prompt", {}, [(("prompt",), "missing", "prompt: is required")]),
    ("prompt-int", {"prompt": 1},
     [(("prompt",), "string_type", "prompt: must be a string, got 1")]),
    ("prompt-none", {"prompt": None},
     [(("prompt",), "string_type", "prompt: must be a string, got None")]),
    ("prompt-bad-utf8", {"prompt": b"\xff"},
     [(("prompt",), "string_unicode", "prompt: must be a string, got b'\\xff'")]),
    ("prompt-too-long", {"prompt": "x" * 10_001},
     [(("prompt",), "string_too_long", "prompt: must be at most 10000 characters, got 10001")]),
    ("negative-prompt-int", _x(negative_prompt=3),
     [(("negative_prompt",), "string_type", "negative_prompt: must be a string, got 3")]),
    ("steps-high", _x(num_inference_steps=80),
     [(("num_inference_steps",), "less_than_equal",
       "num_inference_steps: must be between 1 and 50, got 80")]),
    ("steps-zero", _x(num_inference_steps=0),
     [(("num_inference_steps",), "greater_than_equal",
       "num_inference_steps: must be between 1 and 50, got 0")]),
    ("steps-fraction", _x(num_inference_steps=2.5),
     [(("num_inference_steps",), "int_from_float",
       "num_inference_steps: must be a whole number, got 2.5")]),
    ("steps-text", _x(num_inference_steps="abc"),
     [(("num_inference_steps",), "int_parsing",
       "num_inference_steps: must be a whole number, got 'abc'")]),
    ("steps-bool", _x(num_inference_steps=True),
     [(("num_inference_steps",), "value_error", "num_inference_steps: must be a number, got "
                                                "True")]),
    ("steps-huge-float", _x(num_inference_steps=1e20),
     [(("num_inference_steps",), "int_parsing_size",
       "num_inference_steps: must be a whole number, got 1e+20")]),
    ("steps-nan", _x(num_inference_steps=float("nan")),
     [(("num_inference_steps",), "finite_number",
       "num_inference_steps: must be a finite number, got nan")]),
    ("guidance-high", _x(guidance_scale=25),
     [(("guidance_scale",), "less_than_equal",
       "guidance_scale: must be between 0.0 and 20.0, got 25")]),
    ("guidance-negative", _x(guidance_scale=-1),
     [(("guidance_scale",), "greater_than_equal",
       "guidance_scale: must be between 0.0 and 20.0, got -1")]),
    ("guidance-text", _x(guidance_scale="abc"),
     [(("guidance_scale",), "float_parsing", "guidance_scale: must be a number, got 'abc'")]),
    ("guidance-none", _x(guidance_scale=None),
     [(("guidance_scale",), "float_type", "guidance_scale: must be a number, got None")]),
    ("guidance-nan", _x(guidance_scale=float("nan")),
     [(("guidance_scale",), "finite_number", "guidance_scale: must be a finite number, got "
                                             "nan")]),
    ("guidance-inf-text", _x(guidance_scale="inf"),
     [(("guidance_scale",), "finite_number", "guidance_scale: must be a finite number, got "
                                             "'inf'")]),
    ("guidance-bool", _x(guidance_scale=False),
     [(("guidance_scale",), "value_error", "guidance_scale: must be a number, got False")]),
    ("rescale-high", _x(guidance_rescale=1.5),
     [(("guidance_rescale",), "less_than_equal",
       "guidance_rescale: must be between 0.0 and 1.0, got 1.5")]),
    ("strength-high", _x(strength=1.5),
     [(("strength",), "less_than_equal", "strength: must be between 0.0 and 1.0, got 1.5")]),
    ("strength-negative", _x(strength=-0.1),
     [(("strength",), "greater_than_equal", "strength: must be between 0.0 and 1.0, got -0.1")]),
    ("strength-inf", _x(strength=float("-inf")),
     [(("strength",), "finite_number", "strength: must be a finite number, got -inf")]),
    ("seed-negative", _x(seed=-1),
     [(("seed",), "greater_than_equal",
       "seed: must be between 0 and 18446744073709551615, got -1")]),
    ("seed-over-64-bits", _x(seed=2**64),
     [(("seed",), "less_than_equal",
       "seed: must be between 0 and 18446744073709551615, got 18446744073709551616")]),
    ("seed-fraction", _x(seed=1.5),
     [(("seed",), "int_from_float", "seed: must be a whole number, got 1.5")]),
    ("seed-bool", _x(seed=True), [(("seed",), "value_error", "seed: must be a number, got True")]),
    ("num-images-zero", _x(num_images=0),
     [(("num_images",), "greater_than_equal", "num_images: must be between 1 and 8, got 0")]),
    ("num-images-high", _x(num_images=9),
     [(("num_images",), "less_than_equal", "num_images: must be between 1 and 8, got 9")]),
    ("model-unknown", _x(model_name="foo"),
     [(("model_name",), "literal_error", f"model_name: must be one of {MODELS}, got 'foo'")]),
    ("model-long-value-cut", _x(model_name="y" * 300),
     [(("model_name",), "literal_error",
       f"model_name: must be one of {MODELS}, got '{'y' * 99}...")]),
    ("size-unknown-preset", _x(image_size="huge"),
     [(("image_size",), "literal_error", f"image_size: must be one of {PRESETS}, got 'huge'")]),
    ("size-number", _x(image_size=5),
     [(("image_size",), "literal_error", f"image_size: must be one of {PRESETS}, got 5")]),
    ("size-list", _x(image_size=[512, 512]),
     [(("image_size",), "literal_error",
       f"image_size: must be one of {PRESETS}, got [512, 512]")]),
    ("size-not-multiple-of-8", _x(image_size={"width": 513}),
     [(("image_size", "width"), "value_error",
       "image_size.width: must be a multiple of 8, got 513")]),
    ("size-too-wide", _x(image_size={"width": 4096, "height": 512}),
     [(("image_size", "width"), "less_than_equal",
       "image_size.width: must be between 64 and 2048, got 4096")]),
    ("size-both-too-small", _x(image_size={"width": 32, "height": 30}),
     [(("image_size", "width"), "greater_than_equal",
       "image_size.width: must be between 64 and 2048, got 32"),
      (("image_size", "height"), "greater_than_equal",
       "image_size.height: must be between 64 and 2048, got 30")]),
    ("size-width-text", _x(image_size={"width": "a"}),
     [(("image_size", "width"), "int_parsing", "image_size.width: must be a whole number, got "
                                               "'a'")]),
    ("size-width-fraction", _x(image_size={"width": 512.5}),
     [(("image_size", "width"), "int_from_float",
       "image_size.width: must be a whole number, got 512.5")]),
    ("safety-version", _x(safety_checker_version="v3"),
     [(("safety_checker_version",), "literal_error",
       "safety_checker_version: must be one of 'v1' or 'v2', got 'v3'")]),
    ("format-gif", _x(format="gif"),
     [(("format",), "literal_error", "format: must be one of 'jpeg' or 'png', got 'gif'")]),
    ("sync-mode-text", _x(sync_mode="maybe"),
     [(("sync_mode",), "bool_parsing", "sync_mode: must be true or false, got 'maybe'")]),
    ("bool-from-number", _x(expand_prompt=0),  # lax pydantic took it; the schema says boolean
     [(("expand_prompt",), "bool_type", "expand_prompt: must be true or false, got 0")]),
    ("bool-from-text", _x(enable_safety_checker="false"),
     [(("enable_safety_checker",), "bool_parsing",
       "enable_safety_checker: must be true or false, got 'false'")]),
    ("safety-none", _x(enable_safety_checker=None),
     [(("enable_safety_checker",), "bool_type",
       "enable_safety_checker: must be true or false, got None")]),
    ("request-id-long", _x(request_id="r" * 257),
     [(("request_id",), "string_too_long", "request_id: must be at most 256 characters, got "
                                           "257")]),
    ("image-url-empty-str", _x(image_url=""),
     [(("image_url",), "value_error",
       "image_url: must not be empty; leave it out for text-to-image")]),
    ("image-url-empty-bytes", _x(image_url=b""),
     [(("image_url",), "value_error",
       "image_url: must not be empty; leave it out for text-to-image")]),
    ("image-url-int", _x(image_url=5),
     [(("image_url",), "string_type",
       "image_url: must be a data URI, an http(s) URL or bytes, got 5")]),
    ("img2img-low-strength", _x(image_url="data:,", strength=0.1),
     [((), "value_error", STEPS_RULE.format("6 * 0.1"))]),
    ("img2img-one-step", _x(image_url=b"x", num_inference_steps=1),
     [((), "value_error", STEPS_RULE.format("1 * 0.95"))]),
    ("img2img-zero-strength", _x(image_url=b"x", strength=0.0),
     [((), "value_error", STEPS_RULE.format("6 * 0.0"))]),
    ("several-problems", {"prompt": 3, "num_inference_steps": 80, "image_size": {"height": 7}},
     [(("prompt",), "string_type", "prompt: must be a string, got 3"),
      (("image_size", "height"), "greater_than_equal",
       "image_size.height: must be between 64 and 2048, got 7"),
      (("num_inference_steps",), "less_than_equal",
       "num_inference_steps: must be between 1 and 50, got 80")]),
]


@pytest.mark.parametrize(("data", "problems"), [row[1:] for row in INVALID],
                         ids=[row[0] for row in INVALID])
def test_invalid_inputs(data: Any, problems: list[tuple[tuple[str, ...], str, str]]) -> None:
    """Each bad request gives the exact message, FastAPI-shaped errors and the first field."""
    with pytest.raises(InvalidInput) as info:
        parse_input(data)
    exc = info.value
    assert str(exc) == "; ".join(msg for _, _, msg in problems)
    assert exc.errors == [{"loc": ["body", *loc], "msg": msg, "type": etype}
                          for loc, etype, msg in problems]
    assert exc.field == (".".join(problems[0][0]) or None)
    assert exc.__cause__ is None and exc.__suppress_context__  # pydantic's trace stays out


@pytest.mark.parametrize("data", [[1], "prompt", None, 5])
def test_input_must_be_a_map(data: Any) -> None:
    """Something other than a dict is refused before pydantic sees it."""
    with pytest.raises(InvalidInput) as info:
        parse_input(data)
    message = f"input: must be a map of fields, got {type(data).__name__}"
    assert str(info.value) == message
    assert info.value.errors == [{"loc": ["body"], "msg": message, "type": "value_error"}]
    assert info.value.field is None


def test_defaults() -> None:
    """A prompt alone is a text-to-image request with fal's defaults."""
    inp = parse_input({"prompt": "a cat"})
    assert inp.model_dump(exclude=set(EXTENSION_FIELDS)) == {
        "prompt": "a cat", "negative_prompt": "", "model_name": None, "image_size": None,
        "num_inference_steps": 6, "seed": None, "guidance_scale": 1.5, "guidance_rescale": 0.0,
        "sync_mode": False, "num_images": 1, "enable_safety_checker": True,
        "safety_checker_version": "v1", "expand_prompt": False, "format": "jpeg",
        "request_id": "", "image_url": None, "strength": 0.95, "mask_url": None,
    }
    assert not inp.is_img2img
    assert inp.effective_steps() == 6
    assert inp.model_dump(include=set(EXTENSION_FIELDS)) == {
        "controlnet": None, "control_image_url": None, "controlnet_conditioning_scale": 1.0,
        "control_guidance_start": 0.0, "control_guidance_end": 1.0, "loras": None}


@pytest.mark.parametrize(("fields", "expected"), [
    ({"guidance_scale": 2, "guidance_rescale": 1, "strength": 1},
     {"guidance_scale": 2.0, "guidance_rescale": 1.0, "strength": 1.0}),
    ({"num_inference_steps": "8", "seed": "12", "guidance_scale": "2.5"},
     {"num_inference_steps": 8, "seed": 12, "guidance_scale": 2.5}),
    ({"num_inference_steps": 4.0}, {"num_inference_steps": 4}),
    ({"seed": 0}, {"seed": 0}),
    ({"seed": 2**64 - 1}, {"seed": 2**64 - 1}),
    ({"seed": None}, {"seed": None}),
    ({"model_name": "tiny"}, {"model_name": "tiny"}),
    ({"sync_mode": True, "enable_safety_checker": False},
     {"sync_mode": True, "enable_safety_checker": False}),
    ({"format": "png", "safety_checker_version": "v2"},
     {"format": "png", "safety_checker_version": "v2"}),
    ({"strength": 0.0}, {"strength": 0.0, "image_url": None}),
    ({"timings": {"x": 1}, "unknown_field": [1, 2], "image_size": None},
     {"image_size": None}),
], ids=["int-to-float", "numeric-strings", "whole-float-to-int", "seed-zero", "seed-max",
        "seed-none", "model-preset", "bools", "enums", "txt2img-ignores-strength",
        "extras-ignored"])
def test_valid_inputs(fields: dict[str, Any], expected: dict[str, Any]) -> None:
    """Valid requests parse, with JSON/msgpack-style coercions and unknown fields ignored."""
    inp = parse_input(_x(**fields))
    for name, value in expected.items():
        got = getattr(inp, name)
        assert got == value and type(got) is type(value), name
    assert "unknown_field" not in inp.model_dump()


def test_json_round_trip() -> None:
    """A request that went through JSON (ints for floats, a dict size) parses the same."""
    inp = parse_input(json.loads(json.dumps(_x(guidance_scale=2, image_size={"width": 640,
                                                                              "height": 448}))))
    assert inp.guidance_scale == 2.0
    assert inp.image_size == ImageSize(width=640, height=448)
    assert parse_input(json.loads(inp.model_dump_json())) == inp


@pytest.mark.parametrize("name", list(IMAGE_SIZE_PRESETS))
def test_image_size_presets(name: str) -> None:
    """Every fal preset name is accepted and resolves to its size."""
    inp = parse_input(_x(image_size=name))
    assert inp.image_size == name
    assert resolve_image_size(inp.image_size, (1, 1)) == IMAGE_SIZE_PRESETS[name]


def test_image_size_presets_match_fal() -> None:
    """The preset table is fal's, and every size in it is a valid explicit size too."""
    assert IMAGE_SIZE_PRESETS == {
        "square_hd": (1024, 1024), "square": (512, 512), "portrait_4_3": (768, 1024),
        "portrait_16_9": (576, 1024), "landscape_4_3": (1024, 768),
        "landscape_16_9": (1024, 576),
    }
    for width, height in IMAGE_SIZE_PRESETS.values():
        assert ImageSize(width=width, height=height).width == width


@pytest.mark.parametrize(("size", "expected"), [
    ({}, (512, 512)),
    ({"width": 64, "height": 2048}, (64, 2048)),
    ({"width": 768.0, "height": 512, "depth": 3}, (768, 512)),
    (ImageSize(width=640, height=480), (640, 480)),
])
def test_explicit_image_size(size: Any, expected: tuple[int, int]) -> None:
    """{width, height}: 512 defaults, the 64 and 2048 bounds, whole floats, extras ignored."""
    inp = parse_input(_x(image_size=size))
    assert isinstance(inp.image_size, ImageSize)
    assert resolve_image_size(inp.image_size, (1, 1)) == expected


def test_resolve_image_size_default() -> None:
    """No size resolves to the caller's default (the input image's or the model's size)."""
    assert resolve_image_size(None, (1024, 1024)) == (1024, 1024)
    assert resolve_image_size("square", (1024, 1024)) == (512, 512)


def test_model_names() -> None:
    """fal's two model names, then ours; every one is accepted."""
    assert MODEL_NAMES[:2] == ("stabilityai/stable-diffusion-xl-base-1.0",
                               "runwayml/stable-diffusion-v1-5")
    for name in MODEL_NAMES:
        assert parse_input(_x(model_name=name)).model_name == name


@pytest.mark.parametrize(("value", "expected"), [
    (b"\xff\xd8\xff", b"\xff\xd8\xff"),
    (bytearray(b"\xff\xd8"), b"\xff\xd8"),
    (bytearray(b"abc"), b"abc"),
    (memoryview(b"abc"), b"abc"),
    ("data:image/png;base64,AAAA", "data:image/png;base64,AAAA"),
    ("https://example.com/cat.png", "https://example.com/cat.png"),
], ids=["msgpack-bin", "bytearray", "utf8-bytearray", "memoryview", "data-uri", "url"])
def test_image_url_forms(value: Any, expected: str | bytes) -> None:
    """image_url keeps strings, and any bytes-like value (msgpack bin, comm buffers) as bytes."""
    inp = parse_input(_x(image_url=value))
    assert inp.image_url == expected
    assert type(inp.image_url) is type(expected)
    assert inp.is_img2img


@pytest.mark.parametrize(("steps", "strength", "effective"), [
    (6, 0.95, 5), (2, 0.5, 1), (10, 0.1, 1), (50, 1.0, 50), (4, 0.3, 1),
])
def test_effective_steps_img2img(steps: int, strength: float, effective: int) -> None:
    """img2img runs int(steps * strength) steps; the boundary of 1 is allowed."""
    inp = parse_input(_x(image_url=b"x", num_inference_steps=steps, strength=strength))
    assert inp.effective_steps() == effective == int(steps * strength)


def test_steps_rule_is_img2img_only() -> None:
    """Without image_url, strength does not matter and every step runs."""
    inp = parse_input(_x(num_inference_steps=1, strength=0.0))
    assert inp.effective_steps() == 1


def test_parse_input_passes_models_through() -> None:
    """An Input is returned as it is; Input is frozen."""
    inp = Input(prompt="x")
    assert parse_input(inp) is inp
    with pytest.raises(ValidationError):
        inp.prompt = "y"  # type: ignore[misc]


def test_format_validation_error_for_other_models() -> None:
    """format_validation_error also words errors of other models (the server uses it)."""
    with pytest.raises(ValidationError) as info:
        ImageSize.model_validate({"width": 1, "height": 1001})
    assert format_validation_error(info.value, ImageSize) == [
        {"loc": ["body", "width"], "msg": "width: must be between 64 and 2048, got 1",
         "type": "greater_than_equal"},
        {"loc": ["body", "height"], "msg": "height: must be a multiple of 8, got 1001",
         "type": "value_error"},
    ]
    with pytest.raises(ValidationError) as info:
        Output.model_validate({"images": "x", "seed": 1})
    assert format_validation_error(info.value, Output) == [
        {"loc": ["body", "images"], "msg": "images: Input should be a valid list, got 'x'",
         "type": "list_type"}]
    with pytest.raises(ValidationError) as info:
        Input.model_validate(5)
    assert format_validation_error(info.value) == [
        {"loc": ["body"], "msg": "input: must be an object, got 5", "type": "model_type"}]


# --- output -------------------------------------------------------------------------------------


def _image(**fields: Any) -> FalImage:
    data = b"\xff\xd8\xff fake jpeg"
    return FalImage(url="data:image/jpeg;base64," + base64.b64encode(data).decode(), width=8,
                    height=8, content_type="image/jpeg", **fields)


def test_output_serialization_excludes_content() -> None:
    """content is for in-process use: never in model_dump, JSON or repr."""
    out = Output(images=[_image(content=b"secret bytes")], seed=2**63 + 5, prompt="p",
                 timings={"inference": 0.25}, has_nsfw_concepts=[False])
    dumped = out.model_dump()
    assert "content" not in dumped["images"][0]
    assert dumped["seed"] == 2**63 + 5
    assert "content" not in json.loads(out.model_dump_json())["images"][0]
    assert "secret" not in repr(out)
    assert out.images[0].content == b"secret bytes"


def test_output_defaults_and_extras() -> None:
    """Output needs only images and seed; fal's extra fields are ignored."""
    out = Output.model_validate({"images": [{"url": "https://x/y.jpg"}], "seed": 1,
                                 "nsfw": 1})
    assert (out.timings, out.has_nsfw_concepts, out.prompt, out.request_id) == ({}, [], "", None)
    assert out.images[0].width is None


def test_fal_image_data_from_content_and_data_uri() -> None:
    """data() returns content when present, else decodes the data URI."""
    assert _image(content=b"raw").data() == b"raw"
    assert _image().data() == b"\xff\xd8\xff fake jpeg"


def test_fal_image_data_from_url_is_refused() -> None:
    """An http(s) url cannot be decoded here; the error names the url field."""
    with pytest.raises(InvalidImage) as info:
        FalImage(url="https://example.com/a.jpg").data()
    assert str(info.value) == ("url: not a data URI (expected 'data:<type>;base64,<data>'), got "
                               "'https://example.com/a.jpg'")
    assert info.value.field == "url"


def test_image_repr_shortens_data_uris() -> None:
    """An Output printed in a cell shows the head of a data URI, not all of its base64."""
    uri = "data:image/jpeg;base64," + "A" * 1000
    text = repr(Output(images=[FalImage(url=uri, width=8, height=8)], seed=1))
    assert f"...<{len(uri)} chars>" in text and "A" * 100 not in text
    assert "url='http://h/f.jpg'" in repr(FalImage(url="http://h/f.jpg"))
