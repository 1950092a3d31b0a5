// "Will it fit": the peak memory of ONE GPU for a training run, part by part, from the model's
// config.json and the data's real image sizes. Pure: every input arrives in the params object
// (lib/preflight/memory_inputs.ts gathers them; bench/memory_calibration.py checks the formula
// against measured peaks through lib/preflight/memory_cli.ts). This is the ONLY copy of the formula.
//
// The 7B arithmetic (Qwen2.5-VL-7B-Instruct config.json: hidden 3584, intermediate 18944, 28 layers,
// 28 heads / 4 KV heads (head_dim 128), vocab 152064; vision tower 32 blocks of width 1280, MLP 3420):
//   parameters   8.29e9 with lm_head (the checkpoint); the classifier drops lm_head (0.545e9) for a
//                tiny linear head: 7.75e9, of which 0.68e9 in the vision tower.
//   weights      bf16: 2 bytes x 7.75e9 = 15.5 GB (16.6 GB for the full 8.3e9 checkpoint).
//   gradients    bf16: 2 bytes per trainable parameter = 15.5 GB; ZeRO-2/3 split them over the GPUs.
//   optimizer    AdamW in mixed precision keeps fp32 master weights, m and v: 12 bytes per trainable
//                parameter = 93 GB (+ DeepSpeed's fp32 gradient partition, 4 bytes: 124 GB) for ZeRO-0,
//                divided by the number of GPUs from ZeRO-1 on, or moved to the CPU by offload_optimizer.
//   activations  per token and decoder layer (sdpa: no seq^2 attention matrix), bf16:
//                2 x (5h + 4kv + 4I) + 2 RMSNorms x 8h (fp32 inside) = 2 x 95,744 + 57,344 = 249 KB;
//                x 28 layers = 7.0 MB per token: a 1,024-token sample = 7.1 GB, batch 4 = 28.5 GB.
//                Gradient checkpointing keeps only each layer's input (2h = 7 KB per token per layer)
//                plus one layer recomputed: 0.2 MB + 0.25 MB per token.
//   => full fine-tuning of 7B, ZeRO-0, one GPU: 31 GB + 124 GB (+ 31 GB AdamW step temporary) +
//      activations: does not fit 80 GB; optimizer offload, ZeRO-3 over 8 GPUs or LoRA (frozen base:
//      weights only + the adapters' share) does.

export type Precision = "bf16" | "fp16" | "fp32";

/** The LoRA block of the config (model.lora), default disabled. */
export interface LoraParams {
  enabled: boolean;
  r: number;
  alpha: number;
  dropout: number;
  /** Module names (q_proj, ..., down_proj; qkv/proj in the vision tower) or ["all-linear"]. */
  target_modules: string[];
  /**
   * model.lora.vision_tower: "frozen" (no gradient), "lora" (adapters on its linears too) or "full" (trained whole:
   * peft's modules_to_save keeps a trainable copy beside the frozen original, with gradients and optimizer states).
   */
  vision_tower: "frozen" | "lora" | "full";
}

export const LORA_DEFAULTS: LoraParams = {
  enabled: false,
  r: 16,
  alpha: 32,
  dropout: 0.05,
  target_modules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
  vision_tower: "frozen",
};

/** DeepSpeed's bucket defaults (elements), zero_optimization.*; the ds_config we write keeps them. */
export const DS_BUCKETS = {
  reduce: 5e8,
  allgather: 5e8,
  stage3Prefetch: 5e7,
  stage3MaxLive: 1e9,
};

export interface VisionDims {
  hidden: number;
  intermediate: number;
  depth: number;
  patch: number;
  merge: number;
  temporalPatch: number;
  inChannels: number;
  outHidden: number;
}

export interface ModelDims {
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  vocab: number;
  vision: VisionDims | null;
}

type Json = Record<string, unknown>;
const num = (o: Json | undefined, ...keys: string[]): number | undefined => {
  for (const k of keys) if (typeof o?.[k] === "number") return o[k] as number;
  return undefined;
};

