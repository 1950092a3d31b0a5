"""DeepSpeed checkpoint -> hf_model/: full weights, chosen dtype, sharded safetensors, loadable by transformers.

    python -m qc_engine.export --checkpoint OUT/checkpoint-800 [--dtype auto|bf16|fp16|fp32] [--max-shard-size 5GB]
                               [--verify] [--verify-samples 4] [--json] [--merge]

A LoRA checkpoint (training_info.json "lora") is exported by merging adapter/ into the base model
(model.pretrained_name of the run): --merge says so explicitly and is refused for a full fine-tune.

Source: deepspeed/ (any ZeRO stage; ZeRO 1-3 through deepspeed.utils.zero_to_fp32, stage 0 from the
module state), or, for a slim checkpoint, the existing hf_model/ (re-cast / re-shard).
Written into hf_model.tmp/ with the engine's own save_hf_model, checked (safetensors headers), then
swapped into place atomically: any failure (memory, disk, a missing shard, a kill) leaves the
previous hf_model/ as it was. training_info.json is updated last (has_hf_model, bytes).

--json prints one JSON object a line on stdout: {"event": "progress", "phase", "done", "total", "unit"},
then {"event": "result", ...} or {"event": "error", "message", "exit_code"}.
Exit codes: 0 exported; 2 bad input (not a complete checkpoint, nothing to export from, bad option);
1 anything else (memory, disk, verification failed).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import errno
import fcntl
import json
import os
import re
import shutil
import struct
import sys
import threading
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import psutil
import torch
import transformers
from PIL import Image
from transformers import AutoConfig

from .config import QwenClassifyConfig, load_resolved
from .data import ClassifierCollator, ImageClassificationDataset, load_class_names, read_jsonl
from .errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, BadInput
from .fsio import dir_bytes, fsync_dir, read_json, write_json_atomic
from .locks import checkpoint_in_use
from .lora import adapter_folder, adapter_on_base, base_model_folder, merged_state_dict, missing_weights_message
from .manifest import build_manifest, verify_checkpoint
from .model import AUTO_MAP, load_hf_classifier, load_processing, save_hf_model
from .modeling_qwen_classifier import Qwen2_5_VLForImageClassification

DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
SAFETENSORS_DTYPE = {"fp32": "F32", "bf16": "BF16", "fp16": "F16"}
DTYPE_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}
# Logits of the exported model (computed in fp32) against the model rebuilt from the source state:
# pass when max|diff| <= atol + rtol * max|reference|. Only the weights' rounding differs.
TOLERANCE = {"fp32": (1e-5, 1e-5), "fp16": (1e-3, 5e-3), "bf16": (1e-2, 3e-2)}
# Test-only fault injection (engine/tests/test_export.py): QC_EXPORT_TEST_FAULT=write|after_write|swap
FAULT_ENV = "QC_EXPORT_TEST_FAULT"
SYNTHETIC_PROMPT = "Classify this image."


class ExportError(Exception):
    """The export failed (exit 1); bad input raises errors.BadInput (exit 2) instead."""


# ==================================================================== output (progress lines)

class Reporter:
    """Progress and messages: JSON lines on stdout with --json, plain lines on stderr otherwise."""

    def __init__(self, as_json: bool):
        self.as_json = as_json
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def _emit(self, obj: dict) -> None:
        with self._lock:
            print(json.dumps(obj), flush=True)

    def progress(self, phase: str, done: int, total: int, unit: str = "items", force: bool = False) -> None:
        now = time.monotonic()
        if not force and done < total and now - self._last.get(phase, 0.0) < 0.2:
            return
        self._last[phase] = now
        if self.as_json:
            self._emit({"event": "progress", "phase": phase, "done": done, "total": total, "unit": unit})
        else:
            pct = 100.0 * done / total if total else 100.0
            print(f"[export] {phase}: {done}/{total} {unit} ({pct:.0f}%)", file=sys.stderr, flush=True)

    def line(self, message: str) -> None:
        if self.as_json:
            self._emit({"event": "line", "message": message})
        else:
            print(f"[export] {message}", file=sys.stderr, flush=True)

    def result(self, result: dict) -> None:
        if self.as_json:
            self._emit({"event": "result", **result})
        else:
            print(json.dumps(result, indent=2))

    def error(self, message: str, exit_code: int) -> None:
        if self.as_json:
            self._emit({"event": "error", "message": message, "exit_code": exit_code})
        print(f"error: {message}", file=sys.stderr, flush=True)


def fault(point: str) -> None:
    """Test-only fault injection at a named point."""
    if os.environ.get(FAULT_ENV) != point:
        return
    if point == "after_write":  # hang so that a test can SIGKILL us with hf_model.tmp fully written
        print(json.dumps({"event": "paused", "point": point}), flush=True)
        time.sleep(600)
    raise OSError(errno.ENOSPC, f"injected fault at {point}: No space left on device")


# ==================================================================== the checkpoint and its run

def parse_size(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)?\s*", str(text), re.IGNORECASE)
    if not m:
        raise BadInput(f"--max-shard-size {text!r}: expected a size such as 5GB, 500MB or 1000000")
    units = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
             "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}
    value = int(float(m.group(1)) * units[(m.group(2) or "B").upper()])
    if value <= 0:
        raise BadInput(f"--max-shard-size {text!r} must be positive")
    return value


def check_checkpoint(path: Path) -> dict:
    if not path.is_dir():
        raise BadInput(f"checkpoint not found: {path}")
    info = read_json(path / "training_info.json")
    if not isinstance(info, dict):
        raise BadInput(f"{path} is not a complete checkpoint (no readable training_info.json); "
                       "it is still being written, was interrupted, or is not a qwen-classify checkpoint")
    return info


def run_config_for(checkpoint: Path) -> QwenClassifyConfig | None:
    """The run's resolved config: the checkpoint's own copy (self-contained checkpoints), else
    OUT/resolved_config.json beside it (checkpoints from before the copy), if present."""
    for path in (checkpoint / "resolved_config.json", checkpoint.parent / "resolved_config.json"):
        if path.is_file():
            return load_resolved(path)[0]
    return None


def class_names_for(info: dict, config: QwenClassifyConfig | None) -> list[str]:
    id2label = info.get("id2label") or {}
    if id2label:
        return [str(id2label[str(i)]) for i in range(len(id2label))]
    if config is not None:
        return load_class_names(config)
    raise BadInput("training_info.json has no id2label and no resolved_config.json is beside the checkpoint")


def deepspeed_tag_dir(ds_dir: Path, info: dict) -> tuple[str, Path]:
    tag = None
    latest = ds_dir / "latest"
    if latest.is_file():
        tag = latest.read_text().strip()
    if not tag or not (ds_dir / tag).is_dir():
        tag = f"global_step{info.get('step')}"
    if not (ds_dir / tag).is_dir():
        found = sorted(p.name for p in ds_dir.iterdir() if p.is_dir())
        raise BadInput(f"{ds_dir}: no DeepSpeed tag folder {tag!r} (found: {', '.join(found) or 'nothing'})")
    return tag, ds_dir / tag


def check_deepspeed_files(tag_dir: Path, info: dict) -> int:
    """Every rank's shard must be there before anything is read; returns the ZeRO stage seen on disk."""
    world = int(info.get("world_size") or 1)
    optim = sorted(tag_dir.glob("*_optim_states.pt"))
    models = sorted(tag_dir.glob("*model_states.pt"))
    if not models:
        raise BadInput(f"{tag_dir}: no *model_states.pt file (the DeepSpeed checkpoint is incomplete)")
    stage = int(info.get("zero_stage") or 0)
    if optim and stage >= 1:
        missing = [r for r in range(world) if not list(tag_dir.glob(f"*zero_pp_rank_{r}_mp_rank_*_optim_states.pt"))]
        if missing:
            raise BadInput(f"{tag_dir}: missing the optimizer shard of rank(s) {missing} "
                           f"(expected {world}, one per rank; found {len(optim)})")
    if stage == 3:
        missing = [r for r in range(world) if not list(tag_dir.glob(f"zero_pp_rank_{r}_mp_rank_*_model_states.pt"))]
        if missing:
            raise BadInput(f"{tag_dir}: missing the ZeRO-3 model shard of rank(s) {missing}")
    if stage >= 1 and not optim:
        raise BadInput(f"{tag_dir}: ZeRO stage {stage} but no *_optim_states.pt files")
    return stage


