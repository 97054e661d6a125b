"""``/openapi.json`` true to the server: what each route really answers (docs/server.md,
"OpenAPI"). FastAPI's generated document is finished here:

* the ``Input``/``Output`` schemas, and the shapes the queue really returns (``QueueSubmitted``
  for a submit, ``QueueStatus`` for status and its stream), with OpenAPI links from a submit to
  its status, result and cancel (a stateful tester follows them);
* every status a route can answer, with the body it has: the guard's 403/413/415, auth's 401,
  404 for unknown (or another key's) ids, 400 for a result asked too early or a finished job's
  cancel, 422 validation, 429 a full queue, 500/504 a failed or timed-out generation;
* ``POST /tokens/``'s body (``TokenRequest``) and its answer (the token, a JSON string);
* ``GET /files/{id}`` answering image bytes, not JSON;
* server-sent events described per event (``data``, ``event``, ``id``);
* the realtime paths as ``x-fal-protocol`` entries without an HTTP operation (a WebSocket is
  no GET; a plain GET there is a 404);
* each sub-path's own body: ``ImageToImageInput`` (``image_url`` required) and
  ``InpaintingInput`` (the app's inpainting schema: ``image_url`` and ``mask_url`` required).

With several apps on one server (:mod:`.multi`), :func:`merge_openapi` joins the apps'
documents into one: every app's paths, each with its own schemas (a schema that differs from
the first app's, or refers to one that does, is renamed with the app's prefix, e.g.
``FalAiFastTurboDiffusionInput``).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from ..schema import Input, Output
from .guard import MAX_JSON_DEPTH, TOKEN_BODY_LIMIT
from .inputs import SUBPATHS

__all__ = ["finish_openapi", "merge_openapi"]

_ERROR = {"$ref": "#/components/schemas/Error"}
#: the sub-paths whose body is not the plain Input: (path part, schema name)
_SUB_BODIES = (("/image-to-image", "ImageToImageInput"), ("/inpainting", "InpaintingInput"))
_VALIDATION = {"$ref": "#/components/schemas/HTTPValidationError"}

_COMPONENTS: dict[str, Any] = {
    "Error": {
        "type": "object", "title": "Error", "required": ["detail"],
        "properties": {"detail": {"anyOf": [{"type": "string"}, {"type": "array"}]},
                       "error_type": {"type": "string"}, "status": {"type": "string"}},
        "description": "An error answer: detail says what went wrong; error_type is the row "
                       "of the error table (docs/architecture.md).",
    },
    "CancelAnswer": {
        "type": "object", "title": "CancelAnswer", "required": ["status"],
        "properties": {"status": {"type": "string", "enum": [
            "CANCELLATION_REQUESTED", "ALREADY_COMPLETED", "NOT_FOUND"]}},
    },
    "QueueSubmitted": {
        "type": "object", "title": "QueueSubmitted",
        "required": ["request_id", "response_url", "status_url", "cancel_url", "status",
                     "queue_position"],
        "properties": {"request_id": {"type": "string"},
                       "response_url": {"type": "string"}, "status_url": {"type": "string"},
                       "cancel_url": {"type": "string"},
                       "status": {"type": "string", "enum": ["IN_QUEUE"]},
                       "queue_position": {"type": "integer", "minimum": 0}},
    },
    "QueueStatus": {
        "type": "object", "title": "QueueStatus", "required": ["status", "request_id"],
        "properties": {
            "status": {"type": "string", "enum": ["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]},
            "request_id": {"type": "string"}, "response_url": {"type": "string"},
            "status_url": {"type": "string"}, "cancel_url": {"type": "string"},
            "queue_position": {"type": "integer", "minimum": 0},
            "logs": {"anyOf": [{"type": "array", "items": {"type": "object"}},
                               {"type": "null"}]},
            "metrics": {"type": "object"}, "error": {"type": "string"},
            "error_type": {"type": ["string", "null"]}},
    },
    "TokenRequest": {
        "type": "object", "title": "TokenRequest", "required": ["allowed_apps"],
        "properties": {
            "allowed_apps": {"type": "array", "minItems": 1, "maxItems": 32, "items": {
                "type": "string", "minLength": 1, "maxLength": 200}, "description":
                "app ids (owner/alias, matched exactly) or bare aliases of this server's app"},
            "token_expiration": {"type": "integer", "minimum": 1, "maximum": 86400,
                                 "default": 120}},
    },
    "ServerSentEvent": {
        "type": "object", "title": "ServerSentEvent",
        "properties": {"data": {"type": "string"}, "event": {"type": "string"},
                       "id": {"type": "string"}, "retry": {"type": "integer"}},
    },
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _err(description: str) -> dict[str, Any]:
    return _json(_ERROR, description)


def finish_openapi(schema: dict[str, Any], app_id: str, *, auth: bool,
                   models: tuple[type[BaseModel], type[BaseModel]] = (Input, Output),
                   inpainting: type[BaseModel] | None = None) -> dict[str, Any]:
    """Make FastAPI's document for our app say what the server answers (in place).
    ``models`` are the app's input and output schemas (:mod:`lcm_widgets.apps`), documented
    as ``Input`` and ``Output``; ``inpainting`` is its ``/inpainting`` input, documented as
    ``InpaintingInput`` (the LCM app's when left out)."""
    if inpainting is None:
        from ..apps import LCM_APP

        inpainting = LCM_APP.inpainting_model
    comps = schema.setdefault("components", {}).setdefault("schemas", {})
    named = (("Input", models[0]), ("Output", models[1]), ("InpaintingInput", inpainting))
    for name, model in named:
        if model is None:
            continue
        js = model.model_json_schema(ref_template="#/components/schemas/{model}")
        comps.update(js.pop("$defs", {}))
        js["title"] = name
        comps[name] = js
    comps.update(_COMPONENTS)
    for side in ("width", "height"):  # checked by a validator, so pydantic does not say it
        comps["ImageSize"]["properties"][side]["multipleOf"] = 8
    comps["ImageToImageInput"] = {"allOf": [{"$ref": "#/components/schemas/Input"}],
                                  "required": ["image_url"], "title": "ImageToImageInput"}
    paths: dict[str, Any] = schema.setdefault("paths", {})
    runs = {f"/{app_id}" + (f"/{s}" if s else "") for s in SUBPATHS}
    submits = {"/queue" + p for p in runs}
    req = f"/queue/{app_id}/requests/{{request_id}}"
    for path, item in paths.items():
        for method, op in item.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            _common(op, method.upper(), path, auth=auth)
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            sub = next((n for t, n in _SUB_BODIES if t in path), None)
            if sub and body.get("schema", {}).get("$ref", "").endswith("/Input"):
                # a new dict: FastAPI shares openapi_extra between routes
                op["requestBody"] = {"required": True, "content": {"application/json": {
                    "schema": {"$ref": f"#/components/schemas/{sub}"}}}}
            r = op["responses"]
            if path in submits:
                r["200"] = _json({"$ref": "#/components/schemas/QueueSubmitted"},
                                 "Accepted: where to read its status and result")
                r["200"]["links"] = {
                    name: {"operationId": target, "parameters": {
                        "request_id": "$response.body#/request_id"}}
                    for name, target in (("status", _op_id(paths, req + "/status", "get")),
                                         ("result", _op_id(paths, req, "get")),
                                         ("cancel", _op_id(paths, req + "/cancel", "put")))
                    if target}
            if path in runs or path in submits or (path.endswith("/stream") and \
                    path.startswith(f"/{app_id}")):
                r["429"] = _err("The queue is full (max_queue); retry later (Retry-After)")
            if path in runs or path == req:
                r["500"] = _err("The model failed (error_type generation_failed)")
                r["504"] = _err("The generation took longer than generation_timeout")
            if path == req:
                r["200"] = _json({"$ref": "#/components/schemas/Output"}, "The output")
                r["400"] = _err("Not finished yet (poll its status), or it was cancelled")
                r["422"] = _json(_VALIDATION, "The job's input was refused")
            if path == req + "/status":
                r["200"] = _json({"$ref": "#/components/schemas/QueueStatus"}, "Its status")
            if path == req + "/status/stream" or "text/event-stream" in str(r.get("200")):
                r["200"] = {"description": "Server-sent events", "content": {
                    "text/event-stream": {"schema": {
                        "$ref": "#/components/schemas/ServerSentEvent"}}}}
            if path == req + "/cancel":
                answer = {"$ref": "#/components/schemas/CancelAnswer"}
                r.pop("200", None)
                r["202"] = _json(answer, "Cancellation requested (a running job is stopped)")
                r["400"] = _json(answer, "ALREADY_COMPLETED")
                r["404"] = _json(answer, "NOT_FOUND (unknown, forgotten or another key's)")
            if path.rstrip("/") == "/tokens":
                op["requestBody"] = {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/TokenRequest"}}}}
                op["description"] = (f"Body at most {TOKEN_BODY_LIMIT} bytes. Needs an API "
                                     "key (a token cannot mint tokens).")
                r["201"] = _json({"type": "string"}, "The token (a JWT), as a JSON string")
            if path == "/files/{file_id}":
                r["200"] = {"description": "The image", "content": {
                    t: {"schema": {"type": "string", "format": "binary"}}
                    for t in ("image/jpeg", "image/png", "image/webp")}}
    for subpath in SUBPATHS:  # a WebSocket is no HTTP operation: a protocol entry only
        path = f"/{app_id}" + (f"/{subpath}" if subpath else "") + "/realtime"
        item = paths.get(path, {})
        item.pop("get", None)
        item["description"] = ("Realtime WebSocket (not an HTTP operation): msgpack Input "
                               "frames in, Output frames out. Query: fal_jwt_token, "
                               "max_buffering (1..60). Errors arrive as text frames "
                               '{"type":"x-fal-error","error":CODE,"reason":...}.')
        paths[path] = item
    return schema


def merge_openapi(docs: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """One document for several apps' documents ``[(app_id, doc)]`` (the first also holds the
    shared routes): the first document, plus each other app's own paths (``/{app}...`` and
    ``/queue/{app}...``) and schemas; a schema of a later app that differs from the first's of
    the same name, or refers to such a one, is added under the app's prefix and the app's
    paths refer to it there. The documents are not modified."""
    import copy

    out = copy.deepcopy(docs[0][1])
    comps: dict[str, Any] = out.setdefault("components", {}).setdefault("schemas", {})
    described = [out.get("info", {}).get("description", "")]
    for app_id, doc in docs[1:]:
        theirs: dict[str, Any] = doc.get("components", {}).get("schemas", {})
        clash = {n for n, sch in theirs.items() if n in comps and comps[n] != sch}
        grown = True
        while grown:  # a schema referring to a renamed one is renamed too
            more = {n for n, sch in theirs.items() if n in comps and n not in clash
                    and _refs(sch) & clash}
            grown = bool(more)
            clash |= more
        prefix = "".join(w.capitalize() for w in re.split(r"[^A-Za-z0-9]+", app_id) if w)
        names = {n: prefix + n for n in clash}
        for n, sch in theirs.items():
            comps.setdefault(names.get(n, n), _renamed(sch, names))
        for path, item in doc.get("paths", {}).items():
            if _of_app(path, app_id):
                out["paths"][path] = _renamed(item, names)
        described.append(doc.get("info", {}).get("description", ""))
    out.setdefault("info", {})["description"] = "; ".join(d for d in described if d)
    return out


_REF = "#/components/schemas/"


def _refs(node: Any) -> set[str]:
    """The schema names ``node`` refers to (``$ref`` anywhere inside)."""
    if isinstance(node, dict):
        found = {node["$ref"][len(_REF):]} if str(node.get("$ref", "")).startswith(_REF) \
            else set()
        for v in node.values():
            found |= _refs(v)
        return found
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node)) if node else set()
    return set()


def _renamed(node: Any, names: dict[str, str]) -> Any:
    """A copy of ``node`` whose ``$ref``s to ``names`` point to their new names."""
    if isinstance(node, dict):
        out = {k: _renamed(v, names) for k, v in node.items()}
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF) and ref[len(_REF):] in names:
            out["$ref"] = _REF + names[ref[len(_REF):]]
        return out
    if isinstance(node, list):
        return [_renamed(v, names) for v in node]
    return node


