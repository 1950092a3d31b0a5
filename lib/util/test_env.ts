// Every QC_* environment variable the project reads, in one place, split into those a user may set
// and those that exist only for tests (fault injection, test-runner switches). lib/util/test_env.test.ts
// greps the code for QC_[A-Z0-9_]+ and fails on a name missing here, or missing from
// docs/architecture.md ("Environment variables").

export interface EnvVar {
  name: string;
  /** who reads it (file), and what it does */
  readBy: string;
  description: string;
}

/** Variables a user (or CI) may set. */
export const USER_ENV: readonly EnvVar[] = [
  { name: "QC_PYTHON_BIN", readBy: "lib/util/python.ts", description: "the Python that runs the engine (default: .venv/bin/python)" },
  { name: "QC_PYTHON", readBy: "scripts/setup.sh", description: "the Python 3.11 that setup builds .venv from" },
  { name: "QC_VERBOSE", readBy: "engine/qc_engine/{train,evaluate}.py, lib/evaluate/evaluate.ts", description: "show library logs of every rank / the engine's stderr" },
  { name: "QC_EVAL_CACHE_MB", readBy: "engine/qc_engine/evaluate.py", description: "default of --cache-mb (decoded images kept in memory per process)" },
  { name: "QC_EVAL_CACHE_DISK_MB", readBy: "engine/qc_engine/evaluate.py", description: "default of --cache-disk-mb (the sweep's spill file bound per process)" },
  { name: "QC_BENCH_QUICK", readBy: "bench/run_all.sh", description: "a short benchmark run" },
  { name: "QC_BATCHING_ROOT", readBy: "bench/batching_modes.py", description: "where the batching benchmark keeps its model, data and runs" },
  { name: "QC_TEST_SERIAL", readBy: "scripts/test.sh", description: "run pytest and bun test one after the other instead of side by side" },
  { name: "QC_ATTN_IMPLEMENTATION", readBy: "engine/qc_engine/random_init.py (bench/gpu_smoke.sh)", description: "benchmark only: the attention kernel of the random-init 7B until model.attn_implementation exists" },
  { name: "QC_LAUNCHER_PID", readBy: "engine/qc_engine/watchdog.py (set by lib/train/run.ts)", description: "the launcher's pid: every rank stops (saving within training.stop_grace_seconds) once it is gone" },
  { name: "QC_VERIFY_CHECKPOINT", readBy: "engine/qc_engine/{checkpoint,evaluate}.py", description: "1: resume and evaluate also check every checkpoint file's SHA-256 against training_info.json (sizes are always checked; export: --verify)" },
];

/** Variables that exist only for tests: never set them in a real run. */
export const TEST_ONLY_ENV: readonly EnvVar[] = [
  { name: "QC_TEST_FAST", readBy: "scripts/test.sh, test/e2e_train.test.ts", description: "skip the slow end-to-end tests" },
  { name: "QC_TEST_UNSHARED_RANK", readBy: "engine/qc_engine/shared_fs.py", description: "fault injection: that rank looks for rank 0's output_dir marker in a private folder (an unshared filesystem)" },
  { name: "QC_TEST_CRASH_IN_SAVE", readBy: "engine/qc_engine/train.py", description: "fault injection: raise half-way through saving the given step" },
  {
    name: "QC_EXPORT_TEST_FAULT",
    readBy: "engine/qc_engine/export.py",
    description: "fault injection: write|after_write|swap fails (ENOSPC) or pauses (after_write) the export at that point",
  },
];

export const ALL_ENV_NAMES: ReadonlySet<string> = new Set([...USER_ENV, ...TEST_ONLY_ENV].map((v) => v.name));
