"""The one JSON-line writer of the engine's commands for the launcher (evaluate, predict, hub_model,
tools.from_hf): stdout, one object a line, {"event", "time", ...fields}, written by rank 0 only.

Torch-free on purpose: hub_model runs before any worker exists and must not pay for importing torch.
(train.py's events go to OUT/logs/events.jsonl through events.EventLog; export.py's Reporter also
prints plain lines, so it keeps its own writer.)
"""

from __future__ import annotations

import json
import math
import os
import sys
import time


def json_safe(value):
    """JSON-safe: NaN/inf become null, numpy/torch scalars become Python numbers."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def is_rank0() -> bool:
    """torchrun sets RANK for every worker (the same number torch.distributed reports), so this needs no torch;
    a plain `python -m` run has no RANK and is rank 0."""
    return int(os.environ.get("RANK", "0")) == 0


def emit(event: str, **fields) -> None:
    """One protocol line on stdout (rank 0 only), flushed at once: the launcher shows progress as it comes."""
    if is_rank0():
        sys.stdout.write(json.dumps({"event": event, "time": time.time(), **json_safe(fields)}) + "\n")
        sys.stdout.flush()
