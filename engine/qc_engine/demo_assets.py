"""Build the demo's local assets before launch (no download):

    python -m qc_engine.demo_assets --resolved OUT/resolved_config.json

- demo.build_tiny_model and model.pretrained_name missing -> a tiny random Qwen2.5-VL there;
- demo.build_digits_dataset and data.train_jsonl missing -> scikit-learn's digits as PNG files,
  a seeded stratified train/validation split (JSONL) and labels.json.
Both are written to a temporary folder and renamed into place, so a crash leaves nothing half-built.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import uuid
from pathlib import Path

from .config import QwenClassifyConfig, load_resolved
from .errors import EXIT_BAD_INPUT, BadInput
from .tiny import build_tiny_model

DIGIT_SIZE = 56  # 8x8 digits upscaled 7x: 56x56 = 4 visual tokens at 28x28 pixels per token
DIGITS_VAL_FRACTION = 0.2


def build_digits_dataset(train_jsonl: str | Path, val_jsonl: str | Path, labels_file: str | Path | None = None,
                         seed: int = 0, size: int = DIGIT_SIZE, val_fraction: float = DIGITS_VAL_FRACTION) -> dict:
    """Write digits PNGs + train/val JSONL (+ labels.json) under train_jsonl's folder, atomically."""
    # deferred: scikit-learn is needed only when the digits are actually built
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    train_jsonl, val_jsonl = Path(train_jsonl), Path(val_jsonl)
    root = train_jsonl.parent
    outside = [p for p in (val_jsonl, Path(labels_file) if labels_file else None) if p and p.parent != root]
    if outside:
        raise ValueError(f"demo digits: {outside[0]} must be in the same folder as {train_jsonl}")
    digits = load_digits()
    indices = np.arange(len(digits.target))
    train_idx, val_idx = train_test_split(
        indices, test_size=val_fraction, random_state=seed, stratify=digits.target
    )
    root.parent.mkdir(parents=True, exist_ok=True)
    if root.exists():
        # The folder exists but the JSONL does not: build next to it, then move files in.
        staging = root / f".digits.tmp-{uuid.uuid4().hex[:8]}"
    else:
        staging = root.parent / f".{root.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        (staging / "images").mkdir(parents=True)
        for i in indices:
            pixels = (digits.images[i] / 16.0 * 255.0).clip(0, 255).astype("uint8")
            img = Image.fromarray(pixels, mode="L").resize((size, size), Image.Resampling.BILINEAR).convert("RGB")
            img.save(staging / "images" / f"digit_{i:04d}.png")
        for name, split in ((train_jsonl.name, train_idx), (val_jsonl.name, val_idx)):
            with open(staging / name, "w") as fh:
                for i in sorted(split.tolist()):
                    fh.write(json.dumps({"image": f"images/digit_{i:04d}.png", "label": int(digits.target[i])}) + "\n")
        labels_name = Path(labels_file).name if labels_file else "labels.json"
        (staging / labels_name).write_text(json.dumps({str(i): str(i) for i in range(10)}, indent=2) + "\n")
        if staging.parent == root:
            # images/ first, train JSONL last: it is the "already built" marker.
            order = sorted(staging.iterdir(), key=lambda p: p.name != "images")
            order = [p for p in order if p.name != train_jsonl.name] + [staging / train_jsonl.name]
            for entry in order:
                target = root / entry.name
                if target.is_dir():
                    shutil.rmtree(target)
                os.replace(entry, target)
            staging.rmdir()
        else:
            try:
                os.replace(staging, root)
            except OSError:
                if not train_jsonl.is_file():
                    raise
                shutil.rmtree(staging, ignore_errors=True)  # a concurrent builder finished first
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return {"train": len(train_idx), "val": len(val_idx), "classes": 10, "folder": str(root)}


def build_demo_assets(config: QwenClassifyConfig, log=print) -> list[str]:
    """Build whatever the config asks for and is missing; returns what was built."""
    built = []
    model_path = Path(config.model.pretrained_name)
    if config.demo.build_tiny_model and not model_path.exists():
        log(f"demo: building a tiny random Qwen2.5-VL in {model_path}")
        build_tiny_model(model_path, seed=config.training.seed)
        built.append(str(model_path))
    data = config.data
    if config.demo.build_digits_dataset and not Path(data.train_jsonl).exists():
        log(f"demo: writing scikit-learn digits to {Path(data.train_jsonl).parent}")
        summary = build_digits_dataset(data.train_jsonl, data.val_jsonl, data.labels_file or None,
                                       seed=config.training.seed)
        log(f"demo: {summary['train']} train / {summary['val']} validation images, {summary['classes']} classes")
        built.append(str(data.train_jsonl))
    return built


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qc_engine.demo_assets", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolved", required=True, help="resolved_config.json written by tasks/train.ts")
    args = parser.parse_args(argv)
    try:
        config, _ = load_resolved(args.resolved)
    except BadInput as exc:
        print(f"error: cannot read {args.resolved}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    built = build_demo_assets(config)
    if not built:
        print("demo: nothing to build")
    return 0


if __name__ == "__main__":
    sys.exit(main())
