"""Classify unlabeled images with a trained classifier (issue 14).

    python -m qc_engine.predict --checkpoint C --images I [I ...] --out F [--top-k 5] [--batch-size B]
                                [--on-bad-image error|skip] [--revision R]
    torchrun --nproc-per-node N -m qc_engine.predict ...   # data-parallel; every image predicted once

--checkpoint: a checkpoint-N folder (its hf_model/ is loaded; a LoRA checkpoint without one: the run's base model
+ its adapter/ through peft), an hf_model/ folder, or a Hub model id
(downloaded once through huggingface_hub's cache; HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE apply).
--images: image files, folders (every image file below them, sorted) and/or JSONL files
({"image": path, "label"?: id or name}; relative paths against the JSONL's folder).

Preprocessing is READ from what the checkpoint records, never guessed (preprocessing_source):
  1. the run's resolved_config.json (checkpoint-N/.. or checkpoint-N/hf_model/../.., else the checkpoint's own
     copy): data.prompt and pixel bounds; an adapter-only LoRA checkpoint needs it (and model.pooling);
  2. else eval_results.json entries beside hf_model/ (a pushed checkpoint carries it): their "preprocessing";
  3. else hf_model/config.json "qc_preprocessing".
The pixel bounds of 2/3 fall back to the processor's own (preprocessor_config.json, saved at training).
Nothing found: exit 2 naming what was looked for.

Writes --out (.jsonl or .csv) atomically (fsio.write_text_atomic), rank 0, only when every image was predicted.
stdout (rank 0): JSON lines plan / progress / bad_image / summary / error.
Exit codes: 0 done; 2 bad input (nothing written); 1 anything else.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from huggingface_hub import snapshot_download
from huggingface_hub.errors import (GatedRepoError, LocalEntryNotFoundError, RepositoryNotFoundError,
                                    RevisionNotFoundError)
from PIL import Image
from torch.utils.data import DataLoader

from . import dist as qd
from .config import load_resolved
from .data import ClassifierCollator, PaddedEvalSampler
from .errors import EXIT_FAILED, EXIT_OK, BadInput, report_failure
from .fsio import read_json, write_text_atomic
from .lora import AdapterModels, adapter_folder, base_model_folder, missing_weights_message
from .model import load_processing
from .modeling_qwen_classifier import Qwen2_5_VLForImageClassification
from .protocol import emit

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
HUB_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class Item:
    image: str  # absolute path
    label: int  # -1: unlabeled
    where: str  # "file.jsonl:3" or the path given


# ==================================================================== arguments and output

def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m qc_engine.predict", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="checkpoint-N, hf_model/ folder or Hub model id")
    parser.add_argument("--revision", default=None, help="Hub revision (branch, tag, commit) for a Hub id")
    parser.add_argument("--images", nargs="+", required=True, help="image files, folders, JSONL files")
    parser.add_argument("--out", required=True, help="predictions file: .jsonl or .csv")
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=8, help="per-process batch size")
    parser.add_argument("--on-bad-image", choices=("error", "skip"), default="error")
    return parser.parse_args(argv)


# ==================================================================== the model source

def resolve_model(spec: str, revision: str | None) -> dict:
    """{hf_dir, checkpoint (folder or None), source, commit}: where the weights and processor files are.
    An adapter-only LoRA checkpoint (no hf_model/, adapter/ + training_info.json "lora") gives source "adapter",
    hf_dir None, and its adapter/ and base model folder (lora.base_model_folder) instead."""
    path = Path(spec).expanduser()
    if path.is_dir():
        path = path.resolve()
        if (path / "hf_model").is_dir() or (path / "training_info.json").is_file():
            hf_dir = path / "hf_model"
            if not (hf_dir / "config.json").is_file():
                return adapter_model(path)
            return {"hf_dir": hf_dir, "checkpoint": path, "source": "checkpoint", "commit": None}
        if (path / "config.json").is_file():
            checkpoint = path.parent if (path.parent / "training_info.json").is_file() else None
            return {"hf_dir": path, "checkpoint": checkpoint, "source": "hf_model", "commit": None}
        raise BadInput(f"--checkpoint {path}: neither a checkpoint-N folder nor an hf_model/ folder (no config.json)")
    if not HUB_ID_RE.match(spec) or spec.startswith((".", "/")):
        raise BadInput(f"--checkpoint {spec}: no such folder (and not a Hub model id namespace/name)")
    return download_model(spec, revision)


def adapter_model(path: Path) -> dict:
    """A checkpoint without hf_model/: its adapter/ on the run's base model, or BadInput naming the fix."""
    info = read_json(path / "training_info.json")
    if not isinstance(info, dict):
        raise BadInput(f"--checkpoint {path}: no hf_model/ and no readable training_info.json (an incomplete "
                       "checkpoint); pass a complete checkpoint-N folder")
    adapter = adapter_folder(path, info)
    if adapter is None:
        raise BadInput(f"--checkpoint {missing_weights_message(path, info)}")
    return {"hf_dir": None, "checkpoint": path, "source": "adapter", "commit": None, "adapter": adapter,
            "base": base_model_folder(path, info), "id2label": info.get("id2label") or {}}