# ==================================================================== reading the full weights

def consolidate_deepspeed(ds_dir: Path, info: dict, report: Reporter):
    """Full fp32 weights (module names) from deepspeed/, as a dict of lazy or real tensors."""
    tag, tag_dir = deepspeed_tag_dir(ds_dir, info)
    stage = check_deepspeed_files(tag_dir, info)
    report.line(f"reading {tag_dir} (ZeRO stage {stage}, world size {info.get('world_size')})")
    if stage >= 1:
        # deferred: main() chooses DeepSpeed's accelerator (DS_ACCELERATOR) before deepspeed is imported
        from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint

        try:
            # lazy: tensors are views into the fp32 flat groups, materialised one at a time by cast_state.
            # DeepSpeed prints to stdout; keep stdout for our JSON lines.
            with contextlib.redirect_stdout(sys.stderr):
                state = get_fp32_state_dict_from_zero_checkpoint(str(ds_dir), tag=tag, lazy_mode=True)
            return state, stage, tag
        except (ValueError, FileNotFoundError, KeyError) as exc:
            raise BadInput(f"{tag_dir}: DeepSpeed could not consolidate the ZeRO shards: {exc}") from exc
    model_file = sorted(tag_dir.glob("mp_rank_*_model_states.pt"))[0]
    state = torch.load(model_file, map_location="cpu", weights_only=False, mmap=True)
    module = state.get("module")
    if not isinstance(module, dict):
        raise BadInput(f"{model_file}: no 'module' state dict in the DeepSpeed model states")
    return module, stage, tag


