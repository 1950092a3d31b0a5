"""Figures for issue 14: --from-hf conversion vs a plain `datasets` + PIL loop; predict vs evaluate.

    PYTHONPATH=engine .venv/bin/python bench/from_hf_predict.py [--images 2000] [--eval-images 300] [--runs 3]

1. A local data set in the ethz/food101 layout (parquet, `image` struct of JPEG bytes, ClassLabel
   `label`), 256x256 JPEGs. Conversion, alternating, median of --runs, in this process (no start-up):
   - ours: qc_engine.tools.from_hf.run (streamed, stored bytes written as they are, header verify);
   - plain: load_dataset(..., streaming=True) decoding every image, img.save(path) with PIL (JPEG re-encode),
     and a JSONL line per row.
2. One tiny checkpoint (engine/tests/test_predict.py's builder, no training) and --eval-images digits
   images: `python -m qc_engine.predict` vs `python -m qc_engine.evaluate --force`, same batch size,
   each as a subprocess (wall) and its own loop time (images/s from its summary).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "engine"))
sys.path.insert(0, str(REPO / "engine" / "tests"))


def build_food(root: Path, n: int) -> Path:
    from datasets import ClassLabel, Dataset, Features, Image
    from PIL import Image as PILImage

    names = [f"class_{i:03d}" for i in range(101)]
    (root / "data").mkdir(parents=True, exist_ok=True)
    for split, count, seed in (("train", n, 0), ("validation", max(1, n // 4), 1)):
        rows = {"image": [], "label": []}
        for i in range(count):
            img = PILImage.effect_noise((256, 256), 40 + (i * 7 + seed) % 60).convert("RGB")
            buf = io.BytesIO()
            img.save(buf, "JPEG", quality=90)
            rows["image"].append({"bytes": buf.getvalue(), "path": f"{i}.jpg"})
            rows["label"].append(i % 101)
        features = Features({"image": Image(), "label": ClassLabel(names=names)})
        Dataset.from_dict(rows, features=features).to_parquet(str(root / "data" / f"{split}-00000-of-00001.parquet"))
    return root


def ours(dataset: Path, out: Path) -> float:
    from qc_engine.tools import from_hf

    args = from_hf.parse_args(["--dataset", str(dataset), "--out", str(out)])
    t = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        assert from_hf.run(args) == 0
    return time.perf_counter() - t


def plain(dataset: Path, out: Path) -> float:
    from datasets import load_dataset

    t = time.perf_counter()
    for split, file_name in (("train", "train.jsonl"), ("validation", "test.jsonl")):
        folder = out / "images" / split
        folder.mkdir(parents=True, exist_ok=True)
        with open(out / file_name, "w") as fh:
            for i, row in enumerate(load_dataset(str(dataset), split=split, streaming=True)):
                path = folder / f"{i:07d}.jpg"
                row["image"].save(path)
                fh.write(json.dumps({"image": f"images/{split}/{path.name}", "label": row["label"]}) + "\n")
    return time.perf_counter() - t


def bench_conversion(images: int, runs: int, work: Path) -> dict:
    dataset = build_food(work / "food", images)
    total = images + max(1, images // 4)
    times = {"ours": [], "plain": []}
    for r in range(runs + 1):  # the first round warms caches and imports
        for name, fn in (("ours", ours), ("plain", plain)):
            out = work / f"out-{name}"
            shutil.rmtree(out, ignore_errors=True)
            seconds = fn(dataset, out)
            if r:
                times[name].append(seconds)
    size = sum(f.stat().st_size for f in (work / "food" / "data").iterdir())
    return {"images": total, "parquet_bytes": size,
            **{name: {"median_s": statistics.median(t), "images_per_s": total / statistics.median(t), "runs_s": t}
               for name, t in times.items()}}


def run_engine(argv: list[str]) -> tuple[float, dict]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "engine"), "DS_ACCELERATOR": "cpu"}
    t = time.perf_counter()
    result = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=str(REPO))
    wall = time.perf_counter() - t
    assert result.returncode == 0, result.stderr[-2000:]
    events = [json.loads(x) for x in result.stdout.splitlines() if x.startswith("{")]
    return wall, next(e for e in events if e["event"] == "summary")


def bench_predict(eval_images: int, runs: int, work: Path, batch: int) -> dict:
    from test_predict import build_checkpoint

    built = build_checkpoint(work / "ckpt", eval_samples=eval_images)
    python = sys.executable
    rows = {"predict": [], "evaluate": []}
    for r in range(runs + 1):
        wall, s = run_engine([python, "-m", "qc_engine.predict", "--checkpoint", built["checkpoint"], "--images",
                              built["val_data"], "--out", str(work / "p.jsonl"), "--batch-size", str(batch)])
        if r:
            rows["predict"].append((wall, s["seconds"], s["accuracy"]))
        wall, s = run_engine([python, "-m", "qc_engine.evaluate", "--checkpoints", built["checkpoint"], "--data",
                              built["val_data"], "--resolved", str(Path(built["run"]) / "resolved_config.json"),
                              "--out-json", str(work / "e.json"), "--batch-size", str(batch), "--force"])
        if r:
            res = s["results"][0]
            rows["evaluate"].append((wall, res["seconds"], res["metrics"]["accuracy"]))
    n = eval_images
    return {"images": n, "batch_size": batch, **{
        k: {"wall_median_s": statistics.median(x[0] for x in v), "loop_median_s": statistics.median(x[1] for x in v),
            "loop_images_per_s": n / statistics.median(x[1] for x in v), "accuracy": v[0][2]} for k, v in rows.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--eval-images", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="qc-bench-hf-") as tmp:
        work = Path(tmp)
        report = {"conversion": bench_conversion(args.images, args.runs, work),
                  "predict_vs_evaluate": bench_predict(args.eval_images, args.runs, work, args.batch_size)}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