def download_model(repo: str, revision: str | None) -> dict:
    """snapshot_download into the standard cache (resumes; HF_HUB_OFFLINE uses the cache only)."""
    try:
        local = Path(snapshot_download(repo, revision=revision))
    except GatedRepoError:
        raise BadInput(f"--checkpoint {repo}: gated or private; set HF_TOKEN to a token that can read it") from None
    except RepositoryNotFoundError:
        raise BadInput(f"--checkpoint {repo}: no such model repository on the Hub (or no access: set HF_TOKEN)") from None
    except RevisionNotFoundError:
        raise BadInput(f"--checkpoint {repo}: revision {revision!r} does not exist") from None
    except LocalEntryNotFoundError as exc:
        raise BadInput(f"--checkpoint {repo}: not in the local cache and the Hub cannot be reached ({exc})") from None
    if not (local / "config.json").is_file():
        raise BadInput(f"--checkpoint {repo}: the repository has no config.json at its root")
    return {"hf_dir": local, "checkpoint": None, "source": "hub", "commit": local.name, "repo": repo}


def preprocessing_source(model: dict) -> dict:
    """{prompt, image_min_pixels, image_max_pixels (None: the processor's own), from}: what training used."""
    ckpt = model.get("checkpoint")
    hf_dir = Path(model["hf_dir"]) if model["hf_dir"] else ckpt / "hf_model"  # adapter-only: never read below
    resolved = run_config_file(ckpt) if ckpt else None
    if resolved is not None:
        data = load_resolved(resolved)[0].data  # ConfigError (BadInput) names the key when the file is off
        return {"prompt": data.prompt, "image_min_pixels": data.image_min_pixels,
                "image_max_pixels": data.image_max_pixels, "from": str(resolved)}
    if model["source"] == "adapter":  # the base's own processor settings are not the run's: never guess them
        raise BadInput(f"{ckpt}: an adapter-only checkpoint needs the run's resolved_config.json (in the checkpoint "
                       "or its output_dir) for the prompt and pixel bounds; copy it back beside the checkpoint")
    for results in (hf_dir.parent / "eval_results.json", hf_dir / "eval_results.json"):
        settings = _recorded_settings(results)
        if settings:
            return {**settings, "from": str(results)}
    config = json.loads((hf_dir / "config.json").read_text())
    if isinstance(config.get("qc_preprocessing"), dict) and "prompt" in config["qc_preprocessing"]:
        p = config["qc_preprocessing"]
        return {"prompt": p["prompt"], "image_min_pixels": p.get("image_min_pixels"),
                "image_max_pixels": p.get("image_max_pixels"), "from": str(hf_dir / "config.json")}
    raise BadInput(f"{hf_dir}: the prompt this model was trained with is not recorded (looked for the run's "
                   "resolved_config.json, eval_results.json preprocessing, config.json qc_preprocessing); "
                   "predict from the checkpoint-N folder of the run")


