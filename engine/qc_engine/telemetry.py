"""Where the time goes: GPU utilization/memory sampled off the training thread, and the curves PNG.

GpuSampler polls NVML (nvidia-ml-py) in a daemon thread, so the training loop never waits on it;
`read()` returns the means since the previous read per visible device. On a machine without NVML
(the CPU) it samples nothing and `read()` returns {}.
write_training_curves() draws logs/training_curves.png from logs/events.jsonl (rank 0, at the end).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path


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
