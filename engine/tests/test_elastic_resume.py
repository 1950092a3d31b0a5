"""Elastic resume: a ZeRO-2 checkpoint of 2 processes resumed on 1 (accumulation doubled) and back on 2,
through DeepSpeed's universal checkpoint; and resuming an older checkpoint moves the newer ones aside.

Three torchrun runs, global batch 8 (64 samples: 8 steps an epoch), save every 2 steps, hf_model deferred:
  A  2 processes x 4 x accumulation 1, steps 1-4 (the uninterrupted reference; saves checkpoint-2, -4)
  B  1 process, resumes A's checkpoint-2 in A's output_dir (so checkpoint-4 is newer: moved aside),
     accumulation 1 -> 2, steps 3-4 (saves checkpoint-3, -4)
  C  2 processes, resumes B's checkpoint-3 (saved by 1 process) in another output_dir, step 4.
Tolerance: each step's loss within 1e-4 (absolute) of A's, the bound test_train.py uses for 1 vs 2
processes: the sums are ordered differently (all-reduce vs accumulation), nothing else differs. A wrong
data position, optimizer state or lr schedule moves a step's loss by 1e-2 or more.
"""

import json
from pathlib import Path

import pytest

from helpers import read_events, run_train, step_losses

pytestmark = pytest.mark.slow
TOL = 1e-4


def assert_ok(result):
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]


def last_run(events: list[dict]) -> list[dict]:
    starts = [i for i, e in enumerate(events) if e["event"] == "start"]
    return events[starts[-1]:]


def test_zero2_resumes_on_one_process_and_back_on_two(make_config, tmp_path):
    config = make_config({"training": {"skip_evaluation": True, "max_steps": 4, "save_steps": 2,
                                       "per_device_batch_size": 4, "gradient_accumulation_steps": 1,
                                       "checkpoint": {"hf_format": "deferred"}}}, out_name="a")
    out_a = Path(config["training"]["output_dir"])
    assert_ok(run_train(config, out_a, nproc=2))
    reference = step_losses(read_events(out_a))
    assert sorted(reference) == [1, 2, 3, 4]

    # B: 2 -> 1 process, from the older checkpoint-2 of A's own output_dir
    config["training"]["save_steps"] = 1
    result = run_train(config, out_a, nproc=1, extra=["--resume", str(out_a / "checkpoint-2")])
    assert_ok(result)
    events = last_run(read_events(out_a))
    start = events[0]
    assert (start["resumed_from_step"], start["world_size"], start["global_batch_size"]) == (2, 1, 8)
    lines = result.stdout
    assert "gradient_accumulation_steps 1 -> 2 keeps the global batch" in lines, lines
    assert "global batch 8 = 2 process(es) x per-device 4 x accumulation 1 -> global batch 8 = 1 process(es) x " \
           "per-device 4 x accumulation 2" in lines
    assert "universal checkpoint" in lines and "converted in" in lines
    superseded = list(out_a.glob("superseded-*"))
    assert len(superseded) == 1 and (superseded[0] / "checkpoint-4" / "training_info.json").is_file()
    assert f"the newer checkpoint-4 of the run it replaces moved to {superseded[0]}" in lines
    after = step_losses(events)
    assert sorted(after) == [3, 4]
    for step, loss in after.items():
        assert loss == pytest.approx(reference[step], abs=TOL), (step, loss, reference[step])
    info = json.loads((out_a / "checkpoint-3" / "training_info.json").read_text())
    assert (info["world_size"], info["gradient_accumulation_steps"], info["global_batch"]) == (1, 2, 8)
    assert info["samples_seen"] == 3 * 8
    assert json.loads((out_a / "checkpoint-3" / "ds_config.json").read_text())["gradient_accumulation_steps"] == 2
    # the converted checkpoint's own files are untouched (its manifest, SHA-256 included)
    from qc_engine.manifest import verify_checkpoint

    ckpt2 = out_a / "checkpoint-2"
    assert verify_checkpoint(ckpt2, json.loads((ckpt2 / "training_info.json").read_text()), hashes=True) == "sha256"
    assert (ckpt2 / "deepspeed" / "universal" / "qc_universal.json").is_file()

    # C: 1 -> 2 processes, B's checkpoint-3 into a fresh output_dir
    config["training"]["output_dir"] = str(tmp_path / "c")
    out_c = Path(config["training"]["output_dir"])
    assert_ok(run_train(config, out_c, nproc=2, extra=["--resume", str(out_a / "checkpoint-3")]))
    events = read_events(out_c)
    assert (events[0]["resumed_from_step"], events[0]["world_size"]) == (3, 2)
    after = step_losses(events)
    assert sorted(after) == [4]
    assert after[4] == pytest.approx(reference[4], abs=TOL), (after[4], reference[4])
    print("max |loss after resume - uninterrupted|:",
          max(abs(step_losses(read_events(out_a))[4] - reference[4]), abs(after[4] - reference[4])))
