"""qc_engine.export on REAL checkpoints of the tiny model (torchrun, ZeRO 0/2/3, every_save and deferred).

Each run trains 4 steps and saves at steps 2 and 4; tests work on copies of the run folders.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from qc_engine.config import QwenClassifyConfig, load_resolved  # noqa: E402

from helpers import PYTHON, REPO, apply_skip_evaluation, deep_merge, engine_env, read_events, run_train, schema_defaults  # noqa: E402
from schema_check import assert_valid  # noqa: E402

# ==================================================================== fixtures: assets and runs


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    from qc_engine.demo_assets import build_demo_assets

    root = tmp_path_factory.mktemp("export_assets")
    cfg = run_config(root / "unused", root, stage=2, hf_format="every_save")
    build_demo_assets(QwenClassifyConfig.from_dict(cfg), log=lambda *_: None)
    return root


def run_config(out: Path, assets_root: Path, stage: int, hf_format: str, evaluate: bool = False) -> dict:
    """4 steps, saves at 2 and 4, no evaluation; with `evaluate`: standard mode, 6 steps, partial
    evaluation (20 samples) at every save, best checkpoint by the lowest loss."""
    cfg = deep_merge(schema_defaults(), {
        "model": {"pretrained_name": str(assets_root / "tiny"), "num_labels": 10},
        "data": {"train_jsonl": str(assets_root / "digits" / "train.jsonl"),
                 "val_jsonl": str(assets_root / "digits" / "val.jsonl"), "labels_file": "", "num_workers": 0,
                 "image_min_pixels": 3136, "image_max_pixels": 3136},
        "training": {"output_dir": str(out), "max_steps": 4, "save_steps": 2, "per_device_batch_size": 2,
                     "logging_steps": 1, "skip_evaluation": True, "lr": 1e-3, "precision": "fp32",
                     "checkpoint": {"hf_format": hf_format}},
        "deepspeed": {"zero_stage": stage},
        "demo": {"build_tiny_model": True, "build_digits_dataset": True},
    })
    if evaluate:
        cfg = deep_merge(cfg, {"training": {
            "skip_evaluation": False, "max_steps": 6, "eval_steps": 2, "save_all_checkpoints": True,
            "best_model_tracking": {"enabled": True, "metric": "loss", "greater_is_better": False},
            "evaluation": {"partial_eval_samples": 20, "full_eval_at_end": False}}})
    return apply_skip_evaluation(cfg)


_RUNS: dict[tuple, Path] = {}


def trained(assets: Path, stage: int, hf_format: str, nproc: int) -> Path:
    """A finished run (trained once per module), never modified by the tests."""
    key = (stage, hf_format, nproc)
    if key not in _RUNS:
        out = assets / f"run_z{stage}_{hf_format}_{nproc}"
        proc = run_train(run_config(out, assets, stage, hf_format), out, nproc=nproc)
        assert proc.returncode == 0, proc.stderr[-4000:]
        _RUNS[key] = out
    return _RUNS[key]


def copy_run(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / src.name
    shutil.copytree(src, dst, symlinks=True)
    return dst


def export(checkpoint: Path, *args: str, env_extra: dict | None = None) -> tuple[int, list[dict], str]:
    env = engine_env()
    env.update(env_extra or {})
    proc = subprocess.run([PYTHON, "-m", "qc_engine.export", "--checkpoint", str(checkpoint), "--json", *args],
                          env=env, capture_output=True, text=True, timeout=300, cwd=str(REPO))
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    for event in events:  # schema/events.schema.json
        assert_valid("ExportEvent", event, "export --json stdout")
    if proc.returncode == 0:
        assert_valid("TrainingInfo", json.loads((checkpoint / "training_info.json").read_text()), str(checkpoint))
    return proc.returncode, events, proc.stderr


def result_of(events: list[dict]) -> dict:
    results = [e for e in events if e["event"] == "result"]
    assert results, events
    return results[0]


def folder_digest(path: Path) -> dict[str, str]:
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


def logits_of(hf_dir: Path, run_dir: Path):
    """Logits of an hf_model/ folder, loaded the way users load it, on 4 validation images."""
    import torch

    from qc_engine.export import verification_batch
    from qc_engine.model import load_hf_classifier

    config, _ = load_resolved(run_dir / "resolved_config.json")
    batch, _ = verification_batch(hf_dir, config, [str(i) for i in range(10)], 4)
    model = load_hf_classifier(hf_dir, dtype=torch.float32).eval()
    with torch.no_grad():
        return model(**batch).logits.float()


def read_info(ckpt: Path) -> dict:
    return json.loads((ckpt / "training_info.json").read_text())


def make_slim(ckpt: Path) -> None:
    """What lib/checkpoints/slim.ts does (tested there); here only to get a slim checkpoint."""
    shutil.rmtree(ckpt / "deepspeed")
    info = read_info(ckpt)
    info.update(slim=True, has_deepspeed_state=False)
    (ckpt / "training_info.json").write_text(json.dumps(info))


# ==================================================================== exports that succeed


def test_zero2_export_matches_the_engines_every_save_hf_model(assets, tmp_path):
    run = copy_run(trained(assets, 2, "every_save", 2), tmp_path)
    ckpt = run / "checkpoint-4"
    engine_hf = tmp_path / "engine_hf_model"
    shutil.copytree(ckpt / "hf_model", engine_hf)
    code, events, err = export(ckpt, "--dtype", "fp32", "--verify")
    assert code == 0, err
    res = result_of(events)
    assert res["source"] == {"kind": "deepspeed", "zero_stage": 2, "tag": "global_step4"}
    assert res["replaced_previous"] is True
    assert res["safetensors_dtypes"] == ["F32"]
    assert res["verify"]["passed"] and res["verify"]["max_abs_diff"] <= 1e-6
    from qc_engine.export import inspect_hf_weights

    before = inspect_hf_weights(engine_hf)
    assert (res["tensors"], res["parameters"]) == (before["tensors"], before["parameters"])
    assert float((logits_of(ckpt / "hf_model", run) - logits_of(engine_hf, run)).abs().max()) <= 1e-6
    # the rest of the layout: config (labels, auto_map), modelling code, processor files
    config = json.loads((ckpt / "hf_model" / "config.json").read_text())
    assert config["id2label"]["3"] == "3" and config["label2id"]["9"] == 9
    assert config["architectures"] == ["Qwen2_5_VLForImageClassification"]
    assert "AutoModelForImageClassification" in config["auto_map"]
    assert set(os.listdir(engine_hf)) <= set(os.listdir(ckpt / "hf_model"))
    assert not (ckpt / "hf_model.tmp").exists()
    progress = [e for e in events if e["event"] == "progress"]
    assert {e["phase"] for e in progress} == {"cast", "write", "verify"}
    assert progress[-1]["done"] == progress[-1]["total"]
    info = read_info(ckpt)
    assert info["has_hf_model"] is True and info["hf_model_dtype"] == "fp32"
    assert info["bytes"]["hf_model"] == res["bytes"] and info["bytes"]["deepspeed"] > 0


def test_deferred_zero3_export_gives_the_same_logits_as_every_save(assets, tmp_path):
    every = trained(assets, 3, "every_save", 2)
    run = copy_run(trained(assets, 3, "deferred", 2), tmp_path)
    ckpt = run / "checkpoint-4"
    assert not (ckpt / "hf_model").exists() and read_info(ckpt)["has_hf_model"] is False
    code, events, err = export(ckpt)  # --dtype auto: the training precision (fp32 here)
    assert code == 0, err
    res = result_of(events)
    assert res["source"]["zero_stage"] == 3 and res["dtype"] == "fp32" and res["replaced_previous"] is False
    diff = float((logits_of(ckpt / "hf_model", run) - logits_of(every / "checkpoint-4" / "hf_model", every)).abs().max())
    assert diff <= 1e-5, diff
    assert read_info(ckpt)["has_hf_model"] is True


def test_zero0_checkpoint_exports_from_the_module_state(assets, tmp_path):
    run = copy_run(trained(assets, 0, "deferred", 1), tmp_path)
    code, events, err = export(run / "checkpoint-2", "--verify")
    assert code == 0, err
    res = result_of(events)
    assert res["source"]["zero_stage"] == 0 and res["verify"]["passed"]


def test_bf16_export_is_sharded_with_an_index_and_verified(assets, tmp_path):
    run = copy_run(trained(assets, 2, "every_save", 2), tmp_path)
    ckpt = run / "checkpoint-2"
    code, events, err = export(ckpt, "--dtype", "bf16", "--max-shard-size", "300KB", "--verify")
    assert code == 0, err
    res = result_of(events)
    hf = ckpt / "hf_model"
    index = json.loads((hf / "model.safetensors.index.json").read_text())
    assert len(res["files"]) >= 2 and sorted(set(index["weight_map"].values())) == res["files"]
    assert not (hf / "model.safetensors").exists()
    assert all(size <= 300_000 + 100_000 for size in res["shard_bytes"].values())
    assert res["safetensors_dtypes"] == ["BF16"]
    assert json.loads((hf / "config.json").read_text())["dtype"] == "bfloat16"
    v = res["verify"]
    assert v["passed"] and 0 < v["max_abs_diff"] <= v["tolerance"]


def test_slim_checkpoint_is_re_exported_from_its_hf_model(assets, tmp_path):
    run = copy_run(trained(assets, 2, "every_save", 2), tmp_path)
    ckpt = run / "checkpoint-2"
    reference = logits_of(ckpt / "hf_model", run)
    make_slim(ckpt)
    code, events, err = export(ckpt, "--dtype", "bf16", "--verify")
    assert code == 0, err
    res = result_of(events)
    assert res["source"]["kind"] == "hf_model" and res["safetensors_dtypes"] == ["BF16"]
    assert float((logits_of(ckpt / "hf_model", run) - reference).abs().max()) <= res["verify"]["tolerance"]
    assert read_info(ckpt)["slim"] is True  # still slim, still no deepspeed/
    assert not (ckpt / "deepspeed").exists()


# ==================================================================== failures leave the previous state intact


def test_missing_rank_shard_is_bad_input_and_changes_nothing(assets, tmp_path):
    run = copy_run(trained(assets, 2, "every_save", 2), tmp_path)
    ckpt = run / "checkpoint-4"
    (ckpt / "deepspeed" / "global_step4" / "zero_pp_rank_1_mp_rank_00_optim_states.pt").unlink()
    before, info_before = folder_digest(ckpt / "hf_model"), (ckpt / "training_info.json").read_text()
    code, events, err = export(ckpt)
    assert code == 2
    error = [e for e in events if e["event"] == "error"][0]
    # the checksum manifest catches it first and names the file
    assert "zero_pp_rank_1_mp_rank_00_optim_states.pt" in error["message"] and error["exit_code"] == 2
    assert folder_digest(ckpt / "hf_model") == before
    assert (ckpt / "training_info.json").read_text() == info_before
    assert not (ckpt / "hf_model.tmp").exists()


def test_a_lone_copied_deferred_checkpoint_exports(assets, tmp_path):
    # checkpoint-N copied alone to "another machine": no OUT/resolved_config.json, no hf_model/ (deferred)
    src = trained(assets, 3, "deferred", 2) / "checkpoint-4"
    lone = tmp_path / "elsewhere" / "checkpoint-4"
    shutil.copytree(src, lone)
    assert not (lone / "hf_model").exists() and not (lone.parent / "resolved_config.json").exists()
    assert (lone / "resolved_config.json").is_file() and (lone / "ds_config.json").is_file()
    code, events, err = export(lone)
    assert code == 0, err
    assert result_of(events)["source"]["kind"] == "deepspeed" and (lone / "hf_model" / "config.json").is_file()


def test_damaged_file_is_refused_naming_it_sizes_always_hashes_with_verify(assets, tmp_path):
    run = copy_run(trained(assets, 2, "every_save", 2), tmp_path)
    ckpt = run / "checkpoint-4"
    files = read_info(ckpt)["files"]
    on_disk = {str(p.relative_to(ckpt)) for p in ckpt.rglob("*") if p.is_file()} - {"training_info.json"}
    assert set(files) == on_disk and all(len(e["sha256"]) == 64 for e in files.values())
    assert files["hf_model/model.safetensors"]["sha256"] == hashlib.sha256(
        (ckpt / "hf_model" / "model.safetensors").read_bytes()).hexdigest()
    shard = ckpt / "deepspeed" / "global_step4" / "mp_rank_00_model_states.pt"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, different content: only the hash sees it
    shard.write_bytes(bytes(data))
    code, events, err = export(ckpt, "--verify")
    assert code == 2, err
    error = [e for e in events if e["event"] == "error"][0]
    assert "mp_rank_00_model_states.pt" in error["message"] and "SHA-256" in error["message"]
    shard.write_bytes(bytes(data[:-10]))  # truncated: sizes are always checked
    code, events, _ = export(ckpt)
    error = [e for e in events if e["event"] == "error"][0]
    assert code == 2 and "mp_rank_00_model_states.pt" in error["message"] and "bytes" in error["message"]


@pytest.mark.parametrize("point", ["write", "swap"])
def test_failure_while_writing_or_swapping_keeps_the_previous_hf_model(assets, tmp_path, point):
    run = copy_run(trained(assets, 2, "every_save", 2), tmp_path)
    ckpt = run / "checkpoint-4"
    before, info_before = folder_digest(ckpt / "hf_model"), (ckpt / "training_info.json").read_text()
    code, events, err = export(ckpt, "--dtype", "bf16", env_extra={"QC_EXPORT_TEST_FAULT": point})
    assert code == 1
    assert "No space left on device" in [e for e in events if e["event"] == "error"][0]["message"]
    assert folder_digest(ckpt / "hf_model") == before
    assert (ckpt / "training_info.json").read_text() == info_before
    assert not (ckpt / "hf_model.tmp").exists()


def test_sigkill_halfway_leaves_the_previous_state_and_the_next_export_recovers(assets, tmp_path):
    run = copy_run(trained(assets, 3, "deferred", 2), tmp_path)
    ckpt = run / "checkpoint-4"
    info_before = (ckpt / "training_info.json").read_text()
    env = engine_env()
    env["QC_EXPORT_TEST_FAULT"] = "after_write"
    proc = subprocess.Popen([PYTHON, "-m", "qc_engine.export", "--checkpoint", str(ckpt), "--json"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=str(REPO))
    deadline = time.time() + 240
    for line in proc.stdout:
        if '"paused"' in line or time.time() > deadline:
            break
    assert (ckpt / "hf_model.tmp" / "config.json").exists()  # fully written, not yet swapped in
    assert_valid("ExportPausedEvent", json.loads(line), "export --json stdout (test-only pause)")
    code, events, err = export(ckpt)  # a second export of the same checkpoint meanwhile is refused
    assert code == 1 and "another export" in err
    assert (ckpt / "hf_model.tmp" / "config.json").exists()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not (ckpt / "hf_model").exists()  # a deferred checkpoint stays without hf_model/
    assert (ckpt / "training_info.json").read_text() == info_before
    code, events, err = export(ckpt)
    assert code == 0, err
    assert any("removed hf_model.tmp" in e.get("message", "") for e in events if e["event"] == "line")
    assert not (ckpt / "hf_model.tmp").exists() and (ckpt / "hf_model" / "config.json").exists()


def test_kill_between_the_two_renames_is_undone(assets, tmp_path):
    """Where renameat2 cannot swap, hf_model -> hf_model.old then tmp -> hf_model: a kill in between is repaired."""
    run = copy_run(trained(assets, 2, "every_save", 2), tmp_path)
    ckpt = run / "checkpoint-2"
    before = folder_digest(ckpt / "hf_model")
    os.rename(ckpt / "hf_model", ckpt / "hf_model.old")
    (ckpt / "hf_model.tmp").mkdir()
    from qc_engine.export import recover_interrupted_swap

    notes = recover_interrupted_swap(ckpt)
    assert folder_digest(ckpt / "hf_model") == before
    assert not (ckpt / "hf_model.old").exists() and not (ckpt / "hf_model.tmp").exists()
    assert len(notes) == 2


def test_incomplete_folder_is_refused_and_untouched(assets, tmp_path):
    run = copy_run(trained(assets, 2, "every_save", 2), tmp_path)
    ckpt = run / "checkpoint-4"
    (ckpt / "training_info.json").unlink()
    before = folder_digest(ckpt)
    code, events, err = export(ckpt)
    assert code == 2 and "not a complete checkpoint" in err
    assert folder_digest(ckpt) == before


def test_bad_options_are_bad_input(assets, tmp_path):
    run = copy_run(trained(assets, 2, "every_save", 2), tmp_path)
    code, events, err = export(run / "checkpoint-4", "--max-shard-size", "lots")
    assert code == 2 and "--max-shard-size 'lots'" in err


# ==================================================================== resume from slim (the engine refuses)


def test_resume_from_a_slim_checkpoint_is_refused_naming_the_newest_full_one(assets, tmp_path):
    run = copy_run(trained(assets, 2, "every_save", 2), tmp_path)
    make_slim(run / "checkpoint-4")
    config = json.loads((run / "resolved_config.json").read_text())["config"]
    config["training"]["output_dir"] = str(run)
    config["training"]["max_steps"] = 6
    proc = run_train(config, run, nproc=1, extra=["--resume", "auto"])
    assert proc.returncode != 0
    errors = [e for e in read_events(run) if e["event"] == "error"]
    assert errors, proc.stderr[-2000:]
    message = errors[-1]["message"]
    assert "checkpoint-4 is slim" in message and str(run / "checkpoint-2") in message
    assert not (run / "checkpoint-6").exists()


# ==================================================================== building a run for the CLI tests

def build_for_cli(root: Path, stage: int, hf_format: str, nproc: int, evaluate: bool = False) -> dict:
    """`python engine/tests/test_export.py --build DIR STAGE FORMAT NPROC [eval]` (test/cli_export.test.ts)."""
    from qc_engine.demo_assets import build_demo_assets

    root.mkdir(parents=True, exist_ok=True)
    out = root / "run"
    cfg = run_config(out, root, stage, hf_format, evaluate)
    build_demo_assets(QwenClassifyConfig.from_dict(cfg), log=lambda *_: None)
    proc = run_train(cfg, out, nproc=nproc)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(1)
    small = root / "val_small.jsonl"
    lines = (root / "digits" / "val.jsonl").read_text().splitlines()[:20]
    base = root / "digits"
    small.write_text("".join(json.dumps({**json.loads(l), "image": str(base / json.loads(l)["image"])}) + "\n"
                             for l in lines))
    return {"run": str(out), "eval_data": str(small),
            "checkpoints": sorted(str(p) for p in out.glob("checkpoint-*"))}


if __name__ == "__main__":
    if len(sys.argv) in (6, 7) and sys.argv[1] == "--build":
        print(json.dumps(build_for_cli(Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5]),
                                       evaluate=sys.argv[6:] == ["eval"])))
    else:
        print("usage: python engine/tests/test_export.py --build DIR STAGE FORMAT NPROC [eval]", file=sys.stderr)
        raise SystemExit(2)
