#!/usr/bin/env bash
# The GPU check of issues 9 and 10, in one short script for a lent CUDA machine (no network there):
#   bash benchmarks/gpu_check.sh DATA_DIR OUT_DIR SECONDS [PHASES]
# DATA_DIR holds fashion-mnist/ (the four IDX files); OUT_DIR receives every figure as text/JSON.
# PHASES (default "speed pack cells"):
#   speed  one step of every method on ResNet-32, batch 100 / meta 100, ratios to BaseModel (CUDA)
#   pack   N = 1, 2, 4, 8 worker processes sharing the GPU, steady-state cell-epochs per hour
#   cells  the fmnist-paper profile's BaseModel and GDW cells at 40 % uniform noise, seed 1, side by
#          side, until SECONDS have passed since the start; re-running resumes them from their
#          checkpoints in /tmp/gpu-results (kept while the machine stays warm)
set -u
DATA=${1:?data dir}; OUT=${2:?out dir}; BUDGET=${3:-540}; PHASES=${4:-speed pack cells}
START=$(date +%s)
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if ! command -v gdw-bench >/dev/null; then
  python3 -m pip install -q --no-deps --no-build-isolation --no-index -e . >"$OUT/install.log" 2>&1 \
    || { echo "install failed"; cat "$OUT/install.log"; exit 1; }
fi
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"; } | tee "$OUT/device.txt"
for phase in $PHASES; do
  case $phase in
    speed) gdw-bench speed --device cuda --steps 20 --rounds 3 2>&1 | tee "$OUT/speed_cuda.txt" ;;
    pack) gdw-bench speed --device cuda --pack 1,2,4,8 --data-dir "$DATA" 2>&1 | tee "$OUT/pack_cuda.txt" ;;
    cells)
      left=$(( BUDGET - ($(date +%s) - START) ))
      echo "cells: $left s left"
      timeout -s INT "$left" gdw-bench run --table 2 --profile fmnist-paper --levels 0.4 --methods basemodel,gdw \
        --seeds 1 --jobs 2 --device cuda --data-dir "$DATA" --results-dir /tmp/gpu-results 2>&1 | tail -n 5
      sleep 3; pkill -f "gdw-bench run" ; sleep 2
      for method in basemodel gdw; do
        cell=/tmp/gpu-results/fmnist-paper/fashion-mnist/uniform-0.4/$method/seed-1
        [ -f "$cell/record.json" ] && cp "$cell/record.json" "$OUT/${method}_record.json"
        [ -f "$cell/checkpoint.pt" ] && python3 - "$cell/checkpoint.pt" "$OUT/${method}_partial.json" <<'PY'
import json, sys, torch
saved = torch.load(sys.argv[1], map_location="cpu", weights_only=False)
json.dump({"position": saved["position"], "elapsed_s": saved["elapsed_s"], "curve": saved["curve"]},
          open(sys.argv[2], "w"), indent=1)
PY
      done
      ls -la "$OUT" ;;
  esac
done
echo "total $(( $(date +%s) - START )) s"
