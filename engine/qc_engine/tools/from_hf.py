"""A Hugging Face data set -> this project's layout: images on disk, train/test JSONL, labels.json (issue 14).

    python -m qc_engine.tools.from_hf --dataset ID_OR_PATH --out DIR [--split train,validation]
        [--image-column image] [--label-column label] [--labels-file F] [--revision R]

Reads through `datasets` in STREAMING mode (a Hub id, or a local folder of parquet/arrow/... files that
load_dataset understands; a save_to_disk folder is memory-mapped): one row at a time, memory stays flat.
Images are written as the bytes the data set stores (`Image(decode=False)`), never re-encoded; the
extension comes from the bytes' format. Class names: the label column's ClassLabel names, else
--labels-file (then labels may be ids or names).

Output (DIR): images/<split>/<row>.<ext>, train.jsonl (first split), test.jsonl (second split, the
held-out one, as --from-food101 names it), labels.json {"0": name, ...}. Everything is written under
DIR/.from-hf.tmp-<pid>/ and moved into place only when every row of every split converted: an error
leaves DIR as it was.

stdout: JSON lines plan / progress / done / error. Exit codes: 0 done; 2 bad input (named: split and
row where there is one); 1 anything else.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sys
import time
from pathlib import Path

from datasets import ClassLabel, get_dataset_split_names, load_dataset, load_from_disk
from datasets import Image as ImageFeature
from PIL import Image

from ..errors import EXIT_OK, BadInput, report_failure
from ..fsio import write_json_atomic
from ..protocol import emit

FILE_NAMES = ("train.jsonl", "test.jsonl")
HELD_OUT = ("validation", "test", "valid", "val")
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp", "TIFF": "tif", "MPO": "jpg"}


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m qc_engine.tools.from_hf", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, help="Hub data set id or local folder")
    parser.add_argument("--out", required=True)
    parser.add_argument("--split", default="", help="TRAIN[,HELD_OUT]; default: train + validation|test")
    parser.add_argument("--image-column", default="image")
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--labels-file", default=None, help="class names when the label column is not a ClassLabel")
    parser.add_argument("--revision", default=None)
    return parser.parse_args(argv)


# ==================================================================== opening the splits

def is_saved_to_disk(source: str) -> bool:
    path = Path(source)
    return path.is_dir() and ((path / "dataset_dict.json").is_file() or (path / "state.json").is_file())


def split_names(source: str, revision: str | None) -> list[str]:
    if is_saved_to_disk(source):
        loaded = load_from_disk(source)
        return list(loaded.keys()) if hasattr(loaded, "keys") else ["train"]
    try:
        return list(get_dataset_split_names(source, revision=revision))
    except FileNotFoundError as exc:
        raise BadInput(f"--from-hf {source}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - the Hub's and datasets' many error types
        raise BadInput(f"--from-hf {source}: cannot read the data set ({type(exc).__name__}: {exc})") from None


def choose_splits(asked: str, available: list[str]) -> list[str]:
    if asked:
        splits = [s.strip() for s in asked.split(",") if s.strip()]
        if not 1 <= len(splits) <= 2:
            raise BadInput(f"--split {asked}: give TRAIN or TRAIN,HELD_OUT (one or two split names)")
        for s in splits:
            if s not in available:
                raise BadInput(f"--split: the data set has no split {s!r}; it has {', '.join(available)}")
        return splits
    if "train" not in available:
        raise BadInput(f"the data set has no 'train' split (it has {', '.join(available)}); name the splits with --split")
    held = next((s for s in HELD_OUT if s in available), None)
    return ["train"] + ([held] if held else [])


def open_split(source: str, split: str, revision: str | None):
    """An iterable over the split's rows (streamed) and its features (None when unknown)."""
    if is_saved_to_disk(source):
        loaded = load_from_disk(source)
        ds = loaded[split] if hasattr(loaded, "keys") else loaded
        return ds, ds.features, len(ds)
    ds = load_dataset(source, split=split, streaming=True, revision=revision)
    total = None
    info_splits = getattr(ds.info, "splits", None) or {}
    if split in info_splits and info_splits[split].num_examples:
        total = int(info_splits[split].num_examples)
    return ds, ds.features, total


# ==================================================================== columns and classes

def class_names_for(features, label_column: str, labels_file: str | None) -> list[str] | None:
    """ClassLabel names, else --labels-file; None: labels must be ids or names of --labels-file."""
    feature = features.get(label_column) if features is not None else None
    if isinstance(feature, ClassLabel):
        return [str(n) for n in feature.names]
    if labels_file:
        from ..data import DataError, read_labels_file  # deferred: qc_engine.data imports torch, needed only here

        try:
            return read_labels_file(labels_file)
        except DataError as exc:  # a BadInput already; prefixed with the flag that named the file
            raise BadInput(f"--labels-file: {exc}", hint=exc.hint) from None
    kind = type(feature).__name__ if feature is not None else "of unknown type"
    raise BadInput(f"the label column {label_column!r} is {kind}, not a ClassLabel: the class names are unknown; "
                   "pass --labels-file (a JSON list of names, in label-id order)")


def check_columns(features, split: str, image_column: str, label_column: str) -> None:
    if features is None:
        return  # checked on the first row instead
    for flag, column in (("--image-column", image_column), ("--label-column", label_column)):
        if column not in features:
            raise BadInput(f"split {split!r} has no column {column!r} ({flag}); its columns: {', '.join(features)}")


