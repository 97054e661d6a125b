"""Turn what a client sent into a validated :class:`~lcm_widgets.schema.Input`.

The same checks run for REST bodies and realtime frames, so both report a bad field with the
same words: schema problems come from :func:`~lcm_widgets.schema.parse_input`; image problems
(undecodable, unknown format, too many bytes or pixels) are :class:`InvalidImage` errors.

``image_url`` (and ``mask_url`` on ``/inpainting``, whose image must have ``image_url``'s size;
any other sub-path drops a ``mask_url`` unread) is normalised to raw bytes here, so backends
never see a data URI or a URL:

* a ``data:image/...;base64,`` URI or msgpack ``bin`` bytes are accepted;
* a URL served by this server's ``/files/{id}`` is read from the file store, and one of its
  uploaded files (``/storage/files/{id}``, :mod:`.storage`) from the upload store, for the key
  that uploaded it;
* any other URL is refused (the server does not fetch from the network).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from ..apps import INPAINTING, LCM_APP, AppSchema
from ..errors import InvalidImage, InvalidInput
from ..images import FORMATS, image_data_uri_bytes, image_header
from ..schema import Input
from .files import FileStore

__all__ = ["SUBPATHS", "ImageLimits", "check_image", "validate_request"]

#: sub-paths of the app and what they require
SUBPATHS: dict[str, str] = {"": "text-to-image, or image-to-image when image_url is set",
                            "image-to-image": "image-to-image (image_url required)",
                            INPAINTING: "inpainting (image_url and mask_url required)"}


@dataclass(frozen=True)
class ImageLimits:
    """Bounds on an input image. Checked from the header, before any pixel is decoded."""

    max_bytes: int = 8 * 1024 * 1024
    max_side: int = 4096
    max_pixels: int = 4096 * 4096
    formats: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "BMP", "GIF")

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_side", "max_pixels"):
            value = getattr(self, name)
            if not value >= 1:
                raise ValueError(f"image_limits.{name}: must be at least 1, got {value}")
        if not self.formats:
            raise ValueError("image_limits.formats: must name at least one image format, "
                             "got none")
        unknown = [f for f in self.formats if f not in FORMATS]
        if unknown:
            raise ValueError(f"image_limits.formats: must be among {', '.join(FORMATS)}, "
                             f"got {unknown[0]!r}")


def validate_request(data: Any, *, subpath: str, limits: ImageLimits,
                     files: FileStore | None = None,
                     resolve_url: Callable[[str], bytes | None] | None = None,
                     schema: AppSchema = LCM_APP) -> Input:
    """Validate a request for ``subpath`` and normalise its image to bytes.

    ``resolve_url`` reads one of this server's own URLs other than ``/files/`` (an uploaded
    file, :func:`~.routes_storage.input_resolver`): the bytes, None for a URL it does not
    know the kind of, or :class:`InvalidImage`. Raises :class:`InvalidInput` (schema) or
    :class:`InvalidImage` (the image). ``schema`` is the app's (:mod:`lcm_widgets.apps`): its
    fields, defaults and limits; the result is the library's Input either way.
    """
    inp = schema.parse(data, subpath)
    if subpath == "image-to-image" and inp.image_url is None:
        raise InvalidInput("image_url: is required for image-to-image", field="image_url",
                           errors=[{"loc": ["body", "image_url"], "type": "missing",
                                    "msg": "image_url: is required for image-to-image"}])
    if inp.control_image_url is not None:  # our ControlNet extension: the same rules
        ctl = _image_bytes(inp.control_image_url, limits, files, resolve_url,
                           field="control_image_url")
        check_image(ctl, limits, field="control_image_url")
        inp = inp.model_copy(update={"control_image_url": ctl})
    if inp.image_url is None:
        return inp
    raw = _image_bytes(inp.image_url, limits, files, resolve_url)
    size = check_image(raw, limits)
    if inp.mask_url is None:
        return inp.model_copy(update={"image_url": raw})
    mask = _image_bytes(inp.mask_url, limits, files, resolve_url, field="mask_url")
    mask_size = check_image(mask, limits, field="mask_url")
    if mask_size != size:
        raise InvalidInput(f"mask_url: must be {size[0]}x{size[1]} like image_url, got "
                           f"{mask_size[0]}x{mask_size[1]}", field="mask_url")
    return inp.model_copy(update={"image_url": raw, "mask_url": mask})


def _image_bytes(value: str | bytes, limits: ImageLimits, files: FileStore | None,
                 resolve_url: Callable[[str], bytes | None] | None = None,
                 field: str = "image_url") -> bytes:
    if isinstance(value, bytes):
        raw = value
    elif value.startswith("data:"):
        raw = image_data_uri_bytes(value, max_bytes=limits.max_bytes, field=field)
    elif resolve_url is not None and (found := _resolve(resolve_url, value, field)) is not None:
        raw = found
    else:
        path = urlparse(value).path
        file_id = path.rsplit("/files/", 1)[-1] if "/files/" in path else None
        stored = files.get(file_id) if files is not None and file_id else None
        if stored is None:
            raise InvalidImage(f"{field}: this server accepts a data URI, raw bytes, or a URL "
                               "of its own /files/; it does not fetch other URLs, got "
                               f"{value[:80]!r}", field=field)
        raw = stored[0]
    if len(raw) > limits.max_bytes:
        raise InvalidImage(f"{field}: image must be at most {limits.max_bytes} bytes, "
                           f"got {len(raw)}", field=field)
    return raw


def _resolve(resolve_url: Callable[[str], bytes | None], value: str, field: str) -> bytes | None:
    """``resolve_url(value)``, its refusals naming ``field`` (the resolver says image_url)."""
    try:
        return resolve_url(value)
    except InvalidImage as exc:
        if field == "image_url":
            raise
        raise InvalidImage(str(exc).replace("image_url:", f"{field}:", 1),
                           field=field) from None


def check_image(raw: bytes, limits: ImageLimits, field: str = "image_url") -> tuple[int, int]:
    """Read the image header and check format and size; returns ``(width, height)``.

    The format is recognised from the magic bytes and refused unless it is one of
    ``limits.formats`` before any Pillow plugin sees the data; then only that format's plugin
    reads the header (:func:`lcm_widgets.images.image_header`).
    """
    _fmt, w, h = image_header(raw, formats=limits.formats, max_side=limits.max_side,
                              max_pixels=limits.max_pixels, field=field)
    return w, h
