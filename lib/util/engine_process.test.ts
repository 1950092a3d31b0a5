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

test("engineEnv puts engine/ first on PYTHONPATH and unbuffers Python", () => {
  const env = engineEnv({ PYTHONPATH: "/x", HOME: "/h", UNSET: undefined });
  expect(env.PYTHONPATH).toMatch(/\/engine:\/x$/);
  expect(env.PYTHONUNBUFFERED).toBe("1");
  expect(env.HOME).toBe("/h");
  expect("UNSET" in env).toBe(false);
});
