import json

import pytest

from qc_engine.checkpoint import ResumeError, list_checkpoints, remove_stale_tmp, select_resume_checkpoint


def fake_checkpoint(out, step, complete=True, deepspeed=True):
    path = out / f"checkpoint-{step}"
    path.mkdir(parents=True)
    if deepspeed:
        (path / "deepspeed").mkdir()
    if complete:
        (path / "training_info.json").write_text(json.dumps({"step": step, "has_deepspeed_state": deepspeed}))
    return path


def test_auto_picks_the_newest_complete_checkpoint(tmp_path):
    fake_checkpoint(tmp_path, 2)
    fake_checkpoint(tmp_path, 10)
    fake_checkpoint(tmp_path, 12, complete=False)
    (tmp_path / ".checkpoint-14.tmp").mkdir()
    assert [c.step for c in list_checkpoints(tmp_path)] == [2, 10, 12]
    assert select_resume_checkpoint(tmp_path, "auto").step == 10
    assert select_resume_checkpoint(tmp_path, None) is None
    assert select_resume_checkpoint(tmp_path / "empty", "auto") is None
    assert remove_stale_tmp(tmp_path) == [".checkpoint-14.tmp"] and not (tmp_path / ".checkpoint-14.tmp").exists()


def test_slim_checkpoint_is_refused_naming_the_newest_full_one(tmp_path):
    full = fake_checkpoint(tmp_path, 2)
    fake_checkpoint(tmp_path, 4, deepspeed=False)
    with pytest.raises(ResumeError, match=f"checkpoint-4 is slim.*resume from {full}"):
        select_resume_checkpoint(tmp_path, "auto")
    with pytest.raises(ResumeError, match=f"checkpoint-4 is slim.*the newest one with it is {full}"):
        select_resume_checkpoint(tmp_path, str(tmp_path / "checkpoint-4"))
    assert select_resume_checkpoint(tmp_path, str(full)).step == 2


def test_incomplete_or_unknown_paths_are_refused(tmp_path):
    fake_checkpoint(tmp_path, 6, complete=False)
    with pytest.raises(ResumeError, match="incomplete"):
        select_resume_checkpoint(tmp_path, str(tmp_path / "checkpoint-6"))
    with pytest.raises(ResumeError, match="not a checkpoint-<step> folder"):
        select_resume_checkpoint(tmp_path, str(tmp_path / "elsewhere"))