def run_config_file(checkpoint: Path) -> Path | None:
    """The run's resolved_config.json: OUT/ beside checkpoint-N, else the checkpoint's own copy."""
    for path in (checkpoint.parent / "resolved_config.json", checkpoint / "resolved_config.json"):
        if path.is_file():
            return path
    return None


def _recorded_settings(path: Path) -> dict | None:
    entries = read_json(path)
    if not isinstance(entries, dict):
        return None
    found = [e["preprocessing"] for e in entries.values() if isinstance(e, dict) and isinstance(e.get("preprocessing"), dict)]
    if not found:
        return None
    if any(f != found[0] for f in found[1:]):
        raise BadInput(f"{path}: its entries record different preprocessing settings; predict from the run's checkpoint")
    try:  # eval_records.preprocessing_settings writes all three
        return {key: found[0][key] for key in ("prompt", "image_min_pixels", "image_max_pixels")}
    except KeyError as exc:
        raise BadInput(f"{path}: a preprocessing record lacks {exc}; predict from the run's checkpoint") from None


def class_names_of(model: dict) -> list[str]:
    """hf_model/config.json id2label, or an adapter-only checkpoint's training_info.json id2label."""
    if model["hf_dir"] is None:
        where, id2label = model["checkpoint"] / "training_info.json", model["id2label"]
    else:
        where = Path(model["hf_dir"]) / "config.json"
        id2label = json.loads(where.read_text()).get("id2label") or {}
    try:
        return [str(id2label[str(i)]) for i in range(len(id2label))]
    except KeyError:
        raise BadInput(f"{where}: id2label is not indexed 0..{len(id2label) - 1}") from None


# ==================================================================== the images

def collect_items(specs: list[str], class_names: list[str]) -> list[Item]:
    """Files, folders (recursive, sorted) and JSONL files -> items in the order given."""
    items: list[Item] = []
    for spec in specs:
        path = Path(spec).expanduser().resolve()
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
            if not files:
                raise BadInput(f"--images {spec}: no image files ({', '.join(sorted(IMAGE_EXTENSIONS))}) in that folder")
            items += [Item(str(p), -1, str(p)) for p in files]
        elif path.suffix.lower() == ".jsonl":
            if not path.is_file():
                raise BadInput(f"--images {spec}: file does not exist")
            items += read_image_jsonl(path, class_names)
        else:
            items.append(Item(str(path), -1, spec))  # a missing file is a bad image (checked next)
    if not items:
        raise BadInput("--images: no images to classify")
    return items


def read_image_jsonl(path: Path, class_names: list[str]) -> list[Item]:
    name_to_id = {n: i for i, n in enumerate(class_names)}
    items = []
    with path.open(encoding="utf-8") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise BadInput(f"{where}: malformed JSON ({exc.msg})") from None
            if not isinstance(obj, dict) or not isinstance(obj.get("image"), str) or not obj["image"]:
                raise BadInput(f"{where}: expected an object with an \"image\" path")
            label = obj.get("label", None)
            if label is None:
                label_id = -1
            elif isinstance(label, int) and not isinstance(label, bool) and 0 <= label < len(class_names):
                label_id = label
            elif isinstance(label, str) and label in name_to_id:
                label_id = name_to_id[label]
            else:
                raise BadInput(f"{where}: label {label!r} is not one of the model's {len(class_names)} classes "
                               f"({', '.join(class_names[:10])}{'...' if len(class_names) > 10 else ''})")
            image = obj["image"] if os.path.isabs(obj["image"]) else str((path.parent / obj["image"]).resolve())
            items.append(Item(image, label_id, where))
    return items


def image_problem(path: str) -> str | None:
    """Why the image cannot be used (missing, undecodable), or None. Decodes fully: verify() misses truncation."""
    if not os.path.isfile(path):
        return "does not exist"
    try:
        with Image.open(path) as img:
            img.convert("RGB")
    except Exception as exc:  # PIL raises many types for corrupt files
        return f"cannot be decoded ({type(exc).__name__}: {exc})"
    return None


