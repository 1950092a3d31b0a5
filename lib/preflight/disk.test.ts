import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UserError } from "../util/errors.ts";
import { configForTest } from "../data/fixtures.ts";
import { DEEPSPEED_FIXED_BYTES, checkpointSizes, keptByPolicy, nearestExisting, numberOfSaves, preflight, estimateTotalSteps } from "./disk.ts";
import type { ModelSize } from "./model_size.ts";
import { QWEN7B, statfsWith, write7bModelFolder, writeSafetensors } from "./test_fixtures.ts";

const GB = 1e9;
const FIXED = DEEPSPEED_FIXED_BYTES;
const model = (params = 1e9, visionParams = 2e8): ModelSize => ({
  params,
  visionParams,
  hiddenSize: 1024,
  extraFileBytes: 0,
  source: "safetensors",
  modelDir: "/models/m",
  detail: "test model",
});
const outDir = () => join(mkdtempSync(join(tmpdir(), "qc-pre-")), "out", "run");
const base = (patch: Record<string, unknown> = {}) =>
  configForTest({
    training: { output_dir: outDir(), max_steps: 1000, save_steps: 200, precision: "auto", ...(patch as object) },
  });

describe("arithmetic (hand-computed)", () => {
  test("one checkpoint: bf16 weights + fp32 master + Adam moments", () => {
    // 1e9 params in bf16: hf_model 2 GB; deepspeed 2 GB weights + 12 GB optimizer = 14 GB; 16 GB in all.
    expect(checkpointSizes({ params: 1e9, trainableParams: 1e9, dtype: "bf16", extraFileBytes: 0, deferred: false })).toEqual({
      hfModel: 2 * GB,
      deepspeed: 14 * GB + FIXED, // + zero_to_fp32.py, RNG states
      full: 16 * GB + FIXED,
      slim: 2 * GB,
    });
    // fp32: 4 + (4 + 12) = 20 GB; frozen vision tower (2e8): 12 bytes less for each frozen param.
    expect(checkpointSizes({ params: 1e9, trainableParams: 1e9, dtype: "fp32", extraFileBytes: 0, deferred: false }).full).toBe(20 * GB + FIXED);
    expect(checkpointSizes({ params: 1e9, trainableParams: 8e8, dtype: "bf16", extraFileBytes: 0, deferred: false }).full).toBe(13.6 * GB + FIXED);
    expect(checkpointSizes({ params: 1e9, trainableParams: 1e9, dtype: "bf16", extraFileBytes: 5, deferred: true })).toMatchObject({ hfModel: 0, full: 14 * GB + FIXED });
  });

  test("saves and the checkpoints each policy keeps", () => {
    expect(numberOfSaves(1000, 200)).toBe(5);
    expect(numberOfSaves(750, 200)).toBe(4); // 200, 400, 600 and the final 750
    const k = (policy: string, evalDuringTraining = true, bestTracked = true) => keptByPolicy({ policy, saves: 10, evalDuringTraining, bestTracked }).kept;
    expect(k("all")).toBe(10);
    expect(k("best:1+last:2")).toBe(3); // best + the newest 2
    expect(k("best:1")).toBe(2); // best + the newest
    expect(k("last:3", true, false)).toBe(3);
    expect(k("last:3", true, true)).toBe(4); // + the tracked best, which is protected
    expect(k("top:2:accuracy", true, false)).toBe(3); // + the newest
    expect(k("best:2", false)).toBe(10); // nothing to rank without evaluation: all kept
    expect(k("top:2:train_loss", false, false)).toBe(3); // train_loss is always recorded
    expect(k("last:50")).toBe(10);
  });

  test("steps from the training set size", () => {
    const c = configForTest({ training: { max_steps: 0, epochs: 3, per_device_batch_size: 4, gradient_accumulation_steps: 2 } });
    // 1000 samples / 4 per batch = 250 batches -> 125 steps an epoch -> 375
    expect(estimateTotalSteps({ config: c, numTrainSamples: 1000, worldSize: 1 })).toBe(375);
    expect(estimateTotalSteps({ config: c, numTrainSamples: 1000, worldSize: 2 })).toBe(186); // 500 // 4 // 2 = 62 x 3
    expect(estimateTotalSteps({ config: c, numTrainSamples: 1001, worldSize: 1 })).toBe(375); // the last partial batch is dropped
  });

  test("the whole preflight, default policy: 4 full checkpoints at the peak", async () => {
    // 5 saves, best:1+last:2 keeps 3, plus the one landing = 4 x 16 GB = 64 GB
    const r = await preflight({ config: base(), modelSize: model(), hasGpu: true, statfs: statfsWith(100 * GB) });
    expect(r.dtype).toBe("bf16");
    expect(r.plan).toMatchObject({ policy: "best:1+last:2", saves: 5, kept: 3, peak: 4, fullAtPeak: 4, slimAtPeak: 0, requiredBytes: 64 * GB + 4 * FIXED });
    expect(r.fits).toBe(true);
    expect(r.freeBytes).toBe(100 * GB);
    expect(r.text).toContain("fits");
    // slimming: newest + the landing one full, 2 slim = 2 x 16 + 2 x 2 = 36 GB
    const slim = await preflight({ config: base({ checkpoint: { retention: "", keep_optimizer_states: 1, hf_format: "every_save" } }), modelSize: model(), hasGpu: true, statfs: statfsWith(100 * GB) });
    expect(slim.plan.requiredBytes).toBe(36 * GB + 2 * FIXED);
    // skip_evaluation forces save_all: every one of the 5 saves stays, fp32 on the CPU: 5 x 20 GB
    const all = await preflight({
      config: base({ skip_evaluation: true, save_all_checkpoints: true }),
      modelSize: model(),
      hasGpu: false,
      statfs: statfsWith(1000 * GB),
    });
    expect(all.plan).toMatchObject({ policy: "all", peak: 5, requiredBytes: 100 * GB + 5 * FIXED });
  });

  test("the free space is measured on the nearest existing folder", async () => {
    const dir = mkdtempSync(join(tmpdir(), "qc-near-"));
    expect(nearestExisting(join(dir, "a", "b", "c"))).toBe(dir);
    const seen: string[] = [];
    const statfs = ((p: string) => (seen.push(p), { bavail: 1e9, bsize: 4096 })) as never;
    const c = base();
    await preflight({ config: c, modelSize: model(), hasGpu: true, statfs });
    expect(seen).toHaveLength(1);
    expect(c.training.output_dir.startsWith(seen[0])).toBe(true);
  });
});

