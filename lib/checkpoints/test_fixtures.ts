// Fabricated checkpoint folders for the checkpoint-lifecycle tests (retention, slimming, prune CLI).
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CheckpointInfo, EvalEntry, TrainingInfo } from "./scan.ts";

export interface FakeCheckpoint {
  step: number;
  complete?: boolean;
  /** training_info.eval_metrics */
  metrics?: Record<string, number> | null;
  /** eval_results.json entries: [split, metrics, evaluated_at] */
  evals?: [string, Record<string, number>, string][];
  isBest?: boolean;
  isFinal?: boolean;
  slim?: boolean;
  hfModel?: boolean;
  deepspeed?: boolean;
  metricName?: string | null;
  /** bytes of the fake deepspeed/ and hf_model/ weight files */
  dsBytes?: number;
  hfBytes?: number;
  extra?: Partial<TrainingInfo>;
}

export function trainingInfo(c: FakeCheckpoint): TrainingInfo {
  const ds = c.deepspeed ?? !c.slim;
  const hf = c.hfModel ?? true;
  return {
    step: c.step, epoch: c.step / 100, samples_seen: c.step * 8, train_loss: 1 / c.step, lr: 1e-5, grad_norm: 1,
    eval_metrics: c.metrics ?? null, metric_name: c.metricName === undefined ? "accuracy" : c.metricName,
    is_final: c.isFinal ?? false, is_best: c.isBest ?? false, wall_time_s: c.step, world_size: 1, zero_stage: 2,
    precision: "fp32", config_hash: "abc", num_labels: 2, id2label: { "0": "a", "1": "b" }, versions: {},
    created_at: new Date(0).toISOString(), has_deepspeed_state: ds, has_hf_model: hf, slim: c.slim ?? false,
    bytes: { deepspeed: ds ? (c.dsBytes ?? 3000) : 0, hf_model: hf ? (c.hfBytes ?? 1000) : 0, total: 0 },
    ...c.extra,
  };
}

function evalResults(c: FakeCheckpoint): Record<string, EvalEntry> | null {
  if (!c.evals?.length) return null;
  const out: Record<string, EvalEntry> = {};
  c.evals.forEach(([split, metrics, at], i) => {
    out[`key${i}`] = { split, data: "val.jsonl", data_sha256: `sha${i}`, num_samples: 10, step: c.step, metrics, evaluated_at: at };
  });
  return out;
}

/** In-memory CheckpointInfo (for the pure planner). */
export function fakeInfo(c: FakeCheckpoint, dir = "/runs/r"): CheckpointInfo {
  const complete = c.complete ?? true;
  return {
    name: `checkpoint-${c.step}`, path: join(dir, `checkpoint-${c.step}`), step: c.step, complete,
    info: complete ? trainingInfo(c) : null, evalResults: evalResults(c),
  };
}

/** Writes a checkpoint folder with real (small) files. */
export function writeCheckpoint(outputDir: string, c: FakeCheckpoint): string {
  const dir = join(outputDir, `checkpoint-${c.step}`);
  mkdirSync(dir, { recursive: true });
  const info = trainingInfo(c);
  if (info.has_deepspeed_state) {
    mkdirSync(join(dir, "deepspeed", `global_step${c.step}`), { recursive: true });
    writeFileSync(join(dir, "deepspeed", `global_step${c.step}`, "optim_states.pt"), Buffer.alloc(c.dsBytes ?? 3000));
    writeFileSync(join(dir, "deepspeed", "latest"), `global_step${c.step}`);
  }
  if (info.has_hf_model) {
    mkdirSync(join(dir, "hf_model"), { recursive: true });
    writeFileSync(join(dir, "hf_model", "config.json"), JSON.stringify({ num_labels: 2 }));
    writeFileSync(join(dir, "hf_model", "model.safetensors"), Buffer.alloc(c.hfBytes ?? 1000));
  }
  const ev = evalResults(c);
  if (ev) writeFileSync(join(dir, "eval_results.json"), JSON.stringify(ev));
  if (c.complete ?? true) writeFileSync(join(dir, "training_info.json"), JSON.stringify(info, null, 2));
  return dir;
}

export function makeRun(checkpoints: FakeCheckpoint[], resolved?: object): string {
  const out = mkdtempSync(join(tmpdir(), "qc-ckpt-"));
  for (const c of checkpoints) writeCheckpoint(out, c);
  if (resolved) writeFileSync(join(out, "resolved_config.json"), JSON.stringify({ config: resolved }));
  return out;
}
