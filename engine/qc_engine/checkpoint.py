"""Checkpoint folders on disk: listing, resume selection, and writing them (CheckpointManager).

Layout (contract, docs/architecture.md): OUT/checkpoint-<step>/{deepspeed/, hf_model/,
training_info.json (written last = complete), eval_results.json}; built as OUT/.checkpoint-<step>.tmp/.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import sys
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import transformers

from . import __version__
from . import dist as qd
from .errors import BadInput
from .fsio import dir_bytes, fsync_dir, read_json, write_json_atomic
from .config import ModelConfig
from .manifest import build_manifest, verify_checkpoint
from .universal import unshare_zero3_steps
from .model import hub_snapshot_source, load_hf_classifier

CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")
TMP_RE = re.compile(r"^\.checkpoint-(\d+)\.tmp$")


class ResumeError(BadInput):
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


def best_for_resume(output_dir: Path, step: int, metric: str | None) -> dict | None:
    """OUT/best_checkpoint.json as a resume at `step` may restore it: only when best tracking is on (`metric`
    not None; a run without it neither reads nor trusts a record an earlier run left), for the same metric,
    of a checkpoint that still exists and is not newer than the resume point (issue 11)."""
    if metric is None:
        return None
    best = read_json(Path(output_dir) / "best_checkpoint.json")
    if not isinstance(best, dict) or best.get("metric") != metric:
        return None
    try:
        path, best_step, value = str(best["path"]), int(best["step"]), float(best["value"])
    except (KeyError, TypeError, ValueError):
        return None  # unreadable: tracking starts afresh, as with no record
    if not Path(path).is_dir() or best_step > step:
        return None
    return {"path": path, "step": best_step, "metric": metric, "value": value}


def deepspeed_tag(step: int) -> str:
    return f"global_step{step}"


# ---------------------------------------------------------------- writing checkpoints (training)

@dataclass
class TrainingInfo:
    """training_info.json (field order = file order); `bytes` is filled in by CheckpointManager."""

    step: int
    epoch: float
    samples_seen: int
    train_loss: float
    lr: float
    grad_norm: float | None
    eval_metrics: dict | None
    metric_name: str | None
    is_final: bool
    is_best: bool
    wall_time_s: float
    world_size: int
    zero_stage: int
    precision: str
    config_hash: str
    num_labels: int
    id2label: dict
    versions: dict
    created_at: str
    has_deepspeed_state: bool
    has_hf_model: bool
    base_model: dict | None = None  # base_model_source(): the Hub commit of a Hub-id run's backbone
    slim: bool = False
    attn_implementation: str | None = None  # the kernel the run used (model.attn_implementation resolved)
    bytes: dict = field(default_factory=dict)
    lora: dict | None = None  # LoRA runs: model.lora + adapter_dir/base model (written only when set)

    # Checksum manifest (manifest.py): {relative path: {"size", "sha256"}}, every file but this one.
    files: dict = field(default_factory=dict)
    # The batch layout (resume compares it: resume_check.py).
    per_device_batch_size: int | None = None
    gradient_accumulation_steps: int | None = None
    global_batch: int | None = None

    def record(self) -> dict:
        """training_info.json's content: every field, `lora` only for a LoRA run."""
        out = asdict(self)
        if out["lora"] is None:
            del out["lora"]
        return out


def base_model_source(resolved_path: Path, model: ModelConfig) -> dict | None:
    """{repo_id, revision, commit} of a Hub-id backbone, or None for a local folder. From resolved_config.json's
    model_source (the launcher downloads once and records it there); else from the cache snapshot path itself,
    so an engine started by hand on a snapshot folder records it too."""
    doc = read_json(resolved_path)
    source = doc.get("model_source") if isinstance(doc, dict) else None  # a launcher record, not a config key
    if isinstance(source, dict) and source.get("kind") == "hub":
        return {"repo_id": str(source["repo_id"]), "revision": str(source["revision"]), "commit": str(source["commit"])}
    snapshot = hub_snapshot_source(model.pretrained_name)
    return {"repo_id": snapshot["repo_id"], "revision": model.revision, "commit": snapshot["commit"]} if snapshot else None


