import { describe, expect, test } from "bun:test";
import { PassThrough } from "node:stream";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../util/errors.ts";
import type { SpawnEngine } from "../evaluate/engine.ts";
import { fakeInfo, makeRun } from "../checkpoints/test_fixtures.ts";
import { checkpointUsers } from "../checkpoints/lock.ts";
import { applyRetention } from "../checkpoints/retention.ts";
import {
  buildExportArgv,
  checkExportOptions,
  exportCheckpoint,
  formatExportReport,
  parseExportLine,
  planExportAll,
  runExport,
  type ExportOptions,
} from "./export.ts";
import { createExportProgress } from "./progress.ts";
import { messageErrors } from "../util/message_schema.ts";

const OPTS: ExportOptions = { dtype: "bf16", maxShardSize: "5GB", verify: false };

function result(checkpoint: string, extra: object = {}) {
  return JSON.stringify({
    event: "result", checkpoint, hf_model: join(checkpoint, "hf_model"), source: { kind: "deepspeed", zero_stage: 3, tag: "global_step2" },
    dtype: "bf16", max_shard_size: 5e9, files: ["model.safetensors"], shard_bytes: { "model.safetensors": 2048 }, tensors: 58,
    parameters: 317322, safetensors_dtypes: ["BF16"], bytes: 4096, replaced_previous: false, seconds: 1.5, read_seconds: 1,
    write_seconds: 0.5, verify: null, ...extra,
  });
}

/** A fake engine: answers each spawned argv with the lines `script(argv)` returns. */
function fakeSpawn(script: (argv: string[]) => { stdout: string[]; stderr?: string[]; code: number }) {
  const seen: string[][] = [];
  const spawn: SpawnEngine = (argv) => {
    seen.push(argv);
    const s = script(argv);
    // The fake speaks the real protocol: every line the launcher takes for an event matches the schema.
    for (const l of s.stdout) {
      const ev = parseExportLine(l);
      if (ev) expect(messageErrors("ExportEvent", ev)).toEqual([]);
    }
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    setTimeout(() => {
      for (const l of s.stdout) stdout.write(l + "\n");
      for (const l of s.stderr ?? []) stderr.write(l + "\n");
      stdout.end();
      stderr.end();
    }, 1);
    return { stdout, stderr, exited: new Promise((r) => setTimeout(() => r(s.code), 5)) };
  };
  return { spawn, seen };
}

const ckptOf = (argv: string[]) => argv[argv.indexOf("--checkpoint") + 1];

describe("argv and options", () => {
  test("argv is a list: python -m qc_engine.export with every option", () => {
    expect(buildExportArgv({ python: "/py", checkpoint: "/o/checkpoint-2", dtype: "fp16", maxShardSize: "2GB", verify: true, verifySamples: 3 })).toEqual([
      "/py", "-m", "qc_engine.export", "--checkpoint", "/o/checkpoint-2", "--dtype", "fp16", "--max-shard-size", "2GB", "--json", "--verify", "--verify-samples", "3",
    ]);
  });
  test.each([
    [{ dtype: "int8" }, "--dtype int8"],
    [{ maxShardSize: "big" }, "--max-shard-size big"],
    [{ verifySamples: 0 }, "--verify-samples 0"],
  ])("%j is refused before any Python starts", (o, msg) => {
    expect(() => checkExportOptions(o)).toThrow(msg);
  });
  test("sizes like 5GB, 500MB, 1.5GiB, 1000 are accepted", () => {
    for (const s of ["5GB", "500MB", "1.5GiB", "1000"]) expect(() => checkExportOptions({ maxShardSize: s })).not.toThrow();
  });
  test("parseExportLine keeps our events only", () => {
    expect(parseExportLine('{"event":"progress","phase":"cast","done":1,"total":2,"unit":"tensors"}')?.event).toBe("progress");
    expect(parseExportLine("Processing zero checkpoint")).toBeNull();
    expect(parseExportLine('{"event":"paused"}')).toBeNull();
    expect(parseExportLine("{oops")).toBeNull();
  });
});

