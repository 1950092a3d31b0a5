import json

import pytest
import torch

from qc_engine.data import ClassifierCollator, ImageClassificationDataset, read_jsonl
from qc_engine.eval_loop import move_batch
from qc_engine.model import ModelFolderError, build_classifier, load_hf_classifier, load_processing, save_hf_model
from qc_engine.modeling_qwen_classifier import pool_hidden_states

NAMES = [f"digit-{i}" for i in range(10)]


def test_pooling_reads_the_attention_mask():
    hidden = torch.arange(2 * 4 * 3, dtype=torch.float32).reshape(2, 4, 3)
    right = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    left = torch.tensor([[0, 1, 1, 1], [1, 1, 1, 1]])
    assert torch.equal(pool_hidden_states(hidden, right, "last_token"), torch.stack([hidden[0, 2], hidden[1, 3]]))
    assert torch.equal(pool_hidden_states(hidden, left, "last_token"), torch.stack([hidden[0, 3], hidden[1, 3]]))
    assert torch.allclose(pool_hidden_states(hidden, right, "mean")[0], hidden[0, :3].mean(0))


@pytest.fixture(scope="module")
def batch(tiny_model_dir, digits_dir):
    tokenizer, image_processor = load_processing(tiny_model_dir, 3136, 3136)
    split = read_jsonl(digits_dir / "val.jsonl", [str(i) for i in range(10)])
    dataset = ImageClassificationDataset(split.samples[:4])
    return ClassifierCollator(tokenizer, image_processor, "What is shown in this image?")([dataset[i] for i in range(4)])


@pytest.mark.parametrize("pooling", ["last_token", "mean"])
def test_hf_model_reloads_with_the_same_logits(tiny_model_dir, tmp_path, batch, pooling):
    model = build_classifier(tiny_model_dir, NAMES, pooling=pooling, seed=0).eval()
    tokenizer, image_processor = load_processing(tiny_model_dir, 3136, 3136)
    with torch.no_grad():
        torch.nn.init.normal_(model.score.weight, std=0.5)  # a head that differs from any fresh init
        expected = model(**move_batch(batch, "cpu")).logits
    out = save_hf_model(tmp_path / "hf_model", model, tokenizer, image_processor, source_dir=tiny_model_dir)
    config = json.loads((out / "config.json").read_text())
    assert config["auto_map"]["AutoModelForImageClassification"].startswith("modeling_qwen_classifier.")
    assert config["id2label"]["3"] == "digit-3" and config["label2id"]["digit-3"] == 3
    assert config["classifier_pooling"] == pooling
    assert {"model.safetensors", "modeling_qwen_classifier.py", "tokenizer.json", "preprocessor_config.json"} <= {
        p.name for p in out.iterdir()}
    reloaded = load_hf_classifier(out).eval()
    assert type(reloaded).__name__ == "Qwen2_5_VLForImageClassification"
    with torch.no_grad():
        got = reloaded(**move_batch(batch, "cpu")).logits
    assert expected.shape == (4, 10)
    assert torch.allclose(got, expected, atol=1e-6, rtol=0)
    tok2, ip2 = load_processing(out, 3136, 3136)  # the processor files travel with the weights
    assert tok2.convert_tokens_to_ids("<|image_pad|>") == tokenizer.convert_tokens_to_ids("<|image_pad|>")


def test_backbone_weights_come_from_the_pretrained_folder(tiny_model_dir):
    from safetensors.torch import load_file

    base = load_file(str(tiny_model_dir / "model.safetensors"))
    model = build_classifier(tiny_model_dir, NAMES, seed=0, freeze_vision_tower=True)
    assert torch.equal(model.model.language_model.embed_tokens.weight, base["model.embed_tokens.weight"])
    assert torch.equal(model.model.visual.patch_embed.proj.weight, base["visual.patch_embed.proj.weight"])
    assert not any(p.requires_grad for p in model.model.visual.parameters())
    assert model.score.weight.requires_grad and model.score.weight.shape == (10, model.config.text_config.hidden_size)


def test_missing_model_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ModelFolderError, match="does not exist.*build_tiny_model"):
        build_classifier(tmp_path / "nope", NAMES)


def test_folder_without_backbone_weights_is_refused(tiny_model_dir, tmp_path):
    import shutil

    from safetensors.torch import load_file, save_file

    broken = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, broken)
    state = load_file(str(broken / "model.safetensors"))
    save_file({k: v for k, v in state.items() if not k.startswith("visual.")}, str(broken / "model.safetensors"),
              metadata={"format": "pt"})
    with pytest.raises(ModelFolderError, match=r"lacks \d+ Qwen2.5-VL backbone weight\(s\), e.g. model.visual"):
        build_classifier(broken, NAMES)


def test_save_hf_model_shards_to_max_shard_size_and_reloads(tiny_model_dir, tmp_path):
    from qc_engine.model import load_state_dict_file

    model = build_classifier(tiny_model_dir, NAMES, seed=0).eval()
    whole = save_hf_model(tmp_path / "whole", model)
    assert (whole / "model.safetensors").is_file() and not (whole / "model.safetensors.index.json").exists()
    limit = 200_000
    sharded = save_hf_model(tmp_path / "sharded", model, max_shard_size=limit)
    index = json.loads((sharded / "model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    assert len(shards) > 1 and not (sharded / "model.safetensors").exists()
    largest_tensor = max(t.numel() * t.element_size() for t in model.state_dict().values())
    for name in shards:  # a shard exceeds the limit only by one tensor too big to split
        assert (sharded / name).stat().st_size <= max(limit, largest_tensor) + 100_000, name
    a, b = load_state_dict_file(whole), load_state_dict_file(sharded)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