/** The dimensions the estimate needs, from a Qwen2.5-VL config.json (text_config or top level). */
export function modelDims(cfg: Json): ModelDims {
  const text = (cfg.text_config as Json | undefined) ?? cfg;
  const pick = (k: string) => num(text, k) ?? num(cfg, k);
  const need = (k: string) => {
    const v = pick(k);
    if (!v) throw new Error(`config.json has no ${k} (neither in text_config nor at the top level): is it a Qwen2.5-VL config?`);
    return v;
  };
  const hidden = need("hidden_size");
  const heads = need("num_attention_heads");
  const vc = cfg.vision_config as Json | undefined;
  return {
    hidden,
    intermediate: need("intermediate_size"),
    layers: need("num_hidden_layers"),
    heads,
    kvHeads: pick("num_key_value_heads") ?? heads,
    headDim: pick("head_dim") ?? hidden / heads,
    vocab: need("vocab_size"),
    vision: vc
      ? {
          hidden: num(vc, "hidden_size", "embed_dim") ?? 0,
          intermediate: num(vc, "intermediate_size") ?? 0,
          depth: num(vc, "depth") ?? 0,
          patch: num(vc, "patch_size") ?? 14,
          merge: num(vc, "spatial_merge_size") ?? 2,
          temporalPatch: num(vc, "temporal_patch_size") ?? 2,
          inChannels: num(vc, "in_channels", "in_chans") ?? 3,
          outHidden: num(vc, "out_hidden_size") ?? hidden,
        }
      : null,
  };
}

/** One Linear layer of the model: its name (as peft matches it), fan-in, fan-out, bias. */
interface Linear {
  name: string;
  inF: number;
  outF: number;
  bias: boolean;
}

function textLinears(d: ModelDims): Linear[] {
  const q = d.heads * d.headDim;
  const kv = d.kvHeads * d.headDim;
  return [
    { name: "q_proj", inF: d.hidden, outF: q, bias: true },
    { name: "k_proj", inF: d.hidden, outF: kv, bias: true },
    { name: "v_proj", inF: d.hidden, outF: kv, bias: true },
    { name: "o_proj", inF: q, outF: d.hidden, bias: false },
    { name: "gate_proj", inF: d.hidden, outF: d.intermediate, bias: false },
    { name: "up_proj", inF: d.hidden, outF: d.intermediate, bias: false },
    { name: "down_proj", inF: d.intermediate, outF: d.hidden, bias: false },
  ];
}

function visionLinears(v: VisionDims): Linear[] {
  return [
    { name: "qkv", inF: v.hidden, outF: 3 * v.hidden, bias: true },
    { name: "proj", inF: v.hidden, outF: v.hidden, bias: true },
    { name: "gate_proj", inF: v.hidden, outF: v.intermediate, bias: true },
    { name: "up_proj", inF: v.hidden, outF: v.intermediate, bias: true },
    { name: "down_proj", inF: v.intermediate, outF: v.hidden, bias: true },
  ];
}

const linearParams = (l: Linear) => l.inF * l.outF + (l.bias ? l.outF : 0);
const targeted = (lora: LoraParams, name: string) => lora.target_modules.includes("all-linear") || lora.target_modules.includes(name);

/** Parameter counts of the classifier (backbone without lm_head + linear head) and of its LoRA adapters. */
export function countParams(d: ModelDims, numLabels: number, lora: LoraParams) {
  const text = d.vocab * d.hidden + d.layers * (textLinears(d).reduce((a, l) => a + linearParams(l), 0) + 2 * d.hidden) + d.hidden;
  let vision = 0;
  let loraParams = 0;
  const v = d.vision;
  if (v) {
    const block = visionLinears(v).reduce((a, l) => a + linearParams(l), 0) + 2 * v.hidden;
    const m = v.hidden * v.merge * v.merge;
    vision = v.inChannels * v.temporalPatch * v.patch * v.patch * v.hidden + v.depth * block + v.hidden + (m * m + m) + (m * v.outHidden + v.outHidden);
    if (lora.vision_tower === "lora") for (const l of visionLinears(v)) if (targeted(lora, l.name)) loraParams += v.depth * lora.r * (l.inF + l.outF);
  }
  for (const l of textLinears(d)) if (targeted(lora, l.name)) loraParams += d.layers * lora.r * (l.inF + l.outF);
  const head = d.hidden * numLabels + numLabels;
  return { total: text + vision + head, text, vision, head, lora: lora.enabled ? loraParams : 0 };
}

export interface MemoryParams {
  /** The model's config.json, parsed. */
  modelConfig: Json;
  numLabels: number;
  /** Effective precision (auto already resolved: bf16 on a GPU, fp32 on the CPU). */
  precision: Precision;
  /** "gpu" adds the CUDA runtime and the fused optimizer's temporaries; "cpu" is the calibration machine. */
  device?: "gpu" | "cpu";
  zeroStage: 0 | 1 | 2 | 3;
  offloadOptimizer: boolean;
  offloadParam: boolean;
  /** GPUs taking part (data-parallel ranks). */
  worldSize: number;
  perDeviceBatch: number;
  gradientCheckpointing: boolean;
  freezeVisionTower: boolean;
  /** Image tokens of the largest sample (after smart_resize into the pixel bounds). */
  imageTokensPerSample: number;
  /** Text tokens around the image (chat template + prompt). */
  textTokensPerSample: number;
  lora?: Partial<LoraParams>;
}

