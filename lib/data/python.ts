import { existsSync } from "node:fs";
import { join, resolve } from "node:path";

/** The repository root (lib/data/../..). */
export const PROJECT_ROOT = resolve(import.meta.dir, "..", "..");

/** The project's Python: $QC_PYTHON_BIN, else .venv/bin/python, else python3 on PATH. */
export function projectPython(env: Record<string, string | undefined> = process.env): string {
  if (env.QC_PYTHON_BIN) return env.QC_PYTHON_BIN;
  const venv = join(PROJECT_ROOT, ".venv", "bin", "python");
  return existsSync(venv) ? venv : "python3";
}
