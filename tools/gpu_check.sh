#!/usr/bin/env bash
# The GPU check, one call: on a CUDA machine without internet, install the kit's missing packages from
# .whl/ (built by tools/gpu_wheels.sh and carried with the tree), run every implemented paper's `gpu`
# profile through the kit's runner (papermill), then the benchmark, and write to $OUT (default
# runs/gpu-check): the claims and REPORT.md, per-step wall times and GPU memory peaks (step.json),
# nvidia-smi facts and bench.json. Sized for one 10-minute call: each paper gets PAPER_TIMEOUT seconds
# (default 60) and the whole check stops starting papers after CHECK_BUDGET seconds (default 420).
# Usage: OUT=/some/dir bash tools/gpu_check.sh [PAPER ...]
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/runs/gpu-check}; mkdir -p "$OUT"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 REPRO_PROGRESS=0 REPRO_RUNS_DIR="$OUT/runs"
started=$(date +%s)
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/repro-site .whl/*.whl \
    > "$OUT/pip.log" 2>&1 || { echo "gpu_check: wheel install failed (see $OUT/pip.log)"; exit 2; }
  export PYTHONPATH=/tmp/repro-site:$PWD/lib${PYTHONPATH:+:$PYTHONPATH}
else
  export PYTHONPATH=$PWD/lib${PYTHONPATH:+:$PYTHONPATH}
fi
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv > "$OUT/nvidia-smi.csv" 2>&1 \
  || echo "gpu_check: nvidia-smi not found" > "$OUT/nvidia-smi.csv"
python3 - > "$OUT/environment.json" <<'PY'
import json, torch
print(json.dumps({"torch": torch.__version__, "cuda": torch.version.cuda, "gpus": [
    torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]}, indent=2))
PY
papers=("$@"); [ ${#papers[@]} -gt 0 ] || mapfile -t papers < <(python3 -c "from repro.core import papers; print(*papers.available(), sep='\n')")
status=0
for paper in "${papers[@]}"; do
  if [ $(( $(date +%s) - started )) -gt "${CHECK_BUDGET:-420}" ]; then echo "gpu_check: budget spent, skipping $paper"; continue; fi
  t0=$(date +%s)
  timeout "${PAPER_TIMEOUT:-60}" python3 -m repro run --profile gpu --paper "$paper" > "$OUT/$paper.log" 2>&1
  rc=$?; [ $rc -eq 0 ] || status=1
  echo "gpu_check: $paper rc=$rc in $(( $(date +%s) - t0 )) s"
done
python3 -m repro.bench --profiles gpu > "$OUT/bench.log" 2>&1 && cp "$REPRO_RUNS_DIR/bench/bench."* "$OUT/" 2>/dev/null
echo "gpu_check: done in $(( $(date +%s) - started )) s; results in $OUT"
exit $status
