#!/usr/bin/env bash
# The first real GPU run, as one prepared command (docs/gpu.md, "The GPU check").
#
#   scripts/gpu_check.sh [WHEELHOUSE]      # writes to $OUT (default ./gpu-check-out)
#
# On an air-gapped GPU host (Python 3.12 with torch, transformers, huggingface_hub...), within
# BUDGET_S seconds of wall time in all (480):
#   1. installs the wheelhouse (scripts/wheelhouse.sh; default .wheelhouse/) with --no-deps
#      into a target folder put on PYTHONPATH (nothing is downloaded);
#   2. writes $OUT/env.txt: the GPU (nvidia-smi: name, driver, clocks, memory), the versions,
#      the commit;
#   3. builds the full-size SD1.5 random-weight model on the GPU (lcm_widgets.models.arch);
#   4. runs the gpu-marked tests (lean == stock within rel. L2 < 1e-2 on the latents, full VAE
#      and TAESD, fp16; no recompile when steps, strength, seed, guidance or prompt change;
#      pinned transfers) into a JUnit file;
#   5. runs `lcm-widgets bench` on sd15 512x512 img2img 4 steps x 0.5, ours vs stock
#      interleaved: full VAE eager, full VAE compiled, TAESD compiled, TAESD eager (in that
#      order of value; COMPILE_MODE reduce-overhead compiles in the time there is);
#   6. writes $OUT/results.json (everything) and $OUT/summary.md.
# Each step is skipped, and says so, when the time left is below its estimate, so the least
# valuable steps go first and the budget is never overrun. Exit status 1 if a step or a test
# failed.
#
# DRY=1: the same plumbing on this machine's CPU with the tiny model (2 frames per run, the
# compiled runs with dynamo's eager backend, the gpu-marked tests skip without CUDA); the test
# suite runs it (tests/test_gpu_check.py).
#
# Knobs: OUT, BUDGET_S [480], FRAMES [30], WARMUP [3], COMPILE_MODE [reduce-overhead],
# PYTHON [python3].
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

OUT=${OUT:-gpu-check-out}
BUDGET_S=${BUDGET_S:-480}
FRAMES=${FRAMES:-30}
WARMUP=${WARMUP:-3}
COMPILE_MODE=${COMPILE_MODE:-reduce-overhead}
PY=${PYTHON:-python3}
WHEELHOUSE=${1:-${WHEELHOUSE:-.wheelhouse}}
DRY=${DRY:-0}

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 PYTHONUNBUFFERED=1
export LCM_WIDGETS_CACHE=${LCM_WIDGETS_CACHE:-$WORK/models}
export TORCHINDUCTOR_CACHE_DIR=${TORCHINDUCTOR_CACHE_DIR:-$WORK/inductor}
START=$SECONDS
: > "$WORK/steps.tsv"

left() { echo $(( BUDGET_S - (SECONDS - START) )); }
note() { printf 'gpu_check: %s\n' "$*" >&2; }

# step NAME ESTIMATE_S MAX_S CMD...: run CMD unless fewer than ESTIMATE_S seconds are left;
# it may take up to MAX_S (never more than what is left, keeping 20 s for the report).
failed=0
step() {
  local name=$1 est=$2 max=$3; shift 3
  local have=$(( $(left) - 20 ))
  if (( have < est )); then
    note "$name: skipped, ${have} s left, it needs about ${est} s"
    printf '%s\tskipped\t0\tbudget: %s s left, about %s s needed\n' "$name" "$have" "$est" \
      >> "$WORK/steps.tsv"
    return 0
  fi
  local limit=$(( max < have ? max : have )) t0=$SECONDS
  note "$name (up to ${limit} s)"
  if timeout "$limit" "$@" >> "$WORK/$name.log" 2>&1; then
    printf '%s\tok\t%s\t\n' "$name" "$(( SECONDS - t0 ))" >> "$WORK/steps.tsv"
  else
    local rc=$?
    failed=1
    note "$name FAILED (exit $rc); the end of its log:"
    tail -n 15 "$WORK/$name.log" >&2
    printf '%s\tfailed\t%s\texit %s: %s\n' "$name" "$(( SECONDS - t0 ))" "$rc" \
      "$(tail -n 1 "$WORK/$name.log" | tr '\t' ' ' | cut -c1-200)" >> "$WORK/steps.tsv"
  fi
}