def check_images(items: list[Item], on_bad: str) -> tuple[list[Item], list[dict]]:
    with ThreadPoolExecutor(max_workers=8) as pool:
        problems = list(pool.map(image_problem, [i.image for i in items]))
    bad = [{"image": i.image, "where": i.where, "problem": p} for i, p in zip(items, problems) if p]
    if bad and on_bad == "error":
        more = f" (and {len(bad) - 1} more bad image(s))" if len(bad) > 1 else ""
        raise BadInput(f"{bad[0]['where']}: image {bad[0]['image']} {bad[0]['problem']}{more}; "
                       "fix or remove it, or pass --on-bad-image skip")
    good = [i for i, p in zip(items, problems) if not p]
    if not good:
        raise BadInput(f"--images: all {len(items)} image(s) are bad (first: {bad[0]['image']} {bad[0]['problem']})")
    return good, bad


# ==================================================================== the forward passes

class ItemDataset:
    def __init__(self, items: list[Item]):
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        item = self.items[max(index, 0)]  # -1: a padding slot (the first image, dropped after the gather)
        with Image.open(item.image) as img:
            return img.convert("RGB"), item.label, index


def run_model(model, items: list[Item], collator, batch_size: int, device, dtype):
    """Probabilities (softmax of logits), labels and indices of every item, gathered from every rank, in order."""
    sampler = PaddedEvalSampler(list(range(len(items))), qd.world_size(), qd.rank(), batch_size)
    loader = DataLoader(ItemDataset(items), batch_size=batch_size, sampler=sampler, collate_fn=collator)
    num_batches = len(sampler) // batch_size
    probs, indices, last = [], [], 0.0
    with torch.inference_mode():
        for i, batch in enumerate(loader, start=1):
            inputs = {k: v.to(device) for k, v in batch.items() if k not in ("labels", "indices")}
            if dtype is not None:
                inputs["pixel_values"] = inputs["pixel_values"].to(dtype)
            probs.append(torch.softmax(model(**inputs).logits.float(), dim=-1))
            indices.append(batch["indices"].to(device))
            if time.time() - last >= 0.5 or i == num_batches:
                last = time.time()
                emit("progress", batch=i, num_batches=num_batches, images=min(i * batch_size * qd.world_size(), len(items)))
    all_probs = qd.all_gather_tensor(torch.cat(probs))
    all_idx = qd.all_gather_tensor(torch.cat(indices))
    keep = all_idx >= 0
    all_probs, all_idx = all_probs[keep].cpu().numpy(), all_idx[keep].cpu().numpy()
    order = np.argsort(all_idx, kind="stable")
    if len(all_idx) != len(items) or len(np.unique(all_idx)) != len(items):
        raise RuntimeError(f"predicted {len(all_idx)} images for {len(items)}")
    return all_probs[order]


# ==================================================================== the records

def prediction_records(items: list[Item], probs, class_names: list[str], top_k: int) -> list[dict]:
    k = min(top_k, len(class_names))
    records = []
    for item, row in zip(items, probs):
        top = np.argsort(-row, kind="stable")[:k]
        record = {"image": item.image, "prediction": class_names[int(top[0])], "probability": float(row[top[0]]),
                  "top_k": [{"label": class_names[int(j)], "probability": float(row[j])} for j in top]}
        if item.label >= 0:
            record["label"] = class_names[item.label]
            record["correct"] = int(top[0]) == item.label
        records.append(record)
    return records


def render(records: list[dict], fmt: str) -> str:
    if fmt == "jsonl":
        return "".join(json.dumps(r) + "\n" for r in records)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    labeled = any("label" in r for r in records)
    writer.writerow(["image", "prediction", "probability", "top_k"] + (["label", "correct"] if labeled else []))
    for r in records:
        top = ";".join(f"{t['label']}:{t['probability']:.6f}" for t in r["top_k"])
        row = [r["image"], r["prediction"], f"{r['probability']:.6f}", top]
        writer.writerow(row + ([r.get("label", ""), r.get("correct", "")] if labeled else []))
    return buf.getvalue()


# ==================================================================== main

