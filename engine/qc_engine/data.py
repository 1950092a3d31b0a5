"""JSONL data: validation before training, a PIL Dataset, the processor collate, samplers.

A line is {"image": "<path>", "label": <int or class name>}; a relative path is resolved
against the JSONL file's folder. Reused by training, evaluation and export.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import Dataset, Sampler
from torch.utils.data.distributed import DistributedSampler

from .config import DatasetEntry, QwenClassifyConfig
from .errors import BadInput

VISION_PLACEHOLDER = "<|vision_start|><|image_pad|><|vision_end|>"
SYSTEM_PROMPT = "You are a helpful assistant."


class DataError(BadInput):
    """Bad input data (exit code 2). str() is the problem (naming file:line); `hint` the fix, which
    depends on the caller (training can skip bad lines, evaluation cannot)."""


SKIP_HINT = "fix the data or set data.on_bad_sample: skip"


@dataclass(frozen=True)
class Sample:
    image: str  # absolute path
    label: int
    line: int  # 1-based line number in the JSONL file


@dataclass
class LoadedSplit:
    path: str
    samples: list[Sample]
    skipped: list[str]  # "file:line: reason" for every dropped line (on_bad_sample=skip)


# ---------------------------------------------------------------- class names

def config_names_classes(config: QwenClassifyConfig) -> bool:
    """Whether the config names the classes (else they are the ids "0".."N-1" and labels must be ids)."""
    entry = selected_dataset_entry(config)
    return bool((entry and entry.class_names) or config.data.labels_file)


def load_class_names(config: QwenClassifyConfig) -> list[str]:
    """Class names in label-id order: datasets entry class_names > data.labels_file > "0".."N-1"."""
    num_labels = config.model.num_labels
    entry = selected_dataset_entry(config)
    names = None
    if entry and entry.class_names:
        names = [str(n) for n in entry.class_names]
        where = "datasets.dataset_configs.<name>.class_names"
    elif config.data.labels_file:
        names = read_labels_file(config.data.labels_file)
        where = config.data.labels_file
    if names is None:
        return [str(i) for i in range(num_labels)]
    if len(names) != num_labels:
        raise DataError(f"{where}: {len(names)} class names but model.num_labels is {num_labels}; make them agree")
    if len(set(names)) != len(names):
        raise DataError(f"{where}: class names are not unique")
    return names


def selected_dataset_entry(config: QwenClassifyConfig) -> DatasetEntry | None:
    entries = config.datasets.dataset_configs
    name = config.data.dataset
    if name:
        return entries.get(name)
    if len(entries) == 1:
        return next(iter(entries.values()))
    return None


def read_labels_file(path: str | Path) -> list[str]:
    """labels.json: ["name0", ...] or {"0": "name0", ...} (or {"id2label": {...}})."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"data.labels_file: {path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    if isinstance(data, dict) and isinstance(data.get("id2label"), dict):
        data = data["id2label"]
    if isinstance(data, list):
        if not all(isinstance(n, str) for n in data):
            raise DataError(f"{path}: every entry of the array must be a class name (string)")
        return list(data)
    if isinstance(data, dict):
        # ids "0".."N-1", each a string name (the rules of lib/data/classes.ts parseLabelsFile)
        for i in range(len(data)):
            if not isinstance(data.get(str(i)), str):
                raise DataError(f"{path}: label ids must be 0..{len(data) - 1} without gaps, each with a string "
                                f"name; id \"{i}\" is {'missing' if str(i) not in data else 'not a string'}")
        return [data[str(i)] for i in range(len(data))]
    raise DataError(f"{path}: expected a list of class names or an id -> name object")


# ---------------------------------------------------------------- validation

def _check_image(path: str) -> str | None:
    if not os.path.isfile(path):
        return f"image {path} does not exist"
    try:
        with Image.open(path) as img:
            img.verify()
    except Exception as exc:  # PIL raises many types for corrupt files
        return f"image {path} cannot be decoded ({type(exc).__name__}: {exc})"
    return None


@dataclass(frozen=True)
class LineProblem:
    kind: str  # the same kinds as lib/data/check.ts checkLine (test/fixtures/data_rules)
    message: str


def parse_line(text: str, class_names: list[str], name_to_id: dict[str, int] | None = None,
               names_are_ids: bool = False) -> tuple[str, int] | LineProblem:
    """One JSONL line -> (image, label id) or the problem. The rules of lib/data/check.ts checkLine:
    an object with "image" (a non-blank string) and "label" (an integral id in range, or a class name;
    names only when the config names the classes, i.e. not `names_are_ids`)."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        return LineProblem("invalid_json", f"malformed JSON ({exc.msg} at column {exc.colno})")
    if not isinstance(obj, dict):
        return LineProblem("not_an_object", "expected an object with \"image\" and \"label\"")
    if "image" not in obj or "label" not in obj:
        return LineProblem("missing_field", "expected an object with \"image\" and \"label\"")
    image, label = obj["image"], obj["label"]
    if not isinstance(image, str) or not image.strip():
        return LineProblem("bad_field", "\"image\" must be a non-empty path string")
    if isinstance(label, float) and label.is_integer():
        label = int(label)  # 3.0 is 3, as JSON.parse reads it on the TypeScript side
    if isinstance(label, bool) or not isinstance(label, (int, str)):
        return LineProblem("bad_field", f"label {label!r} is not an int or class name")
    if isinstance(label, int):
        if not 0 <= label < len(class_names):
            return LineProblem("label_out_of_range", f"label {label} out of range 0..{len(class_names) - 1}")
        return image, label
    name_to_id = name_to_id if name_to_id is not None else {n: i for i, n in enumerate(class_names)}
    if names_are_ids or label not in name_to_id:
        return LineProblem("unknown_class_name",
                           f"unknown class name {label!r} (not in the {len(class_names)} class names)"
                           if not names_are_ids else
                           f"label {label!r} is a class name, but the config names no classes; use integer ids")
    return image, name_to_id[label]


def read_jsonl(path: str | Path, class_names: list[str], on_bad_sample: str = "error",
               check_images: bool = True, workers: int = 8, names_are_ids: bool = False) -> LoadedSplit:
    """Parse and validate every line; raise DataError naming file:line, or skip bad lines.
    `names_are_ids`: the class names are the ids "0".."N-1" (the config names none)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: data file does not exist")
    name_to_id = {n: i for i, n in enumerate(class_names)}
    base = path.parent
    candidates: list[Sample] = []
    problems: list[tuple[int, str]] = []
    with path.open("r", encoding="utf-8") as fh:
        for lineno, raw in enumerate(fh, start=1):
            text = raw.strip()
            if not text:
                continue
            where = f"{path}:{lineno}"
            verdict = parse_line(text, class_names, name_to_id, names_are_ids)
            if isinstance(verdict, LineProblem):
                problems.append((lineno, f"{where}: {verdict.message}"))
                continue
            image, label_id = verdict
            image_path = image if os.path.isabs(image) else str((base / image).resolve())
            candidates.append(Sample(image=image_path, label=label_id, line=lineno))
    samples = candidates
    if check_images and candidates:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(_check_image, [s.image for s in candidates]))
        samples = []
        for sample, problem in zip(candidates, results):
            if problem:
                problems.append((sample.line, f"{path}:{sample.line}: {problem}"))
            else:
                samples.append(sample)
    messages = [msg for _, msg in sorted(problems)]
    if messages and on_bad_sample == "error":
        more = f" (and {len(messages) - 1} more bad line(s))" if len(messages) > 1 else ""
        raise DataError(f"{messages[0]}{more}", hint=SKIP_HINT)
    return LoadedSplit(path=str(path), samples=samples, skipped=messages)


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------- dataset + collate

