"""Resume compares the checkpoint's batch layout with this run's (qc_engine.resume_check)."""
import pytest

from qc_engine.checkpoint import ResumeError
from qc_engine.resume_check import check_resume_layout

INFO = {"world_size": 2, "per_device_batch_size": 4, "gradient_accumulation_steps": 1, "global_batch": 8,
        "zero_stage": 2}


def test_same_layout_resumes_quietly():
    plan = check_resume_layout(INFO, 2, 4, 1, 2, False, "checkpoint-6")
    assert (plan.grad_accum, plan.universal, plan.lines) == (1, False, [])


def test_other_global_batch_on_the_same_process_count_is_refused_with_the_accumulation_that_keeps_it():
    with pytest.raises(ResumeError) as err:
        check_resume_layout(INFO, 2, 2, 1, 2, False, "checkpoint-6")
    assert "global batch 8 = 2 process(es) x per-device 4 x accumulation 1" in str(err.value)
    assert "global batch 4 = 2 process(es) x per-device 2 x accumulation 1" in str(err.value)
    assert "training.gradient_accumulation_steps=2" in err.value.hint and "--allow-batch-change" in err.value.hint


def test_allow_batch_change_is_a_warning_and_keeps_the_configured_accumulation():
    plan = check_resume_layout(INFO, 2, 8, 1, 2, True, "checkpoint-6")
    assert plan.grad_accum == 1 and not plan.universal
    assert len(plan.lines) == 1 and "global batch 16" in plan.lines[0] and plan.lines[0].startswith("warning:")


def test_another_process_count_adjusts_accumulation_and_says_old_and_new_layout():
    plan = check_resume_layout(INFO, 1, 4, 1, 2, False, "checkpoint-6")
    assert plan.grad_accum == 2 and plan.universal
    assert ("gradient_accumulation_steps 1 -> 2 keeps the global batch: global batch 8 = 2 process(es) x per-device 4"
            " x accumulation 1 -> global batch 8 = 1 process(es) x per-device 4 x accumulation 2") in plan.lines[0]
    assert "universal checkpoint" in plan.lines[1] and "ZeRO-2" in plan.lines[1]
    # 1 -> 4 processes of 2: accumulation 1 keeps 8; a config that already keeps it needs no change
    info1 = {**INFO, "world_size": 1, "gradient_accumulation_steps": 2}
    plan = check_resume_layout(info1, 4, 2, 1, 2, False, "checkpoint-6")
    assert plan.grad_accum == 1 and plan.universal and len(plan.lines) == 1
    plan = check_resume_layout(info1, 2, 4, 1, 2, False, "checkpoint-6")
    assert plan.grad_accum == 1 and plan.universal and "gradient_accumulation_steps" not in plan.lines[0]


def test_zero0_needs_no_conversion_on_another_process_count():
    plan = check_resume_layout({**INFO, "zero_stage": 0}, 1, 4, 1, 0, False, "checkpoint-6")
    assert plan.grad_accum == 2 and not plan.universal


def test_global_batch_no_whole_accumulation_keeps_is_refused_naming_a_per_device_batch_that_does():
    with pytest.raises(ResumeError) as err:
        check_resume_layout(INFO, 4, 4, 1, 2, False, "checkpoint-6")  # 8 / (4 x 4) is not whole
    assert "per_device_batch_size to a divisor of 2" in err.value.hint
    with pytest.raises(ResumeError) as err:
        check_resume_layout(INFO, 3, 4, 1, 2, False, "checkpoint-6")
    assert "cannot be split over 3 processes" in err.value.hint


def test_zero_stage_changes_only_between_1_and_2_through_the_universal_checkpoint():
    plan = check_resume_layout(INFO, 2, 4, 1, 1, False, "checkpoint-6")
    assert plan.universal and "with ZeRO-2" in plan.lines[0] and "with ZeRO-1 through" in plan.lines[0]
    with pytest.raises(ResumeError, match="saved with ZeRO-2; this run has ZeRO-3") as err:
        check_resume_layout(INFO, 2, 4, 1, 3, False, "checkpoint-6")
    assert err.value.hint == "resume with deepspeed.zero_stage=2"
    with pytest.raises(ResumeError, match="saved with ZeRO-0; this run has ZeRO-2"):
        check_resume_layout({**INFO, "zero_stage": 0}, 2, 4, 1, 2, False, "checkpoint-6")


def test_checkpoint_without_batch_fields_compares_world_size_only():
    plan = check_resume_layout({"world_size": 2}, 2, 16, 3, 2, False, "checkpoint-6")
    assert (plan.grad_accum, plan.universal, plan.lines) == (3, False, [])
    assert check_resume_layout({"world_size": 2}, 1, 16, 3, 2, False, "checkpoint-6").universal
