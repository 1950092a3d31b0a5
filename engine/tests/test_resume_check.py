"""Resume compares the checkpoint's batch layout with this run's (qc_engine.resume_check)."""
import pytest

from qc_engine.checkpoint import ResumeError
from qc_engine.resume_check import check_resume_layout

INFO = {"world_size": 2, "per_device_batch_size": 4, "gradient_accumulation_steps": 1, "global_batch": 8}


def test_same_layout_resumes_quietly():
    assert check_resume_layout(INFO, 2, 4, 1, 2, False, "checkpoint-6") == []


def test_other_global_batch_is_refused_with_the_accumulation_that_keeps_it():
    with pytest.raises(ResumeError) as err:
        check_resume_layout(INFO, 1, 4, 1, 0, False, "checkpoint-6")
    assert "global batch 8 = 2 process(es) x per-device 4 x accumulation 1" in str(err.value)
    assert "global batch 4 = 1 process(es)" in str(err.value)
    assert "training.gradient_accumulation_steps=2" in err.value.hint and "--allow-batch-change" in err.value.hint


def test_allow_batch_change_is_a_warning():
    warnings = check_resume_layout(INFO, 2, 8, 1, 2, True, "checkpoint-6")
    assert len(warnings) == 1 and "global batch 16" in warnings[0]


def test_same_global_batch_other_process_count():
    assert check_resume_layout(INFO, 1, 4, 2, 0, False, "checkpoint-6") == []  # ZeRO-0: state not partitioned
    with pytest.raises(ResumeError, match="2 process\\(es\\) with ZeRO-2"):
        check_resume_layout(INFO, 1, 4, 2, 2, False, "checkpoint-6")


def test_checkpoint_without_batch_fields_compares_world_size_only():
    assert check_resume_layout({"world_size": 2}, 2, 16, 3, 2, False, "checkpoint-6") == []
