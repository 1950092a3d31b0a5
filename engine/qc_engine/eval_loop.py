"""Distributed, exact evaluation: every sample counted once, whatever the number of ranks.

Each rank gets the same number of batches (the index list is padded with -1 to a multiple of
world_size x batch_size); logits, labels and indices are all_gathered and the padding filtered.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader

from . import dist as qd
from .data import ImageClassificationDataset, PaddedDataset, PaddedEvalSampler
from .metrics import classification_metrics

# Number of evaluation forward passes run by this process (the no-eval mode asserts it stays 0).
EVAL_FORWARD_PASSES = 0


def eval_forward_passes() -> int:
    return EVAL_FORWARD_PASSES


def seeded_subset(num_samples: int, size: int, seed: int) -> list[int]:
    """A fixed, seeded subset of validation indices (sorted), the same on every rank and every call."""
    if size >= num_samples:
        return list(range(num_samples))
    generator = torch.Generator().manual_seed(seed)
    return sorted(torch.randperm(num_samples, generator=generator)[:size].tolist())


def move_batch(batch: dict, device, dtype=None) -> dict:
    out = {}
    for key, value in batch.items():
        if key in ("labels", "indices"):
            continue
        value = value.to(device, non_blocking=True)
        if dtype is not None and key == "pixel_values":
            value = value.to(dtype)
        out[key] = value
    return out


@torch.no_grad()
def predict(model, dataset: ImageClassificationDataset, indices: list[int], collator, batch_size: int,
            device, dtype=None, num_workers: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Logits, labels and dataset indices for `indices`, gathered from every rank (rank order undone)."""
    global EVAL_FORWARD_PASSES
    sampler = PaddedEvalSampler(indices, qd.world_size(), qd.rank(), batch_size)
    loader = DataLoader(PaddedDataset(dataset), batch_size=batch_size, sampler=sampler, collate_fn=collator,
                        num_workers=num_workers)
    was_training = model.training
    model.eval()
    logits_parts, label_parts, index_parts = [], [], []
    try:
        for batch in loader:
            EVAL_FORWARD_PASSES += 1
            out = model(**move_batch(batch, device, dtype))
            logits_parts.append(out.logits.float())
            label_parts.append(batch["labels"].to(device))
            index_parts.append(batch["indices"].to(device))
    finally:
        model.train(was_training)
    if not logits_parts:
        raise ValueError("evaluation received no samples")
    return gather_predictions(logits_parts, label_parts, index_parts)


def gather_predictions(logits_parts, label_parts, index_parts):
    """All ranks' (logits, labels, sample indices) -> numpy arrays in sample order, padding (-1) dropped.

    With a padded sampler every rank sees the same number of batches; the padding samples carry
    index -1, so after the gather each real sample is counted exactly once.
    """
    logits = qd.all_gather_tensor(torch.cat(logits_parts))
    labels = qd.all_gather_tensor(torch.cat(label_parts))
    idx = qd.all_gather_tensor(torch.cat(index_parts))
    keep = idx >= 0
    logits, labels, idx = logits[keep].cpu().numpy(), labels[keep].cpu().numpy(), idx[keep].cpu().numpy()
    order = np.argsort(idx, kind="stable")
    return logits[order], labels[order], idx[order]


def evaluate_with_predictions(model, dataset: ImageClassificationDataset, indices: list[int], collator, batch_size: int,
                              device, class_names: list[str] | None = None, dtype=None, num_workers: int = 0,
                              detailed: bool = True):
    """evaluate() that also returns what it predicted: (metrics, logits, labels, dataset indices), in index order."""
    logits, labels, idx = predict(model, dataset, indices, collator, batch_size, device, dtype, num_workers)
    if len(np.unique(idx)) != len(indices) or len(idx) != len(indices):
        raise RuntimeError(f"evaluation counted {len(np.unique(idx))} samples, expected {len(indices)}")
    return classification_metrics(logits, labels, class_names, detailed=detailed), logits, labels, idx


def evaluate(model, dataset: ImageClassificationDataset, indices: list[int], collator, batch_size: int, device,
             class_names: list[str] | None = None, dtype=None, num_workers: int = 0, detailed: bool = True) -> dict:
    """Run the model over dataset[indices] on every rank; the same metrics dict on every rank."""
    return evaluate_with_predictions(model, dataset, indices, collator, batch_size, device, class_names, dtype,
                                     num_workers, detailed)[0]
