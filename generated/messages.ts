// generated — do not edit. Source: schema/events.schema.json; regenerate with `bun run codegen`.
// Validate a message at runtime against schema/events.schema.json#/$defs/<kind> (tests use Ajv).

export const MESSAGE_KINDS = ["TrainEvent","EvalEngineEvent","EvaluateSummaryFile","ExportEvent","ExportPausedEvent","TrainingInfo","EvalResults","PredictionLine","BestCheckpoint","EvalSummary","DeepDecodeResult","HistogramPlotInput"] as const;
export type MessageKind = (typeof MESSAGE_KINDS)[number];

/**
 * Every message between the planes that qwen-classify itself writes: the event stream (TrainEvent), the evaluate and export stdout protocols (EvalEngineEvent, ExportEvent), the JSON files (TrainingInfo, EvalResults, PredictionLine, BestCheckpoint, EvaluateSummaryFile, EvalSummary) and the helper scripts' lines (DeepDecodeResult, HistogramPlotInput). Validate one message against #/$defs/<Name>. Channel list: docs/architecture.md, "Channels between the planes". TS types: generated/messages.ts (bun run codegen).
 */
export type QcMessages = (TrainEvent | EvalEngineEvent | EvaluateSummaryFile | ExportEvent | ExportPausedEvent | TrainingInfo | EvalResults | PredictionLine | BestCheckpoint | EvalSummary | DeepDecodeResult | HistogramPlotInput)
/**
 * One line of OUT/logs/events.jsonl (qc_engine.events.EventLog, rank 0).
 */
export type TrainEvent = (StartEvent | StepEvent | EvalEvent | CheckpointEvent | EndEvent | ErrorEvent)
export type EndStatus = ("completed" | "interrupted" | "failed")
/**
 * One JSON line of `python -m qc_engine.evaluate` stdout (rank 0). Other stdout lines are library output.
 */
export type EvalEngineEvent = (PlanEvent | PreprocessEvent | CheckpointStartEvent | ProgressEvent | CheckpointDoneEvent | SkipEvent | SummaryEvent | EngineErrorEvent)
/**
 * One JSON line of `python -m qc_engine.export --json` stdout. Other stdout lines are library output (and, in tests only, ExportPausedEvent).
 */
export type ExportEvent = (ExportProgressEvent | ExportLineEvent | ExportResultEvent | ExportErrorEvent)

/**
 * events.jsonl: training starts (after setup, before the first step).
 */
export interface StartEvent {
  event: "start";
  /**
   * unix seconds (float) when the line was written
   */
  time: number;
  world_size: number;
  total_steps: number;
  steps_per_epoch: number;
  epochs: number;
  num_train_samples: number;
  num_val_samples: number;
  global_batch_size: number;
  resumed_from_step: (number | null);
  precision: ("fp32" | "bf16" | "fp16");
  zero_stage: number;
  /**
   * bad samples skipped (data.on_bad_sample: skip) in train + val
   */
  skipped_samples: number;
  startup?: StartupTimeline;
}
/**
 * rank 0's start-up timeline, unix seconds: process_started / parent_started (this worker and its parent: torchrun's agent, or tasks/train.ts itself for one process; from the kernel, to 10 ms), imports_began / imports_done (torch, transformers, DeepSpeed), then <phase>_done at the end of each setup phase in order (distributed, input_check, model, data, engine, resume when resuming)
 */
export interface StartupTimeline {
  process_started: number;
  parent_started?: number;
  imports_began: number;
  imports_done: number;
  [k: string]: number | undefined;
}
/**
 * events.jsonl: every training.logging_steps optimizer steps (averages over the window).
 */
