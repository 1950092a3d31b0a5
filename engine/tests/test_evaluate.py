"""qc_engine.evaluate on real tiny checkpoints (a short DeepSpeed run on the CPU).

The session fixture trains a tiny Qwen2.5-VL on scikit-learn digits for a few steps and saves
5 checkpoints; the tests evaluate them on an odd-sized subset of the validation set.

Also usable as a script by the TypeScript tests and the benchmark:
    python engine/tests/test_evaluate.py --build DIR   # prints {"run": ..., "eval_data": ...}
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from helpers import PYTHON, REPO, apply_skip_evaluation, deep_merge, engine_env, run_train, schema_defaults  # noqa: E402

EVAL_SAMPLES = 45  # odd: 2 ranks x batch 4 does not divide it
BATCH = 4


# ==================================================================== building a run

def build_run(root: Path, steps: int = 30, save_steps: int = 6, eval_samples: int = EVAL_SAMPLES) -> dict:
    """Tiny model + digits + a skip-evaluation training run with steps/save_steps checkpoints."""
    from qc_engine.demo_assets import build_digits_dataset
    from qc_engine.tiny import build_tiny_model

    root.mkdir(parents=True, exist_ok=True)
    model, data = root / "model", root / "data"
    if not model.exists():
        build_tiny_model(model, seed=0)
    if not (data / "train.jsonl").exists():
        build_digits_dataset(data / "train.jsonl", data / "val.jsonl", seed=0)
    eval_data = data / f"eval{eval_samples}.jsonl"
    lines = (data / "val.jsonl").read_text().splitlines()[:eval_samples]
    eval_data.write_text("".join(line + "\n" for line in lines))
    config = apply_skip_evaluation(deep_merge(schema_defaults(), {
        "model": {"pretrained_name": str(model), "num_labels": 10},
        "data": {"train_jsonl": str(data / "train.jsonl"), "val_jsonl": str(data / "val.jsonl"),
                 "image_min_pixels": 3136, "image_max_pixels": 3136, "num_workers": 0},
        "training": {"output_dir": str(root / "run"), "max_steps": steps, "save_steps": save_steps,
                     "per_device_batch_size": 16, "lr": 3e-3, "warmup_steps": 0, "lr_scheduler": "constant",
                     "skip_evaluation": True, "precision": "fp32", "logging_steps": save_steps,
                     "evaluation": {"batch_size": BATCH}},
        "deepspeed": {"zero_stage": 2},
        "wandb": {"enabled": False},
    }))
    run = root / "run"
    if not (run / f"checkpoint-{steps}" / "training_info.json").exists():
        result = run_train(config, run, nproc=1)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return {"root": str(root), "run": str(run), "eval_data": str(eval_data), "model": str(model),
            "val_data": str(data / "val.jsonl"),
            "checkpoints": [str(run / f"checkpoint-{s}") for s in range(save_steps, steps + 1, save_steps)]}


def run_evaluate(checkpoints, data, resolved, out_json, *extra, nproc: int = 1) -> subprocess.CompletedProcess:
    launcher = ([PYTHON, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"]
                if nproc > 1 else [PYTHON])
    argv = [*launcher, "-m", "qc_engine.evaluate", "--checkpoints", *map(str, checkpoints), "--data", str(data),
            "--resolved", str(resolved), "--out-json", str(out_json), "--batch-size", str(BATCH), *extra]
    return subprocess.run(argv, env=engine_env(), capture_output=True, text=True, timeout=600, cwd=str(REPO))


def events_of(result: subprocess.CompletedProcess) -> list[dict]:
    """The protocol lines of stdout, each validated against schema/events.schema.json (EvalEngineEvent)."""
    from schema_check import assert_valid

    out = []
    for line in result.stdout.splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    for event in out:
        assert_valid("EvalEngineEvent", event, "evaluate stdout")
    return out


def tree_snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in sorted(root.rglob("*")) if p.is_file()}


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--build":
    print(json.dumps(build_run(Path(sys.argv[2]))))
    sys.exit(0)

# ==================================================================== fixtures

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    return build_run(tmp_path_factory.mktemp("eval-run"))


@pytest.fixture(scope="session")
def swept(trained, tmp_path_factory):
    """One sweep over every checkpoint (1 rank): the reference for the other tests."""
    out_json = tmp_path_factory.mktemp("sweep") / "summary.json"
    result = run_evaluate(trained["checkpoints"], trained["eval_data"], Path(trained["run"]) / "resolved_config.json",
                          out_json)
    assert result.returncode == 0, result.stderr[-4000:]
    return {"result": result, "summary": json.loads(out_json.read_text()), "events": events_of(result)}


def metrics_by_step(summary: dict) -> dict:
    return {r["step"]: r["metrics"] for r in summary["results"]}


def read_predictions(ckpt: Path, key: str) -> list[dict]:
    lines = [json.loads(line) for line in (ckpt / "predictions.jsonl").read_text().splitlines()]
    return [p for p in lines if p["eval_key"] == key]


# ==================================================================== the sweep

def test_sweep_events_and_files(trained, swept):
    summary, events = swept["summary"], swept["events"]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "plan" and kinds[-1] == "summary"
    assert kinds.count("checkpoint_done") == 5 and "preprocess" in kinds and "progress" in kinds
    plan = events[0]
    assert plan["num_samples"] == EVAL_SAMPLES and plan["num_batches"] == math.ceil(EVAL_SAMPLES / BATCH)
    assert [c["action"] for c in plan["checkpoints"]] == ["evaluate"] * 5
    assert summary["eval_key"] == f"full:{summary['data_sha256'][:16]}"
    assert [r["step"] for r in summary["results"]] == [6, 12, 18, 24, 30]
    for ckpt in map(Path, trained["checkpoints"]):
        entry = json.loads((ckpt / "eval_results.json").read_text())[summary["eval_key"]]
        assert entry["split"] == "full" and entry["num_samples"] == EVAL_SAMPLES
        assert entry["data_sha256"] == summary["data_sha256"] and entry["step"] == int(ckpt.name.split("-")[1])
        assert set(entry["metrics"]) >= {"accuracy", "top5_accuracy", "macro_f1", "loss", "per_class", "confusion_matrix"}
        assert len(read_predictions(ckpt, summary["eval_key"])) == EVAL_SAMPLES
    # training moved the weights: the checkpoints do not all score the same
    losses = {round(m["loss"], 6) for m in metrics_by_step(summary).values()}
    assert len(losses) == 5
    # schema/events.schema.json: the --out-json file and every file of the run (events were checked by events_of)
    from schema_check import assert_run_files_valid, assert_valid

    assert_valid("EvaluateSummaryFile", summary, "--out-json")
    assert {k: v for k, v in events[-1].items() if k not in ("event", "time")} == summary
    counts = assert_run_files_valid(Path(trained["run"]))
    assert counts["eval_results"] == 5 and counts["predictions"] >= 5 * EVAL_SAMPLES


def test_metrics_match_scikit_learn_on_saved_predictions(trained, swept):
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    key = swept["summary"]["eval_key"]
    expected_labels = [json.loads(line)["label"] for line in Path(trained["eval_data"]).read_text().splitlines()]
    for ckpt, result in zip(map(Path, trained["checkpoints"]), swept["summary"]["results"]):
        preds = sorted(read_predictions(ckpt, key), key=lambda p: p["index"])
        assert [p["index"] for p in preds] == list(range(EVAL_SAMPLES))
        y_true = [p["label_id"] for p in preds]
        y_pred = [p["prediction_id"] for p in preds]
        assert y_true == expected_labels  # in file order, nothing dropped or doubled
        m = result["metrics"]
        assert m["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred), abs=1e-12)
        assert m["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro", zero_division=0), abs=1e-12)
        p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=list(range(10)), zero_division=0)
        for i in range(10):
            c = m["per_class"][str(i)]
            assert (c["precision"], c["recall"], c["f1"], c["support"]) == pytest.approx((p[i], r[i], f[i], s[i]), abs=1e-12)
        assert m["confusion_matrix"] == confusion_matrix(y_true, y_pred, labels=list(range(10))).tolist()
        assert m["top5_accuracy"] == pytest.approx(np.mean([p["label_id"] in p["top5"] for p in preds]), abs=1e-12)
        assert m["loss"] == pytest.approx(float(np.mean([-math.log(p["label_probability"]) for p in preds])), rel=1e-9)
        assert all(p["probability"] == pytest.approx(p["top5_probability"][0]) for p in preds)


def test_rerun_skips_evaluated_checkpoints_and_force_reevaluates(trained, swept, tmp_path):
    run = Path(trained["run"])
    before = tree_snapshot(run)
    result = run_evaluate(trained["checkpoints"], trained["eval_data"], run / "resolved_config.json", tmp_path / "s.json")
    assert result.returncode == 0, result.stderr[-3000:]
    kinds = [e["event"] for e in events_of(result)]
    assert kinds.count("skip") == 5 and "checkpoint_done" not in kinds and "preprocess" not in kinds
    summary = json.loads((tmp_path / "s.json").read_text())
    assert [r["status"] for r in summary["results"]] == ["skipped"] * 5
    assert metrics_by_step(summary) == metrics_by_step(swept["summary"])  # read back from eval_results.json
    assert tree_snapshot(run) == before  # nothing rewritten

    last = Path(trained["checkpoints"][-1])
    result = run_evaluate([last], trained["eval_data"], run / "resolved_config.json", tmp_path / "f.json", "--force")
    assert result.returncode == 0, result.stderr[-3000:]
    forced = json.loads((tmp_path / "f.json").read_text())["results"][0]
    assert forced["status"] == "evaluated"
    assert forced["metrics"]["accuracy"] == metrics_by_step(swept["summary"])[30]["accuracy"]
    assert (last / "eval_results.json").stat().st_mtime_ns != before[f"{last.name}/eval_results.json"]


def test_two_ranks_on_an_odd_set_equal_one_rank(trained, swept, tmp_path):
    ckpt = Path(trained["checkpoints"][2])
    result = run_evaluate([ckpt], trained["eval_data"], Path(trained["run"]) / "resolved_config.json",
                          tmp_path / "s.json", "--force", nproc=2)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["world_size"] == 2 and summary["num_samples"] == EVAL_SAMPLES
    two, one = summary["results"][0]["metrics"], metrics_by_step(swept["summary"])[18]
    for name in ("accuracy", "top5_accuracy", "macro_f1", "per_class", "confusion_matrix", "num_samples"):
        assert two[name] == one[name], name  # counts: exactly equal
    assert two["loss"] == pytest.approx(one["loss"], rel=1e-6)  # batches differ: float rounding only
    preds = sorted(read_predictions(ckpt, summary["eval_key"]), key=lambda p: p["index"])
    assert [p["index"] for p in preds] == list(range(EVAL_SAMPLES))


def test_second_eval_set_keeps_both_keys(trained, swept, tmp_path):
    ckpt = Path(trained["checkpoints"][0])
    other = tmp_path / "other.jsonl"
    # same images, different folder and file: the content hash (not the path) decides the key
    lines = Path(trained["eval_data"]).read_text().splitlines()
    base = Path(trained["eval_data"]).parent
    other.write_text("".join(json.dumps({**json.loads(l), "image": str(base / json.loads(l)["image"])}) + "\n"
                             for l in lines[:21]))
    result = run_evaluate([ckpt], other, Path(trained["run"]) / "resolved_config.json", tmp_path / "s.json")
    assert result.returncode == 0, result.stderr[-3000:]
    key = json.loads((tmp_path / "s.json").read_text())["eval_key"]
    results = json.loads((ckpt / "eval_results.json").read_text())
    assert key != swept["summary"]["eval_key"] and {key, swept["summary"]["eval_key"]} <= set(results)
    assert results[key]["num_samples"] == 21
    assert len(read_predictions(ckpt, key)) == 21
    assert len(read_predictions(ckpt, swept["summary"]["eval_key"])) == EVAL_SAMPLES


def test_batches_spilled_to_disk_give_the_same_metrics(trained, swept, tmp_path):
    ckpts = [Path(c) for c in trained["checkpoints"][3:]]  # two: the batches are cached, here all on disk
    result = run_evaluate(ckpts, trained["eval_data"], Path(trained["run"]) / "resolved_config.json",
                          tmp_path / "s.json", "--force", "--cache-mb", "0")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "preprocess" in [e["event"] for e in events_of(result)]
    results = json.loads((tmp_path / "s.json").read_text())["results"]
    for r in results:
        assert r["metrics"] == metrics_by_step(swept["summary"])[r["step"]]


def test_one_checkpoint_streams_its_batches(trained, swept, tmp_path):
    ckpt = Path(trained["checkpoints"][1])
    result = run_evaluate([ckpt], trained["eval_data"], Path(trained["run"]) / "resolved_config.json",
                          tmp_path / "s.json", "--force")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "preprocess" not in [e["event"] for e in events_of(result)]  # nothing cached: nothing to reuse
    assert json.loads((tmp_path / "s.json").read_text())["results"][0]["metrics"] == metrics_by_step(swept["summary"])[12]


# ==================================================================== units: the set hash

def test_eval_set_hash_follows_content_not_paths(tmp_path):
    from qc_engine.data import Sample
    from qc_engine.eval_records import eval_key_for, eval_set_sha256

    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "1.png").write_bytes(b"one")
        (tmp_path / folder / "2.png").write_bytes(b"two")
    a = [Sample(str(tmp_path / "a" / "1.png"), 0, 1), Sample(str(tmp_path / "a" / "2.png"), 1, 2)]
    b = [Sample(str(tmp_path / "b" / "1.png"), 0, 1), Sample(str(tmp_path / "b" / "2.png"), 1, 2)]
    assert eval_set_sha256(a) == eval_set_sha256(b)  # same content elsewhere: same set
    assert eval_set_sha256(a) != eval_set_sha256([a[0], Sample(a[1].image, 2, 2)])  # a label changed
    assert eval_set_sha256(a) != eval_set_sha256(a[::-1])  # order matters (predictions are by index)
    (tmp_path / "b" / "2.png").write_bytes(b"TWO")
    assert eval_set_sha256(a) != eval_set_sha256(b)  # an image changed
    assert eval_key_for("ab" * 32) == "full:" + "ab" * 8


# ==================================================================== deferred and slim checkpoints

def variant(src: Path, dest_root: Path, drop: str) -> Path:
    dest = dest_root / src.name
    shutil.copytree(src, dest)
    shutil.rmtree(dest / drop)
    for name in ("eval_results.json", "predictions.jsonl"):
        (dest / name).unlink(missing_ok=True)
    info = json.loads((dest / "training_info.json").read_text())
    info.update({"has_hf_model": False} if drop == "hf_model" else {"has_deepspeed_state": False, "slim": True})
    (dest / "training_info.json").write_text(json.dumps(info))
    return dest


@pytest.mark.parametrize("drop", ["hf_model", "deepspeed"], ids=["deferred", "slim"])
def test_deferred_and_slim_equal_full(trained, swept, tmp_path, drop):
    full = Path(trained["checkpoints"][3])
    ckpt = variant(full, tmp_path, drop)
    result = run_evaluate([ckpt], trained["eval_data"], Path(trained["run"]) / "resolved_config.json", tmp_path / "s.json")
    assert result.returncode == 0, result.stderr[-4000:]
    summary = json.loads((tmp_path / "s.json").read_text())
    r = summary["results"][0]
    assert r["source"] == ("deepspeed" if drop == "hf_model" else "hf_model")
    reference = metrics_by_step(swept["summary"])[24]
    for name in ("accuracy", "top5_accuracy", "macro_f1", "per_class", "confusion_matrix"):
        assert r["metrics"][name] == reference[name], name
    assert r["metrics"]["loss"] == pytest.approx(reference["loss"], rel=1e-6)


# ==================================================================== bad input: exit 2, nothing written

def in_process(checkpoints, data, resolved, tmp_path):
    from qc_engine import evaluate as ev

    args = ev.parse_args(["--checkpoints", *map(str, checkpoints), "--data", str(data), "--resolved", str(resolved),
                          "--out-json", str(tmp_path / "s.json")])
    with pytest.raises(ev.BadInput) as err:
        ev.run(args)
    return str(err.value)


def test_bad_input_exits_2_with_an_error_event_and_writes_nothing(trained, swept, tmp_path):
    run = Path(trained["run"])
    broken = tmp_path / "run" / "checkpoint-99"
    shutil.copytree(Path(trained["checkpoints"][0]), broken)
    for name in ("training_info.json", "eval_results.json", "predictions.jsonl"):
        (broken / name).unlink(missing_ok=True)
    before = tree_snapshot(run)
    result = run_evaluate([trained["checkpoints"][1], broken], trained["eval_data"], run / "resolved_config.json",
                          tmp_path / "s.json")
    assert result.returncode == 2
    errors = [e for e in events_of(result) if e["event"] == "error"]
    assert errors and "checkpoint-99" in errors[0]["message"] and "incomplete" in errors[0]["message"]
    assert errors[0]["exit_code"] == 2
    assert "error:" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "s.json").exists() and not (broken / "eval_results.json").exists()
    assert tree_snapshot(run) == before


@pytest.mark.parametrize("case", ["not_a_checkpoint", "missing", "bad_json_line", "label_out_of_range",
                                  "unknown_class_name", "num_labels_mismatch", "no_weights", "damaged"])
def test_bad_inputs_are_named(trained, tmp_path, case):
    run = Path(trained["run"])
    good = Path(trained["checkpoints"][0])
    resolved = run / "resolved_config.json"
    data = Path(trained["eval_data"])
    checkpoints = [good]
    lines = data.read_text().splitlines()
    base = data.parent
    expect = ""
    if case == "not_a_checkpoint":
        checkpoints = [good, base]
        expect = "not a qwen-classify checkpoint"
    elif case == "missing":
        checkpoints = [good, tmp_path / "checkpoint-5"]
        expect = "does not exist"
    elif case in ("bad_json_line", "label_out_of_range", "unknown_class_name"):
        data = base / f"bad-{case}.jsonl"
        bad = {"bad_json_line": '{"image": "images/x.png", "label": 1',
               "label_out_of_range": json.dumps({"image": json.loads(lines[0])["image"], "label": 10}),
               "unknown_class_name": json.dumps({"image": json.loads(lines[0])["image"], "label": "eleven"})}[case]
        data.write_text("\n".join(lines[:3] + [bad] + lines[3:6]) + "\n")
        expect = {"bad_json_line": f"{data}:4: malformed JSON", "label_out_of_range": f"{data}:4: label 10 out of range 0..9",
                  "unknown_class_name": f"{data}:4: unknown class name 'eleven'"}[case]
    elif case == "num_labels_mismatch":
        config = json.loads(resolved.read_text())
        config["config"]["model"]["num_labels"] = 12
        resolved = tmp_path / "resolved_config.json"
        resolved.write_text(json.dumps(config))
        expect = "the model has 10 labels but the config's model.num_labels is 12"
    elif case == "no_weights":
        ckpt = tmp_path / "checkpoint-6"
        ckpt.mkdir()
        info = json.loads((good / "training_info.json").read_text())
        info.pop("files")  # a checkpoint from before the manifest (with it, the manifest names the missing file)
        (ckpt / "training_info.json").write_text(json.dumps(info))
        checkpoints = [ckpt]
        expect = "no weights to evaluate"
    elif case == "damaged":  # the checksum manifest (sizes always) names the file
        ckpt = tmp_path / good.name
        shutil.copytree(good, ckpt)
        weights = ckpt / "hf_model" / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:-100])
        checkpoints = [ckpt]
        expect = f"{weights}: "
    before = tree_snapshot(run)
    message = in_process(checkpoints, data, resolved, tmp_path)
    assert expect in message, message
    if case in ("bad_json_line", "label_out_of_range", "unknown_class_name"):  # evaluation never skips lines
        assert "fix the evaluation file" in message and "on_bad_sample" not in message, message
    assert tree_snapshot(run) == before and not (tmp_path / "s.json").exists()
