// Gathers what the memory estimate (memory.ts, pure) needs from a resolved config: the model's
// config.json, the training images' sizes (headers only), the GPUs' memory. Side effects are
// injectable (tests pass their own).
import { closeSync, existsSync, openSync, readFileSync, readSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { imageSize } from "image-size";
import type { QwenClassifyConfig } from "../../generated/config.ts";
import { effectivePrecision } from "../config/deepspeed.ts";
import { UserError } from "../util/errors.ts";
import { findModelDir } from "./model_size.ts";
import {
  LORA_DEFAULTS,
  memoryPreflight,
  modelDims,
  parseGpuMemory,
  planGpus,
  tokenStats,
  type GpuPlan,
  type ImageSize,
  type LoraParams,
  type MemoryPreflight,
  type PreflightInput,
  type TokenStats,
} from "./memory.ts";

/** Width and height from the first bytes of an image (whole file only when the header is further in). */
export function readImageSize(path: string): { width: number; height: number } | null {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return null; // missing images are the data check's business
  }
  try {
    // Most headers sit in the first 4 KiB; a JPEG's frame header can follow a large EXIF block.
    for (const len of [4 * 1024, 256 * 1024, 4 * 1024 * 1024]) {
      const buf = Buffer.alloc(len);
      const n = readSync(fd, buf, 0, len, 0);
      try {
        const s = imageSize(buf.subarray(0, n));
        if (s.width && s.height) return { width: s.width, height: s.height };
      } catch {
        if (n < len) return null;
      }
    }
    return null;
  } finally {
    closeSync(fd);
  }
}

/** The distinct images of a JSONL file ({"image": ..., "label": ...} lines) with their sizes. */
export function jsonlImageSizes(params: { jsonl: string; limit?: number; sizeOf?: typeof readImageSize }): ImageSize[] {
  if (!existsSync(params.jsonl)) return [];
  const dir = dirname(params.jsonl);
  const seen = new Set<string>();
  const out: ImageSize[] = [];
  const sizeOf = params.sizeOf ?? readImageSize;
  for (const line of readFileSync(params.jsonl, "utf8").split("\n")) {
    if (!line.trim()) continue;
    let image: unknown;
    try {
      image = (JSON.parse(line) as { image?: unknown }).image;
    } catch {
      continue;
    }
    if (typeof image !== "string") continue;
    const abs = isAbsolute(image) ? image : resolve(dir, image);
    if (seen.has(abs)) continue;
    seen.add(abs);
    const s = sizeOf(abs);
    if (s) out.push({ path: abs, ...s });
    if (params.limit && out.length >= params.limit) break;
  }
  return out;
}

/** Smallest total memory of the visible GPUs (nvidia-smi), in bytes; null when there is none. */
export function visibleGpuMemory(): number | null {
  try {
    const r = Bun.spawnSync(["nvidia-smi", "--query-gpu=memory.total", "--format=csv,noheader,nounits"], { stdout: "pipe", stderr: "ignore" });
    if (r.exitCode !== 0) return null;
    const mibs = r.stdout.toString().split("\n").map((l) => Number(l.trim())).filter((n) => n > 0);
    return mibs.length ? Math.min(...mibs) * 1024 ** 2 : null;
  } catch {
    return null;
  }
}

/** Text tokens around the image: the chat template (~20 tokens with the system prompt) + the prompt (~3 characters a token). */
export const textTokensFor = (prompt: string) => 20 + Math.ceil(prompt.length / 3);

export interface MemoryCheck {
  /** null when the model's config.json is not on this machine (no estimate possible). */
  preflight: MemoryPreflight | null;
  plan: GpuPlan | null;
  /** Distribution of image tokens per training sample (min, median, p99, max, largest images). */
  imageTokens: TokenStats | null;
  /** Why there is no estimate, or notes on its inputs. */
  note: string | null;
}

/**
 * The memory preflight for a resolved config and launch: null estimate (with a note) when the
 * model folder is absent (e.g. the demo's tiny model before its first build).
 */
