"""fal endpoint ids and the URLs built from them (fal.run, queue.fal.run, the realtime socket).

Pure: no I/O. An endpoint id is ``[namespace/]owner/alias[/path...]``; the legacy
``<digits>-<alias>`` form is read as ``<digits>/<alias>``; the queue's status, result and
cancel URLs use ``[namespace/]owner/alias`` only (docs/remote.md, "Endpoint ids").
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import urlencode, urlsplit, urlunsplit

from ..errors import InvalidInput

__all__ = [
    "FAL_QUEUE_URL",
    "FAL_REST_URL",
    "FAL_RUN_URL",
    "FAL_WS_URL",
    "INPAINTING_PATH",
    "MAX_BUFFERING_RANGE",
    "AppId",
    "check_max_buffering",
    "realtime_url",
    "ws_base",
]

FAL_RUN_URL = "https://fal.run"
FAL_QUEUE_URL = "https://queue.fal.run"
FAL_WS_URL = "wss://fal.run"
FAL_REST_URL = "https://rest.fal.ai"

#: ``max_buffering`` must lie in this range (fal's clients refuse to connect otherwise).
MAX_BUFFERING_RANGE = (1, 60)

_NAMESPACES = frozenset({"workflows", "comfy"})


# --------------------------------------------------------------------------- endpoint ids


#: The sub-path of an app's inpainting endpoint (``mask_url`` is served there only).
INPAINTING_PATH = "inpainting"


@dataclass(frozen=True)
class AppId:
    """A parsed fal endpoint id ``[namespace/]owner/alias[/path...]`` ."""

    owner: str
    alias: str
    path: str = ""
    namespace: str = ""

    @classmethod
    def parse(cls, app: str) -> AppId:
        """Parse ``app``; the legacy ``<digits>-<alias>`` form becomes ``<digits>/<alias>``."""
        parts = [p for p in app.strip("/").split("/") if p]
        if len(parts) == 1 and "-" in parts[0] and parts[0].split("-", 1)[0].isdigit():
            parts = parts[0].split("-", 1)
        namespace = ""
        if parts and parts[0] in _NAMESPACES:
            namespace, parts = parts[0], parts[1:]
        if len(parts) < 2:
            raise InvalidInput(f"app: must look like 'owner/alias' (e.g. "
                               f"'fal-ai/fast-lcm-diffusion'), got {app!r}", field="app")
        return cls(parts[0], parts[1], "/".join(parts[2:]), namespace)

    @property
    def base(self) -> str:
        """``[namespace/]owner/alias``: what the queue status/result/cancel URLs use."""
        return "/".join(p for p in (self.namespace, self.owner, self.alias) if p)

    @property
    def full(self) -> str:
        """``[namespace/]owner/alias[/path]``: what run, submit and realtime URLs use."""
        return "/".join(p for p in (self.base, self.path) if p)

    def for_input(self, inpainting: bool) -> AppId:
        """The endpoint an input goes to. fal serves ``mask_url`` only on an app's
        ``/inpainting`` (its other endpoints ignore the field), so an inpainting input of
        ``owner/alias`` or ``owner/alias/image-to-image`` goes to ``owner/alias/inpainting``;
        anything else stays on this endpoint (docs/remote.md, "Inpainting")."""
        if inpainting and self.path != INPAINTING_PATH:
            return replace(self, path=INPAINTING_PATH)
        return self


def ws_base(http_base: str) -> str:
    """``http(s)://host[:port][/prefix]`` → ``ws(s)://…`` (a ws/wss URL is kept as is)."""
    u = urlsplit(http_base.rstrip("/"))
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(u.scheme)
    if scheme is None or not u.netloc:
        raise InvalidInput(f"base_url: must be an http(s):// or ws(s):// URL, got {http_base!r}",
                           field="base_url")
    return urlunsplit((scheme, u.netloc, u.path, "", ""))


def check_max_buffering(value: int | None) -> int | None:
    """``max_buffering`` must be None or an integer in 1..60 (fal's clients refuse others)."""
    if value is None:
        return None
    lo, hi = MAX_BUFFERING_RANGE
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise InvalidInput(f"max_buffering: must be an integer between 1 and 60, got {value!r}",
                           field="max_buffering")
    return value


def realtime_url(ws_root: str, app: AppId, *, path: str = "/realtime", token: str | None = None,
                 max_buffering: int | None = None) -> str:
    """``{ws_root}/{app}/realtime?fal_jwt_token=…&max_buffering=…``."""
    endpoint = app.full
    suffix = "/" + path.strip("/") if path.strip("/") else ""
    if suffix and not endpoint.endswith(suffix.lstrip("/")):
        endpoint += suffix
    query: dict[str, str | int] = {}
    if token is not None:
        query["fal_jwt_token"] = token
    if max_buffering is not None:
        query["max_buffering"] = max_buffering
    url = f"{ws_root.rstrip('/')}/{endpoint}"
    return f"{url}?{urlencode(query)}" if query else url
