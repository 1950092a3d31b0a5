"""DeepSpeed fine-tuning of the Qwen2.5-VL image classifier (one process per rank, under torchrun).

    torchrun ... -m qc_engine.train --resolved OUT/resolved_config.json --ds-config OUT/ds_config.json [--resume auto|PATH]

Exit codes: 0 completed; 2 bad input before training; 130 stopped on request (checkpoint saved);
1 anything else. The final `end` event carries the same code as `exit_code`, because torchrun
reports any non-zero worker exit as its own failure.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_STOPPED = 0, 1, 2, 130


class StopRequested(Exception):
    pass


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
    last_loss: float | None = None
    stop_signal: bool = False
    saved_steps: set = field(default_factory=set)


# ==================================================================== arguments + config

def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m qc_engine.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolved", required=True, help="OUT/resolved_config.json (written by tasks/train.ts)")
    parser.add_argument("--ds-config", required=True, help="OUT/ds_config.json (written by tasks/train.ts)")
    parser.add_argument("--resume", default=None, help="auto | path of a checkpoint-N folder")
    return parser.parse_args(argv)


def load_run_config(resolved_path: str, ds_path: str) -> tuple[dict, str, dict]:
    resolved = json.loads(Path(resolved_path).read_text())
    ds_config = json.loads(Path(ds_path).read_text())
    return resolved["config"], resolved.get("config_hash", ""), ds_config


def precision_from_ds(ds_config: dict) -> str:
    if (ds_config.get("bf16") or {}).get("enabled"):
        return "bf16"
    if (ds_config.get("fp16") or {}).get("enabled"):
        return "fp16"
    return "fp32"


def library_versions() -> dict:
    import deepspeed
    import torch
    import transformers

    return {"python": sys.version.split()[0], "torch": torch.__version__, "transformers": transformers.__version__,
            "deepspeed": deepspeed.__version__, "qc_engine": __import__("qc_engine").__version__}


def memory_now(device) -> tuple[int, str]:
    import torch

    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device)), "cuda"
    import psutil

    return int(psutil.Process().memory_info().rss), "rss"


def install_signal_handlers(state: RunState) -> None:
    def handler(signum, frame):
        state.stop_signal = True

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def rng_state() -> dict:
    import numpy as np
    import torch

    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    import numpy as np
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# ==================================================================== optimizer + schedule

def build_optimizer(model, lr: float, weight_decay: float):
    """torch AdamW; no weight decay on biases and norm weights (any parameter with ndim < 2)."""
    import torch

    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim < 2 or "norm" in name.lower() else decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr, betas=(0.9, 0.999), eps=1e-8)


def build_scheduler(optimizer, kind: str, warmup_steps: int, total_steps: int):
    from transformers import (get_constant_schedule_with_warmup, get_cosine_schedule_with_warmup,
                              get_linear_schedule_with_warmup)

    if kind == "cosine":
        return get_cosine_schedule_with_warmup(optimizer, warmup_steps, total_steps)
    if kind == "linear":
        return get_linear_schedule_with_warmup(optimizer, warmup_steps, total_steps)
    return get_constant_schedule_with_warmup(optimizer, warmup_steps)


# ==================================================================== one optimizer step

def skip_single_rank_allreduce(engine, world: int, zero_stage: int) -> None:
    """ZeRO-0 with one process: DeepSpeed's gradient all-reduce is an identity copy; skip it."""
    if world == 1 and zero_stage == 0:
        engine.enable_backward_allreduce = False


