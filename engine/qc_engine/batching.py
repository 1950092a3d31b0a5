"""data.batching: how training micro-batches are formed, and how much of them is padding.

- padded: data.ResumableDistributedSampler (seeded shuffle, sharded, resumable); each micro-batch is
  padded to its longest sample.
- length_grouped: LengthGroupedSampler puts samples of similar token counts (Qwen2.5-VL's dynamic
  resolution: an image costs (h/28)*(w/28) tokens after the processor's resize) into the same
  micro-batch. Seeded and deterministic, sharded across ranks, resumable mid-epoch.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import torch
from PIL import Image
from torch.utils.data import Sampler

# Samples sorted together: this many global micro-steps form one group (big enough to find similar
# lengths, small enough that the order stays random at the scale of an epoch).
GROUP_MICRO_STEPS = 64


def _image_size(path: str) -> tuple[int, int]:
    with Image.open(path) as img:  # reads the header only
        return img.size


def image_token_counts(image_paths: list[str], image_processor, workers: int = 8) -> list[int]:
    """Visual tokens per image after the processor's resize (pixel bounds of data.image_*_pixels)."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    patch, merge = int(image_processor.patch_size), int(image_processor.merge_size)
    size = image_processor.size
    min_px = getattr(size, "shortest_edge", None) or getattr(image_processor, "min_pixels", None) or 3136
    max_px = getattr(size, "longest_edge", None) or getattr(image_processor, "max_pixels", None) or 12845056
    with ThreadPoolExecutor(max_workers=workers) as pool:
        sizes = list(pool.map(_image_size, image_paths))
    counts = []
    for width, height in sizes:
        h, w = smart_resize(height, width, factor=patch * merge, min_pixels=min_px, max_pixels=max_px)
        counts.append((h // (patch * merge)) * (w // (patch * merge)))
    return counts


class LengthGroupedSampler(Sampler):
    """This rank's indices for one epoch, `micro_bs` at a time, micro-batches of similar length.

    Epoch e: a seeded permutation (seed + e) of all indices, cut to whole global batches (world x micro_bs x
    accum samples, as DistributedSampler's drop_last); groups of GROUP_MICRO_STEPS global batches are sorted
    by length and cut into global batches; the global batches are shuffled (seeded) so that lengths do not
    rise through an epoch; each is cut into `accum` global micro-steps of world x micro_bs (consecutive in
    length order), and rank r takes the r-th micro-batch of each. Every rank computes the same plan, so
    shards are disjoint and cover the epoch. The plan is made of global batches, so optimizer step s trains
    on the same samples for any layout of the same global batch: an elastic resume on another process
    count (accumulation adjusted, resume_check.py) continues the epoch exactly. With accum 1 a global
    batch is a global micro-step.
    """

    def __init__(self, lengths: list[int], num_replicas: int, rank: int, micro_bs: int, seed: int, accum: int = 1):
        self.lengths, self.world, self.rank, self.micro_bs, self.seed = list(lengths), num_replicas, rank, micro_bs, seed
        self.accum = accum
        self.epoch, self.start_index = 0, 0
        self.num_samples = (len(self.lengths) // (num_replicas * micro_bs * accum)) * micro_bs * accum

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def set_start_index(self, start_index: int) -> None:
        self.start_index = int(start_index)

    def global_micro_steps(self) -> list[list[int]]:
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        micro_step = self.world * self.micro_bs
        batch = micro_step * self.accum
        order = torch.randperm(len(self.lengths), generator=g).tolist()
        order = order[: (len(order) // batch) * batch]
        batches: list[list[int]] = []
        group = batch * GROUP_MICRO_STEPS
        for start in range(0, len(order), group):
            chunk = sorted(order[start:start + group], key=lambda i: (self.lengths[i], i))
            batches.extend(chunk[k:k + batch] for k in range(0, len(chunk), batch))
        shuffle = torch.randperm(len(batches), generator=g).tolist()
        return [batches[i][k:k + micro_step] for i in shuffle for k in range(0, batch, micro_step)]

    def __iter__(self):
        mine: list[int] = []
        lo, hi = self.rank * self.micro_bs, (self.rank + 1) * self.micro_bs
        for global_step in self.global_micro_steps():
            mine.extend(global_step[lo:hi])
        return iter(mine[self.start_index:])

    def __len__(self) -> int:
        return max(0, self.num_samples - self.start_index)


class PaddingMeter:
    """Real and padded token counts of the micro-batches seen (kept as Python ints from the collated
    attention mask on the host, so counting costs no device sync)."""

    def __init__(self):
        self.real = 0
        self.total = 0

    def add(self, attention_mask: torch.Tensor) -> None:
        self.real += int(attention_mask.sum())
        self.total += int(attention_mask.numel())

    @property
    def fraction(self) -> float:
        return 1.0 - self.real / self.total if self.total else 0.0
