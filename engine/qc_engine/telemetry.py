"""Where the time goes: GPU utilization/memory sampled off the training thread, and the curves PNG.

GpuSampler polls NVML (nvidia-ml-py) in a daemon thread, so the training loop never waits on it;
`read()` returns the means since the previous read per visible device. On a machine without NVML
(the CPU) it samples nothing and `read()` returns {}.
write_training_curves() draws logs/training_curves.png from logs/events.jsonl (rank 0, at the end).
ModelFlops counts model FLOPs per micro-batch for MFU (also used by bench/gpu_smoke.py); peak_flops() is
the GPU's datasheet dense bf16 peak.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

# Datasheet dense (no sparsity) bf16/fp16 peak TFLOP/s, matched as a substring of the device name. MFU is
# reported against these, not against a measured matmul peak (an H200 reaches ~790 of its 989 in PyTorch).
DATASHEET_BF16_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0}


class GpuSampler:
    def __init__(self, interval_s: float = 1.0, device_indices: list[int] | None = None):
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._sums: dict[int, list[float]] = {}
        self._stop = threading.Event()
        self._handles = []
        try:
            import pynvml

            pynvml.nvmlInit()
            count = pynvml.nvmlDeviceGetCount()
            indices = device_indices if device_indices is not None else list(range(count))
            self._nvml = pynvml
            self._handles = [(i, pynvml.nvmlDeviceGetHandleByIndex(i)) for i in indices if i < count]
        except Exception:  # no driver / no GPU: nothing to sample
            self._nvml = None
        self._thread = threading.Thread(target=self._run, name="qc-gpu-sampler", daemon=True)
        if self._handles:
            self._thread.start()

    @property
    def active(self) -> bool:
        return bool(self._handles)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            for index, handle in self._handles:
                try:
                    util = self._nvml.nvmlDeviceGetUtilizationRates(handle).gpu
                    mem = self._nvml.nvmlDeviceGetMemoryInfo(handle).used
                except Exception:
                    continue
                with self._lock:
                    acc = self._sums.setdefault(index, [0.0, 0.0, 0])
                    acc[0] += util
                    acc[1] += mem
                    acc[2] += 1

    def read(self) -> dict[str, dict[str, float]]:
        """{"<device index>": {"util_pct", "memory_bytes"}} means since the last read."""
        with self._lock:
            sums, self._sums = self._sums, {}
        return {str(i): {"util_pct": s[0] / s[2], "memory_bytes": s[1] / s[2]} for i, s in sums.items() if s[2]}

    def close(self) -> None:
        self._stop.set()


def write_training_curves(events_path: str | Path, out_png: str | Path) -> Path | None:
    """loss, lr, grad norm and throughput (samples/s, tokens/s) against step; None when no step was logged."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [e for e in (json.loads(line) for line in Path(events_path).read_text().splitlines() if line.strip())
             if e.get("event") == "step"]
    if not steps:
        return None
    x = [e["step"] for e in steps]
    panels = [("loss", "loss"), ("lr", "learning rate"), ("grad_norm", "grad norm"), ("samples_per_s", "samples/s")]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    for ax, (key, title) in zip(axes.flat, panels):
        ys = [(s, e.get(key)) for s, e in zip(x, steps) if isinstance(e.get(key), (int, float))]
        if ys:
            ax.plot([p[0] for p in ys], [p[1] for p in ys], marker="." if len(ys) < 50 else None)
        if key == "samples_per_s" and any("tokens_per_s" in e for e in steps):
            twin = ax.twinx()
            twin.plot(x, [e.get("tokens_per_s", float("nan")) for e in steps], color="tab:orange", alpha=0.7)
            twin.set_ylabel("tokens/s", color="tab:orange")
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return out_png


# ---------------------------------------------------------------- model FLOPs and MFU

def peak_flops(device_name: str, override_tflops: float | None = None) -> tuple[float | None, str]:
    """(peak FLOP/s or None, where it came from): an override, else the datasheet table by device name."""
    if override_tflops:
        return override_tflops * 1e12, f"--peak-tflops {override_tflops}"
    for key, tflops in DATASHEET_BF16_TFLOPS.items():
        if key in device_name:
            return tflops * 1e12, f"{device_name}: datasheet dense bf16 {tflops:.0f} TFLOP/s"
    return None, f"{device_name}: no datasheet figure known"


def _numel(param) -> int:
    return int(getattr(param, "ds_numel", 0) or param.numel())  # ZeRO-3 partitions report numel() 0