def train_step(engine, optimizer, micro_batches, device, dtype, label_smoothing: float = 0.0):
    """Forward/backward over the micro-batches of one optimizer step, then DeepSpeed's step.

    Returns (mean loss on this rank, lr used, global grad norm or None). Also used by bench/.
    """
    import torch

    from .evaluation import move_batch

    pixel_dtype = dtype if dtype != torch.float32 else None
    loss_sum, lr = 0.0, float(optimizer.param_groups[0]["lr"])
    for batch in micro_batches:
        outputs = engine(**move_batch(batch, device, pixel_dtype), labels=batch["labels"].to(device),
                         label_smoothing=label_smoothing)
        engine.backward(outputs.loss)
        if engine.is_gradient_accumulation_boundary():
            lr = float(optimizer.param_groups[0]["lr"])
        engine.step()
        loss_sum += float(outputs.loss.detach().float().item())
    grad_norm = engine.get_global_grad_norm()
    return loss_sum / len(micro_batches), lr, (float(grad_norm) if grad_norm is not None else None)


def load_checkpoint_weights(engine, ckpt_dir: Path, step: int, zero_stage: int) -> str:
    """Put a checkpoint's model weights into the engine (every rank calls it): from its DeepSpeed state,
    or from hf_model/ when the checkpoint was slimmed (retention may strip deepspeed/ from old ones)."""
    import deepspeed
    import torch

    from . import dist as qd
    from .checkpoint import deepspeed_tag
    from .model import load_hf_classifier

    if (ckpt_dir / "deepspeed" / deepspeed_tag(step)).is_dir():
        engine.load_checkpoint(str(ckpt_dir / "deepspeed"), tag=deepspeed_tag(step), load_optimizer_states=False,
                               load_lr_scheduler_states=False, load_module_only=True)
        return "deepspeed"
    params = list(engine.module.parameters())
    dtype = params[0].dtype if params else torch.float32
    state = load_hf_classifier(ckpt_dir / "hf_model", dtype=dtype).state_dict()
    if zero_stage == 3:
        with deepspeed.zero.GatheredParameters(params, modifier_rank=0):
            if qd.is_main():
                engine.module.load_state_dict(state)
    else:
        engine.module.load_state_dict(state)
    return "hf_model"


# ==================================================================== the run