class ImageClassificationDataset(Dataset):
    """Opens images lazily with PIL (RGB). Items: (PIL image, label, index)."""

    def __init__(self, samples: list[Sample]):
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        sample = self.samples[index]
        try:
            with Image.open(sample.image) as img:
                image = img.convert("RGB")
        except Exception as exc:
            raise DataError(f"image {sample.image} cannot be decoded ({exc})") from exc
        return image, sample.label, index


def build_prompt(prompt: str) -> str:
    """The fixed chat-style prompt; the image placeholder is expanded by `encode_batch`."""
    return (
        f"<|im_start|>system\n{SYSTEM_PROMPT}<|im_end|>\n"
        f"<|im_start|>user\n{VISION_PLACEHOLDER}{prompt}<|im_end|>\n"
        f"<|im_start|>assistant\n"
    )


class ClassifierCollator:
    """Runs the model's image processor and tokenizer on a batch and pads it.

    Each <|image_pad|> is expanded to grid_t*grid_h*grid_w / merge_size^2 copies, exactly as
    Qwen2_5_VLProcessor does (that class also needs a video processor, i.e. torchvision, which
    a CPU-only install lacks; the image path is identical).
    """

    def __init__(self, tokenizer, image_processor, prompt: str):
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.text = build_prompt(prompt)
        self.merge = int(getattr(image_processor, "merge_size", 2)) ** 2

    def __call__(self, batch):
        images, labels, indices = zip(*batch)
        vision = self.image_processor(images=list(images), return_tensors="pt")
        grid = vision["image_grid_thw"]
        texts = [
            self.text.replace("<|image_pad|>", "<|image_pad|>" * int(grid[i].prod().item() // self.merge), 1)
            for i in range(len(images))
        ]
        tokens = self.tokenizer(texts, padding=True, return_tensors="pt")
        return {
            "input_ids": tokens["input_ids"],
            "attention_mask": tokens["attention_mask"],
            "pixel_values": vision["pixel_values"],
            "image_grid_thw": grid,
            "labels": torch.tensor(labels, dtype=torch.long),
            "indices": torch.tensor(indices, dtype=torch.long),
        }


# ---------------------------------------------------------------- samplers

class ResumableDistributedSampler(DistributedSampler):
    """DistributedSampler (seeded, drop_last) that can start part-way through an epoch."""

    def __init__(self, dataset, num_replicas: int, rank: int, seed: int, shuffle: bool = True):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed, drop_last=True)
        self.start_index = 0

    def set_start_index(self, start_index: int) -> None:
        self.start_index = int(start_index)

    def __iter__(self):
        indices = list(super().__iter__())
        return iter(indices[self.start_index:])

    def __len__(self) -> int:
        return max(0, self.num_samples - self.start_index)


class PaddedEvalSampler(Sampler):
    """Every rank gets the same number of indices; padding slots are -1 (filtered after gather).

    Rank r takes positions r, r+W, r+2W, ... of `indices` padded to a multiple of W*batch.
    """

    def __init__(self, indices: list[int], num_replicas: int, rank: int, batch_size: int):
        chunk = num_replicas * batch_size
        total = ((len(indices) + chunk - 1) // chunk) * chunk
        padded = list(indices) + [-1] * (total - len(indices))
        self.indices = padded[rank::num_replicas]

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


class PaddedDataset(Dataset):
    """Wraps a dataset so that index -1 yields a real sample (the first) marked with index -1."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        if index < 0:
            image, label, _ = self.dataset[0]
            return image, label, -1
        return self.dataset[index]
