import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { median, phases, probeBatching, readEngineEvents, steadyRate } from "./e2e_vs_trainer.ts";

describe("steadyRate", () => {
  test("skips the warm-up steps and the intervals that hold a save", () => {
    // Steps 1..6 end at t = 0,1,2,3,13,14. skip 2: steps 1 and 2 are warm-up, so steps 3, 4 and 6 are
    // timed (1 s each); step 5's interval (3 -> 13) holds the save made after step 4 and is left out.
    const rate = steadyRate({ stepEnds: [0, 1, 2, 3, 13, 14], saveSteps: [4], globalBatch: 8, skip: 2 });
    expect(rate).toBeCloseTo((3 * 8) / 3, 6);
  });
  test("null when no interval is left", () => {
    expect(steadyRate({ stepEnds: [0, 1], saveSteps: [1], globalBatch: 4, skip: 1 })).toBeNull();
  });
  test("median of odd and even counts", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
  });
});

describe("readEngineEvents", () => {
  test("step times, saves, last loss and the mean padding fraction when the engine reports one", () => {
    const dir = mkdtempSync(join(tmpdir(), "qc-e2e-"));
    const path = join(dir, "events.jsonl");
    const lines = [
      { event: "start", time: 0 },
      { event: "step", time: 1, step: 1, loss: 2.5, padding_fraction: 0.2 },
      { event: "step", time: 2, step: 2, loss: 2.25, padding_fraction: 0.4 },
      { event: "checkpoint", time: 3, step: 2 },
      { event: "end", time: 4 },
    ];
    writeFileSync(path, lines.map((l) => JSON.stringify(l)).join("\n") + "\n");
    const ev = readEngineEvents(path);
    expect(ev).toEqual({ stepEnds: [1, 2], saveSteps: [2], steps: 2, finalLoss: 2.25, paddingFraction: expect.closeTo(0.3, 9) as unknown as number });
  });
});

describe("probeBatching", () => {
  test("an unknown data.batching is 'not available' with the refusal, not a failure", () => {
    const seen: string[][] = [];
    const r = probeBatching({
      config: "c.yaml",
      run: (argv) => {
        seen.push(argv);
        return { exitCode: 2, stderr: "error: the config has 1 problem\n  1. data.batching: (--set data.batching=padded) unknown option\n" };
      },
    });
    expect(r.available).toBe(false);
    expect(r.reason).toContain("data.batching: (--set data.batching=padded) unknown option");
    expect(seen[0]).toContain("--dry-run");
    expect(seen[0]).toContain("data.batching=padded");
  });
  test("available when the dry run accepts it", () => {
    expect(probeBatching({ config: "c.yaml", run: () => ({ exitCode: 0, stderr: "" }) })).toEqual({ available: true, reason: "" });
  });
});

describe("phases", () => {
  test("start-up, training, the saves' excess over a plain step, and the exit", () => {
    // spawn at 100; steps end at 110, 111, 112, 115 (save after step 3: 3 s instead of 1 s), 116; exit at 120
    const p = phases({ spawn: 100, exit: 120, stepEnds: [110, 111, 112, 115, 116], saveSteps: [3, 5] });
    expect(p).toEqual({ startup: 10, training: 6, saving: 2, exit: 4 });
  });
});