export interface MemoryPart {
  key: "weights" | "gradients" | "optimizer" | "lora" | "activations" | "deepspeed_buffers" | "runtime";
  label: string;
  bytes: number;
  detail: string;
}

export interface MemoryEstimate {
  parts: MemoryPart[];
  totalBytes: number;
  params: { total: number; vision: number; trainable: number; lora: number };
  tokens: { perSample: number; image: number; text: number; perDevice: number };
  /** Bytes each further token of one sample adds (per-device batch included): for token budgets. */
  bytesPerSampleToken: number;
  /** Bytes the optimizer states and gradients need in CPU memory (offload), per GPU process. */
  cpuOffloadBytes: number;
}

const bytesOf = (p: Precision) => (p === "fp32" ? 4 : 2);
export const GIB = 1024 ** 3;
export const fmtGiB = (b: number) => `${(b / GIB).toFixed(b < 10 * GIB ? 2 : 1)} GiB`;
const fmtN = (n: number) => (n >= 1e9 ? `${(n / 1e9).toFixed(2)}B` : n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n.toLocaleString("en-US"));

/** CUDA context + cuBLAS/cuDNN workspaces + NCCL buffers: not measurable on the CPU; a typical figure. */
export const GPU_RUNTIME_BYTES = 1.5 * GIB;

/**
 * Activation bytes kept for the backward pass per token of ONE decoder layer (sdpa attention: no
 * seq x seq matrix): q, rotate_half(q), q_embed, attention output and its contiguous copy (5h),
 * k, v, rotate_half(k), k_embed (4 kv), the SwiGLU MLP's gate, silu, up and product (4I) in the
 * activation dtype, and two RMSNorms that compute in fp32 (input + normalised: 8h bytes each).
 */
function layerTokenBytes(h: number, kv: number, inter: number, b: number): number {
  return b * (5 * h + 4 * kv + 4 * inter) + 2 * 8 * h;
}

/** LoRA's extra activations per token of one layer: each adapter's dropout copy of its input (+ mask) and its r-wide middle. */
function loraTokenBytes(linears: Linear[], lora: LoraParams, b: number): number {
  let bytes = 0;
  for (const l of linears) if (targeted(lora, l.name)) bytes += (lora.dropout > 0 ? l.inF * (b + 1) : 0) + lora.r * b;
  return bytes;
}

function activations(d: ModelDims, p: MemoryParams, lora: LoraParams, visionTrainable: boolean) {
  const b = bytesOf(p.precision);
  const seq = p.imageTokensPerSample + p.textTokensPerSample;
  const tokens = p.perDeviceBatch * seq;
  const kv = d.kvHeads * d.headDim;
  // Frozen base linears keep no input for a weight gradient: LoRA's dropout copies take the place of
  // the o_proj and down_proj inputs and the normalised input of q/k/v (without dropout they share them).
  const frozenInputs = lora.enabled && lora.dropout > 0 ? b * (2 * d.hidden + d.intermediate) : 0;
  const layer = layerTokenBytes(d.hidden, kv, d.intermediate, b) - frozenInputs + (lora.enabled ? loraTokenBytes(textLinears(d), lora, b) : 0);
  // Checkpointing keeps each layer's input and recomputes one layer at a time in the backward pass.
  const perToken = (p.gradientCheckpointing ? d.layers * d.hidden * b + layer : d.layers * layer) + d.hidden * b + 8 * d.hidden; // + embeddings, final norm
  const text = tokens * perToken;
  let vision = 0;
  const v = d.vision;
  if (v && p.imageTokensPerSample > 0) {
    const patches = p.perDeviceBatch * p.imageTokensPerSample * v.merge * v.merge;
    // Vision blocks: one qkv projection, full-width k and v: the decoder layer's count with kv = hidden.
    const block = layerTokenBytes(v.hidden, v.hidden, v.intermediate, b) + (lora.enabled && lora.vision_tower === "lora" ? loraTokenBytes(visionLinears(v), lora, b) : 0);
    // fp32 pixel_values on the GPU (on the CPU they already exist in the data loader's batch)
    const pixels = (p.device ?? "gpu") === "gpu" ? patches * v.inChannels * v.temporalPatch * v.patch * v.patch * 4 : 0;
    // A frozen tower saves nothing for backward: only one block's MLP intermediates (gate, up, product) and two hidden-wide tensors live at a time.
    const transient = b * (3 * v.intermediate + 2 * v.hidden);
    const kept = !visionTrainable ? transient : p.gradientCheckpointing ? v.depth * v.hidden * b + block : v.depth * block;
    vision = pixels + patches * kept;
  }
  return { text, vision, total: text + vision, tokens, seq, perSampleToken: p.perDeviceBatch * perToken };
}

