"""Class histogram plot for tasks/prepare.ts: train and validation counts per class.

python -m qc_engine.tools.plot_histogram OUTPUT.png;  stdin: {"title": str, "names": [str], "train": [int], "val": [int]}.
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")  # no display needed
import matplotlib.pyplot as plt  # noqa: E402


def main() -> None:
    out_path = sys.argv[1]
    data = json.load(sys.stdin)
    names, train, val = data["names"], data["train"], data["val"]
    n = len(names)
    width_in = min(60.0, max(8.0, 0.22 * n))
    fig, ax = plt.subplots(figsize=(width_in, 5.0))
    xs = range(n)
    ax.bar([x - 0.2 for x in xs], train, width=0.4, label=f"train ({sum(train):,})", color="#3b75af")
    ax.bar([x + 0.2 for x in xs], val, width=0.4, label=f"validation ({sum(val):,})", color="#ef8636")
    if n <= 150:
        ax.set_xticks(list(xs))
        vertical = n > 12 or max((len(x) for x in names), default=0) > 6
        ax.set_xticklabels(names, rotation=90 if vertical else 0, fontsize=7 if n > 30 else 9)
    else:
        ax.set_xlabel("class id")
    ax.set_ylabel("samples")
    ax.set_title(data.get("title", "class histogram"), loc="left")
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2, frameon=False)  # above the bars
    ax.margins(x=0.005)
    fig.tight_layout()
    fig.savefig(out_path, dpi=100)


if __name__ == "__main__":
    main()
