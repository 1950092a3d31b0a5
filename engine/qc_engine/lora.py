"""LoRA through peft (model.lora): wrap the classifier, check the targets, save adapter/ and the merged weights.

    check_lora_config(model_cfg)              -> BadInput on contradictions (before any model is built)
    apply_lora(model, lora_cfg, base_name, gc)  -> peft.PeftModel: base frozen, adapters + score trainable
    merged_state_dict(peft_model, state)      -> the classifier's own key layout, adapters folded in
    save_adapter(folder, peft_model, state)   -> adapter/ in peft's format (adapters + modules_to_save)
    lora_info(lora_cfg, base_name, has_hf)    -> training_info.json's "lora" block
    adapter_folder(checkpoint, info)          -> checkpoint-N/adapter/ of a LoRA checkpoint, or None
    base_model_folder(checkpoint, info)       -> the run's base model (local folder or Hub cache snapshot); BadInput
    adapter_on_base(base, adapter, ...)       -> the base classifier with adapter/ loaded by peft (export merges it)
    AdapterModels                             -> evaluate/predict: the base read once, adapters swapped per checkpoint

Adapters go only on the language model's decoder layers by default: the vision tower has layers with the
same names (mlp.gate_proj, ...), so targets are a regex anchored at model.language_model.layers.N, and
model.visual.blocks.N is added only with vision_tower: lora.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from .errors import BadInput
from .model import build_classifier

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


# ==================================================================== inference from adapter/ (export, evaluate, predict)

def adapter_folder(checkpoint: Path, info: dict) -> Path | None:
    """adapter/ of a LoRA checkpoint (training_info.json "lora"), when its two peft files are there."""
    lora = info.get("lora") if isinstance(info, dict) else None
    if not isinstance(lora, dict):
        return None
    folder = Path(checkpoint) / str(lora.get("adapter_dir") or ADAPTER_DIR)
    ok = (folder / "adapter_config.json").is_file() and (folder / "adapter_model.safetensors").is_file()
    return folder if ok else None


def missing_weights_message(checkpoint: Path, info: dict) -> str:
    """Why a checkpoint without a loadable hf_model/ cannot be used for inference, and the fix."""
    lora = info.get("lora") if isinstance(info, dict) else None
    if isinstance(lora, dict):
        folder = Path(checkpoint) / str(lora.get("adapter_dir") or ADAPTER_DIR)
        return (f"{checkpoint}: a LoRA checkpoint needs hf_model/ or {folder.name}/ (adapter_config.json + "
                f"adapter_model.safetensors); both are missing (deepspeed/ holds only the adapters' training state). "
                f"Restore {folder} from a copy, or hf_model/ (bun run tasks/export.ts --checkpoint {checkpoint} --merge "
                "where adapter/ still exists)")
    return (f"{checkpoint}: no hf_model/ (a deferred or slim checkpoint); export it first: "
            f"bun run tasks/export.ts --checkpoint {checkpoint}")


def _looks_like_hub_id(name: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*", name)) and not Path(name).exists()


def base_model_folder(checkpoint: Path, info: dict) -> Path:
    """The folder of the base model an adapter-only checkpoint was trained on: training_info.json's
    lora.base_model when it is a local model folder, else (a Hub-id run: repo id + base_revision commit)
    that commit's snapshot in the Hugging Face cache. Never downloads; BadInput (exit 2) names it and the fix."""
    lora = info.get("lora") or {}
    name, commit = str(lora.get("base_model") or ""), lora.get("base_revision")
    where = f"{Path(checkpoint) / 'training_info.json'} lora.base_model"
    if not name:
        raise BadInput(f"{where} is empty: the checkpoint does not name its base model; use its hf_model/ instead "
                       f"(bun run tasks/export.ts --checkpoint {checkpoint} --merge on the machine that trained it)")
    if (Path(name) / "config.json").is_file():
        return Path(name)
    if _looks_like_hub_id(name) and commit:
        from huggingface_hub import snapshot_download  # deferred: only Hub-id runs need it

        try:
            return Path(snapshot_download(name, revision=str(commit), local_files_only=True))
        except Exception:  # noqa: BLE001 - LocalEntryNotFoundError and kin: not in this machine's cache
            raise BadInput(f"{checkpoint}: its LoRA base model {name} at commit {commit} ({where}) is not in the "
                           "Hugging Face cache (HF_HOME / HF_HUB_CACHE); download it first: "
                           f"python -m qc_engine.hub_model --repo {name} --revision {commit}") from None
    what = "does not exist" if not Path(name).exists() else "has no config.json"
    raise BadInput(f"{checkpoint}: the LoRA base model folder {name} ({where}) {what}; the adapter only works on "
                   "the base it was trained on: put that model folder back at this path (or merge where it "
                   f"exists: bun run tasks/export.ts --checkpoint {checkpoint} --merge)")


def adapter_on_base(base: Path, adapter: Path, class_names: list[str], pooling: str, precision: str = "fp32",
                    adapter_name: str = ADAPTER_NAME):
    """The classifier built on `base` with adapter/ loaded by peft (adapters + the trained head), in eval mode.
    export merges it (merged_state_dict); evaluate and predict run it as it is (AdapterModels)."""
    from peft import PeftModel

    model = build_classifier(base, class_names, pooling=pooling, precision=precision)
    return PeftModel.from_pretrained(model, str(adapter), adapter_name=adapter_name).eval()


class AdapterModels:
    """Adapter-only checkpoints for inference (evaluate, its sweep, predict): the base model is read ONCE and
    each checkpoint's adapter/ is swapped in with peft (load_adapter, set_adapter, delete_adapter).

    Why swap: Qwen2.5-VL-7B's base is 8.3B parameters = 15.5 GB of bf16 weights to read and move to the GPU per
    checkpoint (~8 s at 2 GB/s from a local NVMe, minutes from a network file system); its r=16 adapter on the
    7 language targets x 28 layers is 16 x 90,112 x 28 = 40M parameters (160 MB in fp32) plus the head. A sweep
    of 20 checkpoints reads 15.5 GB + 20 x 0.16 GB instead of 20 x 15.5 GB = 310 GB.
    Why not merged into the base: the next checkpoint needs the base back, and merge + unmerge in bf16 rounds
    every adapted weight twice (the error grows over a sweep); a merged copy beside it would double the memory.
    peft's forward adds the adapter on the fly, base(x) + s B(A(x)) as in training, for r(in + out) extra
    multiply-adds per adapted linear: 16 x (3584 + 18944) / (3584 x 18944) = 0.5% of an MLP projection.
    Logits equal the merged hf_model/'s within float rounding (engine/tests/test_lora_train.py)."""

    def __init__(self, class_names: list[str], pooling: str, precision: str, device):
        self.class_names, self.pooling, self.precision, self.device = class_names, pooling, precision, device
        self.model, self.base, self.active, self.loads = None, None, None, 0

    def load(self, base: Path, adapter: Path):
        name = f"checkpoint{self.loads}"  # a fresh name per load: peft refuses to load over an existing one
        self.loads += 1
        if self.model is None or self.base != base:
            self.model = None  # drop a previous base before reading the next one
            self.model = adapter_on_base(base, adapter, self.class_names, self.pooling, self.precision,
                                         adapter_name=name).to(self.device)
            self.base = base
        else:
            self.model.load_adapter(str(adapter), adapter_name=name)  # placed on the base layers' device
            self.model.set_adapter(name)
            self.model.delete_adapter(self.active)
        self.active = name
        return self.model.eval()
