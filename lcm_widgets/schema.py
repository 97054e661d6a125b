"""fal's ``fast-lcm-diffusion`` schema, defined once (pydantic v2).

The same models are used by the local backend, the realtime client, the server (FastAPI turns
a :class:`pydantic.ValidationError` into a 422 whose ``detail`` list the official fal clients
parse) and the Studio, which builds its controls from :data:`Input.model_fields`.

Compatibility with fal (the fields and defaults of fal's typed endpoints, docs/remote.md):

* every fal input field is accepted with fal's default, and unknown extra fields are ignored
  (fal's clients add a few);
* integers are accepted where floats are expected (JS encodes ``1.0`` as the msgpack int ``1``),
  and numeric strings are read as numbers; booleans, NaN and infinities are refused;
* ``image_url`` (a data URI, an ``http(s)`` URL, or raw ``bytes`` as msgpack ``bin``) turns the
  request into image-to-image with ``strength``; ``int(num_inference_steps * strength) < 1`` is
  an error, never a silent adjustment;
* ``model_name`` accepts fal's two names and our presets; left out, the backend's loaded model
  is used (fal's hosted default is ``stabilityai/stable-diffusion-xl-base-1.0``);
* ``image_size`` left out means the input image's size for image-to-image, and the model's
  native square size otherwise (512 for SD1.5 and ``tiny``, 1024 for SDXL).

Every validation message names the field, the allowed values or range, and the value received.
:func:`parse_input` raises :class:`~lcm_widgets.errors.InvalidInput` with those messages.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import InvalidInput
from .schema_extensions import EXTENSION_MODELS, ExtensionFields

__all__ = [
    "ALIASES",
    "IMAGE_SIZE_PRESETS",
    "MODEL_NAMES",
    "FalImage",
    "ImageSize",
    "Input",
    "Output",
    "format_validation_error",
    "parse_input",
    "resolve_image_size",
    "validate_model",
]

#: fal's ``image_size`` enum names and the sizes they stand for (width, height).
IMAGE_SIZE_PRESETS: dict[str, tuple[int, int]] = {
    "square_hd": (1024, 1024),
    "square": (512, 512),
    "portrait_4_3": (768, 1024),
    "portrait_16_9": (576, 1024),
    "landscape_4_3": (1024, 768),
    "landscape_16_9": (1024, 576),
}

#: fal's ``model_name`` enum, then our presets (see :mod:`lcm_widgets.models.presets`).
MODEL_NAMES: tuple[str, ...] = (
    "stabilityai/stable-diffusion-xl-base-1.0",
    "runwayml/stable-diffusion-v1-5",
    "lcm-dreamshaper-v7",
    "tiny",
    "sd-turbo",
    "sdxl-turbo",
    "tiny-turbo",
)

#: Short names accepted for :class:`Input` fields wherever a person types them
#: (``Studio(...)``, ``Studio.update``, ``Compare`` axes): the one alias table.
ALIASES: dict[str, str] = {
    "steps": "num_inference_steps",
    "guidance": "guidance_scale",
    "negative": "negative_prompt",
    "size": "image_size",
}

MIN_SIDE, MAX_SIDE = 64, 2048
MAX_PROMPT_CHARS = 10_000
MAX_SEED = 2**64 - 1

ImageSizeName = Literal[
    "square_hd", "square", "portrait_4_3", "portrait_16_9", "landscape_4_3", "landscape_16_9"
]
ModelName = Literal[
    "stabilityai/stable-diffusion-xl-base-1.0",
    "runwayml/stable-diffusion-v1-5",
    "lcm-dreamshaper-v7",
    "tiny",
    "sd-turbo",
    "sdxl-turbo",
    "tiny-turbo",
]


# The field checks, shared by every app's schema (this module's Input and
# lcm_widgets.apps.turbo): one definition each.

def reject_bool(v: Any) -> Any:
    """Refuse a boolean where a number is expected (pydantic's lax mode reads true as 1; for a
    number that is a mistake, not a value)."""
    if isinstance(v, bool):
        raise ValueError(f"must be a number, got {v!r}")
    return v


def require_bool(v: Any) -> Any:
    """Refuse anything but true/false (pydantic's lax mode reads 0, 1, "yes" and "off" as
    booleans; the schema says boolean)."""
    if not isinstance(v, bool):
        from pydantic_core import PydanticCustomError

        kind = "bool_parsing" if isinstance(v, str) else "bool_type"  # pydantic's names
        raise PydanticCustomError(kind, "must be true or false, got {value}",
                                  {"value": repr(v)})
    return v


def image_as_bytes(v: Any) -> Any:
    """``bytes`` for a bytearray or memoryview (without this, pydantic decodes a UTF-8
    bytearray to str and refuses a memoryview)."""
    return bytes(v) if isinstance(v, (bytearray, memoryview)) else v


def image_not_empty(v: str | bytes | None) -> str | bytes | None:
    """Refuse an empty ``image_url``."""
    if v is not None and len(v) == 0:
        raise ValueError("must not be empty; leave it out for text-to-image")
    return v


def check_steps_strength(image_url: object, steps: int, strength: float) -> None:
    """``int(steps * strength) >= 1`` for image-to-image: an error, never a silent fix."""
    if image_url is not None and int(steps * strength) < 1:
        raise ValueError(
            "num_inference_steps * strength must be at least 1 for image-to-image, got "
            f"int({steps} * {strength}) = {int(steps * strength)}; raise num_inference_steps "
            "or strength"
        )


class ImageSize(BaseModel):
    """An explicit output size. Both sides are multiples of 8 between 64 and 2048."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    width: Annotated[int, Field(ge=MIN_SIDE, le=MAX_SIDE)] = 512
    height: Annotated[int, Field(ge=MIN_SIDE, le=MAX_SIDE)] = 512

    @field_validator("width", "height")
    @classmethod
    def _multiple_of_8(cls, v: int) -> int:
        if v % 8:
            raise ValueError(f"must be a multiple of 8, got {v}")
        return v


