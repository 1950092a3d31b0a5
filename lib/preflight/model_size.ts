// How many parameters the classifier has, read from the model folder WITHOUT loading it:
// the JSON headers of its *.safetensors files, else an estimate from config.json.
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

export interface ModelSize {
  /** Parameters of the classifier: the backbone (no lm_head) plus the linear head. */
  params: number;
  /** Of which in the vision tower (frozen by model.freeze_vision_tower). */
  visionParams: number;
  /** Hidden size of the language model (head input), when known. */
  hiddenSize: number | null;
  /** Bytes of the processor/tokenizer/config files copied into every hf_model/. */
  extraFileBytes: number;
  source: "safetensors" | "config" | "unknown";
  /** The folder read, or null. */
  modelDir: string | null;
  detail: string;
}

/** The tensors a safetensors header lists (names, dtypes, shapes; no tensor data is read). */
export interface SafetensorsHeader {
  tensors: { name: string; dtype: string; shape: number[] }[];
}

/** Reads the 8-byte little-endian header length and the JSON header of one .safetensors file. */
export function readSafetensorsHeader(path: string): SafetensorsHeader {
  const fd = openSync(path, "r");
  try {
    const lenBuf = Buffer.alloc(8);
    if (readSync(fd, lenBuf, 0, 8, 0) !== 8) throw new Error(`${path}: too short for a safetensors file`);
    const len = Number(lenBuf.readBigUInt64LE(0));
    const size = statSync(path).size;
    if (len <= 0 || len > 100 * 1024 * 1024 || 8 + len > size) throw new Error(`${path}: not a safetensors file (header length ${len})`);
    const head = Buffer.alloc(len);
    readSync(fd, head, 0, len, 8);
    const json = JSON.parse(head.toString("utf8")) as Record<string, { dtype: string; shape: number[] }>;
    const tensors = Object.entries(json)
      .filter(([k]) => k !== "__metadata__")
      .map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape }));
    return { tensors };
  } finally {
    closeSync(fd);
  }
}

const isVision = (name: string) => /(^|\.)visual\./.test(name);
const isLmHead = (name: string) => /(^|\.)lm_head\./.test(name);

/** Where model.pretrained_name lives: the folder itself, or a snapshot in the Hugging Face cache. */
export function findModelDir(params: { name: string; env?: Record<string, string | undefined> }): string | null {
  const { name } = params;
  if (existsSync(name) && statSync(name).isDirectory()) return name;
  if (!/^[\w.-]+\/[\w.-]+$/.test(name)) return null;
  const env = params.env ?? process.env;
  const hubCache = env.HF_HUB_CACHE ?? join(env.HF_HOME ?? join(env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "huggingface"), "hub");
  const repoDir = join(hubCache, `models--${name.replace("/", "--")}`);
  const snapshots = join(repoDir, "snapshots");
  if (!existsSync(snapshots)) return null;
  try {
    const ref = readFileSync(join(repoDir, "refs", "main"), "utf8").trim();
    if (ref && existsSync(join(snapshots, ref))) return join(snapshots, ref);
  } catch {
    // no refs/main: take the newest snapshot
  }
  const all = readdirSync(snapshots)
    .map((d) => join(snapshots, d))
    .filter((d) => statSync(d).isDirectory())
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  return all[0] ?? null;
}

type Json = Record<string, unknown>;
const num = (o: Json | undefined, ...keys: string[]): number | undefined => {
  for (const k of keys) if (typeof o?.[k] === "number") return o[k] as number;
  return undefined;
};

/**
 * Parameters of Qwen2_5_VLModel (no lm_head) from its config.json, text and vision parts.
 * Matches transformers' own count exactly for Qwen2.5-VL (checked on the 7B config: 7,747,169,280).
 */
