import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { listCheckpoints, readCheckpoint } from "./scan.ts";
import { UserError } from "../util/errors.ts";

function makeRun(): string {
  const out = mkdtempSync(join(tmpdir(), "qc-scan-"));
  for (const step of [200, 10, 30]) {
    const d = join(out, `checkpoint-${step}`);
    mkdirSync(d);
    writeFileSync(join(d, "training_info.json"), JSON.stringify({ step, is_final: step === 200 }));
  }
  mkdirSync(join(out, "checkpoint-40")); // incomplete: no training_info.json
  mkdirSync(join(out, ".checkpoint-50.tmp"));
  mkdirSync(join(out, "logs"));
  writeFileSync(join(out, "checkpoint-30", "eval_results.json"), JSON.stringify({ k: { split: "full", metrics: { accuracy: 0.5 } } }));
  return out;
}

describe("listCheckpoints", () => {
  test("lists complete checkpoints sorted by step, with metadata", () => {
    const out = makeRun();
    const list = listCheckpoints({ outputDir: out });
    expect(list.map((c) => c.step)).toEqual([10, 30, 200]);
    expect(list[2].info?.is_final).toBe(true);
    expect(list[1].evalResults?.k.metrics.accuracy).toBe(0.5);
    expect(list[0].evalResults).toBeNull();
  });
  test("includes incomplete ones only when asked", () => {
    const out = makeRun();
    const list = listCheckpoints({ outputDir: out, includeIncomplete: true });
    expect(list.map((c) => [c.step, c.complete])).toEqual([[10, true], [30, true], [40, false], [200, true]]);
  });
  test("missing output dir is a UserError", () => {
    expect(() => listCheckpoints({ outputDir: "/nonexistent/qc" })).toThrow(UserError);
  });
});

describe("readCheckpoint", () => {
  test("refuses an incomplete checkpoint, naming it", () => {
    const out = makeRun();
    expect(() => readCheckpoint(join(out, "checkpoint-40"))).toThrow(/not a complete checkpoint/);
    expect(readCheckpoint(join(out, "checkpoint-10")).step).toBe(10);
  });
});
