"""``ServerConfig``: every knob in one validated value; ``create_app`` and ``serve`` use it."""

from __future__ import annotations

from typing import Any

import pytest

from lcm_widgets.backends.echo import EchoBackend
from lcm_widgets.server import DEFAULT_APP_ID, ImageLimits, ServerConfig, create_app


@pytest.mark.parametrize(("fields", "message"), [
    ({"default_buffering": 0}, "default_buffering: must be between 1 and 60, got 0"),
    ({"default_buffering": 61}, "default_buffering: must be between 1 and 60, got 61"),
    ({"max_queue": 0}, "max_queue: must be at least 1, got 0"),
    ({"max_message_bytes": 0}, "max_message_bytes: must be at least 1, got 0"),
    ({"max_files": -1}, "max_files: must be at least 1, got -1"),
    ({"webhook_attempts": 0}, "webhook_attempts: must be at least 1, got 0"),
    ({"webhook_backoff": -0.5}, "webhook_backoff: must be at least 0 seconds, got -0.5"),
    ({"session_timeout": 0}, "session_timeout: must be more than 0 seconds (or None), got 0"),
    ({"generation_timeout": -1.0},
     "generation_timeout: must be more than 0 seconds (or None), got -1.0"),
    ({"public_url": "example.com"},
     "public_url: must be an http:// or https:// URL, got 'example.com'"),
    ({"app_id": "fast-lcm-diffusion"},
     "app_id: must look like 'owner/alias' (e.g. 'fal-ai/fast-lcm-diffusion'), got "
     "'fast-lcm-diffusion'"),
    ({"keys": "id:secret"}, "keys: must be a list of 'id:secret' API keys, got one string"),
    ({"allowed_origins": "https://app.example"},
     "allowed_origins: must be a list, got one string 'https://app.example'"),
    ({"allowed_origins": ["app.example"]},
     "allowed_origins: each must be '*' or an http(s)://host[:port] origin, got 'app.example'"),
    ({"webhook_allow": ["10.0.0.0/33"]},
     "webhook_allow: each must be an IP address or network such as '127.0.0.1' or "
     "'10.0.0.0/8', got '10.0.0.0/33'"),
    ({"job_retention": 0}, "job_retention: must be more than 0 seconds, got 0"),
])
def test_bad_values_name_the_field_the_limit_and_the_value(fields: dict[str, Any],
                                                           message: str) -> None:
    """Each out-of-range knob is refused when the config is built, in the usual words."""
    with pytest.raises(ValueError) as info:
        ServerConfig(**fields)
    assert str(info.value).startswith(message), str(info.value)


def test_image_limits_are_checked_too() -> None:
    """A zero or empty image limit names itself."""
    with pytest.raises(ValueError, match=r"image_limits\.max_side: must be at least 1, got 0"):
        ImageLimits(max_side=0)
    with pytest.raises(ValueError, match=r"image_limits\.formats: must name at least one"):
        ImageLimits(formats=())


def test_defaults_normalisation_and_secrets_kept_out_of_repr() -> None:
    """Defaults match the CLI's; keys become a tuple; app_id loses its slashes; repr hides the
    keys and the token secret."""
    cfg = ServerConfig(app_id="/me/my-app/", keys=["id:very-secret"], token_secret=b"s3cret")
    assert cfg.app_id == "me/my-app" and cfg.alias == "my-app"
    assert cfg.keys == ("id:very-secret",)
    assert "very-secret" not in repr(cfg) and "s3cret" not in repr(cfg)
    default = ServerConfig()
    assert (default.app_id, default.max_queue, default.default_buffering,
            default.session_timeout, default.batch) == (DEFAULT_APP_ID, 64, 8, 60.0, False)


def test_create_app_takes_a_config() -> None:
    """create_app(backend, config) uses it as is; a variant made with dataclasses.replace is
    validated the same way; anything but a ServerConfig is refused by name."""
    import dataclasses

    cfg = ServerConfig(keys=["a:b"], max_queue=3, batch=True)
    app = create_app(EchoBackend(), cfg)
    assert app.state.lcm.config is cfg and app.state.lcm.jobs.max_queue == 3
    assert app.state.lcm.scheduler.batch is True
    other = create_app(EchoBackend(), dataclasses.replace(cfg, max_queue=5, auth=False))
    assert other.state.lcm.config == ServerConfig(keys=["a:b"], max_queue=5, batch=True,
                                                  auth=False)
    with pytest.raises(ValueError, match="max_queue: must be at least 1, got 0"):
        dataclasses.replace(cfg, max_queue=0)
    with pytest.raises(TypeError, match="config: expected a ServerConfig, got dict"):
        create_app(EchoBackend(), {"max_queue": 5})  # type: ignore[arg-type]


def test_serve_refuses_a_bad_flag_before_loading_a_model(capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    """``serve --max-buffering 99`` exits 2 naming the limit and the value; nothing starts."""
    from lcm_widgets.cli import main

    assert main(["serve", "--model", "echo", "--no-auth", "--max-buffering", "99"]) == 2
    err = capsys.readouterr().err
    assert "lcm-widgets serve: error: default_buffering: must be between 1 and 60, got 99" in err
