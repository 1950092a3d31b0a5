// Before launch: will the checkpoints this run keeps fit on the disk of output_dir?
// A rough, documented estimate from the size of the model's weights (no model is loaded).
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { freeSpace } from "../checkpoints/disk.ts";
import { formatBytes } from "../util/fs.ts";

export interface DiskCheckConfig {
  model?: { pretrained_name?: string };
  data?: { train_jsonl?: string };
  training: {
    max_steps?: number;
    epochs?: number;
    per_device_batch_size?: number;
    gradient_accumulation_steps?: number;
    save_steps?: number;
    save_all_checkpoints?: boolean;
    save_total_limit?: number;
    checkpoint?: { retention?: string; keep_optimizer_states?: number };
  };
}

export interface DiskCheck {
  ok: boolean;
  message: string | null;
  requiredBytes: number | null;
  freeBytes: number | null;
}

/** World size from a torchrun argv: --nproc-per-node x --nnodes (1 when not given). */
export function worldSizeFromArgv(argv: string[]): number {
  const value = (names: string[]): number | null => {
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i]!;
      for (const n of names) {
        if (a === n && i + 1 < argv.length) return Number.parseInt(argv[i + 1]!, 10);
        if (a.startsWith(n + "=")) return Number.parseInt(a.slice(n.length + 1), 10);
      }
    }
    return null;
  };
  const nproc = value(["--nproc-per-node", "--nproc_per_node"]);
  const nnodesRaw = value(["--nnodes"]); // "2" or "1:4" (elastic): parseInt takes the minimum
  const n = (Number.isFinite(nproc) && nproc! > 0 ? nproc! : 1) * (Number.isFinite(nnodesRaw) && nnodesRaw! > 0 ? nnodesRaw! : 1);
  return n;
}

function weightsOf(modelDir: string): { bytes: number; sixteenBit: boolean } | null {
  if (!existsSync(modelDir) || !statSync(modelDir).isDirectory()) return null;
  let bytes = 0;
  for (const name of readdirSync(modelDir)) {
    if (/\.(safetensors|bin|pt)$/.test(name)) bytes += statSync(join(modelDir, name)).size;
  }
  if (bytes === 0) return null;
  let dtype = "";
  try {
    const cfg = JSON.parse(readFileSync(join(modelDir, "config.json"), "utf8"));
    dtype = String(cfg.torch_dtype ?? cfg.dtype ?? cfg.text_config?.torch_dtype ?? cfg.text_config?.dtype ?? "");
  } catch {
    // unknown: assume 16-bit weights (the usual for released checkpoints)
  }
  return { bytes, sixteenBit: dtype !== "float32" };
}

function countLines(path: string): number | null {
  try {
    const text = readFileSync(path, "utf8");
    return text.split("\n").filter((l) => l.trim() !== "").length;
  } catch {
    return null;
  }
}

/**
 * One checkpoint ~ hf_model (the weights) + deepspeed/ (module weights + fp32 Adam master, m, v):
 * 8x the 16-bit weights on disk, 5x fp32 weights (ZeRO keeps an fp32 master copy even in fp32). Checkpoints kept at once: every save with
 * `all`, else save_total_limit + the best + the one being written. keep_optimizer_states=N
 * leaves only hf_model/ in the older ones.
 */
export function checkDiskBeforeLaunch(params: {
  config: DiskCheckConfig;
  outputDir: string;
  argv: string[];
  freeBytes?: (path: string) => number;
}): DiskCheck {
  const { config, outputDir } = params;
  const weights = config.model?.pretrained_name ? weightsOf(config.model.pretrained_name) : null;
  if (!weights) return { ok: true, message: null, requiredBytes: null, freeBytes: null };
  const t = config.training;
  const hfBytes = weights.bytes;
  const fullBytes = weights.bytes * (weights.sixteenBit ? 8 : 5);

  const retention = t.checkpoint?.retention?.trim() ?? "";
  const keepAll = retention === "all" || (retention === "" && t.save_all_checkpoints === true);
  let count: number | null;
  let countWhy: string;
  if (keepAll) {
    let steps = t.max_steps && t.max_steps > 0 ? t.max_steps : null;
    if (steps === null && config.data?.train_jsonl) {
      const lines = countLines(config.data.train_jsonl);
      const global = (t.per_device_batch_size ?? 1) * (t.gradient_accumulation_steps ?? 1) * worldSizeFromArgv(params.argv);
      if (lines !== null) steps = Math.ceil(((t.epochs ?? 1) * lines) / global);
    }
    count = steps === null ? null : Math.ceil(steps / Math.max(1, t.save_steps ?? 1)) + (steps % Math.max(1, t.save_steps ?? 1) === 0 ? 0 : 0);
    countWhy = "every checkpoint is kept";
  } else {
    const m = /(?:last|best|top):(\d+)/g;
    let kept = 0;
    for (const x of retention.matchAll(m)) kept += Number(x[1]);
    count = (retention ? kept : (t.save_total_limit ?? 2) + 1) + 1;
    countWhy = "kept by retention, plus the one being written";
  }
  if (count === null) return { ok: true, message: null, requiredBytes: null, freeBytes: null };
  const keepOpt = t.checkpoint?.keep_optimizer_states ?? 0;
  const full = keepOpt > 0 ? Math.min(count, keepOpt + 1) : count;
  const required = full * fullBytes + (count - full) * hfBytes;
  const free = params.freeBytes ? params.freeBytes(outputDir) : freeSpace({ path: outputDir }).freeBytes;
  const detail =
    `the run needs about ${formatBytes(required)} for ${count} checkpoint(s) (${countWhy}; ~${formatBytes(fullBytes)} each, ` +
    `estimated from ${formatBytes(weights.bytes)} of model weights); ${formatBytes(free)} free at ${outputDir}`;
  const ok = free >= required;
  return { ok, message: ok ? detail : `not enough disk space: ${detail}`, requiredBytes: required, freeBytes: free };
}