describe("refusal", () => {
  test("too little space: a UserError with the numbers and the settings that would fit", async () => {
    let err: unknown;
    try {
      await preflight({ config: base(), modelSize: model(), hasGpu: true, statfs: statfsWith(50 * GB) });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    const e = err as UserError;
    expect(e.exitCode).toBe(2);
    expect(e.message).toContain("not enough disk space");
    expect(e.message).toContain("59.6 GiB"); // 64e9 bytes needed
    expect(e.message).toContain("46.6 GiB free"); // 50e9 bytes
    expect(e.hint).toContain("--set training.checkpoint.keep_optimizer_states=1");
    expect(e.hint).toContain("--set training.checkpoint.retention=last:1");
    expect(e.hint).toContain("--allow-low-disk");
    // deferred export alone (56 GB) would not fit: it is listed, marked "no", and not in the hint
    expect(e.message).toMatch(/no +--set training.checkpoint.hf_format=deferred/);
    expect(e.hint).not.toContain("hf_format=deferred");
  });

  test("--allow-low-disk lets it through, marked", async () => {
    const r = await preflight({ config: base(), modelSize: model(), hasGpu: true, statfs: statfsWith(50 * GB), allowLowDisk: true });
    expect(r.fits).toBe(false);
    expect(r.overridden).toBe(true);
    expect(r.text).toContain("DOES NOT FIT (--allow-low-disk");
    expect(r.suggestions.find((s) => s.sets[0] === "training.checkpoint.keep_optimizer_states=1")).toMatchObject({ requiredBytes: 36 * GB + 2 * FIXED, fits: true });
  });

  test("save_all with no room: fewer saves is suggested", async () => {
    const c = base({ skip_evaluation: true, save_all_checkpoints: true, max_steps: 2000 });
    // 10 saves x 16 GB = 160 GB + nothing else; 70 GB free -> 4 saves fit -> every 500 steps
    const r = await preflight({ config: c, modelSize: model(), hasGpu: true, statfs: statfsWith(70 * GB), allowLowDisk: true });
    expect(r.plan.requiredBytes).toBe(160 * GB + 10 * FIXED);
    expect(r.suggestions.find((s) => s.sets[0].startsWith("training.save_steps="))?.sets[0]).toBe("training.save_steps=500");
  });

  test("unknown model size: no comparison, a note", async () => {
    const r = await preflight({
      config: base(),
      modelSize: { ...model(0, 0), source: "unknown", detail: "model x is not on this machine" },
      hasGpu: true,
      statfs: statfsWith(1),
    });
    expect(r.fits).toBe(true);
    expect(r.measured).toBe(false);
    expect(r.text).toContain("disk not checked");
  });

  test("resuming counts the checkpoints already in output_dir as written", async () => {
    const c = base();
    const ck = join(c.training.output_dir, "checkpoint-200");
    mkdirSync(ck, { recursive: true });
    writeFileSync(join(ck, "blob"), Buffer.alloc(4096));
    const r = await preflight({ config: c, modelSize: model(1000, 0), hasGpu: true, statfs: statfsWith(1e12), resume: true });
    expect(r.existingBytes).toBe(4096);
    expect(r.neededBytes).toBe(r.plan.requiredBytes - 4096);
  });

  test("steps counted from data.train_jsonl when max_steps is 0", async () => {
    const dir = mkdtempSync(join(tmpdir(), "qc-steps-"));
    writeFileSync(join(dir, "train.jsonl"), Array.from({ length: 100 }, () => '{"image":"a.png","label":0}').join("\n") + "\n\n");
    const c = base({ max_steps: 0, epochs: 2, per_device_batch_size: 10, save_steps: 4 });
    c.data.train_jsonl = join(dir, "train.jsonl");
    const r = await preflight({ config: c, modelSize: model(), hasGpu: true, statfs: statfsWith(1e15) });
    expect(r.totalSteps).toBe(20);
    expect(r.plan.saves).toBe(5);
    expect(r.stepsSource).toContain("100 samples");
  });

  test("keep every checkpoint: steps from the training JSONL and the world size; slimming leaves hf_model/ in the older ones", async () => {
    // (from the launcher's former rough check) 40 samples x 2 epochs / (batch 2 x 2 processes) = 20 steps,
    // a save every 5 -> 4 saves, all kept. 1e9 fp32 params: 4 + 16 = 20 GB full, 4 GB slim.
    const dir = mkdtempSync(join(tmpdir(), "qc-all-"));
    writeFileSync(join(dir, "train.jsonl"), Array.from({ length: 40 }, (_, i) => `{"image":"${i}.png","label":0}`).join("\n") + "\n");
    const c = base({ max_steps: 0, epochs: 2, per_device_batch_size: 2, save_steps: 5, save_all_checkpoints: true });
    c.data.train_jsonl = join(dir, "train.jsonl");
    const r = await preflight({ config: c, modelSize: model(), hasGpu: false, worldSize: 2, statfs: statfsWith(1e15) });
    expect(r.totalSteps).toBe(20);
    expect(r.plan).toMatchObject({ policy: "all", saves: 4, kept: 4, peak: 4, fullAtPeak: 4, slimAtPeak: 0, requiredBytes: 80 * GB + 4 * FIXED });
    c.training.checkpoint.keep_optimizer_states = 1;
    const slim = await preflight({ config: c, modelSize: model(), hasGpu: false, worldSize: 2, statfs: statfsWith(1e15) });
    expect(slim.plan).toMatchObject({ fullAtPeak: 2, slimAtPeak: 2, requiredBytes: 2 * (20 * GB + FIXED) + 2 * 4 * GB });
  });

  test("no model folder on this machine: nothing measured, nothing refused, even with no free space", async () => {
    const c = base();
    c.model.pretrained_name = join(tmpdir(), "qc-no-such-model-folder");
    const r = await preflight({ config: c, hasGpu: true, statfs: statfsWith(0) });
    expect(r.measured).toBe(false);
    expect(r.fits).toBe(true);
    expect(r.text).toContain("disk not checked");
    expect(r.text).toContain("is not on this machine");
  });

  test("damaged weights: a UserError naming model.pretrained_name and the file, not a crash", async () => {
    const dir = mkdtempSync(join(tmpdir(), "qc-bad-model-"));
    writeFileSync(join(dir, "model.safetensors"), Buffer.alloc(10_000)); // header length 0
    const c = base();
    c.model.pretrained_name = dir;
    let err: unknown;
    try {
      await preflight({ config: c, hasGpu: true, statfs: statfsWith(1e15) });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).exitCode).toBe(2);
    expect((err as UserError).message).toContain(`model.pretrained_name ${dir}`);
    expect((err as UserError).message).toContain(join(dir, "model.safetensors"));
    // a sound file of the same folder is read (2,500 BF16 params + the 101-way head needs a hidden size: none here)
    writeSafetensors(join(dir, "model.safetensors"), { "model.w": [2500] });
    expect((await preflight({ config: c, hasGpu: true, statfs: statfsWith(1e15) })).model.params).toBe(2500);
  });
});

