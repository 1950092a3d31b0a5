// generated — do not edit. Source: schema/config.schema.json; regenerate with `bun run codegen`.
// QwenClassifyConfig: the fully resolved config (defaults filled). QwenClassifyConfigInput: what a YAML file may hold.

/**
 * One YAML file drives a qwen-classify run: model, data, training, evaluation, checkpoints, logging and the Hub.
 */
export interface QwenClassifyConfig {
  model: ModelConfig;
  loss: LossConfig;
  datasets: DatasetsConfig;
  data: DataConfig;
  training: TrainingConfig;
  deepspeed: DeepSpeedConfig;
  wandb: WandbConfig;
  hub: HubConfig;
  demo: DemoConfig;
}
/**
 * The Qwen2.5-VL backbone and the classification head put on top of it.
 */
export interface ModelConfig {
  /**
   * Local folder of a Qwen2.5-VL checkpoint (e.g. /models/Qwen2.5-VL-7B-Instruct) or a Hub model id (e.g. Qwen/Qwen2.5-VL-7B-Instruct): an id that is not an existing folder is checked before launch and downloaded once (huggingface_hub's cache; HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE apply); the resolved commit is recorded.
   */
  pretrained_name: string;
  /**
   * Hub revision of model.pretrained_name when it is a Hub id: a branch, tag or commit hash. Ignored for a local folder.
   */
  revision: string;
  /**
   * Number of classes; the head has this many outputs. Must equal the dataset's num_classes.
   */
  num_labels: number;
  /**
   * How the head reads the backbone: the hidden state of the last real token (from the attention mask), or the mean over real tokens.
   */
  pooling: "last_token" | "mean";
  /**
   * Freeze the vision encoder; trains only the language model and the head (less memory, usually a little less accuracy).
   */
  freeze_vision_tower: boolean;
  /**
   * Pass trust_remote_code=True to from_pretrained (only for checkpoints that ship their own modelling code).
   */
  trust_remote_code: boolean;
  /**
   * Attention kernel of the backbone: auto (flash_attention_2 where the flash_attn package is installed and the GPU supports it, else sdpa), sdpa, flash_attention_2 (exit 2 before training when the package or a capable GPU is missing), or eager. The choice made is recorded in training_info.json.
   */
  attn_implementation: "auto" | "sdpa" | "flash_attention_2" | "eager";
  lora: LoraConfig;
}
/**
 * LoRA through peft: the backbone is frozen and small low-rank adapters train beside the chosen linear layers; the classification head (score) always trains fully. Checkpoints hold adapter/ (peft format) and, unless training.checkpoint.hf_format is adapter, the merged hf_model/.
 */
export interface LoraConfig {
  /**
   * Train LoRA adapters instead of every weight.
   */
  enabled: boolean;
  /**
   * Adapter rank.
   */
  r: number;
  /**
   * LoRA scaling numerator (the update is scaled by alpha / r).
   */
  alpha: number;
  /**
   * Dropout on the adapters' input.
   */
  dropout: number;
  /**
   * Linear layer names in the language model's decoder layers that get adapters; the vision tower's same-named layers are matched only with vision_tower: lora.
   *
   * @minItems 1
   */
  target_modules: [string, ...string[]];
  /**
   * frozen: the vision encoder does not train; lora: adapters on its blocks' linears too (qkv, proj, gate_proj, up_proj, down_proj, those named in target_modules); full: it trains fully (saved beside the head).
   */
  vision_tower: "frozen" | "lora" | "full";
}
/**
 * The training loss.
 */
export interface LossConfig {
  /**
   * cross_entropy, or label_smoothing (cross-entropy with loss.smoothing).
   */
  type: "cross_entropy" | "label_smoothing";
  /**
   * Label smoothing factor in [0, 1); used when loss.type is label_smoothing.
   */
  smoothing: number;
}
/**
 * Named data set descriptions; data.dataset picks the one this run uses.
 */