/** Peak bytes of one GPU (one rank) for the run described by `params`, part by part. */
/** Which parameters train: a trained vision tower (full fine-tuning, or LoRA with vision_tower lora|full) also keeps
 * its activations for backward; LoRA freezes the base and trains the adapters and the head, and with vision_tower
 * "full" the whole vision tower too (gradients + optimizer states for its 0.68B parameters at 7B). */
function trainableParams(counts: ReturnType<typeof countParams>, lora: LoraParams, freezeVisionTower: boolean) {
  const visionTrainable = lora.enabled ? lora.vision_tower !== "frozen" : !freezeVisionTower;
  const visionFull = lora.enabled && lora.vision_tower === "full";
  const trainable = lora.enabled
    ? counts.lora + counts.head + (visionFull ? counts.vision : 0)
    : counts.total - (visionTrainable ? 0 : counts.vision);
  return { visionTrainable, visionFull, trainable };
}

/** The parameters' part. vision_tower "full": peft's modules_to_save trains a copy of the tower and keeps the frozen
 * original beside it. ZeRO-3 shards them (or offloads them to the CPU). */
function weightsPart(params: MemoryParams, counts: ReturnType<typeof countParams>, visionFull: boolean, b: number, n: number): MemoryPart {
  const baseWeights = (counts.total + (visionFull ? counts.vision : 0)) * b;
  let detail = `${fmtN(counts.total)} params (vision ${fmtN(counts.vision)}${visionFull ? ", + its trainable copy (LoRA vision_tower full)" : ""}) x ${b} B (${params.precision})`;
  if (params.zeroStage !== 3) return { key: "weights", label: "parameters", bytes: baseWeights, detail };
  detail += params.offloadParam ? "; ZeRO-3 offload_param: on the CPU" : `; ZeRO-3: 1/${n} per GPU`;
  return { key: "weights", label: "parameters", bytes: params.offloadParam ? 0 : baseWeights / n, detail };
}

export function estimateMemory(params: MemoryParams): MemoryEstimate {
  const lora: LoraParams = { ...LORA_DEFAULTS, ...(params.lora ?? {}) };
  const d = modelDims(params.modelConfig);
  const n = Math.max(1, params.worldSize);
  const b = bytesOf(params.precision);
  const gpu = (params.device ?? "gpu") === "gpu";
  const counts = countParams(d, params.numLabels, lora);
  const { visionTrainable, visionFull, trainable } = trainableParams(counts, lora, params.freezeVisionTower);
  const stage = params.zeroStage;
  const mixed = b < 4;
  const parts: MemoryPart[] = [weightsPart(params, counts, visionFull, b, n)];
  const liveParams = Math.min(counts.total, DS_BUCKETS.stage3MaxLive + DS_BUCKETS.stage3Prefetch) * b;

  const gradShard = stage >= 2 ? n : 1;
  const grads = (trainable * b) / gradShard;
  parts.push({
    key: "gradients",
    label: "gradients",
    bytes: grads,
    detail: `${fmtN(trainable)} trainable x ${b} B${gradShard > 1 ? ` / ${n} (ZeRO-${stage})` : ""}`,
  });

  // AdamW m and v in fp32; mixed precision adds the fp32 master copy and DeepSpeed's fp32 gradient partition.
  const perParamState = 8 + (mixed ? 8 : 0);
  const optShard = stage >= 1 ? n : 1;
  const optBytes = (trainable * perParamState) / optShard;
  const offload = params.offloadOptimizer && stage >= 1;
  // torch's fused/foreach AdamW on a GPU makes one fp32 temporary the size of the partition.
  const stepTemp = gpu && !offload ? (trainable * 4) / optShard : 0;
  parts.push({
    key: "optimizer",
    label: "optimizer states",
    bytes: offload ? 0 : optBytes + stepTemp,
    detail:
      `AdamW ${perParamState} B/trainable param (m, v${mixed ? ", fp32 master, fp32 grad" : ""})` +
      (optShard > 1 ? ` / ${n} (ZeRO-${stage})` : stage === 0 ? " (ZeRO-0: not split)" : "") +
      (offload ? `; offload_optimizer: ${fmtGiB(optBytes)} in CPU memory instead` : stepTemp ? ` + step temporary ${fmtGiB(stepTemp)}` : ""),
  });

  // LoRA's trained parameters: the adapters, and with vision_tower full the tower's trainable copy.
  const loraTrained = counts.lora + (visionFull ? counts.vision : 0);
  const loraBytes = lora.enabled ? loraTrained * (b + (stage >= 2 ? b / n : b) + (offload ? 0 : (perParamState + (gpu ? 4 : 0)) / optShard)) : 0;
  parts.push({
    key: "lora",
    label: "LoRA's share",
    bytes: loraBytes,
    detail: lora.enabled
      ? `${fmtN(counts.lora)} adapter params (r=${lora.r}, ${lora.target_modules.join(",")}${lora.vision_tower === "lora" ? ", vision tower too" : ""})` +
        `${visionFull ? ` + the vision tower's trainable copy (${fmtN(counts.vision)} params, vision_tower full)` : ""}: weights, gradients, optimizer; already counted above`
      : "LoRA disabled (full fine-tuning)",
  });

  const act = activations(d, params, lora, visionTrainable);
  parts.push({
    key: "activations",
    label: "activations",
    bytes: act.total,
    detail:
      `${params.perDeviceBatch} x ${act.seq} tokens (${params.imageTokensPerSample} image + ${params.textTokensPerSample} text), ` +
      `${d.layers} layers, hidden ${d.hidden}, ${params.gradientCheckpointing ? "gradient checkpointing" : "no checkpointing"}; ` +
      `vision tower ${visionTrainable ? "trained" : "frozen"} ${fmtGiB(act.vision)}`,
  });

  let buffers = 0;
  let bufDetail = "none (ZeRO-0)";
  if (stage === 1 || stage === 2) {
    const reduce = Math.min(DS_BUCKETS.reduce, trainable) * b;
    const gather = Math.min(DS_BUCKETS.allgather, counts.total) * b;
    buffers = reduce + gather;
    bufDetail = `reduce bucket ${fmtGiB(reduce)} + allgather bucket ${fmtGiB(gather)}`;
  } else if (stage === 3) {
    const reduce = Math.min(DS_BUCKETS.reduce, trainable) * b;
    buffers = reduce + liveParams;
    bufDetail = `reduce bucket ${fmtGiB(reduce)} + gathered live parameters (max_live ${DS_BUCKETS.stage3MaxLive.toExponential()} + prefetch) ${fmtGiB(liveParams)}`;
  }
  parts.push({ key: "deepspeed_buffers", label: "DeepSpeed buffers", bytes: buffers, detail: bufDetail });
  parts.push({
    key: "runtime",
    label: "CUDA runtime",
    bytes: gpu ? GPU_RUNTIME_BYTES : 0,
    detail: gpu ? "context, cuBLAS/NCCL workspaces (typical; not measured)" : "CPU: none",
  });

  // LoRA's share is inside weights/gradients/optimizer already: shown, not added twice.
  const totalBytes = parts.filter((p) => p.key !== "lora").reduce((a, p) => a + p.bytes, 0);
  return {
    parts,
    totalBytes,
    params: { total: counts.total, vision: counts.vision, trainable, lora: counts.lora },
    tokens: { perSample: act.seq, image: params.imageTokensPerSample, text: params.textTokensPerSample, perDevice: act.tokens },
    bytesPerSampleToken: act.perSampleToken,
    cpuOffloadBytes: offload ? optBytes : 0,
  };
}

