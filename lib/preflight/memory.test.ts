import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { estimateFromConfig } from "./model_size.ts";
import {
  countParams,
  estimateMemory,
  GIB,
  imageTokens,
  LORA_DEFAULTS,
  memoryPreflight,
  modelDims,
  parseGpuMemory,
  planGpus,
  smartResize,
  tokenStats,
  type MemoryParams,
} from "./memory.ts";

const CONFIG_7B = JSON.parse(readFileSync(join(import.meta.dir, "../../test/fixtures/qwen2_5_vl_7b_config.json"), "utf8"));

const run7b = (over: Partial<MemoryParams> = {}): MemoryParams => ({
  modelConfig: CONFIG_7B,
  numLabels: 101,
  precision: "bf16",
  zeroStage: 0,
  offloadOptimizer: false,
  offloadParam: false,
  worldSize: 1,
  perDeviceBatch: 4,
  gradientCheckpointing: false,
  freezeVisionTower: false,
  imageTokensPerSample: 256,
  textTokensPerSample: 40,
  ...over,
});

describe("parameters from config.json", () => {
  test("7B: the same count as model_size.ts (transformers' count) plus the head", () => {
    const c = countParams(modelDims(CONFIG_7B), 101, LORA_DEFAULTS);
    const ref = estimateFromConfig(CONFIG_7B)!;
    expect(c.total).toBe(ref.params + 3584 * 101 + 101);
    expect(c.vision).toBe(676_550_144);
    expect(c.lora).toBe(0); // disabled
  });
  test("LoRA r=16 on the 7 text projections: r x (in + out) per module and layer", () => {
    const c = countParams(modelDims(CONFIG_7B), 2, { ...LORA_DEFAULTS, enabled: true });
    const perLayer = 16 * ((3584 + 3584) + (3584 + 512) * 2 + (3584 + 3584) + (3584 + 18944) * 2 + (18944 + 3584));
    expect(c.lora).toBe(28 * perLayer);
  });
  test("a config.json without the sizes is named", () => {
    expect(() => modelDims({ vision_config: {} })).toThrow("no hidden_size");
  });
});

describe("image tokens", () => {
  test("smart_resize matches transformers (values computed with its Python function)", () => {
    expect(smartResize(8, 8, 3136, 200704)).toEqual([56, 56]);
    expect(smartResize(100, 100, 3136, 200704)).toEqual([112, 112]);
    expect(smartResize(42, 70, 3136, 200704)).toEqual([56, 56]); // Python rounds halves to even
    expect(smartResize(70, 98, 3136, 12845056)).toEqual([56, 112]);
    expect(smartResize(1080, 1920, 3136, 200704)).toEqual([336, 588]);
    expect(smartResize(4000, 3000, 3136, 1003520)).toEqual([1148, 840]);
    expect(smartResize(300, 20, 3136, 200704)).toEqual([308, 28]);
    expect(imageTokens(1080, 1920, 3136, 200704)).toBe(12 * 21);
  });
  test("distribution: min, median, p99, max and the largest images named", () => {
    const sizes = [
      ...Array.from({ length: 98 }, (_, i) => ({ path: `small${i}.png`, width: 100, height: 100 })),
      { path: "big.jpg", width: 1920, height: 1080 },
      { path: "mid.jpg", width: 512, height: 512 },
    ];
    const s = tokenStats({ sizes, minPixels: 3136, maxPixels: 200704 })!;
    expect(s).toMatchObject({ images: 100, min: 16, median: 16, p99: 252, max: 256 });
    expect(s.largest[0]).toMatchObject({ path: "mid.jpg", tokens: 256 });
    expect(s.largest[1]).toMatchObject({ path: "big.jpg", tokens: 252 });
    expect(tokenStats({ sizes: [], minPixels: 1, maxPixels: 2 })).toBeNull();
  });
});

