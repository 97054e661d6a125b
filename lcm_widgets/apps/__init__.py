"""The fal apps the server speaks: one schema per app, looked up by endpoint id.

=================================  =====================================  ==================
app (endpoint id)                  schema module                          output drops
=================================  =====================================  ==================
``fal-ai/fast-lcm-diffusion``      :mod:`lcm_widgets.schema` (``Input``)  nothing
``fal-ai/fast-turbo-diffusion``    :mod:`lcm_widgets.apps.turbo`          ``prompt``
=================================  =====================================  ==================

Any other endpoint id (``--app me/my-lcm``) is served with the LCM schema, as before there
were several. Each app's ``/inpainting`` sub-path takes the app's schema with ``image_url``
and ``mask_url`` required (:mod:`lcm_widgets.apps.inpainting`, derived, not copied); its other
paths ignore a ``mask_url``, as fal ignores fields an endpoint does not have. Every app's request becomes the library's :class:`~lcm_widgets.schema.Input`
(what every backend takes) through :meth:`AppSchema.parse`; its answer is shaped by
:attr:`AppSchema.output_drop`. Importing this package imports pydantic only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from ..schema import Input, Output, parse_input, validate_model
from .inpainting import INPAINTING, inpainting_input
from .turbo import TURBO_APP_ID, TurboInput, TurboOutput

__all__ = ["INPAINTING", "LCM_APP", "TURBO_APP", "AppSchema", "app_schema", "backend_schema"]


@dataclass(frozen=True)
class AppSchema:
    """One fal app's request and answer shapes.

    ``input_model``/``output_model`` are what ``/openapi.json`` documents; ``convert`` turns a
    validated ``input_model`` into an :class:`~lcm_widgets.schema.Input`; ``output_drop`` names
    the :class:`~lcm_widgets.schema.Output` fields this app's answers leave out;
    ``inpainting_model`` is the ``/inpainting`` sub-path's input (:func:`.inpainting_input` of
    ``input_model``), converted by the same ``convert``.
    """

    name: str
    input_model: type[BaseModel]
    output_model: type[BaseModel]
    convert: Callable[[Any], Input]
    output_drop: frozenset[str] = frozenset()
    inpainting_model: type[BaseModel] | None = None

    def parse(self, data: Any, subpath: str | None = None) -> Input:
        """Validate a dict of request fields with this app's schema; the library's Input.

        ``subpath`` is the server's sub-path: ``"inpainting"`` validates with
        :attr:`inpainting_model` (``image_url`` and ``mask_url`` required); any other drops a
        ``mask_url`` before validating (a field those endpoints do not have is ignored, never
        checked, never passed on); None (the library itself) keeps every field. Raises
        :class:`~lcm_widgets.errors.InvalidInput` naming each bad field."""
        if subpath == INPAINTING and self.inpainting_model is not None:
            return self.convert(validate_model(self.inpainting_model, data))
        if subpath is not None and isinstance(data, dict) and "mask_url" in data:
            data = {k: v for k, v in data.items() if k != "mask_url"}
        elif subpath is not None and isinstance(data, Input) and data.mask_url is not None:
            data = data.model_copy(update={"mask_url": None})
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


def _as_input(inp: Input) -> Input:
    """An :class:`Input` of exactly that class (the inpainting model is a subclass)."""
    if type(inp) is Input:
        return inp
    return Input.model_validate({name: getattr(inp, name) for name in Input.model_fields})


LCM_APP = AppSchema("fast-lcm-diffusion", Input, Output, convert=_as_input,
                    inpainting_model=inpainting_input(Input))
TURBO_APP = AppSchema("fast-turbo-diffusion", TurboInput, TurboOutput,
                      convert=lambda inp: inp.to_input(), output_drop=frozenset({"prompt"}),
                      inpainting_model=inpainting_input(TurboInput))

_BY_ID = {TURBO_APP_ID: TURBO_APP}


def app_schema(app_id: str) -> AppSchema:
    """The schema of endpoint ``app_id`` (``owner/alias[/path]``): the turbo one for
    ``fal-ai/fast-turbo-diffusion``, the LCM one for anything else."""
    return _BY_ID.get(app_id.strip("/"), LCM_APP)


def backend_schema(backend: Any) -> AppSchema:
    """The schema of the app ``backend`` speaks (its ``info.app``; the LCM one for a backend
    whose info does not say)."""
    return app_schema(str(getattr(getattr(backend, "info", None), "app", "") or ""))
