"""data.batching (padded, length_grouped, packed), model.attn_implementation, model FLOPs / MFU, and the
host-sync-free train step."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from qc_engine.attention import resolve_attn_implementation
from qc_engine.batching import (LengthGroupedSampler, PackedCollator, PaddingMeter, image_token_counts, sample_lengths,
                                token_counts)
from qc_engine.errors import BadInput

CPU = torch.device("cpu")


# ---------------------------------------------------------------- attention kernel

def test_auto_picks_flash_only_when_installed_and_the_gpu_supports_it():
    assert resolve_attn_implementation("auto", CPU, installed=True, gpu_ok=True) == "flash_attention_2"
    assert resolve_attn_implementation("auto", CPU, installed=False, gpu_ok=True) == "sdpa"
    assert resolve_attn_implementation("auto", CPU, installed=True, gpu_ok=False) == "sdpa"
    assert resolve_attn_implementation("eager", CPU, installed=False, gpu_ok=False) == "eager"
    assert resolve_attn_implementation("sdpa", CPU, installed=False, gpu_ok=False) == "sdpa"


def test_flash_attention_without_package_or_gpu_is_bad_input_naming_the_key():
    with pytest.raises(BadInput, match="model.attn_implementation: flash_attention_2 .*flash_attn package") as exc:
        resolve_attn_implementation("flash_attention_2", CPU, installed=False, gpu_ok=True)
    assert "requirements-gpu.txt" in exc.value.hint
    with pytest.raises(BadInput, match="needs a CUDA GPU .* device is cpu"):
        resolve_attn_implementation("flash_attention_2", CPU, installed=True)  # the real GPU probe on a CPU


# ---------------------------------------------------------------- the sampler

def plan(lengths, world, micro_bs, seed=0, epoch=0, start=0, accum=1):
    out = []
    for rank in range(world):
        s = LengthGroupedSampler(lengths, world, rank, micro_bs, seed, accum)
        s.set_epoch(epoch)
        s.set_start_index(start)
        out.append(list(s))
    return out


def step_samples(shards, micro_bs, accum):
    """The set of samples each optimizer step trains on (all ranks, all accumulated micro-batches)."""
    per_step = micro_bs * accum
    steps = len(shards[0]) // per_step
    return [sorted(i for shard in shards for i in shard[s * per_step:(s + 1) * per_step]) for s in range(steps)]


def test_length_grouped_steps_are_the_same_for_any_layout_of_one_global_batch():
    """Elastic resume: 2 processes x 4 x accumulation 1 and 1 process x 4 x 2 (global batch 8) train on the
    same samples at every step, so a resume on the other layout continues the epoch exactly."""
    lengths = [int(x) for x in np.random.default_rng(1).integers(4, 260, size=203)]
    two, one = plan(lengths, 2, 4), plan(lengths, 1, 4, accum=2)
    assert step_samples(two, 4, 1) == step_samples(one, 4, 2) and len(step_samples(one, 4, 2)) == 203 // 8
    resumed = plan(lengths, 1, 4, accum=2, start=3 * 8)  # resumed after step 3
    assert step_samples(resumed, 4, 2) == step_samples(two, 4, 1)[3:]


def padding_of(batches, lengths):
    real = sum(lengths[i] for b in batches for i in b)
    total = sum(max(lengths[i] for i in b) * len(b) for b in batches)
    return 1 - real / total


def test_length_grouped_is_seeded_sharded_resumable_and_pads_less():
    rng = np.random.default_rng(0)
    lengths = [int(x) for x in rng.integers(4, 260, size=1000)]
    world, mb = 2, 4
    a, b = plan(lengths, world, mb), plan(lengths, world, mb)
    assert a == b  # deterministic
    assert plan(lengths, world, mb, epoch=1) != a  # reshuffled per epoch
    assert plan(lengths, world, mb, seed=1) != a
    flat = a[0] + a[1]
    assert len(a[0]) == len(a[1]) == (1000 // (world * mb)) * mb and len(set(flat)) == len(flat)  # disjoint shards
    assert plan(lengths, world, mb, start=12)[1] == a[1][12:]  # resume mid-epoch: the same suffix
    grouped = [a[0][k:k + mb] for k in range(0, len(a[0]), mb)]
    g = torch.Generator().manual_seed(0)
    shuffled = torch.randperm(1000, generator=g).tolist()[:len(a[0])]
    random_batches = [shuffled[k:k + mb] for k in range(0, len(shuffled), mb)]
    grouped_pad, random_pad = padding_of(grouped, lengths), padding_of(random_batches, lengths)
    print(f"padding: length_grouped {grouped_pad:.3f}, random {random_pad:.3f}")
    assert grouped_pad < 0.05 < 0.3 < random_pad
    # lengths do not rise through the epoch (the global micro-steps are shuffled)
    firsts = [lengths[bt[0]] for bt in grouped]
    assert firsts != sorted(firsts)


def test_padding_meter_counts_padding_of_padded_and_packed_batches():
    meter = PaddingMeter()
    padded = {"input_ids": torch.zeros(2, 4, dtype=torch.long), "attention_mask": torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])}
    assert sample_lengths(padded) == [3, 2] and token_counts(padded) == (5, 8)
    meter.add(*token_counts(padded))
    assert meter.fraction == pytest.approx(3 / 8)
    packed = {"input_ids": torch.zeros(1, 5, dtype=torch.long), "seq_lens": torch.tensor([3, 2])}
    assert sample_lengths(packed) == [3, 2] and token_counts(packed) == (5, 5)
    only_packed = PaddingMeter()
    only_packed.add(*token_counts(packed))
    assert only_packed.fraction == 0.0


# ---------------------------------------------------------------- on the tiny model, images of different sizes

SIZES = [(28, 28), (56, 28), (84, 56), (28, 112), (112, 112), (56, 56), (140, 84), (28, 56)]


@pytest.fixture(scope="module")
def varied_images(tmp_path_factory):
    root = tmp_path_factory.mktemp("varied")
    rng = np.random.default_rng(0)
    paths = []
    for i, (w, h) in enumerate(SIZES):
        path = root / f"img{i}.png"
        Image.fromarray(rng.integers(0, 255, size=(h, w, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


def test_token_counts_match_the_collator_and_grouped_logits_equal_padded(tiny_model_dir, varied_images):
    from qc_engine.data import ClassifierCollator, ImageClassificationDataset, Sample
    from qc_engine.eval_loop import move_batch
    from qc_engine.model import build_classifier, load_processing

    tokenizer, processor = load_processing(tiny_model_dir, 784, 28 * 28 * 25)
    collator = ClassifierCollator(tokenizer, processor, "What digit?")
    dataset = ImageClassificationDataset([Sample(p, i % 10, i + 1) for i, p in enumerate(varied_images)])
    counts = image_token_counts(varied_images, processor)
    grids = collator([dataset[i] for i in range(len(dataset))])["image_grid_thw"]
    assert counts == [int(g.prod()) // 4 for g in grids]
    assert len(set(counts)) >= 4  # the images really cost different numbers of tokens

    model = build_classifier(tiny_model_dir, [str(i) for i in range(10)], seed=0, attn_implementation="sdpa").eval()

    def logits_by_index(batches):
        out = {}
        for batch in batches:
            coll = collator([dataset[i] for i in batch])
            with torch.no_grad():
                res = model(**move_batch(coll, CPU), labels=coll["labels"])
            for row, i in enumerate(batch):
                out[i] = res.logits[row]
        return out

    padded = [[0, 4, 1, 6], [2, 7, 3, 5]]  # mixed sizes: much padding
    sampler = LengthGroupedSampler(counts, 1, 0, 4, seed=0)
    order = list(sampler)
    grouped = [order[:4], order[4:]]
    meter_p, meter_g = PaddingMeter(), PaddingMeter()
    for batches, meter in ((padded, meter_p), (grouped, meter_g)):
        for b in batches:
            meter.add(*token_counts(collator([dataset[i] for i in b])))
    assert meter_g.fraction < meter_p.fraction
    a, b = logits_by_index(padded), logits_by_index(grouped)
    diff = max(float((a[i] - b[i]).abs().max()) for i in a)
    print(f"max |logit(grouped) - logit(padded)| = {diff:.2e}; padding {meter_g.fraction:.3f} vs {meter_p.fraction:.3f}")
    assert diff < 1e-4
    # and the loss of one sample alone equals its loss inside a padded batch
    alone = logits_by_index([[4]])[4]
    assert torch.allclose(alone, a[4], atol=1e-4)


# ---------------------------------------------------------------- packed (padding-free)

PACKED_ORDER = [4, 0, 6, 1]  # 112x112, 28x28, 140x84, 56x28: very different token counts


@pytest.fixture(scope="module")
def packed_setup(tiny_model_dir, varied_images):
    from qc_engine.data import ClassifierCollator, ImageClassificationDataset, Sample
    from qc_engine.model import build_classifier, load_processing

    tokenizer, processor = load_processing(tiny_model_dir, 784, 28 * 28 * 25)
    collator = ClassifierCollator(tokenizer, processor, "What digit?")
    dataset = ImageClassificationDataset([Sample(p, i % 10, i + 1) for i, p in enumerate(varied_images)])
    models = {attn: build_classifier(tiny_model_dir, [str(i) for i in range(10)], seed=0, attn_implementation=attn).eval()
              for attn in ("sdpa", "eager")}
    return collator, dataset, models


def forward(model, batch):
    from qc_engine.eval_loop import move_batch

    with torch.no_grad():
        return model(**move_batch(batch, CPU), labels=batch["labels"])


def test_packed_collate_lays_samples_back_to_back_with_their_own_rope_positions(packed_setup):
    collator, dataset, models = packed_setup
    model = models["sdpa"]
    items = [dataset[i] for i in PACKED_ORDER]
    padded, packed = collator(items), PackedCollator(collator, model.config)(items)
    lens = padded["attention_mask"].sum(dim=1)
    assert len(set(lens.tolist())) == 4 and packed["seq_lens"].tolist() == lens.tolist()
    assert packed["input_ids"].shape == (1, int(lens.sum())) and "attention_mask" not in packed
    assert torch.equal(packed["input_ids"][0], padded["input_ids"][padded["attention_mask"].bool()])
    assert torch.equal(packed["pixel_values"], padded["pixel_values"])
    assert torch.equal(packed["image_grid_thw"], padded["image_grid_thw"])
    # rows 1-3: the model's own 3-D rope index of the padded batch (image tokens share a temporal index, etc.)
    ids, mask = padded["input_ids"], padded["attention_mask"]
    rope, _ = model.model.get_rope_index(ids, mm_token_type_ids=(ids == model.config.image_token_id).int(),
                                         image_grid_thw=padded["image_grid_thw"], attention_mask=mask)
    assert torch.equal(packed["position_ids"][1:, 0], rope[:, mask.bool()])
    assert not torch.equal(rope[0], rope[1])  # really 3-D: height and width differ from temporal on image tokens
    # row 0: 0..len-1 per sample (how transformers finds the sample boundaries)
    starts = torch.cat([torch.zeros(1, dtype=torch.long), lens.cumsum(0)[:-1]])
    assert packed["position_ids"][0, 0, starts].tolist() == [0, 0, 0, 0]
    assert packed["position_ids"][0, 0, starts[1] - 1].item() == lens[0].item() - 1
    # what flash_attention_2 would run (no GPU here): transformers' own varlen detection on these positions
    from transformers.modeling_flash_attention_utils import _is_packed_sequence, prepare_fa_kwargs_from_position_ids

    text = packed["position_ids"][0]
    assert _is_packed_sequence(text, batch_size=1)
    (cu_q, _), (max_q, _) = prepare_fa_kwargs_from_position_ids(text)
    assert cu_q.tolist() == [0, *lens.cumsum(0).tolist()] and int(max_q) == int(lens.max())


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_logits_and_loss_equal_the_padded_batch(packed_setup, attn):
    """fp32 on the CPU: within 1e-5 (seen: about 5e-8 with sdpa, 0 with eager)."""
    collator, dataset, models = packed_setup
    model = models[attn]
    items = [dataset[i] for i in PACKED_ORDER]
    padded, packed = forward(model, collator(items)), forward(model, PackedCollator(collator, model.config)(items))
    diff = float((padded.logits - packed.logits).abs().max())
    print(f"{attn}: max |logit(packed) - logit(padded)| = {diff:.1e}")
    assert packed.logits.shape == (4, 10) and diff < 1e-5
    assert abs(float(padded.loss) - float(packed.loss)) < 1e-5
    # the forward computes the same position ids itself when a packed batch comes without them
    batch = PackedCollator(collator, model.config)(items)
    del batch["position_ids"]
    assert torch.allclose(forward(model, batch).logits, packed.logits, atol=1e-6)


def test_packed_attention_stays_within_each_sample_and_pools_its_last_token(packed_setup):
    from qc_engine.modeling_qwen_classifier import pool_packed

    collator, dataset, models = packed_setup
    model = models["sdpa"]
    packer = PackedCollator(collator, model.config)
    base = packer([dataset[i] for i in PACKED_ORDER])
    changed = packer([dataset[i] for i in (PACKED_ORDER[0], 7, *PACKED_ORDER[2:])])  # another second image
    a, b = forward(model, base), forward(model, changed)
    assert torch.equal(a.logits[0], b.logits[0])  # sample 1 does not see sample 2, bit for bit
    assert float((a.logits[1] - b.logits[1]).abs().max()) > 1e-4  # sample 2 itself changed
    # the test can fail: one sequence over the whole row (text positions 0..total-1) lets samples attend across
    crossed = dict(base)
    crossed["position_ids"] = base["position_ids"].clone()
    crossed["position_ids"][0, 0] = torch.arange(base["input_ids"].shape[1])
    assert float((forward(model, crossed).logits[1:] - a.logits[1:]).abs().max()) > 1e-4
    # pooling: each sample's last token; mean: each sample's own positions
    hidden = torch.arange(12.0).view(6, 2)
    lens = torch.tensor([2, 3, 1])
    assert pool_packed(hidden, lens, "last_token").tolist() == [[2.0, 3.0], [8.0, 9.0], [10.0, 11.0]]
    assert pool_packed(hidden, lens, "mean").tolist() == [[1.0, 2.0], [6.0, 7.0], [10.0, 11.0]]


def test_packed_through_peft_lora_gives_the_padded_gradients_and_lora_flops(tiny_model_dir, packed_setup):
    """Through peft's wrapper (kwargs seq_lens / position_ids pass through): the trainable parameters' gradients
    equal the padded batch's (fp32, relative 1e-4), and ModelFlops sees a frozen vision tower (2N) and LoRA."""
    from helpers import typed_config
    from qc_engine.eval_loop import move_batch
    from qc_engine.lora import apply_lora
    from qc_engine.model import build_classifier
    from qc_engine.telemetry import ModelFlops

    collator, dataset, _ = packed_setup
    lora = typed_config({"model": {"lora": {"enabled": True, "r": 4, "alpha": 8, "dropout": 0.0}}}).model.lora
    model = apply_lora(build_classifier(tiny_model_dir, [str(i) for i in range(10)], seed=0,
                                        attn_implementation="sdpa"), lora, str(tiny_model_dir))
    items = [dataset[i] for i in PACKED_ORDER]
    grads = []
    for batch in (collator(items), PackedCollator(collator, model.config)(items)):
        model.zero_grad()
        model(**move_batch(batch, CPU), labels=batch["labels"]).loss.backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad})
    assert grads[0].keys() == grads[1].keys() and any(".lora_B." in n for n in grads[0])
    for name, g in grads[0].items():
        assert torch.allclose(grads[1][name], g, rtol=1e-4, atol=1e-6), name
    flops = ModelFlops.from_model(model)
    assert flops.vision.trainable == 0 and not flops.vision.backward and not flops.merger.backward
    assert flops.text.backward and 0 < flops.text.trainable < flops.text.params / 5


