import { describe, expect, test } from "bun:test";
import { Readable } from "node:stream";
import { engineEnv, runEngineProcess, type SpawnEngine } from "./engine_process.ts";
import { UserError } from "./errors.ts";

const fake = (out: string[], err: string[], exited: Promise<number>): SpawnEngine => () => ({
  stdout: Readable.from(out.map((l) => l + "\n")),
  stderr: Readable.from(err.map((l) => l + "\n")),
  exited,
});
const parseLine = (l: string) => (l.startsWith("{") ? (JSON.parse(l) as { event: string }) : null);

describe("runEngineProcess", () => {
  test("JSON lines become events in order; other lines go to onLog; stderr's tail is kept", async () => {
    const events: string[] = [];
    const logs: string[] = [];
    const r = await runEngineProcess({
      argv: ["python", "-m", "x"],
      what: "test",
      parseLine,
      spawn: fake(['{"event":"a"}', "a library print", '{"event":"b"}'], ["warn 1", "Traceback"], Promise.resolve(3)),
      onEvent: (e) => events.push(e.event),
      onLog: (l, s) => logs.push(`${s}:${l}`),
    });
    expect(r.exitCode).toBe(3);
    expect(events).toEqual(["a", "b"]);
    // the two streams interleave in any order; within each, order is kept
    expect(logs.filter((l) => l.startsWith("stdout:"))).toEqual(["stdout:a library print"]);
    expect(logs.filter((l) => l.startsWith("stderr:"))).toEqual(["stderr:warn 1", "stderr:Traceback"]);
    expect(r.stderrTail).toEqual(["warn 1", "Traceback"]);
  });
  test("a process that cannot start is a UserError naming the engine and the program", async () => {
    const p = runEngineProcess({ argv: ["/no/python"], what: "export", parseLine, spawn: fake([], [], Promise.reject(new Error("ENOENT"))) });
    await expect(p).rejects.toBeInstanceOf(UserError);
    await expect(p).rejects.toThrow("could not start the export engine (/no/python): ENOENT");
  });
});

describe("runEngineProcess: stdin", () => {
  function* numbered(n: number): Generator<string> {
    for (let i = 0; i < n; i++) yield JSON.stringify({ event: "line", i, pad: "x".repeat(40) });
  }
  test("input lines reach the process in order, with back-pressure, and stdin is closed after the last", async () => {
    // cat echoes stdin and exits only once stdin is closed; 20k lines (~1.2 MB) overflow the pipe buffer many times
    const seen: number[] = [];
    const r = await runEngineProcess<{ event: string; i: number }>({
      argv: ["cat"], what: "test", input: numbered(20_000), parseLine: (l) => JSON.parse(l), onEvent: (e) => seen.push(e.i),
    });
    expect(r.exitCode).toBe(0);
    expect(seen.length).toBe(20_000);
    expect(seen.every((v, i) => v === i)).toBe(true);
  }, 30_000);
  test("a process that exits without reading its input ends the run with its exit code (no hang)", async () => {
    const r = await runEngineProcess({
      argv: ["sh", "-c", "echo gone >&2; exit 3"], what: "test", input: numbered(200_000), parseLine,
    });
    expect(r.exitCode).toBe(3);
    expect(r.stderrTail).toEqual(["gone"]);
  }, 30_000);
  test("stdin is piped only when there is input", async () => {
    const asked: (boolean | undefined)[] = [];
    const spawn: SpawnEngine = (_argv, opts) => {
      asked.push(opts.stdin);
      return { stdout: Readable.from([]), stderr: Readable.from([]), exited: Promise.resolve(0) };
    };
    await runEngineProcess({ argv: ["x"], what: "test", parseLine, spawn });
    expect(asked).toEqual([false]);
    await expect(runEngineProcess({ argv: ["x"], what: "test", parseLine, spawn, input: ["a"] })).rejects.toThrow("input given but the process has no stdin");
  });
});

test("engineEnv puts engine/ first on PYTHONPATH and unbuffers Python", () => {
  const env = engineEnv({ PYTHONPATH: "/x", HOME: "/h", UNSET: undefined });
  expect(env.PYTHONPATH).toMatch(/\/engine:\/x$/);
  expect(env.PYTHONUNBUFFERED).toBe("1");
  expect(env.HOME).toBe("/h");
  expect("UNSET" in env).toBe(false);
});
