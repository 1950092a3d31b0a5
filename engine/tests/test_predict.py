"""qc_engine.predict on a real (tiny, untrained-head) checkpoint: the same predictions as qc_engine.evaluate,
JSONL/CSV output, bad images, where the preprocessing is read from.

The checkpoint is built without training (build_classifier + save_hf_model + training_info.json +
the run's resolved_config.json): the head is random but seeded, which is all a comparison needs.
Also usable as a script by the TypeScript tests:
    python engine/tests/test_predict.py --build DIR   # prints {"run", "checkpoint", "val_data", ...}
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from helpers import PYTHON, REPO, deep_merge, engine_env, schema_defaults, write_run_files  # noqa: E402

PROMPT = "What is shown in this image?"


def build_checkpoint(root: Path, eval_samples: int = 30) -> dict:
    """tiny model + digits + OUT/checkpoint-1/{hf_model, training_info.json} + OUT/resolved_config.json."""
    from qc_engine.demo_assets import build_digits_dataset
    from qc_engine.model import build_classifier, load_processing, save_hf_model
    from qc_engine.tiny import build_tiny_model

    root.mkdir(parents=True, exist_ok=True)
    model_dir, data, run = root / "model", root / "data", root / "run"
    if not model_dir.exists():
        build_tiny_model(model_dir, seed=0)
    if not (data / "val.jsonl").exists():
        build_digits_dataset(data / "train.jsonl", data / "val.jsonl", seed=0)
    subset = data / f"val{eval_samples}.jsonl"
    subset.write_text("".join(line + "\n" for line in (data / "val.jsonl").read_text().splitlines()[:eval_samples]))
    names = [str(i) for i in range(10)]
    config = deep_merge(schema_defaults(), {
        "model": {"pretrained_name": str(model_dir), "num_labels": 10},
        "data": {"train_jsonl": str(data / "train.jsonl"), "val_jsonl": str(subset), "prompt": PROMPT,
                 "image_min_pixels": 3136, "image_max_pixels": 3136, "num_workers": 0},
        "training": {"output_dir": str(run), "precision": "fp32", "evaluation": {"batch_size": 4}},
        "wandb": {"enabled": False},
    })
    ckpt = run / "checkpoint-1"
    if not (ckpt / "training_info.json").exists():
        write_run_files(config, run)
        model = build_classifier(model_dir, names, seed=0)
        tokenizer, image_processor = load_processing(model_dir, 3136, 3136)
        save_hf_model(ckpt / "hf_model", model, tokenizer, image_processor, source_dir=model_dir)
        info = {"step": 1, "num_labels": 10, "id2label": {str(i): n for i, n in enumerate(names)},
                "has_deepspeed_state": False, "has_hf_model": True, "slim": True, "precision": "fp32"}
        (ckpt / "training_info.json").write_text(json.dumps(info))
    return {"root": str(root), "run": str(run), "checkpoint": str(ckpt), "val_data": str(subset),
            "images": str(data / "images")}


def run_predict(*args, nproc: int = 1) -> subprocess.CompletedProcess:
    launcher = ([PYTHON, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"]
                if nproc > 1 else [PYTHON])
    return subprocess.run([*launcher, "-m", "qc_engine.predict", *map(str, args)], env=engine_env(),
                          capture_output=True, text=True, timeout=600, cwd=str(REPO))


def summary_of(result: subprocess.CompletedProcess) -> dict:
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return next(e for e in events if e["event"] == "summary")


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--build":
    print(json.dumps(build_checkpoint(Path(sys.argv[2]))))
    sys.exit(0)

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_checkpoint(tmp_path_factory.mktemp("predict"))


@pytest.mark.slow  # two engine processes; test/cli_predict.test.ts checks the accuracy through the CLIs too
def test_same_predictions_and_accuracy_as_evaluate(built, tmp_path):
    out = tmp_path / "preds.jsonl"
    result = run_predict("--checkpoint", built["checkpoint"], "--images", built["val_data"], "--out", out,
                         "--batch-size", 3, "--top-k", 3)
    assert result.returncode == 0, result.stderr[-3000:]
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 30 and all(len(r["top_k"]) == 3 for r in records)
    assert all(r["top_k"][0]["label"] == r["prediction"] for r in records)
    summary = summary_of(result)
    assert summary["preprocessing"] == {"prompt": PROMPT, "image_min_pixels": 3136, "image_max_pixels": 3136,
                                        "from": str(Path(built["run"]) / "resolved_config.json")}
    evaluated = subprocess.run(
        [PYTHON, "-m", "qc_engine.evaluate", "--checkpoints", built["checkpoint"], "--data", built["val_data"],
         "--resolved", str(Path(built["run"]) / "resolved_config.json"), "--out-json", str(tmp_path / "e.json"),
         "--batch-size", "4", "--force"], env=engine_env(), capture_output=True, text=True, timeout=600, cwd=str(REPO))
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    accuracy = json.loads((tmp_path / "e.json").read_text())["results"][0]["metrics"]["accuracy"]
    assert summary["accuracy"] == pytest.approx(accuracy, abs=1e-12)
    lines = [json.loads(line) for line in (Path(built["checkpoint"]) / "predictions.jsonl").read_text().splitlines()]
    assert [r["prediction"] for r in records] == [p["prediction"] for p in lines]
    assert [r["probability"] for r in records] == pytest.approx([p["probability"] for p in lines], abs=1e-5)


def test_csv_folder_and_bad_images(built, tmp_path):
    images = tmp_path / "imgs"
    images.mkdir()
    for src in sorted(Path(built["images"]).glob("*.png"))[:4]:
        shutil.copy(src, images / src.name)
    (images / "zz_broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    out = tmp_path / "p.csv"
    bad = run_predict("--checkpoint", Path(built["checkpoint"]) / "hf_model", "--images", images, "--out", out)
    assert bad.returncode == 2
    assert f"image {images / 'zz_broken.png'} cannot be decoded" in bad.stderr and "--on-bad-image skip" in bad.stderr
    assert not out.exists() and not list(tmp_path.glob(".p.csv*"))
    ok = run_predict("--checkpoint", Path(built["checkpoint"]) / "hf_model", "--images", images, "--out", out,
                     "--on-bad-image", "skip", "--top-k", 2)
    assert ok.returncode == 0, ok.stderr[-3000:]
    rows = list(csv.DictReader(out.open()))
    assert [Path(r["image"]).name for r in rows] == sorted(p.name for p in images.glob("*.png"))[:4]
    assert list(rows[0]) == ["image", "prediction", "probability", "top_k"]
    assert all(len(r["top_k"].split(";")) == 2 and r["top_k"].startswith(r["prediction"] + ":") for r in rows)
    summary = summary_of(ok)
    assert summary["num_images"] == 4 and [s["image"] for s in summary["skipped"]] == [str(images / "zz_broken.png")]
    assert summary["accuracy"] is None


def test_preprocessing_is_read_not_guessed(built, tmp_path):
    """A standalone hf_model/ (no run folder): eval_results.json beside it, else exit 2."""
    alone = tmp_path / "alone" / "hf_model"
    shutil.copytree(Path(built["checkpoint"]) / "hf_model", alone)
    first = json.loads(Path(built["val_data"]).read_text().splitlines()[0])
    image = str(Path(built["val_data"]).parent / first["image"])
    missing = run_predict("--checkpoint", alone, "--images", image, "--out", tmp_path / "x.jsonl")
    assert missing.returncode == 2 and "the prompt this model was trained with is not recorded" in missing.stderr
    assert not (tmp_path / "x.jsonl").exists()
    recorded = {"prompt": "Which digit?", "image_min_pixels": 3136, "image_max_pixels": 3136}
    (alone.parent / "eval_results.json").write_text(json.dumps({"full:0123": {"preprocessing": recorded}}))
    ok = run_predict("--checkpoint", alone, "--images", image, "--out", tmp_path / "x.jsonl")
    assert ok.returncode == 0, ok.stderr[-3000:]
    assert summary_of(ok)["preprocessing"] == {**recorded, "from": str(alone.parent / "eval_results.json")}


def test_bad_arguments_exit_2(built, tmp_path):
    r = run_predict("--checkpoint", tmp_path / "nope", "--images", built["val_data"], "--out", tmp_path / "p.jsonl")
    assert r.returncode == 2 and "no such folder" in r.stderr
    r = run_predict("--checkpoint", built["checkpoint"], "--images", built["val_data"], "--out", tmp_path / "p.txt")
    assert r.returncode == 2 and "must end in .jsonl or .csv" in r.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"image": "a.png", "label": "eleven"}) + "\n")
    r = run_predict("--checkpoint", built["checkpoint"], "--images", bad, "--out", tmp_path / "p.jsonl")
    assert r.returncode == 2 and f"{bad}:1: label 'eleven' is not one of the model's 10 classes" in r.stderr
    deferred = tmp_path / "run" / "checkpoint-1"
    deferred.mkdir(parents=True)
    shutil.copy(Path(built["checkpoint"]) / "training_info.json", deferred / "training_info.json")
    r = run_predict("--checkpoint", deferred, "--images", built["val_data"], "--out", tmp_path / "p.jsonl")
    assert r.returncode == 2 and f"export it first: bun run tasks/export.ts --checkpoint {deferred}" in r.stderr
    assert not (tmp_path / "p.jsonl").exists()