describe("exportCheckpoint", () => {
  test("success: events delivered, result kept, other lines logged", async () => {
    const out = makeRun([{ step: 2 }]);
    const ck = join(out, "checkpoint-2");
    const { spawn, seen } = fakeSpawn(() => ({
      stdout: ['{"event":"progress","phase":"cast","done":1,"total":1,"unit":"tensors"}', "a print", result(ck)],
      stderr: ["tqdm bar"],
      code: 0,
    }));
    const events: string[] = [];
    const logs: string[] = [];
    const o = await exportCheckpoint({ checkpoint: ck, options: OPTS, spawn, python: "/py", onEvent: (e) => events.push(e.event), onLog: (l, s) => logs.push(`${s}:${l}`) });
    expect(o.status).toBe("exported");
    expect(o.result?.tensors).toBe(58);
    expect(events).toEqual(["progress", "result"]);
    expect(logs.sort()).toEqual(["stderr:tqdm bar", "stdout:a print"]); // the two streams interleave freely
    expect(seen[0].slice(0, 5)).toEqual(["/py", "-m", "qc_engine.export", "--checkpoint", ck]);
  });
  test("the checkpoint carries an export in-use lock while the engine runs (prune keeps it), released after, also on failure", async () => {
    const out = makeRun([{ step: 1 }, { step: 2 }]);
    const ck = join(out, "checkpoint-1");
    const during: string[][] = [];
    const { spawn } = fakeSpawn(() => {
      during.push(checkpointUsers({ checkpoint: ck }).live.map((l) => `${l.purpose}:${l.pid}`));
      const res = applyRetention({ outputDir: out, policy: "last:1" });
      during.push(res.rows.map((r) => `${r.name}:${r.action}`));
      return { stdout: [], stderr: ["Killed"], code: 137 };
    });
    const o = await exportCheckpoint({ checkpoint: ck, options: OPTS, spawn });
    expect(o.status).toBe("failed");
    expect(during).toEqual([[`export:${process.pid}`], ["checkpoint-1:keep", "checkpoint-2:keep"]]);
    expect(readdirSync(ck).filter((n) => n.startsWith(".in-use."))).toEqual([]);
    expect(existsSync(ck)).toBe(true);
  });

  test("failure: the engine's error message and exit code are kept", async () => {
    const out = makeRun([{ step: 2 }]);
    const { spawn } = fakeSpawn(() => ({ stdout: ['{"event":"error","message":"missing the optimizer shard of rank(s) [1]","exit_code":2}'], code: 2 }));
    const o = await exportCheckpoint({ checkpoint: join(out, "checkpoint-2"), options: OPTS, spawn });
    expect([o.status, o.exitCode, o.message]).toEqual(["failed", 2, "missing the optimizer shard of rank(s) [1]"]);
  });
  test("a crash without an error event (killed, OOM) is a failure naming the exit code and stderr", async () => {
    const out = makeRun([{ step: 2 }]);
    const { spawn } = fakeSpawn(() => ({ stdout: [], stderr: ["Killed"], code: 137 }));
    const o = await exportCheckpoint({ checkpoint: join(out, "checkpoint-2"), options: OPTS, spawn });
    expect(o.status).toBe("failed");
    expect(o.exitCode).toBe(137);
    expect(o.message).toContain("code 137: Killed");
  });
  test("exit 0 without a result is still a failure", async () => {
    const out = makeRun([{ step: 2 }]);
    const { spawn } = fakeSpawn(() => ({ stdout: [], code: 0 }));
    const o = await exportCheckpoint({ checkpoint: join(out, "checkpoint-2"), options: OPTS, spawn });
    expect([o.status, o.exitCode]).toEqual(["failed", 1]);
  });
  test("an incomplete checkpoint is refused before spawning anything", async () => {
    const out = makeRun([{ step: 2, complete: false }]);
    const { spawn, seen } = fakeSpawn(() => ({ stdout: [], code: 0 }));
    await expect(exportCheckpoint({ checkpoint: join(out, "checkpoint-2"), options: OPTS, spawn })).rejects.toThrow(/not a complete checkpoint/);
    expect(seen).toEqual([]);
  });
});