// ----------------------------------------------------------------------------- image tokens

/** Python's round(): halves go to the even neighbour (smart_resize uses it). */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const diff = x - f;
  if (Math.abs(diff - 0.5) < 1e-12) return f % 2 === 0 ? f : f + 1;
  return Math.round(x);
}

/** transformers' Qwen2-VL smart_resize: both sides multiples of `factor`, area within [minPixels, maxPixels]. */
export function smartResize(height: number, width: number, minPixels: number, maxPixels: number, factor = 28): [number, number] {
  let h = roundHalfEven(height / factor) * factor;
  let w = roundHalfEven(width / factor) * factor;
  if (h * w > maxPixels) {
    const beta = Math.sqrt((height * width) / maxPixels);
    h = Math.max(factor, Math.floor(height / beta / factor) * factor);
    w = Math.max(factor, Math.floor(width / beta / factor) * factor);
  } else if (h * w < minPixels) {
    const beta = Math.sqrt(minPixels / (height * width));
    h = Math.ceil((height * beta) / factor) * factor;
    w = Math.ceil((width * beta) / factor) * factor;
  }
  return [h, w];
}

/** Image tokens of one image: (h/28) x (w/28) after smart_resize. */
export function imageTokens(height: number, width: number, minPixels: number, maxPixels: number, factor = 28): number {
  const [h, w] = smartResize(height, width, minPixels, maxPixels, factor);
  return (h / factor) * (w / factor);
}

export interface ImageSize {
  path: string;
  width: number;
  height: number;
}

export interface TokenStats {
  images: number;
  min: number;
  median: number;
  p99: number;
  max: number;
  /** The images with the most tokens, largest first (at most 10). */
  largest: { path: string; width: number; height: number; tokens: number }[];
}

