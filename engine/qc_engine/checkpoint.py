"""Checkpoint folders on disk: listing, resume selection, atomic JSON, sizes.

Layout (contract, docs/architecture.md): OUT/checkpoint-<step>/{deepspeed/, hf_model/,
training_info.json (written last = complete), eval_results.json}; built as OUT/.checkpoint-<step>.tmp/.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")
TMP_RE = re.compile(r"^\.checkpoint-(\d+)\.tmp$")


class ResumeError(ValueError):
    """The checkpoint asked for cannot be resumed from (bad input: exit code 2)."""


@dataclass
class CheckpointDir:
    path: Path
    step: int
    info: dict | None

    @property
    def complete(self) -> bool:
        return self.info is not None

    @property
    def has_deepspeed_state(self) -> bool:
        return bool(self.info and self.info.get("has_deepspeed_state")) and (self.path / "deepspeed").is_dir()


def write_json_atomic(path: Path, data) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read_json(path: Path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def dir_bytes(path: Path) -> int:
    total = 0
    if not Path(path).exists():
        return 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(str(path), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def list_checkpoints(output_dir: Path) -> list[CheckpointDir]:
    """checkpoint-N folders sorted by step (complete or not)."""
    output_dir = Path(output_dir)
    found = []
    if not output_dir.is_dir():
        return found
    for entry in output_dir.iterdir():
        match = CHECKPOINT_RE.match(entry.name)
        if match and entry.is_dir():
            info = read_json(entry / "training_info.json")
            found.append(CheckpointDir(entry, int(match.group(1)), info if isinstance(info, dict) else None))
    return sorted(found, key=lambda c: c.step)


def remove_stale_tmp(output_dir: Path) -> list[str]:
    removed = []
    if not Path(output_dir).is_dir():
        return removed
    for entry in Path(output_dir).iterdir():
        if TMP_RE.match(entry.name) and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name)
    return removed


def select_resume_checkpoint(output_dir: Path, request: str | None) -> CheckpointDir | None:
    """None (fresh start), or the checkpoint to resume from. `request`: None | "auto" | a path."""
    if not request:
        return None
    complete = [c for c in list_checkpoints(output_dir) if c.complete]
    full = [c for c in complete if c.has_deepspeed_state]
    if request == "auto":
        if not complete:
            return None
        newest = complete[-1]
        if not newest.has_deepspeed_state:
            hint = f"resume from {full[-1].path} instead" if full else "no checkpoint with DeepSpeed state is left"
            raise ResumeError(f"{newest.path} is slim (no DeepSpeed state, cannot resume); {hint}")
        return newest
    path = Path(request)
    if not path.is_absolute():
        path = Path(output_dir) / path if (Path(output_dir) / path).exists() else path.resolve()
    match = CHECKPOINT_RE.match(path.name)
    if not path.is_dir() or not match:
        raise ResumeError(f"training.resume_from_checkpoint: {request} is not a checkpoint-<step> folder")
    info = read_json(path / "training_info.json")
    if not isinstance(info, dict):
        raise ResumeError(f"{path} is incomplete (no training_info.json); it cannot be resumed from")
    ckpt = CheckpointDir(path, int(match.group(1)), info)
    if not ckpt.has_deepspeed_state:
        hint = f"the newest one with it is {full[-1].path}" if full else "no checkpoint with DeepSpeed state is left"
        raise ResumeError(f"{path} is slim (no DeepSpeed state, cannot resume); {hint}")
    return ckpt


def deepspeed_tag(step: int) -> str:
    return f"global_step{step}"
