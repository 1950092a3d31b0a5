"""Benchmark-only: train a randomly initialised Qwen2.5-VL built from a configuration (no weights).

    python -m qc_engine.random_init write --out DIR --config CONFIG.json [--min-pixels P --max-pixels P]
    torchrun ... -m qc_engine.random_init train --resolved R --ds-config D [--no-save]

A 7B benchmark cannot download weights, and writing 16 GB of random weights only to read them back
costs minutes. `write` makes a model folder that holds config.json (the given dimensions, token ids
of the offline tokenizer of tiny.py), that tokenizer, the real image processor and a marker file,
`qc_random_init.json`, but no weights. `train` runs qc_engine.train unchanged except for two things:
- a folder with the marker is built from its config with random weights (seeded), directly on this
  rank's GPU (or inside deepspeed.zero.Init under ZeRO-3), in the run's dtype; any other folder
  loads as usual;
- with --no-save, DeepSpeed's save_checkpoint writes nothing (a 7B checkpoint with optimizer state is
  ~90 GB and its write would dominate a 20-step benchmark); the checkpoint folder and its
  training_info.json are still written, so the run completes as usual.
The attention implementation is $QC_ATTN_IMPLEMENTATION when set, else model.attn_implementation as
train.py resolved it (qc_engine.attention).
Never used by tasks/train.ts: bench/gpu_smoke.sh starts it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

MARKER = "qc_random_init.json"


def write_folder(out: str | Path, config_dict: dict, min_pixels: int, max_pixels: int) -> Path:
    """config.json + tokenizer + image processor + marker; no weights."""
    from transformers import Qwen2_5_VLConfig
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from .tiny import SPECIAL_TOKENS, build_tokenizer

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer()
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    values = {k: v for k, v in config_dict.items() if not k.startswith("_")}
    values.update(image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
                  vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
                  bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"])
    config = Qwen2_5_VLConfig(**values)
    config.text_config.pad_token_id = ids["<|endoftext|>"]
    config.save_pretrained(out)
    tokenizer.save_pretrained(out)
    Qwen2VLImageProcessorPil(min_pixels=min_pixels, max_pixels=max_pixels).save_pretrained(out)
    (out / MARKER).write_text(json.dumps({"random_init": True, "source": config_dict.get("_source", "")}) + "\n")
    return out


def is_random_init_folder(path: str | Path) -> bool:
    return (Path(path) / MARKER).is_file()


def attn_implementation_override() -> str | None:
    """$QC_ATTN_IMPLEMENTATION forces a kernel for a benchmark (else the resolved model.attn_implementation)."""
    return os.environ.get("QC_ATTN_IMPLEMENTATION") or None


def build_random_classifier(pretrained, class_names, pooling="last_token", freeze_vision_tower=False,
                            precision="fp32", trust_remote_code=False, gradient_checkpointing=False, seed=None,
                            attn_implementation=None):
    """model.build_classifier's signature and result, with random weights built on this rank's device."""
    import torch
    from transformers import AutoConfig
    from transformers.integrations import is_deepspeed_zero3_enabled

    from .model import finish_classifier, torch_dtype_for
    from .modeling_qwen_classifier import Qwen2_5_VLForImageClassification

    if seed is not None:
        torch.manual_seed(seed)
    config = AutoConfig.from_pretrained(str(pretrained))
    config.id2label = {i: name for i, name in enumerate(class_names)}
    config.label2id = {name: i for i, name in enumerate(class_names)}
    config.classifier_pooling = pooling
    kwargs = {"dtype": torch_dtype_for(precision)}
    chosen = attn_implementation_override() or attn_implementation
    if chosen:
        kwargs["attn_implementation"] = chosen
    on_gpu = torch.cuda.is_available() and os.environ.get("DS_ACCELERATOR", "") != "cpu"
    if on_gpu and not is_deepspeed_zero3_enabled():
        # Initialising 7B parameters on the CPU takes minutes; on the GPU, seconds.
        with torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0"))):
            model = Qwen2_5_VLForImageClassification._from_config(config, **kwargs)
    else:  # ZeRO-3: transformers wraps the construction in deepspeed.zero.Init (sharded from the start)
        model = Qwen2_5_VLForImageClassification._from_config(config, **kwargs)
    return finish_classifier(model, freeze_vision_tower, gradient_checkpointing)


def install(no_save: bool) -> None:
    """Route marked folders to random init; with no_save, make DeepSpeed's checkpoint write a no-op."""
    from . import model as qmodel

    original = qmodel.build_classifier

    def build(pretrained, *args, **kwargs):
        fn = build_random_classifier if is_random_init_folder(pretrained) else original
        return fn(pretrained, *args, **kwargs)

    qmodel.build_classifier = build  # train.py imports it from qc_engine.model when the run starts
    if no_save:
        from deepspeed.runtime.engine import DeepSpeedEngine

        def skip_save(self, save_dir, tag=None, **kwargs):
            folder = Path(save_dir) / str(tag)
            folder.mkdir(parents=True, exist_ok=True)  # train.py writes this rank's RNG file here
            (folder / "SKIPPED_BY_BENCHMARK").write_text("qc_engine.random_init --no-save: DeepSpeed state not written\n")
            return True

        DeepSpeedEngine.save_checkpoint = skip_save


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qc_engine.random_init", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("write", help="write a model folder without weights (config, tokenizer, processor, marker)")
    w.add_argument("--out", required=True)
    w.add_argument("--config", required=True, help="a Qwen2.5-VL config.json (e.g. bench/qwen2_5_vl_7b_config.json)")
    w.add_argument("--min-pixels", type=int, default=3136)
    w.add_argument("--max-pixels", type=int, default=200704)
    w.add_argument("--set", action="append", default=[], metavar="KEY=INT",
                   help="override a top-level or vision_config.* integer (e.g. num_hidden_layers=20)")
    t = sub.add_parser("train", help="qc_engine.train with random-init folders (and --no-save)")
    t.add_argument("--no-save", action="store_true")
    args, rest = parser.parse_known_args(argv)
    if args.command == "write":
        config = json.loads(Path(args.config).read_text())
        for item in args.set:
            key, _, value = item.partition("=")
            target = config
            if key.startswith("vision_config."):
                target, key = config["vision_config"], key.split(".", 1)[1]
            target[key] = int(value)
        print(write_folder(args.out, config, args.min_pixels, args.max_pixels))
        return 0
    install(args.no_save)
    from .train import main as train_main

    return train_main(rest)


if __name__ == "__main__":
    sys.exit(main())
