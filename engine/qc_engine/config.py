# generated — do not edit. Source: schema/config.schema.json; regenerate with `bun run codegen`.
"""The resolved run config as typed, frozen dataclasses (one per schema section).

Built from resolved_config.json with every value present: `from_dict` refuses missing and unknown
keys, and the slotted classes raise AttributeError on a key the schema does not have. The engine
holds no default of its own; the schema's defaults are filled by the TypeScript side.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar

from .errors import BadInput

class ConfigError(BadInput):
    """resolved_config.json does not match schema/config.schema.json (exit 2)."""


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _checked(data: Any, path: str, keys: tuple[str, ...], optional: tuple[str, ...]) -> dict:
    """Refuses missing and unknown keys: the TS side writes every value, so a gap is a bug or a stale file."""
    where = path or "config"
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected an object, got {type(data).__name__}",
                          hint="write resolved_config.json with tasks/train.ts (it fills every default)")
    unknown = sorted(set(data) - set(keys))
    missing = [k for k in keys if k not in data and k not in optional]
    if unknown or missing:
        parts = ([f"unknown key(s) {', '.join(_join(path, k) for k in unknown)}"] if unknown else []) + (
            [f"missing key(s) {', '.join(_join(path, k) for k in missing)}"] if missing else [])
        raise ConfigError(f"resolved config: {'; '.join(parts)}",
                          hint="re-resolve the config with this version of tasks/train.ts (--dry-run --json shows it)")
    return data


def _scalar(value: Any, path: str, kind: Any) -> Any:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    for k in kinds:
        if k is None and value is None:
            return None
        if k is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if k is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if k in (str, bool) and type(value) is k:
            return value
    names = " | ".join("null" if k is None else k.__name__ for k in kinds)
    raise ConfigError(f"{path}: expected {names}, got {value!r}")


def _list(value: Any, path: str, item: Any) -> tuple:
    if not isinstance(value, list):
        raise ConfigError(f"{path}: expected a list, got {value!r}")
    return tuple(value if item is object else (_scalar(v, f"{path}[{i}]", item) for i, v in enumerate(value)))


def _map(value: Any, path: str, build: Callable[[Any, str], Any]) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: expected an object, got {value!r}")
    return {name: build(entry, _join(path, name)) for name, entry in value.items()}


@dataclass(frozen=True, slots=True)
class LoraConfig:
    """LoRA through peft: the backbone is frozen and small low-rank adapters train beside the chosen linear layers; the classification head (score) always trains fully. Checkpoints hold adapter/ (peft format) and, unless training.checkpoint.hf_format is adapter, the merged hf_model/."""

    # Train LoRA adapters instead of every weight.
    enabled: bool
    # Adapter rank.
    r: int
    # LoRA scaling numerator (the update is scaled by alpha / r).
    alpha: float
    # Dropout on the adapters' input.
    dropout: float
    # Linear layer names in the language model's decoder layers that get adapters; the vision tower's
    # same-named layers are matched only with vision_tower: lora.
    target_modules: tuple[str, ...]
    # frozen: the vision encoder does not train; lora: adapters on its blocks' linears too (qkv, proj,
    # gate_proj, up_proj, down_proj, those named in target_modules); full: it trains fully (saved beside the
    # head).
    vision_tower: str

    KEYS: ClassVar[tuple[str, ...]] = ("enabled", "r", "alpha", "dropout", "target_modules", "vision_tower")
    OPTIONAL: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_dict(cls, data: Any, path: str = "") -> "LoraConfig":
        d = _checked(data, path, cls.KEYS, cls.OPTIONAL)
        return cls(
            enabled=_scalar(d["enabled"], _join(path, "enabled"), bool),
            r=_scalar(d["r"], _join(path, "r"), int),
            alpha=_scalar(d["alpha"], _join(path, "alpha"), float),
            dropout=_scalar(d["dropout"], _join(path, "dropout"), float),
            target_modules=_list(d["target_modules"], _join(path, "target_modules"), str),
            vision_tower=_scalar(d["vision_tower"], _join(path, "vision_tower"), str),
        )


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """The Qwen2.5-VL backbone and the classification head put on top of it."""

    # Local folder of a Qwen2.5-VL checkpoint (e.g. /models/Qwen2.5-VL-7B-Instruct) or a Hub model id (e.g.
    # Qwen/Qwen2.5-VL-7B-Instruct): an id that is not an existing folder is checked before launch and
    # downloaded once (huggingface_hub's cache; HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE apply); the resolved
    # commit is recorded.
    pretrained_name: str
    # Hub revision of model.pretrained_name when it is a Hub id: a branch, tag or commit hash. Ignored for a
    # local folder.
    revision: str
    # Number of classes; the head has this many outputs. Must equal the dataset's num_classes.
    num_labels: int
    # How the head reads the backbone: the hidden state of the last real token (from the attention mask), or
    # the mean over real tokens.
    pooling: str
    # Freeze the vision encoder; trains only the language model and the head (less memory, usually a little
    # less accuracy).
    freeze_vision_tower: bool
    # Pass trust_remote_code=True to from_pretrained (only for checkpoints that ship their own modelling
    # code).
    trust_remote_code: bool
    # Attention kernel of the backbone: auto (flash_attention_2 where the flash_attn package is installed and
    # the GPU supports it, else sdpa), sdpa, flash_attention_2 (exit 2 before training when the package or a
    # capable GPU is missing), or eager. The choice made is recorded in training_info.json.
    attn_implementation: str
    # LoRA through peft: the backbone is frozen and small low-rank adapters train beside the chosen linear
    # layers; the classification head (score) always trains fully. Checkpoints hold adapter/ (peft format)
    # and, unless training.checkpoint.hf_format is adapter, the merged hf_model/.
    lora: LoraConfig

    KEYS: ClassVar[tuple[str, ...]] = ("pretrained_name", "revision", "num_labels", "pooling", "freeze_vision_tower", "trust_remote_code", "attn_implementation", "lora")
    OPTIONAL: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_dict(cls, data: Any, path: str = "") -> "ModelConfig":
        d = _checked(data, path, cls.KEYS, cls.OPTIONAL)
        return cls(
            pretrained_name=_scalar(d["pretrained_name"], _join(path, "pretrained_name"), str),
            revision=_scalar(d["revision"], _join(path, "revision"), str),
            num_labels=_scalar(d["num_labels"], _join(path, "num_labels"), int),
            pooling=_scalar(d["pooling"], _join(path, "pooling"), str),
            freeze_vision_tower=_scalar(d["freeze_vision_tower"], _join(path, "freeze_vision_tower"), bool),
            trust_remote_code=_scalar(d["trust_remote_code"], _join(path, "trust_remote_code"), bool),
            attn_implementation=_scalar(d["attn_implementation"], _join(path, "attn_implementation"), str),
            lora=LoraConfig.from_dict(d["lora"], _join(path, "lora")),
        )


@dataclass(frozen=True, slots=True)
class LossConfig:
    """The training loss."""

    # cross_entropy, or label_smoothing (cross-entropy with loss.smoothing).
    type: str
    # Label smoothing factor in [0, 1); used when loss.type is label_smoothing.
    smoothing: float

    KEYS: ClassVar[tuple[str, ...]] = ("type", "smoothing")
    OPTIONAL: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_dict(cls, data: Any, path: str = "") -> "LossConfig":
        d = _checked(data, path, cls.KEYS, cls.OPTIONAL)
        return cls(
            type=_scalar(d["type"], _join(path, "type"), str),
            smoothing=_scalar(d["smoothing"], _join(path, "smoothing"), float),
        )


@dataclass(frozen=True, slots=True)
class DatasetEntry:
    # Number of classes in the data set; must equal model.num_labels.
    num_classes: int
    # Free text shown in reports and the model card.
    description: str
    # Class names in label-id order (optional; otherwise read from data.labels_file, else the ids are used).
    class_names: tuple[str, ...] | None

    KEYS: ClassVar[tuple[str, ...]] = ("num_classes", "description", "class_names")
    OPTIONAL: ClassVar[tuple[str, ...]] = ("class_names",)

    @classmethod
    def from_dict(cls, data: Any, path: str = "") -> "DatasetEntry":
        d = _checked(data, path, cls.KEYS, cls.OPTIONAL)
        return cls(
            num_classes=_scalar(d["num_classes"], _join(path, "num_classes"), int),
            description=_scalar(d["description"], _join(path, "description"), str),
            class_names=None if d.get("class_names") is None else _list(d["class_names"], _join(path, "class_names"), str),
        )


@dataclass(frozen=True, slots=True)
class DatasetsConfig:
    """Named data set descriptions; data.dataset picks the one this run uses."""

    # Map of data set name to its description.
    dataset_configs: dict[str, DatasetEntry]

    KEYS: ClassVar[tuple[str, ...]] = ("dataset_configs",)
    OPTIONAL: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_dict(cls, data: Any, path: str = "") -> "DatasetsConfig":
        d = _checked(data, path, cls.KEYS, cls.OPTIONAL)
        return cls(
            dataset_configs=_map(d["dataset_configs"], _join(path, "dataset_configs"), DatasetEntry.from_dict),
        )


@dataclass(frozen=True, slots=True)
class DataConfig:
    """Where the JSONL data lives and how images are turned into model inputs."""

    # Name of the datasets.dataset_configs entry this run uses. Empty: the only entry, if there is exactly
    # one.
    dataset: str
    # Training JSONL: one {"image": path, "label": int or class name} per line; paths relative to the file's
    # folder or absolute.
    train_jsonl: str
    # Validation JSONL, same format as data.train_jsonl.
    val_jsonl: str
    # Optional labels.json (id -> class name), as written by tasks/prepare.ts. Empty: none.
    labels_file: str
    # Text placed after the image in the fixed prompt the classifier reads.
    prompt: str
    # Lower bound on pixels per image after resizing by the processor (multiples of 28x28 = 784 pixels per
    # visual token).
    image_min_pixels: int
    # Upper bound on pixels per image after resizing; the main memory/speed knob (tokens per image ~ pixels /
    # 784).
    image_max_pixels: int
    # What to do with a bad line or image: error (stop before training, naming file:line) or skip (drop it and
    # report how many were skipped).
    on_bad_sample: str
    # DataLoader worker processes per rank.
    num_workers: int
    # Micro-batches each DataLoader worker prepares ahead (used when data.num_workers > 0; workers persist
    # across epochs).
    prefetch_factor: int
    # How micro-batches are formed (always per_device_batch_size samples each; the padding fraction per epoch
    # is reported). padded: random order, each micro-batch padded to its longest sample. length_grouped:
    # samples of similar token counts share a micro-batch (seeded, deterministic, sharded across ranks,
    # resumable); little padding, but micro-batches alternate between all-small and all-large, so step time
    # and memory vary more. packed: padding-free; random order as padded, the micro-batch's samples
    # concatenated into one sequence with per-sample 3-D rope positions and attention kept within each sample
    # (no padding at all). With flash_attention_2 that is the variable-length kernel (attention costs the sum
    # of squared sample lengths); with sdpa or eager a block-diagonal mask over the whole packed row (correct,
    # but attention computes the square of the packed length, so it pays mainly with flash_attention_2).
    # Training only: evaluation batches stay padded.
    batching: str

    KEYS: ClassVar[tuple[str, ...]] = ("dataset", "train_jsonl", "val_jsonl", "labels_file", "prompt", "image_min_pixels", "image_max_pixels", "on_bad_sample", "num_workers", "prefetch_factor", "batching")
    OPTIONAL: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_dict(cls, data: Any, path: str = "") -> "DataConfig":
        d = _checked(data, path, cls.KEYS, cls.OPTIONAL)
        return cls(
            dataset=_scalar(d["dataset"], _join(path, "dataset"), str),
            train_jsonl=_scalar(d["train_jsonl"], _join(path, "train_jsonl"), str),
            val_jsonl=_scalar(d["val_jsonl"], _join(path, "val_jsonl"), str),
            labels_file=_scalar(d["labels_file"], _join(path, "labels_file"), str),
            prompt=_scalar(d["prompt"], _join(path, "prompt"), str),
            image_min_pixels=_scalar(d["image_min_pixels"], _join(path, "image_min_pixels"), int),
            image_max_pixels=_scalar(d["image_max_pixels"], _join(path, "image_max_pixels"), int),
            on_bad_sample=_scalar(d["on_bad_sample"], _join(path, "on_bad_sample"), str),
            num_workers=_scalar(d["num_workers"], _join(path, "num_workers"), int),
            prefetch_factor=_scalar(d["prefetch_factor"], _join(path, "prefetch_factor"), int),
            batching=_scalar(d["batching"], _join(path, "batching"), str),
        )


@dataclass(frozen=True, slots=True)
class BestModelTrackingConfig:
    """Tracking of the best checkpoint by an evaluation metric."""

    # Track the best checkpoint by best_model_tracking.metric.
    enabled: bool
    # Metric that decides the best checkpoint (accuracy, macro_f1, top5_accuracy, loss).
    metric: str
    # true for accuracy-like metrics, false for loss.
    greater_is_better: bool
    # Keep only the best checkpoint (plus the newest, which resume needs).
    save_best_only: bool

    KEYS: ClassVar[tuple[str, ...]] = ("enabled", "metric", "greater_is_better", "save_best_only")
    OPTIONAL: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_dict(cls, data: Any, path: str = "") -> "BestModelTrackingConfig":
        d = _checked(data, path, cls.KEYS, cls.OPTIONAL)
        return cls(
            enabled=_scalar(d["enabled"], _join(path, "enabled"), bool),
            metric=_scalar(d["metric"], _join(path, "metric"), str),
            greater_is_better=_scalar(d["greater_is_better"], _join(path, "greater_is_better"), bool),
            save_best_only=_scalar(d["save_best_only"], _join(path, "save_best_only"), bool),
        )


@dataclass(frozen=True, slots=True)
class EvaluationConfig:
    """Evaluation during and at the end of training (standard mode)."""

    # Evaluate on a subset of the validation set every training.eval_steps.
    partial_eval_during_training: bool
    # Validation samples used by each partial evaluation (a fixed, seeded subset).
    partial_eval_samples: int
    # Evaluate on the whole validation set when training ends.
    full_eval_at_end: bool
    # At the end, fully evaluate only the best checkpoint (instead of the final one).
    eval_best_model_only: bool
    # Per-device batch size for evaluation; 0 means training.per_device_batch_size x 2.
    batch_size: int

    KEYS: ClassVar[tuple[str, ...]] = ("partial_eval_during_training", "partial_eval_samples", "full_eval_at_end", "eval_best_model_only", "batch_size")
    OPTIONAL: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_dict(cls, data: Any, path: str = "") -> "EvaluationConfig":
        d = _checked(data, path, cls.KEYS, cls.OPTIONAL)
        return cls(
            partial_eval_during_training=_scalar(d["partial_eval_during_training"], _join(path, "partial_eval_during_training"), bool),
            partial_eval_samples=_scalar(d["partial_eval_samples"], _join(path, "partial_eval_samples"), int),
            full_eval_at_end=_scalar(d["full_eval_at_end"], _join(path, "full_eval_at_end"), bool),
            eval_best_model_only=_scalar(d["eval_best_model_only"], _join(path, "eval_best_model_only"), bool),
            batch_size=_scalar(d["batch_size"], _join(path, "batch_size"), int),
        )


@dataclass(frozen=True, slots=True)
class CheckpointConfig:
    """What each checkpoint holds and how many are kept."""

    # Retention policy: all | last:N | best:N | top:K:<metric>, terms combined with + (best:1+last:2). Empty:
    # all when save_all_checkpoints, else best:1+last:<save_total_limit>. The newest checkpoint and the
    # tracked best are always kept. Forced to all by training.skip_evaluation.
    retention: str
    # Keep the DeepSpeed state (needed to resume) only in the newest N checkpoints; older ones keep hf_model/
    # only (slim: evaluable and exportable, no longer resumable). 0 keeps it everywhere.
    keep_optimizer_states: int
    # every_save writes hf_model/ at each save; deferred writes only the DeepSpeed state (faster saves) and
    # tasks/export.ts makes hf_model/ later; adapter (LoRA only) writes adapter/ alone at each save (seconds
    # instead of minutes) and tasks/export.ts --merge makes the merged hf_model/ later.
    hf_format: str

    KEYS: ClassVar[tuple[str, ...]] = ("retention", "keep_optimizer_states", "hf_format")
    OPTIONAL: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_dict(cls, data: Any, path: str = "") -> "CheckpointConfig":
        d = _checked(data, path, cls.KEYS, cls.OPTIONAL)
        return cls(
            retention=_scalar(d["retention"], _join(path, "retention"), str),
            keep_optimizer_states=_scalar(d["keep_optimizer_states"], _join(path, "keep_optimizer_states"), int),
            hf_format=_scalar(d["hf_format"], _join(path, "hf_format"), str),
        )


@dataclass(frozen=True, slots=True)
class TrainingConfig:
    """The optimisation loop, checkpointing and evaluation schedule."""

    # Where resolved_config.json, ds_config.json, logs/ and checkpoint-N/ folders are written.
    output_dir: str
    # Number of passes over the training set (ignored when training.max_steps > 0).
    epochs: float
    # Total optimizer steps; 0 means derive from training.epochs.
    max_steps: int
    # Micro-batch size per GPU/process.
    per_device_batch_size: int
    # Micro-batches accumulated per optimizer step. Global batch = per_device_batch_size x accumulation x
    # world size.
    gradient_accumulation_steps: int
    # Peak learning rate (AdamW).
    lr: float
    # AdamW weight decay (not applied to biases and norms).
    weight_decay: float
    # Linear warm-up steps from 0 to training.lr.
    warmup_steps: int
    # Schedule after warm-up.
    lr_scheduler: str
    # Gradient clipping threshold; 0 disables clipping.
    max_grad_norm: float
    # auto = bf16 on a GPU that supports it, fp32 on the CPU.
    precision: str
    # Recompute activations in the backward pass: much less memory, about 30% slower.
    gradient_checkpointing: bool
    # Random seed for initialisation, shuffling and dropout.
    seed: int
    # Log loss, lr, grad norm, throughput and memory every this many steps.
    logging_steps: int
    # Every this many optimizer steps the ranks agree on a stop request (one collective); the last step and
    # every checkpoint step check too.
    stop_check_steps: int
    # Save a checkpoint every this many optimizer steps (and always at the end).
    save_steps: int
    # Run the partial evaluation every this many steps (standard mode only).
    eval_steps: int
    # No-evaluation mode, the highest-priority setting: no evaluation pass at all, best-model tracking off,
    # every checkpoint kept. Evaluate afterwards with tasks/evaluate.ts.
    skip_evaluation: bool
    # Keep every checkpoint (retention all). Forced on by training.skip_evaluation; with evaluation on it
    # keeps evaluation and every checkpoint.
    save_all_checkpoints: bool
    # Standard mode: keep the best checkpoint plus this many most recent ones.
    save_total_limit: int
    # After a stop (SIGTERM/SIGINT, the stop file, or the launcher gone: QC_LAUNCHER_PID), the longest the
    # workers keep going to finish the step and save one complete checkpoint; past it they exit without one
    # (an unfinished save stays a hidden .checkpoint-N.tmp, never looks complete).
    stop_grace_seconds: float
    # Resume: null (start fresh), auto (newest complete checkpoint in output_dir), or a checkpoint path.
    resume_from_checkpoint: str | None
    # Tracking of the best checkpoint by an evaluation metric.
    best_model_tracking: BestModelTrackingConfig
    # Evaluation during and at the end of training (standard mode).
    evaluation: EvaluationConfig
    # What each checkpoint holds and how many are kept.
    checkpoint: CheckpointConfig

    KEYS: ClassVar[tuple[str, ...]] = ("output_dir", "epochs", "max_steps", "per_device_batch_size", "gradient_accumulation_steps", "lr", "weight_decay", "warmup_steps", "lr_scheduler", "max_grad_norm", "precision", "gradient_checkpointing", "seed", "logging_steps", "stop_check_steps", "save_steps", "eval_steps", "skip_evaluation", "save_all_checkpoints", "save_total_limit", "stop_grace_seconds", "resume_from_checkpoint", "best_model_tracking", "evaluation", "checkpoint")
    OPTIONAL: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_dict(cls, data: Any, path: str = "") -> "TrainingConfig":
        d = _checked(data, path, cls.KEYS, cls.OPTIONAL)
        return cls(
            output_dir=_scalar(d["output_dir"], _join(path, "output_dir"), str),
            epochs=_scalar(d["epochs"], _join(path, "epochs"), float),
            max_steps=_scalar(d["max_steps"], _join(path, "max_steps"), int),
            per_device_batch_size=_scalar(d["per_device_batch_size"], _join(path, "per_device_batch_size"), int),
            gradient_accumulation_steps=_scalar(d["gradient_accumulation_steps"], _join(path, "gradient_accumulation_steps"), int),
            lr=_scalar(d["lr"], _join(path, "lr"), float),
            weight_decay=_scalar(d["weight_decay"], _join(path, "weight_decay"), float),
            warmup_steps=_scalar(d["warmup_steps"], _join(path, "warmup_steps"), int),
            lr_scheduler=_scalar(d["lr_scheduler"], _join(path, "lr_scheduler"), str),
            max_grad_norm=_scalar(d["max_grad_norm"], _join(path, "max_grad_norm"), float),
            precision=_scalar(d["precision"], _join(path, "precision"), str),
            gradient_checkpointing=_scalar(d["gradient_checkpointing"], _join(path, "gradient_checkpointing"), bool),
            seed=_scalar(d["seed"], _join(path, "seed"), int),
            logging_steps=_scalar(d["logging_steps"], _join(path, "logging_steps"), int),
            stop_check_steps=_scalar(d["stop_check_steps"], _join(path, "stop_check_steps"), int),
            save_steps=_scalar(d["save_steps"], _join(path, "save_steps"), int),
            eval_steps=_scalar(d["eval_steps"], _join(path, "eval_steps"), int),
            skip_evaluation=_scalar(d["skip_evaluation"], _join(path, "skip_evaluation"), bool),
            save_all_checkpoints=_scalar(d["save_all_checkpoints"], _join(path, "save_all_checkpoints"), bool),
            save_total_limit=_scalar(d["save_total_limit"], _join(path, "save_total_limit"), int),
            stop_grace_seconds=_scalar(d["stop_grace_seconds"], _join(path, "stop_grace_seconds"), float),
            resume_from_checkpoint=_scalar(d["resume_from_checkpoint"], _join(path, "resume_from_checkpoint"), (str, None)),
            best_model_tracking=BestModelTrackingConfig.from_dict(d["best_model_tracking"], _join(path, "best_model_tracking")),
            evaluation=EvaluationConfig.from_dict(d["evaluation"], _join(path, "evaluation")),
            checkpoint=CheckpointConfig.from_dict(d["checkpoint"], _join(path, "checkpoint")),
        )


@dataclass(frozen=True, slots=True)
class DeepSpeedConfig:
    """DeepSpeed ZeRO settings; tasks/train.ts writes ds_config.json from these."""

    # ZeRO stage 0-3: 2 shards optimizer state and gradients (the usual choice for 7B), 3 shards parameters
    # too.
    zero_stage: int
    # Keep optimizer state in CPU memory (ZeRO 1-3): fits bigger models, slower steps.
    offload_optimizer: bool
    # Keep parameters in CPU memory (ZeRO 3 only): slowest, smallest GPU footprint.
    offload_param: bool

    KEYS: ClassVar[tuple[str, ...]] = ("zero_stage", "offload_optimizer", "offload_param")
    OPTIONAL: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_dict(cls, data: Any, path: str = "") -> "DeepSpeedConfig":
        d = _checked(data, path, cls.KEYS, cls.OPTIONAL)
        return cls(
            zero_stage=_scalar(d["zero_stage"], _join(path, "zero_stage"), int),
            offload_optimizer=_scalar(d["offload_optimizer"], _join(path, "offload_optimizer"), bool),
            offload_param=_scalar(d["offload_param"], _join(path, "offload_param"), bool),
        )


@dataclass(frozen=True, slots=True)
class WandbConfig:
    """Weights & Biases logging (offline by default: no key, no network)."""

    # Log the same scalars as the event stream to wandb.
    enabled: bool
    # wandb project name.
    project: str
    # wandb run name; empty: derived from output_dir.
    run_name: str
    # offline writes to ./wandb and syncs later; online needs WANDB_API_KEY.
    mode: str
    # Log per-class evaluation metrics to wandb.
    log_dataset_metrics: bool

    KEYS: ClassVar[tuple[str, ...]] = ("enabled", "project", "run_name", "mode", "log_dataset_metrics")
    OPTIONAL: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_dict(cls, data: Any, path: str = "") -> "WandbConfig":
        d = _checked(data, path, cls.KEYS, cls.OPTIONAL)
        return cls(
            enabled=_scalar(d["enabled"], _join(path, "enabled"), bool),
            project=_scalar(d["project"], _join(path, "project"), str),
            run_name=_scalar(d["run_name"], _join(path, "run_name"), str),
            mode=_scalar(d["mode"], _join(path, "mode"), str),
            log_dataset_metrics=_scalar(d["log_dataset_metrics"], _join(path, "log_dataset_metrics"), bool),
        )


@dataclass(frozen=True, slots=True)
class HubConfig:
    """Pushing checkpoints to the Hugging Face Hub during training (tasks/push.ts does it afterwards)."""

    # none | final | best | every_save. Pushes run in the background; training never waits on them.
    push: str
    # Target repository, namespace/name.
    repo_id: str
    # Create the repository as private.
    private: bool
    # Hub URL (https://huggingface.co unless you run a mirror).
    endpoint: str

    KEYS: ClassVar[tuple[str, ...]] = ("push", "repo_id", "private", "endpoint")
    OPTIONAL: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_dict(cls, data: Any, path: str = "") -> "HubConfig":
        d = _checked(data, path, cls.KEYS, cls.OPTIONAL)
        return cls(
            push=_scalar(d["push"], _join(path, "push"), str),
            repo_id=_scalar(d["repo_id"], _join(path, "repo_id"), str),
            private=_scalar(d["private"], _join(path, "private"), bool),
            endpoint=_scalar(d["endpoint"], _join(path, "endpoint"), str),
        )


@dataclass(frozen=True, slots=True)
class DemoConfig:
    """Self-contained demo assets, built locally before launch (no download)."""

    # If model.pretrained_name does not exist, build a tiny random Qwen2.5-VL (with tokenizer and processor)
    # there via save_pretrained.
    build_tiny_model: bool
    # If data.train_jsonl does not exist, write scikit-learn's handwritten digits (1,797 images, 10 classes)
    # as PNG files with a stratified train/validation split.
    build_digits_dataset: bool

    KEYS: ClassVar[tuple[str, ...]] = ("build_tiny_model", "build_digits_dataset")
    OPTIONAL: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_dict(cls, data: Any, path: str = "") -> "DemoConfig":
        d = _checked(data, path, cls.KEYS, cls.OPTIONAL)
        return cls(
            build_tiny_model=_scalar(d["build_tiny_model"], _join(path, "build_tiny_model"), bool),
            build_digits_dataset=_scalar(d["build_digits_dataset"], _join(path, "build_digits_dataset"), bool),
        )


@dataclass(frozen=True, slots=True)
class QwenClassifyConfig:
    """One YAML file drives a qwen-classify run: model, data, training, evaluation, checkpoints, logging and the Hub."""

    # The Qwen2.5-VL backbone and the classification head put on top of it.
    model: ModelConfig
    # The training loss.
    loss: LossConfig
    # Named data set descriptions; data.dataset picks the one this run uses.
    datasets: DatasetsConfig
    # Where the JSONL data lives and how images are turned into model inputs.
    data: DataConfig
    # The optimisation loop, checkpointing and evaluation schedule.
    training: TrainingConfig
    # DeepSpeed ZeRO settings; tasks/train.ts writes ds_config.json from these.
    deepspeed: DeepSpeedConfig
    # Weights & Biases logging (offline by default: no key, no network).
    wandb: WandbConfig
    # Pushing checkpoints to the Hugging Face Hub during training (tasks/push.ts does it afterwards).
    hub: HubConfig
    # Self-contained demo assets, built locally before launch (no download).
    demo: DemoConfig

    KEYS: ClassVar[tuple[str, ...]] = ("model", "loss", "datasets", "data", "training", "deepspeed", "wandb", "hub", "demo")
    OPTIONAL: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_dict(cls, data: Any, path: str = "") -> "QwenClassifyConfig":
        d = _checked(data, path, cls.KEYS, cls.OPTIONAL)
        return cls(
            model=ModelConfig.from_dict(d["model"], _join(path, "model")),
            loss=LossConfig.from_dict(d["loss"], _join(path, "loss")),
            datasets=DatasetsConfig.from_dict(d["datasets"], _join(path, "datasets")),
            data=DataConfig.from_dict(d["data"], _join(path, "data")),
            training=TrainingConfig.from_dict(d["training"], _join(path, "training")),
            deepspeed=DeepSpeedConfig.from_dict(d["deepspeed"], _join(path, "deepspeed")),
            wandb=WandbConfig.from_dict(d["wandb"], _join(path, "wandb")),
            hub=HubConfig.from_dict(d["hub"], _join(path, "hub")),
            demo=DemoConfig.from_dict(d["demo"], _join(path, "demo")),
        )


def load_resolved(path: str | Path) -> tuple[QwenClassifyConfig, str]:
    """(config, config_hash) from OUT/resolved_config.json, as tasks/train.ts writes it."""
    try:
        resolved = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable resolved_config.json ({exc})") from None
    if not isinstance(resolved, dict) or "config" not in resolved:
        raise ConfigError(f"{path}: no \"config\" object; write it with tasks/train.ts")
    return QwenClassifyConfig.from_dict(resolved["config"]), str(resolved.get("config_hash", ""))
