"""DeepSpeed fine-tuning of the Qwen2.5-VL image classifier (one process per rank, under torchrun).

    torchrun ... -m qc_engine.train --resolved OUT/resolved_config.json --ds-config OUT/ds_config.json [--resume auto|PATH]

A recipe, read top to bottom: `TrainRecipe.setup()` builds the distributed layout, checks the input,
builds model, data, DeepSpeed engine and progress state (resuming when asked); `train()` is the loop;
`evaluate_at_end()` the full evaluation; `finish()` the end event. Checkpoint writing lives in
checkpoint.py (CheckpointManager), evaluation records in eval_records.py.

Exit codes (errors.py): 0 completed; 2 bad input before training; 130 stopped on request (checkpoint
saved); 1 anything else. The final `end` event carries the same code as `exit_code`, because torchrun
reports any non-zero worker exit as its own failure.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import random
import signal
import sys
import time

IMPORTS_BEGAN = time.time()  # before torch, transformers and DeepSpeed: the start event's startup timeline

import traceback
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import deepspeed
import numpy as np
import psutil
import torch
import transformers
from torch.utils.data import DataLoader
from transformers import (get_constant_schedule_with_warmup, get_cosine_schedule_with_warmup,
                          get_linear_schedule_with_warmup)
from transformers.integrations import HfDeepSpeedConfig

from . import dist as qd
from .attention import resolve_attn_implementation
from .batching import LengthGroupedSampler, PackedCollator, PaddingMeter, image_token_counts, sample_lengths
from .checkpoint import (CheckpointDir, CheckpointManager, TrainingInfo, base_model_source, best_for_resume,
                         deepspeed_tag, library_versions, list_checkpoints, load_checkpoint_weights, remove_stale_tmp,
                         select_resume_checkpoint)
from .config import QwenClassifyConfig, load_resolved
from .data import (ClassifierCollator, DataError, ImageClassificationDataset, LoadedSplit, ResumableDistributedSampler,
                   config_names_classes, file_sha256, load_class_names, read_jsonl)
from .errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, EXIT_STOPPED, EXIT_TERMINATED, BadInput
from .eval_loop import eval_forward_passes, evaluate_with_predictions, move_batch, seeded_subset
from .eval_records import (PREDICTIONS_FILE, eval_entry, eval_key_for, eval_set_sha256, image_sha256s,
                           prediction_lines, preprocessing_settings, write_eval_results)
from .events import EventLog, start_wandb
from .telemetry import GpuSampler, ModelFlops, peak_flops, write_training_curves
from .lora import ADAPTER_DIR, apply_lora, check_lora_config, lora_info, merged_state_dict, save_adapter
from .metrics import SCALAR_METRICS, scalar_metrics
from .nodes import PEER_LOST_HINT, check_same_launch, peer_lost_message
from .model import (build_classifier, check_model_folder, hub_snapshot_source, load_processing, save_hf_model,
                    torch_dtype_for)
from .resume_check import ResumeLayout, check_resume_layout
from .shared_fs import check_shared_output_dir
from .supersede import refuse_if_in_use, supersede_newer
from .universal import universal_checkpoint
from .watchdog import StopWatch, guard_output


class StopRequested(Exception):
    def __init__(self, code: int = EXIT_STOPPED):
        super().__init__(code)
        self.code = code


@dataclass
class RunState:
    """Everything about progress that a checkpoint must carry (besides DeepSpeed's own state)."""

    step: int = 0
    samples_seen: int = 0
    best_metric_value: float | None = None
    best_checkpoint: str | None = None
    best_step: int | None = None
    loss_sum_since_save: float = 0.0
    steps_since_save: int = 0
    last_eval_step: int | None = None
    last_eval_metrics: dict | None = None
    last_eval_seconds: float | None = None
    last_lr: float = 0.0
    last_grad_norm: float | None = None
    stop_signal: bool = False
    stop_reason: str | None = None
    stop_code: int = EXIT_STOPPED  # 130 Ctrl-C / stop file; 143 SIGTERM or the launcher gone


@dataclass
class Layout:
    """Where this process runs and how a global batch is made of micro-batches."""

    rank: int
    world: int
    device: torch.device
    precision: str
    dtype: torch.dtype
    zero_stage: int
    micro_bs: int
    grad_accum: int

    @property
    def global_batch(self) -> int:
        return self.micro_bs * self.grad_accum * self.world


@dataclass
class CheckedInput:
    """What rank 0 validated before any model is built (broadcast to every rank)."""

    class_names: list[str]
    train: LoadedSplit
    val: LoadedSplit | None
    resume: str | None
    attn_implementation: str = "sdpa"
    resume_info: dict | None = None  # the resume checkpoint's training_info.json
    resume_layout: ResumeLayout | None = None  # how it resumes (resume_check.py): accumulation, universal


@dataclass
class LossWindow:
    """Training loss (a device tensor: read once when logged) and time since the last logged step."""

    loss: torch.Tensor | float = 0.0
    steps: int = 0
    seconds: float = 0.0
    real_tokens: int = 0
    model_flops: float = 0.0  # this rank's (telemetry.ModelFlops), counted on the host


# ==================================================================== building blocks (also used by bench/)

def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m qc_engine.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolved", required=True, help="OUT/resolved_config.json (written by tasks/train.ts)")
    parser.add_argument("--ds-config", required=True, help="OUT/ds_config.json (written by tasks/train.ts)")
    parser.add_argument("--resume", default=None, help="auto | path of a checkpoint-N folder")
    parser.add_argument("--allow-batch-change", action="store_true",
                        help="resume although the global batch differs from the checkpoint's (a warning)")
    parser.add_argument("--config-hash", default=None,
                        help="several nodes: the config hash this node's launcher resolved; every rank checks it "
                             "against resolved_config.json (nodes.check_same_launch)")
    return parser.parse_args(argv)


def precision_from_ds(ds_config: dict) -> str:
    if (ds_config.get("bf16") or {}).get("enabled"):
        return "bf16"
    if (ds_config.get("fp16") or {}).get("enabled"):
        return "fp16"
    return "fp32"


def memory_now(device) -> tuple[int, str]:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device)), "cuda"
    return int(psutil.Process().memory_info().rss), "rss"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def decay_split(model) -> tuple[list[str], list[str]]:
    """Trainable parameter names with and without weight decay. No decay on biases and norm weights (real
    ndim < 2, or "norm" in the name). Under ZeRO-3 (zero.Init) every parameter reports an empty shape, so the
    real one is read from `ds_shape`; otherwise everything would silently land in the no-decay group."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        ndim = len(getattr(param, "ds_shape", param.shape))
        (no_decay if ndim < 2 or "norm" in name.lower() else decay).append(name)
    return decay, no_decay


def build_optimizer(model, lr: float, weight_decay: float):
    """torch AdamW over the groups of decay_split()."""
    params = dict(model.named_parameters())
    decay, no_decay = decay_split(model)
    groups = [{"params": [params[n] for n in decay], "weight_decay": weight_decay},
              {"params": [params[n] for n in no_decay], "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr, betas=(0.9, 0.999), eps=1e-8)


def build_scheduler(optimizer, kind: str, warmup_steps: int, total_steps: int):
    if kind == "cosine":
        return get_cosine_schedule_with_warmup(optimizer, warmup_steps, total_steps)
    if kind == "linear":
        return get_linear_schedule_with_warmup(optimizer, warmup_steps, total_steps)
    return get_constant_schedule_with_warmup(optimizer, warmup_steps)


def skip_single_rank_allreduce(engine, world: int, zero_stage: int) -> None:
    """ZeRO-0 with one process: DeepSpeed's gradient all-reduce is an identity copy; skip it."""
    if world == 1 and zero_stage == 0:
        engine.enable_backward_allreduce = False