export interface DatasetsConfig {
  /**
   * Map of data set name to its description.
   */
  dataset_configs: {
    [k: string]: DatasetEntry | undefined;
  };
}
export interface DatasetEntry {
  /**
   * Number of classes in the data set; must equal model.num_labels.
   */
  num_classes: number;
  /**
   * Free text shown in reports and the model card.
   */
  description: string;
  /**
   * Class names in label-id order (optional; otherwise read from data.labels_file, else the ids are used).
   */
  class_names?: string[];
}
/**
 * Where the JSONL data lives and how images are turned into model inputs.
 */
export interface DataConfig {
  /**
   * Name of the datasets.dataset_configs entry this run uses. Empty: the only entry, if there is exactly one.
   */
  dataset: string;
  /**
   * Training JSONL: one {"image": path, "label": int or class name} per line; paths relative to the file's folder or absolute.
   */
  train_jsonl: string;
  /**
   * Validation JSONL, same format as data.train_jsonl.
   */
  val_jsonl: string;
  /**
   * Optional labels.json (id -> class name), as written by tasks/prepare.ts. Empty: none.
   */
  labels_file: string;
  /**
   * Text placed after the image in the fixed prompt the classifier reads.
   */
  prompt: string;
  /**
   * Lower bound on pixels per image after resizing by the processor (multiples of 28x28 = 784 pixels per visual token).
   */
  image_min_pixels: number;
  /**
   * Upper bound on pixels per image after resizing; the main memory/speed knob (tokens per image ~ pixels / 784).
   */
  image_max_pixels: number;
  /**
   * What to do with a bad line or image: error (stop before training, naming file:line) or skip (drop it and report how many were skipped).
   */
  on_bad_sample: "error" | "skip";
  /**
   * DataLoader worker processes per rank.
   */
  num_workers: number;
  /**
   * Micro-batches each DataLoader worker prepares ahead (used when data.num_workers > 0; workers persist across epochs).
   */
  prefetch_factor: number;
  /**
   * How micro-batches are formed (always per_device_batch_size samples each; the padding fraction per epoch is reported). padded: random order, each micro-batch padded to its longest sample. length_grouped: samples of similar token counts share a micro-batch (seeded, deterministic, sharded across ranks, resumable); little padding, but micro-batches alternate between all-small and all-large, so step time and memory vary more. packed: padding-free; random order as padded, the micro-batch's samples concatenated into one sequence with per-sample 3-D rope positions and attention kept within each sample (no padding at all). With flash_attention_2 that is the variable-length kernel (attention costs the sum of squared sample lengths); with sdpa or eager a block-diagonal mask over the whole packed row (correct, but attention computes the square of the packed length, so it pays mainly with flash_attention_2). Training only: evaluation batches stay padded.
   */
  batching: "padded" | "length_grouped" | "packed";
}
/**
 * The optimisation loop, checkpointing and evaluation schedule.
 */
