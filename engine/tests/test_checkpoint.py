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


# ---------------------------------------------------------------- the Hub commit in training_info.json (issue 14)

def _resolved(tmp_path, pretrained: str, model_source: dict | None) -> tuple:
    from helpers import deep_merge, schema_defaults
    from qc_engine.config import QwenClassifyConfig

    config = deep_merge(schema_defaults(), {"model": {"pretrained_name": pretrained, "revision": "v1.0"}})
    doc = {"config": config, "config_hash": "h", **({"model_source": model_source} if model_source else {})}
    path = tmp_path / "resolved_config.json"
    path.write_text(json.dumps(doc))
    return path, QwenClassifyConfig.from_dict(config).model


def test_base_model_source_from_the_launcher_record_the_snapshot_path_or_none(tmp_path):
    from dataclasses import asdict

    from qc_engine.checkpoint import TrainingInfo, base_model_source
    from schema_check import assert_valid

    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = tmp_path / "hub" / "models--org--vl" / "snapshots" / commit
    snapshot.mkdir(parents=True)
    recorded = {"kind": "hub", "repo_id": "org/vl", "revision": "v1.0", "commit": commit, "path": str(snapshot),
                "endpoint": None, "files": 3, "bytes": 10}
    path, model = _resolved(tmp_path, str(snapshot), recorded)
    assert base_model_source(path, model) == {"repo_id": "org/vl", "revision": "v1.0", "commit": commit}
    # started by hand on a snapshot folder (no launcher record): read from the cache path itself
    path, model = _resolved(tmp_path, str(snapshot), None)
    assert base_model_source(path, model) == {"repo_id": "org/vl", "revision": "v1.0", "commit": commit}
    path, model = _resolved(tmp_path, str(tmp_path / "local-model"), None)
    assert base_model_source(path, model) is None

    fields = dict(step=1, epoch=0.5, samples_seen=4, train_loss=1.0, lr=1e-4, grad_norm=None, eval_metrics=None,
                  metric_name=None, is_final=True, is_best=False, wall_time_s=1.0, world_size=1, zero_stage=0,
                  precision="fp32", config_hash="h", num_labels=2, id2label={"0": "a", "1": "b"}, versions={},
                  created_at="now", has_deepspeed_state=True, has_hf_model=True,
                  bytes={"deepspeed": 1, "hf_model": 1, "total": 2})
    info = TrainingInfo(**fields, base_model={"repo_id": "org/vl", "revision": "v1.0", "commit": commit}).record()
    assert info["base_model"]["commit"] == commit
    assert_valid("TrainingInfo", info)
    assert_valid("TrainingInfo", TrainingInfo(**fields).record())  # a local folder: null
    with pytest.raises(AssertionError, match="TrainingInfo base_model"):  # the commit is required
        assert_valid("TrainingInfo", {**info, "base_model": {"repo_id": "org/vl", "revision": "main"}})


def test_best_record_is_read_on_resume_only_with_best_tracking(tmp_path):
    from qc_engine.checkpoint import best_for_resume

    best_dir = fake_checkpoint(tmp_path, 4)
    fake_checkpoint(tmp_path, 8)
    record = {"path": str(best_dir), "step": 4, "metric": "accuracy", "value": 0.75}
    (tmp_path / "best_checkpoint.json").write_text(json.dumps(record))
    assert best_for_resume(tmp_path, 8, "accuracy") == record
    assert best_for_resume(tmp_path, 8, None) is None  # tracking off: the record is not read
    assert best_for_resume(tmp_path, 8, "loss") is None  # another metric's best is no best of this one
    assert best_for_resume(tmp_path, 2, "accuracy") is None  # newer than the resume point
    (tmp_path / "best_checkpoint.json").write_text(json.dumps({**record, "path": str(tmp_path / "checkpoint-99")}))
    assert best_for_resume(tmp_path, 8, "accuracy") is None  # its folder is gone
    (tmp_path / "best_checkpoint.json").write_text("{not json")
    assert best_for_resume(tmp_path, 8, "accuracy") is None