describe("no-eval 7B run that does not fit (issue 11): never a retention limit", () => {
  // 7,747,169,280 params + the 101-way head, bf16: hf_model ~15.5 GB, deepspeed ~108.5 GB, ~124 GB a checkpoint;
  // 2000 steps, a save every 200 -> 10 checkpoints, all kept: ~1.24 TB against 500 GB free.
  const setup = () => {
    const modelDir = write7bModelFolder(join(mkdtempSync(join(tmpdir(), "qc-7b-")), "Qwen2.5-VL-7B-Instruct"));
    const c = base({ skip_evaluation: true, save_all_checkpoints: true, max_steps: 2000, save_steps: 200 });
    c.model.pretrained_name = modelDir;
    c.model.num_labels = 101;
    return c;
  };
  test("the refusal has the numbers and only settings the no-eval contract allows", async () => {
    const c = setup();
    let err: unknown;
    try {
      await preflight({ config: c, hasGpu: true, statfs: statfsWith(500 * GB) });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    const e = err as UserError;
    const head = 3584 * 101 + 101;
    const params = QWEN7B.params + head;
    expect(params).toBe(7_747_531_365);
    expect(e.message).toContain(`${params.toLocaleString("en-US")} parameters`);
    // 2 x 7.7475e9 = 15.5e9 B = 14.4 GiB; 14 x 7.7475e9 = 108.5e9 B = 101.0 GiB; x 10 = 1.1 TiB
    expect(e.message).toContain("hf_model 14.4 GiB + deepspeed 101.0 GiB");
    expect(e.message).toContain("10 checkpoint(s); all: every checkpoint is kept");
    expect(e.message).toContain("465.7 GiB free"); // 500e9 bytes
    expect(e.message).toContain("needs 1.1 TiB");
    // the contract forbids a retention limit: not suggested, not in the hint
    expect(e.message).not.toContain("training.checkpoint.retention");
    expect(e.hint).not.toContain("training.checkpoint.retention");
    expect(e.hint).toContain("no retention limit is offered");
    // what it offers instead, each one that fits in the hint: slimming (2 full + 8 slim = 372 GB) and 4 saves (496 GB)
    expect(e.hint).toContain("--set training.checkpoint.keep_optimizer_states=1");
    expect(e.hint).toContain("--set training.save_steps=500");
    expect(e.message).toMatch(/no +--set training.checkpoint.hf_format=deferred/); // 10 x 108.5 GB does not fit
  });
  test("slimming chosen explicitly: the report names the checkpoints that stop being resumable", async () => {
    const c = setup();
    c.training.checkpoint.keep_optimizer_states = 2;
    const r = await preflight({ config: c, hasGpu: true, statfs: statfsWith(5000 * GB) });
    expect(r.fits).toBe(true);
    expect(r.text).toContain("8 of 10 checkpoints (checkpoint-200, checkpoint-400, checkpoint-600, checkpoint-800, checkpoint-1000, checkpoint-1200, checkpoint-1400, checkpoint-1600) will lose deepspeed/");
    expect(r.text).not.toContain("checkpoint-1800,");
    expect(r.text).toContain("not resumed");
  });
  test("a standard run that does not fit still gets a retention limit", async () => {
    const c = setup();
    c.training.skip_evaluation = false;
    c.training.save_all_checkpoints = false;
    c.training.best_model_tracking.enabled = true;
    c.training.checkpoint.retention = "";
    await expect(preflight({ config: c, hasGpu: true, statfs: statfsWith(300 * GB) })).rejects.toThrow(/training\.checkpoint\.retention=last:/);
  });
});
