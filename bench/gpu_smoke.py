"""GPU smoke benchmark of the engine on a random-init Qwen2.5-VL-7B (started by bench/gpu_smoke.sh).

    python3 bench/gpu_smoke.py [--tiny] [--steps 20] [--workdir /tmp/qc_gpu_smoke] [--only NAME,...]
                               [--text-layers auto|N] [--peak-tflops T] [--json FILE]

No Bun and no network: the runs start the engine directly (torchrun -m qc_engine.random_init train
--no-save) from the resolved configs committed in bench/gpu_smoke/ (bun run bench/gpu_smoke_configs.ts),
with their model/data/output paths moved under --workdir and max_steps set to --steps.
- data: synthetic JPEGs sized like Food-101's (longest side 512), made here with PIL;
- model: bench/qwen2_5_vl_7b_config.json built with random weights (bf16, on the GPU) by
  qc_engine.random_init; --tiny: the tiny test model's dimensions, fp32 on the CPU;
- per variant: steady-state samples/s (steps after the first 3), tokens/s (real, unpadded tokens),
  peak memory (torch.cuda.max_memory_allocated; RSS on the CPU), model FLOPs utilisation.
MFU = model FLOPs/s / peak. Model FLOPs per sample: qc_engine.telemetry.ModelFlops, the formula behind the
engine's per-step `mfu` event field: 6 x parameters x tokens for every part of the model (vision blocks per
patch, merger per merged token, language layers per text+image token; embeddings, a lookup, not counted)
plus attention, 12 x layers x width x (attended positions) per token (vision: 64-patch windows, full
attention in fullatt_block_indexes; language: the whole sequence, not halved for causality), all from the
config. Peak: the GPU's datasheet dense bf16 figure (telemetry.DATASHEET_BF16_TFLOPS; H200 and H100 SXM:
989 TFLOP/s), or --peak-tflops. The engine's own step events carry mfu too (engine_mfu: its last step's).
--text-layers auto: the most language layers (of 28) whose full fine-tuning state fits the GPU (about 26
bytes a parameter under ZeRO-2/3 with torch AdamW in fp32, plus 16 GiB for activations; an estimate, not
measured here): all 7.75B parameters need ~200 GB, more than one 139 GiB H200 holds (16 layers fit).
The layer shapes stay the 7B's; the report names the depth. --text-layers 28 tries the whole model.
--budget (default 450 s) bounds the whole script: each variant gets what is left, at most --timeout.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "bench" / "gpu_smoke"
DEFAULT_WORKDIR = "/tmp/qc_gpu_smoke"
# Food-101-like sizes (its images have a longest side of 512).
IMAGE_SIZES = [(512, 384), (384, 512), (512, 512), (512, 341), (341, 512), (512, 288)]
# bf16 weights 2 + grads 2 (+ a flat copy 2), fp32 grads 4, master weights 4, Adam m and v 8, and torch AdamW's
# full-size temporary (its denominator) 4 on ZeRO's one flat fp32 partition.
BYTES_PER_PARAM = 26
ACTIVATION_RESERVE = 16 * 2**30
SKIP_STEPS = 3


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tiny", action="store_true", help="the tiny model, fp32 on the CPU (checks the script)")
    p.add_argument("--steps", type=int, default=None, help="optimizer steps per variant [20; --tiny 6]")
    p.add_argument("--workdir", default=DEFAULT_WORKDIR)
    p.add_argument("--only", default="", help="comma-separated variant names (without gpu_/tiny_)")
    p.add_argument("--text-layers", default="auto", help="language layers of the 7B: auto (fit the GPU) or a number")
    p.add_argument("--peak-tflops", type=float, default=None, help="the GPU's dense bf16 peak (default: datasheet)")
    p.add_argument("--timeout", type=int, default=200, help="seconds per variant at most")
    p.add_argument("--budget", type=int, default=450, help="seconds for the whole script (under 8 minutes)")
    p.add_argument("--json", default=None, help="also write the results here")
    return p.parse_args(argv)


# ---------------------------------------------------------------- data and model folder

def make_images(root: Path, count: int, num_labels: int, seed: int = 0) -> list[tuple[int, int]]:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    lines, sizes = [], []
    for i in range(count):
        w, h = IMAGE_SIZES[i % len(IMAGE_SIZES)]
        # Smooth noise, not flat colour: JPEG decode cost like a photo's.
        small = rng.integers(0, 256, size=(h // 16 + 1, w // 16 + 1, 3), dtype=np.uint8)
        img = Image.fromarray(small).resize((w, h), Image.Resampling.BILINEAR)
        img.save(root / "images" / f"img_{i:05d}.jpg", quality=90)
        lines.append(json.dumps({"image": f"images/img_{i:05d}.jpg", "label": int(i % num_labels)}))
        sizes.append((w, h))
    (root / "train.jsonl").write_text("\n".join(lines) + "\n")
    (root / "val.jsonl").write_text("\n".join(lines[:8]) + "\n")
    return sizes


def model_config(tiny: bool, text_layers: int | None) -> dict:
    if tiny:
        sys.path.insert(0, str(REPO / "engine"))
        from qc_engine.tiny import build_tiny_config, build_tokenizer

        return build_tiny_config(build_tokenizer()).to_dict()
    config = json.loads((REPO / "bench" / "qwen2_5_vl_7b_config.json").read_text())
    if text_layers is not None:
        config["num_hidden_layers"] = config["max_window_layers"] = text_layers
    return config


def meta_model(config_dir: Path):
    import torch
    from transformers import AutoConfig
    from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VLModel

    config = AutoConfig.from_pretrained(str(config_dir))
    with torch.device("meta"):
        return config, Qwen2_5_VLModel(config)


def fitting_text_layers(total_memory: int) -> int:
    """Language layers (<= 28) whose training state fits total_memory at BYTES_PER_PARAM."""
    import torch
    from transformers import Qwen2_5_VLConfig
    from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VLModel

    config = {k: v for k, v in model_config(False, 1).items() if not k.startswith("_")}
    with torch.device("meta"):
        one = Qwen2_5_VLModel(Qwen2_5_VLConfig(**config))
    per_layer = sum(p.numel() for p in one.language_model.layers[0].parameters())
    fixed = sum(p.numel() for p in one.parameters()) - per_layer
    budget = (total_memory - ACTIVATION_RESERVE) // BYTES_PER_PARAM - fixed
    return max(1, min(28, int(budget // per_layer)))


def gpu_memory_and_name() -> tuple[int, str]:
    try:
        import pynvml

        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        name = pynvml.nvmlDeviceGetName(handle)
        return int(pynvml.nvmlDeviceGetMemoryInfo(handle).total), name.decode() if isinstance(name, bytes) else name
    except Exception:  # no NVML: ask torch (creates a CUDA context in this process, released at exit)
        import torch

        props = torch.cuda.get_device_properties(0)
        return int(props.total_memory), props.name


# ---------------------------------------------------------------- FLOPs

def sample_tokens(model_dir: Path, sizes, min_pixels: int, max_pixels: int, prompt: str) -> list[dict]:
    """Per image: vision patches, LM sequence length (text + merged image tokens), as the collator builds them."""
    sys.path.insert(0, str(REPO / "engine"))
    from PIL import Image
    from qc_engine.data import build_prompt
    from qc_engine.model import load_processing

    tokenizer, processor = load_processing(model_dir, min_pixels, max_pixels)
    text_tokens = len(tokenizer(build_prompt(prompt))["input_ids"]) - 1  # the one <|image_pad|> is expanded below
    out = {}
    for w, h in set(sizes):
        grid = processor(images=[Image.new("RGB", (w, h))], return_tensors="pt")["image_grid_thw"][0].tolist()
        patches = grid[0] * grid[1] * grid[2]
        out[(w, h)] = {"grid": grid, "patches": patches, "seq": text_tokens + patches // processor.merge_size ** 2}
    return [out[s] for s in sizes]


def flops_per_sample(model, sample: dict) -> float:
    """qc_engine.telemetry.ModelFlops (the formula the engine's per-step mfu uses), all parameters trainable."""
    from qc_engine.telemetry import ModelFlops

    return ModelFlops.from_model(model).sample(sample["patches"], sample["seq"])


# ---------------------------------------------------------------- runs

def engine_env(extra: dict, tiny: bool) -> dict:
    env = dict(os.environ)
    paths = [str(REPO / "engine")] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    env.update({"PYTHONPATH": os.pathsep.join(paths), "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"})
    if tiny:
        env.update({"DS_ACCELERATOR": "cpu", "OMP_NUM_THREADS": env.get("OMP_NUM_THREADS", "1")})
    env.update(extra)
    return env


def prepare_variant(variant: dict, work: Path, steps: int) -> tuple[Path, Path, Path]:
    resolved = json.loads((SMOKE / variant["resolved"]).read_text())
    cfg = resolved["config"]
    move = lambda p: p.replace(DEFAULT_WORKDIR, str(work), 1)  # noqa: E731
    cfg["model"]["pretrained_name"] = move(cfg["model"]["pretrained_name"])
    cfg["data"]["train_jsonl"], cfg["data"]["val_jsonl"] = move(cfg["data"]["train_jsonl"]), move(cfg["data"]["val_jsonl"])
    out = work / "runs" / variant["name"]
    cfg["training"]["output_dir"] = str(out)
    cfg["training"]["max_steps"] = cfg["training"]["save_steps"] = steps
    if out.exists():
        import shutil

        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / "resolved_config.json").write_text(json.dumps(resolved, indent=2))
    (out / "ds_config.json").write_text((SMOKE / variant["ds_config"]).read_text())
    return out, out / "resolved_config.json", out / "ds_config.json"


