import json
import subprocess

import pytest

from helpers import PYTHON, REPO, ds_config_for_stage, engine_env, free_port

SCRIPT = REPO / "engine" / "tests" / "_load_weights_script.py"


def run_script(mode: str, model_dir, work, stage: int) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    ds_path = work / f"ds_config_stage{stage}.json"
    ds_path.write_text(json.dumps(ds_config_for_stage(stage)))  # the launcher's own ds_config (lib/config/deepspeed.ts)
    result = subprocess.run([PYTHON, str(SCRIPT), mode, str(model_dir), str(work), str(ds_path), str(free_port())],
                            env=engine_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("zero_stage", [2, 3])
def test_slimmed_checkpoint_weights_load_from_hf_model(tiny_model_dir, tmp_path, zero_stage):
    # ZeRO-3 as train.py sets it up: the engine's model is partitioned (zero.Init) and HfDeepSpeedConfig is
    # still alive while the slimmed checkpoint's hf_model/ weights are read.
    report = run_script("load", tiny_model_dir, tmp_path, zero_stage)
    assert report == {"how": "hf_model", "same": True, "keys": report["keys"]} and report["keys"] > 50


def test_zero_stages_build_identical_param_groups(tiny_model_dir, tmp_path):
    groups = {stage: run_script("groups", tiny_model_dir, tmp_path / f"s{stage}", stage) for stage in (0, 2, 3)}
    assert groups[3]["partitioned"] and not groups[0]["partitioned"]  # stage 3 really built under zero.Init
    for stage in (2, 3):
        assert groups[stage]["decay"] == groups[0]["decay"], stage
        assert groups[stage]["no_decay"] == groups[0]["no_decay"], stage
    # Weight decay is on for the matrices (not silently off): most trainable tensors decay, norms/biases do not.
    assert len(groups[0]["decay"]) > 10 and len(groups[0]["no_decay"]) > 10
    assert all("norm" not in n and not n.endswith(".bias") for n in groups[0]["decay"])
