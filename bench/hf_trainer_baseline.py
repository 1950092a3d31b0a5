"""The baseline of bench/e2e_vs_trainer.ts: what a user writes with transformers.Trainer + DeepSpeed.

    python -m torch.distributed.run --standalone --nproc-per-node 1 bench/hf_trainer_baseline.py \
        --resolved R.json --ds-config ds_config.json --output-dir OUT [--timings OUT/timings.json]

The same model class as the engine (engine/qc_engine/modeling_qwen_classifier.py), loaded from the same
model folder; the same JSONL + image files read from disk; the hyperparameters, the number of samples,
the save schedule and the DeepSpeed config are taken from the engine's own resolved config and
ds_config.json (so both sides train the same thing), evaluation off. The data path is the usual
user's one: a torch Dataset that opens the image and runs the model's image processor and tokenizer
on that one sample, and a collator that pads the token ids and concatenates the pixel patches.

--timings writes {"step_end_times": [...], "save_steps": [...], "losses": {step: loss}, "final_loss", ...}
(unix seconds at each optimizer step's end, on rank 0) for the steady-state samples/s.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

T_PROCESS_START = time.time()
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "engine"))  # the model class; nothing else of the engine is used

PROMPT_TEMPLATE = ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                   "<|im_start|>user\n<|vision_start|>{image_pads}<|vision_end|>{prompt}<|im_end|>\n"
                   "<|im_start|>assistant\n")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--resolved", required=True, help="the engine's resolved_config.json (hyperparameters, paths)")
    p.add_argument("--ds-config", required=True, help="the engine's ds_config.json, passed as TrainingArguments.deepspeed")
    p.add_argument("--output-dir", required=True)
    p.add_argument("--timings", default=None)
    return p.parse_args(argv)


class JsonlImageDataset:
    """One sample = one image opened and preprocessed on its own (image processor + tokenizer)."""

    def __init__(self, jsonl: str, tokenizer, image_processor, prompt: str):
        base = Path(jsonl).parent
        self.rows = [json.loads(line) for line in Path(jsonl).read_text().splitlines() if line.strip()]
        for row in self.rows:
            row["image"] = str(base / row["image"]) if not os.path.isabs(row["image"]) else row["image"]
        self.tokenizer, self.image_processor, self.prompt = tokenizer, image_processor, prompt
        self.merge = int(getattr(image_processor, "merge_size", 2)) ** 2

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        from PIL import Image

        row = self.rows[i]
        with Image.open(row["image"]) as img:
            image = img.convert("RGB")
        vision = self.image_processor(images=[image], return_tensors="pt")
        n_tokens = int(vision["image_grid_thw"][0].prod().item()) // self.merge
        text = PROMPT_TEMPLATE.format(image_pads="<|image_pad|>" * n_tokens, prompt=self.prompt)
        ids = self.tokenizer(text, return_tensors="pt")["input_ids"][0]
        return {"input_ids": ids, "pixel_values": vision["pixel_values"], "image_grid_thw": vision["image_grid_thw"],
                "labels": int(row["label"])}


def collate(pad_id: int):
    import torch

    def fn(items):
        longest = max(len(it["input_ids"]) for it in items)
        ids = torch.full((len(items), longest), pad_id, dtype=torch.long)
        mask = torch.zeros((len(items), longest), dtype=torch.long)
        for row, it in enumerate(items):  # right padding, as the tokenizer's padding_side
            ids[row, : len(it["input_ids"])] = it["input_ids"]
            mask[row, : len(it["input_ids"])] = 1
        return {"input_ids": ids, "attention_mask": mask,
                "pixel_values": torch.cat([it["pixel_values"] for it in items]),
                "image_grid_thw": torch.cat([it["image_grid_thw"] for it in items]),
                "labels": torch.tensor([it["labels"] for it in items], dtype=torch.long)}

    return fn


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch
    from transformers import (AutoConfig, AutoImageProcessor, AutoTokenizer, Trainer, TrainerCallback, TrainingArguments,
                              set_seed)

    from qc_engine.modeling_qwen_classifier import Qwen2_5_VLForImageClassification

    config = json.loads(Path(args.resolved).read_text())["config"]
    ds_config = json.loads(Path(args.ds_config).read_text())
    model_cfg, data_cfg, train_cfg = config["model"], config["data"], config["training"]
    bf16 = bool((ds_config.get("bf16") or {}).get("enabled"))
    fp16 = bool((ds_config.get("fp16") or {}).get("enabled"))
    use_cpu = os.environ.get("DS_ACCELERATOR") == "cpu" or not torch.cuda.is_available()

    path = model_cfg["pretrained_name"]
    tokenizer = AutoTokenizer.from_pretrained(path)
    image_processor = AutoImageProcessor.from_pretrained(
        path, min_pixels=int(data_cfg["image_min_pixels"]), max_pixels=int(data_cfg["image_max_pixels"]))
    num_labels = int(model_cfg["num_labels"])
    hf_config = AutoConfig.from_pretrained(path)
    hf_config.id2label = {i: str(i) for i in range(num_labels)}
    hf_config.label2id = {str(i): i for i in range(num_labels)}
    hf_config.classifier_pooling = model_cfg.get("pooling", "last_token")

    training_args = TrainingArguments(
        output_dir=args.output_dir,
        per_device_train_batch_size=int(train_cfg["per_device_batch_size"]),
        gradient_accumulation_steps=int(train_cfg["gradient_accumulation_steps"]),
        learning_rate=float(train_cfg["lr"]),
        weight_decay=float(train_cfg["weight_decay"]),
        warmup_steps=int(train_cfg["warmup_steps"]),
        lr_scheduler_type=train_cfg["lr_scheduler"] if train_cfg["lr_scheduler"] != "constant" else "constant_with_warmup",
        max_grad_norm=float(train_cfg["max_grad_norm"]),
        num_train_epochs=float(train_cfg["epochs"]),
        max_steps=int(train_cfg.get("max_steps") or 0) or -1,
        optim="adamw_torch",  # the engine's optimizer (torch AdamW)
        bf16=bf16, fp16=fp16, use_cpu=use_cpu,
        eval_strategy="no",
        save_strategy="steps", save_steps=int(train_cfg["save_steps"]),
        logging_strategy="steps", logging_steps=int(train_cfg["logging_steps"]),
        seed=int(train_cfg["seed"]),
        dataloader_num_workers=int(data_cfg.get("num_workers", 0)),
        dataloader_drop_last=True,  # as the engine's sampler
        remove_unused_columns=False,
        report_to="none", disable_tqdm=True,
        deepspeed=args.ds_config,
        **({"gradient_checkpointing": True} if train_cfg.get("gradient_checkpointing") else {}),
    )
    # After TrainingArguments (which sets up the DeepSpeed config): under ZeRO-3 from_pretrained
    # then builds the model sharded, as a user's script would. Seeded first (the new head's weights).
    set_seed(int(train_cfg["seed"]))
    model = Qwen2_5_VLForImageClassification.from_pretrained(path, config=hf_config,
                                                             dtype=torch.bfloat16 if bf16 else torch.float32)
    dataset = JsonlImageDataset(data_cfg["train_jsonl"], tokenizer, image_processor, data_cfg.get("prompt", ""))

    timings = {"step_end_times": [], "losses": {}, "process_start": T_PROCESS_START}

    class Timing(TrainerCallback):
        def on_step_end(self, a, state, control, **kw):
            timings["step_end_times"].append(time.time())

        def on_log(self, a, state, control, logs=None, **kw):
            if logs and "loss" in logs:
                timings["losses"][str(state.global_step)] = float(logs["loss"])

    trainer = Trainer(model=model, args=training_args, train_dataset=dataset,
                      data_collator=collate(tokenizer.pad_token_id), callbacks=[Timing()])
    result = trainer.train()
    if args.timings and trainer.is_world_process_zero():
        save_every = int(train_cfg["save_steps"])
        steps = len(timings["step_end_times"])
        timings.update({
            "steps": steps, "global_batch": training_args.per_device_train_batch_size
            * training_args.gradient_accumulation_steps * training_args.world_size,
            "save_steps": [s for s in range(1, steps + 1) if s % save_every == 0 or s == steps],
            "final_loss": timings["losses"].get(str(steps)), "train_loss": float(result.training_loss),
            "end_time": time.time(),
        })
        Path(args.timings).write_text(json.dumps(timings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
