"""Model loading and saving: the classifier built on a Qwen2.5-VL folder, and hf_model/ export.

Reused by training, evaluation and export:
    load_processing(path, min_pixels, max_pixels) -> (tokenizer, image_processor)
    build_classifier(...)                          -> Qwen2_5_VLForImageClassification
    save_hf_model(out_dir, model=..., state_dict=..., tokenizer=..., image_processor=...)
    load_hf_classifier(path)                       -> the classifier, via AutoModelForImageClassification
"""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file
from transformers import AutoConfig, AutoImageProcessor, AutoModelForImageClassification, AutoTokenizer
from transformers.utils import logging as hf_logging

from .errors import BadInput
from .modeling_qwen_classifier import Qwen2_5_VLForImageClassification

MODELING_FILE = Path(__file__).with_name("modeling_qwen_classifier.py")
AUTO_MAP = {"AutoModelForImageClassification": "modeling_qwen_classifier.Qwen2_5_VLForImageClassification"}
# Processor files of the source folder that tokenizer/image-processor save_pretrained do not write.
EXTRA_PROCESSOR_FILES = ("chat_template.json", "chat_template.jinja", "processor_config.json", "video_preprocessor_config.json")


class ModelFolderError(BadInput):
    """The model folder is missing or unusable (bad input: exit code 2)."""


def check_model_folder(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_dir():
        raise ModelFolderError(
            f"model.pretrained_name: folder {path} does not exist; point it at a local Qwen2.5-VL folder "
            "(or set demo.build_tiny_model: true to build a tiny one there)"
        )
    if not (path / "config.json").is_file():
        raise ModelFolderError(f"model.pretrained_name: {path} has no config.json; is it a Hugging Face model folder?")
    return path


def load_processing(path: str | Path, min_pixels: int | None = None, max_pixels: int | None = None,
                    trust_remote_code: bool = False):
    """The model's own tokenizer and image processor, with the configured pixel bounds."""
    kwargs = {}
    if min_pixels is not None:
        kwargs["min_pixels"] = int(min_pixels)
    if max_pixels is not None:
        kwargs["max_pixels"] = int(max_pixels)
    tokenizer = AutoTokenizer.from_pretrained(str(path), trust_remote_code=trust_remote_code)
    tokenizer.padding_side = "right"
    image_processor = AutoImageProcessor.from_pretrained(str(path), trust_remote_code=trust_remote_code, **kwargs)
    return tokenizer, image_processor


def torch_dtype_for(precision: str) -> torch.dtype:
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)


def _quiet_load_report():
    """transformers prints a load report for every from_pretrained; the expected one (lm_head unused,
    score new) is noise. Real problems (missing backbone weights) are raised by build_classifier."""
    @contextlib.contextmanager
    def quiet():
        previous = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()
        try:
            yield
        finally:
            hf_logging.set_verbosity(previous)

    return quiet()


def hub_snapshot_source(path: str | Path) -> dict | None:
    """{"repo_id", "commit"} when `path` is a huggingface_hub cache snapshot (.../models--NS--NAME/snapshots/COMMIT)."""
    path = Path(path).resolve()
    repo_dir = path.parent.parent.name
    if path.parent.name != "snapshots" or not repo_dir.startswith("models--") or "--" not in repo_dir[8:]:
        return None
    namespace, name = repo_dir[8:].split("--", 1)
    return {"repo_id": f"{namespace}/{name}", "commit": path.name}