def label_id(value, names: list[str], split: str, row: int) -> int:
    if isinstance(value, bool) or value is None:
        raise BadInput(f"split {split!r} row {row}: label {value!r} is not a class")
    if isinstance(value, int):
        if not 0 <= value < len(names):
            raise BadInput(f"split {split!r} row {row}: label {value} out of range 0..{len(names) - 1}"
                           + (" (-1: the row has no label)" if value == -1 else ""))
        return value
    if isinstance(value, str) and value in names:
        return names.index(value)
    raise BadInput(f"split {split!r} row {row}: label {value!r} is not one of the {len(names)} class names")


# ==================================================================== one image

def image_bytes(value, split: str, row: int, base: Path | None) -> tuple[bytes, str]:
    """The stored bytes and their extension; reads a path-only image; raises BadInput when undecodable."""
    if not isinstance(value, dict) or ("bytes" not in value and "path" not in value):
        raise BadInput(f"split {split!r} row {row}: the image column holds {type(value).__name__}, not an image")
    data = value.get("bytes")
    if data is None and value.get("path"):
        path = Path(value["path"])
        path = path if path.is_absolute() or base is None else base / path
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise BadInput(f"split {split!r} row {row}: image {value['path']} cannot be read ({exc})") from None
    if not data:
        raise BadInput(f"split {split!r} row {row}: the image is empty")
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format
            img.verify()
    except Exception as exc:  # PIL raises many types for corrupt bytes
        raise BadInput(f"split {split!r} row {row}: the image cannot be decoded ({type(exc).__name__}: {exc})") from None
    return data, EXTENSIONS.get(fmt or "", (fmt or "img").lower())


# ==================================================================== converting

def convert_split(source, split, file_name, stage: Path, args, names_box: list, revision) -> int:
    """Streams one split into stage/images/<split>/ + stage/<file_name>; returns the row count."""
    ds, features, total = open_split(source, split, revision)
    check_columns(features, split, args.image_column, args.label_column)
    if names_box[0] is None:
        names_box[0] = class_names_for(features, args.label_column, args.labels_file)
    names = names_box[0]
    if features is not None and isinstance(features.get(args.image_column), ImageFeature):
        ds = ds.cast_column(args.image_column, ImageFeature(decode=False))
    images = stage / "images" / split
    images.mkdir(parents=True, exist_ok=True)
    base = Path(source) if Path(source).is_dir() else None
    rows, last = 0, 0.0
    with open(stage / file_name, "w", encoding="utf-8") as out:
        for row, record in enumerate(ds):
            if features is None and row == 0:
                for col in (args.image_column, args.label_column):
                    if col not in record:
                        raise BadInput(f"split {split!r} has no column {col!r}; its columns: {', '.join(record)}")
            data, ext = image_bytes(record[args.image_column], split, row, base)
            label = label_id(record[args.label_column], names, split, row)
            name = f"{row:07d}.{ext}"
            (images / name).write_bytes(data)
            out.write(json.dumps({"image": f"images/{split}/{name}", "label": label}) + "\n")
            rows += 1
            if time.time() - last >= 0.5:
                last = time.time()
                emit("progress", split=split, rows=rows, total=total)
    emit("progress", split=split, rows=rows, total=rows)
    if rows == 0:
        raise BadInput(f"split {split!r} has no rows")
    return rows


def swap_into_place(stage: Path, out: Path, names: list[str]) -> None:
    """Move the staged files over the old ones; the old ones go only after every new one is in place."""
    old = out / f".from-hf.old-{os.getpid()}"
    old.mkdir()
    for name in names:
        if (out / name).exists():
            os.replace(out / name, old / name)
    for name in names:
        os.replace(stage / name, out / name)
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(stage, ignore_errors=True)


def run(args) -> int:
    t0 = time.time()
    available = split_names(args.dataset, args.revision)
    splits = choose_splits(args.split, available)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    stage = out / f".from-hf.tmp-{os.getpid()}"
    emit("plan", dataset=args.dataset, splits=splits, files=list(FILE_NAMES[:len(splits)]), out=str(out))
    names_box: list = [None]
    counts = {}
    try:
        for split, file_name in zip(splits, FILE_NAMES):
            counts[split] = convert_split(args.dataset, split, file_name, stage, args, names_box, args.revision)
        names = names_box[0]
        write_json_atomic(stage / "labels.json", {str(i): n for i, n in enumerate(names)})
        swap_into_place(stage, out, ["images", *FILE_NAMES[:len(splits)], "labels.json"])
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    seconds = time.time() - t0
    emit("done", out=str(out), splits=splits, counts=counts, class_names=names_box[0],
         files={"train": str(out / FILE_NAMES[0]), "val": str(out / FILE_NAMES[1]) if len(splits) > 1 else None,
                "labels": str(out / "labels.json")},
         seconds=seconds, images_per_s=sum(counts.values()) / max(seconds, 1e-9))
    return EXIT_OK


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except Exception as exc:  # noqa: BLE001 - bad input exit 2, anything else exit 1, both as an error event
        return report_failure(exc, emit)


if __name__ == "__main__":
    sys.exit(main())