export interface TrainingConfig {
  /**
   * Where resolved_config.json, ds_config.json, logs/ and checkpoint-N/ folders are written.
   */
  output_dir: string;
  /**
   * Number of passes over the training set (ignored when training.max_steps > 0).
   */
  epochs: number;
  /**
   * Total optimizer steps; 0 means derive from training.epochs.
   */
  max_steps: number;
  /**
   * Micro-batch size per GPU/process.
   */
  per_device_batch_size: number;
  /**
   * Micro-batches accumulated per optimizer step. Global batch = per_device_batch_size x accumulation x world size.
   */
  gradient_accumulation_steps: number;
  /**
   * Peak learning rate (AdamW).
   */
  lr: number;
  /**
   * AdamW weight decay (not applied to biases and norms).
   */
  weight_decay: number;
  /**
   * Linear warm-up steps from 0 to training.lr.
   */
  warmup_steps: number;
  /**
   * Schedule after warm-up.
   */
  lr_scheduler: "cosine" | "linear" | "constant";
  /**
   * Gradient clipping threshold; 0 disables clipping.
   */
  max_grad_norm: number;
  /**
   * auto = bf16 on a GPU that supports it, fp32 on the CPU.
   */
  precision: "auto" | "bf16" | "fp16" | "fp32";
  /**
   * Recompute activations in the backward pass: much less memory, about 30% slower.
   */
  gradient_checkpointing: boolean;
  /**
   * Random seed for initialisation, shuffling and dropout.
   */
  seed: number;
  /**
   * Log loss, lr, grad norm, throughput and memory every this many steps.
   */
  logging_steps: number;
  /**
   * Every this many optimizer steps the ranks agree on a stop request (one collective); the last step and every checkpoint step check too.
   */
  stop_check_steps: number;
  /**
   * Save a checkpoint every this many optimizer steps (and always at the end).
   */
  save_steps: number;
  /**
   * Run the partial evaluation every this many steps (standard mode only).
   */
  eval_steps: number;
  /**
   * No-evaluation mode, the highest-priority setting: no evaluation pass at all, best-model tracking off, every checkpoint kept. Evaluate afterwards with tasks/evaluate.ts.
   */
  skip_evaluation: boolean;
  /**
   * Keep every checkpoint (retention all). Forced on by training.skip_evaluation; with evaluation on it keeps evaluation and every checkpoint.
   */
  save_all_checkpoints: boolean;
  /**
   * Standard mode: keep the best checkpoint plus this many most recent ones.
   */
  save_total_limit: number;
  /**
   * After a stop (SIGTERM/SIGINT, the stop file, or the launcher gone: QC_LAUNCHER_PID), the longest the workers keep going to finish the step and save one complete checkpoint; past it they exit without one (an unfinished save stays a hidden .checkpoint-N.tmp, never looks complete).
   */
  stop_grace_seconds: number;
  /**
   * Resume: null (start fresh), auto (newest complete checkpoint in output_dir), or a checkpoint path.
   */
  resume_from_checkpoint: string | null;
  best_model_tracking: BestModelTrackingConfig;
  evaluation: EvaluationConfig;
  checkpoint: CheckpointConfig;
}
/**
 * Tracking of the best checkpoint by an evaluation metric.
 */
export interface BestModelTrackingConfig {
  /**
   * Track the best checkpoint by best_model_tracking.metric.
   */
  enabled: boolean;
  /**
   * Metric that decides the best checkpoint (accuracy, macro_f1, top5_accuracy, loss).
   */
  metric: "accuracy" | "macro_f1" | "top5_accuracy" | "loss";
  /**
   * true for accuracy-like metrics, false for loss.
   */
  greater_is_better: boolean;
  /**
   * Keep only the best checkpoint (plus the newest, which resume needs).
   */
  save_best_only: boolean;
}
/**
 * Evaluation during and at the end of training (standard mode).
 */
export interface EvaluationConfig {
  /**
   * Evaluate on a subset of the validation set every training.eval_steps.
   */
  partial_eval_during_training: boolean;
  /**
   * Validation samples used by each partial evaluation (a fixed, seeded subset).
   */
  partial_eval_samples: number;
  /**
   * Evaluate on the whole validation set when training ends.
   */
  full_eval_at_end: boolean;
  /**
   * At the end, fully evaluate only the best checkpoint (instead of the final one).
   */
  eval_best_model_only: boolean;
  /**
   * Per-device batch size for evaluation; 0 means training.per_device_batch_size x 2.
   */
  batch_size: number;
}
/**
 * What each checkpoint holds and how many are kept.
 */
export interface CheckpointConfig {
  /**
   * Retention policy: all | last:N | best:N | top:K:<metric>, terms combined with + (best:1+last:2). Empty: all when save_all_checkpoints, else best:1+last:<save_total_limit>. The newest checkpoint and the tracked best are always kept. Forced to all by training.skip_evaluation.
   */
  retention: string;
  /**
   * Keep the DeepSpeed state (needed to resume) only in the newest N checkpoints; older ones keep hf_model/ only (slim: evaluable and exportable, no longer resumable). 0 keeps it everywhere.
   */
  keep_optimizer_states: number;
  /**
   * every_save writes hf_model/ at each save; deferred writes only the DeepSpeed state (faster saves) and tasks/export.ts makes hf_model/ later; adapter (LoRA only) writes adapter/ alone at each save (seconds instead of minutes) and tasks/export.ts --merge makes the merged hf_model/ later.
   */
  hf_format: "every_save" | "deferred" | "adapter";
}
/**
 * DeepSpeed ZeRO settings; tasks/train.ts writes ds_config.json from these.
 */
