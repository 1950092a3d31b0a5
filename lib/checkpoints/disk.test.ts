import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { checkpointBytes, freeSpace, runDiskUsage } from "./disk.ts";
import { makeRun } from "./test_fixtures.ts";

describe("disk accounting", () => {
  test("checkpointBytes counts each part", () => {
    const out = makeRun([{ step: 3, dsBytes: 4096, hfBytes: 1024 }]);
    const b = checkpointBytes(join(out, "checkpoint-3"));
    expect(b.deepspeed).toBe(4096 + "global_step3".length);
    expect(b.hf_model).toBe(1024 + JSON.stringify({ num_labels: 2 }).length);
    expect(b.total).toBeGreaterThan(b.deepspeed + b.hf_model); // + training_info.json
  });
  test("freeSpace multiplies blocks by block size (statfs injected) and works on the real disk", () => {
    const fake = (() => ({ bavail: 10, bsize: 4096, blocks: 100 })) as any;
    expect(freeSpace({ path: "/", statfs: fake })).toEqual({ freeBytes: 40960, totalBytes: 409600 });
    const real = freeSpace({ path: "/tmp" });
    expect(real.totalBytes).toBeGreaterThan(real.freeBytes);
    expect(real.freeBytes).toBeGreaterThan(0);
  });
  test("runDiskUsage lists complete checkpoints and the free space", () => {
    const out = makeRun([{ step: 1 }, { step: 2 }, { step: 3, complete: false }]);
    const fake = (() => ({ bavail: 1024 * 1024, bsize: 1024, blocks: 2 * 1024 * 1024 })) as any;
    const u = runDiskUsage({ outputDir: out, statfs: fake });
    expect(u.checkpoints.map((c) => c.step)).toEqual([1, 2]);
    expect(u.runBytes).toBeGreaterThan(u.checkpoints[0].bytes.total * 2);
    expect(u.free).toEqual({ freeBytes: 1024 * 1024 * 1024, totalBytes: 2 * 1024 * 1024 * 1024 });
  });
});
