"""Resuming an older checkpoint moves the newer ones aside (qc_engine.supersede); the universal conversion is
atomic and reused (qc_engine.universal, with DeepSpeed's converter replaced by a fake here: the real one runs
in test_elastic_resume.py)."""
import json
import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from qc_engine import universal
from qc_engine.errors import BadInput
from qc_engine.supersede import supersede_newer

NOW = datetime(2026, 12, 3, 7, 0, 0, tzinfo=timezone.utc)


def checkpoint(out: Path, step: int, complete: bool = True) -> Path:
    path = out / f"checkpoint-{step}"
    (path / "deepspeed" / f"global_step{step}").mkdir(parents=True)
    (path / "deepspeed" / f"global_step{step}" / "mp_rank_00_model_states.pt").write_bytes(b"x" * step)
    if complete:
        (path / "training_info.json").write_text(json.dumps({"step": step, "world_size": 2}))
    return path


def test_newer_checkpoints_move_whole_into_one_superseded_folder(tmp_path):
    for step in (2, 4, 6):
        checkpoint(tmp_path, step)
    checkpoint(tmp_path, 8, complete=False)
    (tmp_path / "best_checkpoint.json").write_text(json.dumps({"path": str(tmp_path / "checkpoint-6"), "step": 6}))
    dest, moved = supersede_newer(tmp_path, 4, now=NOW)
    assert dest == tmp_path / "superseded-20261203T070000Z" and moved == ["checkpoint-6", "checkpoint-8"]
    assert sorted(p.name for p in tmp_path.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    assert (dest / "checkpoint-6" / "training_info.json").is_file() and (dest / "checkpoint-8").is_dir()
    assert (dest / "best_checkpoint.json").is_file() and not (tmp_path / "best_checkpoint.json").exists()
    # nothing newer: nothing moves; a second resume within the same second gets its own folder
    assert supersede_newer(tmp_path, 4, now=NOW) == (None, [])
    checkpoint(tmp_path, 5)
    assert supersede_newer(tmp_path, 4, now=NOW)[0] == tmp_path / "superseded-20261203T070000Z-2"


def test_a_best_record_of_an_older_checkpoint_stays(tmp_path):
    checkpoint(tmp_path, 2)
    checkpoint(tmp_path, 4)
    (tmp_path / "best_checkpoint.json").write_text(json.dumps({"path": str(tmp_path / "checkpoint-2"), "step": 2}))
    supersede_newer(tmp_path, 2, now=NOW)
    assert (tmp_path / "best_checkpoint.json").is_file()


def test_a_newer_checkpoint_in_use_is_refused_before_anything_moves(tmp_path):
    checkpoint(tmp_path, 2)
    busy = checkpoint(tmp_path, 4)
    checkpoint(tmp_path, 6)
    (busy / f".in-use.evaluate.{os.getpid()}").write_text(json.dumps({"host": os.uname().nodename}))
    with pytest.raises(BadInput, match=r"checkpoint-4 \(evaluate pid \d+") as err:
        supersede_newer(tmp_path, 2, now=NOW)
    assert "wait for those processes" in err.value.hint
    assert not list(tmp_path.glob("superseded-*")) and (tmp_path / "checkpoint-6").is_dir()
    # a lock whose process is gone is stale: ignored
    (busy / f".in-use.evaluate.{os.getpid()}").unlink()
    (busy / ".in-use.evaluate.999999999").write_text(json.dumps({"host": os.uname().nodename}))
    assert supersede_newer(tmp_path, 2, now=NOW)[1] == ["checkpoint-4", "checkpoint-6"]


def fake_converter(calls: list, fail: bool = False):
    def run(src: Path, dst: Path, log: Path, workers: int) -> None:
        calls.append(src)
        (dst / "zero" / "w").mkdir(parents=True)
        (dst / "zero" / "w" / "fp32.pt").write_bytes(b"0123")
        if fail:
            raise RuntimeError("converter died")
        (dst.parent / "latest_universal").write_text(dst.name)
    return run


def test_universal_conversion_is_atomic_and_reused_while_the_source_is_the_same(tmp_path, monkeypatch):
    ckpt = checkpoint(tmp_path, 4)
    info = json.loads((ckpt / "training_info.json").read_text())
    before = sorted(p.relative_to(ckpt) for p in ckpt.rglob("*"))
    calls: list = []
    monkeypatch.setattr(universal, "run_conversion", fake_converter(calls, fail=True))
    with pytest.raises(RuntimeError, match="converter died"):
        universal.universal_checkpoint(ckpt, "global_step4", info, tmp_path / "log")
    assert not (ckpt / "deepspeed" / "universal").exists()  # only a hidden temporary folder is left
    assert [p.name for p in (ckpt / "deepspeed").iterdir() if p.name.startswith(".universal.tmp-")]

    monkeypatch.setattr(universal, "run_conversion", fake_converter(calls))
    target, converted = universal.universal_checkpoint(ckpt, "global_step4", info, tmp_path / "log")
    assert converted and target == ckpt / "deepspeed" / "universal"
    assert not [p for p in (ckpt / "deepspeed").iterdir() if p.name.startswith(".universal")]  # stale one removed
    marker = json.loads((target / "qc_universal.json").read_text())
    assert marker["files"]["global_step4/zero/w/fp32.pt"]["size"] == 4
    # the checkpoint's own files are untouched: only deepspeed/universal/ was added
    after = sorted(p.relative_to(ckpt) for p in ckpt.rglob("*") if "universal" not in p.parts)
    assert after == before

    assert universal.universal_checkpoint(ckpt, "global_step4", info, tmp_path / "log") == (target, False)
    assert len(calls) == 2
    # a damaged conversion, or another checkpoint under the same name: converted again
    (target / "global_step4" / "zero" / "w" / "fp32.pt").write_bytes(b"01")
    assert universal.universal_checkpoint(ckpt, "global_step4", info, tmp_path / "log")[1] is True
    (ckpt / "deepspeed" / "global_step4" / "mp_rank_00_model_states.pt").write_bytes(b"other run")
    assert universal.universal_checkpoint(ckpt, "global_step4", info, tmp_path / "log")[1] is True
    assert len(calls) == 4


def test_universal_conversion_failure_names_the_log(tmp_path, monkeypatch):
    import sys

    argv = universal.conversion_argv(Path("in/global_step4"), Path("out/global_step4"), 4)
    assert argv[1:5] == ["-m", "deepspeed.checkpoint.ds_to_universal", "--input_folder", "in/global_step4"]
    assert argv[-1] == "--inject_missing_state" and argv[argv.index("--num_merge_workers") + 1] == "2"
    monkeypatch.setattr(universal, "conversion_argv",
                        lambda *a: [sys.executable, "-c", "print('AssertionError: bad shard'); raise SystemExit(3)"])
    with pytest.raises(RuntimeError, match=r"conversion of in failed \(exit 3\); its log: .*conv.log\n.*bad shard"):
        universal.run_conversion(Path("in"), tmp_path / "u", tmp_path / "conv.log", 1)


def test_a_save_that_finds_its_folder_taken_moves_it_aside_instead_of_failing(tmp_path, capsys):
    from qc_engine.checkpoint import CheckpointManager, TrainingInfo

    old = checkpoint(tmp_path, 6)
    tmp = tmp_path / ".checkpoint-6.tmp"
    (tmp / "deepspeed").mkdir(parents=True)
    (tmp / "deepspeed" / "new.pt").write_bytes(b"new")
    info = TrainingInfo(step=6, epoch=1.0, samples_seen=48, train_loss=1.0, lr=0.0, grad_norm=None, eval_metrics=None,
                        metric_name=None, is_final=True, is_best=False, wall_time_s=1.0, world_size=1, zero_stage=2,
                        precision="fp32", config_hash="h", num_labels=2, id2label={}, versions={}, created_at="now",
                        has_deepspeed_state=True, has_hf_model=False)
    manager = CheckpointManager(out=tmp_path, engine=None, rank=0, zero_stage=2, with_hf_model=False,
                                save_hf=lambda *a: None)
    manager._commit(tmp, 6, info, None)
    assert (old / "deepspeed" / "new.pt").is_file() and not tmp.exists()
    moved = list(tmp_path.glob("superseded-*/checkpoint-6/deepspeed/global_step6"))
    assert len(moved) == 1 and "checkpoint-6 already existed; moved to" in capsys.readouterr().err