def run_variant(variant: dict, work: Path, steps: int, timeout: int, tiny: bool) -> dict:
    out, resolved, ds = prepare_variant(variant, work, steps)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1",
           "-m", "qc_engine.random_init", "train", "--no-save", "--resolved", str(resolved), "--ds-config", str(ds)]
    t0 = time.time()
    try:
        proc = subprocess.run(cmd, cwd=REPO, env=engine_env(variant.get("env") or {}, tiny), capture_output=True,
                              text=True, timeout=timeout)
        code, tail = proc.returncode, (proc.stdout + proc.stderr)[-2500:]
    except subprocess.TimeoutExpired as exc:
        code, tail = 124, f"timed out after {timeout}s\n" + ((exc.stdout or b"")[-1500:].decode(errors="replace") if isinstance(exc.stdout, bytes) else str(exc.stdout or "")[-1500:])
    wall = time.time() - t0
    events_file = out / "logs" / "events.jsonl"
    events = [json.loads(l) for l in events_file.read_text().splitlines() if l.strip()] if events_file.is_file() else []
    step_events = [e for e in events if e["event"] == "step"]
    result = {"name": variant["name"], "note": variant["note"], "exit_code": code, "wall_s": round(wall, 1),
              "steps": len(step_events)}
    if code != 0 or len(step_events) <= SKIP_STEPS:
        result["error"] = tail
        return result
    times = [e["time"] for e in step_events]
    batch = next(e for e in events if e["event"] == "start")["global_batch_size"]
    steady = times[SKIP_STEPS - 1:]
    result.update({
        "samples_per_s": (len(steady) - 1) * batch / (steady[-1] - steady[0]),
        "peak_memory_bytes": max(e["memory_bytes"] for e in step_events),
        "memory_kind": step_events[-1]["memory_kind"], "final_loss": step_events[-1]["loss"],
        "global_batch": batch,
        # the engine's own figures: its per-step mfu (null off a GPU) and the run's padding share (end event)
        "engine_mfu": step_events[-1].get("mfu"), "padding_fraction": events[-1].get("padding_fraction"),
    })
    return result


