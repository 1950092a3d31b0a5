"""LoRA training end to end (torchrun + DeepSpeed on the CPU, tiny model): what is saved, merged == unmerged, resume."""

import json
from pathlib import Path

import pytest
import torch

from helpers import check_event_stream, read_events, run_engine_direct, run_train, step_losses
from schema_check import assert_run_files_valid

pytestmark = pytest.mark.slow

LORA = {"enabled": True, "r": 4, "alpha": 8, "dropout": 0.0}
CLASSES = [str(i) for i in range(10)]


def run_export(args: list[str]):
    import subprocess

    from helpers import PYTHON, REPO, engine_env

    return subprocess.run([PYTHON, "-m", "qc_engine.export", "--json", *map(str, args)], env=engine_env(),
                          capture_output=True, text=True, timeout=600, cwd=str(REPO))


def assert_ok(result):
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]


def lora_config(make_config, out_name, **training):
    return make_config({"model": {"lora": LORA},
                       "training": {"skip_evaluation": True, "max_steps": 8, "save_steps": 4, "lr": 1e-2,
                                    **training}}, out_name=out_name)


def test_lora_run_saves_adapter_and_merged_model_and_resume_matches(make_config, tiny_model_dir):
    from peft import PeftModel
    from safetensors.torch import load_file

    from qc_engine.model import build_classifier, load_hf_classifier

    straight = lora_config(make_config, "straight")
    out = Path(straight["training"]["output_dir"])
    assert_ok(run_train(straight, out))
    events = read_events(out)
    check_event_stream(events)
    losses = step_losses(events)
    assert sorted(losses) == list(range(1, 9))
    assert sum(losses[s] for s in (7, 8)) < sum(losses[s] for s in (1, 2)), losses  # the loss falls
    assert_run_files_valid(out)  # training_info.json's lora block and bytes.adapter follow the schema

    ckpt = out / "checkpoint-8"
    info = json.loads((ckpt / "training_info.json").read_text())
    assert info["lora"] == {"r": 4, "alpha": 8.0, "dropout": 0.0, "target_modules": LORA_TARGETS,
                            "vision_tower": "frozen", "adapter_dir": "adapter", "hf_model": "merged",
                            "base_model": str(tiny_model_dir), "base_revision": None}
    assert info["has_hf_model"] and info["bytes"]["adapter"] > 0
    adapter = load_file(str(ckpt / "adapter" / "adapter_model.safetensors"))
    assert adapter and all(".lora_" in k or ".score." in k for k in adapter), sorted(adapter)[:5]
    # deepspeed/ holds no frozen base weight: only adapters and the head (+ their optimizer state)
    module_state = torch.load(ckpt / "deepspeed" / "global_step8" / "mp_rank_00_model_states.pt",
                              weights_only=False)["module"]
    assert module_state and all(".lora_" in k or "score.modules_to_save" in k for k in module_state), \
        sorted(module_state)[:5]

    # merged hf_model/ loads like a full fine-tune and gives the adapter-on-base logits (fp32, 1e-5)
    ids = torch.randint(0, 20, (2, 12), generator=torch.Generator().manual_seed(0))
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    merged = load_hf_classifier(ckpt / "hf_model").eval()
    unmerged = PeftModel.from_pretrained(build_classifier(tiny_model_dir, CLASSES, seed=3), str(ckpt / "adapter")).eval()
    with torch.no_grad():
        torch.testing.assert_close(merged(**batch).logits, unmerged(**batch).logits, atol=1e-5, rtol=1e-4)

    # a full fine-tune's checkpoint of the same step, for the byte fraction
    full = make_config({"training": {"skip_evaluation": True, "max_steps": 4, "save_steps": 4}}, out_name="full")
    assert_ok(run_train(full, Path(full["training"]["output_dir"])))
    full_bytes = json.loads((Path(full["training"]["output_dir"]) / "checkpoint-4" / "training_info.json")
                            .read_text())["bytes"]["total"]
    merged_state = load_file(str(ckpt / "hf_model" / "model.safetensors"))
    full_state = load_file(str(Path(full["training"]["output_dir"]) / "checkpoint-4" / "hf_model" / "model.safetensors"))
    assert {k: v.shape for k, v in merged_state.items()} == {k: v.shape for k, v in full_state.items()}  # same layout
    lora_bytes = json.loads((out / "checkpoint-4" / "training_info.json").read_text())["bytes"]["total"]
    # full: fp32 weights in deepspeed/ + Adam's 2 moments + fp32 partition + hf_model/ (~20 B/param);
    # LoRA: merged hf_model/ (4 B/param) + the small adapter parts: at most 35% (measured figure printed)
    print(f"LoRA checkpoint {lora_bytes} bytes = {lora_bytes / full_bytes:.3f} of the full fine-tune's {full_bytes}")
    assert lora_bytes < 0.35 * full_bytes
    refused = run_export(["--checkpoint", Path(full["training"]["output_dir"]) / "checkpoint-4", "--merge"])
    assert refused.returncode == 2 and "is not a LoRA checkpoint" in refused.stdout, refused.stdout + refused.stderr

    # stop after step 1, resume: the same losses and the same final adapter as the uninterrupted run
    config = lora_config(make_config, "stopped")
    stopped_out = Path(config["training"]["output_dir"])
    stopped_out.mkdir(parents=True)
    (stopped_out / ".stop_requested").touch()
    assert run_engine_direct(config, stopped_out).returncode == 130
    (stopped_out / ".stop_requested").unlink()
    assert_ok(run_train(config, stopped_out, extra=["--resume", "auto"]))
    events = read_events(stopped_out)
    starts = [e for e in events if e["event"] == "start"]
    assert starts[-1]["resumed_from_step"] == 1
    after = step_losses(events[events.index(starts[-1]):])
    assert sorted(after) == list(range(2, 9))
    for step, loss in after.items():
        assert loss == pytest.approx(losses[step], abs=1e-6), (step, loss, losses[step])
    resumed = load_file(str(stopped_out / "checkpoint-8" / "adapter" / "adapter_model.safetensors"))
    assert resumed.keys() == adapter.keys() and all(torch.allclose(resumed[k], adapter[k], atol=1e-6) for k in adapter)


LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def test_lora_zero3_merged_and_zero0_adapter_only(make_config, tiny_model_dir):
    """ZeRO-3 over 2 processes: the merged hf_model/ from gathered weights equals adapter-on-base;
    hf_format: adapter (ZeRO-0, gradient checkpointing) writes adapter/ alone; export --merge makes hf_model/."""
    from peft import PeftModel

    from qc_engine.model import build_classifier, load_hf_classifier

    config = lora_config(make_config, "zero3", max_steps=2, save_steps=2, per_device_batch_size=4)
    config["deepspeed"]["zero_stage"] = 3
    out = Path(config["training"]["output_dir"])
    assert_ok(run_train(config, out, nproc=2))
    ckpt = out / "checkpoint-2"
    info = json.loads((ckpt / "training_info.json").read_text())
    assert info["zero_stage"] == 3 and info["world_size"] == 2 and info["lora"]["hf_model"] == "merged"
    ids = torch.randint(0, 20, (2, 12), generator=torch.Generator().manual_seed(0))
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    unmerged = PeftModel.from_pretrained(build_classifier(tiny_model_dir, CLASSES, seed=3), str(ckpt / "adapter")).eval()
    with torch.no_grad():
        torch.testing.assert_close(load_hf_classifier(ckpt / "hf_model").eval()(**batch).logits,
                                   unmerged(**batch).logits, atol=1e-5, rtol=1e-4)
        assert (unmerged(**batch).logits - build_classifier(tiny_model_dir, CLASSES, seed=3)(**batch).logits
                ).abs().max() > 1e-4  # training changed the adapters or the head

    config = lora_config(make_config, "adapter_only", max_steps=2, save_steps=1, checkpoint={"hf_format": "adapter"},
                         gradient_checkpointing=True)
    config["deepspeed"]["zero_stage"] = 0
    out = Path(config["training"]["output_dir"])
    assert_ok(run_train(config, out))
    ckpt = out / "checkpoint-2"
    info = json.loads((ckpt / "training_info.json").read_text())
    assert not info["has_hf_model"] and info["lora"]["hf_model"] == "absent" and not (ckpt / "hf_model").exists()
    assert (ckpt / "adapter" / "adapter_model.safetensors").is_file()
    assert info["bytes"]["hf_model"] == 0 and 0 < info["bytes"]["adapter"] < info["bytes"]["total"]

    # evaluate (a sweep: the base read once, checkpoint-2's adapter swapped in after checkpoint-1's) and predict
    # straight from adapter/, before anything is exported
    data = Path(config["data"]["val_jsonl"])
    sweep = evaluate_in_process([out / "checkpoint-1", ckpt], data, out / "resolved_config.json", out / "sweep.json")
    assert [r["source"] for r in sweep["results"]] == ["adapter", "adapter"], sweep["results"]
    key = sweep["eval_key"]
    adapter_probs = {n: prediction_probs(out / f"checkpoint-{n}", key) for n in (1, 2)}
    assert max(abs(a - b) for a, b in zip(adapter_probs[1], adapter_probs[2])) > 1e-4  # two different adapters
    predicted_adapter = predict_in_process(ckpt, data, out / "adapter_predictions.jsonl")
    assert predicted_adapter["source"] == "adapter"

    # export --merge makes the merged hf_model/ afterwards: adapter-on-base logits, training_info updated
    assert_ok(run_export(["--checkpoint", ckpt, "--merge"]))
    info = json.loads((ckpt / "training_info.json").read_text())
    assert info["has_hf_model"] and info["lora"]["hf_model"] == "merged"
    unmerged = PeftModel.from_pretrained(build_classifier(tiny_model_dir, CLASSES, seed=3), str(ckpt / "adapter")).eval()
    with torch.no_grad():
        torch.testing.assert_close(load_hf_classifier(ckpt / "hf_model").eval()(**batch).logits,
                                   unmerged(**batch).logits, atol=1e-5, rtol=1e-4)

    # the merged hf_model/ of the same step: the same metrics and predictions (fp32: the adapter applied on the
    # fly vs folded into the weights differ by float rounding only; tolerance 1e-5 on every probability and loss)
    merged = evaluate_in_process([ckpt], data, out / "resolved_config.json", out / "merged.json", "--force")
    assert merged["results"][0]["source"] == "hf_model"
    adapter_metrics, merged_metrics = sweep["results"][1]["metrics"], merged["results"][0]["metrics"]
    assert merged_metrics["accuracy"] == adapter_metrics["accuracy"]
    assert merged_metrics["confusion_matrix"] == adapter_metrics["confusion_matrix"]
    assert merged_metrics["loss"] == pytest.approx(adapter_metrics["loss"], abs=1e-5)
    assert prediction_probs(ckpt, key) == pytest.approx(adapter_probs[2], abs=1e-5)
    predicted_merged = predict_in_process(ckpt, data, out / "merged_predictions.jsonl")
    assert predicted_merged["source"] == "checkpoint" and predicted_merged["accuracy"] == predicted_adapter["accuracy"]
    lines = {name: [json.loads(line) for line in (out / name).read_text().splitlines()]
             for name in ("adapter_predictions.jsonl", "merged_predictions.jsonl")}
    assert [r["prediction"] for r in lines["adapter_predictions.jsonl"]] == \
        [r["prediction"] for r in lines["merged_predictions.jsonl"]]
    assert [r["probability"] for r in lines["adapter_predictions.jsonl"]] == \
        pytest.approx([r["probability"] for r in lines["merged_predictions.jsonl"]], abs=1e-5)


