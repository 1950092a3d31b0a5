// Launching `python -m qc_engine.evaluate` (or torchrun for N processes) from an argv list and
// turning its stdout lines into typed events. The spawn function is injected for tests.
import { projectPython } from "../util/python.ts";
import { runEngineProcess, type SpawnEngine } from "../util/engine_process.ts";
import { parseEngineLine, type EvalEngineEvent, type SummaryEvent } from "./protocol.ts";

export { engineEnv, spawnEngine, type EngineProcess, type SpawnEngine } from "../util/engine_process.ts";

/** The engine's Python: the project's one answer (lib/util/python.ts). */
export function defaultPython(env: Record<string, string | undefined> = process.env): string {
  return projectPython({ env });
}

export interface EvaluateArgvParams {
  python: string;
  checkpoints: string[];
  data: string;
  resolved: string;
  outJson: string;
  batchSize?: number;
  /** The sweep's image cache: RAM and spill-file budgets per process (MB); the engine's defaults when absent. */
  cacheMb?: number;
  cacheDiskMb?: number;
  force?: boolean;
  /** >1 launches through torchrun (torch.distributed.run) with that many processes. */
  nprocPerNode?: number;
  /** torchrun rendezvous port for a single-node run (avoids clashes between concurrent runs). */
  masterPort?: number;
}

/** The argv that runs the evaluation engine; never a shell string. */
export function buildEvaluateArgv(p: EvaluateArgvParams): string[] {
  const nproc = p.nprocPerNode ?? 1;
  const launcher =
    nproc > 1
      ? [
          p.python,
          "-m",
          "torch.distributed.run",
          "--standalone",
          `--nproc-per-node=${nproc}`,
          ...(p.masterPort ? [`--master-port=${p.masterPort}`] : []),
          "-m",
          "qc_engine.evaluate",
        ]
      : [p.python, "-m", "qc_engine.evaluate"];
  const argv = [...launcher, "--checkpoints", ...p.checkpoints, "--data", p.data, "--resolved", p.resolved, "--out-json", p.outJson];
  if (p.batchSize !== undefined) argv.push("--batch-size", String(p.batchSize));
  if (p.cacheMb !== undefined) argv.push("--cache-mb", String(p.cacheMb));
  if (p.cacheDiskMb !== undefined) argv.push("--cache-disk-mb", String(p.cacheDiskMb));
  if (p.force) argv.push("--force");
  return argv;
}

export interface RunEngineParams {
  argv: string[];
  spawn?: SpawnEngine;
  env?: Record<string, string>;
  cwd?: string;
  onEvent?: (ev: EvalEngineEvent) => void;
  /** Non-event stdout lines and stderr lines (warnings, tracebacks). */
  onLog?: (line: string, stream: "stdout" | "stderr") => void;
}

export interface RunEngineResult {
  exitCode: number;
  summary: SummaryEvent | null;
  /** The engine's own error event, when it reported one. */
  error: { message: string; exit_code?: number } | null;
  stderrTail: string[];
}

/** Runs the engine to completion, delivering its events as they arrive. */
export async function runEvaluateEngine(params: RunEngineParams): Promise<RunEngineResult> {
  let summary: SummaryEvent | null = null;
  let error: RunEngineResult["error"] = null;
  const { exitCode, stderrTail } = await runEngineProcess<EvalEngineEvent>({
    ...params,
    what: "evaluation",
    parseLine: parseEngineLine,
    onEvent: (ev) => {
      if (ev.event === "summary") summary = ev;
      if (ev.event === "error") error = { message: ev.message, exit_code: ev.exit_code };
      params.onEvent?.(ev);
    },
  });
  return { exitCode, summary, error, stderrTail };
}
