"""data.batching: how training micro-batches are formed, and how much of them is padding.

- padded: data.ResumableDistributedSampler (seeded shuffle, sharded, resumable); each micro-batch is
  padded to its longest sample.
- length_grouped: LengthGroupedSampler puts samples of similar token counts (Qwen2.5-VL's dynamic
  resolution: an image costs (h/28)*(w/28) tokens after the processor's resize) into the same
  micro-batch. Seeded and deterministic, sharded across ranks, resumable mid-epoch.
- packed: the padded sampler (ResumableDistributedSampler: random order, so every micro-batch's total token
  count stays near micro_bs x the mean length, and memory and step time stay steady; grouping by length
  would buy nothing, as there is no padding to save) and PackedCollator: the micro-batch's samples back to
  back in one row, no padding at all. Same samples per micro-batch and the same order as padded, so global
  batch, resume positions and checkpoints are unchanged (a run may even switch padded <-> packed on resume).
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
    """Real and padded token counts of the micro-batches seen (Python ints from the collated batch on the
    host (token_counts), so counting costs no device sync)."""

    def __init__(self):
        self.real = 0
        self.total = 0

    def add(self, real: int, total: int) -> None:
        self.real += real
        self.total += total

    @property
    def fraction(self) -> float:
        return 1.0 - self.real / self.total if self.total else 0.0


def sample_lengths(batch: dict) -> list[int]:
    """Real tokens of each sample of a collated micro-batch (host ints): seq_lens when packed, else the mask's rows."""
    if "seq_lens" in batch:
        return [int(n) for n in batch["seq_lens"].tolist()]
    return [int(n) for n in batch["attention_mask"].sum(dim=1).tolist()]


def token_counts(batch: dict) -> tuple[int, int]:
    """(real tokens, positions the model runs over) of a collated micro-batch; equal when packed."""
    return sum(sample_lengths(batch)), int(batch["input_ids"].numel())


class PackedCollator:
    """data.batching: packed. The padded collate's tokens with the padding removed: one row per micro-batch.

    Output: input_ids [1, total] (the samples back to back, in sampler order), seq_lens [samples],
    position_ids [4, 1, total] (modeling_qwen_classifier.packed_position_ids: each sample's 3-D rope positions
    from Qwen2_5_VLModel.get_rope_index, computed here on the host so the training step needs no host sync),
    pixel_values / image_grid_thw in sample order (the processor's own concatenation), labels, indices.
    No attention_mask: transformers keeps attention within each sample from the position ids.
    """

    def __init__(self, padded_collator, model_config):
        from .modeling_qwen_classifier import RopeIndex  # deferred: transformers' modeling code

        self.padded = padded_collator
        self.rope = RopeIndex(model_config)
        self.image_token_id = int(model_config.image_token_id)

    def __call__(self, batch):
        from .modeling_qwen_classifier import packed_position_ids

        padded = self.padded(batch)
        mask = padded["attention_mask"].bool()
        seq_lens = mask.sum(dim=1)
        input_ids = padded["input_ids"][mask].unsqueeze(0)  # row-major: sample 0's tokens, then sample 1's, ...
        return {
            "input_ids": input_ids,
            "seq_lens": seq_lens,
            "position_ids": packed_position_ids(self.rope, input_ids, seq_lens, padded["image_grid_thw"],
                                                self.image_token_id),
            "pixel_values": padded["pixel_values"],
            "image_grid_thw": padded["image_grid_thw"],
            "labels": padded["labels"],
            "indices": padded["indices"],
        }
