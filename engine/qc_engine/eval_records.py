"""A checkpoint's evaluation records: the evaluation-set key, eval_results.json entries, predictions.jsonl.

One scheme for the evaluations made during training (partial, and the full one at the end) and for
`python -m qc_engine.evaluate`, so that each recognises what the other wrote:

    key    "<split>:<first 16 hex of eval_set_sha256(samples)>"   split "full" | "partial"
    entry  split, data, data_sha256, jsonl_sha256, num_samples, step, metrics, evaluated_at, seconds,
           preprocessing {prompt, image_min_pixels, image_max_pixels}, weights, world_size, batch_size,
           precision, predictions ("predictions.jsonl" | null)

The hash covers labels and image bytes in order, not paths nor the JSONL text: the same images and
labels give the same key wherever they live, and two different sets that share a file name never do.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .config import QwenClassifyConfig
from .protocol import json_safe
from .fsio import read_json, write_json_atomic, write_text_atomic
from .locks import checkpoint_in_use

PREDICTIONS_FILE = "predictions.jsonl"
EVAL_RESULTS_FILE = "eval_results.json"


# ---------------------------------------------------------------- the set's identity

def image_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def image_sha256s(samples) -> list[str]:
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(image_sha256, [s.image for s in samples]))


def eval_set_sha256(samples, image_hashes: list[str] | None = None) -> str:
    """The evaluation set's content hash: labels and image bytes in order (not paths, not the JSONL text).

    `image_hashes` (image_sha256s of the same samples) spares reading the images again for a subset.
    """
    hashes = image_hashes if image_hashes is not None else image_sha256s(samples)
    if len(hashes) != len(samples):
        raise ValueError(f"{len(hashes)} image hashes for {len(samples)} samples")
    digest = hashlib.sha256()
    for sample, image_hash in zip(samples, hashes):
        digest.update(f"{sample.label}\t{image_hash}\n".encode())
    return digest.hexdigest()


def eval_key_for(data_sha256: str, split: str = "full") -> str:
    return f"{split}:{data_sha256[:16]}"


def preprocessing_settings(config: QwenClassifyConfig) -> dict:
    """What turns an image into model input besides the processor files; a skip requires the same."""
    data = config.data
    return {"prompt": data.prompt, "image_min_pixels": data.image_min_pixels, "image_max_pixels": data.image_max_pixels}


# ---------------------------------------------------------------- records

def eval_entry(*, split: str, data: str, data_sha256: str, jsonl_sha256: str | None, metrics: dict, step: int,
               preprocessing: dict, weights: str, world_size: int, batch_size: int, precision: str,
               predictions: str | None, seconds: float | None) -> dict:
    """One eval_results.json entry (the same fields whoever evaluated)."""
    return {"split": split, "data": str(Path(data).resolve()), "data_sha256": data_sha256,
            "jsonl_sha256": jsonl_sha256, "num_samples": int(metrics["num_samples"]), "step": int(step),
            "metrics": metrics, "evaluated_at": datetime.now(timezone.utc).isoformat(),
            "seconds": seconds, "preprocessing": preprocessing, "weights": weights, "world_size": world_size,
            "batch_size": batch_size, "precision": precision, "predictions": predictions}


def prediction_lines(logits, labels, indices, samples, class_names, key: str) -> list[str]:
    """predictions.jsonl lines: one JSON object per sample (eval_key, index, image, label, prediction, ...)."""
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    probs = np.exp(shifted)
    probs /= probs.sum(axis=1, keepdims=True)
    top = np.argsort(-logits, axis=1, kind="stable")[:, :5]
    lines = []
    for row, (label, index) in enumerate(zip(labels, indices)):
        pred = int(top[row, 0])
        lines.append(json.dumps({
            "eval_key": key, "index": int(index), "image": samples[int(index)].image,
            "label": class_names[int(label)], "label_id": int(label),
            "prediction": class_names[pred], "prediction_id": pred,
            "probability": float(probs[row, pred]), "label_probability": float(probs[row, int(label)]),
            "correct": pred == int(label),
            "top5": [int(t) for t in top[row]], "top5_probability": [float(probs[row, t]) for t in top[row]],
        }))
    return lines


def write_eval_results(ckpt_dir: Path, key: str, entry: dict, lines: list[str] | None = None) -> None:
    """Merge `entry` under `key` into eval_results.json (rank 0, atomically); with `lines`, replace this
    key's lines of predictions.jsonl (lines of other keys are kept) first. Under the checkpoint's
    .in-use.evaluate.<pid> lock, so that retention/prune do not delete or slim it meanwhile."""
    with checkpoint_in_use(Path(ckpt_dir), "evaluate"):
        _write_eval_results(Path(ckpt_dir), key, entry, lines)



def _write_eval_results(ckpt_dir: Path, key: str, entry: dict, lines: list[str] | None) -> None:
    with eval_results_lock(ckpt_dir):
        _merge_eval_results(ckpt_dir, key, entry, lines)


@contextmanager
def eval_results_lock(ckpt_dir: Path):
    """An exclusive flock on checkpoint-N/.eval_results.lock (docs/architecture.md, "Locks"): two evaluators
    of one checkpoint (training's and tasks/evaluate.ts, or two evaluates) never lose each other's entry in
    the read-merge-write below. Blocking: a merge takes milliseconds. Hidden, so not in the manifest."""
    fd = os.open(str(Path(ckpt_dir) / ".eval_results.lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the flock


def _merge_eval_results(ckpt_dir: Path, key: str, entry: dict, lines: list[str] | None) -> None:
    if lines is not None:
        predictions = ckpt_dir / PREDICTIONS_FILE
        kept = []
        if predictions.is_file():
            for raw in predictions.read_text(encoding="utf-8").splitlines():
                try:
                    if json.loads(raw).get("eval_key") != key:
                        kept.append(raw)
                except (ValueError, AttributeError):
                    continue
        write_text_atomic(predictions, "".join(line + "\n" for line in kept + lines))
    results = read_json(ckpt_dir / EVAL_RESULTS_FILE)
    results = results if isinstance(results, dict) else {}
    results[key] = json_safe(entry)
    write_json_atomic(ckpt_dir / EVAL_RESULTS_FILE, results)