class Input(ExtensionFields):
    """A fast-lcm-diffusion request: text-to-image, or image-to-image when ``image_url`` is set.

    It includes our ControlNet and LoRA fields (:mod:`lcm_widgets.schema_extensions`)."""

    model_config = ConfigDict(extra="ignore", frozen=True, validate_default=False)

    prompt: Annotated[str, Field(max_length=MAX_PROMPT_CHARS,
                                 description="The prompt to generate an image from.")]
    negative_prompt: Annotated[str, Field(max_length=MAX_PROMPT_CHARS)] = ""
    model_name: ModelName | None = Field(
        default=None, description="Model to use; left out, the backend's loaded model.")
    image_size: ImageSizeName | ImageSize | None = Field(
        default=None, description="Output size: a preset name or {width, height}.")
    num_inference_steps: Annotated[int, Field(ge=1, le=50)] = 6
    seed: Annotated[int | None, Field(ge=0, le=MAX_SEED)] = None
    guidance_scale: Annotated[float, Field(ge=0.0, le=20.0, allow_inf_nan=False)] = 1.5
    guidance_rescale: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)] = 0.0
    sync_mode: bool = False
    num_images: Annotated[int, Field(ge=1, le=8)] = 1
    enable_safety_checker: bool = True
    safety_checker_version: Literal["v1", "v2"] = "v1"
    expand_prompt: bool = False
    format: Literal["jpeg", "png"] = "jpeg"
    request_id: Annotated[str, Field(max_length=256)] = ""
    image_url: str | bytes | None = Field(
        default=None, description="Source image for image-to-image: data URI, URL or bytes.")
    strength: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)] = 0.95
    mask_url: str | bytes | None = Field(
        default=None, description="Inpainting mask (white: repaint, black: keep), the size of "
        "image_url: data URI, URL or bytes. Used by the /inpainting endpoints and LocalLCM.")

    @field_validator("num_inference_steps", "seed", "guidance_scale", "guidance_rescale",
                     "num_images", "strength", mode="before")
    @classmethod
    def _not_bool(cls, v: Any) -> Any:
        return reject_bool(v)

    @field_validator("sync_mode", "enable_safety_checker", "expand_prompt", mode="before")
    @classmethod
    def _only_bool(cls, v: Any) -> Any:
        return require_bool(v)

    @field_validator("image_url", "mask_url", mode="before")
    @classmethod
    def _bytes_like(cls, v: Any) -> Any:
        return image_as_bytes(v)

    @field_validator("image_url")
    @classmethod
    def _non_empty_image(cls, v: str | bytes | None) -> str | bytes | None:
        return image_not_empty(v)

    @field_validator("mask_url")
    @classmethod
    def _non_empty_mask(cls, v: str | bytes | None) -> str | bytes | None:
        if v is not None and len(v) == 0:
            raise ValueError("must not be empty; leave it out to repaint the whole image")
        return v

    @model_validator(mode="after")
    def _steps_times_strength(self) -> Input:
        check_steps_strength(self.image_url, self.num_inference_steps, self.strength)
        if self.mask_url is not None and self.image_url is None:
            raise ValueError("mask_url: needs image_url (the image the mask applies to), got "
                             "a mask and no image")
        return self

    @property
    def is_img2img(self) -> bool:
        """True when ``image_url`` is set."""
        return self.image_url is not None

    @property
    def is_inpainting(self) -> bool:
        """True when ``mask_url`` is set (with ``image_url``)."""
        return self.mask_url is not None

    def effective_steps(self) -> int:
        """Denoising steps actually run: ``int(steps * strength)`` for img2img, else ``steps``."""
        if self.is_img2img:
            return int(self.num_inference_steps * self.strength)
        return self.num_inference_steps