export function tokenStats(params: { sizes: ImageSize[]; minPixels: number; maxPixels: number }): TokenStats | null {
  const rows = params.sizes.map((s) => ({ ...s, tokens: imageTokens(s.height, s.width, params.minPixels, params.maxPixels) }));
  if (!rows.length) return null;
  const sorted = rows.map((r) => r.tokens).sort((a, b) => a - b);
  const q = (f: number) => sorted[Math.min(sorted.length - 1, Math.ceil(f * sorted.length) - 1)];
  return {
    images: rows.length,
    min: sorted[0],
    median: q(0.5),
    p99: q(0.99),
    max: sorted[sorted.length - 1],
    largest: rows.sort((a, b) => b.tokens - a.tokens).slice(0, 10),
  };
}

// ----------------------------------------------------------------------------- preflight

/** "80GiB", "80 GB", "81920MiB", "24" (GiB) -> bytes. */
export function parseGpuMemory(text: string): number {
  const m = /^\s*([\d.]+)\s*(gib|gb|g|mib|mb|m|tib|tb|t)?\s*$/i.exec(text);
  if (!m || !(Number(m[1]) > 0)) throw new Error(`--gpu-memory must be a size such as 80GiB, 24GB or 81920MiB, got ${JSON.stringify(text)}`);
  const unit = (m[2] ?? "gib").toLowerCase();
  const mult: Record<string, number> = { gib: GIB, g: GIB, gb: 1e9, mib: 1024 ** 2, m: 1024 ** 2, mb: 1e6, tib: 1024 ** 4, t: 1024 ** 4, tb: 1e12 };
  return Number(m[1]) * mult[unit];
}

/** Share of a GPU's memory the estimate may use: the rest is headroom for the caching allocator's fragmentation. */
export const USABLE_FRACTION = 0.9;

export interface Suggestion {
  change: string;
  /** The config/flag change, as --set paths or flags. */
  how: string[];
  totalBytes: number;
  savedBytes: number;
  fits: boolean;
}

export interface PreflightInput extends MemoryParams {
  /** Memory of the smallest visible GPU, or the --gpu-memory figure; null: unknown (no verdict). */
  gpuMemoryBytes: number | null;
  gpuMemorySource: string;
  /** Token distribution of the training images (for the report and the over-budget list). */
  tokens?: TokenStats | null;
  imageMinPixels?: number;
  imageMaxPixels?: number;
  gradientAccumulation?: number;
}

export interface MemoryPreflight {
  fits: boolean | null;
  estimate: MemoryEstimate;
  gpuMemoryBytes: number | null;
  usableBytes: number | null;
  suggestions: Suggestion[];
  /** Largest image tokens per sample that still fits (null when nothing fits or no verdict). */
  tokenBudget: number | null;
  overBudgetImages: { path: string; tokens: number }[];
  report: string;
}

type Change = { change: string; how: string[]; apply: (p: PreflightInput) => PreflightInput | null };

/** The cheap changes, cheapest first: the same model and data, more compute or less memory. */
function changes(p: PreflightInput): Change[] {
  const out: Change[] = [];
  if (!p.gradientCheckpointing) {
    out.push({ change: "gradient checkpointing (~30% more compute)", how: ["--set training.gradient_checkpointing=true"], apply: (q) => ({ ...q, gradientCheckpointing: true }) });
  }
  if (p.perDeviceBatch > 1) {
    const accum = p.gradientAccumulation ?? 1;
    for (let bs = Math.floor(p.perDeviceBatch / 2); bs >= 1; bs = Math.floor(bs / 2)) {
      const acc = Math.ceil((p.perDeviceBatch * accum) / bs);
      out.push({
        change: `per-device batch ${bs} with gradient accumulation ${acc} (same global batch)`,
        how: [`--set training.per_device_batch_size=${bs}`, `--set training.gradient_accumulation_steps=${acc}`],
        apply: (q) => ({ ...q, perDeviceBatch: bs }),
      });
      if (bs === 1) break;
    }
  }
  if (!p.offloadOptimizer) {
    const stage = p.zeroStage >= 1 ? p.zeroStage : 2;
    out.push({
      change: `optimizer states offloaded to CPU memory${p.zeroStage === 0 ? " (with ZeRO-2)" : ""}`,
      how: [...(p.zeroStage === 0 ? ["--set deepspeed.zero_stage=2"] : []), "--set deepspeed.offload_optimizer=true"],
      apply: (q) => ({ ...q, zeroStage: stage as 1 | 2 | 3, offloadOptimizer: true }),
    });
  }
  if (p.zeroStage !== 3 && p.worldSize > 1) {
    out.push({ change: `ZeRO-3 (weights, gradients and optimizer split over the ${p.worldSize} GPUs)`, how: ["--set deepspeed.zero_stage=3"], apply: (q) => ({ ...q, zeroStage: 3 }) });
  }
  if (!p.offloadParam) {
    out.push({
      change: "ZeRO-3 with weights and optimizer states offloaded to CPU memory (slowest; needs CPU RAM for both)",
      how: ["--set deepspeed.zero_stage=3", "--set deepspeed.offload_param=true", "--set deepspeed.offload_optimizer=true"],
      apply: (q) => ({ ...q, zeroStage: 3, offloadParam: true, offloadOptimizer: true }),
    });
  }
  if (!p.lora?.enabled) {
    out.push({ change: "LoRA (r=16 on every linear layer; the base weights are frozen)", how: ["--set model.lora.enabled=true"], apply: (q) => ({ ...q, lora: { ...(q.lora ?? {}), enabled: true } }) });
  }
  if (p.imageMaxPixels && p.imageTokensPerSample > 64) {
    for (const f of [0.5, 0.25]) {
      const maxPixels = Math.max(p.imageMinPixels ?? 3136, Math.floor((p.imageMaxPixels * f) / 784) * 784);
      const tokens = Math.min(p.imageTokensPerSample, Math.floor(maxPixels / 784));
      out.push({ change: `image_max_pixels ${maxPixels} (<= ${tokens} image tokens per sample)`, how: [`--set data.image_max_pixels=${maxPixels}`], apply: (q) => ({ ...q, imageTokensPerSample: tokens }) });
    }
  }
  return out;
}

