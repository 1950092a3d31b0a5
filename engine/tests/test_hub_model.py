"""qc_engine.hub_model / model.hub_snapshot_source without a Hub: argument errors and snapshot recognition.

The downloads themselves run against the local test Hub in test/e2e_hub_model.test.ts.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from helpers import PYTHON, REPO, engine_env  # noqa: E402


def test_hub_snapshot_source(tmp_path):
    from qc_engine.model import hub_snapshot_source

    commit = "a" * 40
    snap = tmp_path / "hub" / "models--Qwen--Qwen2.5-VL-7B-Instruct" / "snapshots" / commit
    snap.mkdir(parents=True)
    assert hub_snapshot_source(snap) == {"repo_id": "Qwen/Qwen2.5-VL-7B-Instruct", "commit": commit}
    assert hub_snapshot_source(tmp_path) is None
    assert hub_snapshot_source(tmp_path / "hub" / "models--Qwen--Qwen2.5-VL-7B-Instruct") is None


def test_offline_and_not_cached_is_bad_input(tmp_path):
    env = {**engine_env(), "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "cache")}
    r = subprocess.run([PYTHON, "-m", "qc_engine.hub_model", "--repo", "me/absent"], env=env, capture_output=True,
                       text=True, timeout=120, cwd=str(REPO))
    assert r.returncode == 2
    last = json.loads(r.stdout.strip().splitlines()[-1])
    assert last["event"] == "error" and last["exit_code"] == 2
    assert "me/absent@main: not in the local cache and the Hub cannot be reached" in last["message"]


def test_hub_model_and_the_protocol_writer_need_no_torch():
    """hub_model runs before torchrun, on every launch with a Hub id: importing torch there would cost seconds."""
    code = ("import sys, qc_engine.hub_model, qc_engine.protocol; "
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))")
    r = subprocess.run([PYTHON, "-c", code], env=engine_env(), capture_output=True, text=True, timeout=120,
                       cwd=str(REPO))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_protocol_lines_are_rank0_only_and_json_safe(monkeypatch, capsys):
    from qc_engine.protocol import emit

    monkeypatch.setenv("RANK", "1")
    emit("progress", n=1)
    assert capsys.readouterr().out == ""
    monkeypatch.setenv("RANK", "0")
    emit("progress", value=float("nan"), items=(1, 2))
    line = json.loads(capsys.readouterr().out)
    assert line["event"] == "progress" and line["value"] is None and line["items"] == [1, 2]
    assert isinstance(line["time"], float)
