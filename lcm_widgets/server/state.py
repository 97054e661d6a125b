"""The objects every route shares (:class:`ServerState`); the knobs are in :mod:`.config`."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..backends.base import Backend
from .auth import Authenticator
from .config import DEFAULT_APP_ID, ServerConfig
from .files import FileStore
from .jobs import JobQueue
from .scheduler import Scheduler
from .storage import UploadStore
from .webhooks import WebhookSender

__all__ = ["DEFAULT_APP_ID", "ServerConfig", "ServerState"]


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
    uploads: UploadStore = field(default_factory=UploadStore)  # routes_storage configures it
    sessions: int = 0
    sessions_total: int = 0
    frames_dropped: int = 0
    started: float = field(default_factory=time.time)
    #: More for ``/health`` (the Ray Serve ingress lists its model replicas).
    health_extra: Callable[[], Awaitable[dict[str, Any]]] | None = None

    def base_url(self, request_base: str) -> str:
        """The public http base URL for links (``public_url`` or the request's own base)."""
        if self.config.public_url:
            return self.config.public_url.rstrip("/") + "/"
        if request_base.startswith("ws"):
            request_base = "http" + request_base[2:]
        return request_base
