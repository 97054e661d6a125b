#!/usr/bin/env bash
# One-command GPU benchmark of the local backend (docs/gpu.md explains the method).
#
#   scripts/gpu_bench.sh [OUTDIR]          # OUTDIR defaults to $OUT, else ./bench-out
#
# For each architecture (full-size, random weights, built offline into $LCM_WIDGETS_CACHE by
# lcm_widgets.models.arch) × VAE (full, TAESD) × compile (eager, compiled) it runs
# `lcm-widgets bench`: ours (LocalLCM lean loop) vs the stock diffusers pipeline __call__ on the
# same components, interleaved in one run, and writes OUTDIR/<run>.json + OUTDIR/<run>.md, then
# OUTDIR/summary.md (one row per run) and OUTDIR/env.txt. Nothing is downloaded.
#
# Knobs (environment variables; defaults in brackets):
#   ARCHS [sd15 sdxl]   VAES [full taesd]   COMPILES [eager compiled]
#   FRAMES [50]  WARMUP [5]  DTYPE [fp16]  STEPS [4]  STRENGTH [0.5]
#   COMPILE_MODE [max-autotune]  (reduce-overhead compiles much faster; CUDA graphs either way)
#   RUN_TIMEOUT [1800]  seconds per run before it is abandoned (the row is then missing)
#   DRY=1  plumbing check without a GPU: the tiny model on the CPU, 2 frames per run.
#
# A device session allows 10 minutes per command: run the matrix in pieces, e.g.
#   ARCHS=sd15 COMPILES=eager scripts/gpu_bench.sh
#   ARCHS=sd15 COMPILES=compiled COMPILE_MODE=reduce-overhead scripts/gpu_bench.sh
#   ARCHS=sdxl VAES=taesd COMPILES=eager FRAMES=20 scripts/gpu_bench.sh
set -uo pipefail

OUTDIR=${1:-${OUT:-bench-out}}
ARCHS=${ARCHS:-sd15 sdxl}
VAES=${VAES:-full taesd}
COMPILES=${COMPILES:-eager compiled}
FRAMES=${FRAMES:-50}
WARMUP=${WARMUP:-5}
DTYPE=${DTYPE:-fp16}
STEPS=${STEPS:-4}
STRENGTH=${STRENGTH:-0.5}
COMPILE_MODE=${COMPILE_MODE:-max-autotune}
RUN_TIMEOUT=${RUN_TIMEOUT:-1800}
PY=${PYTHON:-python}

export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1
export LCM_WIDGETS_CACHE=${LCM_WIDGETS_CACHE:-$HOME/.cache/lcm_widgets}
# Keep inductor's compiled kernels between runs of this script on the same machine.
export TORCHINDUCTOR_CACHE_DIR=${TORCHINDUCTOR_CACHE_DIR:-$LCM_WIDGETS_CACHE/inductor}
cd "$(dirname "$0")/.." || exit 2
mkdir -p "$OUTDIR"

if ! $PY -c "import torch, diffusers, transformers, pydantic, PIL" 2>/dev/null; then
  echo "gpu_bench: torch, diffusers, transformers, pydantic and pillow are needed;" \
       "install them with: pip install -e '.[local]'" >&2
  exit 2
fi

if [[ "${DRY:-0}" == 1 ]]; then
  DEVICE_ARGS=(--device cpu --dtype fp32 --model tiny)
  FRAMES=2 WARMUP=1 ARCHS=tiny COMPILES=eager
  echo "gpu_bench: DRY=1: tiny model on the CPU, 2 frames per run (plumbing only)" >&2
else
  if ! $PY -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "gpu_bench: no CUDA device visible to torch (use DRY=1 to check the plumbing)" >&2
    exit 2
  fi
  DEVICE_ARGS=(--device cuda --dtype "$DTYPE")
fi

{
  date -u +"%Y-%m-%dT%H:%M:%SZ"
  git rev-parse HEAD 2>/dev/null
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit \
    --format=csv 2>/dev/null
  $PY -c "import torch, diffusers, transformers, platform; print('python', platform.python_version(), 'torch', torch.__version__, 'cuda', torch.version.cuda, 'diffusers', diffusers.__version__, 'transformers', transformers.__version__)"
} > "$OUTDIR/env.txt"
cat "$OUTDIR/env.txt"

failed=0
for arch in $ARCHS; do
  if [[ "${DRY:-0}" != 1 ]]; then
    # Build (or find) the random-weight model first, so its time is not in any run.
    echo "gpu_bench: building/loading $arch $DTYPE" >&2
    start=$(date +%s)
    if ! $PY -c "from lcm_widgets.models.arch import ensure_arch; print(ensure_arch('$arch', '$DTYPE', device='cuda'))"; then
      echo "gpu_bench: could not build $arch; skipping it" >&2
      failed=1
      continue
    fi
    echo "gpu_bench: $arch ready after $(( $(date +%s) - start )) s" >&2
    ARCH_ARGS=(--arch "$arch")
  else
    ARCH_ARGS=()
  fi
  for vae in $VAES; do
    for comp in $COMPILES; do
      name="$arch-$vae-$comp"
      args=("${DEVICE_ARGS[@]}" "${ARCH_ARGS[@]}" --frames "$FRAMES" --warmup "$WARMUP"
            --steps "$STEPS" --strength "$STRENGTH" --json "$OUTDIR/$name.json")
      [[ $vae == taesd ]] && args+=(--taesd)
      if [[ $comp == compiled ]]; then args+=(--compile-mode "$COMPILE_MODE");
      else args+=(--no-compile); fi
      echo "gpu_bench: $name: lcm-widgets bench ${args[*]}" >&2
      start=$(date +%s)
      if timeout "$RUN_TIMEOUT" $PY -m lcm_widgets bench "${args[@]}" \
           > "$OUTDIR/$name.md" 2> "$OUTDIR/$name.log"; then
        echo "gpu_bench: $name done in $(( $(date +%s) - start )) s" >&2
        tail -n 14 "$OUTDIR/$name.md"
      else
        echo "gpu_bench: $name FAILED (see $OUTDIR/$name.log):" >&2
        tail -n 5 "$OUTDIR/$name.log" >&2
        failed=1
      fi
    done
  done
done

$PY -m lcm_widgets.bench.collect "$OUTDIR" > "$OUTDIR/summary.md"
echo
cat "$OUTDIR/summary.md"
exit $failed
