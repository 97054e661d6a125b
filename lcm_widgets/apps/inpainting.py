"""The ``/inpainting`` sub-path of every app: its schema derived from the app's own, once.

fal's inpainting endpoints (``fal-ai/fast-lcm-diffusion/inpainting``,
``fal-ai/fast-turbo-diffusion/inpainting``) take the fields and defaults of the app's
image-to-image endpoint, with ``image_url`` and ``mask_url`` both required (docs/server.md,
"Inpainting"). So there is no per-app copy: :func:`inpainting_input` derives the inpainting
model from any app's input model, keeping its fields, limits, checks and messages, and
:class:`~lcm_widgets.apps.AppSchema` converts it to the library's
:class:`~lcm_widgets.schema.Input` as it converts the app's other requests (``mask_url``
included: that is the field backends inpaint with).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, create_model

from ..schema import image_as_bytes, image_not_empty

__all__ = ["INPAINTING", "inpainting_input"]

#: The sub-path name (``/{app}/inpainting``).
INPAINTING = "inpainting"


def _mask_not_empty(v: str | bytes) -> str | bytes:
    if len(v) == 0:
        raise ValueError("must not be empty: an image the size of image_url (white: repaint, "
                         "black: keep)")
    return v


_Image = Annotated[str | bytes, BeforeValidator(image_as_bytes), AfterValidator(image_not_empty)]
_Mask = Annotated[str | bytes, BeforeValidator(image_as_bytes), AfterValidator(_mask_not_empty)]


def inpainting_input(model: type[BaseModel]) -> type[BaseModel]:
    """``model`` (an app's input) with ``image_url`` and ``mask_url`` required: a subclass, so
    every other field, default and check stays the app's own."""
    fields: dict[str, Any] = {
        "image_url": (_Image, Field(description="The image to inpaint: data URI, URL of this "
                                                "server's files, or bytes.")),
        "mask_url": (_Mask, Field(description="The mask, the size of image_url: white is "
                                              "repainted, black kept (grey: partly).")),
    }
    return create_model(  # type: ignore[call-overload,no-any-return]
        f"{model.__name__}Inpainting", __base__=model,
        __doc__=f"{model.__name__} for the /inpainting sub-path: image_url and mask_url "
                "required.", **fields)