def print_table(results: list[dict], peak_note: str, seconds: float) -> None:
    """The markdown table of the variants (BENCHMARKS.md's format)."""
    print(f"\n| variant | samples/s | tokens/s | padding | peak memory | MFU | wall |\n|---|---|---|---|---|---|---|")
    for r in results:
        if "samples_per_s" in r:
            mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] is not None else "n/a"
            pad = f"{100 * r['padding_fraction']:.1f}%" if r.get("padding_fraction") is not None else "n/a"
            print(f"| {r['name']} ({r['note']}) | {r['samples_per_s']:.2f} | {r['tokens_per_s']:.0f} | {pad} | "
                  f"{r['peak_memory_bytes'] / 2**30:.1f} GiB | {mfu} | {r['wall_s']} s |")
        else:
            print(f"| {r['name']} ({r['note']}) | {r.get('skipped') or 'failed, exit ' + str(r.get('exit_code'))} | | | | | |")
    print(f"MFU against {peak_note}; model FLOPs per sample from the config (see bench/gpu_smoke.py). "
          f"Total {seconds:.0f} s.")


def main(argv=None) -> int:
    args = parse_args(argv)
    t_start = time.time()
    steps = args.steps or (6 if args.tiny else 20)
    if steps <= SKIP_STEPS + 1:
        print(f"error: --steps must be above {SKIP_STEPS + 1} (the first {SKIP_STEPS} are warm-up)", file=sys.stderr)
        return 2
    work = Path(args.workdir).resolve()
    kind = "tiny" if args.tiny else "gpu"
    manifest = json.loads((SMOKE / "variants.json").read_text())["variants"]
    only = {n.strip() for n in args.only.split(",") if n.strip()}
    variants = [v for v in manifest if v["kind"] == kind and (not only or v["name"].split("_", 1)[1] in only)]
    base = json.loads((SMOKE / f"{kind}_zero2_sdpa.resolved.json").read_text())["config"]

    text_layers, device_name, total_memory = None, "CPU", None
    if not args.tiny:
        total_memory, device_name = gpu_memory_and_name()
        text_layers = fitting_text_layers(total_memory) if args.text_layers == "auto" else int(args.text_layers)
    sys.path.insert(0, str(REPO / "engine"))
    from qc_engine.random_init import write_folder

    model_dir = work / "model"
    data_cfg = base["data"]
    config_dict = model_config(args.tiny, text_layers)
    write_folder(model_dir, config_dict, int(data_cfg["image_min_pixels"]), int(data_cfg["image_max_pixels"]))
    batch = int(base["training"]["per_device_batch_size"])
    sizes = make_images(work / "data", steps * batch, int(base["model"]["num_labels"]))
    config, meta = meta_model(model_dir)
    params = sum(p.numel() for p in meta.parameters()) + config.text_config.hidden_size * int(base["model"]["num_labels"])
    per_sample = sample_tokens(model_dir, sizes, int(data_cfg["image_min_pixels"]), int(data_cfg["image_max_pixels"]),
                               data_cfg.get("prompt", ""))
    mean_tokens = sum(s["seq"] for s in per_sample) / len(per_sample)
    mean_flops = sum(flops_per_sample(meta, s) for s in per_sample) / len(per_sample)
    from qc_engine.telemetry import peak_flops

    peak, peak_note = (None, "CPU: no MFU") if args.tiny else peak_flops(device_name, args.peak_tflops)
    depth = (f"text layers {config.text_config.num_hidden_layers} of 28" if not args.tiny else "tiny test dimensions")
    print(f"model: random-init Qwen2.5-VL ({'tiny' if args.tiny else '7B shapes'}, {depth}), {params / 1e6:,.2f}M parameters"
          + (f"; GPU {device_name}, {total_memory / 2**30:.0f} GiB" if total_memory else ""), flush=True)
    print(f"data: {len(sizes)} JPEGs of {sorted(set(sizes))}; {mean_tokens:.0f} LM tokens/sample (mean), "
          f"{mean_flops / 1e12:.3f} TFLOP/sample (model FLOPs, training)", flush=True)

    results = []
    for variant in variants:
        if variant.get("skip"):
            results.append({"name": variant["name"], "note": variant["note"], "skipped": variant["skip"]})
        elif variant.get("requires") and subprocess.run([sys.executable, "-c", f"import {variant['requires']}"],
                                                        capture_output=True, env=engine_env({}, args.tiny)).returncode:
            results.append({"name": variant["name"], "note": variant["note"],
                            "skipped": f"{variant['requires']} is not installed on this machine"})
        else:
            left = int(args.budget - (time.time() - t_start))
            if left < 30:
                results.append({"name": variant["name"], "note": variant["note"],
                                "skipped": f"not run: {left} s of the --budget {args.budget} s left"})
            else:
                print(f"running {variant['name']} ({variant['note']}, {steps} steps) ...", flush=True)
                results.append(run_variant(variant, work, steps, min(args.timeout, left), args.tiny))
            r = results[-1]
            if "samples_per_s" in r:  # r is the entry just appended
                r["tokens_per_s"] = r["samples_per_s"] * mean_tokens
                r["model_tflops_per_s"] = r["samples_per_s"] * mean_flops / 1e12
                r["mfu"] = r["samples_per_s"] * mean_flops / peak if peak else None
        last = results[-1]
        print("  " + (f"skipped: {last['skipped']}" if "skipped" in last else
                      f"FAILED (exit {last['exit_code']}):\n{last.get('error', '')}" if "error" in last else
                      f"{last['samples_per_s']:.2f} samples/s, {last['tokens_per_s']:.0f} tokens/s, peak "
                      f"{last['peak_memory_bytes'] / 2**30:.1f} GiB ({last['memory_kind']}), MFU "
                      + (f"{100 * last['mfu']:.1f}%" if last["mfu"] is not None else "n/a")
                      + f" (engine's last step: "
                      + (f"{100 * last['engine_mfu']:.1f}%" if last.get("engine_mfu") is not None else "n/a")
                      + f"), padding {100 * (last.get('padding_fraction') or 0):.1f}%"
                      + f", final loss {last['final_loss']:.4f}, wall {last['wall_s']} s"), flush=True)

    print_table(results, peak_note, time.time() - t_start)
    summary = {"device": device_name, "parameters": params, "text_layers": config.text_config.num_hidden_layers,
               "mean_tokens_per_sample": mean_tokens, "model_flops_per_sample": mean_flops, "peak": peak_note,
               "steps": steps, "results": results}
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))
    ran = [r for r in results if "skipped" not in r]
    return 0 if ran and all("samples_per_s" in r for r in ran) else 1


if __name__ == "__main__":
    sys.exit(main())
