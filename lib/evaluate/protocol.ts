// The lines `python -m qc_engine.evaluate` prints on stdout (rank 0): one JSON object a line,
// each with `event` and `time`. Anything else on stdout (a library's print) is passed through
// as a log line, never fatal. The final `summary` is also written to --out-json.

/** Scalar metrics every evaluation reports (per-class figures live in eval_results.json). */
export interface ScalarMetrics {
  accuracy: number;
  top5_accuracy: number;
  macro_f1: number;
  loss: number;
  [name: string]: number;
}

export interface PerClassMetrics {
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

/** The full metrics object stored in eval_results.json for one evaluation. */
export interface FullMetrics extends Record<string, unknown> {
  accuracy: number;
  top5_accuracy: number;
  macro_f1: number;
  loss: number;
  per_class?: Record<string, PerClassMetrics>;
  confusion_matrix?: number[][];
  labels?: string[];
}

export interface PlanCheckpoint {
  path: string;
  step: number;
  action: "evaluate" | "skip";
  /** Where the weights come from: hf_model/ or the DeepSpeed state (deferred / slim-less). */
  source: "hf_model" | "deepspeed" | null;
}

export interface PlanEvent {
  event: "plan";
  time: number;
  checkpoints: PlanCheckpoint[];
  data: string;
  data_sha256: string;
  eval_key: string;
  num_samples: number;
  num_batches: number;
  batch_size: number;
  world_size: number;
}

export interface PreprocessEvent {
  event: "preprocess";
  time: number;
  batch: number;
  num_batches: number;
}

export interface CheckpointStartEvent {
  event: "checkpoint_start";
  time: number;
  index: number; // 1-based among the checkpoints evaluated
  total: number;
  path: string;
  step: number;
  source: "hf_model" | "deepspeed";
}

export interface ProgressEvent {
  event: "progress";
  time: number;
  path: string;
  batch: number;
  num_batches: number;
  samples: number;
}

export interface CheckpointDoneEvent {
  event: "checkpoint_done";
  time: number;
  path: string;
  step: number;
  metrics: ScalarMetrics;
  num_samples: number;
  seconds: number;
  load_seconds: number;
  images_per_s: number;
}

export interface SkipEvent {
  event: "skip";
  time: number;
  path: string;
  step: number;
  reason: string;
}

/** One checkpoint's outcome in the summary. */
export interface SummaryResult {
  path: string;
  step: number;
  status: "evaluated" | "skipped";
  source: "hf_model" | "deepspeed" | null;
  metrics: FullMetrics;
  seconds: number | null;
  load_seconds: number | null;
  images_per_s: number | null;
  eval_results: string;
  predictions: string;
}

export interface SummaryEvent {
  event: "summary";
  time: number;
  eval_key: string;
  data: string;
  data_sha256: string;
  num_samples: number;
  world_size: number;
  batch_size: number;
  preprocess_seconds: number;
  total_seconds: number;
  results: SummaryResult[];
}

export interface EngineErrorEvent {
  event: "error";
  time: number;
  message: string;
  exit_code?: number;
}

export type EvalEngineEvent =
  | PlanEvent
  | PreprocessEvent
  | CheckpointStartEvent
  | ProgressEvent
  | CheckpointDoneEvent
  | SkipEvent
  | SummaryEvent
  | EngineErrorEvent;

const KNOWN = new Set(["plan", "preprocess", "checkpoint_start", "progress", "checkpoint_done", "skip", "summary", "error"]);

/** An engine event, or null when the line is not one (plain output from a library). */
export function parseEngineLine(line: string): EvalEngineEvent | null {
  const text = line.trim();
  if (!text.startsWith("{")) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) return null;
  const ev = (value as { event?: unknown }).event;
  if (typeof ev !== "string" || !KNOWN.has(ev)) return null;
  return value as EvalEngineEvent;
}