def train_step_on_device(engine, optimizer, micro_batches, device, dtype, label_smoothing: float = 0.0):
    """Forward/backward over the micro-batches of one optimizer step, then DeepSpeed's step.

    Returns (mean loss on this rank as a 0-d device tensor, lr used, global grad norm or None): no
    `.item()` here, so the host does not wait for the device; the caller reads the loss when it logs.
    """
    pixel_dtype = dtype if dtype != torch.float32 else None
    loss_sum, lr = None, float(optimizer.param_groups[0]["lr"])
    for batch in micro_batches:
        outputs = engine(**move_batch(batch, device, pixel_dtype), labels=batch["labels"].to(device, non_blocking=True),
                         label_smoothing=label_smoothing)
        engine.backward(outputs.loss)
        if engine.is_gradient_accumulation_boundary():
            lr = float(optimizer.param_groups[0]["lr"])
        engine.step()
        loss = outputs.loss.detach().float()
        loss_sum = loss if loss_sum is None else loss_sum + loss
    grad_norm = engine.get_global_grad_norm()
    return loss_sum / len(micro_batches), lr, grad_norm


def train_step(engine, optimizer, micro_batches, device, dtype, label_smoothing: float = 0.0):
    """train_step_on_device with host floats (bench/ compares losses step by step)."""
    loss, lr, grad_norm = train_step_on_device(engine, optimizer, micro_batches, device, dtype, label_smoothing)
    return float(loss), lr, (float(grad_norm) if grad_norm is not None else None)


