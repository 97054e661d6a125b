#!/usr/bin/env bash
# The minimum-versions job (.ci/run calls it): a fresh venv, without the system's packages, with
# every dependency at the floor pyproject.toml declares (pins from scripts/min_versions.py;
# torch stays the CPU build torch==2.13.0, installed first), then a fast subset of the tests:
# schema, images, pacing, the server over loopback, the REST and realtime clients (proxies
# too), logging, the cache lock, extras, Compare, and a few tiny-LocalLCM generations.
#
#   scripts/min_versions.sh               # venv in a temp folder, removed at the end
#   MIN_VENV=/tmp/floors scripts/min_versions.sh   # keep (and reuse) the venv there
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}

step() { printf '\n=== min-versions: %s (%ss)\n' "$*" "$SECONDS"; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
venv=${MIN_VENV:-$tmp/venv}
pins=$tmp/pins.txt
"$PY" scripts/min_versions.py >"$pins"

step "venv at $venv ($("$PY" --version))"
[ -x "$venv/bin/python" ] || "$PY" -m venv "$venv"
vpy=$venv/bin/python

step "pip: torch==2.13.0 (CPU), then $(wc -l <"$pins") pins at their floors"
"$vpy" -m pip install -q torch==2.13.0
# Wheels only: a floor is a version users can install without a compiler.
"$vpy" -m pip install -q --only-binary=:all: -r "$pins"
"$vpy" -m pip install -q --no-deps -e .
"$vpy" -m pip check
"$vpy" scripts/min_versions.py --check

step "tests at the floors"
"$vpy" -m pytest -q -p no:cacheprovider \
  tests/test_schema.py tests/test_images.py tests/test_pacing.py \
  tests/test_http.py tests/test_realtime.py tests/test_net_env.py \
  tests/server/test_server_rest.py tests/server/test_server_cli.py \
  tests/models/test_tiny.py tests/models/test_cache.py \
  tests/test_extras.py tests/test_cli_choices.py tests/widgets/test_compare.py \
  tests/widgets/test_direct.py tests/widgets/test_sketchpad.py \
  tests/test_min_versions.py \
  "tests/backends/local/test_local.py::test_info_and_protocol" \
  "tests/backends/local/test_local.py::test_img2img_same_seed_same_bytes" \
  "tests/backends/local/test_local.py::test_taesd_path" \
  "tests/backends/local/test_local.py::test_sizes"
step "passed"