def run(args, state: RunState, log_holder: dict) -> int:
    import deepspeed
    import torch
    from torch.utils.data import DataLoader

    from . import dist as qd
    from .checkpoint import (ResumeError, deepspeed_tag, dir_bytes, fsync_dir, list_checkpoints, read_json,
                             remove_stale_tmp, select_resume_checkpoint, write_json_atomic)
    from .data import (ClassifierCollator, DataError, ImageClassificationDataset, ResumableDistributedSampler,
                       file_sha256, load_class_names, read_jsonl)
    from .eval_results import (PREDICTIONS_FILE, eval_entry, eval_key_for, eval_set_sha256, image_sha256s,
                               prediction_lines, preprocessing_settings, write_eval_results)
    from .evaluation import eval_forward_passes, evaluate_with_predictions, seeded_subset
    from .events import EventLog, start_wandb
    from .metrics import SCALAR_METRICS, scalar_metrics
    from .model import ModelFolderError, build_classifier, load_processing, save_hf_model, torch_dtype_for

    t_start = time.time()
    config, config_hash, ds_config = load_run_config(args.resolved, args.ds_config)
    train_cfg, data_cfg, model_cfg = config["training"], config["data"], config["model"]
    eval_cfg = train_cfg.get("evaluation") or {}
    best_cfg = train_cfg.get("best_model_tracking") or {}
    ckpt_cfg = train_cfg.get("checkpoint") or {}
    out = Path(train_cfg["output_dir"])

    # ---------------------------------------------------------------- distributed setup
    deepspeed.init_distributed()
    rank, world = qd.rank(), qd.world_size()
    if torch.cuda.is_available() and os.environ.get("DS_ACCELERATOR", "") != "cpu":
        torch.cuda.set_device(qd.local_rank())
        device = torch.device("cuda", qd.local_rank())
    else:
        device = torch.device("cpu")
    precision = precision_from_ds(ds_config)
    dtype = torch_dtype_for(precision)
    zero_stage = int((ds_config.get("zero_optimization") or {}).get("stage", 0))
    micro_bs = int(ds_config.get("train_micro_batch_size_per_gpu", train_cfg["per_device_batch_size"]))
    grad_accum = int(ds_config.get("gradient_accumulation_steps", train_cfg["gradient_accumulation_steps"]))
    global_batch = micro_bs * grad_accum * world
    seed = int(train_cfg["seed"])
    skip_eval = bool(train_cfg.get("skip_evaluation"))
    track_best = bool(best_cfg.get("enabled")) and not skip_eval
    partial_eval = bool(eval_cfg.get("partial_eval_during_training")) and not skip_eval
    full_eval = bool(eval_cfg.get("full_eval_at_end")) and not skip_eval
    needs_val = track_best or partial_eval or full_eval

    if qd.is_main():
        out.mkdir(parents=True, exist_ok=True)
        removed = remove_stale_tmp(out)
    qd.barrier()
    events = EventLog(out, enabled=qd.is_main())
    log_holder["events"] = events
    if qd.is_main() and removed:
        events.line(f"removed stale temporary checkpoint folders: {', '.join(removed)}")
    install_signal_handlers(state)

    # ---------------------------------------------------------------- input checks (rank 0), before any model
    resume_request = args.resume if args.resume is not None else train_cfg.get("resume_from_checkpoint")
    checked = None
    if qd.is_main():
        try:
            from .model import check_model_folder

            check_model_folder(model_cfg["pretrained_name"])
            class_names = load_class_names(config)
            if track_best and best_cfg.get("metric") not in SCALAR_METRICS:
                raise DataError(f"training.best_model_tracking.metric: {best_cfg.get('metric')!r} is not one of "
                                f"{', '.join(SCALAR_METRICS)}")
            on_bad = data_cfg.get("on_bad_sample", "error")
            train_split = read_jsonl(data_cfg["train_jsonl"], class_names, on_bad)
            val_split = read_jsonl(data_cfg["val_jsonl"], class_names, on_bad) if needs_val else None
            if len(train_split.samples) < global_batch:
                raise DataError(f"{data_cfg['train_jsonl']}: {len(train_split.samples)} usable samples, fewer than one "
                                f"global batch of {global_batch} (per_device_batch_size {micro_bs} x "
                                f"gradient_accumulation_steps {grad_accum} x {world} processes)")
            if val_split is not None and not val_split.samples:
                raise DataError(f"{data_cfg['val_jsonl']}: no usable validation samples")
            resume = select_resume_checkpoint(out, resume_request)
            if resume is None:
                existing = [c for c in list_checkpoints(out) if c.complete]
                if existing:
                    raise ResumeError(f"{out} already holds {existing[-1].path.name}; resume with --resume auto "
                                      "(training.resume_from_checkpoint: auto) or choose another training.output_dir")
            checked = {"ok": True, "class_names": class_names, "train": train_split, "val": val_split,
                       "resume": str(resume.path) if resume else None}
        except (DataError, ResumeError, ValueError) as exc:
            checked = {"ok": False, "message": str(exc), "hint": getattr(exc, "hint", None)}
    checked = qd.broadcast_object(checked)
    if not checked["ok"]:
        raise BadInput(checked["message"], hint=checked["hint"])
    class_names = checked["class_names"]
    train_split, val_split = checked["train"], checked["val"]
    for split in (train_split, val_split):
        if split is not None and split.skipped:
            events.line(f"data: skipped {len(split.skipped)} bad line(s) in {split.path} "
                        f"(data.on_bad_sample: skip); first: {split.skipped[0]}")

    # ---------------------------------------------------------------- model, processor, data
    seed_everything(seed)
    if not (rank == 0 or os.environ.get("QC_VERBOSE")):
        import transformers

        transformers.logging.set_verbosity_error()
    # ZeRO-3: transformers builds the model inside deepspeed.zero.Init (each rank holds only its shard)
    # while this object is alive.
    zero3_init = None
    if zero_stage == 3:
        from transformers.integrations import HfDeepSpeedConfig

        zero3_init = HfDeepSpeedConfig(ds_config)
    try:
        model = build_classifier(
            model_cfg["pretrained_name"], class_names, pooling=model_cfg.get("pooling", "last_token"),
            freeze_vision_tower=bool(model_cfg.get("freeze_vision_tower")), precision=precision,
            trust_remote_code=bool(model_cfg.get("trust_remote_code")),
            gradient_checkpointing=bool(train_cfg.get("gradient_checkpointing")), seed=seed,
        )
    except ModelFolderError as exc:
        raise BadInput(str(exc)) from exc
    tokenizer, image_processor = load_processing(model_cfg["pretrained_name"], data_cfg["image_min_pixels"],
                                                 data_cfg["image_max_pixels"], bool(model_cfg.get("trust_remote_code")))
    collator = ClassifierCollator(tokenizer, image_processor, data_cfg.get("prompt", ""))
    train_set = ImageClassificationDataset(train_split.samples)
    val_set = ImageClassificationDataset(val_split.samples) if val_split is not None else None
    num_workers = int(data_cfg.get("num_workers", 0))
    eval_bs = int(eval_cfg.get("batch_size") or 0) or micro_bs * 2
    partial_indices = (seeded_subset(len(val_set), int(eval_cfg.get("partial_eval_samples", 500)), seed)
                       if val_set is not None else [])
    # Evaluation-set identities (rank 0 writes eval_results.json), the scheme of qc_engine.evaluate:
    # key "<split>:<sha16 of labels + image bytes>", so its skip logic recognises the full evaluation.
    eval_ids: dict = {}
    val_jsonl_sha = None
    if val_set is not None and qd.is_main():
        hashed = sorted(set(range(len(val_set))) if full_eval else set(partial_indices))
        image_hash = dict(zip(hashed, image_sha256s([val_split.samples[i] for i in hashed])))

        def identity(split: str, indices) -> dict:
            sha = eval_set_sha256([val_split.samples[i] for i in indices], [image_hash[i] for i in indices])
            return {"data_sha256": sha, "key": eval_key_for(sha, split)}

        eval_ids["partial"] = identity("partial", partial_indices)
        if full_eval:
            eval_ids["full"] = identity("full", range(len(val_set)))
        val_jsonl_sha = file_sha256(data_cfg["val_jsonl"])

    steps_per_epoch = (len(train_set) // world) // micro_bs // grad_accum
    if steps_per_epoch < 1:
        raise BadInput(f"{data_cfg['train_jsonl']}: too few samples for one optimizer step per epoch")
    max_steps = int(train_cfg.get("max_steps") or 0)
    total_steps = max_steps if max_steps > 0 else max(1, math.ceil(float(train_cfg["epochs"]) * steps_per_epoch))
    label_smoothing = float(config["loss"]["smoothing"]) if config["loss"]["type"] == "label_smoothing" else 0.0

    # ---------------------------------------------------------------- DeepSpeed
    optimizer = build_optimizer(model, float(train_cfg["lr"]), float(train_cfg["weight_decay"]))
    scheduler = build_scheduler(optimizer, train_cfg["lr_scheduler"], int(train_cfg["warmup_steps"]), total_steps)
    engine, _, _, _ = deepspeed.initialize(model=model, optimizer=optimizer, lr_scheduler=scheduler,
                                           config=ds_config, dist_init_required=False)
    skip_single_rank_allreduce(engine, world, zero_stage)

    # ---------------------------------------------------------------- resume
    resumed_from = None
    if checked["resume"]:
        ckpt = Path(checked["resume"])
        info = read_json(ckpt / "training_info.json")
        resumed_from = int(info["step"])
        load_path, _ = engine.load_checkpoint(str(ckpt / "deepspeed"), tag=deepspeed_tag(resumed_from))
        if load_path is None:
            raise BadInput(f"{ckpt}/deepspeed: DeepSpeed could not load tag {deepspeed_tag(resumed_from)}")
        state.step = resumed_from
        state.samples_seen = int(info.get("samples_seen", resumed_from * global_batch))
        state.saved_steps.add(resumed_from)
        rng_file = ckpt / "deepspeed" / deepspeed_tag(resumed_from) / f"qc_rng_rank{rank}.pt"
        if rng_file.is_file():
            set_rng_state(torch.load(rng_file, weights_only=False))
        best = read_json(out / "best_checkpoint.json") if qd.is_main() else None
        best = qd.broadcast_object(best)
        if best and Path(best["path"]).is_dir() and int(best["step"]) <= resumed_from:
            state.best_metric_value, state.best_checkpoint, state.best_step = (
                float(best["value"]), best["path"], int(best["step"]))
        if info.get("eval_metrics"):
            state.last_eval_step, state.last_eval_metrics = resumed_from, info["eval_metrics"]

    wandb_run = start_wandb(config, out) if qd.is_main() else None
    events.wandb = wandb_run
    events.emit("start", world_size=world, total_steps=total_steps, steps_per_epoch=steps_per_epoch,
                epochs=total_steps / steps_per_epoch, num_train_samples=len(train_set),
                num_val_samples=len(val_set) if val_set is not None else 0, global_batch_size=global_batch,
                resumed_from_step=resumed_from, precision=precision, zero_stage=zero_stage,
                skipped_samples=sum(len(s.skipped) for s in (train_split, val_split) if s is not None))
    events.line(f"training: {len(train_set)} samples, {total_steps} steps ({steps_per_epoch}/epoch), "
                f"global batch {global_batch} = {micro_bs} x {grad_accum} x {world} processes, {precision}, "
                f"ZeRO {zero_stage}, device {device.type}"
                + (f", resumed from step {resumed_from}" if resumed_from is not None else ""))

    # ---------------------------------------------------------------- evaluation + checkpoint helpers
    def run_eval(split: str):
        """(metrics, (logits, labels, indices), seconds) on every rank."""
        indices = partial_indices if split == "partial" else list(range(len(val_set)))
        t0 = time.time()
        metrics, logits, labels, idx = evaluate_with_predictions(
            engine, val_set, indices, collator, eval_bs, device, class_names,
            dtype=dtype if dtype != torch.float32 else None, num_workers=num_workers)
        metrics["labels"] = list(class_names)
        return metrics, (logits, labels, idx), round(time.time() - t0, 3)

    def record_eval(ckpt_dir: Path, split: str, metrics: dict, step: int, seconds, weights: str,
                    predicted=None) -> None:
        """Rank 0: the eval_results.json entry (+ predictions.jsonl lines when `predicted`), as evaluate.py writes."""
        ids = eval_ids[split]
        entry = eval_entry(split=split, data=data_cfg["val_jsonl"], data_sha256=ids["data_sha256"],
                           jsonl_sha256=val_jsonl_sha, metrics=metrics, step=step,
                           preprocessing=preprocessing_settings(config), weights=weights, world_size=world,
                           batch_size=eval_bs, precision=precision,
                           predictions=PREDICTIONS_FILE if predicted is not None else None, seconds=seconds)
        lines = (prediction_lines(*predicted, val_split.samples, class_names, ids["key"])
                 if predicted is not None else None)
        write_eval_results(ckpt_dir, ids["key"], entry, lines)

    def partial_eval_now() -> dict:
        metrics, _, seconds = run_eval("partial")
        state.last_eval_step, state.last_eval_metrics, state.last_eval_seconds = state.step, metrics, seconds
        events.emit("eval", step=state.step, split="partial", num_samples=metrics["num_samples"],
                    metrics=scalar_metrics(metrics), checkpoint=None, seconds=seconds,
                    eval_key=eval_ids.get("partial", {}).get("key"))
        events.scalars({f"eval/{k}": v for k, v in scalar_metrics(metrics).items()}, state.step)
        events.line(f"eval step {state.step} (partial, {metrics['num_samples']} samples) | "
                    + " | ".join(f"{k} {v:.4f}" for k, v in scalar_metrics(metrics).items()))
        return metrics

    def save_checkpoint(is_final: bool) -> None:
        step = state.step
        final_dir = out / f"checkpoint-{step}"
        if step in state.saved_steps:
            return
        t0 = time.time()
        metrics = None
        is_best = False
        if track_best:
            if state.last_eval_step != step:
                partial_eval_now()
            metrics = state.last_eval_metrics
            value = float(metrics[best_cfg["metric"]])
            better = (state.best_metric_value is None
                      or (value > state.best_metric_value if best_cfg.get("greater_is_better", True)
                          else value < state.best_metric_value))
            if better:
                is_best = True
                state.best_metric_value, state.best_checkpoint, state.best_step = value, str(final_dir), step
        elif state.last_eval_step == step:
            metrics = state.last_eval_metrics

        tmp = out / f".checkpoint-{step}.tmp"
        if qd.is_main():
            if tmp.exists():
                shutil.rmtree(tmp)
            tmp.mkdir(parents=True)
        qd.barrier()
        # all ranks: DeepSpeed state (model, optimizer, scheduler) + this rank's RNG
        engine.save_checkpoint(str(tmp / "deepspeed"), tag=deepspeed_tag(step))
        torch.save(rng_state(), tmp / "deepspeed" / deepspeed_tag(step) / f"qc_rng_rank{rank}.pt")
        if os.environ.get("QC_TEST_CRASH_IN_SAVE") == str(step):  # tests: a crash half-way through a save
            raise RuntimeError(f"QC_TEST_CRASH_IN_SAVE: simulated crash while saving step {step}")
        has_hf = ckpt_cfg.get("hf_format", "every_save") != "deferred"
        if has_hf:
            gathered = engine._zero3_consolidated_16bit_state_dict() if zero_stage == 3 else None
            if qd.is_main():
                save_hf_model(tmp / "hf_model", engine.module, tokenizer, image_processor, state_dict=gathered,
                              source_dir=model_cfg["pretrained_name"])
        qd.barrier()
        if qd.is_main():
            if metrics is not None:
                record_eval(tmp, "partial", metrics, step, state.last_eval_seconds, weights="training")
            ds_bytes, hf_bytes = dir_bytes(tmp / "deepspeed"), dir_bytes(tmp / "hf_model")
            train_loss = state.loss_sum_since_save / max(1, state.steps_since_save)
            info = {
                "step": step, "epoch": step / steps_per_epoch, "samples_seen": state.samples_seen,
                "train_loss": train_loss, "lr": state.last_lr, "grad_norm": state.last_grad_norm,
                "eval_metrics": scalar_metrics(metrics) if metrics else None,
                "metric_name": best_cfg.get("metric") if track_best else None,
                "is_final": is_final, "is_best": is_best, "wall_time_s": time.time() - t_start,
                "world_size": world, "zero_stage": zero_stage, "precision": precision, "config_hash": config_hash,
                "num_labels": len(class_names), "id2label": {str(i): n for i, n in enumerate(class_names)},
                "versions": library_versions(), "created_at": datetime.now(timezone.utc).isoformat(),
                "has_deepspeed_state": True, "has_hf_model": has_hf, "slim": False,
                "bytes": {"deepspeed": ds_bytes, "hf_model": hf_bytes,
                          "total": ds_bytes + hf_bytes + dir_bytes(tmp / "eval_results.json")},
            }
            info["bytes"]["total"] += 4096  # training_info.json itself (upper bound)
            write_json_atomic(tmp / "training_info.json", info)
            os.replace(tmp, final_dir)
            fsync_dir(out)
            if is_best:
                write_json_atomic(out / "best_checkpoint.json", {
                    "path": str(final_dir), "step": step, "metric": best_cfg["metric"],
                    "value": state.best_metric_value})
        qd.barrier()
        state.saved_steps.add(step)
        state.loss_sum_since_save, state.steps_since_save = 0.0, 0
        seconds = time.time() - t0
        total_bytes = dir_bytes(final_dir) if qd.is_main() else 0
        events.emit("checkpoint", step=step, path=str(final_dir), bytes=total_bytes, seconds=seconds,
                    is_final=is_final, is_best=is_best,
                    metric=(float(metrics[best_cfg["metric"]]) if (track_best and metrics) else None))
        events.line(f"checkpoint {final_dir.name} saved in {seconds:.1f}s ({total_bytes / 2**20:.1f} MiB)"
                    + (" [best]" if is_best else ""))

    # ---------------------------------------------------------------- training loop
    train_sampler = ResumableDistributedSampler(train_set, world, rank, seed=seed)
    engine.train()
    window = {"loss": 0.0, "steps": 0, "seconds": 0.0, "samples": 0}
    events.line(f"setup took {time.time() - t_start:.1f}s")

    while state.step < total_steps:
        epoch_index = state.step // steps_per_epoch
        step_in_epoch = state.step % steps_per_epoch
        train_sampler.set_epoch(epoch_index)
        train_sampler.set_start_index(step_in_epoch * grad_accum * micro_bs)
        loader = DataLoader(train_set, batch_size=micro_bs, sampler=train_sampler, collate_fn=collator,
                            num_workers=num_workers, drop_last=True, persistent_workers=False)
        batches = iter(loader)
        for _ in range(min(steps_per_epoch - step_in_epoch, total_steps - state.step)):
            t_step = time.time()
            micro_batches = [next(batches) for _ in range(grad_accum)]
            step_loss, state.last_lr, state.last_grad_norm = train_step(
                engine, optimizer, micro_batches, device, dtype, label_smoothing)
            state.step += 1
            state.samples_seen += global_batch
            state.loss_sum_since_save += step_loss
            state.steps_since_save += 1
            window["loss"] += step_loss
            window["steps"] += 1
            window["seconds"] += time.time() - t_step

            # ---- logging
            if state.step % int(train_cfg["logging_steps"]) == 0 or state.step == total_steps:
                loss = qd.all_reduce_mean(window["loss"] / window["steps"], device)
                state.last_loss = loss
                samples_per_s = window["steps"] * global_batch / max(window["seconds"], 1e-9)
                mem, mem_kind = memory_now(device)
                epoch = state.step / steps_per_epoch
                events.emit("step", step=state.step, total_steps=total_steps, epoch=epoch, loss=loss,
                            lr=state.last_lr, grad_norm=state.last_grad_norm, samples_per_s=samples_per_s,
                            memory_bytes=mem, memory_kind=mem_kind)
                events.scalars({"train/loss": loss, "train/lr": state.last_lr,
                                "train/grad_norm": state.last_grad_norm, "train/samples_per_s": samples_per_s,
                                "train/epoch": epoch, "train/memory_bytes": mem}, state.step)
                gn = f"{state.last_grad_norm:.3f}" if state.last_grad_norm is not None else "n/a"
                events.line(f"step {state.step}/{total_steps} | epoch {epoch:.2f} | loss {loss:.4f} | "
                            f"lr {state.last_lr:.2e} | grad_norm {gn} | {samples_per_s:.1f} samples/s | "
                            f"mem {mem / 2**30:.1f} GiB")
                window = {"loss": 0.0, "steps": 0, "seconds": 0.0, "samples": 0}

            # ---- partial evaluation
            if partial_eval and state.step % int(train_cfg["eval_steps"]) == 0:
                partial_eval_now()

            # ---- stop request (file on rank 0, signals on every rank), agreed by all ranks
            stop_local = state.stop_signal or (qd.is_main() and (out / ".stop_requested").exists())
            if qd.all_reduce_max_flag(stop_local, device):
                events.line(f"stop requested: saving checkpoint-{state.step} and exiting")
                save_checkpoint(is_final=state.step == total_steps)
                raise StopRequested()

            # ---- checkpoint
            if state.step % int(train_cfg["save_steps"]) == 0 or state.step == total_steps:
                save_checkpoint(is_final=state.step == total_steps)

    if state.step not in state.saved_steps:  # e.g. resumed from the final checkpoint
        save_checkpoint(is_final=True)

    # ---------------------------------------------------------------- full evaluation at the end
    if full_eval:
        target = out / f"checkpoint-{state.step}"
        weights = "training"  # the engine's weights in memory
        if bool(eval_cfg.get("eval_best_model_only")) and state.best_checkpoint:
            target = Path(state.best_checkpoint)
            if state.best_step != state.step:
                weights = load_checkpoint_weights(engine, target, state.best_step, zero_stage)
        metrics, predicted, seconds = run_eval("full")
        evaluated_step = state.best_step if target != out / f"checkpoint-{state.step}" else state.step
        if qd.is_main():
            record_eval(target, "full", metrics, evaluated_step, seconds, weights, predicted)
        events.emit("eval", step=evaluated_step, split="full", num_samples=metrics["num_samples"],
                    metrics=scalar_metrics(metrics), checkpoint=str(target), seconds=seconds,
                    eval_key=eval_ids.get("full", {}).get("key"))
        events.scalars({f"eval_full/{k}": v for k, v in scalar_metrics(metrics).items()}, state.step)
        events.line(f"full eval of {target.name} ({metrics['num_samples']} samples) | "
                    + " | ".join(f"{k} {v:.4f}" for k, v in scalar_metrics(metrics).items()))

    passes = qd.all_reduce_sum_int(eval_forward_passes(), device)
    events.emit("end", status="completed", step=state.step, best_checkpoint=state.best_checkpoint,
                exit_code=EXIT_OK, eval_forward_passes=passes, wall_time_s=time.time() - t_start)
    events.line(f"done: {state.step} steps in {time.time() - t_start:.1f}s"
                + (f"; best {state.best_checkpoint} ({best_cfg['metric']} {state.best_metric_value:.4f})"
                   if state.best_checkpoint else ""))
    return EXIT_OK


class BadInput(Exception):
    """Bad input found before training (exit 2); `hint` says how to fix it."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


# ==================================================================== entry point

def main(argv=None) -> int:
    args = parse_args(argv)
    state = RunState()
    holder: dict = {}
    code = EXIT_FAILED
    try:
        code = run(args, state, holder)
    except StopRequested:
        code = EXIT_STOPPED
        _finish(holder, state, "interrupted", code)
    except BadInput as exc:
        code = EXIT_BAD_INPUT
        _report_error(holder, f"error: {exc}", code, state, hint=exc.hint)
    except Exception as exc:  # noqa: BLE001 - any failure ends the run with an error event
        code = EXIT_FAILED
        traceback.print_exc()
        _report_error(holder, f"{type(exc).__name__}: {exc}", code, state)
    events = holder.get("events")
    if events is not None:
        events.close()
    from . import dist as qd

    qd.exit_process(code, ok_code=EXIT_OK)


def _finish(holder, state: RunState, status: str, code: int) -> None:
    events = holder.get("events")
    if events is None:
        return
    from .evaluation import eval_forward_passes

    events.emit("end", status=status, step=state.step, best_checkpoint=state.best_checkpoint, exit_code=code,
                eval_forward_passes=eval_forward_passes())
    events.line(f"stopped at step {state.step} ({status})")


def _report_error(holder, message: str, code: int, state: RunState, hint: str | None = None) -> None:
    from . import dist as qd

    if qd.is_main():
        print(message if message.startswith("error:") else f"error: {message}", file=sys.stderr, flush=True)
        if hint:
            print(f"hint: {hint}", file=sys.stderr, flush=True)
    events = holder.get("events")
    if events is None and qd.is_main():
        # Failed before the event log was opened: nothing else to do than the message above.
        return
    if events is not None:
        events.emit("error", message=message.removeprefix("error: "), exit_code=code,
                    **({"hint": hint} if hint else {}))
        from .evaluation import eval_forward_passes

        events.emit("end", status="failed", step=state.step, best_checkpoint=state.best_checkpoint,
                    exit_code=code, eval_forward_passes=eval_forward_passes())


if __name__ == "__main__":
    sys.exit(main())