def test_padded_forward_uses_qwen_3d_rope_positions(packed_setup):
    """Without mm_token_type_ids transformers gives image tokens 1-D positions; the classifier passes them."""
    collator, dataset, models = packed_setup
    model = models["sdpa"]
    batch = collator([dataset[i] for i in PACKED_ORDER])
    ids, mask = batch["input_ids"], batch["attention_mask"]
    rope, _ = model.model.get_rope_index(ids, mm_token_type_ids=(ids == model.config.image_token_id).int(),
                                         image_grid_thw=batch["image_grid_thw"], attention_mask=mask)
    explicit = forward(model, {**batch, "position_ids": rope})
    one_d = forward(model, {**batch, "position_ids": (mask.cumsum(1) - 1).clamp(min=0)})
    ours = forward(model, batch)
    assert torch.allclose(ours.logits, explicit.logits, atol=1e-6)
    assert float((ours.logits - one_d.logits).abs().max()) > 1e-4


# ---------------------------------------------------------------- model FLOPs and MFU

def test_model_flops_are_trainable_aware_and_match_six_n_t(packed_setup):
    from qc_engine.telemetry import ModelFlops, peak_flops

    collator, dataset, models = packed_setup
    model = models["sdpa"]
    visual, lm = model.model.visual, model.model.language_model
    n = lambda *ms: sum(p.numel() for m in ms for p in m.parameters())  # noqa: E731
    n_vis, n_merger = n(visual.patch_embed, visual.blocks), n(visual.merger)
    n_text, n_head = n(lm) - lm.embed_tokens.weight.numel(), n(model.score)
    vc, tc = model.config.vision_config, model.config.text_config
    patches, seq = 64, 40
    attn_vis = 4 * vc.hidden_size * patches * ((vc.depth - len(vc.fullatt_block_indexes)) * 64
                                               + len(vc.fullatt_block_indexes) * patches)
    attn_text = 4 * tc.num_hidden_layers * tc.hidden_size * seq * seq
    full = ModelFlops.from_model(model)
    assert full.sample(patches, seq) == 6 * (n_vis * patches + n_merger * patches // 4 + n_text * seq + n_head) \
        + 3 * (attn_vis + attn_text)
    for p in visual.parameters():  # freeze_vision_tower: forward only through the vision tower
        p.requires_grad_(False)
    try:
        frozen = ModelFlops.from_model(model)
    finally:
        for p in visual.parameters():
            p.requires_grad_(True)
    assert frozen.sample(patches, seq) == 2 * (n_vis * patches + n_merger * patches // 4) + attn_vis \
        + 6 * (n_text * seq + n_head) + 3 * attn_text
    batch = collator([dataset[i] for i in PACKED_ORDER])
    lens = sample_lengths(batch)
    grid = batch["image_grid_thw"]
    assert full.batch(grid, lens) == sum(full.sample(int(g.prod()), s) for g, s in zip(grid, lens))
    assert peak_flops("NVIDIA H200")[0] == 989e12 and peak_flops("NVIDIA A100-SXM4-80GB")[0] == 312e12
    assert peak_flops("CPU")[0] is None and peak_flops("anything", 100.0)[0] == 100e12


# ---------------------------------------------------------------- no host sync per micro-batch

class CountingTensor(torch.Tensor):
    """Counts host reads (.item(), float(), bool(), .tolist(), .cpu())."""
    reads = 0

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in ("item", "__float__", "__bool__", "tolist", "cpu", "__int__"):
            CountingTensor.reads += 1
        return super().__torch_function__(func, types, args, kwargs or {})


def test_train_step_reads_nothing_from_the_device_until_logged():
    from types import SimpleNamespace

    from qc_engine.train import train_step_on_device

    class FakeEngine:
        steps = 0

        def __call__(self, **kwargs):
            return SimpleNamespace(loss=torch.tensor(0.5).as_subclass(CountingTensor) * (1 + self.steps))

        def backward(self, loss):
            pass

        def is_gradient_accumulation_boundary(self):
            return False

        def step(self):
            self.steps += 1

        def get_global_grad_norm(self):
            return None

    batch = {"input_ids": torch.zeros(2, 3, dtype=torch.long), "attention_mask": torch.ones(2, 3, dtype=torch.long),
             "labels": torch.zeros(2, dtype=torch.long), "indices": torch.arange(2)}
    optimizer = SimpleNamespace(param_groups=[{"lr": 0.1}])
    CountingTensor.reads = 0
    loss, lr, _ = train_step_on_device(FakeEngine(), optimizer, [batch] * 4, CPU, torch.float32)
    assert CountingTensor.reads == 0
    assert float(loss) == pytest.approx((0.5 + 1.0 + 1.5 + 2.0) / 4) and CountingTensor.reads == 1


# ---------------------------------------------------------------- through the engine

@pytest.mark.slow
def test_length_grouped_run_reports_padding_time_split_and_kernel(make_config):
    import json

    from helpers import read_events, run_engine_direct

    config = make_config({"data": {"batching": "length_grouped", "image_max_pixels": 28 * 28 * 16},
                          "training": {"skip_evaluation": True, "max_steps": 8, "save_steps": 8,
                                       "logging_steps": 4, "stop_check_steps": 3}})
    out = Path(config["training"]["output_dir"])
    result = run_engine_direct(config, out)
    assert result.returncode == 0, result.stderr[-3000:]
    events = read_events(out)  # schema-checked
    steps = [e for e in events if e["event"] == "step"]
    assert all(0 <= e["padding_fraction"] <= 1 and e["tokens_per_s"] > 0 for e in steps)
    assert [e["step"] for e in steps if "epoch_padding_fraction" in e] == [8]  # 8 steps an epoch
    end = events[-1]
    split = end["time_split_s"]
    assert set(split) == {"setup", "data_wait", "compute", "checkpoint", "evaluation", "other"}
    assert split["compute"] > 0 and split["checkpoint"] > 0
    assert sum(split.values()) == pytest.approx(end["wall_time_s"], rel=0.05)
    assert 0 <= end["padding_fraction"] < 1
    info = json.loads((out / "checkpoint-8" / "training_info.json").read_text())
    assert info["attn_implementation"] == "sdpa"  # auto on a CPU
    assert "time split:" in result.stdout + result.stderr
    assert (out / "logs" / "training_curves.png").stat().st_size > 20_000


@pytest.mark.slow
def test_flash_attention_on_a_cpu_exits_2_before_training(make_config):
    from helpers import run_engine_direct

    config = make_config({"model": {"attn_implementation": "flash_attention_2"},
                          "training": {"skip_evaluation": True}})
    result = run_engine_direct(config, Path(config["training"]["output_dir"]))
    assert result.returncode == 2, result.stderr[-3000:]
    assert "model.attn_implementation: flash_attention_2" in result.stderr
    assert not list(Path(config["training"]["output_dir"]).glob("checkpoint-*"))


def test_training_curves_png_and_gpu_sampler_off_a_gpu(tmp_path):
    import json

    from qc_engine.telemetry import GpuSampler, write_training_curves

    events = tmp_path / "events.jsonl"
    lines = [{"event": "start", "time": 0.0}]
    lines += [{"event": "step", "time": float(s), "step": s, "loss": 2.0 / s, "lr": 1e-4 * s, "grad_norm": 1.0 + s % 3,
               "samples_per_s": 10.0 + s, "tokens_per_s": 1000.0 + s} for s in range(1, 21)]
    events.write_text("\n".join(json.dumps(e) for e in lines) + "\n")
    png = write_training_curves(events, tmp_path / "logs" / "training_curves.png")
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000  # four drawn panels, not an empty canvas
    empty = tmp_path / "empty.jsonl"
    empty.write_text(json.dumps({"event": "start", "time": 0.0}) + "\n")
    assert write_training_curves(empty, tmp_path / "none.png") is None
    sampler = GpuSampler(interval_s=0.01)
    if not sampler.active:  # this machine has no NVML device: nothing sampled, nothing made up
        assert sampler.read() == {}
    sampler.close()


# ---------------------------------------------------------------- the evaluation sweep's uint8 image cache

def test_uint8_cache_gives_the_same_pixel_values_within_a_stated_byte_bound(tiny_model_dir, varied_images):
    from qc_engine.data import ClassifierCollator, ImageClassificationDataset, Sample
    from qc_engine.image_cache import CachedBatches, UInt8ImageCache, resize_for_processor
    from qc_engine.model import load_processing

    max_pixels = 28 * 28 * 25
    tokenizer, processor = load_processing(tiny_model_dir, 784, max_pixels)
    collator = ClassifierCollator(tokenizer, processor, "What digit?")
    dataset = ImageClassificationDataset([Sample(p, i % 10, i + 1) for i, p in enumerate(varied_images)])
    budget = 3 * 28 * 28 * 3 * 4  # a few images in memory, the rest spilled
    cache = UInt8ImageCache(budget)
    for i in range(len(dataset)):
        image, label, index = dataset[i]
        cache.add(resize_for_processor(image, processor), label, index)
    assert cache.memory_bytes <= budget and cache.spilled_bytes > 0
    assert cache.total_bytes <= len(dataset) * max_pixels * 3  # the stated bound: 3 bytes per processed pixel
    spill = cache.spill_dir
    batches = CachedBatches(cache, collator, batch_size=3)
    direct = [collator([dataset[i] for i in range(s, min(s + 3, len(dataset)))]) for s in range(0, len(dataset), 3)]
    got = list(batches)
    assert len(got) == len(batches) == len(direct)
    for a, b in zip(got, direct):
        assert torch.equal(a["pixel_values"], b["pixel_values"]) and torch.equal(a["input_ids"], b["input_ids"])
        assert torch.equal(a["indices"], b["indices"]) and torch.equal(a["labels"], b["labels"])
    fp32_bytes = sum(b["pixel_values"].nelement() * 4 for b in direct)
    print(f"uint8 cache {cache.total_bytes} B vs fp32 pixel_values {fp32_bytes} B ({fp32_bytes / cache.total_bytes:.1f}x)")
    assert fp32_bytes == 8 * cache.total_bytes  # 1176 floats per 196 pixels x 4 bytes = 24 B/pixel vs 3
    batches.close()
    assert not spill.exists()
