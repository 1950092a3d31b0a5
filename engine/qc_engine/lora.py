"""LoRA through peft (model.lora): wrap the classifier, check the targets, save adapter/ and the merged weights.

    check_lora_config(model_cfg)              -> BadInput on contradictions (before any model is built)
    apply_lora(model, lora_cfg, base_name, gc)  -> peft.PeftModel: base frozen, adapters + score trainable
    merged_state_dict(peft_model, state)      -> the classifier's own key layout, adapters folded in
    save_adapter(folder, peft_model, state)   -> adapter/ in peft's format (adapters + modules_to_save)
    lora_info(lora_cfg, base_name, has_hf)    -> training_info.json's "lora" block

Adapters go only on the language model's decoder layers by default: the vision tower has layers with the
same names (mlp.gate_proj, ...), so targets are a regex anchored at model.language_model.layers.N, and
model.visual.blocks.N is added only with vision_tower: lora.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from .errors import BadInput

ADAPTER_DIR = "adapter"
ADAPTER_NAME = "default"  # peft's name for the only adapter
LANGUAGE_PREFIX = r"model\.language_model\.layers\.\d+\."
VISION_PREFIX = r"model\.visual\.blocks\.\d+\."


class LoraError(BadInput):
    """model.lora does not fit the model or the rest of the config (bad input: exit code 2)."""


def check_lora_config(model_cfg) -> None:
    """Contradictions the config alone shows."""
    lora = model_cfg.lora
    if lora.enabled and lora.vision_tower != "frozen" and model_cfg.freeze_vision_tower:
        raise LoraError(f"model.lora.vision_tower: {lora.vision_tower} contradicts model.freeze_vision_tower: true; "
                        "set one of them (vision_tower: frozen, or freeze_vision_tower: false)")


def _prefixes(lora_cfg) -> list[str]:
    return [LANGUAGE_PREFIX] + ([VISION_PREFIX] if lora_cfg.vision_tower == "lora" else [])


def target_regex(lora_cfg) -> str:
    """peft full-matches a string target_modules against each module name."""
    names = "|".join(re.escape(n) for n in lora_cfg.target_modules)
    prefixes = "|".join(_prefixes(lora_cfg))
    return rf"(?:{prefixes})(?:.*\.)?(?:{names})"


def check_targets(model: torch.nn.Module, lora_cfg) -> None:
    """Every target_modules entry must name a linear layer where adapters may go (the engine's double check)."""
    linears = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    allowed = [n for n in linears if any(re.match(p, n) for p in _prefixes(lora_cfg))]
    if not allowed:
        raise LoraError("model.lora: the model has no model.language_model.layers.N linear layers; "
                        "is model.pretrained_name a Qwen2.5-VL checkpoint?")
    known = sorted({n.rsplit(".", 1)[-1] for n in allowed})
    for name in lora_cfg.target_modules:
        if not any(n == name or n.endswith("." + name) for n in allowed):
            raise LoraError(f"model.lora.target_modules: {name!r} matches no linear layer of the "
                            f"{'language model or vision tower' if lora_cfg.vision_tower == 'lora' else 'language model'}; "
                            f"known names: {', '.join(known)}")


def apply_lora(model: torch.nn.Module, lora_cfg, base_name: str, gradient_checkpointing: bool = False):
    """Freeze the base, add adapters on the targets; the head (and a fully trained vision tower) is saved whole."""
    from peft import LoraConfig, get_peft_model

    check_targets(model, lora_cfg)
    modules_to_save = ["score"] + (["visual"] if lora_cfg.vision_tower == "full" else [])
    config = LoraConfig(r=int(lora_cfg.r), lora_alpha=float(lora_cfg.alpha), lora_dropout=float(lora_cfg.dropout),
                        target_modules=target_regex(lora_cfg), modules_to_save=modules_to_save, bias="none")
    config.base_model_name_or_path = str(base_name)
    peft_model = get_peft_model(model, config)
    if gradient_checkpointing:
        # the frozen embeddings give no grad-requiring input; checkpointed blocks still need one
        peft_model.enable_input_require_grads()
    return peft_model


def _base_key(key: str) -> str | None:
    """peft's parameter name -> the classifier's; None for adapter weights and the head's frozen original."""
    if ".lora_" in key or ".original_module." in key:
        return None
    return (key.replace("base_model.model.", "", 1) if key.startswith("base_model.model.") else key) \
        .replace(".base_layer.", ".").replace(f".modules_to_save.{ADAPTER_NAME}.", ".")


def merged_state_dict(peft_model, state: dict | None = None) -> dict[str, torch.Tensor]:
    """The merged classifier's weights (base + scale * B @ A per adapted layer) without touching the model:
    merging in place and back would round a bf16 base twice. `state` overrides the model's own state_dict
    (e.g. gathered from ZeRO-3 shards; the adapters' deltas are then taken from the same gathered tensors)."""
    from peft.tuners.lora import LoraLayer

    state = state if state is not None else peft_model.state_dict()
    out = {}
    for key, value in state.items():
        name = _base_key(key)
        if name is not None:
            out[name] = value.detach()
    with torch.no_grad():
        for module_name, module in peft_model.get_base_model().named_modules():
            if not isinstance(module, LoraLayer) or ADAPTER_NAME not in module.lora_A:
                continue
            weight_key = f"{module_name}.weight"
            a = state.get(f"base_model.model.{module_name}.lora_A.{ADAPTER_NAME}.weight")
            b = state.get(f"base_model.model.{module_name}.lora_B.{ADAPTER_NAME}.weight")
            if a is not None and b is not None:  # from the given state: works for gathered ZeRO-3 weights too
                delta = (b.float() @ a.float()) * module.scaling[ADAPTER_NAME]
            else:
                delta = module.get_delta_weight(ADAPTER_NAME).float()
            out[weight_key] = (out[weight_key].float() + delta).to(out[weight_key].dtype)
    return out


def save_adapter(folder: Path, peft_model, state: dict | None = None) -> Path:
    """adapter/: adapter_config.json + adapter_model.safetensors (adapters and the head), peft's own format."""
    folder = Path(folder)
    peft_model.save_pretrained(str(folder), state_dict=state, safe_serialization=True)
    return folder


def lora_info(lora_cfg, base_name: str, has_hf_model: bool, base_revision: str | None) -> dict:
    return {"r": int(lora_cfg.r), "alpha": float(lora_cfg.alpha), "dropout": float(lora_cfg.dropout),
            "target_modules": list(lora_cfg.target_modules), "vision_tower": lora_cfg.vision_tower,
            "adapter_dir": ADAPTER_DIR, "hf_model": "merged" if has_hf_model else "absent",
            "base_model": str(base_name), "base_revision": base_revision}


def trainable_names(model: torch.nn.Module) -> list[str]:
    return [n for n, p in model.named_parameters() if p.requires_grad]