def cast_state(state: dict, dtype, report: Reporter, keep_fp32: bool) -> tuple[dict, dict | None]:
    """(weights in `dtype`, fp32 weights or None). Tensors shared in the source stay shared."""
    out, ref = {}, ({} if keep_fp32 else None)
    seen: dict[int, tuple] = {}
    names = list(state.keys())
    for i, name in enumerate(names):
        src = state[name]
        key = id(src)
        if key in seen:
            out[name], fp32 = seen[key]
        else:
            tensor = src.contiguous() if not isinstance(src, torch.Tensor) else src
            floating = tensor.dtype.is_floating_point  # integer/bool buffers keep their exact values
            fp32 = (tensor.float() if floating else tensor) if keep_fp32 else None
            out[name] = (tensor.to(dtype) if floating else tensor).contiguous()
            seen[key] = (out[name], fp32)
        if ref is not None:
            ref[name] = fp32
        report.progress("cast", i + 1, len(names), "tensors")
    return out, ref


# ==================================================================== the model skeleton (config only)

def skeleton(config, dtype, device: str = "meta"):
    """The classifier class built from its config; on meta (no memory) for saving, on cpu for verifying."""
    with torch.device(device):
        model = Qwen2_5_VLForImageClassification(config)
    return model.to(dtype)


def model_config_for(checkpoint: Path, info: dict, run_config: QwenClassifyConfig | None, class_names: list[str]):
    """The classifier's config: from the run's base model folder (+ labels, pooling), else from hf_model/."""
    pretrained = run_config.model.pretrained_name if run_config else None
    hf_dir = checkpoint / "hf_model"
    if pretrained and (Path(pretrained) / "config.json").is_file():
        config = AutoConfig.from_pretrained(str(pretrained), trust_remote_code=run_config.model.trust_remote_code)
        config.id2label = {i: n for i, n in enumerate(class_names)}
        config.label2id = {n: i for i, n in enumerate(class_names)}
        config.classifier_pooling = run_config.model.pooling
        source = Path(pretrained)
    elif (hf_dir / "config.json").is_file():
        config = AutoConfig.from_pretrained(str(hf_dir), trust_remote_code=True)
        source = hf_dir
    else:
        raise BadInput(f"cannot rebuild the model config of {checkpoint}: model.pretrained_name "
                       f"({pretrained or 'no resolved_config.json beside the checkpoint'}) is not a model folder "
                       "and there is no hf_model/config.json")
    config.architectures = ["Qwen2_5_VLForImageClassification"]
    config.auto_map = dict(AUTO_MAP)
    return config, source


