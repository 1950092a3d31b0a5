"""End-to-end engine runs (torchrun + DeepSpeed on the CPU, gloo) on the tiny model and a small digits set."""

import json
from pathlib import Path

import pytest
import torch

from helpers import check_event_stream, read_events, run_engine_direct, run_train, step_losses
from schema_check import assert_run_files_valid, assert_valid

pytestmark = pytest.mark.slow


def complete_checkpoints(out: Path) -> list[str]:
    return sorted((p.name for p in out.glob("checkpoint-*") if (p / "training_info.json").is_file()),
                  key=lambda n: int(n.split("-")[1]))


def run_evaluate_cli(args: list[str]):
    import subprocess

    from helpers import PYTHON, REPO, engine_env

    return subprocess.run([PYTHON, "-m", "qc_engine.evaluate", "--checkpoints", *map(str, args)], env=engine_env(),
                          capture_output=True, text=True, timeout=600, cwd=str(REPO))


def assert_ok(result):
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]


def test_no_eval_run_saves_every_checkpoint_and_never_evaluates(make_config):
    config = make_config({"training": {"skip_evaluation": True, "max_steps": 6, "save_steps": 2}})
    out = Path(config["training"]["output_dir"])
    (out / ".checkpoint-99.tmp" / "deepspeed").mkdir(parents=True)  # stale leftover of a killed run
    result = run_train(config, out)
    assert_ok(result)
    events = read_events(out)
    check_event_stream(events)
    assert not (out / ".checkpoint-99.tmp").exists()
    assert complete_checkpoints(out) == ["checkpoint-2", "checkpoint-4", "checkpoint-6"]
    assert not [e for e in events if e["event"] == "eval"]
    end = events[-1]
    assert (end["status"], end["step"], end["exit_code"], end["eval_forward_passes"]) == ("completed", 6, 0, 0)
    assert end["best_checkpoint"] is None
    ckpt_events = [e for e in events if e["event"] == "checkpoint"]
    assert [(e["step"], e["is_final"], e["is_best"], e["metric"]) for e in ckpt_events] == [
        (2, False, False, None), (4, False, False, None), (6, True, False, None)]
    for name in complete_checkpoints(out):
        ckpt = out / name
        info = json.loads((ckpt / "training_info.json").read_text())
        assert (ckpt / "deepspeed" / "latest").read_text().strip() == f"global_step{info['step']}"
        assert (ckpt / "hf_model" / "model.safetensors").is_file()
        assert not (ckpt / "eval_results.json").exists()
        assert info["eval_metrics"] is None and info["is_best"] is False
        assert info["samples_seen"] == info["step"] * 8
        assert info["has_deepspeed_state"] and info["has_hf_model"] and not info["slim"]
        assert info["bytes"]["total"] >= info["bytes"]["deepspeed"] + info["bytes"]["hf_model"] > 0
        for key in ("epoch", "train_loss", "lr", "grad_norm", "metric_name", "wall_time_s", "world_size", "zero_stage",
                    "precision", "config_hash", "num_labels", "id2label", "versions", "created_at"):
            assert key in info
        assert info["world_size"] == 1 and info["zero_stage"] == 2 and info["precision"] == "fp32"
    assert json.loads((out / "checkpoint-6" / "training_info.json").read_text())["is_final"] is True
    assert not (out / "best_checkpoint.json").exists()
    assert not list(out.glob(".checkpoint-*"))
    counts = assert_run_files_valid(out)  # schema/events.schema.json
    assert (counts["events"], counts["training_info"], counts["eval_results"]) == (len(events), 3, 0)