export interface StepEvent {
  event: "step";
  /**
   * unix seconds (float) when the line was written
   */
  time: number;
  step: number;
  total_steps: number;
  epoch: number;
  /**
   * mean loss of the window; null when the value was not finite (NaN/inf are written as null)
   */
  loss: (number | null);
  lr: number;
  grad_norm: (number | null);
  samples_per_s: number;
  memory_bytes: number;
  memory_kind: ("cuda" | "rss");
  /**
   * On a GPU: per visible device index, utilization (%) and used memory (bytes), NVML means since the previous logged step, sampled off the training thread (rank 0's node).
   */
  gpu?: {
    [k: string]: {
      util_pct: number;
      memory_bytes: number;
    } | undefined
  }
  /**
   * Real (non-padding) tokens per second over the logging window, all ranks.
   */
  tokens_per_s?: number;
  /**
   * Share of padding among the tokens of the micro-batches of the current epoch so far (data.batching).
   */
  padding_fraction?: number;
  /**
   * On the last logged step of an epoch: that epoch's padding fraction (this rank's micro-batches).
   */
  epoch_padding_fraction?: number;
  /**
   * Model FLOPs per second over the logging window, all ranks, in TFLOP/s (qc_engine.telemetry.ModelFlops: per part 2N forward + 2N backward through it + 2N weight gradients of its trainable parameters, per token it sees, plus attention; real tokens only, so padding does not count).
   */
  model_tflops_per_s?: number;
  /**
   * Model FLOPs utilisation: model_tflops_per_s over the GPUs' datasheet dense bf16/fp16 peak (all ranks). null where no peak applies: the CPU, fp32 training, a GPU missing from the table.
   */
  mfu?: (number | null);
}
/**
 * events.jsonl: a partial evaluation during training, or the full one at the end.
 */
export interface EvalEvent {
  event: "eval";
  /**
   * unix seconds (float) when the line was written
   */
  time: number;
  step: number;
  split: ("partial" | "full");
  num_samples: number;
  metrics: ScalarMetrics;
  /**
   * the checkpoint evaluated (full only)
   */
  checkpoint: (string | null);
  seconds: number;
  /**
   * the eval_results.json key this evaluation is stored under
   */
  eval_key: (string | null);
}
/**
 * The four scalar metrics every evaluation reports (qc_engine.metrics.scalar_metrics); null when the value was not finite (NaN/inf are written as null).
 */
export interface ScalarMetrics {
  accuracy: (number | null);
  top5_accuracy: (number | null);
  macro_f1: (number | null);
  loss: (number | null);
}
/**
 * events.jsonl: a checkpoint was saved (complete: training_info.json written).
 */
export interface CheckpointEvent {
  event: "checkpoint";
  /**
   * unix seconds (float) when the line was written
   */
  time: number;
  step: number;
  path: string;
  bytes: number;
  seconds: number;
  is_final: boolean;
  is_best: boolean;
  /**
   * best-model metric of this checkpoint (when tracked)
   */
  metric: (number | null);
}
/**
 * events.jsonl: the last event of every run that opened the log.
 */
export interface EndEvent {
  event: "end";
  /**
   * unix seconds (float) when the line was written
   */
  time: number;
  status: EndStatus;
  step: number;
  best_checkpoint: (string | null);
  /**
   * the exit code the engine is about to use
   */
  exit_code: number;
  /**
   * evaluation forward passes on this rank (tests check nothing is evaluated twice)
   */
  eval_forward_passes: number;
  /**
   * completed runs only
   */
  wall_time_s?: number;
  /**
   * completed runs only: share of padding among all training tokens of this run (rank 0's micro-batches)
   */
  padding_fraction?: number;
  /**
   * completed runs only: rank 0's wall time split into data_wait, compute (forward/backward/step), checkpoint, evaluation, other (seconds)
   */
  time_split_s?: {
    [k: string]: number | undefined;
  }
}
/**
 * events.jsonl: why the run failed; followed by an `end` event with status failed.
 */
export interface ErrorEvent {
  event: "error";
  /**
   * unix seconds (float) when the line was written
   */
  time: number;
  message: string;
  exit_code: number;
  /**
   * how to fix it
   */
  hint?: string;
}
/**
 * evaluate stdout: what will be evaluated (first line).
 */
