"""model.attn_implementation: which attention kernel the backbone runs (auto | sdpa | flash_attention_2 | eager).

`auto` takes flash-attention 2 where it is installed and the GPU can run it (Ampere or newer), else sdpa.
Asking for flash_attention_2 where it cannot run is bad input (exit 2), reported before any model is built.
"""

from __future__ import annotations

import importlib.util

import torch

from .errors import BadInput

CHOICES = ("auto", "sdpa", "flash_attention_2", "eager")


def flash_attn_installed() -> bool:
    return importlib.util.find_spec("flash_attn") is not None


def gpu_supports_flash(device: torch.device) -> bool:
    """flash-attn 2 needs a CUDA device of compute capability 8.0 or newer."""
    if device.type != "cuda" or not torch.cuda.is_available():
        return False
    major, _ = torch.cuda.get_device_capability(device)
    return major >= 8


def resolve_attn_implementation(requested: str, device: torch.device, installed: bool | None = None,
                                gpu_ok: bool | None = None) -> str:
    """The kernel transformers is asked for; BadInput when flash_attention_2 is asked for and cannot run.
    `installed` / `gpu_ok` override the probes (tests)."""
    installed = flash_attn_installed() if installed is None else installed
    gpu_ok = gpu_supports_flash(device) if gpu_ok is None else gpu_ok
    if requested not in CHOICES:
        raise BadInput(f"model.attn_implementation: {requested!r} is not one of {', '.join(CHOICES)}")
    if requested == "auto":
        return "flash_attention_2" if installed and gpu_ok else "sdpa"
    if requested == "flash_attention_2":
        if not installed:
            raise BadInput("model.attn_implementation: flash_attention_2 asked for, but the flash_attn package is not "
                           "installed in the engine's Python",
                           hint="install engine/requirements-gpu.txt on a GPU machine (scripts/setup.sh does), "
                                "or set model.attn_implementation: auto (falls back to sdpa)")
        if not gpu_ok:
            raise BadInput(f"model.attn_implementation: flash_attention_2 needs a CUDA GPU of compute capability "
                           f">= 8.0; this run's device is {device}",
                           hint="set model.attn_implementation: auto or sdpa")
    return requested
