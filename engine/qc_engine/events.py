"""The event stream (OUT/logs/events.jsonl), readable log lines (stdout), and wandb — rank 0 only."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

from .config import QwenClassifyConfig
from .protocol import json_safe


class EventLog:
    """Appends one JSON object a line (flushed) and mirrors scalars to wandb. No-op off rank 0."""

    def __init__(self, output_dir: Path, enabled: bool, wandb_run=None):
        self.enabled = enabled
        self.wandb = wandb_run
        self._events = None
        if enabled:
            logs = Path(output_dir) / "logs"
            logs.mkdir(parents=True, exist_ok=True)
            self._events = open(logs / "events.jsonl", "a", encoding="utf-8")

    def emit(self, event: str, **fields) -> None:
        if not self.enabled:
            return
        record = {"event": event, "time": time.time(), **json_safe(fields)}
        self._events.write(json.dumps(record) + "\n")
        self._events.flush()

    def line(self, text: str) -> None:
        """A readable log line on stdout (the launcher tees it into logs/train.log)."""
        if self.enabled:
            print(text, flush=True)

    def scalars(self, values: dict, step: int) -> None:
        if self.enabled and self.wandb is not None:
            self.wandb.log({k: v for k, v in json_safe(values).items() if isinstance(v, (int, float))}, step=step)

    def close(self) -> None:
        if self._events is not None:
            self._events.close()
            self._events = None
        if self.wandb is not None:
            self.wandb.finish()
            self.wandb = None


def start_wandb(config: QwenClassifyConfig, output_dir: Path):
    """wandb.init with the configured mode (offline by default); never reads or writes a key itself."""
    settings = config.wandb
    if not settings.enabled or settings.mode == "disabled":
        return None
    import wandb  # deferred: optional, and slow to import

    return wandb.init(
        project=settings.project or None,
        name=settings.run_name or Path(output_dir).name,  # "" means: name the run after its output folder
        mode=settings.mode,
        dir=str(output_dir),
        config=asdict(config),
    )
