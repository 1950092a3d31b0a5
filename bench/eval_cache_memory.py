"""Memory of the evaluation sweep's image cache (qc_engine.image_cache) on a synthetic set.

    PYTHONPATH=engine .venv/bin/python bench/eval_cache_memory.py --images 25000 [--side 56] [--cache-mb 256] [--cache-disk-mb 32]

Writes N small PNGs (varied sizes up to --side), fills the uint8 cache as `evaluate --all` does
(decode + resize once), collates one full pass from it, and prints peak RSS, cache bytes (memory +
spill) and bytes per image, then extrapolates to Food-101's validation set (25,250 images of up to
512x512, data.image_max_pixels 200704) with the arithmetic spelled out.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))

from qc_engine.data import ClassifierCollator, ImageClassificationDataset, Sample  # noqa: E402
from qc_engine.image_cache import CachedBatches, UInt8ImageCache, resize_for_processor  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=25000)
    ap.add_argument("--side", type=int, default=56)
    ap.add_argument("--cache-mb", type=int, default=256)
    ap.add_argument("--cache-disk-mb", type=int, default=None, help="spill bound (default: unbounded, no re-decoding)")
    ap.add_argument("--batch-size", type=int, default=32)
    args = ap.parse_args()
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil, smart_resize

    from qc_engine.tiny import build_tokenizer

    root = Path(tempfile.mkdtemp(prefix="qc-cache-bench-"))
    rng = np.random.default_rng(0)
    samples = []
    for i in range(args.images):
        w, h = (int(x) for x in rng.integers(28, args.side + 1, size=2))
        path = root / f"{i}.png"
        Image.fromarray(rng.integers(0, 255, size=(h, w, 3), dtype=np.uint8)).save(path)
        samples.append(Sample(str(path), i % 10, i + 1))
    processor = Qwen2VLImageProcessorPil(min_pixels=3136, max_pixels=200704)
    collator = ClassifierCollator(build_tokenizer(), processor, "What is shown in this image?")
    dataset = ImageClassificationDataset(samples)
    rss_before = peak_rss_mb()
    t0 = time.time()
    disk = None if args.cache_disk_mb is None else args.cache_disk_mb * 2**20
    cache = UInt8ImageCache(args.cache_mb * 2**20, disk, lambda index: resize_for_processor(dataset[index][0], processor))
    for i in range(len(dataset)):
        image, label, index = dataset[i]
        cache.add(resize_for_processor(image, processor), label, index)
    fill_s = time.time() - t0
    rss_filled = peak_rss_mb()
    t0 = time.time()
    pixels_fp32 = 0
    for batch in CachedBatches(cache, collator, args.batch_size):
        pixels_fp32 += batch["pixel_values"].nelement() * 4
    pass_s = time.time() - t0
    per_image = cache.total_bytes / max(len(cache) - cache.streamed, 1)  # of the images kept
    h, w = smart_resize(512, 512, factor=28, min_pixels=3136, max_pixels=200704)
    food_per_image = h * w * 3
    result = {
        "images": len(cache), "cache_bytes": cache.total_bytes, "memory_bytes": cache.memory_bytes,
        "spilled_bytes": cache.spilled_bytes, "streamed_images": cache.streamed, "bytes_per_image": per_image,
        "fp32_pixel_values_bytes_same_set": pixels_fp32, "peak_rss_mb_before_cache": round(rss_before, 1),
        "peak_rss_mb_after_fill": round(rss_filled, 1), "peak_rss_mb_after_pass": round(peak_rss_mb(), 1),
        "fill_seconds": round(fill_s, 1), "pass_seconds": round(pass_s, 1),
        "food101_512px_processed_size": [h, w],
        "food101_bytes_per_image_uint8": food_per_image,
        "food101_cache_gb_uint8": round(25250 * food_per_image / 1e9, 2),
        "food101_cache_gb_fp32_before": round(25250 * food_per_image * 8 / 1e9, 1),
    }
    cache.close()
    shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
