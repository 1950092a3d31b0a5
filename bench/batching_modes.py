"""data.batching padded vs length_grouped vs packed on varied-size digits (bench/varied_digits.py), engine only,
one process, the same data, seed and steps for each mode.

    .venv/bin/python bench/varied_digits.py --out /tmp/i12/vd --samples 256 --val 32
    PYTHONPATH=engine DS_ACCELERATOR=cpu .venv/bin/python bench/batching_modes.py [MODE ...]

QC_BATCHING_ROOT (default /tmp/i12) holds the model, the data (vd/) and the runs.

Prints per mode: the epoch's padding fraction (end/step events), time split, median samples/s and tokens/s,
and the final loss (packed trains on the same micro-batches as padded, so its losses should follow padded's).
"""
import json, os, sys, time
from pathlib import Path
sys.path[:0] = ["engine/tests", "engine"]
from helpers import schema_defaults, deep_merge, apply_skip_evaluation, run_engine_direct
from qc_engine.tiny import build_tiny_model
root = Path(os.environ.get("QC_BATCHING_ROOT", "/tmp/i12"))
model = root / "model"
if not (model / "config.json").exists():
    build_tiny_model(model, seed=0)
for mode in sys.argv[1:] or ("padded", "length_grouped", "packed"):
    out = root / f"run-{mode}"
    import shutil; shutil.rmtree(out, ignore_errors=True)
    cfg = deep_merge(schema_defaults(), {
        "model": {"pretrained_name": str(model), "num_labels": 10},
        "data": {"train_jsonl": str(root / "vd/train.jsonl"), "val_jsonl": str(root / "vd/val.jsonl"), "batching": mode,
                 "image_min_pixels": 3136, "image_max_pixels": 50176, "num_workers": 0},
        "training": {"output_dir": str(out), "per_device_batch_size": 8, "max_steps": 32, "logging_steps": 4,
                     "save_steps": 32, "skip_evaluation": True, "precision": "fp32", "warmup_steps": 1},
        "deepspeed": {"zero_stage": 2}})
    cfg = apply_skip_evaluation(cfg)
    t = time.time()
    r = run_engine_direct(cfg, out)
    ev = [json.loads(l) for l in (out / "logs/events.jsonl").read_text().splitlines()]
    end = ev[-1]; steps = [e for e in ev if e["event"] == "step"]
    print(json.dumps({"mode": mode, "rc": r.returncode, "wall_s": round(time.time() - t, 1),
                      "epoch_padding_fraction": [e.get("epoch_padding_fraction") for e in steps if "epoch_padding_fraction" in e],
                      "run_padding_fraction": end.get("padding_fraction"), "time_split_s": end.get("time_split_s"),
                      "median_samples_per_s": sorted(e["samples_per_s"] for e in steps)[len(steps)//2],
                      "median_tokens_per_s": sorted(e["tokens_per_s"] for e in steps)[len(steps)//2],
                      "losses": [round(e["loss"], 4) for e in steps]}))
