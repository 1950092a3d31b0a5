// Running a Python engine command (qc_engine.evaluate, qc_engine.export) from an argv list and
// turning its stdout JSON lines into events. The spawn function is injected for tests.
import { spawn as nodeSpawn } from "node:child_process";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { UserError } from "./errors.ts";
import { enginePythonPath, PROJECT_ROOT } from "./python.ts";

/** What runEngineProcess needs from a started process (node's ChildProcess satisfies it). */
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

/** The engine environment: PYTHONPATH=engine, unbuffered output. */
export function engineEnv(base: Record<string, string | undefined> = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) if (v !== undefined) env[k] = v;
  env.PYTHONPATH = enginePythonPath({ existing: env.PYTHONPATH });
  env.PYTHONUNBUFFERED = "1";
  return env;
}

export interface EngineProcessParams<E> {
  argv: string[];
  /** Which engine, for the message when it cannot start ("evaluation", "export"). */
  what: string;
  /** One stdout line -> an event, or null for anything that is not one (a library's print). */
  parseLine: (line: string) => E | null;
  onEvent?: (ev: E) => void;
  /** Non-event stdout lines and stderr lines (warnings, tracebacks). */
  onLog?: (line: string, stream: "stdout" | "stderr") => void;
  spawn?: SpawnEngine;
  env?: Record<string, string>;
  cwd?: string;
}

const TAIL_LINES = 40;

/** Runs an engine command to completion, delivering its events as they arrive. */
export async function runEngineProcess<E>(params: EngineProcessParams<E>): Promise<{ exitCode: number; stderrTail: string[] }> {
  const proc = (params.spawn ?? spawnEngine)(params.argv, { env: params.env ?? engineEnv(), cwd: params.cwd ?? PROJECT_ROOT });
  const stderrTail: string[] = [];
  const readStdout = (async () => {
    for await (const line of createInterface({ input: proc.stdout, crlfDelay: Infinity })) {
      const ev = params.parseLine(line);
      if (ev === null) {
        if (line.trim()) params.onLog?.(line, "stdout");
      } else params.onEvent?.(ev);
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
    throw new UserError(`could not start the ${params.what} engine (${params.argv[0]}): ${(err as Error).message}`, {
      exitCode: 1,
      hint: "run 'bash scripts/setup.sh' to create .venv, or set QC_PYTHON_BIN",
    });
  }
  await Promise.all([readStdout, readStderr]);
  return { exitCode, stderrTail };
}
