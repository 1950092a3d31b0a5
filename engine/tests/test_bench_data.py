"""bench/varied_digits.py: the varied-size digits set and the padding fraction of the engine's batches."""

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))


def test_varied_digits_sizes_and_padding_fraction_match_the_collator(tmp_path, tiny_model_dir):
    import varied_digits
    from PIL import Image

    from qc_engine.data import ClassifierCollator, ImageClassificationDataset, ResumableDistributedSampler, read_jsonl
    from qc_engine.model import load_processing

    out = tmp_path / "vd"
    summary = varied_digits.build(out, samples=24, val=4, min_side=56, max_side=224, seed=3)
    assert summary["train"] == 24 and summary["val"] == 4
    sizes = json.loads((out / "sizes.json").read_text())["train"]
    assert all(56 <= w <= 224 and 56 <= h <= 224 for w, h in sizes)
    assert len({w / h for w, h in sizes}) > 10  # random aspect ratios
    lines = (out / "train.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    with Image.open(out / first["image"]) as img:
        assert img.format == "JPEG" and list(img.size) == sizes[0]
    # Same parameters: kept as is (idempotent); the set is seeded.
    assert varied_digits.build(out, samples=24, val=4, min_side=56, max_side=224, seed=3) == summary

    prompt, batch, seed = "What is shown in this image?", 4, 42
    got = varied_digits.padding_fraction(out / "train.jsonl", tiny_model_dir, batch, seed, 3136, 50176, prompt)
    tokenizer, processor = load_processing(tiny_model_dir, 3136, 50176)
    samples = read_jsonl(out / "train.jsonl", [str(i) for i in range(10)]).samples
    sampler = ResumableDistributedSampler(samples, 1, 0, seed=seed)
    sampler.set_epoch(0)
    order, dataset = list(sampler), ImageClassificationDataset(samples)
    collate = ClassifierCollator(tokenizer, processor, prompt)
    real = padded = 0
    for i in range(0, len(order), batch):
        mask = collate([dataset[j] for j in order[i:i + batch]])["attention_mask"]
        real, padded = real + int(mask.sum()), padded + mask.numel()
    assert (got["real_tokens"], got["padded_tokens"]) == (real, padded)
    assert got["padding_fraction"] == pytest.approx(1 - real / padded) and 0 < got["padding_fraction"] < 1
