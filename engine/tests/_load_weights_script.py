"""Run by test_load_weights.py in its own process (DeepSpeed initialises torch.distributed)."""
import json
import os
import sys
from pathlib import Path

import torch

os.environ.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1", DS_ACCELERATOR="cpu")
model_dir, work, zero_stage, port = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
os.environ["MASTER_PORT"] = port

import deepspeed  # noqa: E402

from qc_engine.model import build_classifier, save_hf_model  # noqa: E402
from qc_engine.checkpoint import load_checkpoint_weights  # noqa: E402
from qc_engine.train import build_optimizer  # noqa: E402

names = [str(i) for i in range(10)]
deepspeed.init_distributed()
source = build_classifier(model_dir, names, seed=1)
with torch.no_grad():
    for p in source.parameters():
        p.add_(0.01 * torch.randn_like(p))
ckpt = work / "checkpoint-7"
save_hf_model(ckpt / "hf_model", source)
model = build_classifier(model_dir, names, seed=2)
ds = {"train_micro_batch_size_per_gpu": 2, "gradient_accumulation_steps": 1,
      "zero_optimization": {"stage": zero_stage}, "steps_per_print": 10**9}
engine, _, _, _ = deepspeed.initialize(model=model, optimizer=build_optimizer(model, 1e-3, 0.0), config=ds)
how = load_checkpoint_weights(engine, ckpt, 7, zero_stage)
if zero_stage == 3:
    state = engine._zero3_consolidated_16bit_state_dict()
else:
    state = engine.module.state_dict()
expected = source.state_dict()
same = all(torch.equal(state[k], expected[k]) for k in expected)
print(json.dumps({"how": how, "same": same, "keys": len(expected)}))