export interface DeepSpeedConfig {
  /**
   * ZeRO stage 0-3: 2 shards optimizer state and gradients (the usual choice for 7B), 3 shards parameters too.
   */
  zero_stage: number;
  /**
   * Keep optimizer state in CPU memory (ZeRO 1-3): fits bigger models, slower steps.
   */
  offload_optimizer: boolean;
  /**
   * Keep parameters in CPU memory (ZeRO 3 only): slowest, smallest GPU footprint.
   */
  offload_param: boolean;
}
/**
 * Weights & Biases logging (offline by default: no key, no network).
 */
export interface WandbConfig {
  /**
   * Log the same scalars as the event stream to wandb.
   */
  enabled: boolean;
  /**
   * wandb project name.
   */
  project: string;
  /**
   * wandb run name; empty: derived from output_dir.
   */
  run_name: string;
  /**
   * offline writes to ./wandb and syncs later; online needs WANDB_API_KEY.
   */
  mode: "offline" | "online" | "disabled";
  /**
   * Log per-class evaluation metrics to wandb.
   */
  log_dataset_metrics: boolean;
}
/**
 * Pushing checkpoints to the Hugging Face Hub during training (tasks/push.ts does it afterwards).
 */
export interface HubConfig {
  /**
   * none | final | best | every_save. Pushes run in the background; training never waits on them.
   */
  push: "none" | "final" | "best" | "every_save";
  /**
   * Target repository, namespace/name.
   */
  repo_id: string;
  /**
   * Create the repository as private.
   */
  private: boolean;
  /**
   * Hub URL (https://huggingface.co unless you run a mirror).
   */
  endpoint: string;
}
/**
 * Self-contained demo assets, built locally before launch (no download).
 */
export interface DemoConfig {
  /**
   * If model.pretrained_name does not exist, build a tiny random Qwen2.5-VL (with tokenizer and processor) there via save_pretrained.
   */
  build_tiny_model: boolean;
  /**
   * If data.train_jsonl does not exist, write scikit-learn's handwritten digits (1,797 images, 10 classes) as PNG files with a stratified train/validation split.
   */
  build_digits_dataset: boolean;
}

/**
 * One YAML file drives a qwen-classify run: model, data, training, evaluation, checkpoints, logging and the Hub.
 */
export interface QwenClassifyConfigInput {
  model?: ModelConfigInput;
  loss?: LossConfigInput;
  datasets?: DatasetsConfigInput;
  data?: DataConfigInput;
  training?: TrainingConfigInput;
  deepspeed?: DeepSpeedConfigInput;
  wandb?: WandbConfigInput;
  hub?: HubConfigInput;
  demo?: DemoConfigInput;
}
/**
 * The Qwen2.5-VL backbone and the classification head put on top of it.
 */
export interface ModelConfigInput {
  /**
   * Local folder of a Qwen2.5-VL checkpoint (e.g. /models/Qwen2.5-VL-7B-Instruct) or a Hub model id (e.g. Qwen/Qwen2.5-VL-7B-Instruct): an id that is not an existing folder is checked before launch and downloaded once (huggingface_hub's cache; HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE apply); the resolved commit is recorded.
   */
  pretrained_name?: string;
  /**
   * Hub revision of model.pretrained_name when it is a Hub id: a branch, tag or commit hash. Ignored for a local folder.
   */
  revision?: string;
  /**
   * Number of classes; the head has this many outputs. Must equal the dataset's num_classes.
   */
  num_labels?: number;
  /**
   * How the head reads the backbone: the hidden state of the last real token (from the attention mask), or the mean over real tokens.
   */
  pooling?: "last_token" | "mean";
  /**
   * Freeze the vision encoder; trains only the language model and the head (less memory, usually a little less accuracy).
   */
  freeze_vision_tower?: boolean;
  /**
   * Pass trust_remote_code=True to from_pretrained (only for checkpoints that ship their own modelling code).
   */
  trust_remote_code?: boolean;
  /**
   * Attention kernel of the backbone: auto (flash_attention_2 where the flash_attn package is installed and the GPU supports it, else sdpa), sdpa, flash_attention_2 (exit 2 before training when the package or a capable GPU is missing), or eager. The choice made is recorded in training_info.json.
   */
  attn_implementation?: "auto" | "sdpa" | "flash_attention_2" | "eager";
  lora?: LoraConfigInput;
}
/**
 * LoRA through peft: the backbone is frozen and small low-rank adapters train beside the chosen linear layers; the classification head (score) always trains fully. Checkpoints hold adapter/ (peft format) and, unless training.checkpoint.hf_format is adapter, the merged hf_model/.
 */