class FalImage(BaseModel):
    """One generated image as fal returns it.

    ``url`` is a ``data:`` URI (``sync_mode``, and always for in-process backends) or an
    ``http(s)`` URL. ``content`` carries the encoded bytes for in-process use and is never
    serialized.
    """

    model_config = ConfigDict(extra="ignore")

    url: str
    width: int | None = None
    height: int | None = None
    content_type: str | None = None
    file_name: str | None = None
    file_size: int | None = None
    content: bytes | None = Field(default=None, exclude=True, repr=False)

    def __repr_args__(self) -> Any:
        # A data URI is tens of kilobytes of base64: show its head, not all of it, so an
        # Output printed in a notebook cell stays one line.
        for name, value in super().__repr_args__():
            if name == "url" and isinstance(value, str) and len(value) > 80:
                value = f"{value[:60]}...<{len(value)} chars>"
            yield name, value

    def data(self) -> bytes:
        """The encoded image bytes, from ``content`` or by decoding a ``data:`` URI."""
        if self.content is not None:
            return self.content
        from .images import decode_data_uri

        return decode_data_uri(self.url, field="url")[1]


class Output(BaseModel):
    """A fast-lcm-diffusion result. ``timings`` are seconds per stage, as fal reports them."""

    model_config = ConfigDict(extra="ignore")

    images: list[FalImage]
    timings: dict[str, float] = Field(default_factory=dict)
    seed: int
    has_nsfw_concepts: list[bool] = Field(default_factory=list)
    prompt: str = ""
    request_id: str | None = None


def resolve_image_size(size: str | ImageSize | None, default: tuple[int, int]) -> tuple[int, int]:
    """``(width, height)`` for a preset name, an :class:`ImageSize`, or ``None`` → ``default``."""
    if size is None:
        return default
    if isinstance(size, ImageSize):
        return size.width, size.height
    return IMAGE_SIZE_PRESETS[size]


def _range_text(field: str, model: type[BaseModel]) -> str | None:
    """'between 1 and 50' for a field with ge/le metadata, else None."""
    info = model.model_fields.get(field)
    if info is None:
        return None
    lo = next((m.ge for m in info.metadata if getattr(m, "ge", None) is not None), None)
    hi = next((m.le for m in info.metadata if getattr(m, "le", None) is not None), None)
    if lo is None or hi is None:
        return None
    return f"between {lo} and {hi}"


_MODELS_BY_NAME: dict[str, type[BaseModel]] = {"image_size": ImageSize, **EXTENSION_MODELS}
#: What a field accepts, for type errors where "a string" would mislead.
_EXPECTED_TYPE = {"image_url": "a data URI, an http(s) URL or bytes",
                  "control_image_url": "a data URI, an http(s) URL or bytes"}


