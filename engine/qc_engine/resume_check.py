"""Resume compares the checkpoint's batch layout with this run's (training_info.json fields
world_size, per_device_batch_size, gradient_accumulation_steps, global_batch).

- Same global batch, same process count: resume.
- Same global batch, another process count: ZeRO-0 resumes (its optimizer state is not partitioned);
  ZeRO-1/2/3 partition the optimizer state by process count, which DeepSpeed cannot reload as is:
  refused with the exact settings that would work (elastic resume via universal checkpoints: not yet).
- Another global batch: refused (exit 2) naming the numbers and the gradient_accumulation_steps that keeps
  it, unless --allow-batch-change (then a warning: the lr schedule and samples/step change meaning).
Checkpoints from before these fields: only world_size is compared.
"""

from __future__ import annotations

from .checkpoint import ResumeError


def describe(world: int, micro: int | None, accum: int | None) -> str:
    if micro is None or accum is None:
        return f"{world} process(es)"
    return f"global batch {world * micro * accum} = {world} process(es) x per-device {micro} x accumulation {accum}"


def check_resume_layout(info: dict, world: int, micro: int, accum: int, zero_stage: int,
                        allow_batch_change: bool, name: str) -> list[str]:
    """Raise ResumeError when the run cannot resume `info`'s checkpoint as configured; else the warnings."""
    old_world = int(info.get("world_size") or world)
    old_micro, old_accum = info.get("per_device_batch_size"), info.get("gradient_accumulation_steps")
    old_global = info.get("global_batch")
    new_global = world * micro * accum
    warnings = []
    if old_global is not None and int(old_global) != new_global:
        msg = (f"{name} was trained with {describe(old_world, old_micro, old_accum)}; this run has "
               f"{describe(world, micro, accum)}")
        if not allow_batch_change:
            keep = int(old_global) // (world * micro) if int(old_global) % (world * micro) == 0 else None
            fix = (f"set training.gradient_accumulation_steps={keep} to keep the global batch, "
                   if keep else "keep the global batch (processes x per-device batch x accumulation), ")
            raise ResumeError(f"resume: {msg}", hint=f"{fix}or pass --allow-batch-change to resume with the new one")
        warnings.append(f"warning: resume with a different global batch ({msg}); --allow-batch-change")
    if old_world != world and zero_stage > 0:
        raise ResumeError(
            f"resume: {name} was saved by {old_world} process(es) with ZeRO-{zero_stage}, whose optimizer state "
            f"is partitioned per process; this run has {world}",
            hint=f"resume with {old_world} process(es) (--nproc-per-node/--nnodes); changing the process count "
                 f"needs DeepSpeed's universal checkpoint conversion, not supported yet")
    return warnings
