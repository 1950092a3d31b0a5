"""LoRA through peft on the tiny model: what trains, the merged hf_model/, bad model.lora input."""

import pytest
import torch

from helpers import typed_config

CLASSES = [str(i) for i in range(10)]


def lora_cfg(patch=None):
    return typed_config({"model": {"lora": {"enabled": True, "r": 4, "alpha": 8, "dropout": 0.0, **(patch or {})}}}).model


def build(tiny_model_dir, patch=None):
    from qc_engine.lora import apply_lora
    from qc_engine.model import build_classifier

    model = build_classifier(tiny_model_dir, CLASSES, seed=0)
    return apply_lora(model, lora_cfg(patch).lora, str(tiny_model_dir))


def test_only_language_adapters_and_head_reach_the_optimizer(tiny_model_dir):
    from qc_engine.train import build_optimizer

    peft_model = build(tiny_model_dir)
    optimizer = build_optimizer(peft_model, 1e-3, 0.01)
    in_optimizer = {id(p) for g in optimizer.param_groups for p in g["params"]}
    names = sorted(n for n, p in peft_model.named_parameters() if id(p) in in_optimizer)
    assert names and all(".lora_A." in n or ".lora_B." in n or ".score.modules_to_save." in n for n in names), names
    assert not [n for n in names if ".visual." in n]  # the vision tower's mlp.gate_proj etc. are not matched
    adapted = {n.split(".lora_")[0].split("layers.")[1] for n in names if ".lora_" in n}
    layers = len(peft_model.get_base_model().model.language_model.layers)
    assert len(adapted) == 7 * layers  # q,k,v,o,gate,up,down of every decoder layer
    assert any("score.modules_to_save.default.weight" in n for n in names)
    total = sum(p.numel() for p in peft_model.parameters())
    trained = sum(p.numel() for n, p in peft_model.named_parameters() if id(p) in in_optimizer)
    assert trained < total * 0.5


def test_vision_tower_lora_and_full(tiny_model_dir):
    lora_vision = build(tiny_model_dir, {"vision_tower": "lora"})
    trained = [n for n, p in lora_vision.named_parameters() if p.requires_grad]
    assert any(".visual.blocks.0.mlp.gate_proj.lora_A." in n for n in trained)
    assert not any(".visual." in n and ".lora_" not in n for n in trained)
    full = build(tiny_model_dir, {"vision_tower": "full"})
    trained = [n for n, p in full.named_parameters() if p.requires_grad]
    assert any(".visual.modules_to_save.default.blocks.0.attn.qkv.weight" in n for n in trained)


def test_merged_hf_model_gives_the_unmerged_logits(tiny_model_dir, tmp_path):
    from qc_engine.lora import merged_state_dict, save_adapter
    from qc_engine.model import load_hf_classifier, save_hf_model
    from peft import PeftModel

    peft_model = build(tiny_model_dir)
    torch.manual_seed(1)
    with torch.no_grad():  # lora_B starts at zero: make the adapters do something
        for name, param in peft_model.named_parameters():
            if ".lora_B." in name or "modules_to_save" in name:
                param.add_(torch.randn_like(param) * 0.05)
    peft_model.eval()
    ids = torch.randint(0, 20, (2, 12))
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    with torch.no_grad():
        expected = peft_model(**batch).logits
        base_only = peft_model.get_base_model()
        with peft_model.disable_adapter():
            unadapted = base_only(**batch).logits
    assert (expected - unadapted).abs().max() > 1e-3  # the adapters change the output

    save_hf_model(tmp_path / "hf_model", peft_model.get_base_model(), state_dict=merged_state_dict(peft_model))
    merged = load_hf_classifier(tmp_path / "hf_model").eval()
    with torch.no_grad():
        got = merged(**batch).logits
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)  # fp32: stated tolerance

    adapter_dir = save_adapter(tmp_path / "adapter", peft_model)
    assert (adapter_dir / "adapter_config.json").is_file() and (adapter_dir / "adapter_model.safetensors").is_file()
    from qc_engine.model import build_classifier

    reloaded = PeftModel.from_pretrained(build_classifier(tiny_model_dir, CLASSES, seed=5), str(adapter_dir)).eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**batch).logits, expected, atol=1e-5, rtol=1e-4)
    adapter_bytes = (adapter_dir / "adapter_model.safetensors").stat().st_size
    full_bytes = (tmp_path / "hf_model" / "model.safetensors").stat().st_size
    assert adapter_bytes < 0.5 * full_bytes, (adapter_bytes, full_bytes)


