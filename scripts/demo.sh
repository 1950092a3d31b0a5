#!/usr/bin/env bash
# The main job on the embedded default (configs/demo.yaml): installs what is missing, then trains
# the tiny Qwen2.5-VL on the digits data set end to end. Extra args go to tasks/train.ts.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node_modules/.bin/bun run tasks/train.ts "$@"
