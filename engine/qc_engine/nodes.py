"""Several nodes (torchrun --nnodes N, c10d rendezvous): every node's launch must agree, and a lost peer is
named as such.

torchrun's c10d rendezvous ignores --node-rank: it orders the nodes itself (by host name, then agent pid),
so the engine's global rank 0, the one that checks the input, picks the resume checkpoint and writes
events.jsonl, can run on any node. Decisions that rank 0 takes from its own argv (--resume,
--allow-batch-change) are therefore only sound when every node passed the same ones, and each node's
launcher resolved the same config: `check_same_launch` compares them across ranks before any work.

A rank whose peer process dies (kill -9, OOM, a crashed machine whose kernel still closes the sockets) sees
its next collective fail at once with a transport error (gloo: "Connection reset/closed by peer"; NCCL: a
DistBackendError). `peer_lost_message` turns those into one clear line that every rank prints, because the
dead peer may have been rank 0, the only one that writes events.jsonl. A machine that vanishes without
closing its sockets is noticed only when the collective times out (DeepSpeed's process-group timeout,
DEEPSPEED_TIMEOUT minutes, default 10).
"""

from __future__ import annotations

import os
import socket

import torch

from . import dist as qd
from .errors import BadInput

# Transport failures of a collective whose peer is gone (gloo's tcp pair, NCCL's watchdog, the c10d store).
_PEER_GONE = ("connection reset by peer", "connection closed by peer", "broken pipe", "nccl communicator was aborted",
              "watchdog caught collective operation timeout", "socket timeout", "timed out")


def check_same_launch(config_hash: str, expected_hash: str | None, resume: str | None,
                      allow_batch_change: bool) -> None:
    """Every rank: raise BadInput (on all ranks) when the nodes were launched with different configs or flags."""
    if qd.world_size() <= 1:
        return
    mine = {"rank": qd.rank(), "host": socket.gethostname(), "node": os.environ.get("GROUP_RANK", "?"),
            "config_hash": expected_hash or config_hash, "resume": resume, "allow_batch_change": allow_batch_change}
    seen: list[dict] = [{} for _ in range(qd.world_size())]
    torch.distributed.all_gather_object(seen, mine)
    ref = seen[0]
    if any(s["config_hash"] != config_hash for s in seen):
        bad = ", ".join(f"rank {s['rank']} on {s['host']}" for s in seen if s["config_hash"] != config_hash)
        raise BadInput(f"the nodes were launched with different configs: {bad} resolved a config (hash "
                       f"{next(s['config_hash'] for s in seen if s['config_hash'] != config_hash)[:12]}) that is "
                       f"not the resolved_config.json in training.output_dir (hash {config_hash[:12]})",
                       hint="launch every node with the same --config, --set options and working directory")
    for key, flag in (("resume", "--resume"), ("allow_batch_change", "--allow-batch-change")):
        if any(s[key] != ref[key] for s in seen):
            values = "; ".join(f"rank {s['rank']} on {s['host']}: {s[key]!r}" for s in seen)
            raise BadInput(f"the nodes were launched with different {flag} ({values})",
                           hint=f"pass the same {flag} to every node's tasks/train.ts (torchrun's c10d rendezvous "
                                f"may put rank 0 on any node)")


def peer_lost_message(exc: BaseException) -> str | None:
    """One line for a collective that failed because another rank's process is gone; None for other errors."""
    if qd.world_size() <= 1:
        return None
    text = str(exc)
    dist_error = isinstance(exc, getattr(torch.distributed, "DistError", ()))
    transport = "gloo" in text or "nccl" in text.lower() or dist_error
    if not (transport and any(k in text.lower() for k in _PEER_GONE)):
        return None
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return (f"lost contact with another rank (this is rank {qd.rank()} of {qd.world_size()} on "
            f"{socket.gethostname()}): a process on another node died or its node left the run ({first[:300]})")


PEER_LOST_HINT = ("see the other node's launcher output for why it stopped; then start every node again with "
                  "--resume auto (the newest complete checkpoint; an unfinished save stays a hidden "
                  ".checkpoint-N.tmp)")
