"""Bad input is reported before any training: exit code 2, the culprit named, nothing written."""

import json
from pathlib import Path

from helpers import read_events, run_engine_direct


def test_malformed_line_exits_2_naming_file_and_line(make_config, tmp_path, small_digits_dir):
    bad = tmp_path / "bad.jsonl"
    lines = (small_digits_dir / "train.jsonl").read_text().splitlines()
    lines[4] = '{"image": "x.png", "label": '
    bad.write_text("\n".join(lines) + "\n")
    config = make_config({"data": {"train_jsonl": str(bad)}})
    out = Path(config["training"]["output_dir"])
    result = run_engine_direct(config, out)
    assert result.returncode == 2, result.stderr[-3000:]
    assert f"error: {bad}:5: malformed JSON" in result.stderr
    assert "hint: fix the data or set data.on_bad_sample: skip" in result.stderr  # the training hint, on its own line
    events = read_events(out)
    assert events[-2]["event"] == "error" and f"{bad}:5" in events[-2]["message"] and events[-2]["exit_code"] == 2
    assert events[-2]["hint"] == "fix the data or set data.on_bad_sample: skip"
    assert "on_bad_sample" not in events[-2]["message"]
    assert (events[-1]["event"], events[-1]["status"], events[-1]["exit_code"]) == ("end", "failed", 2)
    assert not list(out.glob("checkpoint-*"))


def test_too_few_samples_and_missing_model_exit_2(make_config, tmp_path, small_digits_dir):
    config = make_config({"training": {"per_device_batch_size": 100}})
    result = run_engine_direct(config, Path(config["training"]["output_dir"]))
    assert result.returncode == 2
    assert "fewer than one global batch of 100" in result.stderr

    config = make_config({"model": {"pretrained_name": str(tmp_path / "no-model")}}, out_name="nomodel")
    result = run_engine_direct(config, Path(config["training"]["output_dir"]))
    assert result.returncode == 2
    assert f"model.pretrained_name: folder {tmp_path / 'no-model'} does not exist" in result.stderr


def test_skip_mode_trains_and_reports_skipped_lines(make_config, tmp_path, small_digits_dir):
    noisy = tmp_path / "noisy.jsonl"
    lines = (small_digits_dir / "train.jsonl").read_text().splitlines()
    noisy.write_text("\n".join(lines + ["{oops", json.dumps({"image": "gone.png", "label": 1})]) + "\n")
    config = make_config({"data": {"train_jsonl": str(noisy), "on_bad_sample": "skip"},
                          "training": {"skip_evaluation": True, "max_steps": 1, "save_steps": 1}})
    out = Path(config["training"]["output_dir"])
    result = run_engine_direct(config, out)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "skipped 2 bad line(s)" in result.stdout
    start = read_events(out)[0]
    assert start["skipped_samples"] == 2 and start["num_train_samples"] == 64
