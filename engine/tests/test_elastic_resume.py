"""Elastic resume through DeepSpeed's universal checkpoint: ZeRO-2 from 2 processes to 1 (accumulation
doubled, from an older checkpoint of the same output_dir, so the newer one is moved aside), ZeRO-3 from 1
process to 2 (accumulation halved). Global batch 8 (64 samples: 8 steps an epoch), hf_model deferred.

Reference: the uninterrupted run of the same chain (the first run of each test). 1 process x 4 x 2 and
2 processes x 4 x 1 give the same losses (test_train.py checks 1 vs 2 processes), so each reference serves
the resumed run of the other layout. Tolerance: each step's loss within 1e-5 (absolute) of the reference:
the sums are ordered differently (all-reduce vs accumulation), nothing else differs; measured 1e-7..3e-7
(fp32, one thread per process). A wrong data position or lr moves a step's loss by 1e-2; the ZeRO-3 Adam
step that DeepSpeed shares between sub-groups (universal.unshare_zero3_steps) moved step 4 by 1.3e-4.
"""

import json
from pathlib import Path

import pytest

from helpers import read_events, run_train, step_losses

pytestmark = pytest.mark.slow
TOL = 1e-5


def assert_ok(result):
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]


def last_run(events: list[dict]) -> list[dict]:
    starts = [i for i, e in enumerate(events) if e["event"] == "start"]
    return events[starts[-1]:]


def elastic_config(make_config, stage: int, accum: int, out_name: str) -> dict:
    return make_config({"training": {"skip_evaluation": True, "max_steps": 4, "save_steps": 2,
                                     "per_device_batch_size": 4, "gradient_accumulation_steps": accum,
                                     "checkpoint": {"hf_format": "deferred"}},
                        "deepspeed": {"zero_stage": stage}}, out_name=out_name)


def assert_follows(resumed: dict, reference: dict, steps: list[int]) -> None:
    assert sorted(resumed) == steps
    for step, loss in resumed.items():
        assert loss == pytest.approx(reference[step], abs=TOL), (step, loss, reference[step])
    print("max |loss after resume - uninterrupted|:", max(abs(resumed[s] - reference[s]) for s in steps))


def test_zero2_two_processes_resume_on_one_from_an_older_checkpoint(make_config):
    config = elastic_config(make_config, stage=2, accum=1, out_name="a")
    out = Path(config["training"]["output_dir"])
    assert_ok(run_train(config, out, nproc=2))
    reference = step_losses(read_events(out))
    assert sorted(reference) == [1, 2, 3, 4]

    result = run_train(config, out, nproc=1, extra=["--resume", str(out / "checkpoint-2")])
    assert_ok(result)
    events = last_run(read_events(out))
    assert (events[0]["resumed_from_step"], events[0]["world_size"], events[0]["global_batch_size"]) == (2, 1, 8)
    lines = result.stdout
    assert ("gradient_accumulation_steps 1 -> 2 keeps the global batch: global batch 8 = 2 process(es) x per-device "
            "4 x accumulation 1 -> global batch 8 = 1 process(es) x per-device 4 x accumulation 2") in lines, lines
    assert "universal checkpoint" in lines and "converted in" in lines
    superseded = list(out.glob("superseded-*"))
    assert len(superseded) == 1 and (superseded[0] / "checkpoint-4" / "training_info.json").is_file()
    assert f"the newer checkpoint-4 of the run it replaces moved to {superseded[0]}" in lines
    assert_follows(step_losses(events), reference, [3, 4])
    info = json.loads((out / "checkpoint-4" / "training_info.json").read_text())
    assert (info["world_size"], info["gradient_accumulation_steps"], info["global_batch"]) == (1, 2, 8)
    assert info["samples_seen"] == 4 * 8
    assert json.loads((out / "checkpoint-4" / "ds_config.json").read_text())["gradient_accumulation_steps"] == 2
    # the converted checkpoint's own files are untouched (its manifest, SHA-256 included)
    from qc_engine.manifest import verify_checkpoint

    ckpt2 = out / "checkpoint-2"
    assert verify_checkpoint(ckpt2, json.loads((ckpt2 / "training_info.json").read_text()), hashes=True) == "sha256"
    assert (ckpt2 / "deepspeed" / "universal" / "qc_universal.json").is_file()


def test_zero3_one_process_resumes_on_two(make_config, tmp_path):
    config = elastic_config(make_config, stage=3, accum=2, out_name="one")
    out = Path(config["training"]["output_dir"])
    assert_ok(run_train(config, out, nproc=1))
    reference = step_losses(read_events(out))

    config["training"]["output_dir"] = str(tmp_path / "two")
    two = Path(config["training"]["output_dir"])
    result = run_train(config, two, nproc=2, extra=["--resume", str(out / "checkpoint-2")])
    assert_ok(result)
    assert "gradient_accumulation_steps 2 -> 1 keeps the global batch" in result.stdout, result.stdout
    events = read_events(two)
    assert (events[0]["resumed_from_step"], events[0]["world_size"], events[0]["global_batch_size"]) == (2, 2, 8)
    assert_follows(step_losses(events), reference, [3, 4])
