"""A fal-compatible server for any :class:`~lcm_widgets.backends.base.Backend`.

It speaks fal's ``fast-lcm-diffusion`` protocols (docs/server.md) so that the official
``@fal-ai/client`` and ``fal_client`` work against it unchanged, pointed at its URLs:

* sync REST ``POST /{app}[/image-to-image]``, queue under ``/queue/{app}/...``,
* the realtime WebSocket ``/{app}/realtime``, token mint ``POST /tokens/``,
* ``GET /files/{id}``, ``/health``, ``/openapi.json``.

``create_app(backend, ServerConfig(...))`` builds the app; ``create_multi_app({app_id:
backend, ...}, ServerConfig(...))`` serves several apps (each with its own schema,
:mod:`lcm_widgets.apps`) on one server; :class:`ServerThread` runs either on a background
thread.

Importing this package imports FastAPI and uvicorn (``pip install lcm-widgets[server]``);
``import lcm_widgets`` does not import it.
"""

from __future__ import annotations

from .._extras import need as _need

_need("server", "fastapi", "uvicorn", "websockets", "httpx", what="lcm_widgets.server")

from .app import create_app  # noqa: E402  (after the check: a missing extra names itself)
from .auth import Authenticator, keys_from_env, keys_from_file  # noqa: E402
from .background import ServerThread  # noqa: E402
from .config import DEFAULT_APP_ID, ServerConfig  # noqa: E402
from .inputs import ImageLimits  # noqa: E402
from .multi import MultiApp, create_multi_app  # noqa: E402

__all__ = [
    "DEFAULT_APP_ID",
    "Authenticator",
    "ImageLimits",
    "MultiApp",
    "ServerConfig",
    "ServerThread",
    "create_app",
    "create_multi_app",
    "keys_from_env",
    "keys_from_file",
]