export interface LoraConfigInput {
  /**
   * Train LoRA adapters instead of every weight.
   */
  enabled?: boolean;
  /**
   * Adapter rank.
   */
  r?: number;
  /**
   * LoRA scaling numerator (the update is scaled by alpha / r).
   */
  alpha?: number;
  /**
   * Dropout on the adapters' input.
   */
  dropout?: number;
  /**
   * Linear layer names in the language model's decoder layers that get adapters; the vision tower's same-named layers are matched only with vision_tower: lora.
   *
   * @minItems 1
   */
  target_modules?: [string, ...string[]];
  /**
   * frozen: the vision encoder does not train; lora: adapters on its blocks' linears too (qkv, proj, gate_proj, up_proj, down_proj, those named in target_modules); full: it trains fully (saved beside the head).
   */
  vision_tower?: "frozen" | "lora" | "full";
}
/**
 * The training loss.
 */
export interface LossConfigInput {
  /**
   * cross_entropy, or label_smoothing (cross-entropy with loss.smoothing).
   */
  type?: "cross_entropy" | "label_smoothing";
  /**
   * Label smoothing factor in [0, 1); used when loss.type is label_smoothing.
   */
  smoothing?: number;
}
/**
 * Named data set descriptions; data.dataset picks the one this run uses.
 */
export interface DatasetsConfigInput {
  /**
   * Map of data set name to its description.
   */
  dataset_configs?: {
    [k: string]: DatasetEntryInput | undefined;
  };
}
export interface DatasetEntryInput {
  /**
   * Number of classes in the data set; must equal model.num_labels.
   */
  num_classes: number;
  /**
   * Free text shown in reports and the model card.
   */
  description?: string;
  /**
   * Class names in label-id order (optional; otherwise read from data.labels_file, else the ids are used).
   */
  class_names?: string[];
}
/**
 * Where the JSONL data lives and how images are turned into model inputs.
 */
export interface DataConfigInput {
  /**
   * Name of the datasets.dataset_configs entry this run uses. Empty: the only entry, if there is exactly one.
   */
  dataset?: string;
  /**
   * Training JSONL: one {"image": path, "label": int or class name} per line; paths relative to the file's folder or absolute.
   */
  train_jsonl?: string;
  /**
   * Validation JSONL, same format as data.train_jsonl.
   */
  val_jsonl?: string;
  /**
   * Optional labels.json (id -> class name), as written by tasks/prepare.ts. Empty: none.
   */
  labels_file?: string;
  /**
   * Text placed after the image in the fixed prompt the classifier reads.
   */
  prompt?: string;
  /**
   * Lower bound on pixels per image after resizing by the processor (multiples of 28x28 = 784 pixels per visual token).
   */
  image_min_pixels?: number;
  /**
   * Upper bound on pixels per image after resizing; the main memory/speed knob (tokens per image ~ pixels / 784).
   */
  image_max_pixels?: number;
  /**
   * What to do with a bad line or image: error (stop before training, naming file:line) or skip (drop it and report how many were skipped).
   */
  on_bad_sample?: "error" | "skip";
  /**
   * DataLoader worker processes per rank.
   */
  num_workers?: number;
  /**
   * Micro-batches each DataLoader worker prepares ahead (used when data.num_workers > 0; workers persist across epochs).
   */
  prefetch_factor?: number;
  /**
   * How micro-batches are formed (always per_device_batch_size samples each; the padding fraction per epoch is reported). padded: random order, each micro-batch padded to its longest sample. length_grouped: samples of similar token counts share a micro-batch (seeded, deterministic, sharded across ranks, resumable); little padding, but micro-batches alternate between all-small and all-large, so step time and memory vary more. packed: padding-free; random order as padded, the micro-batch's samples concatenated into one sequence with per-sample 3-D rope positions and attention kept within each sample (no padding at all). With flash_attention_2 that is the variable-length kernel (attention costs the sum of squared sample lengths); with sdpa or eager a block-diagonal mask over the whole packed row (correct, but attention computes the square of the packed length, so it pays mainly with flash_attention_2). Training only: evaluation batches stay padded.
   */
  batching?: "padded" | "length_grouped" | "packed";
}
/**
 * The optimisation loop, checkpointing and evaluation schedule.
 */
