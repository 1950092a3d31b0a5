"""qc_engine.tools: run as `python -m qc_engine.tools.<name>`, the way the TypeScript tasks run them."""

import json
import subprocess

from PIL import Image

from helpers import PYTHON, REPO, engine_env


def run_tool(name: str, args: list[str], stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, "-m", f"qc_engine.tools.{name}", *args], input=stdin, capture_output=True,
                          text=True, env=engine_env(), cwd=REPO, timeout=120)


def test_deep_decode_reports_one_verdict_per_image_in_order(tmp_path):
    good = tmp_path / "good.png"
    Image.new("RGB", (8, 8), "red").save(good)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:40])
    paths = [str(good), str(truncated), str(tmp_path / "missing.png")]
    result = run_tool("deep_decode", [], "".join(json.dumps(p) + "\n" for p in paths))
    assert result.returncode == 0, result.stderr
    verdicts = [json.loads(line) for line in result.stdout.splitlines()]
    assert [v["i"] for v in verdicts] == [0, 1, 2]
    assert verdicts[0]["error"] is None
    assert verdicts[1]["error"] and verdicts[2]["error"].startswith("FileNotFoundError")


def test_plot_histogram_writes_a_png(tmp_path):
    out = tmp_path / "hist.png"
    payload = {"title": "t", "names": ["a", "b", "c"], "train": [5, 3, 1], "val": [1, 1, 0]}
    result = run_tool("plot_histogram", [str(out)], json.dumps(payload))
    assert result.returncode == 0, result.stderr
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size[0] >= 800


def test_plot_eval_summary_writes_a_png_and_refuses_bad_usage(tmp_path):
    summary = {"metric": "accuracy", "data": "val.jsonl", "num_samples": 10, "rows": [
        {"step": 2, "name": "checkpoint-2", "metrics": {"accuracy": 0.4}, "train_loss": 2.0, "is_best": False},
        {"step": 4, "name": "checkpoint-4", "metrics": {"accuracy": 0.6}, "train_loss": 1.5, "is_best": True}]}
    (tmp_path / "s.json").write_text(json.dumps(summary))
    result = run_tool("plot_eval_summary", [str(tmp_path / "s.json"), str(tmp_path / "s.png")])
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "s.png") as im:
        assert im.format == "PNG"
    assert not list(tmp_path.glob("*.tmp.png"))
    assert run_tool("plot_eval_summary", [str(tmp_path / "s.json")]).returncode == 2
