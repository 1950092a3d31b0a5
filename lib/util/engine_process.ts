// The one way the launcher starts an engine process (qc_engine.evaluate, .export, .predict, .hub_model,
// .demo_assets, .tools.*): from an argv list, with the engine's environment, its stdin fed line by line
// when it reads one, its stdout JSON lines turned into events. The spawn function is injected for tests.
import { spawn as nodeSpawn } from "node:child_process";
import { createInterface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import { UserError } from "./errors.ts";
import { enginePythonPath, PROJECT_ROOT } from "./python.ts";

/** What runEngineProcess needs from a started process (node's ChildProcess satisfies it). */
export interface EngineProcess {
  stdout: Readable;
  stderr: Readable;
  /** Present when started with `stdin: true` (the runner's `input`). */
  stdin?: Writable | null;
  exited: Promise<number>;
}

export type SpawnEngine = (argv: string[], opts: { env: Record<string, string>; cwd: string; stdin?: boolean }) => EngineProcess;

export const spawnEngine: SpawnEngine = (argv, opts) => {
  const stdin = opts.stdin ? "pipe" : "ignore";
  const child = nodeSpawn(argv[0], argv.slice(1), { cwd: opts.cwd, env: opts.env, stdio: [stdin, "pipe", "pipe"] });
  const exited = new Promise<number>((res, rej) => {
    child.on("error", rej);
    child.on("close", (code, signal) => res(code ?? (signal === "SIGINT" ? 130 : 1)));
  });
  return { stdout: child.stdout!, stderr: child.stderr!, stdin: child.stdin, exited };
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
  /**
   * Lines for the process's stdin (a newline is added to each), written as the process reads them
   * (back-pressure: a generator of millions of lines is never held in memory); stdin is closed after
   * the last. Without it the process gets no stdin.
   */
  input?: Iterable<string>;
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

/** Writes the lines with back-pressure, then closes stdin; stops early when the process has gone. */
async function feedLines(stdin: Writable, lines: Iterable<string>): Promise<void> {
  stdin.on("error", () => {}); // EPIPE when the process exits early: its exit code and stderr tell why
  const gone = () => stdin.destroyed || stdin.writableEnded;
  const drained = () =>
    new Promise<void>((res) => {
      const done = () => {
        stdin.off("drain", done);
        stdin.off("close", done);
        res();
      };
      stdin.on("drain", done);
      stdin.on("close", done);
    });
  for (const line of lines) {
    if (gone()) return;
    if (!stdin.write(line + "\n") && !gone()) await drained();
  }
  if (!gone()) stdin.end();
}

/** Each stdout line to an event (parseLine) or, when it is none, to onLog. */
async function readStdout<E>(stdout: Readable, params: EngineProcessParams<E>): Promise<void> {
  for await (const line of createInterface({ input: stdout, crlfDelay: Infinity })) {
    const ev = params.parseLine(line);
    if (ev === null) {
      if (line.trim()) params.onLog?.(line, "stdout");
    } else params.onEvent?.(ev);
  }
}

/** Runs an engine command to completion, delivering its events as they arrive. */
export async function runEngineProcess<E>(params: EngineProcessParams<E>): Promise<{ exitCode: number; stderrTail: string[] }> {
  const withInput = params.input !== undefined;
  const proc = (params.spawn ?? spawnEngine)(params.argv, { env: params.env ?? engineEnv(), cwd: params.cwd ?? PROJECT_ROOT, stdin: withInput });
  if (withInput && !proc.stdin) throw new Error(`runEngineProcess: ${params.what}: input given but the process has no stdin`);
  const feed = withInput ? feedLines(proc.stdin!, params.input!) : Promise.resolve();
  const stderrTail: string[] = [];
  const reading = readStdout(proc.stdout, params);
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
  await Promise.all([reading, readStderr, feed]);
  return { exitCode, stderrTail };
}
