// The message schema (schema/events.schema.json) against realistic messages, typed with the generated
// types: what compiles here also validates, and each kind of mistake is refused with its field named.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MESSAGE_KINDS, type EvalEngineEvent, type ExportEvent, type TrainEvent, type TrainingInfo } from "../../generated/messages.ts";
import { messageErrors } from "../util/message_schema.ts";
import { readEvents } from "./tail.ts";
import { generateMessages } from "../../scripts/codegen_messages.ts";

const metrics = { accuracy: 0.75, top5_accuracy: 1, macro_f1: 0.7, loss: 0.61 };

/** A run's stream as qc_engine.train writes it (fields as in engine/qc_engine/train.py). */
const RUN_EVENTS: TrainEvent[] = [
  {
    event: "start", time: 1.5, world_size: 2, total_steps: 6, steps_per_epoch: 3, epochs: 2, num_train_samples: 64, num_val_samples: 24,
    global_batch_size: 16, resumed_from_step: null, precision: "bf16", zero_stage: 3, skipped_samples: 1,
  },
  { event: "step", time: 2.5, step: 1, total_steps: 6, epoch: 0.33, loss: 2.3, lr: 1e-4, grad_norm: null, samples_per_s: 12.5, memory_bytes: 1 << 30, memory_kind: "cuda" },
  { event: "step", time: 3.5, step: 2, total_steps: 6, epoch: 0.67, loss: null, lr: 1e-4, grad_norm: 1.2, samples_per_s: 12.5, memory_bytes: 1 << 30, memory_kind: "cuda" },
  { event: "eval", time: 4, step: 3, split: "partial", num_samples: 16, metrics, checkpoint: null, seconds: 0.8, eval_key: "partial:0123456789abcdef" },
  { event: "checkpoint", time: 5, step: 3, path: "/o/checkpoint-3", bytes: 4096, seconds: 1.1, is_final: false, is_best: true, metric: 0.75 },
  { event: "eval", time: 6, step: 3, split: "full", num_samples: 24, metrics: { ...metrics, top5_accuracy: null }, checkpoint: "/o/checkpoint-3", seconds: 1, eval_key: "full:0123456789abcdef" },
  { event: "error", time: 7, message: "bad label", exit_code: 2, hint: "fix the data or set data.on_bad_sample: skip" },
  { event: "end", time: 8, status: "failed", step: 3, best_checkpoint: "/o/checkpoint-3", exit_code: 2, eval_forward_passes: 5 },
];

describe("schema/events.schema.json", () => {
  test("every message kind compiles under Ajv strict mode", () => {
    for (const kind of MESSAGE_KINDS) expect(Array.isArray(messageErrors(kind, {}))).toBe(true);
  });

  test("a run's event stream validates, and reads back through readEvents unchanged", async () => {
    RUN_EVENTS.forEach((e) => expect(messageErrors("TrainEvent", e)).toEqual([]));
    const dir = mkdtempSync(join(tmpdir(), "qc-messages-"));
    const path = join(dir, "events.jsonl");
    writeFileSync(path, RUN_EVENTS.map((e) => JSON.stringify(e) + "\n").join(""));
    expect(await readEvents(path)).toEqual(RUN_EVENTS);
    rmSync(dir, { recursive: true });
  });

  test("mistakes are refused, naming the message and the field", () => {
    const start = RUN_EVENTS[0]!;
    const { zero_stage: _omit, ...missing } = start as Extract<TrainEvent, { event: "start" }>;
    expect(messageErrors("TrainEvent", missing)).toEqual(["StartEvent (root): must have required property 'zero_stage'"]);
    expect(messageErrors("TrainEvent", { ...start, extra: 1 })).toEqual(["StartEvent (root): must NOT have additional properties (extra)"]);
    expect(messageErrors("TrainEvent", { ...start, precision: "fp8" })[0]).toStartWith("StartEvent /precision:");
    expect(messageErrors("TrainEvent", { ...RUN_EVENTS[1], memory_kind: "gpu" })[0]).toStartWith("StepEvent /memory_kind:");
    expect(messageErrors("TrainEvent", { ...start, event: "begin" }).length).toBeGreaterThan(0);
  });

  test("evaluate and export protocol lines, and training_info.json", () => {
    const plan: EvalEngineEvent = {
      event: "plan", time: 1, checkpoints: [{ path: "/o/checkpoint-3", step: 3, action: "evaluate", source: "deepspeed" }], data: "/d/val.jsonl",
      data_sha256: "ab".repeat(32), eval_key: "full:abababababababab", num_samples: 9, num_batches: 3, batch_size: 4, world_size: 1,
    };
    expect(messageErrors("EvalEngineEvent", plan)).toEqual([]);
    expect(messageErrors("EvalEngineEvent", { event: "skip", time: 1, path: "/o/c", step: 3 })).toEqual(["SkipEvent (root): must have required property 'reason'"]);
    const progress: ExportEvent = { event: "progress", phase: "write", done: 1, total: 2, unit: "shards" };
    expect(messageErrors("ExportEvent", progress)).toEqual([]);
    expect(messageErrors("ExportEvent", { event: "paused", point: "after_write" }).length).toBeGreaterThan(0); // test-only, own $def
    expect(messageErrors("ExportPausedEvent", { event: "paused", point: "after_write" })).toEqual([]);
    const info: TrainingInfo = {
      step: 3, epoch: 1, samples_seen: 48, train_loss: 2.1, lr: 1e-4, grad_norm: null, eval_metrics: metrics, metric_name: "accuracy",
      is_final: false, is_best: true, wall_time_s: 12.5, world_size: 2, zero_stage: 3, precision: "bf16", config_hash: "c".repeat(64),
      num_labels: 10, id2label: { "0": "zero" }, versions: { torch: "2.13.0" }, created_at: "2026-12-02T18:00:00+00:00",
      has_deepspeed_state: true, has_hf_model: false, slim: false, bytes: { deepspeed: 10, hf_model: 0, total: 4106 },
    };
    expect(messageErrors("TrainingInfo", info)).toEqual([]);
    expect(messageErrors("TrainingInfo", { ...info, hf_model_dtype: "bf16", exported_at: "2026-12-02T19:00:00+00:00" })).toEqual([]);
    expect(messageErrors("EvalResults", { "full:short": {} })[0]).toContain("EvalResults");
  });

  test("generated/messages.ts is what the generator makes of the schema; a schema edit changes the types", async () => {
    const root = join(import.meta.dir, "..", "..");
    const schema = JSON.parse(readFileSync(join(root, "schema", "events.schema.json"), "utf8"));
    expect(await generateMessages(schema)).toBe(readFileSync(join(root, "generated", "messages.ts"), "utf8"));
    schema.$defs.StartEvent.properties.gpu_name = { type: "string" };
    schema.$defs.StartEvent.required.push("gpu_name");
    const changed = await generateMessages(schema);
    expect(changed).toMatch(/export interface StartEvent \{[^}]*\n  gpu_name: string;/);
  });
});