def build_classifier(
    pretrained: str | Path,
    class_names: list[str],
    pooling: str = "last_token",
    freeze_vision_tower: bool = False,
    precision: str = "fp32",
    trust_remote_code: bool = False,
    gradient_checkpointing: bool = False,
    seed: int | None = None,
    attn_implementation: str | None = None,
) -> Qwen2_5_VLForImageClassification:
    """Qwen2.5-VL weights from `pretrained` + a freshly initialised (seeded) linear head.
    `attn_implementation`: as resolved by attention.resolve_attn_implementation (None: transformers' default)."""
    check_model_folder(pretrained)
    if seed is not None:
        torch.manual_seed(seed)

    config = AutoConfig.from_pretrained(str(pretrained), trust_remote_code=trust_remote_code)
    config.id2label = {i: name for i, name in enumerate(class_names)}
    config.label2id = {name: i for i, name in enumerate(class_names)}
    config.classifier_pooling = pooling
    base = hub_snapshot_source(pretrained)
    if base:  # hf_model/config.json records where the backbone came from (a Hub-id run loads a cache snapshot)
        config.qc_base_model = base
    with _quiet_load_report():
        model, loading = Qwen2_5_VLForImageClassification.from_pretrained(
            str(pretrained), config=config, dtype=torch_dtype_for(precision), trust_remote_code=trust_remote_code,
            output_loading_info=True,
            **({"attn_implementation": attn_implementation} if attn_implementation else {}),
        )
    missing = sorted(k for k in loading.get("missing_keys", []) if not k.startswith("score."))
    if missing:
        raise ModelFolderError(
            f"model.pretrained_name: {pretrained} lacks {len(missing)} Qwen2.5-VL backbone weight(s), e.g. "
            f"{', '.join(missing[:3])}; is it a Qwen2.5-VL checkpoint?"
        )
    return finish_classifier(model, freeze_vision_tower, gradient_checkpointing)


def finish_classifier(model, freeze_vision_tower: bool, gradient_checkpointing: bool):
    """What every freshly built classifier gets, loaded or random (random_init.py): the class that
    hf_model/ loads with, the frozen vision tower, non-reentrant gradient checkpointing."""
    model.config.architectures = [Qwen2_5_VLForImageClassification.__name__]
    model.config.auto_map = dict(AUTO_MAP)
    if freeze_vision_tower:
        model.model.visual.requires_grad_(False)
    if gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return model


def save_hf_model(
    out_dir: str | Path,
    model: torch.nn.Module,
    tokenizer=None,
    image_processor=None,
    state_dict: dict | None = None,
    source_dir: str | Path | None = None,
    max_shard_size: int | str | None = None,
) -> Path:
    """Write hf_model/: config.json (id2label, auto_map), model.safetensors, modeling file, processor files.

    `state_dict` overrides the model's own (e.g. gathered from ZeRO-3 shards); `model` gives the config.
    `max_shard_size` (bytes or "5GB"): larger weights are split into model-0000i-of-0000n.safetensors
    + model.safetensors.index.json; None keeps save_pretrained's default.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.config.auto_map = dict(AUTO_MAP)
    model.config.architectures = [Qwen2_5_VLForImageClassification.__name__]
    shard = {} if max_shard_size is None else {"max_shard_size": max_shard_size}
    model.save_pretrained(out_dir, state_dict=state_dict, safe_serialization=True, **shard)
    shutil.copyfile(MODELING_FILE, out_dir / MODELING_FILE.name)
    if tokenizer is not None:
        tokenizer.save_pretrained(out_dir)
    if image_processor is not None:
        image_processor.save_pretrained(out_dir)
    if source_dir is not None:
        for name in EXTRA_PROCESSOR_FILES:
            src = Path(source_dir) / name
            if src.is_file() and not (out_dir / name).exists():
                shutil.copyfile(src, out_dir / name)
    # generation_config.json is meaningless for a classifier.
    (out_dir / "generation_config.json").unlink(missing_ok=True)
    return out_dir


def load_hf_classifier(path: str | Path, dtype: torch.dtype | None = torch.float32):
    """Load an hf_model/ folder the way a user would: AutoModelForImageClassification + remote code."""
    return AutoModelForImageClassification.from_pretrained(str(path), trust_remote_code=True, dtype=dtype)


def load_state_dict_file(hf_dir: str | Path) -> dict[str, torch.Tensor]:
    """Weights of an hf_model/ folder as saved (checkpoint key names)."""
    hf_dir = Path(hf_dir)
    index = hf_dir / "model.safetensors.index.json"
    if index.is_file():
        state = {}
        for shard in sorted(set(json.loads(index.read_text())["weight_map"].values())):
            state.update(load_file(str(hf_dir / shard)))
        return state
    return load_file(str(hf_dir / "model.safetensors"))