def processing_for(source: Path, run_config: QwenClassifyConfig | None):
    data = run_config.data if run_config else None
    try:
        # no run config: the source folder's own processor settings
        return load_processing(source, data and data.image_min_pixels, data and data.image_max_pixels)
    except Exception as exc:  # the folder has no tokenizer/processor files
        raise BadInput(f"cannot load the tokenizer/image processor from {source}: {exc}") from exc


# ==================================================================== safetensors headers

def read_safetensors_header(path: Path) -> dict:
    with open(path, "rb") as fh:
        raw = fh.read(8)
        if len(raw) != 8:
            raise ExportError(f"{path}: truncated safetensors file")
        (length,) = struct.unpack("<Q", raw)
        if length > 100 * 2**20:
            raise ExportError(f"{path}: implausible safetensors header length {length}")
        header = json.loads(fh.read(length))
    header.pop("__metadata__", None)
    return header


def inspect_hf_weights(hf_dir: Path) -> dict:
    """Tensor count, parameter count, dtypes and files of a folder's safetensors (headers only)."""
    index = hf_dir / "model.safetensors.index.json"
    if index.is_file():
        weight_map = json.loads(index.read_text())["weight_map"]
        files = sorted(set(weight_map.values()))
    else:
        weight_map = None
        files = sorted(p.name for p in hf_dir.glob("*.safetensors"))
    if not files:
        raise ExportError(f"{hf_dir}: no safetensors weights were written")
    tensors, params, dtypes, sizes = 0, 0, set(), {}
    names = set()
    for name in files:
        path = hf_dir / name
        if not path.is_file():
            raise ExportError(f"{hf_dir}: shard {name} listed in the index is missing")
        header = read_safetensors_header(path)
        end = 0
        for key, meta in header.items():
            n = 1
            for d in meta["shape"]:
                n *= int(d)
            tensors += 1
            params += n
            dtypes.add(meta["dtype"])
            names.add(key)
            end = max(end, int(meta["data_offsets"][1]))
            if weight_map is not None and weight_map.get(key) != name:
                raise ExportError(f"{hf_dir}/{name}: tensor {key} is not where the index says")
        size = path.stat().st_size
        with open(path, "rb") as fh:
            (length,) = struct.unpack("<Q", fh.read(8))
        if size != 8 + length + end:
            raise ExportError(f"{hf_dir}/{name}: {size} bytes on disk, header describes {8 + length + end}")
        sizes[name] = size
    if weight_map is not None and set(weight_map) != names:
        raise ExportError(f"{hf_dir}: the index lists {len(weight_map)} tensors, the shards hold {len(names)}")
    return {"files": files, "tensors": tensors, "parameters": params, "dtypes": sorted(dtypes),
            "shard_bytes": sizes}


# ==================================================================== writing + swapping

def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(at_fdcwd, os.fsencode(str(a)), at_fdcwd, os.fsencode(str(b)), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(a))


def lock_checkpoint(checkpoint: Path) -> int:
    """An exclusive flock on the checkpoint folder itself: two exports of one checkpoint never overlap."""
    fd = os.open(str(checkpoint), os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ExportError(f"another export of {checkpoint} is running; wait for it to finish") from None
    return fd


def recover_interrupted_swap(checkpoint: Path) -> list[str]:
    """Undo what a killed export left: hf_model.tmp (never used), hf_model.old (restored if needed)."""
    notes = []
    tmp, final, old = checkpoint / "hf_model.tmp", checkpoint / "hf_model", checkpoint / "hf_model.old"
    if old.exists() and not final.exists():
        os.rename(old, final)
        notes.append("restored hf_model/ from hf_model.old (an export was killed mid-swap)")
    elif old.exists():
        shutil.rmtree(old, ignore_errors=True)
        notes.append("removed hf_model.old left by a killed export")
    if tmp.exists():
        shutil.rmtree(tmp, ignore_errors=True)
        notes.append("removed hf_model.tmp left by a failed or killed export")
    return notes


def swap_into_place(tmp: Path, final: Path) -> bool:
    """tmp -> final; the previous final (if any) is removed only after the new one is in place."""
    fault("swap")
    if not final.exists():
        os.rename(tmp, final)
        fsync_dir(final.parent)
        return False
    if _exchange(tmp, final):  # tmp now holds the previous hf_model/
        fsync_dir(final.parent)
        shutil.rmtree(tmp, ignore_errors=True)
        return True
    old = final.with_name("hf_model.old")
    os.rename(final, old)
    os.rename(tmp, final)
    fsync_dir(final.parent)
    shutil.rmtree(old, ignore_errors=True)
    return True


class WriteWatcher(threading.Thread):
    """Reports the bytes written under a folder while save_pretrained runs (it has no progress hook)."""

    def __init__(self, folder: Path, expected: int, report: Reporter):
        super().__init__(daemon=True)
        self.folder, self.expected, self.report = folder, expected, report
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.5):
            self.report.progress("write", min(dir_bytes(self.folder), self.expected), self.expected, "bytes")