def load_model(model_src: dict, class_names: list[str], device, dtype):
    """The classifier for inference: hf_model/ as saved, or the base + adapter/ through peft (lora.AdapterModels,
    the loader evaluate uses too). The engine's own class either way: no remote code from a downloaded repo runs."""
    if model_src["source"] == "adapter":
        resolved = load_resolved(run_config_file(model_src["checkpoint"]))[0]  # preprocessing_source found it
        precision = "bf16" if dtype == torch.bfloat16 else "fp32"
        return AdapterModels(class_names, resolved.model.pooling, precision, device).load(model_src["base"],
                                                                                           model_src["adapter"])
    model = Qwen2_5_VLForImageClassification.from_pretrained(str(model_src["hf_dir"]), dtype=dtype or torch.float32)
    return model.to(device).eval()


def check_inputs(args) -> dict:
    """Everything checked (rank 0) before a model is loaded or a file written."""
    fmt = Path(args.out).suffix.lower().lstrip(".")
    if fmt not in ("jsonl", "csv"):
        raise BadInput(f"--out {args.out}: the file name must end in .jsonl or .csv")
    if args.top_k < 1 or args.batch_size < 1:
        raise BadInput("--top-k and --batch-size must be >= 1")
    model = resolve_model(args.checkpoint, args.revision)
    class_names = class_names_of(model)
    settings = preprocessing_source(model)
    items, bad = check_images(collect_items(args.images, class_names), args.on_bad_image)
    return {"model": model, "class_names": class_names, "settings": settings, "items": items, "bad": bad, "format": fmt}


def run(args) -> int:
    t0 = time.time()
    device = qd.init_device()
    checked = None
    if qd.is_main():
        try:
            checked = {"ok": True, **check_inputs(args)}
        except BadInput as exc:
            checked = {"ok": False, "message": str(exc), "hint": exc.hint}
    checked = qd.broadcast_object(checked)
    if not checked["ok"]:
        raise BadInput(checked["message"], hint=checked["hint"])
    model_src, settings, items, names = checked["model"], checked["settings"], checked["items"], checked["class_names"]
    for b in checked["bad"]:
        emit("bad_image", **b)
    dtype = torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else None
    where = str(model_src["hf_dir"] or model_src["adapter"])
    emit("plan", model=where, source=model_src["source"], commit=model_src.get("commit"),
         num_images=len(items), skipped=len(checked["bad"]), labeled=sum(i.label >= 0 for i in items),
         batch_size=args.batch_size, world_size=qd.world_size(), device=device.type, preprocessing=settings)
    files = model_src["hf_dir"] or model_src["base"]  # adapter-only: the base's tokenizer and image processor
    tokenizer, image_processor = load_processing(files, settings["image_min_pixels"], settings["image_max_pixels"])
    collator = ClassifierCollator(tokenizer, image_processor, settings["prompt"])
    model = load_model(model_src, names, device, dtype)
    t_pred = time.time()
    probs = run_model(model, items, collator, args.batch_size, device, dtype)
    seconds = time.time() - t_pred
    records = prediction_records(items, probs, names, args.top_k)
    labeled = [r for r in records if "label" in r]
    accuracy = sum(r["correct"] for r in labeled) / len(labeled) if labeled else None
    if qd.is_main():
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(Path(args.out), render(records, checked["format"]))
    emit("summary", out=str(Path(args.out).resolve()), format=checked["format"], num_images=len(records),
         skipped=checked["bad"], labeled=len(labeled), accuracy=accuracy, seconds=seconds,
         images_per_s=len(records) / max(seconds, 1e-9), total_seconds=time.time() - t0,
         model=where, source=model_src["source"], commit=model_src.get("commit"),
         preprocessing=settings, world_size=qd.world_size(), device=device.type)
    return EXIT_OK


def main(argv=None) -> int:
    args = parse_args(argv)
    code = EXIT_FAILED
    try:
        code = run(args)
    except Exception as exc:  # noqa: BLE001 - bad input exit 2, anything else exit 1, both as an error event
        code = report_failure(exc, emit, to_stderr=qd.is_main())
    qd.exit_process(code, ok_code=EXIT_OK)


if __name__ == "__main__":
    sys.exit(main())
