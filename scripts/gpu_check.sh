#!/usr/bin/env bash
# The GPU check (raynas/bench/gpu_check.py): four trials at --gpus-per-trial 0.25 on one
# NVIDIA GPU, measured against a plain PyTorch loop; prints one table, in a few minutes.
#   scripts/gpu_check.sh [--trials 4] [--epochs 2] [--images 10000] [--work-dir DIR]
# Uses the Python of $RAYNAS_PYTHON, else .venv/bin/python beside this checkout, else python3.
# Exit status: 0 all checks hold, 1 one does not, 3 no NVIDIA GPU on this machine.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
python="${RAYNAS_PYTHON:-}"
if [ -z "$python" ]; then
    if [ -x "$root/.venv/bin/python" ]; then python="$root/.venv/bin/python"; else python=python3; fi
fi
exec "$python" -m raynas.bench.gpu_check "$@"
