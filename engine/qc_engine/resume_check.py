"""Resume compares the checkpoint's batch layout with this run's (training_info.json fields
world_size, per_device_batch_size, gradient_accumulation_steps, global_batch) and decides how to resume.

- Same global batch, same process count: resume as is.
- Another process count (elastic resume): gradient_accumulation_steps is recomputed so that the global
  batch (processes x per-device batch x accumulation) stays the checkpoint's, and the run says so
  ("old layout -> new layout"). Refused (exit 2) when no whole accumulation keeps it (e.g. global batch 8,
  3 processes x per-device 4): the message names a per-device batch that would.
  ZeRO-0 loads the checkpoint as it is (its optimizer state is not partitioned). ZeRO-1/2/3 partition the
  optimizer state per process, which DeepSpeed cannot reload on another count as is: the checkpoint's
  deepspeed/ is converted once to DeepSpeed's universal format (deepspeed.checkpoint.ds_to_universal, on
  rank 0, into checkpoint-N/deepspeed/universal/: universal.py) and loaded with `checkpoint.load_universal`.
  The same global batch and the step count give the same data position: the seeded sampler's permutation
  does not depend on the process count, and step s of any layout trains on samples [s*G, (s+1)*G) of it.
- Another global batch (same process count, or with --allow-batch-change): refused (exit 2) naming the
  numbers and the gradient_accumulation_steps that keeps it, unless --allow-batch-change (then a warning:
  the lr schedule and samples/step change meaning; accumulation is then left as configured).
- Another ZeRO stage than the checkpoint's: ZeRO-1 <-> ZeRO-2 goes through the universal checkpoint too
  (checked on the CPU); any change involving ZeRO-0 or ZeRO-3 is refused (exit 2).
Checkpoints from before the batch fields: only world_size (and the stage) are compared.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .checkpoint import ResumeError


@dataclass
class ResumeLayout:
    """How this run resumes: the accumulation to run with, whether DeepSpeed's universal checkpoint is
    needed (ZeRO>0 on another process count), and the lines to tell the user."""

    grad_accum: int
    universal: bool = False
    lines: list[str] = field(default_factory=list)


def describe(world: int, micro: int | None, accum: int | None) -> str:
    if micro is None or accum is None:
        return f"{world} process(es)"
    return f"global batch {world * micro * accum} = {world} process(es) x per-device {micro} x accumulation {accum}"


def _kept_accum(old_global: int, world: int, micro: int) -> int | None:
    return old_global // (world * micro) if old_global % (world * micro) == 0 else None


def _micro_that_fits(old_global: int, world: int) -> str:
    """A per-device batch that divides the global batch on `world` processes (for the hint), if any."""
    if old_global % world:
        return (f"global batch {old_global} cannot be split over {world} processes: resume on a process count "
                f"that divides it, ")
    per_rank = old_global // world
    return f"set training.per_device_batch_size to a divisor of {per_rank} (e.g. {per_rank}), "


def check_resume_layout(info: dict, world: int, micro: int, accum: int, zero_stage: int,
                        allow_batch_change: bool, name: str) -> ResumeLayout:
    """Raise ResumeError when the run cannot resume `info`'s checkpoint as configured; else the plan."""
    old_world = int(info.get("world_size") or world)
    old_micro, old_accum = info.get("per_device_batch_size"), info.get("gradient_accumulation_steps")
    old_global = int(info["global_batch"]) if info.get("global_batch") is not None else None
    old_stage = int(info["zero_stage"]) if info.get("zero_stage") is not None else zero_stage
    if old_stage != zero_stage and not {old_stage, zero_stage} <= {1, 2}:
        # ZeRO-0 keeps its optimizer state in another layout; DeepSpeed 0.19.8's universal load of a ZeRO-1
        # checkpoint into ZeRO-3 stops on an AssertionError (checked on the CPU), so only 1 <-> 2 is let through
        raise ResumeError(f"resume: {name} was saved with ZeRO-{old_stage}; this run has ZeRO-{zero_stage} (only "
                          f"ZeRO-1 <-> ZeRO-2 can change on resume)", hint=f"resume with deepspeed.zero_stage={old_stage}")
    plan = ResumeLayout(grad_accum=accum, universal=zero_stage > 0 and (old_world != world or old_stage != zero_stage))
    if old_global is not None and old_global != world * micro * accum:
        msg = (f"{name} was trained with {describe(old_world, old_micro, old_accum)}; this run has "
               f"{describe(world, micro, accum)}")
        keep = _kept_accum(old_global, world, micro)
        if allow_batch_change:
            plan.lines.append(f"warning: resume with a different global batch ({msg}); --allow-batch-change")
        elif old_world != world and keep:
            plan.grad_accum = keep
            plan.lines.append(f"resume on {world} process(es) instead of {old_world}: gradient_accumulation_steps "
                              f"{accum} -> {keep} keeps the global batch: {describe(old_world, old_micro, old_accum)}"
                              f" -> {describe(world, micro, keep)}")
        else:
            fix = (f"set training.gradient_accumulation_steps={keep} to keep the global batch, " if keep
                   else _micro_that_fits(old_global, world))
            raise ResumeError(f"resume: {msg}", hint=f"{fix}or pass --allow-batch-change to resume with the new one")
    if plan.universal:
        plan.lines.append(f"resume: {name} was saved by {old_world} process(es) with ZeRO-{old_stage}, whose "
                          f"optimizer state is partitioned per process; loading it on {world} with ZeRO-{zero_stage} "
                          f"through DeepSpeed's universal checkpoint ({name}/deepspeed/universal/)")
    return plan
