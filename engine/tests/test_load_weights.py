import json
import subprocess

import pytest

from helpers import PYTHON, REPO, engine_env, free_port


@pytest.mark.parametrize("zero_stage", [2, 3])
def test_slimmed_checkpoint_weights_load_from_hf_model(tiny_model_dir, tmp_path, zero_stage):
    script = REPO / "engine" / "tests" / "_load_weights_script.py"
    result = subprocess.run([PYTHON, str(script), str(tiny_model_dir), str(tmp_path), str(zero_stage), str(free_port())],
                            env=engine_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"how": "hf_model", "same": True, "keys": report["keys"]} and report["keys"] > 50
