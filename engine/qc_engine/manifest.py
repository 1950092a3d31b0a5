"""A checkpoint's checksum manifest: `training_info.json` "files" = {relative path: {size, sha256}}.

Written at save time on rank 0, right before training_info.json (which marks the checkpoint complete):
every file is read once, which both fsyncs it (durable before the folder is renamed into place) and
hashes it, in a thread pool (sha256 releases the GIL). Cost: ~1-2 GB/s per core, so a 7B checkpoint
(~16 GB hf_model/ + ~100 GB ZeRO state) takes ~1 min on 16 cores; `training.checkpoint` saves are rare.
Verifiers (resume, export, evaluate; lib/checkpoints/manifest.ts for push) check sizes always and hashes
when asked (`--verify`), and name the damaged file. Checkpoints from before the manifest have no "files":
they are accepted as they are. training_info.json, eval_results.json and predictions.jsonl are not listed
(evaluate updates them later).
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .errors import BadInput
from .fsio import fsync_dir

# Files a checkpoint legitimately rewrites after the save: never in the manifest.
UNLISTED = {"training_info.json", "eval_results.json", "predictions.jsonl"}
CHUNK = 8 << 20


def listed_files(folder: Path) -> list[str]:
    folder = Path(folder)
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))  # .deepspeed.slimming-*, locks
        for name in sorted(files):
            rel = os.path.relpath(os.path.join(root, name), folder)
            if rel not in UNLISTED and not name.startswith("."):
                out.append(rel.replace(os.sep, "/"))
    return out


def _fsync_and_hash(path: Path, want_hash: bool) -> dict:
    digest = hashlib.sha256() if want_hash else None
    with open(path, "rb") as fh:
        if digest is not None:
            while chunk := fh.read(CHUNK):
                digest.update(chunk)
        os.fsync(fh.fileno())
        size = os.fstat(fh.fileno()).st_size
    return {"size": size, "sha256": digest.hexdigest() if digest is not None else None}


def build_manifest(folder: Path, workers: int | None = None, prefix: str | None = None) -> dict:
    """fsync every file under `folder` (and its directories) and return its manifest entries; with
    `prefix` (e.g. "hf_model/") only the files under it."""
    folder = Path(folder)
    names = [n for n in listed_files(folder) if prefix is None or n.startswith(prefix)]
    workers = workers or min(16, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        entries = list(pool.map(lambda n: _fsync_and_hash(folder / n, True), names))
    for root, _, _ in os.walk(folder):
        fsync_dir(Path(root))
    return dict(zip(names, entries))


def absent_parts(info: dict) -> tuple[str, ...]:
    """Parts training_info.json itself says are gone: a slim checkpoint's deepspeed/ (prune --slim),
    an hf_model/ marked absent. Their manifest entries are not checked."""
    out = []
    if info.get("slim") or info.get("has_deepspeed_state") is False:
        out.append("deepspeed/")
    if info.get("has_hf_model") is False:
        out.append("hf_model/")
    return tuple(out)


def verify_checkpoint(folder: Path, info: dict | None, hashes: bool = False, skip_prefixes: tuple = ()) -> str:
    """Raise BadInput naming the first damaged file; returns "none" (old checkpoint, no manifest), "sizes"
    or "sha256". `skip_prefixes`: parts the caller does not read (e.g. "deepspeed/" of a slim checkpoint)."""
    files = (info or {}).get("files")
    if not files:
        return "none"
    skip_prefixes = tuple(skip_prefixes) + absent_parts(info)
    folder = Path(folder)
    for rel, want in sorted(files.items()):
        if any(rel.startswith(p) for p in skip_prefixes):
            continue
        path = folder / rel
        if not path.is_file():
            raise BadInput(f"{path}: missing from the checkpoint (listed in training_info.json); the checkpoint "
                           f"is damaged: copy it again or use another checkpoint")
        size = path.stat().st_size
        if size != want["size"]:
            raise BadInput(f"{path}: {size} bytes, training_info.json says {want['size']}; the checkpoint is "
                           f"damaged (truncated or changed): copy it again or use another checkpoint")
        if hashes and want.get("sha256") and _fsync_and_hash(path, True)["sha256"] != want["sha256"]:
            raise BadInput(f"{path}: SHA-256 differs from training_info.json; the checkpoint is damaged: "
                           f"copy it again or use another checkpoint")
    return "sha256" if hashes else "sizes"