export interface PlanEvent {
  event: "plan";
  /**
   * unix seconds (float) when the line was written
   */
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
/**
 * One checkpoint of the plan.
 */
export interface PlanCheckpoint {
  path: string;
  step: number;
  action: ("evaluate" | "skip");
  /**
   * where the weights come from
   */
  source: ("hf_model" | "adapter" | "deepspeed" | null);
}
/**
 * evaluate stdout: preprocessing progress (once for all checkpoints).
 */
export interface PreprocessEvent {
  event: "preprocess";
  /**
   * unix seconds (float) when the line was written
   */
  time: number;
  batch: number;
  num_batches: number;
}
/**
 * evaluate stdout: a checkpoint's evaluation begins.
 */
export interface CheckpointStartEvent {
  event: "checkpoint_start";
  /**
   * unix seconds (float) when the line was written
   */
  time: number;
  /**
   * 1-based among the checkpoints evaluated
   */
  index: number;
  total: number;
  path: string;
  step: number;
  source: ("hf_model" | "adapter" | "deepspeed");
}
/**
 * evaluate stdout: batches done for the current checkpoint.
 */
export interface ProgressEvent {
  event: "progress";
  /**
   * unix seconds (float) when the line was written
   */
  time: number;
  path: string;
  batch: number;
  num_batches: number;
  samples: number;
}
/**
 * evaluate stdout: a checkpoint evaluated (eval_results.json written).
 */
export interface CheckpointDoneEvent {
  event: "checkpoint_done";
  /**
   * unix seconds (float) when the line was written
   */
  time: number;
  path: string;
  step: number;
  metrics: ScalarMetrics;
  num_samples: number;
  seconds: number;
  load_seconds: number;
  images_per_s: number;
}
/**
 * evaluate stdout: a checkpoint already evaluated on this set (no --force).
 */
export interface SkipEvent {
  event: "skip";
  /**
   * unix seconds (float) when the line was written
   */
  time: number;
  path: string;
  step: number;
  reason: string;
}
/**
 * evaluate stdout: the last line on success; the same object (less event/time) is written to --out-json (EvaluateSummaryFile).
 */
export interface SummaryEvent {
  event: "summary";
  /**
   * unix seconds (float) when the line was written
   */
  time: number;
  eval_key: string;
  data: string;
  data_sha256: string;
  num_samples: number;
  world_size: number;
  batch_size: number;
  precision: ("fp32" | "bf16" | "fp16");
  preprocess_seconds: number;
  total_seconds: number;
  results: SummaryResult[];
}
/**
 * One checkpoint's outcome in the summary.
 */
export interface SummaryResult {
  path: string;
  step: number;
  status: ("evaluated" | "skipped");
  source: ("hf_model" | "adapter" | "deepspeed" | null);
  metrics: FullMetrics;
  seconds: (number | null);
  load_seconds: (number | null);
  images_per_s: (number | null);
  eval_results: string;
  predictions: string;
}
/**
 * qc_engine.metrics.classification_metrics (detailed): the metrics of one eval_results.json entry. `labels` is added by qc_engine.evaluate.
 */
export interface FullMetrics {
  accuracy: (number | null);
  top5_accuracy: (number | null);
  macro_f1: (number | null);
  loss: (number | null);
  num_samples: number;
  per_class?: {
    [k: string]: PerClassMetrics | undefined;
  }
  confusion_matrix?: number[][];
  labels?: string[];
}
/**
 * One class's figures (scikit-learn's zero_division=0).
 */
export interface PerClassMetrics {
  precision: number;
  recall: number;
  f1: number;
  support: number;
}
/**
 * evaluate stdout: why evaluation failed (exit_code 2: bad input, 1: anything else).
 */
export interface EngineErrorEvent {
  event: "error";
  /**
   * unix seconds (float) when the line was written
   */
  time: number;
  message: string;
  exit_code: number;
}
/**
 * The --out-json file of qc_engine.evaluate: the summary event less `event` and `time`.
 */
export interface EvaluateSummaryFile {
  eval_key: string;
  data: string;
  data_sha256: string;
  num_samples: number;
  world_size: number;
  batch_size: number;
  precision: ("fp32" | "bf16" | "fp16");
  preprocess_seconds: number;
  total_seconds: number;
  results: SummaryResult[];
}
/**
 * export --json stdout: progress of one phase (throttled to 5 a second).
 */
export interface ExportProgressEvent {
  event: "progress";
  /**
   * read, cast, write, verify, ...
   */
  phase: string;
  done: number;
  total: number;
  unit: string;
}
/**
 * export --json stdout: a readable message.
 */
export interface ExportLineEvent {
  event: "line";
  message: string;
}
/**
 * export --json stdout: the export succeeded (last line).
 */
export interface ExportResultEvent {
  event: "result";
  checkpoint: string;
  hf_model: string;
  source: ExportSource;
  dtype: ("fp32" | "bf16" | "fp16");
  max_shard_size: number;
  files: string[];
  shard_bytes: {
    [k: string]: number | undefined;
  }
  tensors: number;
  parameters: number;
  safetensors_dtypes: string[];
  bytes: number;
  replaced_previous: boolean;
  seconds: number;
  read_seconds: number;
  write_seconds: number;
  verify: (ExportVerify | null);
}
/**
 * What the weights were exported from.
 */
export interface ExportSource {
  kind: ("deepspeed" | "hf_model");
  zero_stage: (number | null);
  tag: (string | null);
}
/**
 * --verify: logits of the exported model against the source state.
 */
export interface ExportVerify {
  inputs: string;
  samples: number;
  max_abs_diff: number;
  max_abs_reference: number;
  tolerance: number;
  atol: number;
  rtol: number;
  argmax_agree: number;
  passed: boolean;
}
/**
 * export --json stdout: the export failed (exit_code 2: bad input, 1: anything else); the previous hf_model/ is intact.
 */
export interface ExportErrorEvent {
  event: "error";
  message: string;
  exit_code: number;
}
/**
 * export --json stdout, TEST ONLY (QC_EXPORT_TEST_FAULT=after_write): the process pauses so that a test can kill it.
 */
export interface ExportPausedEvent {
  event: "paused";
  point: string;
}
/**
 * checkpoint-N/training_info.json: written last by qc_engine.train (its presence = complete); updated by qc_engine.export (hf_model_dtype, exported_at) and by `prune --slim` (lib/checkpoints/slim.ts).
 */
export interface TrainingInfo {
  step: number;
  epoch: number;
  samples_seen: number;
  train_loss: (number | null);
  lr: (number | null);
  grad_norm: (number | null);
  eval_metrics: (ScalarMetrics | null);
  metric_name: (string | null);
  is_final: boolean;
  is_best: boolean;
  wall_time_s: number;
  world_size: number;
  zero_stage: number;
  precision: ("fp32" | "bf16" | "fp16");
  config_hash: string;
  num_labels: number;
  id2label: {
    [k: string]: string | undefined;
  }
  versions: {
    [k: string]: string | undefined;
  }
  created_at: string;
  has_deepspeed_state: boolean;
  has_hf_model: boolean;
  /**
   * Where a Hub-id run's backbone came from (resolved_config.json's model_source, or the cache snapshot path the run loaded); null for a local model folder. Absent in checkpoints written before it existed.
   */
  base_model?: (BaseModelSource | null);
  slim: boolean;
  /**
   * The attention kernel the run used (model.attn_implementation as resolved by the engine).
   */
  attn_implementation?: (string | null);
  bytes: CheckpointBytes;
  /**
   * LoRA runs only: model.lora as trained, where the peft adapter lies (adapter_dir, relative to the checkpoint) and its base model; hf_model/ (when present) holds the merged weights.
   */
  lora?: {
    r: number;
    alpha: number;
    dropout: number;
    target_modules: string[];
    vision_tower: ("frozen" | "lora" | "full");
    adapter_dir: string;
    hf_model: ("merged" | "absent");
    base_model: string;
    base_revision: (string | null);
  }
  hf_model_dtype?: ("fp32" | "bf16" | "fp16");
  exported_at?: string;
  /**
   * Checksum manifest (engine/qc_engine/manifest.py): every file of the checkpoint but training_info.json and eval_results.json, by path relative to the checkpoint, fsynced and hashed at save time before training_info.json. Absent in checkpoints from before the manifest (accepted as they are).
   */
  files?: {
    [k: string]: {
      size: number;
      sha256: (string | null);
    } | undefined
  }
  /**
   * micro-batch per process (resume compares it)
   */
  per_device_batch_size?: (number | null);
  gradient_accumulation_steps?: (number | null);
  /**
   * world_size x per_device_batch_size x gradient_accumulation_steps
   */
  global_batch?: (number | null);
}
/**
 * A Hub model id's resolved source: the repository, the revision asked for, and the commit it resolved to.
 */
export interface BaseModelSource {
  repo_id: string;
  revision: string;
  commit: string;
}
/**
 * Sizes in bytes.
 */
export interface CheckpointBytes {
  deepspeed: number;
  hf_model: number;
  /**
   * adapter/ (LoRA runs only).
   */
  adapter?: number;
  total: number;
}
/**
 * checkpoint-N/eval_results.json: entries keyed by evaluation-set key "<split>:<16 hex>".
 */
export interface EvalResults {
  [k: string]: EvalEntry | undefined;
}
/**
 * One eval_results.json entry (qc_engine.eval_results.eval_entry): the same fields whoever evaluated.
 */
export interface EvalEntry {
  split: ("full" | "partial");
  data: string;
  data_sha256: string;
  jsonl_sha256: (string | null);
  num_samples: number;
  step: number;
  metrics: FullMetrics;
  evaluated_at: string;
  seconds: (number | null);
  preprocessing: Preprocessing;
  /**
   * training: the engine's weights in memory; adapter: a LoRA checkpoint's base model + adapter/ (peft)
   */
  weights: ("training" | "hf_model" | "adapter" | "deepspeed");
  world_size: number;
  batch_size: number;
  precision: ("fp32" | "bf16" | "fp16");
  /**
   * predictions.jsonl when per-sample lines were written
   */
  predictions: (string | null);
}
/**
 * What turns an image into model input besides the processor files; a skip requires the same.
 */
export interface Preprocessing {
  prompt: string;
  image_min_pixels: number;
  image_max_pixels: number;
}
/**
 * One line of checkpoint-N/predictions.jsonl.
 */
export interface PredictionLine {
  eval_key: string;
  index: number;
  image: string;
  label: string;
  label_id: number;
  prediction: string;
  prediction_id: number;
  probability: number;
  label_probability: number;
  correct: boolean;
  /**
   * @maxItems 5
   */
  top5: []|[number]|[number, number]|[number, number, number]|[number, number, number, number]|[number, number, number, number, number];
  /**
   * @maxItems 5
   */
  top5_probability: []|[number]|[number, number]|[number, number, number]|[number, number, number, number]|[number, number, number, number, number];
}
/**
 * OUT/best_checkpoint.json: the best checkpoint so far (qc_engine.train, rank 0).
 */
export interface BestCheckpoint {
  path: string;
  step: number;
  metric: string;
  value: number;
}
/**
 * OUT/eval_summary.json: the sweep's leaderboard as data, written by lib/evaluate/summary.ts and read by qc_engine's plot script.
 */
export interface EvalSummary {
  created_at: string;
  output_dir: string;
  data: string;
  data_sha256: string;
  eval_key: string;
  num_samples: number;
  metric: string;
  greater_is_better: boolean;
  best: EvalSummaryBest;
  recommendation: string;
  notes: string[];
  rows: EvalSummaryRow[];
}
/**
 * The recommended checkpoint.
 */
export interface EvalSummaryBest {
  name: string;
  path: string;
  step: number;
  value: number;
}
/**
 * One checkpoint of the leaderboard.
 */
export interface EvalSummaryRow {
  name: string;
  path: string;
  step: number;
  rank: number;
  is_best: boolean;
  status: ("evaluated" | "skipped");
  train_loss: (number | null);
  metrics: {
    [k: string]: number | undefined;
  }
}
/**
 * One stdout line of the deep-decode helper (lib/data/deep_decode.py, `tasks/prepare.ts --deep`): stdin gets one JSON string (an image path) a line; one answer a line, in order.
 */
export interface DeepDecodeResult {
  /**
   * 0-based index of the path on stdin
   */
  i: number;
  /**
   * why Pillow could not decode it; null: decoded
   */
  error: (string | null);
}
/**
 * stdin of the class-histogram plot helper (lib/data/plot_histogram.py, argv: OUTPUT.png).
 */
export interface HistogramPlotInput {
  title: string;
  names: string[];
  train: number[];
  val: number[];
}