function suggest(p: PreflightInput, usable: number, base: number): Suggestion[] {
  const all = changes(p);
  const single: Suggestion[] = [];
  for (const c of all) {
    const q = c.apply(p);
    if (!q) continue;
    const t = estimateMemory(q).totalBytes;
    single.push({ change: c.change, how: c.how, totalBytes: t, savedBytes: base - t, fits: t <= usable });
  }
  // Cheapest first: among the ones that fit, the order above (compute before method before data).
  const fitting = single.filter((s) => s.fits);
  if (fitting.length) return [...fitting, ...single.filter((s) => !s.fits)];
  // None fits alone: accumulate the changes in order until it does.
  let q: PreflightInput = p;
  const combo: string[] = [];
  const how: string[] = [];
  for (const c of all) {
    const next = c.apply(q);
    if (!next) continue;
    // the batch steps replace one another: keep only the last applied
    q = next;
    combo.push(c.change);
    how.push(...c.how);
    const t = estimateMemory(q).totalBytes;
    if (t <= usable) return [{ change: combo.join(" + "), how, totalBytes: t, savedBytes: base - t, fits: true }, ...single];
  }
  return single;
}

export function memoryPreflight(params: PreflightInput): MemoryPreflight {
  const estimate = estimateMemory(params);
  const mem = params.gpuMemoryBytes;
  const usable = mem === null ? null : mem * USABLE_FRACTION;
  const fits = usable === null ? null : estimate.totalBytes <= usable;
  const suggestions = fits === false && usable !== null ? suggest(params, usable, estimate.totalBytes) : [];
  let tokenBudget: number | null = null;
  if (usable !== null) {
    const fixed = estimateMemory({ ...params, imageTokensPerSample: 0 }).totalBytes;
    const perToken = (estimate.totalBytes - fixed) / Math.max(1, params.imageTokensPerSample);
    tokenBudget = fixed > usable ? 0 : perToken > 0 ? Math.floor((usable - fixed) / perToken) : null;
  }
  const overBudgetImages =
    tokenBudget !== null && params.tokens ? params.tokens.largest.filter((i) => i.tokens > tokenBudget!).map(({ path, tokens }) => ({ path, tokens })) : [];
  const result: MemoryPreflight = { fits, estimate, gpuMemoryBytes: mem, usableBytes: usable, suggestions, tokenBudget, overBudgetImages, report: "" };
  result.report = formatMemoryReport({ ...result, input: params });
  return result;
}

