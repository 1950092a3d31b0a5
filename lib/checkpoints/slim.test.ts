import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../util/errors.ts";
import { hfModelProblem, nodeSlimFs, slimCheckpoint, slimRefusal, type SlimFs } from "./slim.ts";
import { makeRun } from "./test_fixtures.ts";

const readInfo = (dir: string) => JSON.parse(readFileSync(join(dir, "training_info.json"), "utf8"));

describe("slimCheckpoint", () => {
  test("removes deepspeed/, keeps hf_model/, updates training_info.json", () => {
    const out = makeRun([{ step: 5, dsBytes: 5000, hfBytes: 2000 }]);
    const dir = join(out, "checkpoint-5");
    const r = slimCheckpoint({ path: dir });
    expect(r.slimmed).toBe(true);
    expect(r.freedBytes).toBe(5000 + "global_step5".length);
    expect(existsSync(join(dir, "deepspeed"))).toBe(false);
    expect(existsSync(join(dir, "hf_model", "model.safetensors"))).toBe(true);
    const info = readInfo(dir);
    expect(info.slim).toBe(true);
    expect(info.has_deepspeed_state).toBe(false);
    expect(info.bytes.deepspeed).toBe(0);
    expect(info.bytes.hf_model).toBe(2000 + JSON.stringify({ num_labels: 2 }).length);
    expect(info.bytes.total).toBeGreaterThanOrEqual(info.bytes.hf_model);
    expect(info.step).toBe(5); // the rest is preserved
    expect(readdirSync(dir).sort()).toEqual(["hf_model", "training_info.json"]);
    expect(slimCheckpoint({ path: dir })).toMatchObject({ slimmed: false, reason: "already slim" });
  });

  test("refuses a checkpoint without hf_model/ and changes nothing", () => {
    const out = makeRun([{ step: 5, hfModel: false }]);
    const dir = join(out, "checkpoint-5");
    const before = readFileSync(join(dir, "training_info.json"), "utf8");
    expect(() => slimCheckpoint({ path: dir })).toThrow(/no hf_model\/.*export it first/);
    expect(existsSync(join(dir, "deepspeed", "latest"))).toBe(true);
    expect(readFileSync(join(dir, "training_info.json"), "utf8")).toBe(before);
  });

  test("refuses an hf_model/ with missing weights or a missing shard", () => {
    const out = makeRun([{ step: 5 }, { step: 6 }]);
    const a = join(out, "checkpoint-5");
    rmSync(join(a, "hf_model", "model.safetensors"));
    expect(hfModelProblem(a)).toContain("no safetensors");
    const b = join(out, "checkpoint-6");
    rmSync(join(b, "hf_model", "model.safetensors"));
    writeFileSync(join(b, "hf_model", "model.safetensors.index.json"), JSON.stringify({ weight_map: { w: "model-00001-of-00002.safetensors" } }));
    expect(hfModelProblem(b)).toContain("model-00001-of-00002.safetensors");
    expect(() => slimCheckpoint({ path: b })).toThrow(UserError);
    writeFileSync(join(b, "hf_model", "model-00001-of-00002.safetensors"), "x");
    expect(hfModelProblem(b)).toBeNull();
  });

  test("refuses a folder without training_info.json", () => {
    const out = makeRun([{ step: 5, complete: false }]);
    expect(slimRefusal(join(out, "checkpoint-5"))).toContain("never touched");
    expect(() => slimCheckpoint({ path: join(out, "checkpoint-5") })).toThrow(/never touched/);
  });

  test("dry run reports and changes nothing", () => {
    const out = makeRun([{ step: 5 }]);
    const dir = join(out, "checkpoint-5");
    const r = slimCheckpoint({ path: dir, dryRun: true });
    expect(r.slimmed).toBe(true);
    expect(r.freedBytes).toBeGreaterThan(3000);
    expect(existsSync(join(dir, "deepspeed"))).toBe(true);
    expect(readInfo(dir).slim).toBe(false);
  });

  test("interrupted after the metadata update: marked slim, and a second run finishes the removal", () => {
    const out = makeRun([{ step: 5 }]);
    const dir = join(out, "checkpoint-5");
    const crashing: SlimFs = { ...nodeSlimFs, rm: () => { throw new Error("killed"); } };
    expect(() => slimCheckpoint({ path: dir, fs: crashing })).toThrow("killed");
    // never the dangerous state (deepspeed/ gone while training_info says it is there)
    expect(readInfo(dir).has_deepspeed_state).toBe(false);
    const r = slimCheckpoint({ path: dir });
    expect(r.slimmed).toBe(true);
    expect(r.reason).toContain("interrupted");
    expect(readdirSync(dir).sort()).toEqual(["hf_model", "training_info.json"]);
  });

  test("a failed metadata write leaves the checkpoint whole", () => {
    const out = makeRun([{ step: 5 }]);
    const dir = join(out, "checkpoint-5");
    const full: SlimFs = { ...nodeSlimFs, writeFileAtomic: () => { throw new Error("ENOSPC"); } };
    expect(() => slimCheckpoint({ path: dir, fs: full })).toThrow("ENOSPC");
    expect(existsSync(join(dir, "deepspeed", "latest"))).toBe(true);
    expect(readInfo(dir).slim).toBe(false);
  });
});
