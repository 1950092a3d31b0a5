"""checkpoint-N/.in-use.<purpose>.<pid> from the engine (issue 11): the convention of lib/checkpoints/lock.ts,
held by a hand-started export for its lifetime and around every eval_results.json write."""

from __future__ import annotations

import json
import os
import re
import socket
from pathlib import Path

import pytest

from qc_engine.locks import LOCK_NAME_RE, checkpoint_in_use

REPO = Path(__file__).resolve().parents[2]


def in_use_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".in-use."))


def test_lock_file_name_content_nesting_and_removal(tmp_path):
    ts_regex = re.search(r"CHECKPOINT_LOCK_RE = /(.+)/;", (REPO / "lib/checkpoints/lock.ts").read_text()).group(1)
    assert LOCK_NAME_RE.pattern == ts_regex  # one convention for both planes
    with checkpoint_in_use(tmp_path, "export") as path:
        assert path.name == f".in-use.export.{os.getpid()}" and LOCK_NAME_RE.match(path.name)
        info = json.loads(path.read_text())
        assert list(info) == ["pid", "host", "purpose", "started_at", "command"]
        assert (info["pid"], info["host"], info["purpose"]) == (os.getpid(), socket.gethostname(), "export")
        assert info["started_at"].endswith("Z") and isinstance(info["command"], list) and info["command"]
        with checkpoint_in_use(tmp_path, "export"):  # nested: one shared file
            assert in_use_files(tmp_path) == [path.name]
        assert path.is_file()  # the outer holder still holds it
        with checkpoint_in_use(tmp_path, "evaluate"):
            assert in_use_files(tmp_path) == sorted([path.name, f".in-use.evaluate.{os.getpid()}"])
    assert in_use_files(tmp_path) == []
    with pytest.raises(RuntimeError), checkpoint_in_use(tmp_path, "export"):  # released on an error too
        raise RuntimeError("boom")
    assert in_use_files(tmp_path) == []
    with checkpoint_in_use(tmp_path / "absent", "export", missing_ok=True) as path:
        assert path is None and not (tmp_path / "absent").exists()
    with pytest.raises(ValueError, match="purpose"), checkpoint_in_use(tmp_path, "Export"):
        pass


def test_export_holds_the_lock_for_its_lifetime(tmp_path, monkeypatch):
    from qc_engine import export

    ckpt = tmp_path / "checkpoint-3"
    ckpt.mkdir()
    seen = {}

    def fake_export(checkpoint, *args, **kwargs):
        seen["during"] = in_use_files(checkpoint)
        return {"checkpoint": str(checkpoint)}

    monkeypatch.setattr(export, "export_checkpoint", fake_export)
    assert export.main(["--checkpoint", str(ckpt), "--json"]) == 0
    assert seen["during"] == [f".in-use.export.{os.getpid()}"]
    assert in_use_files(ckpt) == []

    def failing_export(checkpoint, *args, **kwargs):
        seen["failing"] = in_use_files(checkpoint)
        raise export.BadInput("nothing to export")

    monkeypatch.setattr(export, "export_checkpoint", failing_export)
    assert export.main(["--checkpoint", str(ckpt), "--json"]) == 2
    assert seen["failing"] == [f".in-use.export.{os.getpid()}"] and in_use_files(ckpt) == []


def test_eval_results_are_written_under_the_evaluate_lock(tmp_path, monkeypatch):
    from qc_engine import eval_records

    ckpt = tmp_path / "checkpoint-5"
    ckpt.mkdir()
    during = []
    real_write = eval_records.write_json_atomic

    def spy(path, data):
        during.append(in_use_files(Path(path).parent))
        real_write(path, data)

    monkeypatch.setattr(eval_records, "write_json_atomic", spy)
    eval_records.write_eval_results(ckpt, "full:abc", {"num_samples": 2}, ['{"eval_key": "full:abc"}'])
    assert during == [[f".in-use.evaluate.{os.getpid()}"]]
    assert in_use_files(ckpt) == []
    assert json.loads((ckpt / "eval_results.json").read_text()) == {"full:abc": {"num_samples": 2}}