export function estimateFromConfig(cfg: Json): { params: number; visionParams: number; hiddenSize: number } | null {
  const text = (cfg.text_config as Json | undefined) ?? cfg;
  const H = num(text, "hidden_size") ?? num(cfg, "hidden_size");
  const I = num(text, "intermediate_size") ?? num(cfg, "intermediate_size");
  const L = num(text, "num_hidden_layers") ?? num(cfg, "num_hidden_layers");
  const heads = num(text, "num_attention_heads") ?? num(cfg, "num_attention_heads");
  const V = num(text, "vocab_size") ?? num(cfg, "vocab_size");
  if (!H || !I || !L || !heads || !V) return null;
  const kv = num(text, "num_key_value_heads") ?? num(cfg, "num_key_value_heads") ?? heads;
  const hd = num(text, "head_dim") ?? H / heads;
  const attn = H * heads * hd + heads * hd + 2 * (H * kv * hd + kv * hd) + heads * hd * H; // q,k,v with bias; o without
  const layer = attn + 3 * H * I + 2 * H;
  const textParams = V * H + L * layer + H;
  const vc = cfg.vision_config as Json | undefined;
  let vision = 0;
  if (vc) {
    const h = num(vc, "hidden_size", "embed_dim") ?? 0;
    const vi = num(vc, "intermediate_size") ?? 0;
    const depth = num(vc, "depth") ?? 0;
    const patch = num(vc, "patch_size") ?? 14;
    const tps = num(vc, "temporal_patch_size") ?? 2;
    const inCh = num(vc, "in_channels", "in_chans") ?? 3;
    const merge = num(vc, "spatial_merge_size") ?? 2;
    const out = num(vc, "out_hidden_size") ?? H;
    const block = 2 * h + (3 * h * h + 3 * h) + (h * h + h) + 2 * (h * vi + vi) + (vi * h + h);
    const m = h * merge * merge;
    const merger = h + (m * m + m) + (m * out + out);
    vision = inCh * tps * patch * patch * h + depth * block + merger;
  }
  return { params: textParams + vision, visionParams: vision, hiddenSize: H };
}

const WEIGHT_FILE = /\.(safetensors|bin|pt|pth|ckpt|gguf)$/;

/**
 * The classifier's parameter count for a model folder: safetensors headers when there are
 * weights (lm_head left out: the classifier replaces it with a small linear head), else the
 * config.json estimate, else unknown.
 */
export function modelSize(params: { pretrainedName: string; numLabels: number; env?: Record<string, string | undefined> }): ModelSize {
  const dir = findModelDir({ name: params.pretrainedName, env: params.env });
  if (!dir) {
    return {
      params: 0,
      visionParams: 0,
      hiddenSize: null,
      extraFileBytes: 0,
      source: "unknown",
      modelDir: null,
      detail: `model ${params.pretrainedName} is not on this machine (no folder, no Hugging Face cache entry)`,
    };
  }
  const names = readdirSync(dir);
  let cfg: Json | null = null;
  try {
    cfg = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as Json;
  } catch {
    cfg = null;
  }
  const extraFileBytes = names
    .filter((n) => !WEIGHT_FILE.test(n) && !n.endsWith(".index.json"))
    .map((n) => statSync(join(dir, n)))
    .filter((s) => s.isFile())
    .reduce((a, s) => a + s.size, 0);
  const estimate = cfg ? estimateFromConfig(cfg) : null;
  const hiddenSize = estimate?.hiddenSize ?? null;
  const head = hiddenSize ? hiddenSize * params.numLabels + params.numLabels : 0;

  const shards = names.filter((n) => n.endsWith(".safetensors")).sort();
  if (shards.length) {
    let total = 0;
    let vision = 0;
    let droppedLmHead = 0;
    for (const s of shards) {
      for (const t of readSafetensorsHeader(join(dir, s)).tensors) {
        const n = t.shape.reduce((a, b) => a * b, 1);
        if (isLmHead(t.name)) {
          droppedLmHead += n;
          continue;
        }
        total += n;
        if (isVision(t.name)) vision += n;
      }
    }
    return {
      params: total + head,
      visionParams: vision,
      hiddenSize,
      extraFileBytes,
      source: "safetensors",
      modelDir: dir,
      detail: `${shards.length} safetensors file(s) in ${dir}${droppedLmHead ? ` (lm_head's ${droppedLmHead.toLocaleString("en-US")} left out: the classifier has a ${params.numLabels}-way head instead)` : ""}`,
    };
  }
  if (estimate) {
    return {
      params: estimate.params + head,
      visionParams: estimate.visionParams,
      hiddenSize,
      extraFileBytes,
      source: "config",
      modelDir: dir,
      detail: `estimated from ${join(dir, "config.json")} (no safetensors weights found)`,
    };
  }
  return {
    params: 0,
    visionParams: 0,
    hiddenSize: null,
    extraFileBytes,
    source: "unknown",
    modelDir: dir,
    detail: `${dir} has neither *.safetensors weights nor a config.json with the layer sizes`,
  };
}