def library_versions() -> dict:
    import deepspeed  # deferred: importing it is slow, and evaluate imports this module

    return {"python": sys.version.split()[0], "torch": torch.__version__, "transformers": transformers.__version__,
            "deepspeed": deepspeed.__version__, "qc_engine": __version__}


def rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@dataclass
class CheckpointManager:
    """Writes OUT/checkpoint-<step>/ from every rank: built in .checkpoint-<step>.tmp/, training_info.json
    written last, then renamed into place (rank 0). `save_hf(folder, gathered_state)` writes hf_model/
    on rank 0 (injected: the recipe knows the tokenizer and the processor)."""

    out: Path
    engine: Any
    rank: int
    zero_stage: int
    with_hf_model: bool  # training.checkpoint.hf_format != "deferred"
    save_hf: Callable[[Path, dict | None], None]
    with_adapter: bool = False  # LoRA: save_hf also writes adapter/ (even when hf_model/ is not written)
    saved_steps: set = field(default_factory=set)
    # Copied into each checkpoint (self-contained: a lone copied checkpoint-N can still be exported,
    # evaluated and resumed): {"resolved_config.json": path, "ds_config.json": path or the dict as run}.
    run_files: dict = field(default_factory=dict)

    def final_dir(self, step: int) -> Path:
        return self.out / f"checkpoint-{step}"

    def save(self, step: int, make_info: Callable[[], TrainingInfo], add_files: Callable[[Path], None] | None = None,
             best: dict | None = None) -> tuple[Path, int]:
        """Every rank. Rank 0: `add_files(tmp)` adds files before training_info.json (the eval record),
        `make_info()` is called then (so its wall time covers the save); `best` becomes
        OUT/best_checkpoint.json. Returns (path, bytes on disk)."""
        tmp = self._begin(step)
        self._write_states(tmp, step)
        if qd.is_main():
            if add_files is not None:
                add_files(tmp)
            self._commit(tmp, step, make_info(), best)
        qd.barrier()
        self.saved_steps.add(step)
        final = self.final_dir(step)
        return final, (dir_bytes(final) if qd.is_main() else 0)

    def _begin(self, step: int) -> Path:
        tmp = self.out / f".checkpoint-{step}.tmp"
        if qd.is_main():
            if tmp.exists():
                shutil.rmtree(tmp)
            tmp.mkdir(parents=True)
        qd.barrier()
        return tmp

    def _write_states(self, tmp: Path, step: int) -> None:
        """DeepSpeed state (model, optimizer, scheduler) + this rank's RNG on every rank, then hf_model/."""
        # LoRA: the frozen base is the pretrained folder's; resume rebuilds it from there, so it is not copied
        self.engine.save_checkpoint(str(tmp / "deepspeed"), tag=deepspeed_tag(step),
                                    exclude_frozen_parameters=self.with_adapter)
        torch.save(rng_state(), tmp / "deepspeed" / deepspeed_tag(step) / f"qc_rng_rank{self.rank}.pt")
        if os.environ.get("QC_TEST_CRASH_IN_SAVE") == str(step):  # tests: a crash half-way through a save
            raise RuntimeError(f"QC_TEST_CRASH_IN_SAVE: simulated crash while saving step {step}")
        if self.with_hf_model or self.with_adapter:
            # ZeRO-3: every rank takes part in gathering the full weights
            gathered = self.engine._zero3_consolidated_16bit_state_dict() if self.zero_stage == 3 else None
            if qd.is_main():
                self.save_hf(tmp / "hf_model", gathered)
        qd.barrier()

    def _commit(self, tmp: Path, step: int, info: TrainingInfo, best: dict | None) -> None:
        ds_bytes, hf_bytes = dir_bytes(tmp / "deepspeed"), dir_bytes(tmp / "hf_model")
        info.bytes = {"deepspeed": ds_bytes, "hf_model": hf_bytes,
                      "total": ds_bytes + hf_bytes + dir_bytes(tmp / "eval_results.json")}
        if (tmp / "adapter").is_dir():
            info.bytes["adapter"] = dir_bytes(tmp / "adapter")
            info.bytes["total"] += info.bytes["adapter"]
        info.bytes["total"] += 4096  # training_info.json itself (upper bound)
        # Every file (all ranks' shards: they finished before the barrier) fsynced + hashed before the file
        # that marks the checkpoint complete.
        for name, src in self.run_files.items():
            if isinstance(src, dict):  # the content as run (the ds_config after an elastic resume's accumulation)
                write_json_atomic(tmp / name, src)
            elif src and Path(src).is_file():
                shutil.copyfile(src, tmp / name)
        info.files = build_manifest(tmp)
        write_json_atomic(tmp / "training_info.json", info.record())
        final = self.final_dir(step)
        if final.exists():  # never expected (resume moves newer ones aside first); a rename must not fail here
            from .supersede import move_into_superseded  # deferred: supersede imports this module

            dest = move_into_superseded(self.out, [final])
            print(f"warning: {final.name} already existed; moved to {dest}", file=sys.stderr, flush=True)
        os.replace(tmp, final)
        fsync_dir(self.out)
        if best is not None:
            write_json_atomic(self.out / "best_checkpoint.json", best)

    def load_for_resume(self, ckpt: Path, universal_dir: Path | None = None) -> dict:
        """Every rank: DeepSpeed state and this rank's RNG from `ckpt`; returns its training_info.
        `universal_dir`: its universal form (universal.py; the engine runs with checkpoint.load_universal).
        On another process count a rank without its own RNG file keeps the seeded state."""
        info = read_json(ckpt / "training_info.json")
        verify_checkpoint(ckpt, info, hashes=os.environ.get("QC_VERIFY_CHECKPOINT") == "1")
        step = int(info["step"])
        load_dir = universal_dir or ckpt / "deepspeed"
        load_path, _ = self.engine.load_checkpoint(str(load_dir), tag=deepspeed_tag(step),
                                                   load_module_strict=not self.with_adapter)
        if load_path is None:
            raise BadInput(f"{load_dir}: DeepSpeed could not load tag {deepspeed_tag(step)}")
        if universal_dir is not None and self.zero_stage == 3:
            unshare_zero3_steps(self.engine.optimizer)
        rng_file = ckpt / "deepspeed" / deepspeed_tag(step) / f"qc_rng_rank{self.rank}.pt"
        if rng_file.is_file():
            set_rng_state(torch.load(rng_file, weights_only=False))
        self.saved_steps.add(step)
        return info


