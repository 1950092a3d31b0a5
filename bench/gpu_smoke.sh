#!/usr/bin/env bash
# GPU smoke benchmark: a random-init Qwen2.5-VL-7B (bench/qwen2_5_vl_7b_config.json), 20 steps each of
# bf16 ZeRO-2 / ZeRO-3 (sdpa), flash-attention 2 (skipped when flash-attn is absent) and padded / packed
# batching (data.batching): samples/s, tokens/s, padding, peak memory, MFU (ours and the engine's own).
#
#   bash bench/gpu_smoke.sh [--tiny] [gpu_smoke.py options: --steps N --only zero2_sdpa,... --json FILE]
#
# Needs one NVIDIA GPU, python3 with torch, transformers, PIL, and DeepSpeed; no Bun, no network.
# Wheels in .whl/ are installed into /tmp/site first: DeepSpeed (pip wheel --no-deps --no-build-isolation
# deepspeed==0.19.8, 2 MB) where it is missing, and transformers 5.23.0 (13 MB) where the machine's is
# older (the classifier registers its weight layout through transformers.conversion_mapping, as in 5.23).
# --tiny: the same script on the CPU with the tiny model (fp32), to check it works.
# The configs come from bench/gpu_smoke/ (bun run bench/gpu_smoke_configs.ts, committed).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${QC_PYTHON_BIN:-python3}
[ -x .venv/bin/python ] && [ -z "${QC_PYTHON_BIN:-}" ] && PY=.venv/bin/python
if compgen -G ".whl/*.whl" >/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
if ! "$PY" -c "import deepspeed" 2>/dev/null; then
  echo "error: DeepSpeed does not import here; carry its wheel in .whl/ (pip wheel --no-deps --no-build-isolation deepspeed==0.19.8)" >&2
  exit 2
fi
exec "$PY" bench/gpu_smoke.py "$@"
