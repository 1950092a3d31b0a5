#!/usr/bin/env bash
# Idempotent set-up: node modules (Bun comes from npm) and the Python engine's .venv.
# Re-running it is cheap: each part is skipped when its pinned inputs did not change.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[setup] %s\n' "$*" >&2; }
hash_of() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }

# --- Node side -------------------------------------------------------------------------------
command -v npm >/dev/null || { say "error: npm not found; install Node.js >= 20 first"; exit 1; }
node_hash=$(hash_of package.json package-lock.json)
if [ "$(cat node_modules/.qc-installed 2>/dev/null)" != "$node_hash" ]; then
  say "installing node modules (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$node_hash" > node_modules/.qc-installed
fi
if ! node_modules/.bin/bun --version >/dev/null 2>&1; then
  say "fetching the Bun binary (bun's postinstall)"
  (cd node_modules/bun && node install.js)
fi

# --- Python side -----------------------------------------------------------------------------
# torch first and pinned (an unpinned torch pulls a multi-GB CUDA build on a CPU machine),
# then the rest, then DeepSpeed without build isolation so that its build sees this torch.
PY=${QC_PYTHON:-}
if [ -z "$PY" ]; then
  for cand in python3.11 python3; do
    if command -v "$cand" >/dev/null && "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then PY=$cand; break; fi
  done
fi
[ -n "$PY" ] || { say "error: Python 3.11 not found (set QC_PYTHON=/path/to/python3.11)"; exit 1; }
py_hash=$(hash_of engine/requirements-torch.txt engine/requirements.txt engine/requirements-deepspeed.txt)
if [ "$(cat .venv/.qc-installed 2>/dev/null)" != "$py_hash" ]; then
  [ -x .venv/bin/python ] || { say "creating .venv with $PY"; "$PY" -m venv .venv; }
  say "installing torch (pinned)"
  .venv/bin/pip install -q --disable-pip-version-check -r engine/requirements-torch.txt
  say "installing engine requirements"
  .venv/bin/pip install -q --disable-pip-version-check -r engine/requirements.txt
  say "installing DeepSpeed (no build isolation)"
  .venv/bin/pip install -q --disable-pip-version-check --no-build-isolation -r engine/requirements-deepspeed.txt
  echo "$py_hash" > .venv/.qc-installed
fi
# --- GPU extras ------------------------------------------------------------------------------
# Only where a GPU is present; a failed flash-attn build is not fatal: model.attn_implementation
# auto then runs sdpa (flash_attention_2 asked for explicitly is refused before launch).
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  gpu_hash=$(hash_of engine/requirements-gpu.txt)
  if [ "$(cat .venv/.qc-gpu-installed 2>/dev/null)" != "$gpu_hash" ]; then
    say "GPU found: installing engine/requirements-gpu.txt (flash-attn builds from source; needs nvcc)"
    if MAX_JOBS=${MAX_JOBS:-4} .venv/bin/pip install -q --disable-pip-version-check --no-build-isolation -r engine/requirements-gpu.txt; then
      echo "$gpu_hash" > .venv/.qc-gpu-installed
    else
      say "warning: installing engine/requirements-gpu.txt failed (no nvcc?); continuing: attention runs sdpa"
    fi
  fi
else
  say "no GPU (nvidia-smi not found): skipping engine/requirements-gpu.txt"
fi
say "ready: bun $(node_modules/.bin/bun --version), $(.venv/bin/python -c 'import torch, transformers, deepspeed; print(f"torch {torch.__version__}, transformers {transformers.__version__}, deepspeed {deepspeed.__version__}")' 2>/dev/null)"
