"""Test helpers: configs from the schema defaults, tiny assets, torchrun launching."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "schema" / "config.schema.json"
PYTHON = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv" / "bin" / "python").exists() else sys.executable


def schema_defaults(node: dict | None = None) -> dict:
    node = node if node is not None else json.loads(SCHEMA.read_text())
    if node.get("type") == "object" and "properties" in node:
        out = {}
        for key, child in node["properties"].items():
            if child.get("type") == "object" and "properties" in child:
                out[key] = schema_defaults(child)
            elif "default" in child:
                out[key] = copy.deepcopy(child["default"])
        return out
    return copy.deepcopy(node.get("default"))


def deep_merge(base: dict, patch: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "dataset_configs":
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def typed_config(patch: dict | None = None):
    """The schema defaults + `patch`, as the engine's typed config (qc_engine.config)."""
    from qc_engine.config import QwenClassifyConfig

    return QwenClassifyConfig.from_dict(deep_merge(schema_defaults(), patch or {}))


def apply_skip_evaluation(config: dict) -> dict:
    """The forced overrides of training.skip_evaluation (done by the TS side in real runs)."""
    if config["training"]["skip_evaluation"]:
        t = config["training"]
        t["save_all_checkpoints"] = True
        t["best_model_tracking"]["enabled"] = False
        t["best_model_tracking"]["save_best_only"] = False
        for key in ("partial_eval_during_training", "full_eval_at_end", "eval_best_model_only"):
            t["evaluation"][key] = False
        config["wandb"]["log_dataset_metrics"] = False
    return config


BUN = str(REPO / "node_modules" / ".bin" / "bun")


def ds_config_for(config: dict, world_size: int | None = None) -> dict:
    """The ds_config the launcher builds (lib/config/deepspeed.ts, CPU), not a hand-written copy."""
    argv = [BUN, str(REPO / "engine" / "tests" / "ds_config_from_ts.ts")]
    if world_size is not None:
        argv.append(str(world_size))
    out = subprocess.run(argv, input=json.dumps(config), capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout)


def ds_config_for_stage(stage: int, patch: dict | None = None) -> dict:
    """The launcher's ds_config for the schema defaults with deepspeed.zero_stage = stage (+ patch)."""
    return ds_config_for(deep_merge(schema_defaults(), deep_merge({"deepspeed": {"zero_stage": stage}}, patch or {})))


def write_run_files(config: dict, out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"))
    resolved = {"config": config, "overrides": [], "config_hash": hashlib.sha256(canonical.encode()).hexdigest(),
                "source_file": None, "command": [], "created_at": "test"}
    (out / "resolved_config.json").write_text(json.dumps(resolved, indent=2))
    (out / "ds_config.json").write_text(json.dumps(ds_config_for(config), indent=2))
    return out / "resolved_config.json", out / "ds_config.json"


def engine_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO / "engine")
    env["DS_ACCELERATOR"] = "cpu"
    env.setdefault("OMP_NUM_THREADS", "1")
    env["TOKENIZERS_PARALLELISM"] = "false"
    env["WANDB_MODE"] = env.get("WANDB_MODE", "offline")
    return env


def torchrun_argv(nproc: int, resolved: Path, ds: Path, extra: list[str] | None = None) -> list[str]:
    return [PYTHON, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
            "-m", "qc_engine.train", "--resolved", str(resolved), "--ds-config", str(ds), *(extra or [])]


def run_train(config: dict, out: Path, nproc: int = 1, extra: list[str] | None = None,
              timeout: int = 600) -> subprocess.CompletedProcess:
    resolved, ds = write_run_files(config, out)
    return subprocess.run(torchrun_argv(nproc, resolved, ds, extra), env=engine_env(), capture_output=True,
                          text=True, timeout=timeout, cwd=str(REPO))


def read_events(out: Path) -> list[dict]:
    """The run's events, each validated against schema/events.schema.json (TrainEvent)."""
    from schema_check import assert_valid

    path = out / "logs" / "events.jsonl"
    events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for number, event in enumerate(events, 1):
        assert_valid("TrainEvent", event, f"{path}:{number}")
    return events


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_engine_direct(config: dict, out: Path, extra: list[str] | None = None, env_extra: dict | None = None,
                      timeout: int = 600) -> subprocess.CompletedProcess:
    """One process without torchrun, so the engine's own exit code is seen (torchrun maps failures to 1)."""
    resolved, ds = write_run_files(config, out)
    env = engine_env()
    env.update({"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1",
                "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port())})
    env.update(env_extra or {})
    argv = [PYTHON, "-m", "qc_engine.train", "--resolved", str(resolved), "--ds-config", str(ds), *(extra or [])]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, cwd=str(REPO))


def step_losses(events: list[dict]) -> dict[int, float]:
    return {e["step"]: e["loss"] for e in events if e["event"] == "step"}


def check_event_stream(events: list[dict]) -> None:
    """Every event follows the contract in docs/architecture.md."""
    required = {
        "start": {"world_size", "total_steps", "steps_per_epoch", "epochs", "num_train_samples", "num_val_samples",
                  "global_batch_size", "resumed_from_step"},
        "step": {"step", "total_steps", "epoch", "loss", "lr", "grad_norm", "samples_per_s", "memory_bytes",
                 "memory_kind"},
        "eval": {"step", "split", "num_samples", "metrics", "checkpoint"},
        "checkpoint": {"step", "path", "bytes", "seconds", "is_final", "is_best", "metric"},
        "end": {"status", "step", "best_checkpoint"},
        "error": {"message"},
    }
    assert events and events[0]["event"] == "start" and events[-1]["event"] == "end"
    for e in events:
        assert isinstance(e["time"], float)
        missing = required[e["event"]] - set(e)
        assert not missing, f"{e['event']} event lacks {missing}"
        if e["event"] == "step":
            assert e["memory_kind"] in ("cuda", "rss") and e["memory_bytes"] > 0
        if e["event"] == "eval":
            assert e["split"] in ("partial", "full")
            assert set(e["metrics"]) == {"accuracy", "top5_accuracy", "macro_f1", "loss"}
        if e["event"] == "end":
            assert e["status"] in ("completed", "interrupted", "failed")
