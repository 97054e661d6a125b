"""Uploaded files: what ``fal_client.upload_*`` and ``fal.storage.upload`` send, kept per key.

The official clients upload an input image first and put the URL they get back into the
request (``image_url``); :mod:`.routes_storage` serves the upload routes they use, and this
module keeps what they upload (docs/server.md, "Storage uploads"):

* **Per key.** Every file belongs to the owner that uploaded it (the API key's id; the same for
  a token minted with that key; ``"anonymous"`` for everyone when auth is off). Only that owner
  can read it back or use it as an input; anyone else is told it does not exist.
* **Images only, bounded.** An upload must be an image in one of the allowed formats, at most
  ``max_bytes`` bytes and ``max_side`` / ``max_pixels`` pixels, read from its header
  (:func:`lcm_widgets.images.image_header`) before it is kept. At most ``max_files`` files and
  ``max_total_bytes`` bytes are kept (the oldest go first), each for ``ttl`` seconds; one key
  holds at most ``max_files_per_key`` of them (its own oldest go first), so one key cannot
  push every other key's files out.
* **Only here.** A file URL names this server (``{base}/storage/files/{id}``); the server reads
  it from this store when it appears in an input, never over the network, and refuses a URL
  of another host.

Two ways in, as the clients do it: a **signed upload** (``initiate`` answers an ``upload_url``
that the client ``PUT``\\s the bytes to, with no credentials, and the ``file_url``), and a
**direct upload** with a short-lived storage token (``mint_token``; fal's v3 CDN path).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

from ..errors import InvalidImage, InvalidInput
from ..images import FORMATS, image_header

__all__ = ["FILES_PATH", "StoredFile", "UploadLimits", "UploadStore", "input_resolver"]

#: Where uploaded files are read (``{base}/storage/files/{id}``).
FILES_PATH = "/storage/files/"
#: Signed upload slots and storage tokens kept at once (the oldest go first).
MAX_SLOTS = 4096

_V = TypeVar("_V")


@dataclass(frozen=True)
class UploadLimits:
    """Bounds on uploaded files (``ServerConfig(uploads=UploadLimits(...))``).

    ``max_bytes`` per file; ``max_side`` and ``max_pixels`` from the image header; ``formats``
    accepted (a subset of :data:`lcm_widgets.images.FORMATS`); ``ttl`` seconds a file is kept;
    at most ``max_files`` files and ``max_total_bytes`` bytes in all (the oldest are dropped
    first), and ``max_files_per_key`` of one key (that key's oldest are dropped first); ``token_ttl`` seconds a storage token and an unused ``upload_url`` stay valid.
    """

    max_bytes: int = 8 * 1024 * 1024
    max_side: int = 4096
    max_pixels: int = 4096 * 4096
    formats: tuple[str, ...] = FORMATS
    ttl: float = 3600.0
    max_files: int = 256
    max_total_bytes: int = 256 * 1024 * 1024
    max_files_per_key: int = 32
    token_ttl: float = 600.0

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_side", "max_pixels", "max_files", "max_total_bytes",
                     "max_files_per_key"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not value >= 1:
                raise ValueError(f"uploads.{name}: must be a whole number of at least 1, "
                                 f"got {value!r}")
        if self.max_total_bytes < self.max_bytes:
            raise ValueError(f"uploads.max_total_bytes: must be at least uploads.max_bytes "
                             f"({self.max_bytes}), got {self.max_total_bytes}")
        for name in ("ttl", "token_ttl"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"uploads.{name}: must be more than 0 seconds, got {value!r}")
        object.__setattr__(self, "formats", tuple(self.formats))
        unknown = [f for f in self.formats if f not in FORMATS]
        if not self.formats or unknown:
            raise ValueError(f"uploads.formats: must be among {', '.join(FORMATS)}, got "
                             f"{unknown[0] if unknown else 'none'!r}")


@dataclass(frozen=True)
class StoredFile:
    """One uploaded file."""

    owner: str
    data: bytes
    content_type: str
    file_name: str
    expires: float


@dataclass
class _Pending:
    owner: str
    file_id: str
    content_type: str
    file_name: str
    expires: float


@dataclass
class UploadStore:
    """The uploaded files of one server, their signed upload slots and storage tokens.

    Everything is in memory (uploads are inputs for the next few requests, not an archive);
    ``clock`` is ``time.monotonic`` (tests pass their own to step past a TTL).
    """

    limits: UploadLimits = field(default_factory=UploadLimits)
    clock: Callable[[], float] = time.monotonic
    _files: OrderedDict[str, StoredFile] = field(default_factory=OrderedDict)
    _pending: OrderedDict[str, _Pending] = field(default_factory=OrderedDict)
    _tokens: OrderedDict[str, tuple[str, float]] = field(default_factory=OrderedDict)
    _size: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __len__(self) -> int:
        with self._lock:
            self._expire()
            return len(self._files)

    @property
    def total_bytes(self) -> int:
        """Bytes held by the files kept now."""
        return self._size

    def kept(self) -> dict[str, object]:
        """What ``/health`` says of uploads: how many are kept, how much, for how long."""
        lim = self.limits
        with self._lock:
            self._expire()
            count, size = len(self._files), self._size
        return {"durable": False, "in_memory": count, "bytes": size, "max": lim.max_files,
                "max_bytes": lim.max_total_bytes, "max_per_key": lim.max_files_per_key,
                "ttl_s": lim.ttl}

    # -- storage tokens (fal's v3 CDN path) ----------------------------------------------

    def mint_token(self, owner: str) -> tuple[str, float]:
        """A storage token for ``owner`` and the wall-clock time (``time.time``) it expires."""
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = (owner, self.clock() + self.limits.token_ttl)
            _bound(self._tokens, MAX_SLOTS)
        return token, time.time() + self.limits.token_ttl

    def token_owner(self, token: str) -> str | None:
        """Who a storage token was minted for; None when unknown or expired."""
        with self._lock:
            item = self._tokens.get(token)
            if item is None or item[1] <= self.clock():
                self._tokens.pop(token, None)
                return None
            return item[0]

    # -- signed uploads (initiate, then PUT) ---------------------------------------------

    def initiate(self, owner: str, *, content_type: str, file_name: str) -> tuple[str, str]:
        """Reserve an upload: ``(upload_id, file_id)``. The bytes come with :meth:`complete`
        (once, within ``token_ttl`` seconds); the file is then readable as ``file_id``."""
        self._check_type(content_type)
        upload_id, file_id = secrets.token_urlsafe(24), secrets.token_urlsafe(16)
        with self._lock:
            self._pending[upload_id] = _Pending(owner, file_id, content_type, file_name,
                                                self.clock() + self.limits.token_ttl)
            _bound(self._pending, MAX_SLOTS)
        return upload_id, file_id

    def complete(self, upload_id: str, data: bytes, content_type: str | None) -> str | None:
        """Store the bytes of a reserved upload; returns its file id, or None when the slot
        is unknown, used or expired. Raises :class:`InvalidImage` for a refused file."""
        with self._lock:
            slot = self._pending.pop(upload_id, None)
        if slot is None or slot.expires <= self.clock():
            return None
        ctype = content_type or slot.content_type
        self._store(slot.file_id, slot.owner, data, ctype, slot.file_name)
        return slot.file_id

    # -- direct uploads and reads ----------------------------------------------------------

    def put(self, owner: str, data: bytes, *, content_type: str, file_name: str) -> str:
        """Store ``data`` for ``owner`` now; returns its file id. Raises :class:`InvalidImage`
        (or :class:`InvalidInput` for a refused media type)."""
        self._check_type(content_type)
        file_id = secrets.token_urlsafe(16)
        self._store(file_id, owner, data, content_type, file_name)
        return file_id

    def get(self, file_id: str, owner: str) -> StoredFile | None:
        """The file, when it exists, has not expired and belongs to ``owner``."""
        with self._lock:
            self._expire()
            item = self._files.get(file_id)
        if item is None or item.owner != owner:
            return None
        return item

    def resolve(self, url: str, owner: str, bases: Sequence[str]) -> bytes | None:
        """The bytes behind one of this server's file URLs in an input, or None when ``url``
        is not such a URL (another path). ``bases`` are the base URLs this server answers on
        (the request's own, ``public_url``): a file URL of any other host is refused, as is a
        file that is unknown, expired, or another owner's. Raises :class:`InvalidImage`."""
        parts = urlsplit(url)
        if FILES_PATH not in parts.path or parts.scheme not in ("http", "https"):
            return None
        ours = {urlsplit(b).netloc.lower() for b in bases if b}
        if parts.netloc.lower() not in ours:
            raise InvalidImage(f"image_url: an uploaded file's URL must name this server "
                               f"({', '.join(sorted(ours))}); it does not fetch other hosts, "
                               f"got {url[:80]!r}", field="image_url")
        file_id = parts.path.rsplit(FILES_PATH, 1)[1].split("/", 1)[0]
        item = self.get(file_id, owner)
        if item is None:
            raise InvalidImage(f"image_url: no uploaded file {file_id[:40]!r} for this key "
                               f"(unknown, expired after {self.limits.ttl:g} s, or uploaded "
                               "with another key); upload it again", field="image_url")
        return item.data

    # -- internals -----------------------------------------------------------------------

    def _check_type(self, content_type: str) -> None:
        mime = content_type.split(";", 1)[0].strip().lower()
        if mime and not (mime.startswith("image/") or mime == "application/octet-stream"):
            raise InvalidInput(f"content_type: this server stores images only "
                               f"({', '.join(self.limits.formats)}), got {content_type[:80]!r}",
                               field="content_type")

    def _store(self, file_id: str, owner: str, data: bytes, content_type: str,
               file_name: str) -> None:
        lim = self.limits
        if len(data) > lim.max_bytes:
            raise InvalidImage(f"file: must be at most {lim.max_bytes} bytes, got {len(data)}",
                               field="file")
        fmt, _w, _h = image_header(data, formats=lim.formats, max_side=lim.max_side,
                                   max_pixels=lim.max_pixels, field="file")
        ctype = f"image/{fmt.lower()}"  # from the bytes, not from what the client claimed
        with self._lock:
            self._expire()
            mine = [k for k, f in self._files.items() if f.owner == owner]
            for old_id in mine[:max(0, len(mine) - lim.max_files_per_key + 1)]:
                self._size -= len(self._files.pop(old_id).data)
            self._files[file_id] = StoredFile(owner, data, ctype, file_name[:200],
                                              self.clock() + lim.ttl)
            self._size += len(data)
            while len(self._files) > lim.max_files or self._size > lim.max_total_bytes:
                _, old = self._files.popitem(last=False)
                self._size -= len(old.data)

    def _expire(self) -> None:
        now = self.clock()
        while self._files:
            file_id, first = next(iter(self._files.items()))
            if first.expires > now:
                break  # files are kept in the order they were stored, with one ttl
            del self._files[file_id]
            self._size -= len(first.data)


def input_resolver(conn: Any, owner: str) -> Callable[[str], bytes | None]:
    """What :func:`~.inputs.validate_request` calls for a URL in an input of ``conn`` (a
    request or a WebSocket of the app): the bytes of one of this server's uploaded files for
    ``owner``, None for a URL of another kind."""
    st = conn.app.state.lcm
    store: UploadStore = st.uploads
    bases = (st.base_url(str(conn.base_url)), st.config.public_url or "")
    return lambda url: store.resolve(url, owner, bases)


def _bound(items: OrderedDict[str, _V], limit: int) -> None:
    while len(items) > limit:
        items.popitem(last=False)
