import { describe, expect, test } from "bun:test";
import { PassThrough } from "node:stream";
import { buildEvaluateArgv, engineEnv, runEvaluateEngine, type SpawnEngine } from "./engine.ts";
import { parseEngineLine } from "./protocol.ts";

describe("buildEvaluateArgv", () => {
  test("one process: python -m qc_engine.evaluate with every checkpoint", () => {
    expect(
      buildEvaluateArgv({ python: "/v/python", checkpoints: ["/r/c-1", "/r/c-2"], data: "/d.jsonl", resolved: "/r/rc.json", outJson: "/t/s.json", batchSize: 8, force: true }),
    ).toEqual(["/v/python", "-m", "qc_engine.evaluate", "--checkpoints", "/r/c-1", "/r/c-2", "--data", "/d.jsonl", "--resolved", "/r/rc.json", "--out-json", "/t/s.json", "--batch-size", "8", "--force"]);
  });
  test("N processes: torchrun (torch.distributed.run), standalone", () => {
    const argv = buildEvaluateArgv({ python: "py", checkpoints: ["c"], data: "d", resolved: "r", outJson: "o", nprocPerNode: 2 });
    expect(argv.slice(0, 7)).toEqual(["py", "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m", "qc_engine.evaluate"]);
    expect(argv).not.toContain("--force");
    expect(argv).not.toContain("--cache-mb"); // the engine's defaults unless asked
  });
  test("the sweep's cache budgets reach the engine", () => {
    const argv = buildEvaluateArgv({ python: "py", checkpoints: ["c"], data: "d", resolved: "r", outJson: "o", cacheMb: 512, cacheDiskMb: 0 });
    expect(argv.slice(-4)).toEqual(["--cache-mb", "512", "--cache-disk-mb", "0"]);
  });
});

describe("engineEnv", () => {
  test("puts engine/ first on PYTHONPATH and keeps the rest", () => {
    const env = engineEnv({ PYTHONPATH: "/x", HOME: "/h" });
    expect(env.PYTHONPATH).toMatch(/\/engine:\/x$/);
    expect(env.HOME).toBe("/h");
  });
});

describe("parseEngineLine", () => {
  test("events only; library output and unknown objects are not events", () => {
    expect(parseEngineLine('{"event":"skip","time":1,"path":"p","step":1,"reason":"r"}')?.event).toBe("skip");
    expect(parseEngineLine("Loading weights...")).toBeNull();
    expect(parseEngineLine('{"event":"other"}')).toBeNull();
    expect(parseEngineLine("{broken")).toBeNull();
  });
});

function fakeSpawn(stdoutLines: string[], stderrLines: string[], code: number): { spawn: SpawnEngine; seen: string[][] } {
  const seen: string[][] = [];
  const spawn: SpawnEngine = (argv) => {
    seen.push(argv);
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    setTimeout(() => {
      for (const l of stdoutLines) stdout.write(l + "\n");
      for (const l of stderrLines) stderr.write(l + "\n");
      stdout.end();
      stderr.end();
    }, 1);
    return { stdout, stderr, exited: new Promise((r) => setTimeout(() => r(code), 5)) };
  };
  return { spawn, seen };
}

describe("runEvaluateEngine", () => {
  test("delivers events in order, passes other lines to onLog, keeps the summary", async () => {
    const { spawn, seen } = fakeSpawn(
      ['{"event":"progress","time":1,"path":"p","batch":1,"num_batches":2,"samples":3}', "some library print", '{"event":"summary","time":2,"results":[]}'],
      ["a warning"],
      0,
    );
    const events: string[] = [];
    const logs: string[] = [];
    const r = await runEvaluateEngine({ argv: ["py", "-m", "x"], spawn, onEvent: (e) => events.push(e.event), onLog: (l, s) => logs.push(`${s}:${l}`) });
    expect(seen[0]).toEqual(["py", "-m", "x"]);
    expect(events).toEqual(["progress", "summary"]);
    expect(logs.sort()).toEqual(["stderr:a warning", "stdout:some library print"]);
    expect(r.exitCode).toBe(0);
    expect(r.summary?.results).toEqual([]);
    expect(r.error).toBeNull();
  });
  test("an engine error event and exit code come back", async () => {
    const { spawn } = fakeSpawn(['{"event":"error","time":1,"message":"bad label","exit_code":2}'], ["error: bad label"], 2);
    const r = await runEvaluateEngine({ argv: ["py"], spawn });
    expect(r.exitCode).toBe(2);
    expect(r.error).toEqual({ message: "bad label", exit_code: 2 });
    expect(r.stderrTail).toEqual(["error: bad label"]);
  });
  test("a missing interpreter is a clear error", async () => {
    const err = await runEvaluateEngine({ argv: ["/nonexistent/python", "-m", "x"] }).catch((e) => e);
    expect(err.message).toContain("could not start the evaluation engine (/nonexistent/python)");
  });
});
