#!/usr/bin/env bash
# Every benchmark in bench/, with the commands recorded in BENCHMARKS.md.
#
#   bash bench/run_all.sh [--quick] [--write] [--only NAME[,NAME...]]     (npm run bench -- ...)
#
#   --quick   (or QC_BENCH_QUICK=1) small sizes and single runs: a smoke run of a few minutes. Its
#             figures are not comparable with BENCHMARKS.md and are never written there.
#   --write   passed to the benchmarks that can update their BENCHMARKS.md section themselves
#             (config_error, data_check, eval_sweep, e2e_vs_trainer). Without it nothing rewrites BENCHMARKS.md.
#             engine_throughput, checkpoint_io, memory_calibration, from_hf_predict and gpu_smoke only print; their sections are updated by hand.
#   --only    a comma-separated subset of: config_error data_check engine_throughput eval_sweep checkpoint_io
#             memory_calibration e2e_vs_trainer from_hf_predict gpu_smoke (gpu_smoke: the 7B on a GPU when nvidia-smi sees one, else --tiny on the CPU)
#
# Runs scripts/setup.sh first (idempotent; installs nothing when the pinned inputs did not change).
# Each benchmark runs even if an earlier one failed; the exit code is 1 if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."

ALL="config_error data_check engine_throughput eval_sweep checkpoint_io memory_calibration e2e_vs_trainer from_hf_predict gpu_smoke"
quick=${QC_BENCH_QUICK:-0}
write=0
only=$ALL
usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --write) write=1 ;;
    --only) [ $# -ge 2 ] || { echo "error: --only needs a value (one or more of: $ALL)" >&2; exit 2; }
            only=${2//,/ }; shift ;;
    --only=*) only=${1#--only=}; only=${only//,/ } ;;
    -h|--help) usage; exit 0 ;;
    *) echo "error: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done
case "$quick" in 0|"") quick=0 ;; *) quick=1 ;; esac
for name in $only; do
  case " $ALL " in *" $name "*) ;; *) echo "error: --only: unknown benchmark '$name' (one of: $ALL)" >&2; exit 2 ;; esac
done
if [ "$quick" = 1 ] && [ "$write" = 1 ]; then
  echo "error: --write with --quick (QC_BENCH_QUICK=1) would record smoke-run figures; drop one of them" >&2
  exit 2
fi

bash scripts/setup.sh || { echo "error: scripts/setup.sh failed" >&2; exit 1; }
BUN=node_modules/.bin/bun
PY=.venv/bin/python
W=()
[ "$write" = 1 ] && W=(--write)

# One entry per benchmark: full-size arguments (as in BENCHMARKS.md), then the quick ones.
run_config_error() {
  if [ "$quick" = 1 ]; then "$BUN" run bench/config_error.ts --runs 2
  else "$BUN" run bench/config_error.ts --runs 7 "${W[@]}"; fi
}
run_data_check() {
  if [ "$quick" = 1 ]; then "$BUN" run bench/data_check.ts --lines 20000 --images 20 --distinct-images 1000 --runs 1
  else "$BUN" run bench/data_check.ts --lines 1000000 --images 100 --distinct-images 5000 --runs 3 "${W[@]}"; fi
}
run_engine_throughput() {
  local a=(--steps 10 --rounds 8)
  [ "$quick" = 1 ] && a=(--steps 3 --rounds 2)
  local demo=()
  [ "$quick" = 1 ] && demo=(--skip-demo)  # the demo runs (2 x configs/demo.yaml) take minutes
  OMP_NUM_THREADS=1 PYTHONPATH=engine "$PY" bench/engine_throughput.py "${a[@]}" --zero-stage 2 "${demo[@]}" &&
    OMP_NUM_THREADS=1 PYTHONPATH=engine "$PY" bench/engine_throughput.py --skip-demo "${a[@]}" --zero-stage 0
}
run_eval_sweep() {
  if [ "$quick" = 1 ]; then "$BUN" run bench/eval_sweep.ts --samples 40 --runs 1
  else "$BUN" run bench/eval_sweep.ts --samples 360 --runs 3 "${W[@]}"; fi
}
run_checkpoint_io() {
  if [ "$quick" = 1 ]; then OMP_NUM_THREADS=1 "$PY" bench/checkpoint_io.py --hidden 128 --layers 2 --runs 1
  else OMP_NUM_THREADS=1 "$PY" bench/checkpoint_io.py --runs 3; fi
}
run_memory_calibration() {
  if [ "$quick" = 1 ]; then PYTHONPATH=engine "$PY" bench/memory_calibration.py --cases small --variants full,lora
  else PYTHONPATH=engine "$PY" bench/memory_calibration.py --cases tiny,mid,wide7b; fi
}
run_e2e_vs_trainer() {
  if [ "$quick" = 1 ]; then "$BUN" run bench/e2e_vs_trainer.ts --quick
  else "$BUN" run bench/e2e_vs_trainer.ts --runs 3 "${W[@]}"; fi
}
run_gpu_smoke() {
  if nvidia-smi -L >/dev/null 2>&1; then bash bench/gpu_smoke.sh $([ "$quick" = 1 ] && echo "--steps 6")
  else TORCH_EXTENSIONS_DIR=${TORCH_EXTENSIONS_DIR:-$PWD/.cache/torch_extensions} bash bench/gpu_smoke.sh --tiny; fi
}
run_from_hf_predict() {
  if [ "$quick" = 1 ]; then OMP_NUM_THREADS=1 PYTHONPATH=engine "$PY" bench/from_hf_predict.py --images 100 --eval-images 40 --runs 1
  else OMP_NUM_THREADS=1 PYTHONPATH=engine "$PY" bench/from_hf_predict.py --images 2000 --eval-images 300 --runs 3; fi
}

summary=()
failed=0
mode=$([ "$quick" = 1 ] && echo "quick" || echo "full")
for name in $only; do
  printf '\n===== %s (%s) =====\n' "$name" "$mode"
  start=$(date +%s)
  "run_$name"
  rc=$?
  secs=$(( $(date +%s) - start ))
  if [ $rc -eq 0 ]; then summary+=("ok     $name (${secs} s)"); else summary+=("FAILED $name (exit $rc, ${secs} s)"); failed=1; fi
done

printf '\n===== summary (%s%s) =====\n' "$mode" "$([ "$write" = 1 ] && echo ", --write")"
printf '%s\n' "${summary[@]}"
[ "$quick" = 1 ] && echo "(quick mode: smoke figures, not comparable with BENCHMARKS.md)"
exit $failed
