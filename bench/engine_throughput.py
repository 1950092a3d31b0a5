"""Engine throughput and the cost of evaluation, measured in one run.

    PYTHONPATH=engine DS_ACCELERATOR=cpu .venv/bin/python bench/engine_throughput.py [--steps 30 --rounds 3] [--skip-demo]

1. Samples/s of the engine's training step (qc_engine.train.train_step: DeepSpeed ZeRO-2, client torch
   AdamW, clipping, warmup+cosine) against a bare PyTorch loop (same tiny model and initial weights,
   the same pre-collated batches, torch AdamW, clip_grad_norm_, the same schedule, no DeepSpeed).
   Rounds alternate engine / bare so that noise from other processes hits both; the ratio is the figure.
2. Wall time of the demo (configs/demo.yaml through torchrun + DeepSpeed) in standard mode against
   no-eval mode (training.skip_evaluation: true), with the share of the standard run spent evaluating
   (sum of the `eval` events' seconds) and the share spent saving checkpoints.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "engine"))
sys.path.insert(0, str(REPO / "engine" / "tests"))
os.environ.setdefault("DS_ACCELERATOR", "cpu")
for key, value in {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1"}.items():
    os.environ.setdefault(key, value)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=30, help="timed optimizer steps per round and side")
    p.add_argument("--rounds", type=int, default=3, help="alternating engine/bare rounds")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps per side before the first round")
    p.add_argument("--batch", type=int, default=16, help="micro-batch size (the demo's)")
    p.add_argument("--zero-stage", type=int, default=2)
    p.add_argument("--hidden", type=int, default=64, help="hidden size of the tiny model (text and vision)")
    p.add_argument("--zero-extra", default="{}", help="JSON merged into zero_optimization (e.g. '{\"contiguous_gradients\": false}')")
    p.add_argument("--skip-demo", action="store_true", help="only the throughput comparison")
    return p.parse_args()


# ---------------------------------------------------------------- 1. engine step vs bare PyTorch

def throughput(args, work: Path) -> dict:
    import deepspeed
    import torch
    from helpers import free_port

    from qc_engine.data import ClassifierCollator, ImageClassificationDataset, read_jsonl
    from qc_engine.demo_assets import build_digits_dataset
    from qc_engine.model import build_classifier, load_processing
    from qc_engine.tiny import build_tiny_model
    from qc_engine.train import build_optimizer, build_scheduler, skip_single_rank_allreduce, train_step

    os.environ.setdefault("MASTER_PORT", str(free_port()))
    model_dir = build_tiny_model(work / f"tiny-{args.hidden}", seed=0, hidden_size=args.hidden,
                                 intermediate_size=2 * args.hidden, vision_hidden_size=args.hidden,
                                 vision_intermediate_size=2 * args.hidden)
    if args.hidden == 64:  # the demo's model, reused by demo_wall()
        (work / "tiny").symlink_to(model_dir)
    data = work / "digits"
    build_digits_dataset(data / "train.jsonl", data / "val.jsonl", seed=0)
    names = [str(i) for i in range(10)]
    tokenizer, image_processor = load_processing(model_dir, 3136, 3136)
    collator = ClassifierCollator(tokenizer, image_processor, "What is shown in this image?")
    dataset = ImageClassificationDataset(read_jsonl(data / "train.jsonl", names).samples)
    total = args.warmup + args.steps * args.rounds
    batches = [collator([dataset[(i * args.batch + j) % len(dataset)] for j in range(args.batch)])
               for i in range(total * 2)]
    lr, total_steps = 2e-3, total * 2

    deepspeed.init_distributed()
    engine_model = build_classifier(model_dir, names, seed=0)
    engine_opt = build_optimizer(engine_model, lr, 0.0)
    engine_sched = build_scheduler(engine_opt, "cosine", 10, total_steps)
    ds_config = {"train_micro_batch_size_per_gpu": args.batch, "gradient_accumulation_steps": 1,
                 "gradient_clipping": 1.0,
                 "zero_optimization": {"stage": args.zero_stage, **json.loads(args.zero_extra)},
                 "bf16": {"enabled": False}, "fp16": {"enabled": False}, "steps_per_print": 10**9}
    engine, _, _, _ = deepspeed.initialize(model=engine_model, optimizer=engine_opt, lr_scheduler=engine_sched,
                                           config=ds_config, dist_init_required=False)
    skip_single_rank_allreduce(engine, 1, args.zero_stage)
    engine.train()
    bare = build_classifier(model_dir, names, seed=0).train()
    bare_opt = build_optimizer(bare, lr, 0.0)
    bare_sched = build_scheduler(bare_opt, "cosine", 10, total_steps)
    device = torch.device("cpu")

    from qc_engine import dist as qd
    from qc_engine.evaluation import move_batch

    def engine_steps(batch_list):
        losses = []
        for b in batch_list:
            loss, _, _ = train_step(engine, engine_opt, [b], device, torch.float32)
            qd.all_reduce_max_flag(False, device)  # the per-step stop agreement the loop also does
            losses.append(loss)
        return losses

    def bare_steps(batch_list):
        losses = []
        for b in batch_list:
            out = bare(**move_batch(b, device), labels=b["labels"])
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(bare.parameters(), 1.0)
            bare_opt.step()
            bare_sched.step()
            bare_opt.zero_grad(set_to_none=True)
            losses.append(float(out.loss.detach()))
        return losses

    first_engine = engine_steps(batches[:args.warmup])
    first_bare = bare_steps(batches[:args.warmup])
    timings = {"engine": 0.0, "bare": 0.0}
    cursor = args.warmup
    for _ in range(args.rounds):
        chunk = batches[cursor:cursor + args.steps]
        cursor += args.steps
        for side, fn in (("engine", engine_steps), ("bare", bare_steps)):
            t0 = time.perf_counter()
            fn(chunk)
            timings[side] += time.perf_counter() - t0
    samples = args.steps * args.rounds * args.batch
    result = {
        "params": sum(p.numel() for p in bare.parameters()),
        "engine_samples_per_s": samples / timings["engine"],
        "bare_samples_per_s": samples / timings["bare"],
        "first_step_loss_engine": first_engine[0],
        "first_step_loss_bare": first_bare[0],
        "max_warmup_loss_diff": max(abs(a - b) for a, b in zip(first_engine, first_bare)),
    }
    result["ratio"] = result["engine_samples_per_s"] / result["bare_samples_per_s"]
    return result


# ---------------------------------------------------------------- 2. demo wall time: standard vs no-eval

def demo_wall(work: Path) -> dict:
    import yaml
    from helpers import apply_skip_evaluation, deep_merge, read_events, run_train, schema_defaults

    demo = yaml.safe_load((REPO / "configs" / "demo.yaml").read_text())
    base = deep_merge(schema_defaults(), demo)
    base["model"]["pretrained_name"] = str(work / "tiny")
    base["data"]["train_jsonl"] = str(work / "digits" / "train.jsonl")
    base["data"]["val_jsonl"] = str(work / "digits" / "val.jsonl")
    results = {}
    for mode in ("standard", "no_eval"):
        config = copy.deepcopy(base)
        config["training"]["skip_evaluation"] = mode == "no_eval"
        config = apply_skip_evaluation(config)
        out = work / f"demo_{mode}"
        config["training"]["output_dir"] = str(out)
        t0 = time.perf_counter()
        proc = run_train(config, out, timeout=3600)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"demo {mode} failed:\n{proc.stderr[-3000:]}")
        events = read_events(out)
        end = events[-1]
        full = [e for e in events if e["event"] == "eval" and e["split"] == "full"]
        results[mode] = {
            "wall_s": wall,
            "engine_wall_s": end["wall_time_s"],
            "eval_s": sum(e.get("seconds", 0.0) for e in events if e["event"] == "eval"),
            "eval_events": sum(1 for e in events if e["event"] == "eval"),
            "checkpoint_s": sum(e["seconds"] for e in events if e["event"] == "checkpoint"),
            "checkpoints": sum(1 for e in events if e["event"] == "checkpoint"),
            "eval_forward_passes": end.get("eval_forward_passes"),
            "full_accuracy": full[-1]["metrics"]["accuracy"] if full else None,
            "steps": end["step"],
        }
    return results


def main() -> int:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="qc-bench-") as tmp:
        work = Path(tmp)
        t = throughput(args, work)
        params = t["params"]
        print(f"\n## engine step vs bare PyTorch (tiny Qwen2.5-VL hidden {args.hidden}, {params / 1e6:.2f}M params, batch {args.batch}, ZeRO-{args.zero_stage}, fp32 CPU, "
              f"{args.rounds} rounds x {args.steps} steps each side)")
        print("| loop | samples/s |\n|---|---|")
        print(f"| engine (DeepSpeed train_step) | {t['engine_samples_per_s']:.1f} |")
        print(f"| bare PyTorch | {t['bare_samples_per_s']:.1f} |")
        print(f"| ratio engine / bare | {t['ratio']:.3f} |")
        print(f"(same start: first-step loss engine {t['first_step_loss_engine']:.6f} vs bare "
              f"{t['first_step_loss_bare']:.6f}; max loss difference over warm-up {t['max_warmup_loss_diff']:.2e})")
        if not args.skip_demo:
            d = demo_wall(work)
            s, n = d["standard"], d["no_eval"]
            print("\n## demo wall time: standard vs no-eval (configs/demo.yaml, torchrun, 1 process)")
            print("| mode | wall (s) | engine wall (s) | eval (s) | eval events | checkpoint saves (s) | eval forward passes | full-eval accuracy |")
            print("|---|---|---|---|---|---|---|---|")
            for name, r in (("standard", s), ("no-eval", n)):
                acc = f"{r['full_accuracy']:.4f}" if r["full_accuracy"] is not None else "-"
                print(f"| {name} | {r['wall_s']:.1f} | {r['engine_wall_s']:.1f} | {r['eval_s']:.1f} | {r['eval_events']} "
                      f"| {r['checkpoint_s']:.1f} ({r['checkpoints']}) | {r['eval_forward_passes']} | {acc} |")
            print(f"evaluation share of the standard run: {s['eval_s'] / s['engine_wall_s']:.1%} of engine wall time; "
                  f"no-eval is {1 - n['wall_s'] / s['wall_s']:.1%} faster end to end "
                  f"(engine wall: {1 - n['engine_wall_s'] / s['engine_wall_s']:.1%})")
        print(json.dumps({"throughput": t, **({} if args.skip_demo else {"demo": d})}, indent=None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