def test_standard_run_tracks_best_and_evaluates_the_best_at_the_end(make_config, tmp_path):
    from qc_engine.data import ClassifierCollator, ImageClassificationDataset, read_jsonl
    from qc_engine.eval_records import eval_key_for, eval_set_sha256
    from qc_engine.eval_loop import evaluate, seeded_subset
    from qc_engine.model import load_hf_classifier, load_processing

    config = make_config({"training": {"max_steps": 6, "save_steps": 2, "eval_steps": 3}})
    out = Path(config["training"]["output_dir"])
    result = run_train(config, out)
    assert_ok(result)
    events = read_events(out)
    check_event_stream(events)
    # evaluation keys: "<split>:<sha16 of labels + image bytes>" (the scheme of qc_engine.evaluate)
    names = [str(i) for i in range(10)]
    val_samples = read_jsonl(config["data"]["val_jsonl"], names).samples
    full_key = eval_key_for(eval_set_sha256(val_samples))
    subset = seeded_subset(len(val_samples), 16, config["training"]["seed"])
    partial_key = eval_key_for(eval_set_sha256([val_samples[i] for i in subset]), "partial")
    assert full_key.startswith("full:") and partial_key.startswith("partial:") and full_key[5:] != partial_key[8:]
    partial = [e for e in events if e["event"] == "eval" and e["split"] == "partial"]
    assert all(e["eval_key"] == partial_key for e in partial)
    # eval_steps 3 -> step 3 and 6; saves at 2, 4, 6 need metrics of their own step -> 2 and 4 too
    assert [e["step"] for e in partial] == [2, 3, 4, 6]
    assert all(e["num_samples"] == 16 for e in partial)
    saves = [e for e in events if e["event"] == "checkpoint"]
    assert [e["step"] for e in saves] == [2, 4, 6]
    best_value, best_path = None, None
    for e in saves:
        value = e["metric"]
        assert value == next(p["metrics"]["accuracy"] for p in partial if p["step"] == e["step"])
        expect_best = best_value is None or value > best_value
        assert e["is_best"] == expect_best
        if expect_best:
            best_value, best_path = value, e["path"]
        info = json.loads((Path(e["path"]) / "training_info.json").read_text())
        assert info["is_best"] == e["is_best"] and info["eval_metrics"]["accuracy"] == value
        assert info["metric_name"] == "accuracy"
        results = json.loads((Path(e["path"]) / "eval_results.json").read_text())
        assert set(results) - {full_key} == {partial_key}  # full_key: the best one only (checked below)
        assert results[partial_key]["step"] == e["step"] and results[partial_key]["num_samples"] == 16
        assert results[partial_key]["split"] == "partial" and results[partial_key]["predictions"] is None
    assert json.loads((out / "best_checkpoint.json").read_text()) == {
        "path": best_path, "step": int(best_path.rsplit("-", 1)[1]), "metric": "accuracy", "value": best_value}
    full = [e for e in events if e["event"] == "eval" and e["split"] == "full"]
    assert [e["path"] for e in saves if full_key in json.loads((Path(e["path"]) / "eval_results.json").read_text())] \
        == [best_path]
    assert len(full) == 1 and full[0]["checkpoint"] == best_path and full[0]["num_samples"] == 24
    assert events[-1]["best_checkpoint"] == best_path and events[-1]["eval_forward_passes"] > 0
    assert full[0]["eval_key"] == full_key
    entry = json.loads((Path(best_path) / "eval_results.json").read_text())[full_key]
    assert entry["split"] == "full" and entry["num_samples"] == 24 and len(entry["data_sha256"]) == 64
    assert entry["data_sha256"].startswith(full_key[5:]) and entry["step"] == full[0]["step"]
    assert {k: entry["metrics"][k] for k in full[0]["metrics"]} == full[0]["metrics"]
    assert entry["preprocessing"] == {"prompt": config["data"]["prompt"], "image_min_pixels": 3136,
                                      "image_max_pixels": 3136}
    assert entry["predictions"] == "predictions.jsonl"
    train_predictions = [json.loads(line) for line in (Path(best_path) / "predictions.jsonl").read_text().splitlines()]
    assert [p["index"] for p in train_predictions] == list(range(24))
    assert all(p["eval_key"] == full_key for p in train_predictions)
    assert entry["metrics"]["accuracy"] == sum(p["correct"] for p in train_predictions) / 24

    # qc_engine.evaluate on the best checkpoint with the same set: recognised, skipped, same metrics
    results_file = Path(best_path) / "eval_results.json"
    results_before = results_file.read_bytes()
    skipped = run_evaluate_cli([best_path, "--data", config["data"]["val_jsonl"], "--resolved",
                                str(out / "resolved_config.json"), "--out-json", str(tmp_path / "skip.json")])
    assert skipped.returncode == 0, skipped.stderr[-3000:]
    summary = json.loads((tmp_path / "skip.json").read_text())
    assert summary["eval_key"] == full_key and summary["data_sha256"] == entry["data_sha256"]
    assert [r["status"] for r in summary["results"]] == ["skipped"]
    assert summary["results"][0]["metrics"] == entry["metrics"]
    assert results_file.read_bytes() == results_before
    # --force: evaluate.py's own evaluation agrees with the training's, field for field
    forced = run_evaluate_cli([best_path, "--data", config["data"]["val_jsonl"], "--resolved",
                               str(out / "resolved_config.json"), "--out-json", str(tmp_path / "force.json"), "--force"])
    assert forced.returncode == 0, forced.stderr[-3000:]
    again = json.loads((tmp_path / "force.json").read_text())["results"][0]
    assert again["status"] == "evaluated"
    for name in ("accuracy", "top5_accuracy", "macro_f1", "per_class", "confusion_matrix", "num_samples", "labels"):
        assert again["metrics"][name] == entry["metrics"][name], name
    assert again["metrics"]["loss"] == pytest.approx(entry["metrics"]["loss"], abs=1e-5)
    rewritten = json.loads(results_file.read_text())
    assert set(rewritten) == {full_key, partial_key} and set(rewritten[full_key]) == set(entry)
    forced_predictions = [json.loads(line) for line in (Path(best_path) / "predictions.jsonl").read_text().splitlines()]
    assert [p["prediction_id"] for p in forced_predictions] == [p["prediction_id"] for p in train_predictions]
    counts = assert_run_files_valid(out)  # schema/events.schema.json: events, checkpoint files, best_checkpoint.json
    assert counts["best_checkpoint"] == 1 and counts["eval_results"] >= 1 and counts["predictions"] >= 24
    for name in ("skip.json", "force.json"):
        assert_valid("EvaluateSummaryFile", json.loads((tmp_path / name).read_text()), name)

    # hf_model of the best checkpoint reproduces the engine's full evaluation (same logits -> same loss)
    tokenizer, image_processor = load_processing(Path(best_path) / "hf_model", 3136, 3136)
    val = ImageClassificationDataset(read_jsonl(config["data"]["val_jsonl"], names).samples)
    model = load_hf_classifier(Path(best_path) / "hf_model")
    metrics = evaluate(model, val, list(range(len(val))), ClassifierCollator(tokenizer, image_processor,
                       config["data"]["prompt"]), 8, torch.device("cpu"), names)
    assert metrics["accuracy"] == entry["metrics"]["accuracy"]
    assert metrics["loss"] == pytest.approx(entry["metrics"]["loss"], abs=1e-5)


