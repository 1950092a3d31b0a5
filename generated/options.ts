// generated — do not edit. Source: schema/config.schema.json; regenerate with `bun run codegen`.
// Every leaf option of the schema: used for --help, --set typing, YAML comments and did-you-mean.
// "*" in a path stands for a name you choose (e.g. datasets.dataset_configs.<name>.num_classes).

export interface OptionInfo {
  path: string;
  type: string[];
  enum?: readonly unknown[];
  default?: unknown;
  description: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  pattern?: string;
  required?: boolean;
}

export const OPTIONS: readonly OptionInfo[] = [
  {
    "path": "model.pretrained_name",
    "type": [
      "string"
    ],
    "description": "Local folder of a Qwen2.5-VL checkpoint (e.g. /models/Qwen2.5-VL-7B-Instruct) or a Hub model id (e.g. Qwen/Qwen2.5-VL-7B-Instruct): an id that is not an existing folder is checked before launch and downloaded once (huggingface_hub's cache; HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE apply); the resolved commit is recorded.",
    "default": "Qwen/Qwen2.5-VL-7B-Instruct",
    "minLength": 1
  },
  {
    "path": "model.revision",
    "type": [
      "string"
    ],
    "description": "Hub revision of model.pretrained_name when it is a Hub id: a branch, tag or commit hash. Ignored for a local folder.",
    "default": "main",
    "minLength": 1
  },
  {
    "path": "model.num_labels",
    "type": [
      "integer"
    ],
    "description": "Number of classes; the head has this many outputs. Must equal the dataset's num_classes.",
    "default": 101,
    "minimum": 2
  },
  {
    "path": "model.pooling",
    "type": [
      "string"
    ],
    "description": "How the head reads the backbone: the hidden state of the last real token (from the attention mask), or the mean over real tokens.",
    "enum": [
      "last_token",
      "mean"
    ],
    "default": "last_token"
  },
  {
    "path": "model.freeze_vision_tower",
    "type": [
      "boolean"
    ],
    "description": "Freeze the vision encoder; trains only the language model and the head (less memory, usually a little less accuracy).",
    "default": false
  },
  {
    "path": "model.trust_remote_code",
    "type": [
      "boolean"
    ],
    "description": "Pass trust_remote_code=True to from_pretrained (only for checkpoints that ship their own modelling code).",
    "default": false
  },
  {
    "path": "model.attn_implementation",
    "type": [
      "string"
    ],
    "description": "Attention kernel of the backbone: auto (flash_attention_2 where the flash_attn package is installed and the GPU supports it, else sdpa), sdpa, flash_attention_2 (exit 2 before training when the package or a capable GPU is missing), or eager. The choice made is recorded in training_info.json.",
    "enum": [
      "auto",
      "sdpa",
      "flash_attention_2",
      "eager"
    ],
    "default": "auto"
  },
  {
    "path": "model.lora.enabled",
    "type": [
      "boolean"
    ],
    "description": "Train LoRA adapters instead of every weight.",
    "default": false
  },
  {
    "path": "model.lora.r",
    "type": [
      "integer"
    ],
    "description": "Adapter rank.",
    "default": 16,
    "minimum": 1
  },
  {
    "path": "model.lora.alpha",
    "type": [
      "number"
    ],
    "description": "LoRA scaling numerator (the update is scaled by alpha / r).",
    "default": 32,
    "exclusiveMinimum": 0
  },
  {
    "path": "model.lora.dropout",
    "type": [
      "number"
    ],
    "description": "Dropout on the adapters' input.",
    "default": 0.05,
    "minimum": 0,
    "maximum": 1
  },
  {
    "path": "model.lora.target_modules",
    "type": [
      "array"
    ],
    "description": "Linear layer names in the language model's decoder layers that get adapters; the vision tower's same-named layers are matched only with vision_tower: lora.",
    "default": [
      "q_proj",
      "k_proj",
      "v_proj",
      "o_proj",
      "gate_proj",
      "up_proj",
      "down_proj"
    ]
  },
  {
    "path": "model.lora.vision_tower",
    "type": [
      "string"
    ],
    "description": "frozen: the vision encoder does not train; lora: adapters on its blocks' linears too (qkv, proj, gate_proj, up_proj, down_proj, those named in target_modules); full: it trains fully (saved beside the head).",
    "enum": [
      "frozen",
      "lora",
      "full"
    ],
    "default": "frozen"
  },
  {
    "path": "loss.type",
    "type": [
      "string"
    ],
    "description": "cross_entropy, or label_smoothing (cross-entropy with loss.smoothing).",
    "enum": [
      "cross_entropy",
      "label_smoothing"
    ],
    "default": "cross_entropy"
  },
  {
    "path": "loss.smoothing",
    "type": [
      "number"
    ],
    "description": "Label smoothing factor in [0, 1); used when loss.type is label_smoothing.",
    "default": 0.1,
    "minimum": 0,
    "exclusiveMaximum": 1
  },
  {
    "path": "datasets.dataset_configs",
    "type": [
      "object"
    ],
    "description": "Map of data set name to its description.",
    "default": {}
  },
  {
    "path": "datasets.dataset_configs.*.num_classes",
    "type": [
      "integer"
    ],
    "description": "Number of classes in the data set; must equal model.num_labels.",
    "minimum": 2,
    "required": true
  },
  {
    "path": "datasets.dataset_configs.*.description",
    "type": [
      "string"
    ],
    "description": "Free text shown in reports and the model card.",
    "default": ""
  },
  {
    "path": "datasets.dataset_configs.*.class_names",
    "type": [
      "array"
    ],
    "description": "Class names in label-id order (optional; otherwise read from data.labels_file, else the ids are used)."
  },
  {
    "path": "data.dataset",
    "type": [
      "string"
    ],
    "description": "Name of the datasets.dataset_configs entry this run uses. Empty: the only entry, if there is exactly one.",
    "default": ""
  },
  {
    "path": "data.train_jsonl",
    "type": [
      "string"
    ],
    "description": "Training JSONL: one {\"image\": path, \"label\": int or class name} per line; paths relative to the file's folder or absolute.",
    "default": "data/train.jsonl",
    "minLength": 1
  },
  {
    "path": "data.val_jsonl",
    "type": [
      "string"
    ],
    "description": "Validation JSONL, same format as data.train_jsonl.",
    "default": "data/val.jsonl",
    "minLength": 1
  },
  {
    "path": "data.labels_file",
    "type": [
      "string"
    ],
    "description": "Optional labels.json (id -> class name), as written by tasks/prepare.ts. Empty: none.",
    "default": ""
  },
  {
    "path": "data.prompt",
    "type": [
      "string"
    ],
    "description": "Text placed after the image in the fixed prompt the classifier reads.",
    "default": "What is shown in this image?"
  },
  {
    "path": "data.image_min_pixels",
    "type": [
      "integer"
    ],
    "description": "Lower bound on pixels per image after resizing by the processor (multiples of 28x28 = 784 pixels per visual token).",
    "default": 3136,
    "minimum": 784
  },
  {
    "path": "data.image_max_pixels",
    "type": [
      "integer"
    ],
    "description": "Upper bound on pixels per image after resizing; the main memory/speed knob (tokens per image ~ pixels / 784).",
    "default": 200704,
    "minimum": 784
  },
  {
    "path": "data.on_bad_sample",
    "type": [
      "string"
    ],
    "description": "What to do with a bad line or image: error (stop before training, naming file:line) or skip (drop it and report how many were skipped).",
    "enum": [
      "error",
      "skip"
    ],
    "default": "error"
  },
  {
    "path": "data.num_workers",
    "type": [
      "integer"
    ],
    "description": "DataLoader worker processes per rank.",
    "default": 2,
    "minimum": 0
  },
  {
    "path": "data.prefetch_factor",
    "type": [
      "integer"
    ],
    "description": "Micro-batches each DataLoader worker prepares ahead (used when data.num_workers > 0; workers persist across epochs).",
    "default": 4,
    "minimum": 1
  },
  {
    "path": "data.batching",
    "type": [
      "string"
    ],
    "description": "How micro-batches are formed (always per_device_batch_size samples each; the padding fraction per epoch is reported). padded: random order, each micro-batch padded to its longest sample. length_grouped: samples of similar token counts share a micro-batch (seeded, deterministic, sharded across ranks, resumable); little padding, but micro-batches alternate between all-small and all-large, so step time and memory vary more. packed: padding-free; random order as padded, the micro-batch's samples concatenated into one sequence with per-sample 3-D rope positions and attention kept within each sample (no padding at all). With flash_attention_2 that is the variable-length kernel (attention costs the sum of squared sample lengths); with sdpa or eager a block-diagonal mask over the whole packed row (correct, but attention computes the square of the packed length, so it pays mainly with flash_attention_2). Training only: evaluation batches stay padded.",
    "enum": [
      "padded",
      "length_grouped",
      "packed"
    ],
    "default": "padded"
  },
  {
    "path": "training.output_dir",
    "type": [
      "string"
    ],
    "description": "Where resolved_config.json, ds_config.json, logs/ and checkpoint-N/ folders are written.",
    "default": "out/run",
    "minLength": 1
  },
  {
    "path": "training.epochs",
    "type": [
      "number"
    ],
    "description": "Number of passes over the training set (ignored when training.max_steps > 0).",
    "default": 3,
    "exclusiveMinimum": 0
  },
  {
    "path": "training.max_steps",
    "type": [
      "integer"
    ],
    "description": "Total optimizer steps; 0 means derive from training.epochs.",
    "default": 0,
    "minimum": 0
  },
  {
    "path": "training.per_device_batch_size",
    "type": [
      "integer"
    ],
    "description": "Micro-batch size per GPU/process.",
    "default": 4,
    "minimum": 1
  },
  {
    "path": "training.gradient_accumulation_steps",
    "type": [
      "integer"
    ],
    "description": "Micro-batches accumulated per optimizer step. Global batch = per_device_batch_size x accumulation x world size.",
    "default": 1,
    "minimum": 1
  },
  {
    "path": "training.lr",
    "type": [
      "number"
    ],
    "description": "Peak learning rate (AdamW).",
    "default": 0.00001,
    "exclusiveMinimum": 0
  },
  {
    "path": "training.weight_decay",
    "type": [
      "number"
    ],
    "description": "AdamW weight decay (not applied to biases and norms).",
    "default": 0,
    "minimum": 0
  },
  {
    "path": "training.warmup_steps",
    "type": [
      "integer"
    ],
    "description": "Linear warm-up steps from 0 to training.lr.",
    "default": 0,
    "minimum": 0
  },
  {
    "path": "training.lr_scheduler",
    "type": [
      "string"
    ],
    "description": "Schedule after warm-up.",
    "enum": [
      "cosine",
      "linear",
      "constant"
    ],
    "default": "cosine"
  },
  {
    "path": "training.max_grad_norm",
    "type": [
      "number"
    ],
    "description": "Gradient clipping threshold; 0 disables clipping.",
    "default": 1,
    "minimum": 0
  },
  {
    "path": "training.precision",
    "type": [
      "string"
    ],
    "description": "auto = bf16 on a GPU that supports it, fp32 on the CPU.",
    "enum": [
      "auto",
      "bf16",
      "fp16",
      "fp32"
    ],
    "default": "auto"
  },
  {
    "path": "training.gradient_checkpointing",
    "type": [
      "boolean"
    ],
    "description": "Recompute activations in the backward pass: much less memory, about 30% slower.",
    "default": false
  },
  {
    "path": "training.seed",
    "type": [
      "integer"
    ],
    "description": "Random seed for initialisation, shuffling and dropout.",
    "default": 42,
    "minimum": 0
  },
  {
    "path": "training.logging_steps",
    "type": [
      "integer"
    ],
    "description": "Log loss, lr, grad norm, throughput and memory every this many steps.",
    "default": 10,
    "minimum": 1
  },
  {
    "path": "training.stop_check_steps",
    "type": [
      "integer"
    ],
    "description": "Every this many optimizer steps the ranks agree on a stop request (one collective); the last step and every checkpoint step check too.",
    "default": 10,
    "minimum": 1
  },
  {
    "path": "training.save_steps",
    "type": [
      "integer"
    ],
    "description": "Save a checkpoint every this many optimizer steps (and always at the end).",
    "default": 200,
    "minimum": 1
  },
  {
    "path": "training.eval_steps",
    "type": [
      "integer"
    ],
    "description": "Run the partial evaluation every this many steps (standard mode only).",
    "default": 200,
    "minimum": 1
  },
  {
    "path": "training.skip_evaluation",
    "type": [
      "boolean"
    ],
    "description": "No-evaluation mode, the highest-priority setting: no evaluation pass at all, best-model tracking off, every checkpoint kept. Evaluate afterwards with tasks/evaluate.ts.",
    "default": false
  },
  {
    "path": "training.save_all_checkpoints",
    "type": [
      "boolean"
    ],
    "description": "Keep every checkpoint (retention all). Forced on by training.skip_evaluation; with evaluation on it keeps evaluation and every checkpoint.",
    "default": false
  },
  {
    "path": "training.save_total_limit",
    "type": [
      "integer"
    ],
    "description": "Standard mode: keep the best checkpoint plus this many most recent ones.",
    "default": 2,
    "minimum": 1
  },
  {
    "path": "training.stop_grace_seconds",
    "type": [
      "number"
    ],
    "description": "After a stop (SIGTERM/SIGINT, the stop file, or the launcher gone: QC_LAUNCHER_PID), the longest the workers keep going to finish the step and save one complete checkpoint; past it they exit without one (an unfinished save stays a hidden .checkpoint-N.tmp, never looks complete).",
    "default": 120,
    "minimum": 1
  },
  {
    "path": "training.resume_from_checkpoint",
    "type": [
      "string",
      "null"
    ],
    "description": "Resume: null (start fresh), auto (newest complete checkpoint in output_dir), or a checkpoint path.",
    "default": null
  },
  {
    "path": "training.best_model_tracking.enabled",
    "type": [
      "boolean"
    ],
    "description": "Track the best checkpoint by best_model_tracking.metric.",
    "default": true
  },
  {
    "path": "training.best_model_tracking.metric",
    "type": [
      "string"
    ],
    "description": "Metric that decides the best checkpoint (accuracy, macro_f1, top5_accuracy, loss).",
    "enum": [
      "accuracy",
      "macro_f1",
      "top5_accuracy",
      "loss"
    ],
    "default": "accuracy"
  },
  {
    "path": "training.best_model_tracking.greater_is_better",
    "type": [
      "boolean"
    ],
    "description": "true for accuracy-like metrics, false for loss.",
    "default": true
  },
  {
    "path": "training.best_model_tracking.save_best_only",
    "type": [
      "boolean"
    ],
    "description": "Keep only the best checkpoint (plus the newest, which resume needs).",
    "default": false
  },
  {
    "path": "training.evaluation.partial_eval_during_training",
    "type": [
      "boolean"
    ],
    "description": "Evaluate on a subset of the validation set every training.eval_steps.",
    "default": true
  },
  {
    "path": "training.evaluation.partial_eval_samples",
    "type": [
      "integer"
    ],
    "description": "Validation samples used by each partial evaluation (a fixed, seeded subset).",
    "default": 500,
    "minimum": 1
  },
  {
    "path": "training.evaluation.full_eval_at_end",
    "type": [
      "boolean"
    ],
    "description": "Evaluate on the whole validation set when training ends.",
    "default": true
  },
  {
    "path": "training.evaluation.eval_best_model_only",
    "type": [
      "boolean"
    ],
    "description": "At the end, fully evaluate only the best checkpoint (instead of the final one).",
    "default": true
  },
  {
    "path": "training.evaluation.batch_size",
    "type": [
      "integer"
    ],
    "description": "Per-device batch size for evaluation; 0 means training.per_device_batch_size x 2.",
    "default": 0,
    "minimum": 0
  },
  {
    "path": "training.checkpoint.retention",
    "type": [
      "string"
    ],
    "description": "Retention policy: all | last:N | best:N | top:K:<metric>, terms combined with + (best:1+last:2). Empty: all when save_all_checkpoints, else best:1+last:<save_total_limit>. The newest checkpoint and the tracked best are always kept. Forced to all by training.skip_evaluation.",
    "default": "",
    "pattern": "^(|all|(last:[1-9][0-9]*|best:[1-9][0-9]*|top:[1-9][0-9]*:[A-Za-z0-9_.-]+)(\\+(last:[1-9][0-9]*|best:[1-9][0-9]*|top:[1-9][0-9]*:[A-Za-z0-9_.-]+))*)$"
  },
  {
    "path": "training.checkpoint.keep_optimizer_states",
    "type": [
      "integer"
    ],
    "description": "Keep the DeepSpeed state (needed to resume) only in the newest N checkpoints; older ones keep hf_model/ only (slim: evaluable and exportable, no longer resumable). 0 keeps it everywhere.",
    "default": 0,
    "minimum": 0
  },
  {
    "path": "training.checkpoint.hf_format",
    "type": [
      "string"
    ],
    "description": "every_save writes hf_model/ at each save; deferred writes only the DeepSpeed state (faster saves) and tasks/export.ts makes hf_model/ later; adapter (LoRA only) writes adapter/ alone at each save (seconds instead of minutes) and tasks/export.ts --merge makes the merged hf_model/ later.",
    "enum": [
      "every_save",
      "deferred",
      "adapter"
    ],
    "default": "every_save"
  },
  {
    "path": "deepspeed.zero_stage",
    "type": [
      "integer"
    ],
    "description": "ZeRO stage 0-3: 2 shards optimizer state and gradients (the usual choice for 7B), 3 shards parameters too.",
    "default": 2,
    "minimum": 0,
    "maximum": 3
  },
  {
    "path": "deepspeed.offload_optimizer",
    "type": [
      "boolean"
    ],
    "description": "Keep optimizer state in CPU memory (ZeRO 1-3): fits bigger models, slower steps.",
    "default": false
  },
  {
    "path": "deepspeed.offload_param",
    "type": [
      "boolean"
    ],
    "description": "Keep parameters in CPU memory (ZeRO 3 only): slowest, smallest GPU footprint.",
    "default": false
  },
  {
    "path": "wandb.enabled",
    "type": [
      "boolean"
    ],
    "description": "Log the same scalars as the event stream to wandb.",
    "default": false
  },
  {
    "path": "wandb.project",
    "type": [
      "string"
    ],
    "description": "wandb project name.",
    "default": "qwen-classify"
  },
  {
    "path": "wandb.run_name",
    "type": [
      "string"
    ],
    "description": "wandb run name; empty: derived from output_dir.",
    "default": ""
  },
  {
    "path": "wandb.mode",
    "type": [
      "string"
    ],
    "description": "offline writes to ./wandb and syncs later; online needs WANDB_API_KEY.",
    "enum": [
      "offline",
      "online",
      "disabled"
    ],
    "default": "offline"
  },
  {
    "path": "wandb.log_dataset_metrics",
    "type": [
      "boolean"
    ],
    "description": "Log per-class evaluation metrics to wandb.",
    "default": false
  },
  {
    "path": "hub.push",
    "type": [
      "string"
    ],
    "description": "none | final | best | every_save. Pushes run in the background; training never waits on them.",
    "enum": [
      "none",
      "final",
      "best",
      "every_save"
    ],
    "default": "none"
  },
  {
    "path": "hub.repo_id",
    "type": [
      "string"
    ],
    "description": "Target repository, namespace/name.",
    "default": ""
  },
  {
    "path": "hub.private",
    "type": [
      "boolean"
    ],
    "description": "Create the repository as private.",
    "default": true
  },
  {
    "path": "hub.endpoint",
    "type": [
      "string"
    ],
    "description": "Hub URL (https://huggingface.co unless you run a mirror).",
    "default": "https://huggingface.co"
  },
  {
    "path": "demo.build_tiny_model",
    "type": [
      "boolean"
    ],
    "description": "If model.pretrained_name does not exist, build a tiny random Qwen2.5-VL (with tokenizer and processor) there via save_pretrained.",
    "default": false
  },
  {
    "path": "demo.build_digits_dataset",
    "type": [
      "boolean"
    ],
    "description": "If data.train_jsonl does not exist, write scikit-learn's handwritten digits (1,797 images, 10 classes) as PNG files with a stratified train/validation split.",
    "default": false
  }
];