def write_hf_folder(tmp: Path, config, dtype, weights: dict, tokenizer, image_processor, source_dir: Path,
                    max_shard_size: int, report: Reporter) -> None:
    """The engine's own save_hf_model, with the weights given and the shard size asked for."""
    model = skeleton(config, dtype)  # config + class only: the weights come from `weights`
    expected = sum(t.numel() * t.element_size() for t in {id(t): t for t in weights.values()}.values())
    watcher = WriteWatcher(tmp, expected, report)
    watcher.start()
    try:
        fault("write")
        save_hf_model(tmp, model, tokenizer=tokenizer, image_processor=image_processor, state_dict=weights,
                      source_dir=source_dir, max_shard_size=max_shard_size)
    finally:
        watcher.stop.set()
        watcher.join()
    report.progress("write", expected, expected, "bytes", force=True)


# ==================================================================== verification (logits)

def verification_batch(hf_dir: Path, run_config: QwenClassifyConfig | None, class_names: list[str], samples: int):
    """A few validation images (data.val_jsonl of the run), encoded by the EXPORTED processor files."""
    data = run_config.data if run_config else None
    tokenizer, image_processor = load_processing(hf_dir, data and data.image_min_pixels, data and data.image_max_pixels)
    val = data.val_jsonl if data else None
    if val and Path(val).is_file():
        split = read_jsonl(val, class_names, on_bad_sample="skip", check_images=False)
        items = [ImageClassificationDataset(split.samples)[i] for i in range(min(samples, len(split.samples)))]
        where = f"{len(items)} validation image(s) from {val}"
    else:
        rng = np.random.default_rng(0)
        items = [(Image.fromarray(rng.integers(0, 255, (56, 56, 3), dtype=np.uint8)), 0, i) for i in range(samples)]
        where = f"{samples} synthetic image(s) (no data.val_jsonl beside the checkpoint)"
    if not items:
        raise ExportError(f"verification: {val} has no usable sample")
    # Both models see the same input, so without the run's prompt any fixed text verifies the weights.
    collator = ClassifierCollator(tokenizer, image_processor, data.prompt if data else SYNTHETIC_PROMPT)
    batch = collator(items)
    return {k: v for k, v in batch.items() if k not in ("labels", "indices")}, where


def verify_logits(hf_dir: Path, reference_state: dict, config, run_config: QwenClassifyConfig | None,
                  class_names: list[str], dtype_name: str, samples: int, report: Reporter) -> dict:
    report.line("verifying: logits of the exported model vs the model rebuilt from the source state")
    batch, where = verification_batch(hf_dir, run_config, class_names, samples)
    reference = skeleton(config, torch.float32, device="cpu")
    missing, unexpected = reference.load_state_dict(reference_state, strict=False)
    if missing or unexpected:
        raise ExportError(f"verification: the source state does not fit the model (missing {missing[:5]}, "
                          f"unexpected {unexpected[:5]})")
    reference.eval()
    report.progress("verify", 1, 3, "steps", force=True)
    with torch.no_grad():
        ref_logits = reference(**batch).logits.float()
    del reference
    exported = load_hf_classifier(hf_dir, dtype=torch.float32)  # weights as saved, compute in fp32
    exported.eval()
    report.progress("verify", 2, 3, "steps", force=True)
    with torch.no_grad():
        exp_logits = exported(**batch).logits.float()
    report.progress("verify", 3, 3, "steps", force=True)
    atol, rtol = TOLERANCE[dtype_name]
    max_diff = float((exp_logits - ref_logits).abs().max())
    scale = float(ref_logits.abs().max())
    limit = atol + rtol * scale
    agree = int((exp_logits.argmax(-1) == ref_logits.argmax(-1)).sum())
    result = {"inputs": where, "samples": int(ref_logits.shape[0]), "max_abs_diff": max_diff,
              "max_abs_reference": scale, "tolerance": limit, "atol": atol, "rtol": rtol,
              "argmax_agree": agree, "passed": max_diff <= limit}
    if not result["passed"]:
        raise ExportError(f"verification failed: max |logit difference| {max_diff:.3g} > tolerance {limit:.3g} "
                          f"({dtype_name}: {atol} + {rtol} x max|reference| {scale:.3g})")
    return result


