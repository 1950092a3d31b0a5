"""Engine throughput and the cost of evaluation, measured in one run.

    OMP_NUM_THREADS=1 PYTHONPATH=engine .venv/bin/python bench/engine_throughput.py [--steps 30 --rounds 3] [--zero-stage 2] [--skip-demo]

1. Samples/s of the engine's training step (qc_engine.train.train_step: DeepSpeed ZeRO-2, client torch
   AdamW, clipping, warmup+cosine) against a bare PyTorch loop (same tiny model and initial weights,
   the same pre-collated batches, torch AdamW, clip_grad_norm_, the same schedule, no DeepSpeed) and
   against transformers.Trainer (same model, weights, batches in the same order, the same optimizer and
   schedule passed as `optimizers=`, max_grad_norm 1.0, fp32 CPU, no eval/save/logging).
   Rounds alternate engine / bare / Trainer so that noise from other processes hits all three; the ratios
   are the figures. Trainer start-up (construction, train() up to its first step) is reported apart.
   The run stops with an error unless the three sides give the same loss over the warm-up steps.
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


LOSS_TOLERANCE = 1e-5  # |Trainer - bare| loss at every warm-up step; same ops in the same order give ~0


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=30, help="timed optimizer steps per round and side")
    p.add_argument("--rounds", type=int, default=3, help="alternating engine/bare/Trainer rounds")
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
    from qc_engine import dist as qd

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

    qd.init_deepspeed_distributed()  # as the engine: no DeepSpeed CPU comm op build
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

    from qc_engine.eval_loop import move_batch

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

    # the Trainer consumes the same batches in the same order: warm-up, then one chunk per round
    hf_model = build_classifier(model_dir, names, seed=0).train()
    hf_opt = build_optimizer(hf_model, lr, 0.0)
    hf_sched = build_scheduler(hf_opt, "cosine", 10, total_steps)
    hf = TrainerSide(hf_model, hf_opt, hf_sched, batches[:total], max_steps=total, max_grad_norm=1.0,
                     out_dir=work / "hf_trainer")

    def trainer_steps(batch_list):
        hf.run_until(len(hf.losses) + len(batch_list))

    first_engine = engine_steps(batches[:args.warmup])
    first_bare = bare_steps(batches[:args.warmup])
    trainer_steps(batches[:args.warmup])
    first_trainer = list(hf.losses)
    timings = {"engine": 0.0, "bare": 0.0, "trainer": 0.0}
    cursor = args.warmup
    for _ in range(args.rounds):
        chunk = batches[cursor:cursor + args.steps]
        cursor += args.steps
        for side, fn in (("engine", engine_steps), ("bare", bare_steps), ("trainer", trainer_steps)):
            t0 = time.perf_counter()
            fn(chunk)
            timings[side] += time.perf_counter() - t0
    hf_info = hf.finish()
    if len(hf.losses) != total:
        raise SystemExit(f"the Trainer ran {len(hf.losses)} steps, expected {total}")
    samples = args.steps * args.rounds * args.batch
    trainer_step_body_s = sum(hf.step_s[args.warmup:])
    result = {
        "params": sum(p.numel() for p in bare.parameters()),
        "engine_samples_per_s": samples / timings["engine"],
        "bare_samples_per_s": samples / timings["bare"],
        "trainer_samples_per_s": samples / timings["trainer"],
        "trainer_step_body_samples_per_s": samples / trainer_step_body_s,
        "first_step_loss_engine": first_engine[0],
        "first_step_loss_bare": first_bare[0],
        "first_step_loss_trainer": first_trainer[0],
        "warmup_losses_bare": first_bare,
        "warmup_losses_trainer": first_trainer,
        "max_warmup_loss_diff": max(abs(a - b) for a, b in zip(first_engine, first_bare)),
        "max_warmup_loss_diff_trainer": max(abs(a - b) for a, b in zip(first_trainer, first_bare)),
        **hf_info,
    }
    result["ratio"] = result["engine_samples_per_s"] / result["bare_samples_per_s"]
    result["ratio_engine_trainer"] = result["engine_samples_per_s"] / result["trainer_samples_per_s"]
    result["ratio_trainer_bare"] = result["trainer_samples_per_s"] / result["bare_samples_per_s"]
    if result["max_warmup_loss_diff_trainer"] > LOSS_TOLERANCE:
        raise SystemExit(f"the Trainer does not compute what the bare loop does: warm-up losses {first_trainer} vs "
                         f"{first_bare} (tolerance {LOSS_TOLERANCE})")
    return result


# ---------------------------------------------------------------- 1b. the Hugging Face Trainer, driven round by round

class TrainerSide:
    """transformers.Trainer on the same model, batches, optimizer and schedule, run in a worker thread.

    Trainer.train() owns its loop, so a TrainerCallback parks the thread at the end of each round
    (on_step_end) until the main thread releases the next one: the three sides then alternate in the
    same rounds, and only one thread computes at a time. Per step, on_step_begin -> on_step_end covers
    forward, backward, clipping, optimizer and scheduler steps; the round wall time measured by the main
    thread adds what the Trainer does between steps (fetching the batch through its DataLoader, the
    log/save/evaluate checks), as the engine and bare rounds include everything too.
    """

    def __init__(self, model, optimizer, scheduler, batches, max_steps: int, max_grad_norm: float, out_dir: Path):
        import threading

        from torch.utils.data import Dataset
        from transformers import Trainer, TrainerCallback, TrainingArguments
        from transformers.trainer_callback import PrinterCallback

        side = self
        self.losses: list[float] = []
        self.step_s: list[float] = []
        self.error: BaseException | None = None
        self.target = 0
        self.go, self.parked = threading.Event(), threading.Event()
        self.t_first_begin = self.t_last_end = self.t_resumed = self.t_train_return = None

        class CachedBatches(Dataset):  # item i is the i-th pre-collated batch (indices dropped: not a model input)
            def __init__(self, items):
                self.items = [{k: v for k, v in b.items() if k != "indices"} for b in items]

            def __len__(self):
                return len(self.items)

            def __getitem__(self, i):
                return self.items[i]

        class StepClock(TrainerCallback):
            def on_step_begin(self, args, state, control, **kwargs):
                side._t_begin = time.perf_counter()
                if side.t_first_begin is None:
                    side.t_first_begin = side._t_begin

            def on_step_end(self, args, state, control, **kwargs):
                now = time.perf_counter()
                side.step_s.append(now - side._t_begin)
                side.t_last_end = now
                if state.global_step >= side.target:  # end of a round (the last one too: teardown is timed apart)
                    side.go.clear()
                    side.parked.set()
                    side.go.wait()
                    side.t_resumed = time.perf_counter()

        class RecordingTrainer(Trainer):
            def training_step(self, *a, **kw):
                loss = super().training_step(*a, **kw)
                side.losses.append(float(loss))  # the bare and engine loops read their loss the same way
                return loss

        # A plain one-process Trainer run has no LOCAL_RANK/RANK/WORLD_SIZE; with them accelerate picks MULTI_CPU
        # and wraps the model in a one-process DDP, which a user running `python train.py` would not pay.
        saved = {k: os.environ.pop(k) for k in ("LOCAL_RANK", "RANK", "WORLD_SIZE") if k in os.environ}
        try:
            t0 = time.perf_counter()
            args = TrainingArguments(
                output_dir=str(out_dir), max_steps=max_steps, per_device_train_batch_size=1,  # one item = one cached batch
                gradient_accumulation_steps=1, max_grad_norm=max_grad_norm, learning_rate=optimizer.param_groups[0]["lr"],
                weight_decay=0.0, use_cpu=True, bf16=False, fp16=False, eval_strategy="no", save_strategy="no",
                logging_strategy="no", report_to="none", disable_tqdm=True, dataloader_num_workers=0,
                dataloader_pin_memory=False, remove_unused_columns=False, train_sampling_strategy="sequential", seed=0)
            self.trainer = RecordingTrainer(model=model, args=args, data_collator=lambda items: items[0],
                                            train_dataset=CachedBatches(batches), optimizers=(optimizer, scheduler),
                                            callbacks=[StepClock()])
            self.init_s = time.perf_counter() - t0
            self.trainer.remove_callback(PrinterCallback)  # logging off: no end-of-train metrics line
        finally:
            os.environ.update(saved)
        self.distributed_type = str(self.trainer.accelerator.distributed_type)
        self.thread = threading.Thread(target=self._train, name="hf-trainer", daemon=True)

    def _train(self):
        try:
            self.t_train_call = time.perf_counter()
            self.trainer.train()
            self.t_train_return = time.perf_counter()
        except BaseException as exc:  # re-raised in the main thread
            self.error = exc
        finally:
            self.parked.set()

    def run_until(self, step: int) -> None:
        """Let the Trainer run up to global step `step`, then park it again (blocks until it is parked or done)."""
        self.target = step
        self.parked.clear()
        if not self.thread.is_alive() and self.t_train_return is None and self.error is None:
            self.thread.start()
        else:
            self.go.set()
        self.parked.wait()
        if self.error is not None:
            raise RuntimeError("the HF Trainer side failed") from self.error

    def finish(self) -> dict:
        self.go.set()  # release the last park: train() then returns
        self.thread.join()
        if self.error is not None:
            raise RuntimeError("the HF Trainer side failed") from self.error
        model = self.trainer.model_wrapped
        return {
            "trainer_init_s": self.init_s,
            "trainer_train_to_first_step_s": self.t_first_begin - self.t_train_call,
            "trainer_last_step_to_return_s": self.t_train_return - self.t_resumed,
            "trainer_distributed_type": self.distributed_type,
            "trainer_model_wrapper": type(model).__name__,
        }


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
        print(f"\n## engine step vs bare PyTorch vs HF Trainer (tiny Qwen2.5-VL hidden {args.hidden}, {params / 1e6:.2f}M params, "
              f"batch {args.batch}, ZeRO-{args.zero_stage}, fp32 CPU, {args.rounds} rounds x {args.steps} steps each side, "
              f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')})")
        print("| engine samples/s | bare samples/s | Trainer samples/s | engine / bare | engine / Trainer | Trainer / bare |")
        print("|---|---|---|---|---|---|")
        print(f"| {t['engine_samples_per_s']:.1f} | {t['bare_samples_per_s']:.1f} | {t['trainer_samples_per_s']:.1f} "
              f"| {t['ratio']:.3f} | {t['ratio_engine_trainer']:.3f} | {t['ratio_trainer_bare']:.3f} |")
        print(f"Trainer, step body only (on_step_begin -> on_step_end, without its batch fetch and between-step checks): "
              f"{t['trainer_step_body_samples_per_s']:.1f} samples/s")
        print(f"Trainer start-up, not in the rates above: TrainingArguments + Trainer(...) {t['trainer_init_s']:.2f} s, train() to its first step "
              f"{t['trainer_train_to_first_step_s']:.2f} s, last step to train() return {t['trainer_last_step_to_return_s']:.2f} s "
              f"(accelerate: {t['trainer_distributed_type']}, model wrapper {t['trainer_model_wrapper']})")
        print(f"same computation: first-step loss engine {t['first_step_loss_engine']:.6f}, bare {t['first_step_loss_bare']:.6f}, "
              f"Trainer {t['first_step_loss_trainer']:.6f}; max |loss difference| over the {args.warmup} warm-up steps: "
              f"engine-bare {t['max_warmup_loss_diff']:.2e}, Trainer-bare {t['max_warmup_loss_diff_trainer']:.2e} "
              f"(tolerance {LOSS_TOLERANCE:.0e})")
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
