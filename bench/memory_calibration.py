"""Calibrates the GPU memory estimate (lib/preflight/memory.ts) against measured peaks on the CPU.

    PYTHONPATH=engine .venv/bin/python bench/memory_calibration.py [--cases tiny,mid,wide7b] [--variants full,gc,lora,lora_gc] [--json OUT]

For each model size (built with qc_engine.tiny's builder: from the tiny model up to one as wide as
Qwen2.5-VL-7B with one layer, vision tower of the real width, small vocabulary) and each variant
(full fine-tuning, gradient checkpointing, LoRA via peft, LoRA + checkpointing), a child process
loads the classifier through the engine's own build_classifier, encodes one batch with the
engine's collator, and runs training steps (forward, backward, torch AdamW step) in fp32.
Measured: the peak resident memory during the steps (VmHWM, reset with /proc/self/clear_refs after
the model is loaded) minus the resident memory before the model existed. Predicted: the TS
estimator itself (bun run lib/preflight/memory_cli.ts --json), device "cpu", so both sides are
the code the preflight runs. One process at a time; each stays well under 8 GiB.

What this cannot tell about a GPU: the CUDA caching allocator's reserved-but-unused blocks and
fragmentation, cuBLAS/NCCL workspaces and the CUDA context (the estimate adds a fixed figure), and
bf16 (measured here in fp32: the activation and weight byte counts scale by 2 vs 4 only where the
formula says so; RMSNorm's fp32 internals are modelled, not measured in bf16). No DeepSpeed here:
ZeRO-0 on one process adds no buffers; the ZeRO split and bucket terms are arithmetic, not measured.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "engine"))

# Model sizes (qc_engine.tiny.build_tiny_model overrides) and the batch each is measured with.
CASES = {
    "tiny": dict(model={}, image=(224, 224), max_pixels=224 * 224, batch=4),
    # The tiny model made wide enough that its peak (~100 MiB) stands out of the RSS noise: the unit test's case.
    "small": dict(
        model=dict(hidden_size=256, intermediate_size=704, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                   vision_depth=2, vision_hidden_size=128, vision_intermediate_size=344, vision_num_heads=4),
        image=(448, 448), max_pixels=448 * 448, batch=2),
    "mid": dict(
        model=dict(hidden_size=1024, intermediate_size=2816, num_hidden_layers=2, num_attention_heads=16, num_key_value_heads=2,
                   vision_depth=2, vision_hidden_size=512, vision_intermediate_size=1376, vision_num_heads=8),
        image=(448, 448), max_pixels=448 * 448, batch=2),
    # As wide as Qwen2.5-VL-7B (hidden 3584, intermediate 18944, 28/4 heads, vision 1280/3420/16) with one layer each.
    "wide7b": dict(
        model=dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=1, num_attention_heads=28, num_key_value_heads=4,
                   vision_depth=1, vision_hidden_size=1280, vision_intermediate_size=3420, vision_num_heads=16),
        image=(448, 448), max_pixels=448 * 448, batch=2),
}
VARIANTS = {
    "full": dict(gc=False, lora=False),
    "gc": dict(gc=True, lora=False),
    "lora": dict(gc=False, lora=True),
    "lora_gc": dict(gc=True, lora=True),
}
LORA = dict(r=16, alpha=32, dropout=0.05, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])


def _status(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def _settle() -> None:
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)  # hand freed heap back so RSS reflects live memory
    except OSError:
        pass


def child(spec: dict) -> dict:
    """One measurement (in its own process): peak RSS of `steps` training steps minus RSS before the model."""
    import numpy as np
    import torch
    from PIL import Image

    from qc_engine.data import ClassifierCollator
    from qc_engine.model import load_processing
    from qc_engine.train import build_optimizer

    torch.manual_seed(0)
    torch.set_num_threads(1)
    tokenizer, processor = load_processing(spec["model_dir"], min_pixels=3136, max_pixels=spec["max_pixels"])
    rng = np.random.default_rng(0)
    h, w = spec["image"]
    images = [Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)) for _ in range(spec["batch"])]
    batch = ClassifierCollator(tokenizer, processor, "what is shown in this image?")([(im, i % 2, i) for i, im in enumerate(images)])
    image_tokens = int(batch["image_grid_thw"][0].prod().item() // 4)
    text_tokens = int(batch["input_ids"].shape[1]) - image_tokens
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "pixel_values", "image_grid_thw")}
    # Warm-up on the same model: lazy imports, kernels' caches and autograd threads are not training memory.
    _train(_model(spec), inputs, batch["labels"], 1)
    _settle()
    rss0 = _status("VmRSS")

    model = _model(spec)
    optimizer = build_optimizer(model, lr=1e-4, weight_decay=0.0)
    _settle()
    loaded = _status("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM: the load's transient copies are not a training peak
    t0 = time.perf_counter()
    _train(model, inputs, batch["labels"], spec["steps"], optimizer)
    peak = _status("VmHWM")
    return dict(peak_delta=peak - rss0, loaded_delta=loaded - rss0, image_tokens=image_tokens, text_tokens=text_tokens,
                seconds=time.perf_counter() - t0, trainable=sum(p.numel() for p in model.parameters() if p.requires_grad))


def _train(model, inputs, labels, steps: int, optimizer=None) -> None:
    from qc_engine.train import build_optimizer

    optimizer = optimizer or build_optimizer(model, lr=1e-4, weight_decay=0.0)
    for _ in range(steps):
        out = model(**inputs, labels=labels)
        out.loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)


def _model(spec: dict):
    """The engine's classifier (build_classifier), wrapped by peft for the LoRA variants."""
    from qc_engine.model import build_classifier

    model = build_classifier(spec["model_dir"], ["a", "b"], precision="fp32", gradient_checkpointing=spec["gc"])
    if spec["lora"]:
        from peft import LoraConfig, get_peft_model

        targets = "|".join(LORA["target_modules"])
        cfg = LoraConfig(r=LORA["r"], lora_alpha=LORA["alpha"], lora_dropout=LORA["dropout"],
                         target_modules=rf".*language_model.*\.({targets})", modules_to_save=["score"])
        if spec["gc"]:
            model.enable_input_require_grads()  # frozen embeddings: checkpointed layers need an input that requires grad
        model = get_peft_model(model, cfg)
    model.train()
    return model


