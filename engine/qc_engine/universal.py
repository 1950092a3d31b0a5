"""A ZeRO checkpoint's DeepSpeed state in DeepSpeed's universal format, for resuming on another process count.

ZeRO-1/2/3 save the optimizer state (and, for ZeRO-3, the weights) partitioned per process, and DeepSpeed
refuses to load it on another data-parallel size. Its universal checkpoint stores each parameter's fp32
weight and Adam moments whole (`zero/<param>/{fp32,exp_avg,exp_avg_sq,step}.pt`), which any layout can
load with the config key `checkpoint.load_universal` (DeepSpeed issue 5405 is about the same gap).

The conversion is DeepSpeed's own `python -m deepspeed.checkpoint.ds_to_universal`, run on rank 0 in a
subprocess (its worker pools fork; a fresh process keeps them away from the training process's threads
and frees its memory afterwards), with `--inject_missing_state` (a plain PyTorch model carries no
universal-checkpoint metadata; DeepSpeed's default version record is what it needs for data parallelism
only). Checked here on the CPU for ZeRO-2 and ZeRO-3 (2 <-> 1 processes, engine/tests/test_elastic_resume.py).

Layout: `checkpoint-N/deepspeed/universal/{global_stepN/, latest_universal, qc_universal.json}`. It is
built as `checkpoint-N/deepspeed/.universal.tmp-<pid>/` and renamed into place after qc_universal.json
(its own manifest and the identity of the source files) is written, so a crash leaves only a hidden
temporary folder, removed by the next attempt; the checkpoint's own files are never changed, and being
inside deepspeed/ the conversion is removed with it (retention, prune --slim). A later resume reuses it
when qc_universal.json's source matches the checkpoint's files and its own files have their sizes.

Cost for Qwen2.5-VL-7B (8.3e9 parameters, all trainable): the conversion reads the ZeRO shards
(12 bytes/param: fp32 weight + 2 moments, ~100 GB) and writes the same again into universal/ (~100 GB
more disk in that checkpoint), minutes on local NVMe; rank 0 does it while the other ranks wait at a
barrier (the process-group timeout, 30 min by default, bounds it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from .errors import BadInput
from .fsio import fsync_dir, read_json, write_json_atomic
from .manifest import build_manifest, verify_checkpoint

UNIVERSAL_DIR = "universal"
MARKER = "qc_universal.json"
TMP_PREFIX = ".universal.tmp-"


def source_identity(ckpt: Path, tag: str, info: dict) -> dict:
    """The files the conversion reads (deepspeed/<tag>/*): size, and the SHA-256 the checkpoint's manifest
    records for it when it has one. A checkpoint replaced by another run's gets another identity."""
    listed = (info or {}).get("files") or {}
    folder = ckpt / "deepspeed" / tag
    out = {}
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if path.is_file():
            rel = f"deepspeed/{tag}/{path.name}"
            out[rel] = {"size": path.stat().st_size, "sha256": (listed.get(rel) or {}).get("sha256")}
    return out


def reusable(target: Path, source: dict) -> bool:
    """A finished conversion of these very source files whose own files are all there with their sizes."""
    marker = read_json(target / MARKER)
    if not isinstance(marker, dict) or marker.get("source") != source:
        return False
    try:
        verify_checkpoint(target, marker)
    except BadInput:
        return False
    return True


def conversion_argv(src: Path, dst: Path, workers: int) -> list[str]:
    return [sys.executable, "-m", "deepspeed.checkpoint.ds_to_universal", "--input_folder", str(src),
            "--output_folder", str(dst), "--num_extract_workers", str(workers),
            "--num_merge_workers", str(max(1, workers // 2)), "--inject_missing_state"]


def run_conversion(src: Path, dst: Path, log: Path, workers: int) -> None:
    """DeepSpeed's converter in a subprocess; its output goes to `log`. Raises naming the log on failure."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as fh:
        result = subprocess.run(conversion_argv(src, dst, workers), stdout=fh, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    if result.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise RuntimeError(f"DeepSpeed's universal checkpoint conversion of {src} failed (exit "
                           f"{result.returncode}); its log: {log}\n{tail}")


def universal_checkpoint(ckpt: Path, tag: str, info: dict, log: Path, workers: int | None = None) -> tuple[Path, bool]:
    """Rank 0: (checkpoint-N/deepspeed/universal, True when converted now / False when reused). `log`: where
    the converter's output goes. Call load_checkpoint(<returned path>, tag) with checkpoint.load_universal."""
    base = ckpt / "deepspeed"
    target, source = base / UNIVERSAL_DIR, source_identity(ckpt, tag, info)
    if not source:
        raise BadInput(f"{base / tag}: no DeepSpeed state to convert")
    if not os.access(base, os.W_OK):
        raise BadInput(f"{base} is not writable: the universal checkpoint is written beside the ZeRO shards",
                       hint=f"copy {ckpt} to a writable place and resume from the copy, or resume on "
                            f"{info.get('world_size')} process(es)")
    if target.is_dir() and reusable(target, source):
        return target, False
    for stale in base.glob(TMP_PREFIX + "*"):  # a crashed earlier conversion
        shutil.rmtree(stale, ignore_errors=True)
    tmp = base / f"{TMP_PREFIX}{os.getpid()}"
    workers = workers or max(1, min(4, (os.cpu_count() or 2) // 2))
    run_conversion(base / tag, tmp / tag, log, workers)
    marker = {"source": source, "tag": tag, "deepspeed": _deepspeed_version()}
    marker["files"] = build_manifest(tmp)  # fsyncs every converted file before the rename below
    write_json_atomic(tmp / MARKER, marker)
    if target.exists():  # a stale or damaged conversion: moved out of the way, then removed
        doomed = base / f"{TMP_PREFIX}old-{os.getpid()}"
        os.replace(target, doomed)
        shutil.rmtree(doomed, ignore_errors=True)
    os.replace(tmp, target)
    fsync_dir(base)
    return target, True


def unshare_zero3_steps(zero_optimizer) -> int:
    """After a ZeRO-3 universal load: give each sub-group's Adam state its own `step` tensor; returns how
    many were shared. DeepSpeed 0.19.8 (stage3.py load_hp_checkpoint_state_from_checkpoint_dir_stage3)
    stores ONE tensor as every sub-group's step, and torch's Adam increments it in place, so with 2
    sub-groups (our decay / no-decay groups) it advanced twice per step and the bias correction of the
    resumed run drifted: on the tiny model the loss 2 steps after resuming differed by 1.3e-4 instead
    of 1e-7 (engine/tests/test_elastic_resume.py catches it)."""
    seen, shared = set(), 0
    for fp32 in getattr(zero_optimizer, "fp32_partitioned_groups_flat", []):
        state = zero_optimizer.optimizer.state.get(fp32) or {}
        step = state.get("step")
        if step is None or not hasattr(step, "clone"):
            continue
        if id(step) in seen:
            state["step"], shared = step.clone(), shared + 1
        seen.add(id(state["step"]))
    return shared


def _deepspeed_version() -> str:
    import deepspeed  # deferred: slow to import

    return deepspeed.__version__
