"""The objects every route shares (:class:`ServerState`); the knobs are in :mod:`.config`."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..apps import LCM_APP, AppSchema
from ..backends.base import Backend
from .auth import Authenticator
from .config import DEFAULT_APP_ID, ServerConfig
from .files import FileStore
from .jobs import JobQueue
from .scheduler import Scheduler
from .storage import UploadStore
from .webhooks import WebhookSender

__all__ = ["DEFAULT_APP_ID", "ServerConfig", "ServerState", "SharedParts"]


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
    #: the app's request and answer shapes (:func:`lcm_widgets.apps.app_schema` of its id)
    schema: AppSchema = LCM_APP
    #: every app of this server, this one included (``/health`` lists them)
    peers: list[ServerState] = field(default_factory=list)
    #: More for ``/health`` (the Ray Serve ingress lists its model replicas).
    health_extra: Callable[[], Awaitable[dict[str, Any]]] | None = None

    def base_url(self, request_base: str) -> str:
        """The public http base URL for links (``public_url`` or the request's own base)."""
        if self.config.public_url:
            return self.config.public_url.rstrip("/") + "/"
        if request_base.startswith("ws"):
            request_base = "http" + request_base[2:]
        return request_base


@dataclass(eq=False)
class SharedParts:
    """What the apps of one multi-app server share (:func:`~.multi.create_multi_app`): the
    keys and the token secret (a token names the apps it is valid for), the image files of
    ``sync_mode: false`` answers, the uploads, and the list of apps ``/health`` shows."""

    auth: Authenticator
    files: FileStore
    uploads: UploadStore
    states: list[ServerState] = field(default_factory=list)