export interface TrainingConfigInput {
  /**
   * Where resolved_config.json, ds_config.json, logs/ and checkpoint-N/ folders are written.
   */
  output_dir?: string;
  /**
   * Number of passes over the training set (ignored when training.max_steps > 0).
   */
  epochs?: number;
  /**
   * Total optimizer steps; 0 means derive from training.epochs.
   */
  max_steps?: number;
  /**
   * Micro-batch size per GPU/process.
   */
  per_device_batch_size?: number;
  /**
   * Micro-batches accumulated per optimizer step. Global batch = per_device_batch_size x accumulation x world size.
   */
  gradient_accumulation_steps?: number;
  /**
   * Peak learning rate (AdamW).
   */
  lr?: number;
  /**
   * AdamW weight decay (not applied to biases and norms).
   */
  weight_decay?: number;
  /**
   * Linear warm-up steps from 0 to training.lr.
   */
  warmup_steps?: number;
  /**
   * Schedule after warm-up.
   */
  lr_scheduler?: "cosine" | "linear" | "constant";
  /**
   * Gradient clipping threshold; 0 disables clipping.
   */
  max_grad_norm?: number;
  /**
   * auto = bf16 on a GPU that supports it, fp32 on the CPU.
   */
  precision?: "auto" | "bf16" | "fp16" | "fp32";
  /**
   * Recompute activations in the backward pass: much less memory, about 30% slower.
   */
  gradient_checkpointing?: boolean;
  /**
   * Random seed for initialisation, shuffling and dropout.
   */
  seed?: number;
  /**
   * Log loss, lr, grad norm, throughput and memory every this many steps.
   */
  logging_steps?: number;
  /**
   * Every this many optimizer steps the ranks agree on a stop request (one collective); the last step and every checkpoint step check too.
   */
  stop_check_steps?: number;
  /**
   * Save a checkpoint every this many optimizer steps (and always at the end).
   */
  save_steps?: number;
  /**
   * Run the partial evaluation every this many steps (standard mode only).
   */
  eval_steps?: number;
  /**
   * No-evaluation mode, the highest-priority setting: no evaluation pass at all, best-model tracking off, every checkpoint kept. Evaluate afterwards with tasks/evaluate.ts.
   */
  skip_evaluation?: boolean;
  /**
   * Keep every checkpoint (retention all). Forced on by training.skip_evaluation; with evaluation on it keeps evaluation and every checkpoint.
   */
  save_all_checkpoints?: boolean;
  /**
   * Standard mode: keep the best checkpoint plus this many most recent ones.
   */
  save_total_limit?: number;
  /**
   * After a stop (SIGTERM/SIGINT, the stop file, or the launcher gone: QC_LAUNCHER_PID), the longest the workers keep going to finish the step and save one complete checkpoint; past it they exit without one (an unfinished save stays a hidden .checkpoint-N.tmp, never looks complete).
   */
  stop_grace_seconds?: number;
  /**
   * Resume: null (start fresh), auto (newest complete checkpoint in output_dir), or a checkpoint path.
   */
  resume_from_checkpoint?: string | null;
  best_model_tracking?: BestModelTrackingConfigInput;
  evaluation?: EvaluationConfigInput;
  checkpoint?: CheckpointConfigInput;
}
/**
 * Tracking of the best checkpoint by an evaluation metric.
 */
export interface BestModelTrackingConfigInput {
  /**
   * Track the best checkpoint by best_model_tracking.metric.
   */
  enabled?: boolean;
  /**
   * Metric that decides the best checkpoint (accuracy, macro_f1, top5_accuracy, loss).
   */
  metric?: "accuracy" | "macro_f1" | "top5_accuracy" | "loss";
  /**
   * true for accuracy-like metrics, false for loss.
   */
  greater_is_better?: boolean;
  /**
   * Keep only the best checkpoint (plus the newest, which resume needs).
   */
  save_best_only?: boolean;
}
/**
 * Evaluation during and at the end of training (standard mode).
 */
