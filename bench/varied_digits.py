"""scikit-learn digits as JPEGs of varied sizes and aspect ratios (like Food-101's), seeded.

    .venv/bin/python bench/varied_digits.py --out DIR [--samples N] [--val N] [--min-side 56] [--max-side 224] [--seed 0]

Writes DIR/images/*.jpg, DIR/train.jsonl, DIR/val.jsonl, DIR/labels.json and DIR/sizes.json
({"train": [[w, h], ...], "val": [...]}, in line order). Food-101's images have a longest side of
512 and other sides spread below it; here both sides are drawn independently in
[min_side, max_side] (random aspect ratio), so the visual-token counts of a batch differ the way
they do there, which is what padding and batching modes are sensitive to.
Idempotent: an existing DIR with the same parameters (DIR/params.json) is kept.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import uuid
from pathlib import Path


def build(out: str | Path, samples: int = 512, val: int = 64, min_side: int = 56, max_side: int = 224,
          seed: int = 0) -> dict:
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    out = Path(out)
    params = {"samples": samples, "val": val, "min_side": min_side, "max_side": max_side, "seed": seed, "version": 1}
    if (out / "params.json").is_file() and json.loads((out / "params.json").read_text()) == params:
        return json.loads((out / "summary.json").read_text())
    digits = load_digits()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(digits.target))
    total = samples + val
    # More samples than digits (1,797): draw again, each copy at another size.
    picks = np.concatenate([order] * (total // len(order) + 1))[:total]
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    (tmp / "images").mkdir(parents=True)
    try:
        lines: dict[str, list[str]] = {"train": [], "val": []}
        sizes: dict[str, list[list[int]]] = {"train": [], "val": []}
        for n, idx in enumerate(picks.tolist()):
            w, h = (int(v) for v in rng.integers(min_side, max_side + 1, size=2))
            pixels = (digits.images[idx] / 16.0 * 255.0).clip(0, 255).astype("uint8")
            img = Image.fromarray(pixels, mode="L").resize((w, h), Image.Resampling.BILINEAR).convert("RGB")
            name = f"digit_{n:05d}.jpg"
            img.save(tmp / "images" / name, quality=90)
            split = "train" if n < samples else "val"
            lines[split].append(json.dumps({"image": f"images/{name}", "label": int(digits.target[idx])}))
            sizes[split].append([w, h])
        for split in ("train", "val"):
            (tmp / f"{split}.jsonl").write_text("\n".join(lines[split]) + "\n")
        (tmp / "labels.json").write_text(json.dumps({str(i): str(i) for i in range(10)}) + "\n")
        (tmp / "sizes.json").write_text(json.dumps(sizes) + "\n")
        summary = {"folder": str(out.resolve()), "train": samples, "val": val, "classes": 10,
                   "min_side": min_side, "max_side": max_side}
        (tmp / "summary.json").write_text(json.dumps(summary) + "\n")
        (tmp / "params.json").write_text(json.dumps(params) + "\n")  # last: the "complete" marker
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return summary


def padding_fraction(jsonl: str | Path, model_dir: str | Path, batch: int, seed: int, min_pixels: int,
                     max_pixels: int, prompt: str = "") -> dict:
    """Share of padded language-model positions in the engine's padded batches of one epoch.

    The engine's order (ResumableDistributedSampler, one process, epoch 0) and its sequence lengths
    (prompt tokens + the image's merged patches, as ClassifierCollator builds them; the image sizes are
    read from the files, the processor's resize rule gives the grid).
    """
    from PIL import Image
    from qc_engine.data import ResumableDistributedSampler, build_prompt, read_jsonl
    from qc_engine.model import load_processing

    tokenizer, processor = load_processing(model_dir, min_pixels, max_pixels)
    text = len(tokenizer(build_prompt(prompt))["input_ids"]) - 1
    samples = read_jsonl(jsonl, [str(i) for i in range(10)], check_images=False).samples
    lengths = []
    for sample in samples:
        with Image.open(sample.image) as img:
            grid = processor(images=[Image.new("RGB", img.size)], return_tensors="pt")["image_grid_thw"][0]
        lengths.append(text + int(grid.prod()) // processor.merge_size ** 2)
    sampler = ResumableDistributedSampler(samples, num_replicas=1, rank=0, seed=seed)
    sampler.set_epoch(0)
    order = list(sampler)
    real = padded = 0
    for i in range(0, len(order) - batch + 1, batch):  # drop_last, as the engine
        chunk = [lengths[j] for j in order[i:i + batch]]
        real += sum(chunk)
        padded += max(chunk) * len(chunk)
    return {"padding_fraction": 1 - real / padded, "real_tokens": real, "padded_tokens": padded,
            "min_len": min(lengths), "max_len": max(lengths)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--samples", type=int, default=512, help="training images")
    parser.add_argument("--val", type=int, default=64, help="validation images")
    parser.add_argument("--min-side", type=int, default=56)
    parser.add_argument("--max-side", type=int, default=224)
    parser.add_argument("--seed", type=int, default=0)
    a = parser.parse_args(argv)
    if not 28 <= a.min_side <= a.max_side:
        parser.error("need 28 <= --min-side <= --max-side")
    print(json.dumps(build(a.out, a.samples, a.val, a.min_side, a.max_side, a.seed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