@contextmanager
def zero3_init_paused():
    """Build a plain (unpartitioned) model while a run's HfDeepSpeedConfig is alive: under ZeRO-3 transformers
    would otherwise build it inside zero.Init, and its state_dict() would hold empty partitioned tensors."""
    from transformers.integrations import deepspeed as hf_ds  # deferred: only this path needs it

    saved = hf_ds._hf_deepspeed_config_weak_ref
    hf_ds.unset_hf_deepspeed_config()
    try:
        yield
    finally:
        hf_ds._hf_deepspeed_config_weak_ref = saved


def load_checkpoint_weights(engine, ckpt_dir: Path, step: int, zero_stage: int, strict: bool = True) -> str:
    """Put a checkpoint's model weights into the engine (every rank calls it): from its DeepSpeed state,
    or from hf_model/ when the checkpoint was slimmed (retention may strip deepspeed/ from old ones)."""
    if (ckpt_dir / "deepspeed" / deepspeed_tag(step)).is_dir():
        engine.load_checkpoint(str(ckpt_dir / "deepspeed"), tag=deepspeed_tag(step), load_optimizer_states=False,
                               load_lr_scheduler_states=False, load_module_only=True, load_module_strict=strict)
        return "deepspeed"
    params = list(engine.module.parameters())
    dtype = params[0].dtype if params else torch.float32
    adapter = ckpt_dir / "adapter" / "adapter_model.safetensors"
    if not strict and adapter.is_file():  # LoRA: the engine holds a peft model; its adapter is all that differs
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        state, how = load_file(str(adapter)), "adapter"
        load = lambda: set_peft_model_state_dict(engine.module, state)  # noqa: E731
    else:
        with zero3_init_paused():
            state, how = load_hf_classifier(ckpt_dir / "hf_model", dtype=dtype).state_dict(), "hf_model"
        load = lambda: engine.module.load_state_dict(state)  # noqa: E731
    if zero_stage == 3:
        import deepspeed  # deferred: only ZeRO-3 needs it here, and evaluate imports this module

        with deepspeed.zero.GatheredParameters(params, modifier_rank=0):
            if qd.is_main():
                load()
    else:
        load()
    return how