describe("estimateMemory", () => {
  test("7B full fine-tuning, ZeRO-0, bf16: 2 B weights + 2 B grads + 16 B optimizer per param (+ 4 B step temporary)", () => {
    const e = estimateMemory(run7b());
    const P = e.params.total;
    const part = (k: string) => e.parts.find((p) => p.key === k)!.bytes;
    expect(part("weights")).toBe(2 * P);
    expect(part("gradients")).toBe(2 * P);
    expect(part("optimizer")).toBe(20 * P);
    expect(part("runtime")).toBeGreaterThan(0);
    expect(e.totalBytes).toBeGreaterThan(150 * GIB);
  });
  test("ZeRO-3 on 8 GPUs splits weights, gradients and optimizer states; offload moves the optimizer to the CPU", () => {
    const z0 = estimateMemory(run7b());
    const z3 = estimateMemory(run7b({ zeroStage: 3, worldSize: 8 }));
    const part = (e: typeof z0, k: string) => e.parts.find((p) => p.key === k)!.bytes;
    expect(part(z3, "weights")).toBeCloseTo(part(z0, "weights") / 8, 0);
    expect(part(z3, "optimizer")).toBeCloseTo(part(z0, "optimizer") / 8, 0);
    const off = estimateMemory(run7b({ zeroStage: 2, worldSize: 8, offloadOptimizer: true }));
    expect(part(off, "optimizer")).toBe(0);
    expect(off.cpuOffloadBytes).toBeGreaterThan(0);
  });
  test("activations grow with batch and tokens; checkpointing and a frozen vision tower shrink them", () => {
    const act = (o: Partial<MemoryParams>) => estimateMemory(run7b(o)).parts.find((p) => p.key === "activations")!.bytes;
    expect(act({ perDeviceBatch: 8 })).toBeGreaterThan(1.9 * act({ perDeviceBatch: 4 }));
    expect(act({ imageTokensPerSample: 1024 })).toBeGreaterThan(act({}));
    expect(act({ gradientCheckpointing: true })).toBeLessThan(act({}) / 5);
    expect(act({ freezeVisionTower: true })).toBeLessThan(act({}));
  });
  test("LoRA: base frozen, only adapters + head train", () => {
    const e = estimateMemory(run7b({ lora: { enabled: true } }));
    expect(e.params.trainable).toBe(e.params.lora + 3584 * 101 + 101);
    expect(e.totalBytes).toBeLessThan(40 * GIB);
    expect(e.parts.find((p) => p.key === "lora")!.bytes).toBeGreaterThan(0);
  });
  test("LoRA vision_tower full > lora > frozen by the expected amounts (7B, bf16, ZeRO-0, 1 GPU, 4 x 256 image tokens)", () => {
    const est = (vision_tower: "frozen" | "lora" | "full") => estimateMemory(run7b({ lora: { enabled: true, vision_tower } }));
    const [frozen, lora, full] = [est("frozen"), est("lora"), est("full")];
    const part = (e: ReturnType<typeof est>, key: string) => e.parts.find((p) => p.key === key)!.bytes;
    const V = 676_550_144; // Qwen2.5-VL-7B's vision tower (0.68B parameters)
    const patches = 4 * 256 * 2 * 2; // image tokens x spatial_merge_size^2, per device
    // one vision block per patch (width 1280, MLP 3420, qkv full width), bf16: 2 x (5 x 1280 + 4 x 1280 + 4 x 3420)
    // + 2 fp32 RMSNorms 16 x 1280 = 70,880 B kept for backward; a frozen tower keeps only one block's
    // transients: 2 x (3 x 3420 + 2 x 1280) = 25,640 B
    const block = 70_880;
    const transient = 25_640;
    // full: the tower's trainable copy (peft modules_to_save) beside the frozen original: weights + 2 B, bf16
    // gradients 2 B, AdamW m + v + fp32 master + fp32 grad 16 B + the AdamW step temporary 4 B, per parameter
    expect(full.params.trainable - frozen.params.trainable).toBe(V);
    expect(part(full, "weights") - part(frozen, "weights")).toBe(2 * V);
    expect(part(full, "gradients") - part(frozen, "gradients")).toBe(2 * V);
    expect(part(full, "optimizer") - part(frozen, "optimizer")).toBe(20 * V);
    expect(part(full, "activations") - part(frozen, "activations")).toBe(patches * (32 * block - transient));
    expect(full.totalBytes - frozen.totalBytes).toBe(24 * V + patches * (32 * block - transient)); // 16.2 GB + 9.2 GB
    // lora: r=16 adapters on the vision MLP's gate/up/down (default targets; qkv/proj are not named):
    // 16 x ((1280 + 3420) x 3) x 32 blocks = 7.2M parameters, each with its dropout copy of the input
    const visionAdapters = 16 * (1280 + 3420) * 3 * 32;
    const adapterActs = (1280 + 1280 + 3420) * 3 + 3 * 16 * 2; // inputs of gate, up, down x (b + 1) B + r x b each: 18,036 B
    expect(lora.params.lora - frozen.params.lora).toBe(visionAdapters);
    expect(part(lora, "weights")).toBe(part(frozen, "weights"));
    expect(part(lora, "activations") - part(frozen, "activations")).toBe(patches * (32 * (block + adapterActs) - transient));
    expect(full.totalBytes).toBeGreaterThan(lora.totalBytes);
    expect(lora.totalBytes).toBeGreaterThan(frozen.totalBytes);
    expect(part(full, "lora") - part(lora, "lora")).toBeGreaterThan(24 * V - 24 * visionAdapters - 1); // the copy in LoRA's share
  });
});

