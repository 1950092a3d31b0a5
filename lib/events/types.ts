// Typed events of OUT/logs/events.jsonl (contract: docs/architecture.md, "Event stream").
// Every object has `event` and `time` (unix seconds, float); rank 0 writes them.

export interface EventBase {
  event: string;
  time: number;
}

export interface StartEvent extends EventBase {
  event: "start";
  world_size: number;
  total_steps: number;
  steps_per_epoch: number;
  epochs: number;
  num_train_samples: number;
  num_val_samples: number;
  global_batch_size: number;
  resumed_from_step: number | null;
}

export interface StepEvent extends EventBase {
  event: "step";
  step: number;
  total_steps: number;
  epoch: number;
  loss: number;
  lr: number;
  grad_norm: number | null;
  samples_per_s: number;
  memory_bytes: number;
  memory_kind: "cuda" | "rss";
}

export interface EvalMetrics {
  accuracy?: number;
  top5_accuracy?: number;
  macro_f1?: number;
  loss?: number;
  [name: string]: number | undefined;
}

export interface EvalEvent extends EventBase {
  event: "eval";
  step: number;
  split: "partial" | "full";
  num_samples: number;
  metrics: EvalMetrics;
  checkpoint: string | null;
}

export interface CheckpointEvent extends EventBase {
  event: "checkpoint";
  step: number;
  path: string;
  bytes: number;
  seconds: number;
  is_final: boolean;
  is_best: boolean;
  metric: number | null;
}

export type EndStatus = "completed" | "interrupted" | "failed";

export interface EndEvent extends EventBase {
  event: "end";
  status: EndStatus;
  step: number;
  best_checkpoint: string | null;
  /** Optional extras an engine may add (e.g. eval pass counts); read defensively. */
  [extra: string]: unknown;
}

export interface ErrorEvent extends EventBase {
  event: "error";
  message: string;
  /** Optional: the exit code the engine is about to use. */
  exit_code?: number;
  /** Optional: how to fix it (bad data: "fix the data or set data.on_bad_sample: skip"). */
  hint?: string;
  [extra: string]: unknown;
}

/** An event type this launcher does not know: kept, never fatal (forward compatibility). */
export interface UnknownEvent extends EventBase {
  [extra: string]: unknown;
}

export type TrainEvent = StartEvent | StepEvent | EvalEvent | CheckpointEvent | EndEvent | ErrorEvent;

/** Parse one JSONL line into an event; throws with a short reason when it is not one. */
export function parseEventLine(line: string): TrainEvent | UnknownEvent {
  const value: unknown = JSON.parse(line);
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new Error("not a JSON object");
  }
  const obj = value as Record<string, unknown>;
  if (typeof obj.event !== "string") throw new Error('missing string field "event"');
  if (typeof obj.time !== "number") obj.time = Number.NaN;
  return obj as unknown as TrainEvent | UnknownEvent;
}