# ==================================================================== resources

def check_resources(checkpoint: Path, n_params: int, dtype_name: str, verify: bool, report: Reporter) -> None:
    out_bytes = n_params * DTYPE_BYTES[dtype_name]
    free_disk = shutil.disk_usage(checkpoint).free
    if free_disk < out_bytes * 1.05 + 64 * 2**20:
        raise ExportError(f"not enough disk space in {checkpoint}: the export needs about "
                          f"{out_bytes / 2**30:.2f} GiB, {free_disk / 2**30:.2f} GiB free; free some (tasks/prune.ts)")
    need = n_params * 4 + out_bytes + (n_params * 8 if verify else 0)
    avail = psutil.virtual_memory().available
    if need > avail:
        raise ExportError(f"not enough memory: the export needs about {need / 2**30:.1f} GiB of RAM "
                          f"({'with' if verify else 'without'} --verify), {avail / 2**30:.1f} GiB available")
    report.line(f"{n_params:,} parameters -> {out_bytes / 2**20:.1f} MiB as {dtype_name}; "
                f"{free_disk / 2**30:.1f} GiB disk free, {avail / 2**30:.1f} GiB RAM available")


# ==================================================================== main

def merged_lora_state(checkpoint: Path, info: dict, run_config: QwenClassifyConfig | None, class_names: list[str],
                      report: Reporter) -> dict:
    """A LoRA checkpoint's merged classifier weights: the base model + adapter/ (peft), folded together."""
    base = base_model_folder(checkpoint, info)
    adapter = adapter_folder(checkpoint, info)
    if adapter is None:
        raise BadInput(missing_weights_message(checkpoint, info))
    report.line(f"merging {adapter} into the base model {base}")
    peft_model = adapter_on_base(base, adapter, class_names, run_config.model.pooling if run_config else "last_token")
    return {k: v.float() for k, v in merged_state_dict(peft_model).items()}


def source_state(checkpoint: Path, info: dict, run_config: QwenClassifyConfig | None, class_names: list[str],
                 dtype_name: str, merge: bool, report: Reporter):
    """The weights to export (module names, fp32) and where they came from: (config, source_dir, state, source).
    LoRA: adapter/ merged into the base (deepspeed/ lacks the frozen base); else the DeepSpeed state; a slim
    checkpoint re-exports its hf_model/."""
    ds_dir, hf_dir = checkpoint / "deepspeed", checkpoint / "hf_model"
    if info.get("lora") and (checkpoint / info["lora"]["adapter_dir"]).is_dir():
        state = merged_lora_state(checkpoint, info, run_config, class_names, report)  # checks the base first
        config, source_dir = model_config_for(checkpoint, info, run_config, class_names)
        return config, source_dir, state, {"kind": "adapter", "zero_stage": None, "tag": None}
    if merge:
        raise BadInput(f"--merge: {checkpoint} is not a LoRA checkpoint (training_info.json has no \"lora\" "
                       "or adapter/ is missing); export it without --merge")
    if ds_dir.is_dir() and info.get("has_deepspeed_state", True) and not info.get("slim"):
        config, source_dir = model_config_for(checkpoint, info, run_config, class_names)
        state, stage, tag = consolidate_deepspeed(ds_dir, info, report)
        return config, source_dir, state, {"kind": "deepspeed", "zero_stage": stage, "tag": tag}
    if hf_dir.is_dir() and (hf_dir / "config.json").is_file():
        report.line(f"{checkpoint.name} has no DeepSpeed state (slim): re-exporting from its hf_model/")
        loaded = load_hf_classifier(hf_dir, dtype=torch.float32)
        if dtype_name == "fp32" and "F32" not in inspect_hf_weights(hf_dir)["dtypes"]:
            report.line("note: the source hf_model/ is not fp32; fp32 cannot restore the lost precision")
        state = {k: v for k, v in loaded.state_dict().items()}
        return loaded.config, hf_dir, state, {"kind": "hf_model", "zero_stage": None, "tag": None}
    raise BadInput(f"{checkpoint}: nothing to export from (no deepspeed/ state and no hf_model/)")


