// Which Python runs the project's engine and helper scripts (one answer for every task).
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";

/** The repository root (lib/util/../..). */
export const PROJECT_ROOT = resolve(import.meta.dir, "..", "..");

/**
 * The project's Python: $QC_PYTHON_BIN when set, else <root>/.venv/bin/python (what
 * scripts/setup.sh creates) when it exists, else python3 from PATH.
 */
export function projectPython(
  params: { env?: Record<string, string | undefined>; root?: string; exists?: (path: string) => boolean } = {},
): string {
  const env = params.env ?? process.env;
  if (env.QC_PYTHON_BIN) return env.QC_PYTHON_BIN;
  const venv = join(params.root ?? PROJECT_ROOT, ".venv", "bin", "python");
  return (params.exists ?? existsSync)(venv) ? venv : "python3";
}

/** The engine's package folder (qc_engine lives here). */
export const ENGINE_DIR = join(PROJECT_ROOT, "engine");

/**
 * The one PYTHONPATH builder: the engine first, then what was already there (so a user's own
 * path entries still resolve, but never shadow qc_engine).
 */
export function enginePythonPath(params: { existing?: string; engineDir?: string } = {}): string {
  const engineDir = params.engineDir ?? ENGINE_DIR;
  return params.existing ? `${engineDir}:${params.existing}` : engineDir;
}
