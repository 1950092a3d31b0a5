"""Post-training evaluation of one or many checkpoints on one evaluation set (issue 5).

    python -m qc_engine.evaluate --checkpoints C1 [C2 ...] --data JSONL --resolved R --out-json F [--batch-size B] [--force]
    torchrun --nproc-per-node N -m qc_engine.evaluate ...   # data-parallel, exact

One process evaluates every listed checkpoint: the evaluation set is validated, hashed, decoded
and preprocessed ONCE (the processed batches are cached, in memory up to --cache-mb, then on
disk) and reused for each checkpoint. Weights come from hf_model/ when it is there, else, for a LoRA
checkpoint saved with hf_format: adapter, from the run's base model + adapter/ (peft; the base is read
once for the whole sweep, adapters swapped: lora.AdapterModels), else from the DeepSpeed state
(deferred checkpoints). Every sample is counted exactly once whatever the
number of ranks (padded sampler + gather + filter).

Writes, per checkpoint (rank 0, atomically, only after every input check passed):
  eval_results.json  merged; key "full:<first 16 hex of the set's content hash>" (qc_engine/eval_records.py,
                     the scheme training uses too: its full evaluation at the end is recognised here)
  predictions.jsonl  one line per sample (image, label, prediction, probability, ...); lines of
                     other evaluation sets (other eval_key) are kept
A checkpoint already evaluated on the same set with the same preprocessing is skipped unless --force.

stdout (rank 0): one JSON event a line (plan, preprocess, checkpoint_start, progress,
checkpoint_done, skip, summary, error) for tasks/evaluate.ts; the summary also goes to --out-json.
Exit codes: 0 done; 2 bad input (nothing written); 1 anything else.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import transformers
from torch.utils.data import DataLoader

from . import dist as qd
from .checkpoint import CHECKPOINT_RE, read_json
from .config import QwenClassifyConfig, load_resolved
from .data import (ClassifierCollator, DataError, ImageClassificationDataset, PaddedDataset, PaddedEvalSampler,
                   file_sha256, read_jsonl)
from .errors import EXIT_FAILED, EXIT_OK, BadInput, report_failure
from .image_cache import CachedBatches, UInt8ImageCache, resize_items
from .eval_loop import gather_predictions, move_batch
from .eval_records import (eval_entry, eval_key_for, eval_set_sha256, prediction_lines, preprocessing_settings,
                           write_eval_results)
from .export import (ExportError, Reporter, cast_state, check_deepspeed_files, consolidate_deepspeed, deepspeed_tag_dir,
                     model_config_for, skeleton)
from .lora import AdapterModels, adapter_folder, base_model_folder, missing_weights_message
from .manifest import verify_checkpoint
from .fsio import write_text_atomic
from .metrics import classification_metrics, scalar_metrics
from .model import ModelFolderError, check_model_folder, load_processing, torch_dtype_for
from .modeling_qwen_classifier import Qwen2_5_VLForImageClassification
from .protocol import emit, json_safe

SPLIT = "full"


# ==================================================================== arguments

def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m qc_engine.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", nargs="+", required=True, help="checkpoint-N folders")
    parser.add_argument("--data", required=True, help="evaluation JSONL")
    parser.add_argument("--resolved", required=True, help="the run's resolved_config.json")
    parser.add_argument("--out-json", required=True, help="where the summary is written")
    parser.add_argument("--batch-size", type=int, default=0,
                        help="per-process batch size (default: training.evaluation.batch_size, else 2 x per_device_batch_size)")
    parser.add_argument("--force", action="store_true", help="re-evaluate checkpoints already evaluated on this set")
    parser.add_argument("--cache-mb", type=int, default=int(os.environ.get("QC_EVAL_CACHE_MB", "4096")),
                        help="preprocessed batches kept in memory per process; the rest are spilled to a temp folder")
    return parser.parse_args(argv)


# ==================================================================== inputs: checkpoints, classes, data

@dataclass
class CheckpointPlan:
    path: Path
    step: int
    info: dict
    source: str  # "hf_model" | "adapter" | "deepspeed"
    class_names: list[str]
    base: Path | None = None  # "adapter": the base model folder the adapter goes on (lora.base_model_folder)
    adapter: Path | None = None  # "adapter": checkpoint-N/adapter/
    action: str = "evaluate"  # | "skip"
    existing: dict | None = None  # the eval_results entry that makes it a skip


def hf_model_ready(hf_dir: Path) -> bool:
    if not (hf_dir / "config.json").is_file():
        return False
    index = hf_dir / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = set(json.loads(index.read_text())["weight_map"].values())
        except (OSError, ValueError, KeyError):
            return False
        return all((hf_dir / s).is_file() for s in shards)
    return (hf_dir / "model.safetensors").is_file()


def deepspeed_ready(path: Path, info: dict) -> str | None:
    """Why deepspeed/ cannot give the weights (the export helper's checks), or None when it can."""
    ds = path / "deepspeed"
    if not ds.is_dir() or info.get("has_deepspeed_state") is False or info.get("slim"):
        return "no deepspeed/ state"
    try:
        _, tag_dir = deepspeed_tag_dir(ds, info)
        check_deepspeed_files(tag_dir, info)
    except (ExportError, BadInput) as exc:
        return str(exc)
    return None


def read_checkpoint(path_text: str, num_labels: int) -> CheckpointPlan:
    path = Path(path_text).resolve()
    if not path.is_dir():
        raise BadInput(f"{path}: checkpoint folder does not exist")
    info = read_json(path / "training_info.json")
    if not isinstance(info, dict):
        what = "incomplete (no training_info.json: still being written, or interrupted)" if CHECKPOINT_RE.match(path.name) \
            else "not a qwen-classify checkpoint (no training_info.json)"
        raise BadInput(f"{path}: {what}; pass a complete checkpoint-N folder")
    match = CHECKPOINT_RE.match(path.name)
    step = int(info.get("step", match.group(1) if match else -1))
    # Sizes always, hashes with QC_VERIFY_CHECKPOINT=1 (the launcher's --verify); a slim one has no deepspeed/.
    slim = info.get("slim") or info.get("has_deepspeed_state") is False
    verify_checkpoint(path, info, hashes=os.environ.get("QC_VERIFY_CHECKPOINT") == "1",
                      skip_prefixes=("deepspeed/",) if slim else ())
    hf_dir = path / "hf_model"
    base = adapter = None
    if hf_model_ready(hf_dir):
        source = "hf_model"
        hf_config = json.loads((hf_dir / "config.json").read_text())
        id2label = hf_config.get("id2label") or info.get("id2label") or {}
    elif info.get("lora"):  # adapter-only (hf_format: adapter): base + adapter/ through peft, nothing exported
        adapter = adapter_folder(path, info)
        if adapter is None:
            raise BadInput(missing_weights_message(path, info))
        source, base, id2label = "adapter", base_model_folder(path, info), info.get("id2label") or {}
    else:
        problem = deepspeed_ready(path, info)
        if problem:
            raise BadInput(f"{path}: no weights to evaluate: no loadable hf_model/ (config.json + safetensors "
                           f"weights) and {problem}")
        source = "deepspeed"
        id2label = info.get("id2label") or {}
    try:
        class_names = [str(id2label[str(i)] if str(i) in id2label else id2label[i]) for i in range(len(id2label))]
    except KeyError:
        raise BadInput(f"{path}: id2label is not indexed 0..{len(id2label) - 1}") from None
    ckpt_labels = int(info.get("num_labels") or len(class_names))
    if not class_names:
        class_names = [str(i) for i in range(ckpt_labels)]
    if ckpt_labels != num_labels or len(class_names) != num_labels:
        raise BadInput(f"{path}: the model has {ckpt_labels} labels but the config's model.num_labels is {num_labels}; "
                       "evaluate with the config the checkpoint was trained with (--config)")
    return CheckpointPlan(path=path, step=step, info=info, source=source, class_names=class_names, base=base,
                          adapter=adapter)


def check_inputs(args, config: QwenClassifyConfig) -> dict:
    """Everything that can be wrong with the input, checked before anything is loaded or written."""
    num_labels = config.model.num_labels
    plans = [read_checkpoint(c, num_labels) for c in args.checkpoints]
    seen = {}
    for plan in plans:
        if plan.path in seen:
            raise BadInput(f"{plan.path}: listed twice")
        seen[plan.path] = plan
    class_names = plans[0].class_names
    for plan in plans[1:]:
        if plan.class_names != class_names:
            raise BadInput(f"{plan.path}: its classes ({', '.join(plan.class_names[:5])}...) differ from those of "
                           f"{plans[0].path} ({', '.join(class_names[:5])}...); evaluate checkpoints of one run together")
    try:
        split = read_jsonl(args.data, class_names, on_bad_sample="error")
    except DataError as exc:  # evaluation never skips bad lines (every sample must count): its own hint
        raise BadInput(f"{exc}; fix the evaluation file (the model's {len(class_names)} classes: "
                       f"{', '.join(class_names[:10])}{'...' if len(class_names) > 10 else ''})") from None
    if not split.samples:
        raise BadInput(f"{args.data}: no samples to evaluate")
    data_sha = eval_set_sha256(split.samples)
    key = eval_key_for(data_sha, SPLIT)
    settings = preprocessing_settings(config)
    for plan in plans:
        entry = (read_json(plan.path / "eval_results.json") or {}).get(key)
        if (not args.force and isinstance(entry, dict) and isinstance(entry.get("metrics"), dict)
                and entry.get("preprocessing") == settings):
            plan.action, plan.existing = "skip", entry
    return {"plans": plans, "class_names": class_names, "samples": split.samples, "data_sha256": data_sha,
            "jsonl_sha256": file_sha256(args.data), "eval_key": key, "preprocessing": settings}


# ==================================================================== preprocessing once: the batch cache

class BatchCache:
    """Collated batches kept in memory up to a budget, the rest spilled to a temporary folder."""

    def __init__(self, budget_bytes: int):
        self.budget = budget_bytes
        self.used = 0
        self.items: list = []  # dict (in memory) or Path (on disk)
        self.spill_dir: Path | None = None

    @staticmethod
    def nbytes(batch: dict) -> int:
        return sum(v.element_size() * v.nelement() for v in batch.values() if hasattr(v, "nelement"))

    def add(self, batch: dict) -> None:
        size = self.nbytes(batch)
        if self.used + size <= self.budget:
            self.items.append(batch)
            self.used += size
            return
        if self.spill_dir is None:
            self.spill_dir = Path(tempfile.mkdtemp(prefix="qc-eval-cache-"))
        path = self.spill_dir / f"batch-{len(self.items):06d}.pt"
        torch.save(batch, path)
        self.items.append(path)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self):
        for item in self.items:
            yield torch.load(item, weights_only=True) if isinstance(item, Path) else item

    def close(self) -> None:
        if self.spill_dir is not None:
            shutil.rmtree(self.spill_dir, ignore_errors=True)