function formatMemoryReport(r: Omit<MemoryPreflight, "report"> & { input: PreflightInput }): string {
  const e = r.estimate;
  const p = r.input;
  const lines = [`GPU memory estimate (one GPU of ${p.worldSize}, ZeRO-${p.zeroStage}${p.offloadOptimizer ? " + optimizer offload" : ""}, ${p.precision}):`];
  for (const part of e.parts) lines.push(`  ${part.label.padEnd(18)} ${fmtGiB(part.bytes).padStart(11)}  ${part.detail}`);
  lines.push(`  ${"total".padEnd(18)} ${fmtGiB(e.totalBytes).padStart(11)}`);
  if (p.tokens) {
    const t = p.tokens;
    lines.push(`  image tokens per sample (${t.images} images, pixels ${p.imageMinPixels ?? "?"}..${p.imageMaxPixels ?? "?"}): min ${t.min}, median ${t.median}, p99 ${t.p99}, max ${t.max}`);
  }
  if (e.cpuOffloadBytes) lines.push(`  CPU memory for the offloaded optimizer: ${fmtGiB(e.cpuOffloadBytes)} per GPU process`);
  if (r.gpuMemoryBytes === null) {
    lines.push(`  GPU memory: unknown (${p.gpuMemorySource}); pass --gpu-memory 80GiB to check the fit`);
    return lines.join("\n") + "\n";
  }
  const verdict = r.fits ? "fits" : "DOES NOT FIT";
  lines.push(`  ${verdict}: ${fmtGiB(e.totalBytes)} of ${fmtGiB(r.usableBytes!)} usable (${Math.round(USABLE_FRACTION * 100)}% of ${fmtGiB(r.gpuMemoryBytes)}, ${p.gpuMemorySource})`);
  if (r.tokenBudget !== null && p.tokens && r.tokenBudget < p.tokens.max) {
    lines.push(`  token budget: at most ${r.tokenBudget} image tokens per sample fit; ${r.overBudgetImages.length}${r.overBudgetImages.length === 10 ? "+" : ""} image(s) above it:`);
    for (const i of r.overBudgetImages) lines.push(`    ${i.path} (${i.tokens} tokens)`);
  }
  if (!r.fits) {
    lines.push("  changes that would make it fit (estimated peak per GPU):");
    for (const s of r.suggestions) lines.push(`    ${s.fits ? "fits " : "still over"}  ${fmtGiB(s.totalBytes).padStart(11)} (-${fmtGiB(s.savedBytes)})  ${s.change}: ${s.how.join(" ")}`);
  }
  return lines.join("\n") + "\n";
}

// ----------------------------------------------------------------------------- plan

export interface GpuSetup {
  gpus: number;
  zeroStage: 0 | 1 | 2 | 3;
  offloadOptimizer: boolean;
  gradientCheckpointing: boolean;
  perDeviceBatch: number;
  totalBytes: number;
}

export interface GpuPlan {
  gpuMemoryBytes: number;
  full: GpuSetup[];
  lora: GpuSetup[];
  report: string;
}

/**
 * "How many GPUs do I need": for full fine-tuning and for LoRA, the smallest GPU count (1, 2, 4,
 * 8, ... maxGpus) at which some setup fits, and the setups that fit there, cheapest first
 * (no offload before offload, no checkpointing before checkpointing, lower ZeRO stage first).
 */
export function planGpus(params: MemoryParams & { gpuMemoryBytes: number; maxGpus?: number }): GpuPlan {
  const usable = params.gpuMemoryBytes * USABLE_FRACTION;
  const counts: number[] = [];
  for (let g = 1; g <= (params.maxGpus ?? 64); g *= 2) counts.push(g);
  const search = (loraOn: boolean): GpuSetup[] => {
    for (const gpus of counts) {
      const found: GpuSetup[] = [];
      for (const offloadOptimizer of [false, true])
        for (const gradientCheckpointing of [false, true])
          for (const zeroStage of [0, 1, 2, 3] as const) {
            if (offloadOptimizer && zeroStage === 0) continue;
            if (gpus === 1 && zeroStage !== 0 && !offloadOptimizer) continue; // ZeRO splits nothing on one GPU
            const q = { ...params, worldSize: gpus, zeroStage, offloadOptimizer, gradientCheckpointing, lora: { ...(params.lora ?? {}), enabled: loraOn } };
            const t = estimateMemory(q).totalBytes;
            if (t <= usable) found.push({ gpus, zeroStage, offloadOptimizer, gradientCheckpointing, perDeviceBatch: params.perDeviceBatch, totalBytes: t });
          }
      if (found.length) return found.slice(0, 4);
    }
    return [];
  };
  const full = search(false);
  const lora = search(true);
  const show = (name: string, s: GpuSetup[]) =>
    s.length
      ? [`  ${name}: ${s[0].gpus} GPU(s)`, ...s.map((x) => `    ZeRO-${x.zeroStage}${x.offloadOptimizer ? " + offload_optimizer" : ""}${x.gradientCheckpointing ? " + gradient checkpointing" : ""}: ${fmtGiB(x.totalBytes)} per GPU`)]
      : [`  ${name}: does not fit on ${counts[counts.length - 1]} GPUs of ${fmtGiB(params.gpuMemoryBytes)} with per-device batch ${params.perDeviceBatch}`];
  const report = [
    `GPU plan (GPUs of ${fmtGiB(params.gpuMemoryBytes)}, ${fmtGiB(usable)} usable; per-device batch ${params.perDeviceBatch}, ${params.imageTokensPerSample + params.textTokensPerSample} tokens per sample):`,
    ...show("full fine-tuning", full),
    ...show("LoRA", lora),
  ].join("\n") + "\n";
  return { gpuMemoryBytes: params.gpuMemoryBytes, full, lora, report };
}
