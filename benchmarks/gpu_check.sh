#!/usr/bin/env bash
# The GPU check of issue 10, in one short script for a lent CUDA machine (no network there):
#   bash benchmarks/gpu_check.sh DATA_DIR OUT_DIR SECONDS [PHASES]
# DATA_DIR holds fashion-mnist/ (the four IDX files); OUT_DIR receives every figure as text/JSON.
# PHASES (default "tests speed pack"):
#   tests  the CUDA tests: graphed steps = eager steps, replayed JVP = double backward, every method runs
#   speed  one step of every meta method on ResNet-32, batch 100 / meta 100, eager and CUDA-graphed,
#          ratios to BaseModel
#   pack   N = 1, 2, 4, 8 worker processes sharing the GPU (BaseModel, fmnist-paper, CUDA graphs), N = 1
#          without graphs, and GDW at N = 1, 4: steady-state epoch times and cell-epochs per hour
#   layout one step of BaseModel, MWNet and GDW with the models contiguous and channels-last (eager and
#          graphed): whether channels-last, faster on CPU, is faster on this GPU too
#   cells  the fmnist-paper profile's BaseModel and GDW cells at 40 % uniform noise, seed 1, side by
#          side, until SECONDS have passed since the start; re-running resumes them from their
#          checkpoints in /tmp/gpu-results (kept while the machine stays warm)
set -u
DATA=${1:?data dir}; OUT=${2:?out dir}; BUDGET=${3:-540}; PHASES=${4:-tests speed pack}
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
    tests) timeout 240 python3 -m pytest -q -x -p no:cacheprovider tests/test_cuda.py \
             tests/test_engine.py::test_every_method_runs_on_cuda 2>&1 | tail -n 25 | tee "$OUT/tests_cuda.txt" ;;
    speed) timeout 200 gdw-bench speed --device cuda --steps 20 --rounds 3 \
             --methods l2rw,insw,mwnet,softlabel,genlabel,gdw,focal,cb 2>&1 | grep --line-buffered -v Warn \
             | tee "$OUT/speed_cuda.txt" ;;
    layout) for format in contiguous channels_last; do
              timeout 50 gdw-bench speed --device cuda --steps 20 --rounds 3 --methods mwnet,gdw \
                --memory-format $format 2>&1 | grep --line-buffered -v Warn | tee "$OUT/layout_$format.txt"
            done ;;
    # each measurement to its own file, line by line: a run stopped at its time limit keeps what it printed
    pack) timeout 220 gdw-bench speed --device cuda --pack 1,2,4,8 --data-dir "$DATA" 2>&1 \
            | grep --line-buffered -v Warn | tee "$OUT/pack_cuda.txt"
          timeout 70 gdw-bench speed --device cuda --pack 1 --methods gdw --data-dir "$DATA" 2>&1 \
            | grep --line-buffered -v Warn | tee "$OUT/pack_cuda_gdw.txt" ;;
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
