#!/usr/bin/env bash
# Every test: codegen freshness, type check, engine tests (pytest), TypeScript unit/CLI/end-to-end
# tests (bun test). Installs what is missing first. QC_TEST_FAST=1 skips the tests marked slow.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
export PATH="$PWD/node_modules/.bin:$PATH"
# DeepSpeed builds its CPU comm op once per extensions dir; a checkout-private one is built once
# for the whole suite and never clashes with another checkout's .venv (a shared ~/.cache one did).
export TORCH_EXTENSIONS_DIR="${TORCH_EXTENSIONS_DIR:-$PWD/.cache/torch_extensions}"
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
fail=0
step() { printf '\n=== %s ===\n' "$*"; }

step "codegen is fresh"
bun run codegen --check || fail=1

step "typecheck"
tsc -p tsconfig.json && echo "tsc: no type errors" || fail=1

# The two runners go side by side (QC_TEST_SERIAL=1: one after the other, one pytest worker): most
# tests are single-threaded Python or Bun start-up and tiny-model steps, and many wait (process start-up,
# rendezvous, signal timeouts) rather than compute. Measured 2026-12-03 on 2 cores: one pytest worker
# beside bun 913 s (209 s of it a one-time DeepSpeed CPU op build that the engine no longer does, so
# ~700 s); two pytest workers beside bun 488 s (the whole command 8m16s, 969 tests).

pytest_args=(-q engine/tests --durations=25)
[ "${QC_TEST_FAST:-0}" = 1 ] && pytest_args+=(-m "not slow")
# pytest-xdist: two workers, one test file each at a time (module fixtures are built once, tests of one
# file keep their order).
[ "${QC_TEST_SERIAL:-0}" = 1 ] || pytest_args+=(-n 2 --dist loadfile)
run_pytest() {
  PYTHONPATH=engine DS_ACCELERATOR=cpu .venv/bin/python -m pytest "${pytest_args[@]}" > "$logs/pytest.log" 2>&1
  echo $? > "$logs/pytest.rc"
}
# --timeout: bun's 5 s default per test (bunfig's [test] timeout is not applied by bun 1.4) is too tight for
# tests that start a few Bun or Python processes while the other runner shares the cores; slow tests set their own.
run_bun() { bun test --timeout 60000 > "$logs/bun.log" 2>&1; echo $? > "$logs/bun.rc"; }
started=$SECONDS
if [ "${QC_TEST_SERIAL:-0}" = 1 ]; then
  run_pytest; run_bun
else
  step "engine tests (pytest) and TypeScript tests (bun test), side by side; logs follow"
  run_pytest & py_pid=$!
  run_bun & bun_pid=$!
  wait $py_pid; echo "pytest finished after $((SECONDS - started)) s"
  wait $bun_pid; echo "bun test finished after $((SECONDS - started)) s"
fi
step "engine tests (pytest)"
cat "$logs/pytest.log"
[ "$(cat "$logs/pytest.rc")" -eq 0 ] || fail=1
step "TypeScript tests (bun test)"
cat "$logs/bun.log"
[ "$(cat "$logs/bun.rc")" -eq 0 ] || fail=1

# One closing line over both runners.
count() { local n; n=$(grep -Eo "$1" "$2" | tail -1 | grep -Eo '[0-9]+' | head -1); echo "${n:-0}"; }
passed=$(( $(count '[0-9]+ passed' "$logs/pytest.log") + $(count '^ *[0-9]+ pass$' "$logs/bun.log") ))
failed=$(( $(count '[0-9]+ failed' "$logs/pytest.log") + $(count '^ *[0-9]+ fail$' "$logs/bun.log") ))
skipped=$(( $(count '[0-9]+ (skipped|deselected)' "$logs/pytest.log") + $(count '^ *[0-9]+ skip$' "$logs/bun.log") ))
[ $fail -ne 0 ] && [ $failed -eq 0 ] && failed=1 # a step failed outside the counted tests
echo
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit $fail
