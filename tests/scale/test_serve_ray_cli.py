"""``lcm-widgets serve --ray`` flags and ``--print-config``, without a cluster."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from lcm_widgets.cli import main

yaml = pytest.importorskip("yaml")  # pyyaml: ray brings it, and so does jupyter


@pytest.mark.parametrize(("flags", "expected"), [
    (["--replicas", "0"], "--replicas: must be a whole number of at least 1, got '0'"),
    (["--replicas", "two"], "--replicas: must be a whole number of at least 1, got 'two'"),
    (["--autoscale", "4,1"], "--autoscale: needs 0 <= MIN <= MAX and MAX >= 1, got '4,1'"),
    (["--autoscale", "3"], "--autoscale: must be MIN,MAX, two whole numbers (e.g. 1,4), "
                           "got '3'"),
    (["--autoscale", "0,0"], "--autoscale: needs 0 <= MIN <= MAX and MAX >= 1, got '0,0'"),
    (["--gpus-per-replica", "1.5"], "--gpus-per-replica: must be 0, a fraction up to 1, or a "
                                    "whole number of GPUs, got '1.5'"),
    (["--gpus-per-replica", "-1"], "--gpus-per-replica: must be 0, a fraction up to 1, or a "
                                   "whole number of GPUs, got '-1'"),
    (["--gpus-per-replica", "half"], "--gpus-per-replica: must be a number of GPUs (0, 0.5, "
                                     "1, 2...), got 'half'"),
    (["--target-in-flight", "0"], "--target-in-flight: must be more than 0 frames per "
                                  "replica, got '0'"),
    (["--ingress-replicas", "0"], "--ingress-replicas: must be a whole number from 1 to 64, "
                                  "got '0'"),
    (["--ingress-replicas", "65"], "--ingress-replicas: must be a whole number from 1 to 64, "
                                   "got '65'"),
    (["--ingress-replicas", "two"], "--ingress-replicas: must be a whole number from 1 to 64, "
                                    "got 'two'"),
])
def test_bad_scale_flags_name_flag_limit_and_value(flags: list[str], expected: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Refused before anything starts, exit status 2, with the flag, limit and value."""
    assert main(["serve", "--ray", "--model", "echo", *flags, "--print-config"]) == 2
    err = capsys.readouterr().err
    assert f"lcm-widgets serve: error: {expected}" in err, err


def test_print_config(capsys: pytest.CaptureFixture[str]) -> None:
    """A serve config: the builder, its args, 127.0.0.1; no secret in it."""
    assert main(["serve", "--ray", "--model", "tiny", "--autoscale", "1,4",
                 "--gpus-per-replica", "0.5", "--ingress-replicas", "3",
                 "--print-config"]) == 0
    doc = yaml.safe_load(capsys.readouterr().out)
    assert doc["http_options"] == {"host": "127.0.0.1", "port": 8000}
    (app,) = doc["applications"]
    assert app["import_path"] == "lcm_widgets.server.ray_serve:app_builder"
    assert app["args"]["autoscale"] == [1, 4] and app["args"]["gpus_per_replica"] == 0.5
    assert app["args"]["model"] == "tiny" and "keys" not in app["args"]
    assert app["args"]["ingress_replicas"] == 3


def test_importing_serve_stays_without_ray() -> None:
    """The CLI module and --print-config import no ray (importing stays cheap)."""
    code = ("import sys; from lcm_widgets.cli import main; "
            "rc = main(['serve', '--ray', '--replicas', '2', '--print-config']); "
            "assert rc == 0 and 'ray' not in sys.modules, sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120,
                   capture_output=True)


@pytest.mark.ray
@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="needs ray[serve]")
def test_printed_config_is_accepted_by_serve_schema(tmp_path: object) -> None:
    """Ray Serve's own schema (what `serve deploy` validates) accepts the printed config,
    and its builder turns the args into the two deployments (in a child process: importing
    ray here would fix its auth settings before the cluster tests make theirs)."""
    code = """
import sys, yaml
from lcm_widgets.cli import main
import io, contextlib
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    assert main(['serve', '--ray', '--model', 'echo', '--replicas', '3', '--ingress-replicas',
                 '2', '--print-config']) == 0
from ray.serve.schema import ServeDeploySchema
schema = ServeDeploySchema.model_validate(yaml.safe_load(buf.getvalue()))
app = schema.applications[0]
from lcm_widgets.server.ray_serve import app_builder
built = app_builder(app.args)
print(type(built).__name__)
"""
    out = subprocess.run([sys.executable, "-c", code], check=True, timeout=180,
                         capture_output=True, text=True)
    assert out.stdout.strip().endswith("Application"), out.stdout + out.stderr


def test_app_flag_gives_the_app_and_its_model_and_one_app_only() -> None:
    """``--app ID=MODEL`` (serve's multi-app flag) names the Ray app and its model; several
    apps are refused with the count (one deployment per app)."""
    from lcm_widgets.cli import build_parser
    from lcm_widgets.commands.serve_ray import app_args

    args = build_parser().parse_args(
        ["serve", "--ray", "--app", "fal-ai/fast-turbo-diffusion=echo", "--replicas", "2"])
    out = app_args(args)
    assert (out["app_id"], out["model"]) == ("fal-ai/fast-turbo-diffusion", "echo")
    args = build_parser().parse_args(["serve", "--ray", "--model", "echo"])
    assert app_args(args)["app_id"] == "fal-ai/fast-lcm-diffusion"
    args = build_parser().parse_args(
        ["serve", "--ray", "--app", "fal-ai/fast-lcm-diffusion=echo",
         "--app", "fal-ai/fast-turbo-diffusion=echo"])
    with pytest.raises(ValueError, match=r"--app: serve --ray serves one app, got 2"):
        app_args(args)
