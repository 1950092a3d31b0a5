"""checkpoint-N/.in-use.<purpose>.<pid>: this process reads or writes that checkpoint (issue 11).

The convention is lib/checkpoints/lock.ts's (docs/architecture.md, "Locks"), so that retention and
`prune` on the TypeScript side leave a checkpoint alone while an engine process started by hand
(`python -m qc_engine.export`) or an evaluation record write uses it. Content, one JSON line:
{"pid", "host", "purpose", "started_at" (ISO, UTC), "command" [argv]}. Shared: several processes may
hold one checkpoint; nested holders in one process share one file (counted). A lock of a process that
is gone (same host, pid not alive) is stale and ignored by the TS side, so a killed process leaves no
harm behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from .fsio import write_text_atomic

PURPOSE_RE = re.compile(r"^[a-z_]+$")
LOCK_NAME_RE = re.compile(r"^\.in-use\.([a-z_]+)\.(\d+)$")  # = CHECKPOINT_LOCK_RE of lock.ts

_held: dict[Path, int] = {}  # lock path -> holders in this process


def lock_info(purpose: str) -> dict:
    started = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"pid": os.getpid(), "host": socket.gethostname(), "purpose": purpose, "started_at": started,
            "command": [sys.executable, *sys.argv]}


@contextlib.contextmanager
def checkpoint_in_use(checkpoint: Path, purpose: str, missing_ok: bool = False) -> Iterator[Path | None]:
    """Holds checkpoint/.in-use.<purpose>.<pid> for the block. `missing_ok`: a folder that does not exist
    is not locked (yields None; the caller reports it as bad input)."""
    if not PURPOSE_RE.match(purpose):
        raise ValueError(f"lock purpose must match [a-z_]+: {purpose}")
    checkpoint = Path(checkpoint)
    if missing_ok and not checkpoint.is_dir():
        yield None
        return
    path = checkpoint / f".in-use.{purpose}.{os.getpid()}"
    if _held.get(path, 0) == 0:
        write_text_atomic(path, json.dumps(lock_info(purpose)) + "\n")  # whole or absent: no torn reads
    _held[path] = _held.get(path, 0) + 1
    try:
        yield path
    finally:
        _held[path] -= 1
        if _held[path] == 0:
            del _held[path]
            with contextlib.suppress(OSError):  # the checkpoint or the file is gone already
                path.unlink()