export const SECTIONS: readonly { path: string; description: string }[] = [
  {
    "path": "model",
    "description": "The Qwen2.5-VL backbone and the classification head put on top of it."
  },
  {
    "path": "model.lora",
    "description": "LoRA through peft: the backbone is frozen and small low-rank adapters train beside the chosen linear layers; the classification head (score) always trains fully. Checkpoints hold adapter/ (peft format) and, unless training.checkpoint.hf_format is adapter, the merged hf_model/."
  },
  {
    "path": "loss",
    "description": "The training loss."
  },
  {
    "path": "datasets",
    "description": "Named data set descriptions; data.dataset picks the one this run uses."
  },
  {
    "path": "data",
    "description": "Where the JSONL data lives and how images are turned into model inputs."
  },
  {
    "path": "training",
    "description": "The optimisation loop, checkpointing and evaluation schedule."
  },
  {
    "path": "training.best_model_tracking",
    "description": "Tracking of the best checkpoint by an evaluation metric."
  },
  {
    "path": "training.evaluation",
    "description": "Evaluation during and at the end of training (standard mode)."
  },
  {
    "path": "training.checkpoint",
    "description": "What each checkpoint holds and how many are kept."
  },
  {
    "path": "deepspeed",
    "description": "DeepSpeed ZeRO settings; tasks/train.ts writes ds_config.json from these."
  },
  {
    "path": "wandb",
    "description": "Weights & Biases logging (offline by default: no key, no network)."
  },
  {
    "path": "hub",
    "description": "Pushing checkpoints to the Hugging Face Hub during training (tasks/push.ts does it afterwards)."
  },
  {
    "path": "demo",
    "description": "Self-contained demo assets, built locally before launch (no download)."
  }
];
