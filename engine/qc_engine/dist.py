"""Small distributed helpers (rank-aware printing, collectives that also work with one process)."""

from __future__ import annotations

import os
import sys

import torch
import torch.distributed as dist


def init_device() -> torch.device:
    """The process group under torchrun (nccl on GPUs; gloo on the CPU or with DS_ACCELERATOR=cpu) and this
    rank's device: the start of evaluate and predict (train.py lets DeepSpeed set up its own)."""
    use_cuda = torch.cuda.is_available() and os.environ.get("DS_ACCELERATOR") != "cpu"
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    if use_cuda:
        torch.cuda.set_device(local_rank())
        return torch.device("cuda", local_rank())
    return torch.device("cpu")


def is_dist() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_dist() else int(os.environ.get("RANK", 0))


def world_size() -> int:
    return dist.get_world_size() if is_dist() else int(os.environ.get("WORLD_SIZE", 1))


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", 0))


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if is_dist():
        dist.barrier()


def broadcast_object(obj, src: int = 0):
    # one process: nothing to send (pickling a million-sample split through gloo would cost seconds)
    if not is_dist() or dist.get_world_size() == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def init_deepspeed_distributed() -> None:
    """deepspeed.init_distributed() without DeepSpeed's shared-memory CPU comm op.

    On the CPU accelerator DeepSpeed's TorchBackend first probes every op builder's compiler (gcc
    subprocesses), then JIT-builds its deepspeed_shm_comm op with ninja + g++ (30-110 s on 2 cores)
    or, when TORCH_EXTENSIONS_DIR already holds a build with the very same flags (torch, DeepSpeed,
    and the .venv path: checkouts sharing one folder rebuild it in turn), loads it (0.1-0.8 s), at
    every process start. The op serves TorchBackend.inference_all_reduce only, which training never
    calls (its collectives go through torch.distributed / gloo), so it is marked not compatible
    before the backend is made; DeepSpeed reads that dict once it exists ("edits to it persist").
    On a GPU the accelerator has no shm builder and nothing changes.
    """
    import deepspeed  # deferred: slow to import, and dist.py is imported by light tools too
    import deepspeed.ops
    from deepspeed.accelerator import get_accelerator

    if get_accelerator().device_name() == "cpu" and "__compatible_ops__" not in vars(deepspeed.ops):
        deepspeed.ops.__compatible_ops__ = {"deepspeed_shm_comm": False}
    deepspeed.init_distributed()


def all_reduce_max_flag(flag: bool, device) -> bool:
    if not is_dist():
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def _all_reduce_int(value: int, device, op) -> int:
    if not is_dist():
        return int(value)
    t = torch.tensor([int(value)], device=device, dtype=torch.long)
    dist.all_reduce(t, op=op)
    return int(t.item())


def all_reduce_max_int(value: int, device) -> int:
    return _all_reduce_int(value, device, dist.ReduceOp.MAX)


def all_reduce_mean(value: float, device) -> float:
    if not is_dist():
        return float(value)
    t = torch.tensor([float(value)], device=device, dtype=torch.float64 if device.type == "cpu" else torch.float32)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return float(t.item()) / world_size()


def all_reduce_sum_int(value: int, device) -> int:
    return _all_reduce_int(value, device, dist.ReduceOp.SUM)


def all_gather_tensor(t: torch.Tensor) -> torch.Tensor:
    """Concatenate equal-shaped tensors from every rank along dim 0, in rank order."""
    if not is_dist():
        return t
    parts = [torch.empty_like(t) for _ in range(world_size())]
    dist.all_gather(parts, t.contiguous())
    return torch.cat(parts, dim=0)


def exit_process(code: int, ok_code: int = 0) -> None:
    """Leave the process now with `code`: barrier on success, flush stdout/stderr, os._exit.

    On success every rank waits for the others (all collectives done) before any leaves; on failure
    nobody waits, so a rank never hangs in a collective the others will not join. os._exit skips
    interpreter teardown, where gloo/DeepSpeed communication threads can abort the process
    ("terminate called without an active exception", SIGABRT, seen about 1 run in 15 under ZeRO-3)
    and turn finished work into a torchrun failure. Callers close their own files first.
    """
    if code == ok_code:
        barrier()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
