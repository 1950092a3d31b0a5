"""Decode and resize each evaluation image once, keep it as uint8 at the size the processor uses.

The sweep (evaluate --all) used to cache collated fp32 pixel_values: (h*w/196) patches x 1176 floats
x 4 bytes = 24 bytes per pixel, ~4.8 MB per image at data.image_max_pixels 200704, ~120 GB for
Food-101's 25,250 validation images. This cache holds h*w*3 bytes per image instead (8x less: ~602 KB
at 200704 pixels), in memory up to a budget, then in one spill file up to a disk budget; images beyond
both are decoded again on every pass (streamed), so a sweep never needs more than memory + disk budget
(evaluate's --cache-mb + --cache-disk-mb, 4 + 4 GiB by default) whatever the set's size. The processor's
rescale, normalisation and patching (cheap next to decode + resize) run per pass.
Food-101 (25,250 images at 448x448 after resize = 602,112 B each, 15.2 GB in all): 4 GiB in RAM, 4 GiB
spilled, the remaining ~47% decoded again per checkpoint. Exact: the processor's own
resize of an image already at its target size is the identity (PIL returns a copy), so the pixel
values equal those of the original image (tested).
"""

from __future__ import annotations

import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image


def processor_bounds(image_processor) -> tuple[int, int, int]:
    """(factor, min_pixels, max_pixels) the processor resizes with."""
    factor = int(image_processor.patch_size) * int(image_processor.merge_size)
    size = image_processor.size
    min_px = getattr(size, "shortest_edge", None) or getattr(image_processor, "min_pixels", None) or 3136
    max_px = getattr(size, "longest_edge", None) or getattr(image_processor, "max_pixels", None) or 12845056
    return factor, int(min_px), int(max_px)


def resize_for_processor(image: Image.Image, image_processor) -> np.ndarray:
    """uint8 HxWx3 at the processor's target size (its smart_resize, its resample filter)."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    factor, min_px, max_px = processor_bounds(image_processor)
    height, width = smart_resize(image.height, image.width, factor=factor, min_pixels=min_px, max_pixels=max_px)
    if (width, height) != image.size:
        image = image.resize((width, height), resample=int(image_processor.resample))
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def resize_items(items, image_processor) -> list:
    """collate_fn of the caching DataLoader: (PIL image, label, index) -> (uint8 array, label, index)."""
    return [(resize_for_processor(image, image_processor), label, index) for image, label, index in items]


class UInt8ImageCache:
    """Items (uint8 array, label, index) in insertion order: memory up to `budget_bytes`, then one spill file up
    to `disk_budget_bytes` (None: unbounded), then nothing kept: `reload(index)` decodes such an item again."""

    def __init__(self, budget_bytes: int, disk_budget_bytes: int | None = None, reload=None):
        self.budget = budget_bytes
        self.disk_budget = disk_budget_bytes
        self.reload = reload
        self.memory_bytes = 0
        self.spilled_bytes = 0
        self.streamed = 0  # items decoded again on every pass
        self.items: list = []  # (array | (offset, shape) | None, label, index)
        self.spill_dir: Path | None = None
        self._spill = None

    def add(self, array: np.ndarray, label: int, index: int) -> None:
        if self.memory_bytes + array.nbytes <= self.budget:
            self.items.append((array, label, index))
            self.memory_bytes += array.nbytes
            return
        if self.disk_budget is not None and self.spilled_bytes + array.nbytes > self.disk_budget:
            if self.reload is None:
                raise ValueError("UInt8ImageCache: over both budgets and no reload function to decode again")
            self.items.append((None, label, index))
            self.streamed += 1
            return
        if self._spill is None:
            self.spill_dir = Path(tempfile.mkdtemp(prefix="qc-eval-images-"))
            self._spill = open(self.spill_dir / "images.u8", "w+b")
        self._spill.write(array.tobytes())
        self.items.append(((self.spilled_bytes, array.shape), label, index))
        self.spilled_bytes += array.nbytes

    @property
    def total_bytes(self) -> int:
        return self.memory_bytes + self.spilled_bytes

    def __len__(self) -> int:
        return len(self.items)

    def get(self, position: int) -> tuple[Image.Image, int, int]:
        stored, label, index = self.items[position]
        if stored is None:
            stored = self.reload(index)
        elif not isinstance(stored, np.ndarray):
            (offset, shape) = stored
            self._spill.flush()
            stored = np.fromfile(self._spill.name, dtype=np.uint8, count=int(np.prod(shape)), offset=offset).reshape(shape)
        return Image.fromarray(stored), label, index

    def close(self) -> None:
        if self._spill is not None:
            self._spill.close()
            self._spill = None
        if self.spill_dir is not None:
            shutil.rmtree(self.spill_dir, ignore_errors=True)


class CachedBatches:
    """Batches collated from the uint8 cache on each pass (len = number of batches)."""

    def __init__(self, cache: UInt8ImageCache, collator, batch_size: int, dtype=None, compact=None):
        self.cache, self.collator, self.batch_size, self.dtype, self.compact = cache, collator, batch_size, dtype, compact

    def __len__(self) -> int:
        return (len(self.cache) + self.batch_size - 1) // self.batch_size

    def __iter__(self):
        # Items over both budgets are decoded again here: a few threads (PIL decodes without the GIL).
        with ThreadPoolExecutor(max_workers=4 if self.cache.streamed else 1) as pool:
            for start in range(0, len(self.cache), self.batch_size):
                positions = range(start, min(start + self.batch_size, len(self.cache)))
                batch = self.collator(list(pool.map(self.cache.get, positions)))
                yield self.compact(batch, self.dtype) if self.compact else batch

    def close(self) -> None:
        self.cache.close()