def boot_time() -> float | None:
    """Unix time of the boot, to 10 ms (/proc/uptime); None off Linux."""
    try:
        with open("/proc/uptime") as fh:
            return time.time() - float(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def process_start_time(pid: int, boot: float | None = None) -> float | None:
    """Unix time at which process `pid` started, to 10 ms: from /proc (psutil's create_time adds the
    boot time rounded to whole seconds, which can put a process start up to 1 s off time.time()).
    Pass one `boot` for several processes: their start times then keep the kernel's order."""
    boot = boot_time() if boot is None else boot
    try:
        with open(f"/proc/{pid}/stat") as fh:
            ticks = int(fh.read().rsplit(")", 1)[1].split()[19])  # field 22, starttime, in clock ticks since boot
    except (OSError, ValueError, IndexError):  # not Linux, or the process is gone
        return None
    return None if boot is None else boot + ticks / os.sysconf("SC_CLK_TCK")


def startup_marks(imports_done: float) -> dict[str, float]:
    """When this worker started, and its parent (torchrun's agent, or tasks/train.ts itself for one
    process), and how long its imports took: the first marks of the startup timeline (unix seconds)."""
    boot = boot_time()
    marks = {"process_started": process_start_time(os.getpid(), boot), "parent_started": process_start_time(os.getppid(), boot)}
    marks = {k: v for k, v in marks.items() if v is not None}
    marks.setdefault("process_started", IMPORTS_BEGAN)
    return {**marks, "imports_began": IMPORTS_BEGAN, "imports_done": imports_done}


def startup_text(marks: dict[str, float]) -> str:
    """'imports 4.1s, distributed 0.0s, ...': each phase's time since the mark before it."""
    names = [k for k in marks if k.endswith("_done")]
    previous = [marks["imports_began"]] + [marks[k] for k in names[:-1]]
    return ", ".join(f"{k[:-len('_done')].replace('_', ' ')} {marks[k] - t:.1f}s" for k, t in zip(names, previous))


def check_input(config: QwenClassifyConfig, layout: Layout, out: Path, resume_request: str | None,
                needs_val: bool, track_best: bool, allow_batch_change: bool = False) -> CheckedInput:
    """Rank 0, before any model is built: model folder, classes, data, batch geometry, resume target."""
    data, best = config.data, config.training.best_model_tracking
    check_model_folder(config.model.pretrained_name)
    attn = resolve_attn_implementation(config.model.attn_implementation, layout.device)
    check_lora_config(config.model)
    class_names = load_class_names(config)
    if track_best and best.metric not in SCALAR_METRICS:
        raise DataError(f"training.best_model_tracking.metric: {best.metric!r} is not one of "
                        f"{', '.join(SCALAR_METRICS)}")
    resume, plan = check_resume_target(out, resume_request, layout, allow_batch_change)
    accum = plan.grad_accum if plan else layout.grad_accum
    ids_only = not config_names_classes(config)  # then a label must be an id, as prepare checks it
    train_split = read_jsonl(data.train_jsonl, class_names, data.on_bad_sample, names_are_ids=ids_only)
    val_split = (read_jsonl(data.val_jsonl, class_names, data.on_bad_sample, names_are_ids=ids_only)
                 if needs_val else None)
    if len(train_split.samples) < layout.micro_bs * accum * layout.world:
        raise DataError(f"{data.train_jsonl}: {len(train_split.samples)} usable samples, fewer than one "
                        f"global batch of {layout.micro_bs * accum * layout.world} (per_device_batch_size "
                        f"{layout.micro_bs} x gradient_accumulation_steps {accum} x {layout.world} processes)")
    if val_split is not None and not val_split.samples:
        raise DataError(f"{data.val_jsonl}: no usable validation samples")
    return CheckedInput(class_names, train_split, val_split, str(resume.path) if resume else None, attn,
                        resume.info if resume else None, plan)


def check_resume_target(out: Path, request: str | None, layout: Layout,
                        allow_batch_change: bool) -> tuple[CheckpointDir | None, ResumeLayout | None]:
    """Rank 0: the checkpoint to resume (None: a fresh start, refused when OUT holds checkpoints) and how
    (resume_check.py); refused early when newer checkpoints that the resume moves aside are in use."""
    resume = select_resume_checkpoint(out, request)
    if resume is None:
        existing = [c for c in list_checkpoints(out) if c.complete]
        if existing:
            raise BadInput(f"{out} already holds {existing[-1].path.name}; resume with --resume auto "
                           "(training.resume_from_checkpoint: auto) or choose another training.output_dir")
        return None, None
    refuse_if_in_use(out, resume.step)
    plan = check_resume_layout(resume.info, layout.world, layout.micro_bs, layout.grad_accum, layout.zero_stage,
                               allow_batch_change, resume.path.name)
    return resume, plan


# ==================================================================== the recipe

class TrainRecipe:
    """One training run. Later features hook in at one place each: model/optimizer in setup_model() and
    setup_engine(), batching in epoch_loader(), what a checkpoint holds in CheckpointManager."""

    def __init__(self, args):
        self.args = args
        self.state = RunState()
        self.events: EventLog | None = None  # opened in setup(); main() reports errors through it
        self.resumed_from: int | None = None
        self.t_start = time.time()
        self.startup = startup_marks(self.t_start)

    # ---------------------------------------------------------------- setup

    def setup(self) -> None:
        self.config, self.config_hash = load_resolved(self.args.resolved)
        self.base_model = base_model_source(Path(self.args.resolved), self.config.model)  # into training_info.json
        self.ds_config = json.loads(Path(self.args.ds_config).read_text())
        self.out = Path(self.config.training.output_dir)
        self.setup_distributed()
        self.open_event_log()
        self.mark("distributed")
        check_same_launch(self.config_hash, self.args.config_hash, self.args.resume, self.args.allow_batch_change)
        checked = self.check_input_on_rank0()
        self.attn_implementation = checked.attn_implementation
        self.apply_resume_layout(checked.resume_layout)
        self.universal_dir = self.prepare_universal(checked)
        self.mark("input_check")
        self.setup_model(checked.class_names)
        self.mark("model")
        self.setup_data(checked)
        self.mark("data")
        self.setup_engine()
        self.mark("engine")
        if checked.resume:
            self.resume_from(Path(checked.resume))
            self.mark("resume")
        self.announce(checked)

    def mark(self, phase: str) -> None:
        """The end of a setup phase, for the start event's startup timeline."""
        self.startup[f"{phase}_done"] = time.time()

    @property
    def lora(self) -> bool:
        return self.config.model.lora.enabled

    @property
    def skip_eval(self) -> bool:
        return self.config.training.skip_evaluation

    @property
    def track_best(self) -> bool:
        return self.config.training.best_model_tracking.enabled and not self.skip_eval

    @property
    def partial_eval(self) -> bool:
        return self.config.training.evaluation.partial_eval_during_training and not self.skip_eval

    @property
    def full_eval(self) -> bool:
        return self.config.training.evaluation.full_eval_at_end and not self.skip_eval

    def setup_distributed(self) -> None:
        qd.init_deepspeed_distributed()
        ds = self.ds_config
        if torch.cuda.is_available() and os.environ.get("DS_ACCELERATOR", "") != "cpu":
            torch.cuda.set_device(qd.local_rank())
            device = torch.device("cuda", qd.local_rank())
        else:
            device = torch.device("cpu")
        precision = precision_from_ds(ds)
        self.layout = Layout(
            rank=qd.rank(), world=qd.world_size(), device=device, precision=precision,
            dtype=torch_dtype_for(precision), zero_stage=int((ds.get("zero_optimization") or {}).get("stage", 0)),
            # ds_config.json is what DeepSpeed runs with; the config's values are what it was made from
            micro_bs=int(ds.get("train_micro_batch_size_per_gpu", self.config.training.per_device_batch_size)),
            grad_accum=int(ds.get("gradient_accumulation_steps", self.config.training.gradient_accumulation_steps)))

    def open_event_log(self) -> None:
        removed = []
        if qd.is_main():
            self.out.mkdir(parents=True, exist_ok=True)
            removed = remove_stale_tmp(self.out)
        qd.barrier()
        self.events = EventLog(self.out, enabled=qd.is_main())
        check_shared_output_dir(self.out)
        if removed:
            self.events.line(f"removed stale temporary checkpoint folders: {', '.join(removed)}")

        def on_signal(signum, frame):
            self.state.stop_signal = True
            if signum == signal.SIGTERM:  # a scheduler's preemption, not a user's request: exit 143
                self.state.stop_code, self.state.stop_reason = EXIT_TERMINATED, "SIGTERM"
            self.stopwatch.stop_began()

        self.stopwatch = StopWatch.from_env(self.launcher_lost, self.config.training.stop_grace_seconds).start()
        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)

    def launcher_lost(self, why: str) -> None:
        """The StopWatch thread: the launcher died (kill -9, OOM). Its pipes are gone with it, so output
        goes to /dev/null from now on (events.jsonl still records the stop); then stop as on SIGTERM."""
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        self.state.stop_reason, self.state.stop_code = why, EXIT_TERMINATED
        self.state.stop_signal = True

    def check_input_on_rank0(self) -> CheckedInput:
        request = self.args.resume if self.args.resume is not None else self.config.training.resume_from_checkpoint
        needs_val = self.track_best or self.partial_eval or self.full_eval
        result = None
        if qd.is_main():
            try:
                result = {"ok": True, "checked": check_input(self.config, self.layout, self.out, request, needs_val,
                                                             self.track_best, self.args.allow_batch_change)}
            except ValueError as exc:  # BadInput and friends; a ValueError from a library is bad input too
                result = {"ok": False, "message": str(exc), "hint": getattr(exc, "hint", None)}
        result = qd.broadcast_object(result)
        if not result["ok"]:
            raise BadInput(result["message"], hint=result["hint"])
        checked: CheckedInput = result["checked"]
        for split in (checked.train, checked.val):
            if split is not None and split.skipped:
                self.events.line(f"data: skipped {len(split.skipped)} bad line(s) in {split.path} "
                                 f"(data.on_bad_sample: skip); first: {split.skipped[0]}")
        return checked

    def setup_model(self, class_names: list[str]) -> None:
        model_cfg, data_cfg, layout = self.config.model, self.config.data, self.layout
        seed_everything(self.config.training.seed)
        if not (layout.rank == 0 or os.environ.get("QC_VERBOSE")):
            transformers.logging.set_verbosity_error()
        # ZeRO-3: transformers builds the model inside deepspeed.zero.Init (each rank holds only its
        # shard) while this object is alive.
        self._zero3_init = HfDeepSpeedConfig(self.ds_config) if layout.zero_stage == 3 else None
        self.class_names = class_names
        self.model = build_classifier(
            model_cfg.pretrained_name, class_names, pooling=model_cfg.pooling,
            freeze_vision_tower=model_cfg.freeze_vision_tower, precision=layout.precision,
            trust_remote_code=model_cfg.trust_remote_code,
            gradient_checkpointing=self.config.training.gradient_checkpointing, seed=self.config.training.seed,
            attn_implementation=self.attn_implementation)
        if self.lora:  # base frozen; only the adapters and the head (modules_to_save) reach the optimizer
            self.model = apply_lora(self.model, model_cfg.lora, model_cfg.pretrained_name,
                                    self.config.training.gradient_checkpointing)
        self.tokenizer, self.image_processor = load_processing(
            model_cfg.pretrained_name, data_cfg.image_min_pixels, data_cfg.image_max_pixels, model_cfg.trust_remote_code)

    def setup_data(self, checked: CheckedInput) -> None:
        train_cfg, layout = self.config.training, self.layout
        self.collator = ClassifierCollator(self.tokenizer, self.image_processor, self.config.data.prompt)
        # evaluation always runs padded batches; only training micro-batches are packed
        self.train_collator = (PackedCollator(self.collator, self.model.config)
                               if self.config.data.batching == "packed" else self.collator)
        self.train_split, self.val_split = checked.train, checked.val
        self.train_set = ImageClassificationDataset(checked.train.samples)
        self.val_set = ImageClassificationDataset(checked.val.samples) if checked.val is not None else None
        # training.evaluation.batch_size 0 means twice the training micro-batch (schema)
        self.eval_bs = train_cfg.evaluation.batch_size or layout.micro_bs * 2
        self.partial_indices = (seeded_subset(len(self.val_set), train_cfg.evaluation.partial_eval_samples,
                                              train_cfg.seed) if self.val_set is not None else [])
        self.eval_ids, self.val_jsonl_sha = self.eval_identities()
        self.steps_per_epoch = (len(self.train_set) // layout.world) // layout.micro_bs // layout.grad_accum
        if self.steps_per_epoch < 1:
            raise BadInput(f"{self.config.data.train_jsonl}: too few samples for one optimizer step per epoch")
        self.total_steps = (train_cfg.max_steps if train_cfg.max_steps > 0
                            else max(1, math.ceil(train_cfg.epochs * self.steps_per_epoch)))
        loss = self.config.loss
        self.label_smoothing = loss.smoothing if loss.type == "label_smoothing" else 0.0
        self.sampler = self.build_sampler()
        self.loader = self.build_loader(self.sampler)
        self.padding_epoch, self.padding_run = PaddingMeter(), PaddingMeter()
        self.flops = ModelFlops.from_model(self.model)
        self.peak_flops = self.peak_flops_per_rank()
        self.times = {"data_wait": 0.0, "compute": 0.0, "checkpoint": 0.0, "evaluation": 0.0}

    def peak_flops_per_rank(self) -> float | None:
        """The datasheet bf16/fp16 peak of this rank's GPU; None on the CPU, in fp32 or for an unknown GPU."""
        layout = self.layout
        if layout.device.type != "cuda" or layout.precision == "fp32":
            return None
        peak, note = peak_flops(torch.cuda.get_device_name(layout.device))
        if peak is None:
            self.events.line(f"mfu: not reported ({note})")
        return peak

    def build_sampler(self):
        """data.batching: padded and packed (seeded shuffle; see batching.py for why packed does not group by
        length) or length_grouped (similar token counts per micro-batch)."""
        layout, seed = self.layout, self.config.training.seed
        if self.config.data.batching == "length_grouped":
            lengths = image_token_counts([s.image for s in self.train_split.samples], self.image_processor)
            return LengthGroupedSampler(lengths, layout.world, layout.rank, layout.micro_bs, seed, layout.grad_accum)
        return ResumableDistributedSampler(self.train_set, layout.world, layout.rank, seed=seed)

    def build_loader(self, sampler) -> DataLoader:
        """One DataLoader for the run: its workers persist across epochs (the sampler's epoch and start
        index are read each time an epoch's iterator is made); pinned host memory on the GPU."""
        data = self.config.data
        workers = {"persistent_workers": True, "prefetch_factor": data.prefetch_factor} if data.num_workers > 0 else {}
        return DataLoader(self.train_set, batch_size=self.layout.micro_bs, sampler=sampler,
                          collate_fn=self.train_collator,
                          num_workers=data.num_workers, drop_last=True, pin_memory=self.layout.device.type == "cuda",
                          **workers)

    def eval_identities(self) -> tuple[dict, str | None]:
        """Rank 0: evaluation-set identities for eval_results.json, the scheme of qc_engine.evaluate: key
        "<split>:<sha16 of labels + image bytes>", so its skip logic recognises the full evaluation."""
        if self.val_set is None or not qd.is_main():
            return {}, None
        samples = self.val_split.samples
        hashed = sorted(set(range(len(samples))) if self.full_eval else set(self.partial_indices))
        image_hash = dict(zip(hashed, image_sha256s([samples[i] for i in hashed])))

        def identity(split: str, indices) -> dict:
            sha = eval_set_sha256([samples[i] for i in indices], [image_hash[i] for i in indices])
            return {"data_sha256": sha, "key": eval_key_for(sha, split)}

        ids = {"partial": identity("partial", self.partial_indices)}
        if self.full_eval:
            ids["full"] = identity("full", range(len(samples)))
        return ids, file_sha256(self.config.data.val_jsonl)

    def setup_engine(self) -> None:
        train_cfg, layout = self.config.training, self.layout
        self.optimizer = build_optimizer(self.model, train_cfg.lr, train_cfg.weight_decay)
        scheduler = build_scheduler(self.optimizer, train_cfg.lr_scheduler, train_cfg.warmup_steps, self.total_steps)
        self.engine, _, _, _ = deepspeed.initialize(model=self.model, optimizer=self.optimizer,
                                                    lr_scheduler=scheduler, config=self.ds_config,
                                                    dist_init_required=False)
        skip_single_rank_allreduce(self.engine, layout.world, layout.zero_stage)
        self.ckpt = CheckpointManager(
            out=self.out, engine=self.engine, rank=layout.rank, zero_stage=layout.zero_stage,
            with_hf_model=train_cfg.checkpoint.hf_format not in ("deferred", "adapter"), save_hf=self.save_hf_model,
            with_adapter=self.lora,
            run_files={"resolved_config.json": self.args.resolved,
                       "ds_config.json": self.ds_effective or self.args.ds_config})

    def save_hf_model(self, folder: Path, gathered: dict | None) -> None:
        """hf_model/ (merged, for LoRA) when the checkpoint has one; LoRA's adapter/ beside it."""
        module = self.engine.module
        if self.lora:
            save_adapter(folder.parent / ADAPTER_DIR, module, gathered)
            if not self.ckpt.with_hf_model:
                return
            gathered, module = merged_state_dict(module, gathered), module.get_base_model()
        save_hf_model(folder, module, self.tokenizer, self.image_processor, state_dict=gathered,
                      source_dir=self.config.model.pretrained_name)

    def lora_block(self) -> dict | None:
        """training_info.json's "lora": what was trained and on which base (the Hub commit when known)."""
        if not self.lora:
            return None
        name = self.config.model.pretrained_name
        snapshot = hub_snapshot_source(name)
        return lora_info(self.config.model.lora, snapshot["repo_id"] if snapshot else name, self.ckpt.with_hf_model,
                         snapshot["commit"] if snapshot else None)

    def apply_resume_layout(self, plan: ResumeLayout | None) -> None:
        """Before anything is built: the accumulation that keeps the checkpoint's global batch on this process
        count, and DeepSpeed's universal loading (checkpoint.load_universal) when its ZeRO state needs it."""
        self.ds_effective = None  # the ds_config as run, when it differs from the file (copied into checkpoints)
        if plan is None:
            return
        for line in plan.lines:
            self.events.line(line)
        if plan.grad_accum != self.layout.grad_accum:
            self.layout.grad_accum = plan.grad_accum
            self.ds_config["gradient_accumulation_steps"] = plan.grad_accum
            if "train_batch_size" in self.ds_config:  # DeepSpeed checks micro x accumulation x world against it
                self.ds_config["train_batch_size"] = self.layout.global_batch
            self.ds_effective = json.loads(json.dumps(self.ds_config))
        if plan.universal:
            self.ds_config.setdefault("checkpoint", {})["load_universal"] = True

    def prepare_universal(self, checked: CheckedInput) -> Path | None:
        """Rank 0 converts (or reuses) the resume checkpoint's universal form (universal.py); every rank
        gets its path. Errors are everyone's: bad input exits 2 on all ranks."""
        if not (checked.resume_layout and checked.resume_layout.universal):
            return None
        ckpt, step = Path(checked.resume), int(checked.resume_info["step"])
        result = None
        if qd.is_main():
            t0 = time.time()
            try:
                path, converted = universal_checkpoint(ckpt, deepspeed_tag(step), checked.resume_info,
                                                       self.out / "logs" / f"ds_to_universal-{step}.log")
                result = {"ok": True, "path": str(path), "converted": converted, "seconds": time.time() - t0}
            except Exception as exc:  # noqa: BLE001 - reported on every rank below
                result = {"ok": False, "bad": isinstance(exc, BadInput), "message": str(exc),
                          "hint": getattr(exc, "hint", None), "kind": type(exc).__name__}
        result = qd.broadcast_object(result)
        if not result["ok"]:
            if result["bad"]:
                raise BadInput(result["message"], hint=result["hint"])
            raise RuntimeError(f"{result['kind']}: {result['message']}")
        how = (f"converted in {result['seconds']:.1f}s (log: {self.out / 'logs' / f'ds_to_universal-{step}.log'})"
               if result["converted"] else "reused (already converted from these files)")
        self.events.line(f"universal checkpoint {result['path']}: {how}")
        return Path(result["path"])

    def resume_from(self, ckpt: Path) -> None:
        state = self.state
        info = self.ckpt.load_for_resume(ckpt, universal_dir=self.universal_dir)
        if self.universal_dir is not None:  # later loads (the best checkpoint at the end) read the usual format
            self.engine._config.load_universal_checkpoint = False
        self.supersede_newer(int(info["step"]))
        self.resumed_from = state.step = int(info["step"])
        state.samples_seen = int(info.get("samples_seen", state.step * self.layout.global_batch))
        metric = self.config.training.best_model_tracking.metric if self.track_best else None
        best = qd.broadcast_object(best_for_resume(self.out, state.step, metric) if qd.is_main() else None)
        if best:
            state.best_metric_value, state.best_checkpoint, state.best_step = best["value"], best["path"], best["step"]
        if info.get("eval_metrics"):
            state.last_eval_step, state.last_eval_metrics = state.step, info["eval_metrics"]

    def supersede_newer(self, step: int) -> None:
        """Rank 0: OUT's checkpoints newer than the resumed one move to OUT/superseded-<time>/ (supersede.py),
        so that this run's saves of those steps never meet an existing folder."""
        result = None
        if qd.is_main():
            try:
                dest, moved = supersede_newer(self.out, step)
                result = {"ok": True, "dest": str(dest) if dest else None, "moved": moved}
            except BadInput as exc:
                result = {"ok": False, "message": str(exc), "hint": exc.hint}
        result = qd.broadcast_object(result)
        if not result["ok"]:
            raise BadInput(result["message"], hint=result["hint"])
        if result["moved"]:
            self.events.line(f"resume from checkpoint-{step}: the newer {', '.join(result['moved'])} of the run it "
                             f"replaces moved to {result['dest']} (kept, not deleted; remove that folder when no "
                             f"longer needed)")

    def announce(self, checked: CheckedInput) -> None:
        layout, events = self.layout, self.events
        events.wandb = start_wandb(self.config, self.out) if qd.is_main() else None
        events.emit("start", world_size=layout.world, total_steps=self.total_steps,
                    steps_per_epoch=self.steps_per_epoch, epochs=self.total_steps / self.steps_per_epoch,
                    num_train_samples=len(self.train_set),
                    num_val_samples=len(self.val_set) if self.val_set is not None else 0,
                    global_batch_size=layout.global_batch, resumed_from_step=self.resumed_from,
                    precision=layout.precision, zero_stage=layout.zero_stage,
                    skipped_samples=sum(len(s.skipped) for s in (checked.train, checked.val) if s is not None),
                    startup=self.startup)
        events.line(f"training: {len(self.train_set)} samples, {self.total_steps} steps ({self.steps_per_epoch}/epoch), "
                    f"global batch {layout.global_batch} = {layout.micro_bs} x {layout.grad_accum} x {layout.world} "
                    f"processes, {layout.precision}, ZeRO {layout.zero_stage}, device {layout.device.type}"
                    + (f", resumed from step {self.resumed_from}" if self.resumed_from is not None else ""))
        if self.config.data.batching == "packed" and self.attn_implementation != "flash_attention_2":
            events.line(f"data.batching packed with {self.attn_implementation}: samples are kept apart by a "
                        "block-diagonal mask over the packed row (attention computes the square of the packed "
                        "length); flash_attention_2 runs the variable-length kernel instead")

    # ---------------------------------------------------------------- the loop

    def train(self) -> None:
        state, layout = self.state, self.layout
        self.engine.train()
        window = LossWindow()
        self.events.line(f"setup took {time.time() - self.t_start:.1f}s after the imports ({startup_text(self.startup)})")
        self.t_loop = time.time()
        self.gpu = GpuSampler() if qd.is_main() and layout.device.type == "cuda" else None
        while state.step < self.total_steps:
            batches = self.epoch_loader()
            step_in_epoch = state.step % self.steps_per_epoch
            for _ in range(min(self.steps_per_epoch - step_in_epoch, self.total_steps - state.step)):
                t_step = time.time()
                micro_batches = [next(batches) for _ in range(layout.grad_accum)]
                t_data = time.time()
                for batch in micro_batches:  # host tensors: counting costs no device sync
                    self.count_tokens(batch, window)
                step_loss, state.last_lr, state.last_grad_norm = train_step_on_device(
                    self.engine, self.optimizer, micro_batches, layout.device, layout.dtype, self.label_smoothing)
                state.step += 1
                state.samples_seen += layout.global_batch
                state.loss_sum_since_save = state.loss_sum_since_save + step_loss
                state.steps_since_save += 1
                window.loss = window.loss + step_loss
                window.steps += 1
                # compute time is measured up to the next host sync (logging), so it includes queued device work
                self.times["data_wait"] += t_data - t_step
                self.times["compute"] += time.time() - t_data
                window.seconds += time.time() - t_step
                if state.step % self.config.training.logging_steps == 0 or state.step == self.total_steps:
                    self.log_step(window)
                    window = LossWindow()
                self.after_step()
        if state.step not in self.ckpt.saved_steps:  # e.g. resumed from the final checkpoint
            self.save_checkpoint(is_final=True)

    def count_tokens(self, batch: dict, window: LossWindow) -> None:
        """Padding (epoch and run), real tokens and model FLOPs of one collated micro-batch (host ints)."""
        lengths = sample_lengths(batch)
        real, total = sum(lengths), int(batch["input_ids"].numel())
        self.padding_epoch.add(real, total)
        self.padding_run.add(real, total)
        window.real_tokens += real
        window.model_flops += self.flops.batch(batch["image_grid_thw"], lengths)

    def epoch_loader(self):
        """An iterator over the rest of the current epoch, from the first sample not yet trained on (resume-exact)."""
        layout = self.layout
        if self.state.step % self.steps_per_epoch == 0:
            self.padding_epoch = PaddingMeter()
        self.sampler.set_epoch(self.state.step // self.steps_per_epoch)
        self.sampler.set_start_index((self.state.step % self.steps_per_epoch) * layout.grad_accum * layout.micro_bs)
        return iter(self.loader)

    def after_step(self) -> None:
        """Partial evaluation, a stop request (saved, then exit 130), the periodic checkpoint."""
        state, train_cfg = self.state, self.config.training
        if self.partial_eval and state.step % train_cfg.eval_steps == 0:
            self.partial_eval_now()
        # the stop file on rank 0, signals on every rank: agreed by all ranks every stop_check_steps steps
        # and on steps that may save anyway (a collective is a host sync); one process needs no agreement
        saving = state.step % train_cfg.save_steps == 0 or state.step == self.total_steps
        stop_local = state.stop_signal or (qd.is_main() and (self.out / ".stop_requested").exists())
        if self.layout.world == 1:
            stop = stop_local
        else:
            check = saving or state.step % train_cfg.stop_check_steps == 0
            stop = check and self.agree_on_stop(stop_local)
        if stop:
            self.stopwatch.stop_began()  # bounded by training.stop_grace_seconds from here
            why = f" ({state.stop_reason})" if state.stop_reason else ""
            self.events.line(f"stop requested{why}: saving checkpoint-{state.step} and exiting")
            self.save_checkpoint(is_final=state.step == self.total_steps)
            self.stopwatch.finished = True
            raise StopRequested(state.stop_code)
        if state.step % train_cfg.save_steps == 0 or state.step == self.total_steps:
            self.save_checkpoint(is_final=state.step == self.total_steps)

    def agree_on_stop(self, stop_local: bool) -> bool:
        """All ranks: stop when any rank asks, with the strongest code (143 over 130). A rank that did not ask itself
        records why (its node's launcher may be gone: on another node of several, the only sign rank 0 gets)."""
        state = self.state
        agreed = qd.all_reduce_max_int(state.stop_code if stop_local else 0, self.layout.device)
        if agreed and not stop_local:
            state.stop_reason = ("another rank stopped (its launcher is gone, or it got SIGTERM)" if agreed == EXIT_TERMINATED
                                 else "another rank was asked to stop")
        if agreed:
            state.stop_code = agreed
        return agreed > 0

    def log_step(self, window: LossWindow) -> None:
        state, events, device = self.state, self.events, self.layout.device
        # the one host read of the window's losses (and of the grad norm)
        loss = qd.all_reduce_mean(float(window.loss) / window.steps, device)
        if state.last_grad_norm is not None:
            state.last_grad_norm = float(state.last_grad_norm)
        samples_per_s = window.steps * self.layout.global_batch / max(window.seconds, 1e-9)
        tokens_per_s = window.real_tokens * self.layout.world / max(window.seconds, 1e-9)  # rank 0's count x world
        flops_per_s = window.model_flops / max(window.seconds, 1e-9)  # rank 0's: MFU is per GPU
        mfu = flops_per_s / self.peak_flops if self.peak_flops else None
        model_tflops = flops_per_s * self.layout.world / 1e12
        mem, mem_kind = memory_now(device)
        epoch = state.step / self.steps_per_epoch
        extra = {}
        gpu = self.gpu.read() if self.gpu is not None else {}
        if gpu:
            extra["gpu"] = gpu
            events.scalars({f"gpu/{i}/{k}": v for i, d in gpu.items() for k, v in d.items()}, state.step)
        if state.step % self.steps_per_epoch == 0:
            extra["epoch_padding_fraction"] = self.padding_epoch.fraction
        events.emit("step", step=state.step, total_steps=self.total_steps, epoch=epoch, loss=loss,
                    lr=state.last_lr, grad_norm=state.last_grad_norm, samples_per_s=samples_per_s,
                    memory_bytes=mem, memory_kind=mem_kind, tokens_per_s=tokens_per_s,
                    padding_fraction=self.padding_epoch.fraction, model_tflops_per_s=model_tflops, mfu=mfu, **extra)
        events.scalars({"train/loss": loss, "train/lr": state.last_lr, "train/grad_norm": state.last_grad_norm,
                        "train/samples_per_s": samples_per_s, "train/epoch": epoch, "train/memory_bytes": mem,
                        "train/tokens_per_s": tokens_per_s, "train/padding_fraction": self.padding_epoch.fraction,
                        "train/model_tflops_per_s": model_tflops, "train/mfu": mfu}, state.step)
        gn = f"{state.last_grad_norm:.3f}" if state.last_grad_norm is not None else "n/a"
        events.line(f"step {state.step}/{self.total_steps} | epoch {epoch:.2f} | loss {loss:.4f} | "
                    f"lr {state.last_lr:.2e} | grad_norm {gn} | {samples_per_s:.1f} samples/s | {tokens_per_s:.0f} tokens/s | "
                    + (f"MFU {mfu:.1%} | " if mfu is not None else "")
                    + f"padding {self.padding_epoch.fraction:.1%} | mem {mem / 2**30:.1f} GiB")

    # ---------------------------------------------------------------- evaluation

    def run_eval(self, split: str):
        """(metrics, (logits, labels, indices), seconds) on every rank."""
        indices = self.partial_indices if split == "partial" else list(range(len(self.val_set)))
        dtype = self.layout.dtype
        t0 = time.time()
        metrics, logits, labels, idx = evaluate_with_predictions(
            self.engine, self.val_set, indices, self.collator, self.eval_bs, self.layout.device, self.class_names,
            dtype=dtype if dtype != torch.float32 else None, num_workers=self.config.data.num_workers)
        metrics["labels"] = list(self.class_names)
        self.times["evaluation"] += time.time() - t0
        return metrics, (logits, labels, idx), round(time.time() - t0, 3)

    def record_eval(self, ckpt_dir: Path, split: str, metrics: dict, step: int, seconds, weights: str,
                    predicted=None) -> None:
        """Rank 0: the eval_results.json entry (+ predictions.jsonl lines when `predicted`), as evaluate.py writes."""
        ids, layout = self.eval_ids[split], self.layout
        entry = eval_entry(split=split, data=self.config.data.val_jsonl, data_sha256=ids["data_sha256"],
                           jsonl_sha256=self.val_jsonl_sha, metrics=metrics, step=step,
                           preprocessing=preprocessing_settings(self.config), weights=weights,
                           world_size=layout.world, batch_size=self.eval_bs, precision=layout.precision,
                           predictions=PREDICTIONS_FILE if predicted is not None else None, seconds=seconds)
        lines = (prediction_lines(*predicted, self.val_split.samples, self.class_names, ids["key"])
                 if predicted is not None else None)
        write_eval_results(ckpt_dir, ids["key"], entry, lines)

    def partial_eval_now(self) -> dict:
        state, events = self.state, self.events
        metrics, _, seconds = self.run_eval("partial")
        state.last_eval_step, state.last_eval_metrics, state.last_eval_seconds = state.step, metrics, seconds
        scalars = scalar_metrics(metrics)
        events.emit("eval", step=state.step, split="partial", num_samples=metrics["num_samples"], metrics=scalars,
                    checkpoint=None, seconds=seconds, eval_key=self.eval_ids.get("partial", {}).get("key"))
        events.scalars({f"eval/{k}": v for k, v in scalars.items()}, state.step)
        events.line(f"eval step {state.step} (partial, {metrics['num_samples']} samples) | "
                    + " | ".join(f"{k} {v:.4f}" for k, v in scalars.items()))
        return metrics

    def evaluate_at_end(self) -> None:
        """Full evaluation of the final (or, with eval_best_model_only, the best) checkpoint."""
        if not self.full_eval:
            return
        state, events = self.state, self.events
        final = self.out / f"checkpoint-{state.step}"
        target, weights = final, "training"  # the engine's weights in memory
        if self.config.training.evaluation.eval_best_model_only and state.best_checkpoint:
            target = Path(state.best_checkpoint)
            if state.best_step != state.step:
                weights = load_checkpoint_weights(self.engine, target, state.best_step, self.layout.zero_stage,
                                                  strict=not self.lora)  # LoRA: deepspeed/ lacks the frozen base
        metrics, predicted, seconds = self.run_eval("full")
        evaluated_step = state.best_step if target != final else state.step
        if qd.is_main():
            self.record_eval(target, "full", metrics, evaluated_step, seconds, weights, predicted)
        scalars = scalar_metrics(metrics)
        events.emit("eval", step=evaluated_step, split="full", num_samples=metrics["num_samples"], metrics=scalars,
                    checkpoint=str(target), seconds=seconds, eval_key=self.eval_ids.get("full", {}).get("key"))
        events.scalars({f"eval_full/{k}": v for k, v in scalars.items()}, state.step)
        events.line(f"full eval of {target.name} ({metrics['num_samples']} samples) | "
                    + " | ".join(f"{k} {v:.4f}" for k, v in scalars.items()))

    # ---------------------------------------------------------------- checkpoints

    def metrics_for_save(self, step: int) -> tuple[dict | None, bool]:
        """The evaluation a checkpoint records (run now when best tracking needs it), and whether it is the best."""
        state, best = self.state, self.config.training.best_model_tracking
        if not self.track_best:
            return (state.last_eval_metrics if state.last_eval_step == step else None), False
        if state.last_eval_step != step:
            self.partial_eval_now()
        metrics = state.last_eval_metrics
        value = float(metrics[best.metric])
        better = (state.best_metric_value is None
                  or (value > state.best_metric_value if best.greater_is_better else value < state.best_metric_value))
        if better:
            state.best_metric_value, state.best_checkpoint, state.best_step = value, str(self.ckpt.final_dir(step)), step
        return metrics, better

    def training_info(self, step: int, metrics: dict | None, is_final: bool, is_best: bool) -> TrainingInfo:
        state, layout = self.state, self.layout
        return TrainingInfo(
            step=step, epoch=step / self.steps_per_epoch, samples_seen=state.samples_seen,
            train_loss=float(state.loss_sum_since_save) / max(1, state.steps_since_save), lr=state.last_lr,
            grad_norm=float(state.last_grad_norm) if state.last_grad_norm is not None else None, eval_metrics=scalar_metrics(metrics) if metrics else None,
            metric_name=self.config.training.best_model_tracking.metric if self.track_best else None,
            is_final=is_final, is_best=is_best, wall_time_s=time.time() - self.t_start, world_size=layout.world,
            zero_stage=layout.zero_stage, precision=layout.precision, config_hash=self.config_hash,
            num_labels=len(self.class_names), id2label={str(i): n for i, n in enumerate(self.class_names)},
            versions=library_versions(), created_at=datetime.now(timezone.utc).isoformat(),
            has_deepspeed_state=True, has_hf_model=self.ckpt.with_hf_model,
            attn_implementation=self.attn_implementation, lora=self.lora_block(), base_model=self.base_model,
            per_device_batch_size=layout.micro_bs, gradient_accumulation_steps=layout.grad_accum,
            global_batch=layout.global_batch)

    def save_checkpoint(self, is_final: bool) -> None:
        state, step = self.state, self.state.step
        if step in self.ckpt.saved_steps:
            return
        t0, eval_before = time.time(), self.times["evaluation"]
        metrics, is_best = self.metrics_for_save(step)
        metric = self.config.training.best_model_tracking.metric

        def add_eval_record(tmp: Path) -> None:
            if metrics is not None:
                self.record_eval(tmp, "partial", metrics, step, state.last_eval_seconds, weights="training")

        best = ({"path": str(self.ckpt.final_dir(step)), "step": step, "metric": metric,
                 "value": state.best_metric_value} if is_best else None)
        path, total_bytes = self.ckpt.save(step, lambda: self.training_info(step, metrics, is_final, is_best),
                                           add_eval_record, best)
        state.loss_sum_since_save, state.steps_since_save = 0.0, 0
        seconds = time.time() - t0
        self.times["checkpoint"] += seconds - (self.times["evaluation"] - eval_before)
        self.events.emit("checkpoint", step=step, path=str(path), bytes=total_bytes, seconds=seconds,
                         is_final=is_final, is_best=is_best,
                         metric=(float(metrics[metric]) if (self.track_best and metrics) else None))
        self.events.line(f"checkpoint {path.name} saved in {seconds:.1f}s ({total_bytes / 2**20:.1f} MiB)"
                         + (" [best]" if is_best else ""))

    # ---------------------------------------------------------------- the end

    def finish(self) -> None:
        state, best = self.state, self.config.training.best_model_tracking
        passes = qd.all_reduce_sum_int(eval_forward_passes(), self.layout.device)
        split = self.time_split()
        self.events.emit("end", status="completed", step=state.step, best_checkpoint=state.best_checkpoint,
                         exit_code=EXIT_OK, eval_forward_passes=passes, wall_time_s=time.time() - self.t_start,
                         padding_fraction=self.padding_run.fraction, time_split_s=split)
        self.events.line("time split: " + ", ".join(f"{k} {v:.1f}s" for k, v in split.items())
                         + f"; padding {self.padding_run.fraction:.1%} of training tokens ({self.config.data.batching})")
        if getattr(self, "gpu", None) is not None:
            self.gpu.close()
        if qd.is_main():
            png = write_training_curves(self.out / "logs" / "events.jsonl", self.out / "logs" / "training_curves.png")
            if png:
                self.events.line(f"training curves: {png}")
        self.events.line(f"done: {state.step} steps in {time.time() - self.t_start:.1f}s"
                         + (f"; best {state.best_checkpoint} ({best.metric} {state.best_metric_value:.4f})"
                            if state.best_checkpoint else ""))

    def time_split(self) -> dict:
        """Rank 0's wall time: setup, data wait, compute (forward/backward/step), checkpoint saves, evaluation,
        and the rest (logging, collectives); the parts sum to wall_time_s."""
        now = time.time()
        split = {"setup": getattr(self, "t_loop", now) - self.t_start, **{k: v for k, v in self.times.items()}}
        split["other"] = max(0.0, (now - self.t_start) - sum(split.values()))
        return {k: round(v, 3) for k, v in split.items()}

    def report_stopped(self, code: int) -> None:
        if self.events is None:
            return
        state = self.state
        self.events.emit("end", status="interrupted", step=state.step, best_checkpoint=state.best_checkpoint,
                         exit_code=code, eval_forward_passes=eval_forward_passes())
        self.events.line(f"stopped at step {state.step} (interrupted)")

    def report_error(self, message: str, code: int, hint: str | None = None, every_rank: bool = False) -> None:
        """`every_rank`: printed by each rank (a lost peer: rank 0, the usual reporter, may be the one gone)."""
        if qd.is_main() or every_rank:
            print(message if message.startswith("error:") else f"error: {message}", file=sys.stderr, flush=True)
            if hint:
                print(f"hint: {hint}", file=sys.stderr, flush=True)
        if self.events is None:  # failed before the event log was opened: the message above is all
            return
        state = self.state
        self.events.emit("error", message=message.removeprefix("error: "), exit_code=code,
                         **({"hint": hint} if hint else {}))
        self.events.emit("end", status="failed", step=state.step, best_checkpoint=state.best_checkpoint,
                         exit_code=code, eval_forward_passes=eval_forward_passes())


# ==================================================================== entry point

def main(argv=None) -> int:
    guard_output()  # the launcher may be killed while we print (watchdog.QuietOnLostPipe)
    # What the imports made (torch, transformers, DeepSpeed: ~430k objects) lives as long as the process.
    # Frozen, the collector no longer scans it in each full collection: the first one otherwise lands
    # in setup (0.3-1 s here, in the input check's image pass: BENCHMARKS.md, start-up).
    gc.freeze()
    recipe = TrainRecipe(parse_args(argv))
    code = EXIT_FAILED
    try:
        recipe.setup()
        recipe.train()
        recipe.evaluate_at_end()
        recipe.finish()
        code = EXIT_OK
    except StopRequested as stop:
        code = stop.code
        recipe.report_stopped(code)
    except BadInput as exc:
        code = EXIT_BAD_INPUT
        recipe.report_error(f"error: {exc}", code, hint=exc.hint)
    except Exception as exc:  # noqa: BLE001 - any failure ends the run with an error event
        code = EXIT_FAILED
        lost = peer_lost_message(exc)
        if lost is None:
            traceback.print_exc()
        recipe.report_error(lost or f"{type(exc).__name__}: {exc}", code, hint=PEER_LOST_HINT if lost else None,
                            every_rank=lost is not None)
    if recipe.events is not None:
        recipe.events.close()
    qd.exit_process(code, ok_code=EXIT_OK)


if __name__ == "__main__":
    sys.exit(main())
