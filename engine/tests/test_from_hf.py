"""qc_engine.tools.from_hf on a small data set in the Hub's ethz/food101 layout, built locally.

data/train-00000-of-00001.parquet + data/validation-00000-of-00001.parquet, columns `image`
(struct {bytes, path}: JPEG and PNG bytes) and `label` (ClassLabel), as `datasets` writes them.
Also usable as a script by the TypeScript tests:
    python engine/tests/test_from_hf.py --build DIR [--bad]   # prints {"dataset": DIR, ...}
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from helpers import PYTHON, REPO, engine_env  # noqa: E402

CLASSES = ["apple_pie", "baby_back_ribs", "tacos"]


def image_bytes(i: int, fmt: str) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (28 + i % 5, 28), ((37 * i) % 256, (91 * i) % 256, (53 * i) % 256)).save(buf, fmt)
    return buf.getvalue()


def build_dataset(root: Path, train: int = 24, validation: int = 9, label_feature: str = "classlabel",
                  bad_row: int | None = None) -> dict:
    """A food101-layout parquet data set; images distinct across splits; bad_row: undecodable validation bytes."""
    from datasets import ClassLabel, Dataset, Features, Image, Value

    label = ClassLabel(names=CLASSES) if label_feature == "classlabel" else Value("string")
    features = Features({"image": Image(), "label": label})
    (root / "data").mkdir(parents=True, exist_ok=True)
    stored = {}
    for split, count, offset in (("train", train, 0), ("validation", validation, 1000)):
        images = [image_bytes(offset + i, "JPEG" if i % 2 else "PNG") for i in range(count)]
        if split == "validation" and bad_row is not None:
            images[bad_row] = b"\xff\xd8\xff\xe0 truncated"
        labels = [i % 3 if label_feature == "classlabel" else CLASSES[i % 3] for i in range(count)]
        rows = {"image": [{"bytes": b, "path": f"{split}_{i}.jpg"} for i, b in enumerate(images)], "label": labels}
        Dataset.from_dict(rows, features=features).to_parquet(str(root / "data" / f"{split}-00000-of-00001.parquet"))
        stored[split] = images
    return {"dataset": str(root), "stored": stored}


def run_from_hf(*args) -> subprocess.CompletedProcess:
    env = {**engine_env(), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([PYTHON, "-m", "qc_engine.tools.from_hf", *map(str, args)], env=env, capture_output=True,
                          text=True, timeout=600, cwd=str(REPO))


if __name__ == "__main__" and len(sys.argv) >= 3 and sys.argv[1] == "--build":
    built = build_dataset(Path(sys.argv[2]), bad_row=2 if "--bad" in sys.argv else None)
    print(json.dumps({"dataset": built["dataset"]}))
    sys.exit(0)

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def food(tmp_path_factory):
    return build_dataset(tmp_path_factory.mktemp("food"))


def test_converts_food101_layout_without_reencoding(food, tmp_path):
    out = tmp_path / "out"
    result = run_from_hf("--dataset", food["dataset"], "--out", out)
    assert result.returncode == 0, result.stderr[-3000:]
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert events[0]["event"] == "plan" and events[0]["splits"] == ["train", "validation"]
    assert events[-1]["event"] == "done" and events[-1]["counts"] == {"train": 24, "validation": 9}
    assert json.loads((out / "labels.json").read_text()) == {str(i): n for i, n in enumerate(CLASSES)}
    for split, file_name in (("train", "train.jsonl"), ("validation", "test.jsonl")):
        lines = [json.loads(line) for line in (out / file_name).read_text().splitlines()]
        assert [line["label"] for line in lines] == [i % 3 for i in range(len(lines))]
        for i, line in enumerate(lines):
            written = out / line["image"]
            assert written.suffix == (".jpg" if i % 2 else ".png")
            assert written.read_bytes() == food["stored"][split][i]  # the stored bytes, not re-encoded
    assert not list(out.glob(".from-hf*"))


def test_labels_file_for_string_labels_and_split_choice(tmp_path):
    ds = build_dataset(tmp_path / "strings", train=6, validation=3, label_feature="string")
    out = tmp_path / "out"
    r = run_from_hf("--dataset", ds["dataset"], "--out", out)
    assert r.returncode == 2 and "the label column 'label' is Value, not a ClassLabel" in r.stderr and "--labels-file" in r.stderr
    assert not out.exists() or not any(out.iterdir())
    labels = tmp_path / "names.json"
    labels.write_text(json.dumps(CLASSES))
    r = run_from_hf("--dataset", ds["dataset"], "--out", out, "--labels-file", labels, "--split", "validation")
    assert r.returncode == 0, r.stderr[-3000:]
    assert [json.loads(x)["label"] for x in (out / "train.jsonl").read_text().splitlines()] == [0, 1, 2]
    assert not (out / "test.jsonl").exists()


def test_bad_input_named_and_nothing_written(food, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "train.jsonl").write_text("old\n")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    r = run_from_hf("--dataset", food["dataset"], "--out", out, "--split", "train,test")
    assert r.returncode == 2 and "the data set has no split 'test'; it has train, validation" in r.stderr
    r = run_from_hf("--dataset", food["dataset"], "--out", out, "--image-column", "img")
    assert r.returncode == 2 and "split 'train' has no column 'img' (--image-column); its columns: image, label" in r.stderr
    r = run_from_hf("--dataset", tmp_path / "nowhere", "--out", out)
    assert r.returncode == 2 and "nowhere" in r.stderr
    bad = build_dataset(tmp_path / "bad", train=4, validation=4, bad_row=2)
    r = run_from_hf("--dataset", bad["dataset"], "--out", out)
    assert r.returncode == 2 and "split 'validation' row 2: the image cannot be decoded" in r.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # old files kept, no staging left