def evaluate_in_process(checkpoints, data, resolved, out_json, *extra) -> dict:
    """qc_engine.evaluate's run() in this process (its CLI leaves through os._exit): no second interpreter start."""
    from qc_engine import evaluate as ev

    ev.run(ev.parse_args(["--checkpoints", *map(str, checkpoints), "--data", str(data), "--resolved", str(resolved),
                          "--out-json", str(out_json), *extra]))
    return json.loads(Path(out_json).read_text())


def prediction_probs(ckpt: Path, key: str) -> list[float]:
    lines = [json.loads(line) for line in (ckpt / "predictions.jsonl").read_text().splitlines()]
    return [p for line in sorted((x for x in lines if x["eval_key"] == key), key=lambda x: x["index"])
            for p in (line["probability"], line["label_probability"])]


def predict_in_process(ckpt: Path, images: Path, out: Path) -> dict:
    """qc_engine.predict's run() in this process; its summary event (stdout) returned."""
    import contextlib
    import io

    from qc_engine import predict as pr

    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        pr.run(pr.parse_args(["--checkpoint", str(ckpt), "--images", str(images), "--out", str(out)]))
    events = [json.loads(line) for line in stdout.getvalue().splitlines() if line.startswith("{")]
    return next(e for e in events if e["event"] == "summary")
