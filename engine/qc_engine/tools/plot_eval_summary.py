"""Plot eval_summary.json: the ranking metric and the train loss against the step.

Usage: python -m qc_engine.tools.plot_eval_summary SUMMARY_JSON OUT_PNG
Writes OUT_PNG atomically (tmp file + rename). Headless (Agg backend).
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402


def main(summary_path: str, out_png: str) -> int:
    with open(summary_path, encoding="utf-8") as f:
        summary = json.load(f)
    rows = sorted(summary["rows"], key=lambda r: r["step"])
    metric = summary["metric"]
    steps = [r["step"] for r in rows]
    values = [r["metrics"][metric] for r in rows]

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    ax.plot(steps, values, marker="o", color="tab:blue", label=f"eval {metric}")
    best = next((r for r in rows if r.get("is_best")), None)
    if best is not None:
        ax.scatter([best["step"]], [best["metrics"][metric]], s=220, marker="*", color="gold",
                   edgecolor="black", zorder=5, label=f"best: {best['name']}")
    ax.set_xlabel("step")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(f"eval {metric}", color="tab:blue")
    ax.grid(alpha=0.3)

    handles, labels = ax.get_legend_handles_labels()
    train = [(r["step"], r["train_loss"]) for r in rows if r.get("train_loss") is not None]
    if train:
        ax2 = ax.twinx()
        ax2.plot([s for s, _ in train], [v for _, v in train], marker="s", linestyle="--",
                 color="tab:red", label="train loss")
        ax2.set_ylabel("train loss", color="tab:red")
        h2, l2 = ax2.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    ax.legend(handles, labels, loc="best", fontsize=8)
    data = os.path.basename(summary.get("data") or "")
    ax.set_title(f"{metric} and train loss by checkpoint ({data}, {summary.get('num_samples')} samples)")
    fig.tight_layout()

    tmp = f"{out_png}.{os.getpid()}.tmp.png"
    fig.savefig(tmp, format="png")
    plt.close(fig)
    os.replace(tmp, out_png)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
