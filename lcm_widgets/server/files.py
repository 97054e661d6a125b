"""A bounded in-memory store for generated images served at ``GET /files/{id}``.

When a request has ``sync_mode: false`` the server answers with an ``http`` URL into this store
instead of a data URI (as fal answers with a CDN URL). The store keeps the newest files up to a
count and a byte budget; older ones are evicted and their URLs answer 404. Ids are random
(128 bits), so a URL is the capability to read that image.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Collection

from ..images import image_data_uri_bytes, to_data_uri
from ..schema import FalImage, Output

__all__ = ["FileStore", "image_bytes", "publish"]


class FileStore:
    """An LRU of ``id -> (bytes, content_type)`` bounded by count and total bytes."""

    def __init__(self, *, max_files: int = 512, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.max_files = max_files
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, tuple[bytes, str]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, data: bytes, content_type: str) -> str:
        """Store ``data`` and return its id; evicts the oldest files when over budget."""
        file_id = secrets.token_urlsafe(16)
        with self._lock:
            self._items[file_id] = (data, content_type)
            self._size += len(data)
            while self._items and (len(self._items) > self.max_files
                                   or self._size > self.max_bytes):
                _, (old, _ct) = self._items.popitem(last=False)
                self._size -= len(old)
        return file_id

    def get(self, file_id: str) -> tuple[bytes, str] | None:
        """The stored bytes and content type, or None when unknown or evicted."""
        with self._lock:
            item = self._items.get(file_id)
            if item is not None:
                self._items.move_to_end(file_id)
            return item


def image_bytes(image: FalImage) -> bytes:
    """The encoded bytes of a backend's image (``content``, else its data URI)."""
    if image.content is not None:
        return image.content
    if not image.url.startswith("data:"):
        raise ValueError(f"image has neither content nor a data URI: {image.url[:40]!r}")
    return image_data_uri_bytes(image.url, max_bytes=None, field="images[].url")


def publish(output: Output, *, sync_mode: bool, files: FileStore, base_url: str,
            request_id: str | None, num_inference_steps: int | None = None,
            inference_s: float | None = None,
            drop: Collection[str] = ()) -> dict[str, object]:
    """The output as the client sees it: data URIs (``sync_mode``) or ``/files`` URLs.

    Beside the backend's own fields: ``request_id`` (when given), ``num_inference_steps``
    (when given) and ``timings.inference``, fal's key for the model's time in seconds (the
    backend's own value, else ``inference_s``), next to the backend's per-stage timings.
    ``drop`` names the Output fields the app's schema does not have (the turbo app's answers
    carry no ``prompt``).
    """
    images: list[dict[str, object]] = []
    for img in output.images:
        data = image_bytes(img)
        ctype = img.content_type or "image/jpeg"
        ext = ctype.rsplit("/", 1)[-1]
        entry = img.model_dump(exclude_none=True)
        entry.update(content_type=ctype, file_size=len(data))
        if sync_mode:
            if not img.url.startswith("data:"):
                entry["url"] = to_data_uri(data, ctype)
        else:
            file_id = files.put(data, ctype)
            entry["url"] = f"{base_url.rstrip('/')}/files/{file_id}"
            entry["file_name"] = img.file_name or f"{file_id}.{ext}"
        images.append(entry)
    out = output.model_dump(exclude_none=True, exclude={"images", *drop})
    out["images"] = images
    if inference_s is not None and "inference" not in output.timings:
        out["timings"] = {**output.timings, "inference": inference_s}
    if num_inference_steps is not None:
        out["num_inference_steps"] = num_inference_steps
    if request_id:
        out["request_id"] = request_id
    return out