def _show(value: Any, limit: int = 100) -> str:
    """``repr(value)``, cut to ``limit`` characters: messages must stay readable."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _message(err: Any, model: type[BaseModel]) -> tuple[list[str | int], str]:
    loc = [p for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p in {
        "str", "bytes", "int", "function-after", "function-before", "literal", "none"}))]
    # pydantic adds union-member tags ("ImageSize", "literal[...]") to the loc; drop them.
    loc = [p for p in loc if not (isinstance(p, str) and p[:1].isupper())]
    field = ".".join(str(p) for p in loc) or "input"
    etype = err["type"]
    value = err.get("input")
    ctx = err.get("ctx") or {}
    owner: type[BaseModel] = model
    leaf = str(loc[-1]) if loc else ""
    if len(loc) > 1 and str(loc[0]) in _MODELS_BY_NAME:
        owner = _MODELS_BY_NAME[str(loc[0])]
    rng = _range_text(leaf, owner)
    if etype == "missing":
        msg = "is required"
    elif etype in {"greater_than_equal", "less_than_equal"}:  # every ge/le field has both
        msg = f"must be {rng}, got {_show(value)}"
    elif etype == "string_too_long":
        msg = f"must be at most {ctx.get('max_length')} characters, got {len(value)}"
    elif etype == "too_long":
        msg = f"must have at most {ctx.get('max_length')} items, got {ctx.get('actual_length')}"
    elif etype == "literal_error":
        msg = f"must be one of {ctx.get('expected')}, got {_show(value)}"
    elif etype in {"int_parsing", "int_type", "int_from_float", "int_parsing_size"}:
        msg = f"must be a whole number, got {_show(value)}"
    elif etype == "finite_number":
        msg = f"must be a finite number, got {_show(value)}"
    elif etype in {"float_parsing", "float_type"}:
        msg = f"must be a number, got {_show(value)}"
    elif etype in {"bool_parsing", "bool_type"}:
        msg = f"must be true or false, got {_show(value)}"
    elif etype in {"string_type", "string_unicode", "bytes_type"}:
        expected = _EXPECTED_TYPE.get(field, "a string")
        msg = f"must be {expected}, got {_show(value)}"
    elif etype == "value_error":
        msg = str(ctx.get("error", err["msg"]))
    elif etype in {"model_type", "model_attributes_type", "dict_type"}:
        msg = f"must be an object, got {_show(value)}"
    else:
        msg = f"{err['msg']}, got {_show(value)}"
    if field == "input" and etype == "value_error":
        return ["body"], msg
    return ["body", *loc], f"{field}: {msg}"


def format_validation_error(exc: ValidationError, model: type[BaseModel] = Input
                            ) -> list[dict[str, Any]]:
    """Turn a pydantic error into FastAPI-shaped ``[{loc, msg, type}]`` with our messages.

    Union members that failed for the same field are merged into one message.
    """
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    raw = [(err, *_message(err, model)) for err in exc.errors(include_url=False)]
    # A {width, height} that failed inside ImageSize also fails the preset-name branch of the
    # union; the nested message is the useful one.
    nested = {".".join(map(str, loc[:2])) for _, loc, _ in raw if len(loc) > 2}
    for err, loc, msg in raw:
        key = ".".join(map(str, loc))
        if key in nested:
            continue
        if key == "body.image_size" and err["type"] in {"literal_error", "model_type",
                                                        "model_attributes_type"}:
            msg = (f"image_size: must be one of {', '.join(IMAGE_SIZE_PRESETS)} or "
                   f"{{width, height}}, got {_show(err.get('input'))}")
        if key in seen:
            continue
        seen.add(key)
        out.append({"loc": loc, "msg": msg, "type": err["type"]})
    return out


def parse_input(data: Input | dict[str, Any] | Any) -> Input:
    """Validate a request dict (or pass an :class:`Input` through).

    Raises :class:`~lcm_widgets.errors.InvalidInput` whose message lists every problem.
    """
    if isinstance(data, Input):
        return data
    return validate_model(Input, data)


M = TypeVar("M", bound=BaseModel)


def validate_model(model: type[M], data: Any) -> M:
    """``model.model_validate(data)`` for a dict of request fields, any app's schema, with
    this module's messages: raises :class:`~lcm_widgets.errors.InvalidInput` listing every
    problem (``errors`` holds the 422 ``detail`` list)."""
    if not isinstance(data, dict):
        raise InvalidInput(f"input: must be a map of fields, got {type(data).__name__}",
                           field=None)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = format_validation_error(exc, model)
        first = errors[0]["loc"][1:]  # a ValidationError always holds at least one error
        raise InvalidInput("; ".join(e["msg"] for e in errors), errors=errors,
                           field=".".join(map(str, first)) or None) from None
