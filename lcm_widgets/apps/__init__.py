"""The fal apps the server speaks: one schema per app, looked up by endpoint id.

=================================  =====================================  ==================
app (endpoint id)                  schema module                          output drops
=================================  =====================================  ==================
``fal-ai/fast-lcm-diffusion``      :mod:`lcm_widgets.schema` (``Input``)  nothing
``fal-ai/fast-turbo-diffusion``    :mod:`lcm_widgets.apps.turbo`          ``prompt``
=================================  =====================================  ==================

Any other endpoint id (``--app me/my-lcm``) is served with the LCM schema, as before there
were several. Every app's request becomes the library's :class:`~lcm_widgets.schema.Input`
(what every backend takes) through :meth:`AppSchema.parse`; its answer is shaped by
:attr:`AppSchema.output_drop`. Importing this package imports pydantic only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from ..schema import Input, Output, parse_input, validate_model
from .turbo import TURBO_APP_ID, TurboInput, TurboOutput

__all__ = ["LCM_APP", "TURBO_APP", "AppSchema", "app_schema", "backend_schema"]


@dataclass(frozen=True)
class AppSchema:
    """One fal app's request and answer shapes.

    ``input_model``/``output_model`` are what ``/openapi.json`` documents; ``convert`` turns a
    validated ``input_model`` into an :class:`~lcm_widgets.schema.Input`; ``output_drop`` names
    the :class:`~lcm_widgets.schema.Output` fields this app's answers leave out.
    """

    name: str
    input_model: type[BaseModel]
    output_model: type[BaseModel]
    convert: Callable[[Any], Input]
    output_drop: frozenset[str] = frozenset()

    def parse(self, data: Any) -> Input:
        """Validate a dict of request fields with this app's schema; the library's Input.
        Raises :class:`~lcm_widgets.errors.InvalidInput` naming each bad field."""
        if isinstance(data, Input) and self.input_model is Input:
            return data
        return self.convert(validate_model(self.input_model, data))

    def validate(self, data: Mapping[str, Any]) -> Input:
        """``data`` checked with this app's limits and defaults, as the library's Input *whole*:
        the fields this app's schema lacks (the ControlNet and LoRA extensions, ``format``) are
        kept as :class:`~lcm_widgets.schema.Input` reads them, where :meth:`parse` drops them.
        What a widget sends a backend of this app (the Compare's cells, the Studio's params).
        Raises :class:`~lcm_widgets.errors.InvalidInput` with this app's limits."""
        if self.input_model is Input:
            return parse_input(dict(data))
        own = self.parse(dict(data)).model_dump(exclude_unset=True)
        return parse_input({**data, **own})


LCM_APP = AppSchema("fast-lcm-diffusion", Input, Output, convert=lambda inp: inp)
TURBO_APP = AppSchema("fast-turbo-diffusion", TurboInput, TurboOutput,
                      convert=lambda inp: inp.to_input(), output_drop=frozenset({"prompt"}))

_BY_ID = {TURBO_APP_ID: TURBO_APP}


def app_schema(app_id: str) -> AppSchema:
    """The schema of endpoint ``app_id`` (``owner/alias[/path]``): the turbo one for
    ``fal-ai/fast-turbo-diffusion``, the LCM one for anything else."""
    return _BY_ID.get(app_id.strip("/"), LCM_APP)


def backend_schema(backend: Any) -> AppSchema:
    """The schema of the app ``backend`` speaks (its ``info.app``; the LCM one for a backend
    whose info does not say)."""
    return app_schema(str(getattr(getattr(backend, "info", None), "app", "") or ""))
