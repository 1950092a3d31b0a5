"""Checkpoints assume training.output_dir is one filesystem shared by every node: rank 0 writes a marker
there that every rank must see before any work. A node with its own local output_dir would otherwise save
its shards where nobody finds them, and resume or export would fail much later.

QC_TEST_UNSHARED_RANK=<r> (tests only) makes rank r look in a private folder instead, as if unshared.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

import torch

from . import dist as qd
from .errors import BadInput


def check_shared_output_dir(out: Path) -> None:
    """Every rank: raise BadInput on all ranks when some rank cannot see rank 0's marker in `out`."""
    if qd.world_size() <= 1:
        return
    name = qd.broadcast_object(f".qc-shared-fs-{uuid.uuid4().hex}" if qd.is_main() else None)
    marker = Path(out) / name
    if qd.is_main():
        marker.write_text(f"written by rank 0 on {os.uname().nodename}\n")
    qd.barrier()
    where = Path(out)
    if os.environ.get("QC_TEST_UNSHARED_RANK") == str(qd.rank()):
        where = Path(tempfile.mkdtemp(prefix="qc-unshared-"))
    missing = not (where / name).is_file()
    seen = [None] * qd.world_size()
    torch.distributed.all_gather_object(seen, (qd.rank(), os.uname().nodename, missing))
    if qd.is_main():
        marker.unlink(missing_ok=True)
    blind = [f"rank {r} on {host}" for r, host, miss in seen if miss]
    if blind:
        raise BadInput(f"training.output_dir {out} is not shared by all ranks: a file rank 0 wrote there is not "
                       f"visible to {', '.join(blind)}",
                       hint="put training.output_dir on a filesystem every node mounts at the same path "
                            "(NFS, Lustre, a shared volume)")
