"""Resuming a checkpoint older than the newest in output_dir: the newer ones are moved aside, never deleted.

Contract (docs/architecture.md, "Resume"): resuming checkpoint-N while OUT holds checkpoint-M with M > N
(complete or not) continues the run from N, so its saves would land on names the newer folders hold
(the resumed run reaches step M again and os.replace onto a non-empty folder fails half-way through a
save). Before training starts, rank 0 moves each such folder, whole, with one rename, into
OUT/superseded-<UTC timestamp>/ and says so; the run's OUT/best_checkpoint.json goes with them when it
names one of them (it describes the replaced run). Nothing is deleted: under training.skip_evaluation
every checkpoint is kept, and retention/prune never look inside superseded-*/ (not checkpoint-N names).
A folder another live process holds (checkpoint-N/.in-use.<purpose>.<pid>, locks.py) is not moved:
the resume is refused (exit 2) naming it. A crash half-way leaves each folder either in OUT or in
superseded-*/, never split; a rerun moves the rest.
"""

from __future__ import annotations

import json
import os
import socket
from datetime import datetime, timezone
from pathlib import Path

from .checkpoint import list_checkpoints
from .errors import BadInput
from .fsio import fsync_dir, read_json
from .locks import LOCK_NAME_RE
from .watchdog import pid_alive


def live_holders(folder: Path) -> list[str]:
    """`<purpose> pid <pid> on <host>` for each lock in `folder` whose process may still run (another host's
    cannot be checked from here, so it counts as live, as lib/checkpoints/lock.ts treats it)."""
    out = []
    for entry in sorted(Path(folder).iterdir()):
        match = LOCK_NAME_RE.match(entry.name)
        if not match:
            continue
        try:
            host = json.loads(entry.read_text()).get("host")
        except (OSError, ValueError, AttributeError):
            host = None
        pid = int(match.group(2))
        if host not in (None, socket.gethostname()) or pid_alive(pid):
            out.append(f"{match.group(1)} pid {pid} on {host or 'this host'}")
    return out


def newer_than(out: Path, step: int) -> list[Path]:
    return [c.path for c in list_checkpoints(out) if c.step > step]


def refuse_if_in_use(out: Path, step: int) -> None:
    """BadInput naming each newer checkpoint a live process holds (checked early, before any model is built,
    and again right before the move)."""
    busy = [f"{p.name} ({', '.join(h)})" for p in newer_than(out, step) if (h := live_holders(p))]
    if busy:
        raise BadInput(f"resume from checkpoint-{step}: the newer checkpoints in {out} are moved aside when it "
                       f"resumes, but some are in use: {'; '.join(busy)}",
                       hint="wait for those processes to finish (or stop them), then resume again")


def supersede_newer(out: Path, step: int, now: datetime | None = None) -> tuple[Path | None, list[str]]:
    """Rank 0: move OUT's checkpoint-M (M > step) into OUT/superseded-<timestamp>/. Returns (that folder or
    None, names moved). Raises BadInput, before moving anything, when one of them is in use."""
    out = Path(out)
    newer = newer_than(out, step)
    if not newer:
        return None, []
    refuse_if_in_use(out, step)
    dest = move_into_superseded(out, newer, now)
    return dest, [p.name for p in newer]


def move_into_superseded(out: Path, paths: list[Path], now: datetime | None = None) -> Path:
    """One rename per folder into a new OUT/superseded-<timestamp>/ (+ best_checkpoint.json when it names one)."""
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    dest = out / f"superseded-{stamp}"
    suffix = 1
    while dest.exists():  # two resumes within one second
        suffix += 1
        dest = out / f"superseded-{stamp}-{suffix}"
    dest.mkdir()
    moved = {p.resolve() for p in paths}
    for path in paths:
        os.replace(path, dest / path.name)
    best = read_json(out / "best_checkpoint.json")
    if isinstance(best, dict) and best.get("path") and Path(str(best["path"])).resolve() in moved:
        os.replace(out / "best_checkpoint.json", dest / "best_checkpoint.json")
    fsync_dir(dest)
    fsync_dir(out)
    return dest
