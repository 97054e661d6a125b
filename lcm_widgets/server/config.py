"""Every knob of the server in one frozen, validated :class:`ServerConfig`.

``create_app(backend, ServerConfig(...))`` builds the app; ``lcm-widgets serve`` fills one from
its flags. A value out of range raises :class:`ValueError` naming the field, the limit and the
value, before anything starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..protocol.endpoints import MAX_BUFFERING_RANGE
from .inputs import ImageLimits
from .storage import UploadLimits

__all__ = ["DEFAULT_APP_ID", "DEFAULT_GENERATION_TIMEOUT", "ServerConfig"]

DEFAULT_APP_ID = "fal-ai/fast-lcm-diffusion"
#: Seconds a generation may take before it is answered with an error (a stuck model).
DEFAULT_GENERATION_TIMEOUT = 120.0


@dataclass(frozen=True)
class ServerConfig:
    """How one server behaves.

    * ``app_id``: the endpoint id served (``fal-ai/fast-lcm-diffusion``); ``keys``: the accepted
      API keys (``id:secret``); ``auth=False`` accepts anyone; ``token_secret`` signs realtime
      tokens (default: random per app, so tokens die with the server).
    * ``max_queue``: REST/queue jobs that may wait (one more is refused with 429).
    * Realtime: sessions close after ``session_timeout`` idle seconds (None: never) and buffer
      ``default_buffering`` frames when the client gives no ``max_buffering``;
      ``emit_timings`` sends an ``x-fal-message`` timings frame after each result.
    * ``batch``: let a batching backend run compatible frames of several sessions as one
      model call (the backend's batch rule, :meth:`~lcm_widgets.backends.base.BackendInfo.
      batch_key`).
    * Limits: a realtime frame or REST body over ``max_message_bytes`` is refused, as is an
      image breaking ``image_limits``; ``max_files`` images of ``sync_mode: false`` answers are
      kept for ``GET /files/{id}``.
    * Webhooks: ``webhook_attempts`` tries, ``webhook_backoff * 2**n`` seconds apart.
    * ``public_url``: the base of ``/files`` links (default: the URL a request came in on).
    * ``own_backend``: the app closes the backend when it shuts down.
    * ``uploads``: bounds on uploaded files (:class:`~.storage.UploadLimits`: bytes, pixels,
      formats, ttl, how many are kept).
    * ``generation_timeout``: a generation taking longer (seconds, default
      :data:`DEFAULT_GENERATION_TIMEOUT`; None: no limit) is answered with an error (HTTP 504
      ``generation_timeout``, realtime ``GENERATION_TIMEOUT``) and the worker moves on.
    * ``allowed_origins``: browser origins (``scheme://host[:port]``, ``"*"`` for all) allowed
      beside loopback ones to open WebSockets, send POST/PUT and get CORS headers
      (:mod:`.guard`).
    * ``webhook_allow``: networks (``10.0.0.0/8``, ``127.0.0.1``) webhooks may be delivered
      to although they are loopback, private or link-local (refused by default,
      :mod:`.webhooks`).
    * ``state_dir``: a directory for the durable job store (SQLite); queue jobs accepted and
      their results survive a restart there (None: in memory only). ``job_retention``:
      seconds a finished queue job stays readable.
    """

    app_id: str = DEFAULT_APP_ID
    keys: Sequence[str] = field(default=(), repr=False)
    auth: bool = True
    token_secret: bytes | None = field(default=None, repr=False)
    max_queue: int = 64
    session_timeout: float | None = 60.0
    default_buffering: int = 8
    emit_timings: bool = False
    batch: bool = False
    image_limits: ImageLimits = field(default_factory=ImageLimits)
    max_message_bytes: int = 12 * 1024 * 1024
    max_files: int = 512
    webhook_attempts: int = 5
    webhook_backoff: float = 0.5
    public_url: str | None = None
    own_backend: bool = False
    uploads: UploadLimits = field(default_factory=UploadLimits)
    generation_timeout: float | None = DEFAULT_GENERATION_TIMEOUT
    allowed_origins: Sequence[str] = ()
    webhook_allow: Sequence[str] = ()
    state_dir: str | None = None
    job_retention: float = 24 * 3600.0

    def __post_init__(self) -> None:
        if isinstance(self.keys, str | bytes):
            raise ValueError("keys: must be a list of 'id:secret' API keys, got one string; "
                             "wrap it in a list")
        object.__setattr__(self, "keys", tuple(self.keys))
        for name in ("allowed_origins", "webhook_allow"):
            value = getattr(self, name)
            if isinstance(value, str | bytes):
                raise ValueError(f"{name}: must be a list, got one string {value!r}; wrap it "
                                 "in a list")
            object.__setattr__(self, name, tuple(value))
        for origin in self.allowed_origins:
            if origin != "*" and not origin.startswith(("http://", "https://")):
                raise ValueError(f"allowed_origins: each must be '*' or an http(s)://host"
                                 f"[:port] origin, got {origin!r}")
        _networks("webhook_allow", self.webhook_allow)
        if not self.job_retention > 0:
            raise ValueError(f"job_retention: must be more than 0 seconds, "
                             f"got {self.job_retention}")
        object.__setattr__(self, "app_id", self.app_id.strip("/"))
        if len([p for p in self.app_id.split("/") if p]) < 2:
            raise ValueError(f"app_id: must look like 'owner/alias' (e.g. {DEFAULT_APP_ID!r}), "
                             f"got {self.app_id!r}")
        lo, hi = MAX_BUFFERING_RANGE
        if not lo <= self.default_buffering <= hi:
            raise ValueError(f"default_buffering: must be between {lo} and {hi}, "
                             f"got {self.default_buffering}")
        _at_least("max_queue", self.max_queue, 1)
        _at_least("max_message_bytes", self.max_message_bytes, 1)
        _at_least("max_files", self.max_files, 1)
        _at_least("webhook_attempts", self.webhook_attempts, 1)
        if not self.webhook_backoff >= 0:
            raise ValueError(f"webhook_backoff: must be at least 0 seconds, "
                             f"got {self.webhook_backoff}")
        for name in ("session_timeout", "generation_timeout"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name}: must be more than 0 seconds (or None), got {value}")
        if self.public_url is not None and not self.public_url.startswith(("http://",
                                                                           "https://")):
            raise ValueError(f"public_url: must be an http:// or https:// URL, "
                             f"got {self.public_url!r}")

    @property
    def alias(self) -> str:
        """The app alias (``fast-lcm-diffusion``)."""
        parts = self.app_id.split("/")
        return parts[2] if parts[0] in {"workflows", "comfy"} and len(parts) > 2 else parts[1]


def _networks(name: str, values: Sequence[str]) -> None:
    import ipaddress

    for v in values:
        try:
            ipaddress.ip_network(v, strict=False)
        except ValueError:
            raise ValueError(f"{name}: each must be an IP address or network such as "
                             f"'127.0.0.1' or '10.0.0.0/8', got {v!r}") from None


def _at_least(name: str, value: int, low: int) -> None:
    if not value >= low:
        raise ValueError(f"{name}: must be at least {low}, got {value}")
