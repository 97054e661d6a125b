"""The server's configuration and the objects every route shares."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..backends.base import Backend
from .auth import Authenticator
from .files import FileStore
from .inputs import ImageLimits
from .jobs import JobQueue
from .scheduler import Scheduler
from .webhooks import WebhookSender

__all__ = ["DEFAULT_APP_ID", "ServerConfig", "ServerState"]

DEFAULT_APP_ID = "fal-ai/fast-lcm-diffusion"


@dataclass(frozen=True)
class ServerConfig:
    """Knobs of :func:`~lcm_widgets.server.create_app` (see its docstring)."""

    app_id: str = DEFAULT_APP_ID
    max_queue: int = 64
    session_timeout: float | None = 60.0
    default_buffering: int = 8
    emit_timings: bool = False
    batch: bool = False
    max_message_bytes: int = 12 * 1024 * 1024
    image_limits: ImageLimits = field(default_factory=ImageLimits)
    public_url: str | None = None

    @property
    def alias(self) -> str:
        """The app alias (``fast-lcm-diffusion``), the name tokens are scoped to."""
        parts = self.app_id.split("/")
        return parts[2] if parts[0] in {"workflows", "comfy"} and len(parts) > 2 else parts[1]


@dataclass(eq=False)
class ServerState:
    """Everything a route needs; one per app."""

    config: ServerConfig
    backend: Backend
    auth: Authenticator
    scheduler: Scheduler
    files: FileStore
    jobs: JobQueue
    webhooks: WebhookSender
    own_backend: bool = False
    sessions: int = 0
    sessions_total: int = 0
    frames_dropped: int = 0
    started: float = field(default_factory=time.time)

    def base_url(self, request_base: str) -> str:
        """The public http base URL for links (``public_url`` or the request's own base)."""
        if self.config.public_url:
            return self.config.public_url.rstrip("/") + "/"
        if request_base.startswith("ws"):
            request_base = "http" + request_base[2:]
        return request_base