describe("--all", () => {
  test("planExportAll: deferred ones are exported; slim and already exported ones skipped (unless --force)", () => {
    const cks = [
      fakeInfo({ step: 1, hfModel: false }),
      fakeInfo({ step: 2, hfModel: true }),
      fakeInfo({ step: 3, slim: true }),
      fakeInfo({ step: 4, complete: false }),
    ];
    expect(planExportAll({ checkpoints: cks }).map((r) => [r.checkpoint.step, r.action])).toEqual([[1, "export"], [2, "skip"], [3, "skip"]]);
    expect(planExportAll({ checkpoints: cks, force: true }).map((r) => [r.checkpoint.step, r.action])).toEqual([[1, "export"], [2, "export"], [3, "skip"]]);
  });
  test("runExport --all exports in order, keeps going after a failure, returns the failure's code", async () => {
    const out = makeRun([{ step: 1, hfModel: false }, { step: 2, hfModel: false }, { step: 3, hfModel: true }]);
    const { spawn, seen } = fakeSpawn((argv) =>
      ckptOf(argv).endsWith("checkpoint-1")
        ? { stdout: ['{"event":"error","message":"not enough disk space","exit_code":1}'], code: 1 }
        : { stdout: [result(ckptOf(argv))], code: 0 },
    );
    const res = await runExport({ all: out, options: OPTS, spawn });
    expect(seen.map(ckptOf)).toEqual([join(out, "checkpoint-1"), join(out, "checkpoint-2")]);
    expect(res.outcomes.map((o) => o.status)).toEqual(["failed", "exported", "skipped"]);
    expect(res.exitCode).toBe(1);
    const report = formatExportReport(res);
    expect(report).toContain("checkpoint-1: FAILED (exit 1): not enough disk space; any previous hf_model/ is intact");
    expect(report).toContain("checkpoint-2: exported from DeepSpeed ZeRO-3");
    expect(report).toContain("checkpoint-3: skipped (already has hf_model/");
    expect(report).toContain("exported 1, skipped 1, failed 1");
  });
  test("exactly one of --checkpoint / --all", async () => {
    await expect(runExport({ options: OPTS })).rejects.toThrow(UserError);
    await expect(runExport({ checkpoint: "a", all: "b", options: OPTS })).rejects.toThrow(/exactly one/);
  });
});

describe("progress", () => {
  test("plain lines when not a TTY: throttled, the last one of a phase always printed", () => {
    let t = 0;
    const lines: string[] = [];
    const stream = { write: (s: string) => (lines.push(s), true) } as any;
    const p = createExportProgress({ stream, isTTY: false, now: () => t, plainIntervalMs: 1000 });
    const ev = (done: number) => ({ event: "progress" as const, phase: "write", done, total: 2048, unit: "bytes" });
    p.onEvent(ev(0), "/o/checkpoint-2");
    t = 10;
    p.onEvent(ev(1024), "/o/checkpoint-2"); // throttled
    p.onEvent(ev(2048), "/o/checkpoint-2"); // finished: printed
    expect(lines).toEqual([
      "[export] checkpoint-2: write safetensors 0 B/2.0 KiB (0%)\n",
      "[export] checkpoint-2: write safetensors 2.0 KiB/2.0 KiB (100%)\n",
    ]);
  });
  test("verify results are reported with the tolerance", async () => {
    const out = makeRun([{ step: 2 }]);
    const ck = join(out, "checkpoint-2");
    const verify = { inputs: "4 validation image(s)", samples: 4, max_abs_diff: 0.0013, max_abs_reference: 0.66, tolerance: 0.0298, atol: 0.01, rtol: 0.03, argmax_agree: 4, passed: true };
    const { spawn } = fakeSpawn(() => ({ stdout: [result(ck, { verify })], code: 0 }));
    const res = await runExport({ checkpoint: ck, options: { ...OPTS, verify: true }, spawn });
    expect(formatExportReport(res)).toContain("max |logit diff| 1.30e-3 <= tolerance 2.98e-2");
  });
});