def build_processing(checked: dict, config: QwenClassifyConfig):
    """Tokenizer + image processor: from the first checkpoint's hf_model/, else the base model folder."""
    data_cfg, model_cfg = config.data, config.model
    source = next((p.path / "hf_model" for p in checked["plans"] if p.source == "hf_model"), None)
    source = source or next((p.base for p in checked["plans"] if p.source == "adapter"), None)
    if source is None:
        try:
            source = check_model_folder(model_cfg.pretrained_name)
        except ModelFolderError as exc:
            raise BadInput(f"{exc} (needed for the processor of deferred checkpoints)") from None
    return load_processing(source, data_cfg.image_min_pixels, data_cfg.image_max_pixels, model_cfg.trust_remote_code)


class StreamedBatches:
    """One checkpoint only: batches straight from the DataLoader, nothing cached or spilled."""

    def __init__(self, loader, num_batches: int, dtype):
        self.loader, self.num_batches, self.dtype = loader, num_batches, dtype

    def __len__(self) -> int:
        return self.num_batches

    def __iter__(self):
        for batch in self.loader:
            yield compact(batch, self.dtype)

    def close(self) -> None:
        pass


def compact(batch: dict, dtype) -> dict:
    """pixel_values in the model's dtype already (what move_batch would do per pass): half the cache in bf16."""
    if dtype is not None and dtype != torch.float32:
        batch["pixel_values"] = batch["pixel_values"].to(dtype)
    return batch


