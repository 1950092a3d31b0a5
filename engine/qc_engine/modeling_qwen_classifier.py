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


def pool_packed(hidden: torch.Tensor, seq_lens: torch.Tensor, mode: str) -> torch.Tensor:
    """Pool a packed row [total, hidden] to [samples, hidden]; sample i owns the next seq_lens[i] positions.

    last_token: each sample's last position (cumsum - 1). mean: the mean over each sample's positions.
    Device ops only (output_size given), so no host sync.
    """
    lens = seq_lens.to(hidden.device)
    if mode == "last_token":
        return hidden[lens.cumsum(0) - 1]
    if mode == "mean":
        owner = torch.repeat_interleave(torch.arange(lens.shape[0], device=hidden.device), lens,
                                        output_size=hidden.shape[0])
        sums = torch.zeros(lens.shape[0], hidden.shape[1], dtype=hidden.dtype, device=hidden.device)
        return sums.index_add(0, owner, hidden) / lens.to(hidden.dtype).clamp(min=1).unsqueeze(-1)
    raise ValueError(f"unknown pooling {mode!r}; expected one of {POOLING_MODES}")


class RopeIndex:
    """Qwen2_5_VLModel's own get_rope_index (3-D mrope positions), callable without building a model.

    The method only reads config.vision_config and calls get_vision_position_ids, so the packed collate
    (data loader workers, CPU) borrows both functions from the model class instead of re-implementing them.
    """

    get_rope_index = Qwen2_5_VLModel.get_rope_index
    get_vision_position_ids = Qwen2_5_VLModel.get_vision_position_ids

    def __init__(self, config: Qwen2_5_VLConfig):
        self.config = config


def packed_position_ids(rope_index, input_ids: torch.Tensor, seq_lens: torch.Tensor,
                        image_grid_thw: torch.Tensor | None, image_token_id: int) -> torch.Tensor:
    """Position ids [4, 1, total] of a packed row input_ids [1, total] of len(seq_lens) samples.

    Rows 1-3: each sample's 3-D rope positions from `rope_index` (Qwen2_5_VLModel.get_rope_index or a RopeIndex)
    as if it were alone (the samples are laid out as a right-padded batch for one call; images are consumed in
    order, as they are concatenated), then concatenated. Row 0: text positions 0..len-1 per sample; transformers
    reads it (Qwen2_5_VLTextModel, with attention_mask None) to find the sample boundaries: sdpa/eager get a
    block-diagonal causal mask (masking_utils.find_packed_sequence_indices), flash_attention_2 the varlen kernel
    (_flash_attention_forward -> prepare_fa_kwargs_from_position_ids).
    """
    lens = [int(n) for n in seq_lens.tolist()]
    samples = torch.split(input_ids.reshape(-1), lens)
    ids = nn.utils.rnn.pad_sequence(samples, batch_first=True)
    mask = torch.arange(ids.shape[1], device=ids.device)[None, :] < torch.tensor(lens, device=ids.device)[:, None]
    positions, _ = rope_index.get_rope_index(ids, mm_token_type_ids=(ids == image_token_id).int(),
                                             image_grid_thw=image_grid_thw, attention_mask=mask.long())
    mrope = positions[:, mask].unsqueeze(1)  # [3, 1, total], sample order (row-major over the padded view)
    text = torch.cat([torch.arange(n, device=ids.device) for n in lens]).view(1, 1, -1)
    return torch.cat([text, mrope], dim=0)


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
        seq_lens: torch.LongTensor | None = None,
        position_ids: torch.LongTensor | None = None,
        **kwargs,
    ) -> QwenImageClassifierOutput:
        """A padded batch (input_ids/attention_mask [batch, seq]), or a packed one: input_ids [1, total] holding
        len(seq_lens) samples back to back, no attention_mask, position_ids [4, 1, total] as packed_position_ids
        makes them (computed here when absent). Logits [samples, num_labels] either way."""
        if seq_lens is not None:
            if attention_mask is not None:
                raise ValueError("a packed batch (seq_lens) takes no attention_mask: samples are told apart by "
                                 "position_ids")
            if position_ids is None:
                position_ids = packed_position_ids(self.model, input_ids, seq_lens, image_grid_thw,
                                                   self.config.image_token_id)
            outputs = self.model(input_ids=input_ids, position_ids=position_ids, pixel_values=pixel_values,
                                 image_grid_thw=image_grid_thw, use_cache=False)
            pooled = pool_packed(outputs.last_hidden_state[0], seq_lens, self.pooling)
        else:
            if attention_mask is None:
                attention_mask = torch.ones_like(input_ids)
            # mm_token_type_ids (image tokens = 1) is what makes transformers compute Qwen2.5-VL's 3-D rope
            # positions (get_rope_index), as its processor's output would; without it every token, image or
            # text, gets a plain 1-D position, unlike the model's pretraining.
            image_tokens = (input_ids == self.config.image_token_id).int()
            outputs = self.model(
                input_ids=input_ids,
                attention_mask=attention_mask,
                position_ids=position_ids,
                pixel_values=pixel_values,
                image_grid_thw=image_grid_thw,
                mm_token_type_ids=image_tokens,
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