export function checkMemory(params: {
  config: QwenClassifyConfig;
  worldSize: number;
  hasGpu: boolean;
  /** --gpu-memory text, e.g. "80GiB". */
  gpuMemory?: string;
  plan?: boolean;
  gpuMemoryProbe?: () => number | null;
  sizeOf?: typeof readImageSize;
}): MemoryCheck {
  const { config } = params;
  let gpuMemoryBytes: number | null = null;
  let gpuMemorySource = "no GPU visible";
  if (params.gpuMemory !== undefined) {
    try {
      gpuMemoryBytes = parseGpuMemory(params.gpuMemory);
    } catch (err) {
      throw new UserError((err as Error).message);
    }
    gpuMemorySource = `--gpu-memory ${params.gpuMemory}`;
  } else if (params.hasGpu) {
    gpuMemoryBytes = (params.gpuMemoryProbe ?? visibleGpuMemory)();
    gpuMemorySource = gpuMemoryBytes ? "nvidia-smi, smallest visible GPU" : "nvidia-smi gave no memory figure";
  }
  const dir = findModelDir({ name: config.model.pretrained_name });
  const cfgPath = dir ? resolve(dir, "config.json") : null;
  if (!cfgPath || !existsSync(cfgPath)) {
    return { preflight: null, plan: null, imageTokens: null, note: `memory estimate skipped: no config.json for model.pretrained_name ${config.model.pretrained_name} on this machine` };
  }
  let modelConfig: Record<string, unknown>;
  try {
    modelConfig = JSON.parse(readFileSync(cfgPath, "utf8")) as Record<string, unknown>;
    modelDims(modelConfig);
  } catch (err) {
    // Not ours to refuse: the engine's model check names a bad model folder (exit 2).
    return { preflight: null, plan: null, imageTokens: null, note: `memory estimate skipped: ${cfgPath}: ${(err as Error).message}` };
  }
  const minPixels = config.data.image_min_pixels;
  const maxPixels = config.data.image_max_pixels;
  const tokens = tokenStats({ sizes: jsonlImageSizes({ jsonl: resolve(config.data.train_jsonl), sizeOf: params.sizeOf }), minPixels, maxPixels });
  // Without readable images: the worst case the pixel bounds allow.
  const imageTokensPerSample = tokens?.max ?? Math.floor(maxPixels / 784);
  // model.lora (schema): vision_tower lora adds vision adapters; full trains the tower whole (memory.ts models both)
  const cfgLora = config.model.lora as QwenClassifyConfig["model"]["lora"] | undefined; // absent in hand-made configs
  const lora: LoraParams = cfgLora ? { ...LORA_DEFAULTS, ...cfgLora, target_modules: [...cfgLora.target_modules] } : LORA_DEFAULTS;
  const ds = config.deepspeed;
  const input: PreflightInput = {
    modelConfig,
    numLabels: config.model.num_labels,
    precision: effectivePrecision(config.training.precision, params.hasGpu || params.gpuMemory !== undefined),
    device: "gpu",
    zeroStage: ds.zero_stage as 0 | 1 | 2 | 3,
    offloadOptimizer: ds.offload_optimizer,
    offloadParam: ds.offload_param,
    worldSize: params.worldSize,
    perDeviceBatch: config.training.per_device_batch_size,
    gradientAccumulation: config.training.gradient_accumulation_steps,
    gradientCheckpointing: config.training.gradient_checkpointing,
    freezeVisionTower: config.model.freeze_vision_tower,
    imageTokensPerSample,
    textTokensPerSample: textTokensFor(config.data.prompt),
    lora,
    gpuMemoryBytes,
    gpuMemorySource,
    tokens,
    imageMinPixels: minPixels,
    imageMaxPixels: maxPixels,
  };
  const preflight = memoryPreflight(input);
  const plan = params.plan ? planGpus({ ...input, gpuMemoryBytes: gpuMemoryBytes ?? 80 * 1024 ** 3 }) : null;
  const note = tokens ? null : `no readable training images in ${config.data.train_jsonl}: assumed ${imageTokensPerSample} image tokens (image_max_pixels ${maxPixels})`;
  return { preflight, plan, imageTokens: tokens, note };
}

/** The JSON the dry run carries under `memory`. */
export function memoryJson(m: MemoryCheck): Record<string, unknown> {
  const p = m.preflight;
  return {
    fits: p?.fits ?? null,
    total_bytes: p?.estimate.totalBytes ?? null,
    gpu_memory_bytes: p?.gpuMemoryBytes ?? null,
    usable_bytes: p?.usableBytes ?? null,
    parts: p?.estimate.parts ?? [],
    params: p?.estimate.params ?? null,
    tokens: p?.estimate.tokens ?? null,
    image_tokens: m.imageTokens,
    token_budget: p?.tokenBudget ?? null,
    over_budget_images: p?.overBudgetImages ?? [],
    suggestions: p?.suggestions ?? [],
    cpu_offload_bytes: p?.estimate.cpuOffloadBytes ?? 0,
    plan: m.plan ? { gpu_memory_bytes: m.plan.gpuMemoryBytes, full: m.plan.full, lora: m.plan.lora } : null,
    note: m.note,
    report: (p?.report ?? "") + (m.plan?.report ?? ""),
  };
}

/** Text for the dry run / the launch log. */
export function memoryText(m: MemoryCheck): string {
  return (m.note ? `${m.note}\n` : "") + (m.preflight?.report ?? "") + (m.plan?.report ?? "");
}
