"""Checkpoint I/O, in one run: one save with and without the optimizer state and with deferred export,
then the export of the deferred checkpoint against a plain `dd` of the same size on the same disk.

    .venv/bin/python bench/checkpoint_io.py [--hidden 1024 --layers 8] [--runs 3] [--dir DIR]

Saves go through the engine's own calls (qc_engine.train does exactly these): a ZeRO-2 DeepSpeed engine
(1 process, CPU, fp32, torch AdamW) after one optimizer step, then
  every_save : engine.save_checkpoint(deepspeed/) + save_hf_model(hf_model/)   (hf_format: every_save)
  deferred   : engine.save_checkpoint(deepspeed/) only                          (hf_format: deferred)
  no optimizer state : save_hf_model(hf_model/) only  (what a slim checkpoint keeps)
alternating, median of --runs, each timed step after os.sync(). The export is `python -m qc_engine.export --dtype fp32` on the deferred
checkpoint (its own write phase and the whole process), beside `dd if=/dev/zero bs=1M` of the same
bytes into the same folder, without and with conv=fdatasync (the export does not fsync either).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "engine"))
PYTHON = str(REPO / ".venv" / "bin" / "python")


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def mib(n: float) -> str:
    return f"{n / 2**20:.1f} MiB"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hidden", type=int, default=1024)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", default=None, help="working folder (default: a new temp folder; the disk measured)")
    args = ap.parse_args()

    os.environ.update({"DS_ACCELERATOR": "cpu", "RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0",
                       "LOCAL_WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()),
                       "TOKENIZERS_PARALLELISM": "false"})
    import deepspeed
    import torch
    import transformers
    from PIL import Image

    transformers.logging.set_verbosity_error()
    from qc_engine.data import ClassifierCollator
    from qc_engine.model import build_classifier, load_processing, save_hf_model
    from qc_engine.tiny import build_tiny_model
    from qc_engine import dist as qd

    work = Path(args.dir or tempfile.mkdtemp(prefix="qc-bench-ckpt-"))
    work.mkdir(parents=True, exist_ok=True)
    base = work / "base_model"
    if not base.exists():
        build_tiny_model(base, hidden_size=args.hidden, intermediate_size=args.hidden * 3,
                         num_hidden_layers=args.layers, num_attention_heads=8, num_key_value_heads=4)
    classes = [str(i) for i in range(10)]

    # ---------------------------------------------------------------- a DeepSpeed engine after one step
    qd.init_deepspeed_distributed()  # as the engine: no DeepSpeed CPU comm op build
    model = build_classifier(base, classes, seed=0)
    n_params = sum(p.numel() for p in model.parameters())
    tokenizer, image_processor = load_processing(base, 3136, 3136)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    ds_config = {"train_micro_batch_size_per_gpu": 2, "gradient_accumulation_steps": 1, "gradient_clipping": 1.0,
                 "zero_optimization": {"stage": 2}, "steps_per_print": 10**9}
    engine, _, _, _ = deepspeed.initialize(model=model, optimizer=optimizer, config=ds_config,
                                           dist_init_required=False)
    collator = ClassifierCollator(tokenizer, image_processor, "What is shown in this image?")
    batch = collator([(Image.new("RGB", (56, 56), (i * 40, 0, 0)), i, i) for i in range(2)])
    loss = engine(**{k: v for k, v in batch.items() if k != "indices"}).loss
    engine.backward(loss)
    engine.step()
    print(f"model: {n_params:,} parameters (hidden {args.hidden}, {args.layers} layers), fp32, ZeRO-2, 1 process; "
          f"folder {work}", flush=True)

    # ---------------------------------------------------------------- saves, alternating
    def save(kind: str, run: int) -> tuple[float, int]:
        ckpt = work / f"{kind}-{run}"
        shutil.rmtree(ckpt, ignore_errors=True)
        ckpt.mkdir()
        os.sync()  # every timed step starts with no dirty pages left by the previous one
        t0 = time.perf_counter()
        if kind in ("every_save", "deferred"):
            engine.save_checkpoint(str(ckpt / "deepspeed"), tag="global_step1")
        if kind in ("every_save", "no_optimizer"):
            save_hf_model(ckpt / "hf_model", engine.module, tokenizer, image_processor, source_dir=base)
        seconds = time.perf_counter() - t0
        return seconds, dir_bytes(ckpt)

    kinds = ["every_save", "deferred", "no_optimizer"]
    times = {k: [] for k in kinds}
    sizes = {}
    save("every_save", -1)  # warm-up (first save imports and allocates)
    shutil.rmtree(work / "every_save--1", ignore_errors=True)
    for run in range(args.runs):
        for kind in kinds:
            s, b = save(kind, run)
            times[kind].append(s)
            sizes[kind] = b
            if not (kind == "deferred" and run == args.runs - 1):  # that one is exported below
                shutil.rmtree(work / f"{kind}-{run}", ignore_errors=True)

    # ---------------------------------------------------------------- export of the deferred checkpoint vs dd
    ckpt = work / f"deferred-{args.runs - 1}"
    info = {"step": 1, "world_size": 1, "zero_stage": 2, "precision": "fp32", "has_deepspeed_state": True,
            "has_hf_model": False, "slim": False, "id2label": {str(i): c for i, c in enumerate(classes)},
            "bytes": {"deepspeed": sizes["deferred"], "hf_model": 0, "total": sizes["deferred"]}}
    (ckpt / "training_info.json").write_text(json.dumps(info))
    resolved = {"config": {"model": {"pretrained_name": str(base), "pooling": "last_token"},
                           "data": {"image_min_pixels": 3136, "image_max_pixels": 3136}}}
    (work / "resolved_config.json").write_text(json.dumps(resolved))

    env = dict(os.environ, PYTHONPATH=str(REPO / "engine"))
    exports, dd_plain, dd_sync = [], [], []
    for run in range(args.runs):
        shutil.rmtree(ckpt / "hf_model", ignore_errors=True)
        os.sync()
        t0 = time.perf_counter()
        proc = subprocess.run([PYTHON, "-m", "qc_engine.export", "--checkpoint", str(ckpt), "--dtype", "fp32", "--json"],
                              env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            print(proc.stdout[-2000:], proc.stderr[-3000:], file=sys.stderr)
            return 1
        result = [json.loads(l) for l in proc.stdout.splitlines() if l.startswith('{"event": "result"')][0]
        exports.append((wall, result["write_seconds"], result["read_seconds"], result["bytes"]))
        count = max(1, round(result["bytes"] / 2**20))
        order = ((dd_plain, []), (dd_sync, ["conv=fdatasync"]))
        for target, extra in (order if run % 2 == 0 else order[::-1]):
            out = ckpt / "dd.bin"
            os.sync()
            t0 = time.perf_counter()
            subprocess.run(["dd", "if=/dev/zero", f"of={out}", "bs=1M", f"count={count}", *extra],
                           check=True, capture_output=True)
            target.append((time.perf_counter() - t0, count * 2**20))
            out.unlink()

    # ---------------------------------------------------------------- report
    med = statistics.median
    print(f"\nsaves (median of {args.runs}, alternating)")
    print(f"| save | seconds | bytes | vs every_save (time) |")
    print(f"|---|---|---|---|")
    label = {"every_save": "every_save: DeepSpeed state (incl. optimizer) + hf_model/",
             "deferred": "deferred: DeepSpeed state only",
             "no_optimizer": "without optimizer state: hf_model/ only (slim)"}
    for kind in kinds:
        print(f"| {label[kind]} | {med(times[kind]):.2f} | {mib(sizes[kind])} | "
              f"{med(times[kind]) / med(times['every_save']):.2f}x |")
    hf_bytes = med(e[3] for e in exports)
    write_s, wall_s = med(e[1] for e in exports), med(e[0] for e in exports)
    plain_s, sync_s = med(d[0] for d in dd_plain), med(d[0] for d in dd_sync)
    dd_bytes = dd_plain[0][1]
    print(f"\nexport of the deferred checkpoint (fp32, {mib(hf_bytes)} of safetensors) vs dd of {mib(dd_bytes)}, "
          f"same folder, median of {args.runs}")
    print("| what | seconds | MiB/s |")
    print("|---|---|---|")
    print(f"| export: write phase (save_hf_model into hf_model.tmp) | {write_s:.2f} | {hf_bytes / 2**20 / write_s:.0f} |")
    print(f"| export: whole process (python start, imports, ZeRO consolidation, write, checks, swap) | {wall_s:.2f} | "
          f"{hf_bytes / 2**20 / wall_s:.0f} |")
    print(f"| dd bs=1M (page cache) | {plain_s:.2f} | {dd_bytes / 2**20 / plain_s:.0f} |")
    print(f"| dd bs=1M conv=fdatasync | {sync_s:.2f} | {dd_bytes / 2**20 / sync_s:.0f} |")
    print(f"\nratios: deferred save / every_save save = {med(times['deferred']) / med(times['every_save']):.2f} (time), "
          f"{sizes['deferred'] / sizes['every_save']:.2f} (bytes); "
          f"slim / full bytes = {sizes['no_optimizer'] / sizes['every_save']:.2f}; "
          f"export write speed / dd = {(hf_bytes / write_s) / (dd_bytes / plain_s):.2f} (page cache), "
          f"{(hf_bytes / write_s) / (dd_bytes / sync_s):.2f} (vs fdatasync dd)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