def check_written(tmp: Path, weights: dict, dtype_name: str) -> dict:
    """hf_model.tmp's safetensors against the source: tensor and parameter counts, one float dtype."""
    unique = {id(t): t for t in weights.values()}  # tied (shared) tensors are written once
    expected_tensors = len(unique)
    expected_params = sum(int(t.numel()) for t in unique.values())
    stats = inspect_hf_weights(tmp)
    if stats["tensors"] != expected_tensors or stats["parameters"] != expected_params:
        raise ExportError(f"written weights do not match the source: {stats['tensors']} tensors / "
                          f"{stats['parameters']:,} parameters written, {expected_tensors} / "
                          f"{expected_params:,} expected")
    float_dtypes = [d for d in stats["dtypes"] if d in ("F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2")]
    if float_dtypes != [SAFETENSORS_DTYPE[dtype_name]]:
        raise ExportError(f"written weights have dtype(s) {stats['dtypes']}, expected {SAFETENSORS_DTYPE[dtype_name]}")
    return stats


def record_export(checkpoint: Path, info: dict, dtype_name: str) -> int:
    """training_info.json, rewritten last: hf_model/ present, its dtype, sizes, the manifest. Returns hf_model/'s bytes."""
    ds_dir, hf_dir = checkpoint / "deepspeed", checkpoint / "hf_model"
    hf_bytes, ds_bytes = dir_bytes(hf_dir), dir_bytes(ds_dir) if ds_dir.exists() else 0
    info.update({
        "has_hf_model": True,
        "hf_model_dtype": dtype_name,
        "exported_at": datetime.now(timezone.utc).isoformat(),
        "bytes": {"deepspeed": ds_bytes, "hf_model": hf_bytes, "total": dir_bytes(checkpoint) + 4096},
    })
    if info.get("lora"):  # hf_model/ now holds the merged weights
        info["lora"]["hf_model"] = "merged"
        info["bytes"]["adapter"] = dir_bytes(checkpoint / info["lora"]["adapter_dir"])
    if "files" in info:  # the manifest follows the new hf_model/ (fsynced + hashed before training_info.json)
        kept = {k: v for k, v in info["files"].items() if not k.startswith("hf_model/")}
        info["files"] = {**kept, **build_manifest(checkpoint, prefix="hf_model/")}
    write_json_atomic(checkpoint / "training_info.json", info)
    return hf_bytes


