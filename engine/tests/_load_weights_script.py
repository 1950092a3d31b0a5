"""Run by test_load_weights.py in its own process (DeepSpeed initialises torch.distributed).

Modes (argv[1]):
  load   MODEL WORK DS_CONFIG PORT: a slimmed checkpoint (hf_model/ only) loads into an engine built the way
         train.py builds it (ZeRO-3: the model made inside zero.Init while HfDeepSpeedConfig is alive).
  groups MODEL WORK DS_CONFIG PORT: the decay / no-decay parameter names for that ds_config.
"""
import json
import os
import sys
from pathlib import Path

import torch

os.environ.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1", DS_ACCELERATOR="cpu")
mode, model_dir, work, ds_path, port = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]), sys.argv[5]
os.environ["MASTER_PORT"] = port

import deepspeed  # noqa: E402
from transformers.integrations import HfDeepSpeedConfig  # noqa: E402

from qc_engine.model import build_classifier, save_hf_model  # noqa: E402
from qc_engine.checkpoint import load_checkpoint_weights  # noqa: E402
from qc_engine.train import build_optimizer, decay_split  # noqa: E402
from qc_engine import dist as qd  # noqa: E402

names = [str(i) for i in range(10)]
ds = json.loads(ds_path.read_text())
zero_stage = ds["zero_optimization"]["stage"]
qd.init_deepspeed_distributed()  # as the engine: no DeepSpeed CPU comm op build
if mode == "load":  # the source is built plainly, before any ZeRO-3 context exists
    source = build_classifier(model_dir, names, seed=1)
    with torch.no_grad():
        for p in source.parameters():
            p.add_(0.01 * torch.randn_like(p))
    ckpt = work / "checkpoint-7"
    save_hf_model(ckpt / "hf_model", source)
    expected = source.state_dict()
    del source
# As train.py's setup_model: the object stays alive for the whole run (ZeRO-3 builds under zero.Init).
zero3_init = HfDeepSpeedConfig(ds) if zero_stage == 3 else None
model = build_classifier(model_dir, names, seed=2)
if mode == "groups":
    decay, no_decay = decay_split(model)
    print(json.dumps({"decay": decay, "no_decay": no_decay,
                      "partitioned": any(hasattr(p, "ds_shape") for p in model.parameters())}))
    sys.exit(0)
engine, _, _, _ = deepspeed.initialize(model=model, optimizer=build_optimizer(model, 1e-3, 0.01), config=ds)
how = load_checkpoint_weights(engine, ckpt, 7, zero_stage)
if zero_stage == 3:
    state = engine._zero3_consolidated_16bit_state_dict()
else:
    state = engine.module.state_dict()
same = all(torch.equal(state[k], expected[k]) for k in expected)
print(json.dumps({"how": how, "same": same, "keys": len(expected)}))
