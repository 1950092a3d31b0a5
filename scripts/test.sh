#!/usr/bin/env bash
# Every test: codegen freshness, TypeScript unit/CLI/end-to-end tests (bun test), engine tests (pytest).
# Installs what is missing first. QC_TEST_FAST=1 skips the tests marked slow.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
export PATH="$PWD/node_modules/.bin:$PATH"
fail=0
step() { printf '\n=== %s ===\n' "$*"; }

step "codegen is fresh"
bun run codegen --check || fail=1

step "typecheck"
node_modules/.bin/tsc -p tsconfig.json || fail=1

step "engine tests (pytest)"
pytest_args=(-q engine/tests)
[ "${QC_TEST_FAST:-0}" = 1 ] && pytest_args+=(-m "not slow")
PYTHONPATH=engine DS_ACCELERATOR=cpu .venv/bin/python -m pytest "${pytest_args[@]}" || fail=1

step "TypeScript tests (bun test)"
bun test || fail=1

if [ $fail -ne 0 ]; then echo "TESTS FAILED"; exit 1; fi
echo "ALL TESTS PASSED"
