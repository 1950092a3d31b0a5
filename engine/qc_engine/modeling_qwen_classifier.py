"""Qwen2.5-VL image classifier: the Qwen2.5-VL backbone + pooling + a linear head.

This file is self-contained (it imports only torch and transformers) because it is copied into
every hf_model/ folder, so that
    AutoModelForImageClassification.from_pretrained(hf_model, trust_remote_code=True)
builds exactly the class the engine trained.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers.modeling_outputs import ModelOutput
from transformers.models.qwen2_5_vl.configuration_qwen2_5_vl import Qwen2_5_VLConfig
from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VLModel, Qwen2_5_VLPreTrainedModel

POOLING_MODES = ("last_token", "mean")
CLASS_NAME = "Qwen2_5_VLForImageClassification"


def _register_weight_layout() -> None:
    """Read (and write) weights in the original Qwen2.5-VL layout: visual.*, model.layers.*, plus score.*.

    The same renaming transformers applies to Qwen2_5_VLForConditionalGeneration, so a base
    Qwen2.5-VL folder loads straight into this class, and hf_model/ keeps the familiar key names.
    """
    # deferred: private transformers modules; this file also ships as remote code in hf_model/
    from transformers.conversion_mapping import register_checkpoint_conversion_mapping
    from transformers.core_model_loading import WeightRenaming

    register_checkpoint_conversion_mapping(
        CLASS_NAME,
        [
            WeightRenaming(source_patterns=r"^visual", target_patterns="model.visual"),
            WeightRenaming(source_patterns=r"^model(?!\.(language_model|visual))", target_patterns="model.language_model"),
        ],
        overwrite=True,
    )


_register_weight_layout()


@dataclass
class QwenImageClassifierOutput(ModelOutput):
    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    pooled: torch.Tensor | None = None


def pool_hidden_states(hidden: torch.Tensor, attention_mask: torch.Tensor, mode: str) -> torch.Tensor:
    """Pool [batch, seq, hidden] to [batch, hidden] using the attention mask (never pad ids).

    last_token: the last position whose mask is 1 (works for left and right padding).
    mean: the mean over positions whose mask is 1.
    """
    mask = attention_mask.to(hidden.device)
    if mode == "last_token":
        positions = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
        last = (positions * (mask > 0)).argmax(dim=1)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    if mode == "mean":
        weights = mask.to(hidden.dtype).unsqueeze(-1)
        return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
    raise ValueError(f"unknown pooling {mode!r}; expected one of {POOLING_MODES}")


class Qwen2_5_VLForImageClassification(Qwen2_5_VLPreTrainedModel):
    """Qwen2.5-VL backbone (vision tower + language model) with a classification head.

    Extra config fields: num_labels/id2label/label2id (standard), classifier_pooling.
    """

    config_class = Qwen2_5_VLConfig

    def __init__(self, config: Qwen2_5_VLConfig):
        super().__init__(config)
        self.model = Qwen2_5_VLModel(config)
        self.pooling = getattr(config, "classifier_pooling", "last_token")
        self.score = nn.Linear(config.text_config.hidden_size, config.num_labels)
        self.post_init()

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        pixel_values: torch.Tensor | None = None,
        image_grid_thw: torch.LongTensor | None = None,
        labels: torch.LongTensor | None = None,
        label_smoothing: float = 0.0,
        **kwargs,
    ) -> QwenImageClassifierOutput:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        outputs = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            pixel_values=pixel_values,
            image_grid_thw=image_grid_thw,
            use_cache=False,
        )
        pooled = pool_hidden_states(outputs.last_hidden_state, attention_mask, self.pooling)
        logits = self.score(pooled.to(self.score.weight.dtype))
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(
                logits.float(), labels.to(logits.device), label_smoothing=label_smoothing
            )
        return QwenImageClassifierOutput(loss=loss, logits=logits, pooled=pooled)
