#!/usr/bin/env bash
# No-evaluation Food-101 run: every checkpoint kept, evaluate afterwards with tasks/evaluate.ts.
#   bash scripts/train_no_eval_save_all.sh [extra tasks/train.ts args, e.g. --set training.lr=1e-5 --dry-run]
# One process per GPU listed in CUDA_VISIBLE_DEVICES (else every GPU nvidia-smi sees, else 1).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -n "${CUDA_VISIBLE_DEVICES:-}" ]]; then
  IFS=',' read -r -a gpu_ids <<< "$CUDA_VISIBLE_DEVICES"
  nproc=0
  for id in "${gpu_ids[@]}"; do
    id="${id// /}"
    [[ -z "$id" ]] && continue
    [[ "$id" == -* ]] && break
    nproc=$((nproc + 1))
  done
elif command -v nvidia-smi >/dev/null 2>&1; then
  nproc=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ' || true)
else
  nproc=0
fi
(( nproc >= 1 )) || nproc=1

BUN=bun
command -v bun >/dev/null 2>&1 || BUN=node_modules/.bin/bun
exec "$BUN" run tasks/train.ts --config configs/food101_no_eval_save_all.yaml --nproc-per-node "$nproc" "$@"
