#!/usr/bin/env bash
# An offline wheelhouse for an air-gapped GPU host (docs/gpu.md, "An offline install").
#
#   scripts/wheelhouse.sh DIR [--python 3.12] [--no-check]
#
# Downloads, for that Python on manylinux x86_64, the wheels `lcm-widgets bench` and the
# gpu-marked tests need that the host (scripts/gpu_host.txt) lacks, one version of each, plus
# this checkout's own wheel; then checks that they install and resolve there
# (scripts/wheelhouse.py says exactly how). Needs pip and PyPI here, nothing on the host.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $# -lt 1 || $1 == -* ]]; then
  echo "usage: scripts/wheelhouse.sh DIR [--python 3.12] [--no-check]" >&2
  exit 2
fi
exec "${PYTHON:-python3}" scripts/wheelhouse.py "$@"
