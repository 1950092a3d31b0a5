import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import type { TrainingInfo as TrainingInfoMessage } from "../../generated/messages.ts";
import { UserError } from "../util/errors.ts";

/** training_info.json, written last into every complete checkpoint (docs/architecture.md). */
export interface TrainingInfo {
  step: number;
  epoch: number;
  samples_seen: number;
  train_loss: number | null;
  lr: number | null;
  grad_norm: number | null;
  eval_metrics: Record<string, number> | null;
  metric_name?: string | null;
  is_final: boolean;
  is_best: boolean;
  wall_time_s: number;
  world_size: number;
  zero_stage: number;
  precision?: string;
  config_hash: string;
  num_labels: number;
  id2label: Record<string, string>;
  versions: Record<string, string>;
  created_at: string;
  has_deepspeed_state: boolean;
  has_hf_model: boolean;
  slim: boolean;
  bytes: { deepspeed: number; hf_model: number; adapter?: number; total: number };
  /** LoRA runs only (schema/events.schema.json TrainingInfo.lora). */
  lora?: TrainingInfoMessage["lora"];
  [extra: string]: unknown;
}

/** One entry of eval_results.json, keyed by the evaluation set's content hash. */
export interface EvalEntry {
  split: string;
  data: string;
  data_sha256: string;
  num_samples: number;
  step: number;
  metrics: Record<string, unknown>;
  evaluated_at: string;
  [extra: string]: unknown;
}

export interface CheckpointInfo {
  name: string;
  path: string;
  step: number;
  /** true iff training_info.json exists (the completeness marker). */
  complete: boolean;
  info: TrainingInfo | null;
  evalResults: Record<string, EvalEntry> | null;
}

const CHECKPOINT_RE = /^checkpoint-(\d+)$/;

function readJson<T>(path: string): T | null {
  if (!existsSync(path)) return null;
  try {
    return JSON.parse(readFileSync(path, "utf8")) as T;
  } catch (err) {
    throw new UserError(`${path} is not valid JSON: ${(err as Error).message}`, {
      hint: "the checkpoint metadata is damaged; restore it or remove the checkpoint",
    });
  }
}

function describe(path: string): CheckpointInfo {
  const name = basename(path);
  const m = CHECKPOINT_RE.exec(name);
  const info = readJson<TrainingInfo>(join(path, "training_info.json"));
  return {
    name,
    path,
    step: m ? Number(m[1]) : (info?.step ?? -1),
    complete: info !== null,
    info,
    evalResults: readJson<Record<string, EvalEntry>>(join(path, "eval_results.json")),
  };
}

/** The checkpoint-N folders of a run, sorted by step; only complete ones unless asked. */
export function listCheckpoints(params: { outputDir: string; includeIncomplete?: boolean }): CheckpointInfo[] {
  const dir = resolve(params.outputDir);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new UserError(`output directory not found: ${dir}`, { hint: "pass the training.output_dir of a run" });
  }
  const out: CheckpointInfo[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory() || !CHECKPOINT_RE.test(entry.name)) continue;
    const ckpt = describe(join(dir, entry.name));
    if (ckpt.complete || params.includeIncomplete) out.push(ckpt);
  }
  return out.sort((a, b) => a.step - b.step);
}

/** A single complete checkpoint; throws a UserError naming the problem otherwise. */
export function readCheckpoint(path: string): CheckpointInfo {
  const p = resolve(path);
  if (!existsSync(p) || !statSync(p).isDirectory()) {
    throw new UserError(`checkpoint not found: ${p}`, { hint: "pass a checkpoint-N folder of a run's output_dir" });
  }
  const ckpt = describe(p);
  if (!ckpt.complete) {
    throw new UserError(`${p} is not a complete checkpoint (no training_info.json)`, {
      hint: "it is either still being written, was interrupted, or is not a qwen-classify checkpoint",
    });
  }
  return ckpt;
}