def preprocess_once(checked: dict, config: QwenClassifyConfig, batch_size: int, cache_mb: int, dtype, cache: bool = True):
    """This rank's share of the set, collated once (cached when several checkpoints reuse it).

    Padding slots carry index -1 (filtered after the gather).
    """
    tokenizer, image_processor = build_processing(checked, config)
    collator = ClassifierCollator(tokenizer, image_processor, config.data.prompt)
    dataset = ImageClassificationDataset(checked["samples"])
    sampler = PaddedEvalSampler(list(range(len(dataset))), qd.world_size(), qd.rank(), batch_size)
    loader = DataLoader(PaddedDataset(dataset), batch_size=batch_size, sampler=sampler, collate_fn=collator,
                        num_workers=min(config.data.num_workers, 4))
    num_batches = len(sampler) // batch_size
    if not cache:
        return StreamedBatches(loader, num_batches, dtype)
    # decoded and resized once, kept as uint8 (image_cache.py: 8x smaller than fp32 pixel_values)
    images = UInt8ImageCache(cache_mb * 2**20)
    resize_loader = DataLoader(PaddedDataset(dataset), batch_size=batch_size, sampler=sampler,
                               collate_fn=functools.partial(resize_items, image_processor=image_processor),
                               num_workers=min(config.data.num_workers, 4))
    last = 0.0
    for i, items in enumerate(resize_loader, start=1):
        for array, label, index in items:
            images.add(array, label, index)
        if time.time() - last >= 0.5 or i == num_batches:
            last = time.time()
            emit("preprocess", batch=i, num_batches=num_batches)
    return CachedBatches(images, collator, batch_size, dtype, compact)