def _of_app(path: str, app_id: str) -> bool:
    tail = path[len("/queue"):] if path.startswith("/queue/") else path
    return tail == f"/{app_id}" or tail.startswith(f"/{app_id}/")


def _op_id(paths: dict[str, Any], path: str, method: str) -> str | None:
    op = paths.get(path, {}).get(method)
    return op.get("operationId") if isinstance(op, dict) else None


def _common(op: dict[str, Any], method: str, path: str, *, auth: bool) -> None:
    """The answers of the layers in front of every route (guard, auth, validation)."""
    r = op["responses"]
    public = path in {"/health", "/files/{file_id}"}
    if auth and not public:
        r.setdefault("401", _err("Missing, unknown or expired credentials"))
    if "{" in path:
        r.setdefault("404", _err("Unknown (or another key's) id"))
    if method in {"POST", "PUT", "PATCH", "DELETE"}:
        r.setdefault("403", _err("A browser Origin that is not allowed "
                                 "(error_type origin_not_allowed)"))
        r.setdefault("413", _err("The body is over the route's limit "
                                 "(error_type payload_too_large)"))
    if "requestBody" in op or path.rstrip("/") == "/tokens":
        r.setdefault("415", _err("The body is not application/json (or msgpack)"))
        r["422"] = _json(_VALIDATION, f"Invalid input (also: not JSON, nested deeper than "
                                      f"{MAX_JSON_DEPTH} levels); detail lists "
                                      "{loc, msg, type}")
    elif method in {"POST", "PUT"}:
        r.setdefault("415", _err("The body's media type is not accepted"))
        r.setdefault("422", _json(_VALIDATION, "Invalid input"))
