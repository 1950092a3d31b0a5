import { UserError } from "../util/errors.ts";
import { runEngineProcess, type SpawnEngine } from "../util/engine_process.ts";
import type { DeepDecoder } from "./check.ts";
import { projectPython } from "../util/python.ts";
import type { DeepDecodeResult } from "../../generated/messages.ts";

const MODULE = "qc_engine.tools.deep_decode";

function parseVerdict(line: string): DeepDecodeResult | null {
  if (!line.startsWith("{")) return null;
  try {
    const v = JSON.parse(line) as DeepDecodeResult;
    return typeof v?.i === "number" ? v : null;
  } catch {
    return null;
  }
}

/** One JSON string a line, generated as the decoder reads them (a large set is never copied). */
function* pathLines(paths: string[]): Generator<string> {
  for (const p of paths) yield JSON.stringify(p);
}

/**
 * A DeepDecoder that streams the paths to `python -m qc_engine.tools.deep_decode` (Pillow, as the engine opens
 * images) through the engine-process runner and reads one verdict per image back.
 */
export function makeDeepDecoder(params: { python?: string; spawn?: SpawnEngine } = {}): DeepDecoder {
  const python = params.python ?? projectPython();
  return async ({ paths, onDone }) => {
    const failures = new Map<string, string>();
    if (paths.length === 0) return failures;
    let done = 0;
    const { exitCode, stderrTail } = await runEngineProcess<DeepDecodeResult>({
      argv: [python, "-m", MODULE],
      what: "--deep image decoder",
      input: pathLines(paths),
      parseLine: parseVerdict,
      onEvent: ({ i, error }) => {
        if (error) failures.set(paths[i], error);
        onDone?.(++done);
      },
      spawn: params.spawn,
    });
    if (exitCode !== 0 || done !== paths.length) {
      throw new UserError(`--deep: the decoder (${python} -m ${MODULE}) stopped after ${done} of ${paths.length} images (exit ${exitCode}): ${stderrTail.join("\n").trim().slice(-500)}`);
    }
    return failures;
  };
}