describe("memoryPreflight", () => {
  test("refuses an obviously impossible run (7B full FT, ZeRO-0, 1 x 24 GiB) with the numbers and fixes", () => {
    const r = memoryPreflight({ ...run7b(), gpuMemoryBytes: parseGpuMemory("24GiB"), gpuMemorySource: "--gpu-memory 24GiB", imageMaxPixels: 200704, imageMinPixels: 3136 });
    expect(r.fits).toBe(false);
    expect(r.report).toContain("DOES NOT FIT");
    expect(r.report).toContain("24.0 GiB");
    expect(r.report).toMatch(/parameters\s+14\.4 GiB/);
    const names = r.suggestions.map((s) => s.change).join("\n");
    expect(names).toContain("LoRA");
    expect(names).toContain("gradient checkpointing");
    // nothing alone fits on 24 GiB except LoRA (its weights alone are 14.4 GiB)
    const fitting = r.suggestions.filter((s) => s.fits);
    expect(fitting.length).toBeGreaterThan(0);
    for (const s of fitting) expect(s.totalBytes).toBeLessThanOrEqual(24 * GIB * 0.9);
    expect(r.tokenBudget).toBe(0);
  });
  test("unknown GPU memory: no verdict, the report says how to give it", () => {
    const r = memoryPreflight({ ...run7b(), gpuMemoryBytes: null, gpuMemorySource: "no GPU visible" });
    expect(r.fits).toBeNull();
    expect(r.report).toContain("--gpu-memory");
  });
  test("token budget names the images above it", () => {
    const lora = { enabled: true };
    const sizes = [{ path: "huge.png", width: 4000, height: 4000 }, { path: "ok.png", width: 224, height: 224 }];
    const tokens = tokenStats({ sizes, minPixels: 3136, maxPixels: 12845056 })!;
    const r = memoryPreflight({ ...run7b({ lora, imageTokensPerSample: tokens.max, perDeviceBatch: 8 }), tokens, gpuMemoryBytes: 40 * GIB, gpuMemorySource: "test", imageMaxPixels: 12845056 });
    expect(r.fits).toBe(false);
    expect(r.tokenBudget).toBeGreaterThan(64);
    expect(r.tokenBudget).toBeLessThan(tokens.max);
    expect(r.overBudgetImages.map((i) => i.path)).toEqual(["huge.png"]);
    expect(r.report).toContain("huge.png");
  });
  test("parseGpuMemory", () => {
    expect(parseGpuMemory("80GiB")).toBe(80 * GIB);
    expect(parseGpuMemory("80 GB")).toBe(80e9);
    expect(parseGpuMemory("81920MiB")).toBe(80 * GIB);
    expect(parseGpuMemory("24")).toBe(24 * GIB);
    expect(() => parseGpuMemory("lots")).toThrow("--gpu-memory");
  });
});

describe("planGpus", () => {
  test("7B on 80 GiB GPUs: full fine-tuning on one only with the optimizer offloaded; on 24 GiB it needs several, LoRA one", () => {
    const p = planGpus({ ...run7b(), gpuMemoryBytes: 80 * GIB });
    expect(p.full[0].gpus).toBe(1);
    for (const s of p.full) expect(s.offloadOptimizer).toBe(true);
    expect(p.lora[0]).toMatchObject({ gpus: 1, zeroStage: 0, offloadOptimizer: false, gradientCheckpointing: false });
    const small = planGpus({ ...run7b(), gpuMemoryBytes: 24 * GIB });
    expect(small.full[0].gpus).toBeGreaterThan(1);
    for (const s of small.full) expect(s.zeroStage).toBe(3);
    expect(small.lora[0].gpus).toBe(1);
    for (const s of [...p.full, ...p.lora]) expect(s.totalBytes).toBeLessThanOrEqual(80 * GIB * 0.9);
    expect(p.report).toContain("LoRA: 1 GPU(s)");
  });
});
