#!/usr/bin/env bash
# The prepared GPU check (see python -m eval.gpu_check --help):
#   eval/gpu_check.sh OUT_DIR              on a bare GPU machine (its own python3 + torch), <= 8 minutes
#   eval/gpu_check.sh --dry-run OUT_DIR    on the CPU at tiny sizes (what `make test` runs)
# PYTHON picks the interpreter (default: python3 on PATH).
set -uo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-4}" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONDONTWRITEBYTECODE=1
exec "${PYTHON:-python3}" -m eval.gpu_check "$@"
