"""fal's ``fast-turbo-diffusion`` schema (SD-Turbo / SDXL-Turbo), defined once (pydantic v2).

The fields and defaults are those of fal's typed endpoints ``fal-ai/fast-turbo-diffusion``
(text-to-image) and ``fal-ai/fast-turbo-diffusion/image-to-image`` (docs/server.md, "The
turbo app"):

* ``prompt`` (required), ``negative_prompt`` (``""``), ``model_name``
  (``stabilityai/sdxl-turbo`` or ``stabilityai/sd-turbo``; left out, the backend's loaded
  model, as for the LCM app), ``image_size`` (``square``, i.e. 512x512), ``num_inference_steps``
  (2), ``seed``, ``guidance_scale`` (1: no classifier-free guidance), ``sync_mode`` (true),
  ``num_images`` (1), ``enable_safety_checker``, ``expand_prompt``;
* image-to-image adds ``image_url`` and ``strength`` (0.95);
* inpainting (``/inpainting``) also requires ``image_url`` and adds ``mask_url``, required
  (:func:`lcm_widgets.apps.inpainting.inpainting_input` derives that schema from this one).

The output is ``{images, timings, seed, has_nsfw_concepts}`` (no ``prompt``, unlike the LCM
app). Fields of the LCM schema that this one lacks (``guidance_rescale``,
``safety_checker_version``, ``format``) are ignored, as fal's apps ignore unknown fields:
``format: "png"`` here still answers JPEG. ``request_id`` is kept on every app: it is the
transport's field (realtime answers copy it back), not the model's.

The checks are the LCM schema's own functions (:func:`lcm_widgets.schema.reject_bool` and its
neighbours) and the messages come from :func:`lcm_widgets.schema.validate_model`, so a bad field
reads the same on both apps, with this app's limits (``num_inference_steps: must be between 1
and 4, got 8``). :meth:`TurboInput.to_input` turns a request into the library's
:class:`~lcm_widgets.schema.Input`, which every backend takes.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from ..schema import (
    MAX_PROMPT_CHARS,
    MAX_SEED,
    FalImage,
    ImageSize,
    ImageSizeName,
    Input,
    check_steps_strength,
    image_as_bytes,
    image_not_empty,
    reject_bool,
    require_bool,
)

__all__ = ["FAL_MODEL_NAMES", "MAX_STEPS", "TURBO_APP_ID", "TurboInput", "TurboOutput"]

TURBO_APP_ID = "fal-ai/fast-turbo-diffusion"
#: Turbo models are distilled for one to four steps.
MAX_STEPS = 4
#: fal's ``model_name`` enum and the LocalLCM preset each one loads.
FAL_MODEL_NAMES: dict[str, str] = {
    "stabilityai/sdxl-turbo": "sdxl-turbo",
    "stabilityai/sd-turbo": "sd-turbo",
}

TurboModelName = Literal["stabilityai/sdxl-turbo", "stabilityai/sd-turbo", "sd-turbo",
                         "sdxl-turbo", "tiny-turbo"]
_Number = BeforeValidator(reject_bool)
_Bool = Annotated[bool, BeforeValidator(require_bool)]


class TurboInput(BaseModel):
    """A fast-turbo-diffusion request: text-to-image, or image-to-image when ``image_url`` is
    set (the ``/image-to-image`` sub-path requires it)."""

    model_config = ConfigDict(extra="ignore", frozen=True, validate_default=False)

    prompt: Annotated[str, Field(max_length=MAX_PROMPT_CHARS,
                                 description="The prompt to generate an image from.")]
    negative_prompt: Annotated[str, Field(max_length=MAX_PROMPT_CHARS)] = ""
    model_name: TurboModelName | None = Field(
        default=None, description="Model to use; left out, the backend's loaded model.")
    image_size: ImageSizeName | ImageSize | None = Field(
        default="square", description="Output size: a preset name or {width, height}; "
                                      "null: the source image's size (image-to-image).")
    num_inference_steps: Annotated[int, Field(ge=1, le=MAX_STEPS), _Number] = 2
    seed: Annotated[int | None, Field(ge=0, le=MAX_SEED), _Number] = None
    guidance_scale: Annotated[float, Field(ge=0.0, le=20.0, allow_inf_nan=False), _Number] = 1.0
    sync_mode: _Bool = True
    num_images: Annotated[int, Field(ge=1, le=8), _Number] = 1
    enable_safety_checker: _Bool = True
    expand_prompt: _Bool = False
    request_id: Annotated[str, Field(max_length=256)] = ""
    image_url: Annotated[str | bytes | None, BeforeValidator(image_as_bytes),
                         AfterValidator(image_not_empty)] = Field(
        default=None, description="Source image for image-to-image: data URI, URL or bytes.")
    strength: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False), _Number] = 0.95

    @model_validator(mode="after")
    def _checks(self) -> TurboInput:
        check_steps_strength(self.image_url, self.num_inference_steps, self.strength)
        return self

    def to_input(self) -> Input:
        """The same request as the library's :class:`~lcm_widgets.schema.Input` (what backends
        take): fal's model names become the LocalLCM presets they load, and the fields this
        schema lacks keep the LCM schema's neutral defaults (JPEG, no guidance rescale)."""
        fields: dict[str, Any] = {name: getattr(self, name) for name in type(self).model_fields}
        if self.model_name is not None:
            fields["model_name"] = FAL_MODEL_NAMES.get(self.model_name, self.model_name)
        return Input.model_validate(fields)


class TurboOutput(BaseModel):
    """A fast-turbo-diffusion result: ``images``, ``timings``, ``seed``, ``has_nsfw_concepts``."""

    model_config = ConfigDict(extra="ignore")

    images: list[FalImage]
    timings: dict[str, float] = Field(default_factory=dict)
    seed: int
    has_nsfw_concepts: list[bool] = Field(default_factory=list)