def test_two_processes_give_the_same_loss_curve_as_one(make_config):
    """Global batch 8: 1 process x 8 vs 2 processes x 4 (gloo). Tolerance: 1e-4 absolute on each step's loss."""
    one = make_config({"training": {"skip_evaluation": True, "max_steps": 6, "save_steps": 100,
                                    "per_device_batch_size": 8}}, out_name="one")
    two = make_config({"training": {"skip_evaluation": True, "max_steps": 6, "save_steps": 100,
                                    "per_device_batch_size": 4}}, out_name="two")
    r1 = run_train(one, Path(one["training"]["output_dir"]), nproc=1)
    r2 = run_train(two, Path(two["training"]["output_dir"]), nproc=2)
    assert_ok(r1)
    assert_ok(r2)
    e1, e2 = read_events(Path(one["training"]["output_dir"])), read_events(Path(two["training"]["output_dir"]))
    assert e2[0]["world_size"] == 2 and e1[0]["global_batch_size"] == e2[0]["global_batch_size"] == 8
    l1, l2 = step_losses(e1), step_losses(e2)
    assert sorted(l1) == sorted(l2) == [1, 2, 3, 4, 5, 6]
    for step in l1:
        assert l2[step] == pytest.approx(l1[step], abs=1e-4), (step, l1[step], l2[step])
    print("max |loss(2 procs) - loss(1 proc)|:", max(abs(l1[s] - l2[s]) for s in l1))


