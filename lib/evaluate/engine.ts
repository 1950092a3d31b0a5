// Launching `python -m qc_engine.evaluate` (or torchrun for N processes) from an argv list and
// turning its stdout lines into typed events. The spawn function is injected for tests.
import { spawn as nodeSpawn } from "node:child_process";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { join } from "node:path";
import { PROJECT_ROOT, projectPython } from "../util/python.ts";
import { UserError } from "../util/errors.ts";
import { parseEngineLine, type EvalEngineEvent, type SummaryEvent } from "./protocol.ts";

export const REPO_ROOT = PROJECT_ROOT;

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
  if (p.force) argv.push("--force");
  return argv;
}

/** What runEvaluateEngine needs from a started process (node's ChildProcess satisfies it). */
export interface EngineProcess {
  stdout: Readable;
  stderr: Readable;
  exited: Promise<number>;
}

export type SpawnEngine = (argv: string[], opts: { env: Record<string, string>; cwd: string }) => EngineProcess;

export const spawnEngine: SpawnEngine = (argv, opts) => {
  const child = nodeSpawn(argv[0], argv.slice(1), { cwd: opts.cwd, env: opts.env, stdio: ["ignore", "pipe", "pipe"] });
  const exited = new Promise<number>((res, rej) => {
    child.on("error", rej);
    child.on("close", (code, signal) => res(code ?? (signal === "SIGINT" ? 130 : 1)));
  });
  return { stdout: child.stdout!, stderr: child.stderr!, exited };
};

/** The engine environment: PYTHONPATH=engine, CPU accelerator when no GPU is asked for. */
export function engineEnv(base: Record<string, string | undefined> = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) if (v !== undefined) env[k] = v;
  const enginePath = join(REPO_ROOT, "engine");
  env.PYTHONPATH = env.PYTHONPATH ? `${enginePath}:${env.PYTHONPATH}` : enginePath;
  env.PYTHONUNBUFFERED = "1";
  return env;
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

const TAIL_LINES = 40;

/** Runs the engine to completion, delivering its events as they arrive. */
export async function runEvaluateEngine(params: RunEngineParams): Promise<RunEngineResult> {
  const spawn = params.spawn ?? spawnEngine;
  const proc = spawn(params.argv, { env: params.env ?? engineEnv(), cwd: params.cwd ?? REPO_ROOT });
  let summary: SummaryEvent | null = null;
  let error: RunEngineResult["error"] = null;
  const stderrTail: string[] = [];

  const readStdout = (async () => {
    for await (const line of createInterface({ input: proc.stdout, crlfDelay: Infinity })) {
      const ev = parseEngineLine(line);
      if (!ev) {
        if (line.trim()) params.onLog?.(line, "stdout");
        continue;
      }
      if (ev.event === "summary") summary = ev;
      if (ev.event === "error") error = { message: ev.message, exit_code: ev.exit_code };
      params.onEvent?.(ev);
    }
  })();
  const readStderr = (async () => {
    for await (const line of createInterface({ input: proc.stderr, crlfDelay: Infinity })) {
      stderrTail.push(line);
      if (stderrTail.length > TAIL_LINES) stderrTail.shift();
      params.onLog?.(line, "stderr");
    }
  })();
  let exitCode: number;
  try {
    exitCode = await proc.exited;
  } catch (err) {
    throw new UserError(`could not start the evaluation engine (${params.argv[0]}): ${(err as Error).message}`, {
      exitCode: 1,
      hint: "run 'bash scripts/setup.sh' to create .venv, or set QC_PYTHON_BIN",
    });
  }
  await Promise.all([readStdout, readStderr]);
  return { exitCode, summary, error, stderrTail };
}
