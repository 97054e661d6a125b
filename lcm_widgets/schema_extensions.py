"""Our extensions to fal's ``fast-lcm-diffusion`` input: ControlNet and user LoRAs.

fal's ``fast-lcm-diffusion`` has none of these fields; the names and meanings follow fal's
other Stable Diffusion endpoints (``control_image_url``, ``controlnet_conditioning_scale``,
``control_guidance_start``/``_end`` as in diffusers' ControlNet pipelines; ``loras`` as a list
of ``{path, scale}``). :class:`~lcm_widgets.schema.Input` includes :class:`ExtensionFields`, so
every backend accepts them; :class:`~lcm_widgets.backends.local.LocalLCM` acts on them (see
docs/models.md), and a remote fal endpoint ignores them, as it ignores any field it does not
know. All of them are left out of a request by default, which then means what it meant before.

* ``controlnet``: which of the backend's loaded ControlNets to use, ``"none"`` for none; left
  out, the first one loaded (if any).
* ``control_image_url``: the control image (a data URI or bytes, with the limits of
  ``image_url``); left out, the request's ``image_url`` (the frame itself), preprocessed as the
  ControlNet asks (scribble, canny).
* ``controlnet_conditioning_scale`` (0-2, default 1): 0 is exactly the image without ControlNet.
* ``control_guidance_start``, ``control_guidance_end`` (0-1): the fraction of the denoising
  steps during which the ControlNet acts (``start <= end``).
* ``loras``: up to :data:`MAX_LORAS` ``{path, scale}`` (scale 0-4); left out, the backend's
  current LoRAs; ``[]`` for none.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["EXTENSION_FIELDS", "EXTENSION_MODELS", "MAX_LORAS", "ExtensionFields", "LoraWeight"]

#: Most LoRAs one request may name.
MAX_LORAS = 4
MAX_LORA_SCALE = 4.0


class LoraWeight(BaseModel):
    """One LoRA of a request: ``path`` (a model id, a file or folder the backend loaded, or the
    name it was loaded under) and its ``scale``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    path: Annotated[str, Field(min_length=1, max_length=1000)]
    scale: Annotated[float, Field(ge=0.0, le=MAX_LORA_SCALE, allow_inf_nan=False)] = 1.0

    @field_validator("scale", mode="before")
    @classmethod
    def _not_bool(cls, v: Any) -> Any:
        if isinstance(v, bool):
            raise ValueError(f"must be a number, got {v!r}")
        return v


class ExtensionFields(BaseModel):
    """The ControlNet and LoRA fields (the module docstring says what each does)."""

    model_config = ConfigDict(extra="ignore", frozen=True, validate_default=False)

    controlnet: Annotated[str | None, Field(
        min_length=1, max_length=256,
        description="ControlNet to use (one the backend loaded); 'none' for none.")] = None
    control_image_url: str | bytes | None = Field(
        default=None, description="Control image; left out, the source image itself.")
    controlnet_conditioning_scale: Annotated[float, Field(
        ge=0.0, le=2.0, allow_inf_nan=False,
        description="How strongly the control image guides the structure.")] = 1.0
    control_guidance_start: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)] = 0.0
    control_guidance_end: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)] = 1.0
    loras: Annotated[tuple[LoraWeight, ...] | None, Field(
        max_length=MAX_LORAS, description="LoRAs to apply: [{path, scale}].")] = None

    @field_validator("controlnet_conditioning_scale", "control_guidance_start",
                     "control_guidance_end", mode="before")
    @classmethod
    def _ext_not_bool(cls, v: Any) -> Any:
        if isinstance(v, bool):
            raise ValueError(f"must be a number, got {v!r}")
        return v

    @field_validator("control_image_url", mode="before")
    @classmethod
    def _control_bytes_like(cls, v: Any) -> Any:
        return bytes(v) if isinstance(v, (bytearray, memoryview)) else v

    @field_validator("control_image_url")
    @classmethod
    def _control_non_empty(cls, v: str | bytes | None) -> str | bytes | None:
        if v is not None and len(v) == 0:
            raise ValueError("must not be empty; leave it out to use the source image")
        return v

    @model_validator(mode="after")
    def _start_before_end(self) -> ExtensionFields:
        if self.control_guidance_start > self.control_guidance_end:
            raise ValueError(
                "control_guidance_start: must be at most control_guidance_end, got "
                f"{self.control_guidance_start} > {self.control_guidance_end}")
        return self


#: The field names :class:`ExtensionFields` adds.
EXTENSION_FIELDS: tuple[str, ...] = tuple(ExtensionFields.model_fields)
#: Nested models by field, for :func:`lcm_widgets.schema.format_validation_error`.
EXTENSION_MODELS: dict[str, type[BaseModel]] = {"loras": LoraWeight}
