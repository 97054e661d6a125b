"""/openapi.json is true to the server: schemathesis against a real uvicorn on 127.0.0.1.

Bounded runs (a few hundred requests in all): every operation with schema-valid and with
schema-breaking inputs, then stateful sequences that follow the document's links (submit →
status / result / cancel). Checked: no 5xx, every status documented, every body and content
type as documented, schema-breaking input refused. Not checked: that every schema-valid input
is accepted, because some rules are not expressible in JSON Schema (an ``image_url`` must hold
a decodable image; ``num_inference_steps * strength`` must reach 1 for image-to-image); those
answer 422 naming the field, which the status and body checks do verify.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from server_helpers import APP, AUTH, KEY

from lcm_widgets.backends.echo import EchoBackend
from lcm_widgets.server import ServerConfig, ServerThread, create_app

schemathesis = pytest.importorskip("schemathesis")
hypothesis = pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402

#: What "the schema is true" excludes: see the module docstring.
EXCLUDED = [schemathesis.checks.positive_data_acceptance]
SETTINGS = dict(deadline=None, database=None, derandomize=True,
                suppress_health_check=list(HealthCheck), phases=[Phase.generate])


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    with ServerThread(create_app(EchoBackend(), ServerConfig(keys=[KEY]))) as srv:
        yield srv


@pytest.fixture(scope="module")
def schema(server: ServerThread) -> Any:
    # 413 (a body over its route's cap, as a long negative allowed_apps list can be) is a
    # refusal too; schemathesis's default list of refusals lacks it
    refusals = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428",
                "429"]
    config = schemathesis.config.SchemathesisConfig.from_dict(
        {"checks": {"negative_data_rejection": {"expected-statuses": refusals}}})
    return schemathesis.openapi.from_url(server.url + "/openapi.json", config=config)


def test_the_document_says_what_the_routes_answer(server: ServerThread) -> None:
    """The shapes issue #12 found wrong: submit answers QueueSubmitted (with links), status
    and result document 404 and 400, /tokens/ has a body, /files is an image, the realtime
    paths are no HTTP operation, and the answer to a boolean given as 0 is a 422."""
    spec = httpx.get(server.url + "/openapi.json").json()
    submit = spec["paths"][f"/queue/{APP}"]["post"]["responses"]
    assert submit["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/QueueSubmitted")
    assert set(submit["200"]["links"]) == {"status", "result", "cancel"}
    result = spec["paths"][f"/queue/{APP}/requests/{{request_id}}"]["get"]["responses"]
    assert {"200", "400", "401", "404", "500", "504"} <= set(result)
    tokens = spec["paths"]["/tokens/"]["post"]
    assert tokens["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/TokenRequest")
    assert "image/jpeg" in spec["paths"]["/files/{file_id}"]["get"]["responses"]["200"][
        "content"]
    realtime = spec["paths"][f"/{APP}/realtime"]
    assert "get" not in realtime and realtime["x-fal-protocol"]["type"] == "realtime"
    r = httpx.post(f"{server.url}/{APP}", json={"prompt": "x", "expand_prompt": 0},
                   headers=AUTH)
    assert r.status_code == 422
    assert r.json()["detail"][0]["msg"] == "expand_prompt: must be true or false, got 0"


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_answers_as_documented(schema: Any, mode: Any) -> None:
    """Up to 12 generated requests per operation and mode, each validated."""
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=12, **SETTINGS)  # type: ignore[arg-type]
        def check(case: Any) -> None:
            nonlocal calls
            calls += 1
            case.call_and_validate(headers=AUTH, excluded_checks=EXCLUDED)

        try:
            check()
        except Unsatisfiable:  # nothing to break (no parameters, no body): nothing to send
            assert mode is GenerationMode.NEGATIVE
    assert calls >= 60


def test_stateful_sequences_follow_the_links(schema: Any) -> None:
    """Sequences of up to 6 calls along the links (submit, then its status, result,
    cancel), 25 of them."""
    calls = 0

    class Machine(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            nonlocal calls
            calls += 1
            return {"headers": AUTH}

        def validate_response(self, response: Any, case: Any,
                              additional_checks: Any = None, **kwargs: Any) -> None:
            case.validate_response(response, additional_checks=additional_checks,
                                   excluded_checks=EXCLUDED, transport_kwargs=kwargs)

    Machine.run(settings=settings(max_examples=25, stateful_step_count=6,  # type: ignore[arg-type]
                                  **SETTINGS))
    assert calls >= 25


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_turbo_app_runs_answer_as_documented(mode: Any) -> None:
    """The turbo app's document (its own Input: 1..4 steps, its Output without `prompt`):
    up to 8 generated requests per sync-run operation and mode, each validated."""
    turbo = "fal-ai/fast-turbo-diffusion"
    config = ServerConfig(app_id=turbo, keys=[KEY])
    with ServerThread(create_app(EchoBackend(), config)) as srv:
        spec = schemathesis.openapi.from_url(srv.url + "/openapi.json")
        calls = 0
        for result in spec.get_all_operations():
            operation = result.ok()
            if operation.method.upper() != "POST" or operation.path not in (
                    f"/{turbo}", f"/{turbo}/image-to-image"):
                continue

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=8, **SETTINGS)  # type: ignore[arg-type]
            def check(case: Any) -> None:
                nonlocal calls
                calls += 1
                case.call_and_validate(headers=AUTH, excluded_checks=EXCLUDED)

            check()
    assert calls >= 10