def test_stop_file_saves_a_checkpoint_and_resume_matches_the_uninterrupted_run(make_config):
    base = {"training": {"skip_evaluation": True, "max_steps": 12, "save_steps": 100}}  # 8 steps an epoch
    straight = make_config(base, out_name="straight")
    assert_ok(run_train(straight, Path(straight["training"]["output_dir"])))
    reference = step_losses(read_events(Path(straight["training"]["output_dir"])))

    config = make_config(base, out_name="stopped")
    out = Path(config["training"]["output_dir"])
    out.mkdir(parents=True)
    (out / ".stop_requested").touch()
    stopped = run_engine_direct(config, out)
    assert stopped.returncode == 130, stopped.stderr[-3000:]
    events = read_events(out)
    check_event_stream(events)
    assert (events[-1]["status"], events[-1]["exit_code"], events[-1]["step"]) == ("interrupted", 130, 1)
    assert complete_checkpoints(out) == ["checkpoint-1"]
    assert not list(out.glob(".checkpoint-*"))
    (out / ".stop_requested").unlink()

    resumed = run_train(config, out, extra=["--resume", "auto"])
    assert_ok(resumed)
    events = read_events(out)
    starts = [e for e in events if e["event"] == "start"]
    assert starts[-1]["resumed_from_step"] == 1
    after = step_losses(events[events.index(starts[-1]):])
    assert sorted(after) == list(range(2, 13))
    for step, loss in after.items():
        assert loss == pytest.approx(reference[step], abs=1e-6), (step, loss, reference[step])
    from safetensors.torch import load_file

    a = load_file(str(Path(straight["training"]["output_dir"]) / "checkpoint-12" / "hf_model" / "model.safetensors"))
    b = load_file(str(out / "checkpoint-12" / "hf_model" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_crash_during_save_leaves_no_checkpoint_looking_complete(make_config):
    config = make_config({"training": {"skip_evaluation": True, "max_steps": 4, "save_steps": 2}})
    out = Path(config["training"]["output_dir"])
    result = run_engine_direct(config, out, env_extra={"QC_TEST_CRASH_IN_SAVE": "4"})
    assert result.returncode == 1
    events = read_events(out)
    assert events[-2]["event"] == "error" and "simulated crash" in events[-2]["message"]
    assert (events[-1]["status"], events[-1]["exit_code"]) == ("failed", 1)
    assert complete_checkpoints(out) == ["checkpoint-2"]
    assert not (out / "checkpoint-4").exists()
    assert (out / ".checkpoint-4.tmp").is_dir() and not (out / ".checkpoint-4.tmp" / "training_info.json").exists()
    # resume: the stale .tmp is removed, training continues from checkpoint-2
    resumed = run_train(config, out, extra=["--resume", "auto"])
    assert_ok(resumed)
    assert complete_checkpoints(out) == ["checkpoint-2", "checkpoint-4"]
    assert not list(out.glob(".checkpoint-*"))


def test_zero3_two_processes_save_full_weights(make_config):
    from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint

    from qc_engine.model import load_hf_classifier

    config = make_config({"training": {"skip_evaluation": True, "max_steps": 2, "save_steps": 2,
                                       "per_device_batch_size": 4}, "deepspeed": {"zero_stage": 3}})
    out = Path(config["training"]["output_dir"])
    assert_ok(run_train(config, out, nproc=2))
    # same start as ZeRO-2: the backbone loaded inside zero.Init has the pretrained weights and the same head
    zero2 = make_config({"training": {"skip_evaluation": True, "max_steps": 2, "save_steps": 2,
                                      "per_device_batch_size": 4}}, out_name="zero2")
    assert_ok(run_train(zero2, Path(zero2["training"]["output_dir"]), nproc=2))
    l3, l2 = step_losses(read_events(out)), step_losses(read_events(Path(zero2["training"]["output_dir"])))
    assert l3[1] == pytest.approx(l2[1], abs=1e-5), (l3, l2)
    assert l3[2] == pytest.approx(l2[2], abs=1e-4), (l3, l2)
    ckpt = out / "checkpoint-2"
    info = json.loads((ckpt / "training_info.json").read_text())
    assert info["zero_stage"] == 3 and info["world_size"] == 2
    reference = get_fp32_state_dict_from_zero_checkpoint(str(ckpt / "deepspeed"), tag="global_step2")
    model = load_hf_classifier(ckpt / "hf_model")
    state = model.state_dict()
    assert set(state) == set(reference)
    for key, value in reference.items():
        assert torch.equal(state[key], value.float()), key


def test_wandb_offline_logs_scalars_and_never_writes_the_key(make_config):
    import os
    import subprocess

    from helpers import engine_env, torchrun_argv, write_run_files

    config = make_config({"training": {"skip_evaluation": True, "max_steps": 2, "save_steps": 2},
                          "wandb": {"enabled": True, "mode": "offline"}})
    out = Path(config["training"]["output_dir"])
    resolved, ds = write_run_files(config, out)
    env = engine_env()
    secret = "wandb-secret-value-1234567890"
    env["WANDB_API_KEY"] = secret
    result = subprocess.run(torchrun_argv(1, resolved, ds), env=env, capture_output=True, text=True, timeout=600)
    assert_ok(result)
    runs = list((out / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))
    for root, _, files in os.walk(out):
        for name in files:
            assert secret.encode() not in (Path(root) / name).read_bytes(), Path(root) / name
    assert secret not in result.stdout + result.stderr


def test_sigterm_finishes_the_step_saves_and_exits_143(make_config):
    import os
    import signal
    import subprocess
    import time

    from helpers import PYTHON, REPO, engine_env, free_port, write_run_files

    config = make_config({"training": {"skip_evaluation": True, "max_steps": 400, "save_steps": 1000}})
    out = Path(config["training"]["output_dir"])
    resolved, ds = write_run_files(config, out)
    env = engine_env()
    env.update({"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
                "MASTER_PORT": str(free_port())})
    proc = subprocess.Popen([PYTHON, "-m", "qc_engine.train", "--resolved", str(resolved), "--ds-config", str(ds)],
                            env=env, cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None:
            if (out / "logs" / "events.jsonl").exists() and any(e["event"] == "step" for e in read_events(out)):
                break
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, stderr[-3000:]  # SIGTERM (preemption): distinct from 130 (Ctrl-C, stop file)
    events = read_events(out)
    end = events[-1]
    assert (end["status"], end["exit_code"]) == ("interrupted", 143) and 1 <= end["step"] < 400
    assert complete_checkpoints(out) == [f"checkpoint-{end['step']}"]
    assert not list(out.glob(".checkpoint-*"))
