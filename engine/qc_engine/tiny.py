"""A tiny, randomly initialised Qwen2.5-VL with an offline tokenizer and the real image processor.

Everything is written with save_pretrained, so the engine loads it through the same
from_pretrained path as a real Qwen2.5-VL-7B-Instruct folder.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
# Plain words of the fixed prompts; anything else becomes [UNK] (the tiny model only needs the image).
BASE_WORDS = "system you are a helpful assistant. user assistant what is shown in this image? the".split()

TINY_DEFAULTS = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    vision_depth=2,
    vision_hidden_size=64,
    vision_intermediate_size=128,
    vision_num_heads=4,
    min_pixels=56 * 56,
    max_pixels=56 * 56,
)


def build_tokenizer(extra_words: list[str] | None = None):
    """A WordLevel tokenizer (tokenizers library) carrying the Qwen special tokens."""
    vocab: dict[str, int] = {}
    for token in SPECIAL_TOKENS + ["[UNK]"] + BASE_WORDS + list(extra_words or []):
        vocab.setdefault(token, len(vocab))
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.add_special_tokens(SPECIAL_TOKENS)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token="[UNK]",
        padding_side="right",
    )
    return tokenizer


def build_tiny_config(tokenizer, **overrides):
    p = {**TINY_DEFAULTS, **overrides}
    head_dim = p["hidden_size"] // p["num_attention_heads"]
    # mrope_section (temporal, height, width) must sum to head_dim / 2.
    half = head_dim // 2
    mrope = [half - 2 * (half // 4), half // 4, half // 4]
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    return Qwen2_5_VLConfig(
        text_config=dict(
            vocab_size=len(tokenizer),
            hidden_size=p["hidden_size"],
            intermediate_size=p["intermediate_size"],
            num_hidden_layers=p["num_hidden_layers"],
            num_attention_heads=p["num_attention_heads"],
            num_key_value_heads=p["num_key_value_heads"],
            max_position_embeddings=1024,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": mrope},
            bos_token_id=ids["<|endoftext|>"],
            eos_token_id=ids["<|im_end|>"],
            pad_token_id=ids["<|endoftext|>"],
        ),
        vision_config=dict(
            depth=p["vision_depth"],
            hidden_size=p["vision_hidden_size"],
            intermediate_size=p["vision_intermediate_size"],
            num_heads=p["vision_num_heads"],
            out_hidden_size=p["hidden_size"],
            fullatt_block_indexes=[p["vision_depth"] - 1],
            window_size=112,
            patch_size=14,
            spatial_merge_size=2,
            temporal_patch_size=2,
        ),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )


def build_tiny_model(path: str | Path, seed: int = 0, **overrides) -> Path:
    """Write a tiny Qwen2.5-VL (weights, config, tokenizer, image processor) to `path`, atomically."""
    path = Path(path)
    p = {**TINY_DEFAULTS, **overrides}
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        tokenizer = build_tokenizer()
        config = build_tiny_config(tokenizer, **overrides)
        torch.manual_seed(seed)
        model = Qwen2_5_VLForConditionalGeneration(config)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        Qwen2VLImageProcessorPil(min_pixels=p["min_pixels"], max_pixels=p["max_pixels"]).save_pretrained(tmp)
        try:
            os.replace(tmp, path)
        except OSError:
            if not (path / "config.json").is_file():
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # a concurrent builder finished first: keep theirs
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path