# ==================================================================== weights

def precision_for(config: QwenClassifyConfig, device) -> str:
    asked = config.training.precision
    if asked != "auto":
        return asked if device.type == "cuda" else "fp32"
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return "bf16"
    return "fp32"


def deepspeed_state_dict(plan: CheckpointPlan) -> dict:
    """Full fp32 weights (module names) from deepspeed/, through the export helper (any ZeRO stage)."""
    report = Reporter(as_json=False)  # its lines go to stderr; stdout carries our protocol
    # export's BadInput (missing shards, ...) is ours too (exit 2); its ExportError is a failure (exit 1)
    with contextlib.redirect_stdout(sys.stderr):  # zero_to_fp32 prints
        state, _, _ = consolidate_deepspeed(plan.path / "deepspeed", plan.info, report)
        weights, _ = cast_state(state, torch.float32, report, keep_fp32=False)
    return weights


class WeightLoader:
    """Loads a checkpoint's classifier; DeepSpeed-only checkpoints reuse one skeleton model, adapter-only
    ones one base model (lora.AdapterModels: read once, adapters swapped)."""

    def __init__(self, checked: dict, config: QwenClassifyConfig, device, dtype, precision: str):
        self.checked, self.config, self.device, self.dtype = checked, config, device, dtype
        self.skeleton = None
        self.adapters = AdapterModels(checked["class_names"], config.model.pooling, precision, device)

    def _from_hf(self, hf_dir: Path):
        # The engine's own class (the same code hf_model/ ships): no remote code from the checkpoint runs.
        return Qwen2_5_VLForImageClassification.from_pretrained(str(hf_dir), dtype=self.dtype)

    def _skeleton(self):
        if self.skeleton is None:
            hf = next((p.path / "hf_model" for p in self.checked["plans"] if p.source == "hf_model"), None)
            if hf is not None:
                self.skeleton = self._from_hf(hf)
            else:  # the classifier rebuilt from the base model's config (the export helper's way)
                plan = self.checked["plans"][0]
                config, _ = model_config_for(plan.path, plan.info, self.config, self.checked["class_names"])
                self.skeleton = skeleton(config, self.dtype, device="cpu")
        return self.skeleton

    def load(self, plan: CheckpointPlan):
        if plan.source == "adapter":
            return self.adapters.load(plan.base, plan.adapter)
        if plan.source == "hf_model":
            model = self._from_hf(plan.path / "hf_model")
        else:
            model = self._skeleton()
            state = deepspeed_state_dict(plan)
            missing, unexpected = model.load_state_dict(state, strict=False)
            if missing or unexpected:
                raise BadInput(f"{plan.path}/deepspeed: weights do not match the model "
                               f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
            model.to(self.dtype)
        return model.to(self.device).eval()


# ==================================================================== one checkpoint

def run_model(model, cache: BatchCache, device, dtype, plan: CheckpointPlan):
    """Logits, labels and indices of the whole set, gathered from every rank; padding removed."""
    logits_parts, label_parts, index_parts = [], [], []
    last = 0.0
    samples = 0
    with torch.inference_mode():
        for i, batch in enumerate(cache, start=1):
            out = model(**move_batch(batch, device, dtype if dtype != torch.float32 else None))
            logits_parts.append(out.logits.float())
            label_parts.append(batch["labels"].to(device))
            index_parts.append(batch["indices"].to(device))
            samples += int((batch["indices"] >= 0).sum())
            if time.time() - last >= 0.5 or i == len(cache):
                last = time.time()
                emit("progress", path=str(plan.path), batch=i, num_batches=len(cache), samples=samples)
    return gather_predictions(logits_parts, label_parts, index_parts)


def write_results(plan: CheckpointPlan, checked: dict, metrics: dict, lines: list[str], extra: dict) -> dict:
    """Merge eval_results.json and predictions.jsonl (rank 0), atomically; returns the entry."""
    entry = eval_entry(split=SPLIT, data=extra["data"], data_sha256=checked["data_sha256"],
                       jsonl_sha256=checked["jsonl_sha256"], metrics=metrics, step=plan.step,
                       preprocessing=checked["preprocessing"], weights=plan.source, world_size=extra["world_size"],
                       batch_size=extra["batch_size"], precision=extra["precision"],
                       predictions="predictions.jsonl", seconds=extra.get("seconds"))
    write_eval_results(plan.path, checked["eval_key"], entry, lines)
    return entry


# ==================================================================== the recipe

def setup_device():
    """This rank's device (dist.init_device), and transformers quiet unless QC_VERBOSE on rank 0."""
    device = qd.init_device()
    if not (qd.is_main() and os.environ.get("QC_VERBOSE")):
        transformers.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
    return device


def check_inputs_on_rank0(args) -> dict:
    """Rank 0 checks every input before anything is loaded or written; every rank gets the verdict, so all
    of them raise the same BadInput (exit 2) instead of the others hanging in the next collective."""
    checked = None
    if qd.is_main():
        try:
            config, _ = load_resolved(args.resolved)
            checked = {"ok": True, **check_inputs(args, config), "config": config}
        except BadInput as exc:
            checked = {"ok": False, "message": str(exc)}
    checked = qd.broadcast_object(checked)
    if not checked["ok"]:
        raise BadInput(checked["message"])
    return checked


def result_row(plan: CheckpointPlan, status: str, metrics: dict, timing: dict) -> dict:
    """One checkpoint's entry in the summary's `results` (timing: seconds, load_seconds, images_per_s)."""
    return {"path": str(plan.path), "step": plan.step, "status": status, "source": plan.source, "metrics": metrics,
            **timing, "eval_results": str(plan.path / "eval_results.json"),
            "predictions": str(plan.path / "predictions.jsonl")}


class EvaluateRecipe:
    """One evaluation command, read top to bottom (as train.TrainRecipe): setup() (device, input checks on
    rank 0, the plan event), preprocess() (the set once), evaluate_all() (each checkpoint: evaluate_one or
    skip), finish() (the summary file and event)."""

    def __init__(self, args):
        self.args = args
        self.t_start = time.time()
        self.results: list[dict] = []
        self.cache = None
        self.preprocess_seconds = 0.0

    def setup(self) -> None:
        self.device = setup_device()
        self.checked = check_inputs_on_rank0(self.args)
        self.config: QwenClassifyConfig = self.checked["config"]
        self.plans: list[CheckpointPlan] = self.checked["plans"]
        self.samples, self.class_names = self.checked["samples"], self.checked["class_names"]
        self.todo = [p for p in self.plans if p.action == "evaluate"]
        self.world = qd.world_size()
        # training.evaluation.batch_size 0 means twice the training batch (schema)
        training = self.config.training
        self.batch_size = self.args.batch_size or training.evaluation.batch_size or 2 * training.per_device_batch_size
        self.precision = precision_for(self.config, self.device)
        self.dtype = torch_dtype_for(self.precision)
        self.data = str(Path(self.args.data).resolve())
        emit("plan", checkpoints=[{"path": str(p.path), "step": p.step, "action": p.action, "source": p.source}
                                  for p in self.plans],
             data=self.data, data_sha256=self.checked["data_sha256"], eval_key=self.checked["eval_key"],
             num_samples=len(self.samples), num_batches=math.ceil(len(self.samples) / (self.world * self.batch_size)),
             batch_size=self.batch_size, world_size=self.world)

    def preprocess(self) -> None:
        """Several checkpoints: the set preprocessed once into the cache; one: streamed (nothing to reuse)."""
        if not self.todo:
            return
        t_pre = time.time()
        self.cache = preprocess_once(self.checked, self.config, self.batch_size, self.args.cache_mb, self.dtype,
                                     cache=len(self.todo) > 1)
        self.preprocess_seconds = time.time() - t_pre

    def evaluate_all(self) -> None:
        loader = WeightLoader(self.checked, self.config, self.device, self.dtype, self.precision)
        try:
            for plan in self.plans:
                if plan.action == "skip":
                    self.skip(plan)
                else:
                    self.evaluate_one(plan, loader)
        finally:
            if self.cache is not None:
                self.cache.close()

    def skip(self, plan: CheckpointPlan) -> None:
        emit("skip", path=str(plan.path), step=plan.step,
             reason=f"already evaluated on this set at {plan.existing.get('evaluated_at')}; --force re-evaluates")
        self.results.append(result_row(plan, "skipped", plan.existing["metrics"],
                                       {"seconds": None, "load_seconds": None, "images_per_s": None}))

    def evaluate_one(self, plan: CheckpointPlan, loader: WeightLoader) -> None:
        samples, class_names = self.samples, self.class_names
        emit("checkpoint_start", index=self.todo.index(plan) + 1, total=len(self.todo), path=str(plan.path),
             step=plan.step, source=plan.source)
        t_load = time.time()
        model = loader.load(plan)
        load_seconds = time.time() - t_load
        qd.barrier()
        t_eval = time.time()
        logits, labels, indices = run_model(model, self.cache, self.device, self.dtype, plan)
        seconds = time.time() - t_eval
        if model is not loader.skeleton:
            del model
        if len(np.unique(indices)) != len(samples) or len(indices) != len(samples):
            raise RuntimeError(f"evaluation counted {len(indices)} predictions for {len(samples)} samples")
        metrics = classification_metrics(logits, labels, class_names, detailed=True)
        metrics["labels"] = list(class_names)
        if qd.is_main():
            lines = prediction_lines(logits, labels, indices, samples, class_names, self.checked["eval_key"])
            write_results(plan, self.checked, metrics, lines, {"data": self.args.data, "world_size": self.world,
                                                               "batch_size": self.batch_size,
                                                               "precision": self.precision, "seconds": seconds})
        qd.barrier()
        images_per_s = len(samples) / max(seconds, 1e-9)
        emit("checkpoint_done", path=str(plan.path), step=plan.step, metrics=scalar_metrics(metrics),
             num_samples=len(samples), seconds=seconds, load_seconds=load_seconds, images_per_s=images_per_s)
        self.results.append(result_row(plan, "evaluated", metrics, {"seconds": seconds, "load_seconds": load_seconds,
                                                                     "images_per_s": images_per_s}))

    def finish(self) -> int:
        """--out-json (rank 0, atomically) and the summary event."""
        summary = {"eval_key": self.checked["eval_key"], "data": self.data, "data_sha256": self.checked["data_sha256"],
                   "num_samples": len(self.samples), "world_size": self.world, "batch_size": self.batch_size,
                   "precision": self.precision, "preprocess_seconds": self.preprocess_seconds,
                   "total_seconds": time.time() - self.t_start, "results": self.results}
        if qd.is_main():
            out = Path(self.args.out_json)
            out.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(out, json.dumps(json_safe(summary), indent=2) + "\n")
        emit("summary", **summary)
        return EXIT_OK


def run(args) -> int:
    recipe = EvaluateRecipe(args)
    recipe.setup()
    recipe.preprocess()
    recipe.evaluate_all()
    return recipe.finish()


def main(argv=None) -> int:
    args = parse_args(argv)

    code = EXIT_FAILED
    try:
        code = run(args)
    except Exception as exc:  # noqa: BLE001 - bad input exit 2, anything else exit 1, both as an error event
        # no hint line: lib/evaluate adds its own fix to the message
        code = report_failure(exc, emit, to_stderr=qd.is_main(), with_hint=False)
    qd.exit_process(code, ok_code=EXIT_OK)  # barrier on success, flush, os._exit (see dist.py)


if __name__ == "__main__":
    sys.exit(main())