def export_checkpoint(checkpoint: Path, dtype_name: str, max_shard_size: str, verify: bool, verify_samples: int,
                      report: Reporter, merge: bool = False) -> dict:
    """Checks, source weights, hf_model.tmp written + checked (+ logits verified), swapped in, training_info last."""
    t0 = time.time()
    checkpoint = checkpoint.resolve()
    info = check_checkpoint(checkpoint)
    if dtype_name == "auto":  # the precision the checkpoint was trained in: same logits as the engine
        dtype_name = info.get("precision") if info.get("precision") in DTYPES else "fp32"
    merge = merge or bool(info.get("lora"))
    if dtype_name not in DTYPES:
        raise BadInput(f"--dtype {dtype_name!r}: expected one of {', '.join(DTYPES)}")
    shard_bytes = parse_size(max_shard_size)
    _lock_fd = lock_checkpoint(checkpoint)  # held until this process exits
    for note in recover_interrupted_swap(checkpoint):
        report.line(note)
    slim = info.get("slim") or info.get("has_deepspeed_state") is False
    checked = verify_checkpoint(checkpoint, info, hashes=verify, skip_prefixes=("deepspeed/",) if slim else ())
    report.line(f"checkpoint files checked against training_info.json: {checked}")
    dtype = getattr(torch, DTYPES[dtype_name])
    run_config = run_config_for(checkpoint)
    class_names = class_names_for(info, run_config)
    hf_dir, tmp = checkpoint / "hf_model", checkpoint / "hf_model.tmp"

    t_read = time.time()
    config, source_dir, state, source = source_state(checkpoint, info, run_config, class_names, dtype_name, merge,
                                                     report)
    tokenizer, image_processor = processing_for(source_dir, run_config)
    n_params = sum(int(torch.Size(t.shape).numel()) for t in {id(t): t for t in state.values()}.values())
    check_resources(checkpoint, n_params, dtype_name, verify, report)
    weights, reference = cast_state(state, dtype, report, keep_fp32=verify)
    del state
    read_s = time.time() - t_read

    t_write = time.time()
    try:
        write_hf_folder(tmp, config, dtype, weights, tokenizer, image_processor, source_dir, shard_bytes, report)
        stats = check_written(tmp, weights, dtype_name)
        del weights
        write_s = time.time() - t_write
        verification = None
        if verify:
            verification = verify_logits(tmp, reference, config, run_config, class_names, dtype_name,
                                         verify_samples, report)
        fault("after_write")
        replaced = swap_into_place(tmp, hf_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

    hf_bytes = record_export(checkpoint, info, dtype_name)
    return {
        "checkpoint": str(checkpoint), "hf_model": str(hf_dir), "source": source, "dtype": dtype_name,
        "max_shard_size": shard_bytes, "files": stats["files"], "shard_bytes": stats["shard_bytes"],
        "tensors": stats["tensors"], "parameters": stats["parameters"], "safetensors_dtypes": stats["dtypes"],
        "bytes": hf_bytes, "replaced_previous": replaced, "seconds": time.time() - t0, "read_seconds": read_s,
        "write_seconds": write_s, "verify": verification,
    }


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m qc_engine.export", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True, help="a complete checkpoint-N folder")
    p.add_argument("--dtype", default="auto", choices=["auto", *sorted(DTYPES)],
                   help="dtype of the exported weights; auto: the training precision (training_info.json)")
    p.add_argument("--max-shard-size", default="5GB", help="largest safetensors shard (e.g. 5GB, 500MB)")
    p.add_argument("--verify", action="store_true", help="also compare logits with the source state")
    p.add_argument("--verify-samples", type=int, default=4, help="validation images used by --verify")
    p.add_argument("--json", action="store_true", help="JSON lines on stdout (progress, result, error)")
    p.add_argument("--merge", action="store_true",
                   help="LoRA checkpoint: merge adapter/ into the base model (the default for LoRA checkpoints; "
                        "refused for a full fine-tune)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    report = Reporter(args.json)
    os.environ.setdefault("DS_ACCELERATOR", "cpu")
    try:
        transformers.logging.set_verbosity_error()
        # .in-use.export.<pid> for this process's lifetime: prune/retention leave the checkpoint alone
        # also when the export was started by hand (tasks/export.ts holds its own lock as well)
        with checkpoint_in_use(Path(args.checkpoint), "export", missing_ok=True):
            result = export_checkpoint(Path(args.checkpoint), args.dtype, args.max_shard_size, args.verify,
                                       args.verify_samples, report, merge=args.merge)
    except BadInput as exc:
        report.error(str(exc), EXIT_BAD_INPUT)
        return EXIT_BAD_INPUT
    except ExportError as exc:
        report.error(str(exc), EXIT_FAILED)
        return EXIT_FAILED
    except MemoryError:
        report.error("out of memory while exporting; the previous hf_model/ is intact", EXIT_FAILED)
        return EXIT_FAILED
    except OSError as exc:
        report.error(f"{exc}; the previous hf_model/ is intact", EXIT_FAILED)
        return EXIT_FAILED
    except Exception as exc:  # e.g. torch's "can't allocate memory" RuntimeError

        traceback.print_exc(file=sys.stderr)
        report.error(f"{type(exc).__name__}: {exc}; the previous hf_model/ is intact", EXIT_FAILED)
        return EXIT_FAILED
    report.result(result)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