def test_bad_lora_input(tiny_model_dir):
    from qc_engine.errors import BadInput
    from qc_engine.lora import check_lora_config

    with pytest.raises(BadInput, match=r"model.lora.target_modules: 'qkv' matches no linear layer of the language model"):
        build(tiny_model_dir, {"target_modules": ["q_proj", "qkv"]})
    build(tiny_model_dir, {"target_modules": ["qkv"], "vision_tower": "lora"})  # qkv is a vision-tower name
    with pytest.raises(BadInput, match="model.lora.vision_tower: lora contradicts model.freeze_vision_tower: true"):
        check_lora_config(typed_config({"model": {"freeze_vision_tower": True,
                                                  "lora": {"enabled": True, "vision_tower": "lora"}}}).model)
    with pytest.raises(BadInput, match="has no model.language_model.layers.N linear layers"):
        from qc_engine.lora import apply_lora

        apply_lora(torch.nn.Sequential(torch.nn.Linear(2, 2)), lora_cfg().lora, "x")


def test_best_weights_of_a_slim_lora_checkpoint_come_from_its_adapter(tiny_model_dir, tmp_path):
    """eval_best_model_only after retention removed deepspeed/: the engine's peft model takes adapter/."""
    from types import SimpleNamespace

    from qc_engine.checkpoint import load_checkpoint_weights
    from qc_engine.lora import save_adapter

    peft_model = build(tiny_model_dir)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if ".lora_B." in name:
                param.add_(0.1)
    save_adapter(tmp_path / "checkpoint-3" / "adapter", peft_model)
    saved = {n: p.detach().clone() for n, p in peft_model.named_parameters() if p.requires_grad}
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if param.requires_grad:
                param.zero_()
    how = load_checkpoint_weights(SimpleNamespace(module=peft_model), tmp_path / "checkpoint-3", 3, 0, strict=False)
    assert how == "adapter"
    for name, param in peft_model.named_parameters():
        if name in saved:
            assert torch.equal(param, saved[name]), name


def test_base_model_folder_local_hub_cache_and_refusals(tmp_path, monkeypatch):
    """An adapter-only checkpoint's base: training_info's local folder, or its Hub commit in the cache (never
    downloaded); gone / not cached: BadInput naming it and the fix. No adapter/: the message names both folders."""
    import huggingface_hub.constants as hub_constants

    from qc_engine.errors import BadInput
    from qc_engine.lora import adapter_folder, base_model_folder, missing_weights_message

    ckpt = tmp_path / "run" / "checkpoint-4"
    (ckpt / "adapter").mkdir(parents=True)
    local = tmp_path / "base"
    local.mkdir()
    (local / "config.json").write_text("{}")
    info = {"lora": {"adapter_dir": "adapter", "base_model": str(local), "base_revision": None}}
    assert base_model_folder(ckpt, info) == local
    assert adapter_folder(ckpt, info) is None  # adapter_config.json + adapter_model.safetensors both needed
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        (ckpt / "adapter" / name).write_text("{}")
    assert adapter_folder(ckpt, info) == ckpt / "adapter"
    assert adapter_folder(ckpt, {"step": 4}) is None  # not a LoRA checkpoint

    gone = {"lora": {**info["lora"], "base_model": str(tmp_path / "moved")}}
    with pytest.raises(BadInput, match=rf"LoRA base model folder {tmp_path / 'moved'} \(.*lora.base_model\) does not "
                                       "exist; .*put that model folder back"):
        base_model_folder(ckpt, gone)

    commit = "a" * 40
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    hub = {"lora": {**info["lora"], "base_model": "Qwen/Qwen2.5-VL-7B-Instruct", "base_revision": commit}}
    with pytest.raises(BadInput, match=rf"Qwen/Qwen2.5-VL-7B-Instruct at commit {commit} .* not in the Hugging Face "
                                       rf"cache .*python -m qc_engine.hub_model --repo Qwen/Qwen2.5-VL-7B-Instruct "
                                       rf"--revision {commit}"):
        base_model_folder(ckpt, hub)
    snapshot = tmp_path / "hub" / "models--Qwen--Qwen2.5-VL-7B-Instruct" / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    assert base_model_folder(ckpt, hub) == snapshot

    message = missing_weights_message(ckpt, info)
    assert "needs hf_model/ or adapter/" in message and f"tasks/export.ts --checkpoint {ckpt} --merge" in message
    assert "export it first" in missing_weights_message(ckpt, {"step": 4})  # a deferred full fine-tune
