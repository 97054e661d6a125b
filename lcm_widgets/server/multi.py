"""Several apps on one server: ``serve --app ID=MODEL --app ID=MODEL`` (docs/server.md,
"Several apps on one server").

Each app is a whole :func:`~.app.create_app` app with its own schema
(:func:`lcm_widgets.apps.app_schema`), backend, model worker, queue, realtime sessions and
job store; :class:`MultiApp` sends each request to the app its path names:

* ``/{app}``, ``/{app}/...`` and ``/queue/{app}``, ``/queue/{app}/...`` (HTTP and WebSocket)
  go to that app (the longest id that matches);
* everything else (``/tokens/``, ``/storage/...``, ``/files/{id}``, ``/health``,
  ``/openapi.json``, ``/docs``, unknown paths) goes to the first app, which shares with the
  others the keys and token secret, the image files, the uploads (:class:`~.state.
  SharedParts`) and the list ``/health`` shows under ``apps``; its ``/openapi.json``
  documents every app's paths, each with its own schemas (:func:`~.openapi.merge_openapi`).

Tokens stay per app: a token's ``allowed_apps`` names the apps it is valid for (the whole id,
or an alias, which names the app of this server with that alias), and each app checks its own.
The lifespan starts every app (their model workers) and stops them in reverse order.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from ..backends.base import Backend
from .app import create_app
from .auth import Authenticator
from .config import ServerConfig
from .files import FileStore
from .state import SharedParts
from .storage import UploadStore

__all__ = ["MultiApp", "create_multi_app"]


def create_multi_app(apps: Mapping[str, Backend] | Sequence[tuple[str, Backend]],
                     config: ServerConfig | None = None) -> MultiApp:
    """One server for several apps: ``{app_id: backend}`` (the first is the one that answers
    the shared routes), each configured as ``config`` says with its own ``app_id``.

    With ``state_dir``, each app keeps its jobs in ``DIR/<owner>/<alias>/`` (one app alone
    keeps them in ``DIR``, as :func:`~.app.create_app` does). Raises :class:`ValueError` for
    no app, an app id given twice, or a bad id (:class:`ServerConfig` checks it).
    """
    config = ServerConfig() if config is None else config
    pairs = list(apps.items()) if isinstance(apps, Mapping) else list(apps)
    if not pairs:
        raise ValueError("apps: must name at least one app, got none")
    configs: list[tuple[ServerConfig, Backend]] = []
    for app_id, backend in pairs:
        state_dir = (str(Path(config.state_dir) / app_id.strip("/"))
                     if config.state_dir else None)
        configs.append((dataclasses.replace(config, app_id=app_id, state_dir=state_dir),
                        backend))
    ids = [c.app_id for c, _ in configs]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ValueError(f"apps: each app id may be served once, got {dupes[0]!r} "
                         f"{ids.count(dupes[0])} times")
    shared = SharedParts(
        auth=Authenticator(config.keys, enabled=config.auth, secret=config.token_secret),
        files=FileStore(max_files=config.max_files), uploads=UploadStore(config.uploads))
    built = {c.app_id: create_app(backend, c, shared=shared) for c, backend in configs}
    return MultiApp(built, shared)


class MultiApp:
    """An ASGI app routing each request to the app its path names (module docstring).

    ``apps`` maps each endpoint id to its FastAPI app, in the order given; the first answers
    the shared routes.
    """

    def __init__(self, apps: dict[str, FastAPI], shared: SharedParts) -> None:
        self.apps = apps
        self.shared = shared
        self.primary = next(iter(apps.values()))
        self._openapi: dict[str, Any] | None = None
        self.primary.openapi = self.openapi  # type: ignore[method-assign]
        # longest first, so that 'owner/alias/path' wins over 'owner/alias'
        self._prefixes = sorted(((f"/{i}", a) for i, a in apps.items()),
                                key=lambda p: len(p[0]), reverse=True)

    def openapi(self) -> dict[str, Any]:
        """The document ``/openapi.json`` answers: every app's (:func:`~.openapi.
        merge_openapi`), built once."""
        if self._openapi is None:
            from .openapi import merge_openapi

            docs = [(i, _app_openapi(a)) for i, a in self.apps.items()]
            self._openapi = merge_openapi(docs)
        return self._openapi

    def app_for(self, path: str) -> FastAPI:
        """The app that serves ``path``."""
        tail = path[len("/queue"):] if path.startswith("/queue/") else path
        for prefix, app in self._prefixes:
            if tail == prefix or tail.startswith(prefix + "/"):
                return app
        return self.primary

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        await self.app_for(scope.get("path", ""))(scope, receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        await receive()  # lifespan.startup
        async with contextlib.AsyncExitStack() as stack:
            try:
                for app in self.apps.values():
                    await stack.enter_async_context(app.router.lifespan_context(app))
            except Exception as exc:
                await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
        await send({"type": "lifespan.shutdown.complete"})


def _app_openapi(app: FastAPI) -> dict[str, Any]:
    """One app's own document (create_app's builder, kept on the app before MultiApp replaced
    the first app's ``openapi``)."""
    return app.state.lcm_openapi()  # type: ignore[no-any-return]