@dataclass(frozen=True)
class _Part:
    params: int  # weights used per token of this part (embeddings, a lookup, not counted)
    trainable: int
    backward: bool  # whether backpropagation runs through it (a trainable weight in it or upstream)

    def dense(self, tokens: int) -> float:
        """2N forward, 2N for the input gradients when backpropagation runs through, 2N_trainable weight grads."""
        return (2 * self.params * (2 if self.backward else 1) + 2 * self.trainable) * tokens

    def attention(self, flops_forward: float) -> float:
        return flops_forward * (3 if self.backward else 1)


@dataclass(frozen=True)
class ModelFlops:
    """Model FLOPs of one training sample of Qwen2.5-VL (+ head), trainable-aware, from the model's modules.

    Dense: per part (vision blocks + patch embedding per patch, merger per merged token, language layers per LM
    token, head per sample) 2N forward + 2N backward through it + 2N_trainable weight gradients: 6N for a full
    fine-tune, 2N for a frozen vision tower (nothing upstream of it trains), ~4N for a LoRA language model.
    Attention (no weights): forward 4 x width x (attended positions) per token and layer, 3x that with
    backpropagation; vision: 64-patch windows except the full-attention blocks; language: the whole sample,
    not halved for causality (as bench/gpu_smoke.py always counted). Real tokens only: padding, and the
    attention a block-diagonal mask computes across samples, are not model FLOPs.
    Qwen2.5-VL-7B full fine-tune, a 504x392 image (1008 patches, 252 merged + 20 text tokens): 6 x (0.632e9 x 1008
    + 0.045e9 x 252 + 6.53e9 x 272) + attention = 14.7 TFLOP a sample (checked against the meta model), so one
    H200's 989 TFLOP/s is ~67 samples/s at 100% MFU.
    """

    vision: _Part
    merger: _Part
    text: _Part
    head: _Part
    merge_area: int
    window_patches: int
    vision_depth: int
    vision_full_layers: int
    vision_width: int
    text_layers: int
    text_width: int

    @classmethod
    def from_model(cls, model) -> "ModelFlops":
        """The classifier, its peft wrapper or DeepSpeed engine, or a bare Qwen2_5_VLModel (meta device is fine)."""
        module = getattr(model, "module", model)  # DeepSpeed engine
        module = module.get_base_model() if hasattr(module, "get_base_model") else module  # peft
        backbone = module.model if hasattr(module, "score") else module
        visual, lm = backbone.visual, backbone.language_model
        config = backbone.config
        vc, tc = config.vision_config, config.text_config

        parts, upstream = [], False
        head = [module.score] if hasattr(module, "score") else []
        embeddings = tuple(lm.embed_tokens.parameters())  # a lookup: no FLOPs, but trainable it needs backprop
        for modules in ([visual.patch_embed, visual.blocks], [visual.merger], [lm], head):
            every = [p for m in modules for p in m.parameters()]
            used = [p for p in every if all(p is not e for e in embeddings)]
            upstream = upstream or any(p.requires_grad for p in every)
            parts.append(_Part(sum(_numel(p) for p in used), sum(_numel(p) for p in used if p.requires_grad),
                               upstream))
        return cls(*parts, merge_area=vc.spatial_merge_size ** 2,
                   window_patches=(vc.window_size // vc.patch_size) ** 2, vision_depth=vc.depth,
                   vision_full_layers=len(vc.fullatt_block_indexes), vision_width=vc.hidden_size,
                   text_layers=tc.num_hidden_layers,
                   text_width=tc.num_attention_heads * (tc.hidden_size // tc.num_attention_heads))

    def sample(self, patches: int, seq: int) -> float:
        """Model FLOPs of one training sample: `patches` vision patches, `seq` language-model tokens."""
        window = min(patches, self.window_patches)
        full = self.vision_full_layers
        vision_attn = 4 * self.vision_width * patches * ((self.vision_depth - full) * window + full * patches)
        text_attn = 4 * self.text_layers * self.text_width * seq * seq
        return (self.vision.dense(patches) + self.vision.attention(vision_attn)
                + self.merger.dense(patches // self.merge_area) + self.text.dense(seq)
                + self.text.attention(text_attn) + self.head.dense(1))

    def batch(self, image_grid_thw, seq_lens: list[int]) -> float:
        """A collated micro-batch (one image per sample, in sample order): host ints, no device sync."""
        patches = [int(n) for n in image_grid_thw.prod(dim=-1).tolist()]
        return sum(self.sample(p, s) for p, s in zip(patches, seq_lens, strict=True))