export interface EvaluationConfigInput {
  /**
   * Evaluate on a subset of the validation set every training.eval_steps.
   */
  partial_eval_during_training?: boolean;
  /**
   * Validation samples used by each partial evaluation (a fixed, seeded subset).
   */
  partial_eval_samples?: number;
  /**
   * Evaluate on the whole validation set when training ends.
   */
  full_eval_at_end?: boolean;
  /**
   * At the end, fully evaluate only the best checkpoint (instead of the final one).
   */
  eval_best_model_only?: boolean;
  /**
   * Per-device batch size for evaluation; 0 means training.per_device_batch_size x 2.
   */
  batch_size?: number;
}
/**
 * What each checkpoint holds and how many are kept.
 */
export interface CheckpointConfigInput {
  /**
   * Retention policy: all | last:N | best:N | top:K:<metric>, terms combined with + (best:1+last:2). Empty: all when save_all_checkpoints, else best:1+last:<save_total_limit>. The newest checkpoint and the tracked best are always kept. Forced to all by training.skip_evaluation.
   */
  retention?: string;
  /**
   * Keep the DeepSpeed state (needed to resume) only in the newest N checkpoints; older ones keep hf_model/ only (slim: evaluable and exportable, no longer resumable). 0 keeps it everywhere.
   */
  keep_optimizer_states?: number;
  /**
   * every_save writes hf_model/ at each save; deferred writes only the DeepSpeed state (faster saves) and tasks/export.ts makes hf_model/ later; adapter (LoRA only) writes adapter/ alone at each save (seconds instead of minutes) and tasks/export.ts --merge makes the merged hf_model/ later.
   */
  hf_format?: "every_save" | "deferred" | "adapter";
}
/**
 * DeepSpeed ZeRO settings; tasks/train.ts writes ds_config.json from these.
 */
export interface DeepSpeedConfigInput {
  /**
   * ZeRO stage 0-3: 2 shards optimizer state and gradients (the usual choice for 7B), 3 shards parameters too.
   */
  zero_stage?: number;
  /**
   * Keep optimizer state in CPU memory (ZeRO 1-3): fits bigger models, slower steps.
   */
  offload_optimizer?: boolean;
  /**
   * Keep parameters in CPU memory (ZeRO 3 only): slowest, smallest GPU footprint.
   */
  offload_param?: boolean;
}
/**
 * Weights & Biases logging (offline by default: no key, no network).
 */
export interface WandbConfigInput {
  /**
   * Log the same scalars as the event stream to wandb.
   */
  enabled?: boolean;
  /**
   * wandb project name.
   */
  project?: string;
  /**
   * wandb run name; empty: derived from output_dir.
   */
  run_name?: string;
  /**
   * offline writes to ./wandb and syncs later; online needs WANDB_API_KEY.
   */
  mode?: "offline" | "online" | "disabled";
  /**
   * Log per-class evaluation metrics to wandb.
   */
  log_dataset_metrics?: boolean;
}
/**
 * Pushing checkpoints to the Hugging Face Hub during training (tasks/push.ts does it afterwards).
 */
export interface HubConfigInput {
  /**
   * none | final | best | every_save. Pushes run in the background; training never waits on them.
   */
  push?: "none" | "final" | "best" | "every_save";
  /**
   * Target repository, namespace/name.
   */
  repo_id?: string;
  /**
   * Create the repository as private.
   */
  private?: boolean;
  /**
   * Hub URL (https://huggingface.co unless you run a mirror).
   */
  endpoint?: string;
}
/**
 * Self-contained demo assets, built locally before launch (no download).
 */
export interface DemoConfigInput {
  /**
   * If model.pretrained_name does not exist, build a tiny random Qwen2.5-VL (with tokenizer and processor) there via save_pretrained.
   */
  build_tiny_model?: boolean;
  /**
   * If data.train_jsonl does not exist, write scikit-learn's handwritten digits (1,797 images, 10 classes) as PNG files with a stratified train/validation split.
   */
  build_digits_dataset?: boolean;
}