def measure(model_dir: Path, case: dict, variant: dict, steps: int = 2) -> dict:
    spec = dict(model_dir=str(model_dir), image=case["image"], max_pixels=case["max_pixels"], batch=case["batch"], steps=steps, **variant)
    # A fixed mmap threshold: glibc would otherwise raise it after the warm-up frees its tensors and keep
    # later ones on the heap, so freed memory stayed resident and the baseline swallowed part of the peak.
    env = {**os.environ, "PYTHONPATH": str(REPO / "engine"), "OMP_NUM_THREADS": "1",
           "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "1048576"}
    out = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"measurement failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def predict(model_dir: Path, case: dict, variant: dict, measured: dict) -> dict:
    """The TS estimator's answer (lib/preflight/memory_cli.ts), for the token counts the collator produced."""
    params = dict(
        modelConfigPath=str(model_dir / "config.json"), numLabels=2, precision="fp32", device="cpu", zeroStage=0,
        offloadOptimizer=False, offloadParam=False, worldSize=1, perDeviceBatch=case["batch"],
        gradientCheckpointing=variant["gc"], freezeVisionTower=False,
        imageTokensPerSample=measured["image_tokens"], textTokensPerSample=measured["text_tokens"],
        lora={**LORA, "enabled": variant["lora"], "vision_tower": False},
    )
    bun = REPO / "node_modules" / ".bin" / "bun"
    out = subprocess.run([str(bun), "run", str(REPO / "lib/preflight/memory_cli.ts"), "--params", "-", "--json"],
                         input=json.dumps(params), capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def build(root: Path, name: str, case: dict) -> Path:
    from qc_engine.tiny import build_tiny_model

    path = root / name
    if not (path / "config.json").is_file():
        build_tiny_model(path, seed=0, min_pixels=3136, max_pixels=case["max_pixels"], **case["model"])
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--child")
    ap.add_argument("--cases", default="tiny,mid,wide7b")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--models", help="folder to keep the built models in (default: a temporary one)")
    ap.add_argument("--parts", action="store_true", help="print the estimate's parts under each row")
    ap.add_argument("--json", help="write the rows as JSON here")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return 0
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.models or tmp)
        print("| model | variant | batch x tokens (image+text) | params | trainable | measured peak | estimate | error |")
        print("|---|---|---|---|---|---|---|---|")
        for name in args.cases.split(","):
            case = CASES[name]
            model_dir = build(root, name, case)
            for vname in args.variants.split(","):
                variant = VARIANTS[vname]
                m = measure(model_dir, case, variant, args.steps)
                e = predict(model_dir, case, variant, m)
                err = (e["totalBytes"] - m["peak_delta"]) / m["peak_delta"]
                row = dict(case=name, variant=vname, **m, estimate=e["totalBytes"], params=e["params"], error=err,
                           parts={p["key"]: p["bytes"] for p in e["parts"]})
                rows.append(row)
                if args.parts:
                    print("   " + ", ".join(f"{k} {v / 2**20:,.1f}" for k, v in row["parts"].items()) + f" MiB; loaded {m['loaded_delta'] / 2**20:,.1f} MiB", flush=True)
                mib = lambda b: f"{b / 2**20:,.0f} MiB"  # noqa: E731
                print(f"| {name} | {vname} | {case['batch']} x ({m['image_tokens']}+{m['text_tokens']}) | {e['params']['total']/1e6:,.1f}M "
                      f"| {m['trainable']/1e6:,.2f}M | {mib(m['peak_delta'])} | {mib(e['totalBytes'])} | {err:+.1%} |", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    worst = max(abs(r["error"]) for r in rows)
    print(f"\nworst error {worst:.1%} over {len(rows)} measurements")
    return 0


if __name__ == "__main__":
    sys.exit(main())