# 1. the wheelhouse
if compgen -G "$WHEELHOUSE/*.whl" > /dev/null; then
  TARGET=$WORK/site
  if "$PY" -m pip --version > /dev/null 2>&1; then
    step install 10 120 "$PY" -m pip install --no-index --no-deps --quiet --target "$TARGET" \
      "$WHEELHOUSE"/*.whl
  else  # no pip on the host: a wheel is a zip archive laid out for site-packages
    step install 10 120 "$PY" -c "import sys, zipfile; [zipfile.ZipFile(w).extractall(sys.argv[1]) for w in sys.argv[2:]]" \
      "$TARGET" "$WHEELHOUSE"/*.whl
  fi
  export PYTHONPATH=$TARGET${PYTHONPATH:+:$PYTHONPATH}
else
  note "no wheels in $WHEELHOUSE: using the packages installed here"
fi

# 2. env.txt
{
  echo "date $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit $(git rev-parse HEAD 2>/dev/null || echo unknown)"
  echo "load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,memory.total,power.limit \
    --format=csv 2>/dev/null || echo "nvidia-smi: not available"
  "$PY" - <<'EOF'
import importlib, platform
print("python", platform.python_version(), platform.machine())
for name in ("torch", "torchvision", "diffusers", "transformers", "huggingface_hub", "accelerate",
             "peft", "safetensors", "pydantic", "simplejpeg", "numpy", "PIL", "lcm_widgets"):
    try:
        mod = importlib.import_module(name)
        print(name, getattr(mod, "__version__", "?"))
    except Exception as exc:
        print(name, "missing:", type(exc).__name__)
try:
    import torch
    print("cuda", torch.version.cuda, "available", torch.cuda.is_available(),
          torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
except Exception:
    pass
EOF
} > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt" >&2

if [[ $DRY == 1 ]]; then
  note "DRY=1: the tiny model on the CPU, 2 frames per run (plumbing only)"
  MODEL=(--model tiny --device cpu --dtype fp32)
  ARCH=tiny FRAMES=2 WARMUP=1
  COMPILED=(--compile --compile-backend eager)
else
  if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    note "no CUDA device visible to torch (DRY=1 checks the plumbing on a CPU)"
    exit 2
  fi
  # 3. the full-size model, built once for the tests and every run
  step build 60 240 "$PY" -c "from lcm_widgets.models.arch import ensure_arch; print(ensure_arch('sd15', 'float16', device='cuda'))"
  MODEL=(--arch sd15 --device cuda --dtype fp16)
  ARCH=sd15
  COMPILED=(--compile-mode "$COMPILE_MODE")
fi

# 4. the gpu-marked tests (they skip where torch sees no CUDA device)
step tests 60 240 "$PY" -m pytest -m gpu tests/backends/local -q -p no:cacheprovider \
  --junitxml "$WORK/gpu-tests.xml"

# 5. the bench runs, most valuable first
BENCH=("$PY" -m lcm_widgets bench "${MODEL[@]}" --frames "$FRAMES" --warmup "$WARMUP"
       --steps 4 --strength 0.5 --quiet)
step $ARCH-full-eager 40 150 "${BENCH[@]}" --no-compile --json "$WORK/$ARCH-full-eager.json"
step $ARCH-full-compiled 150 300 "${BENCH[@]}" "${COMPILED[@]}" \
  --json "$WORK/$ARCH-full-compiled.json"
step $ARCH-taesd-compiled 100 300 "${BENCH[@]}" --taesd "${COMPILED[@]}" \
  --json "$WORK/$ARCH-taesd-compiled.json"
step $ARCH-taesd-eager 40 150 "${BENCH[@]}" --taesd --no-compile \
  --json "$WORK/$ARCH-taesd-eager.json"

# 6. the report
"$PY" -m lcm_widgets.bench.check_report "$OUT" "$WORK" || failed=1
note "done in $(( SECONDS - START )) s of a ${BUDGET_S} s budget; $OUT/summary.md:"
cat "$OUT/summary.md" >&2
rm -rf "$WORK"
exit $failed
