import json
from pathlib import Path

import pytest
import torch

from qc_engine.data import (ClassifierCollator, DataError, ImageClassificationDataset, ResumableDistributedSampler,
                            load_class_names, read_jsonl, read_labels_file)
from qc_engine.model import load_processing

from helpers import typed_config

NAMES = [str(i) for i in range(10)]


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture()
def image_path(digits_dir) -> str:
    return str(next((digits_dir / "images").iterdir()))


def test_reads_relative_and_absolute_paths_and_class_names(tmp_path, digits_dir, image_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.png").write_bytes(Path(image_path).read_bytes())
    f = write_lines(tmp_path / "d.jsonl", [
        json.dumps({"image": "img/a.png", "label": 3}),
        "",
        json.dumps({"image": image_path, "label": "7"}),
    ])
    split = read_jsonl(f, NAMES)
    assert [(s.label, s.line) for s in split.samples] == [(3, 1), (7, 3)]
    assert split.samples[0].image == str((tmp_path / "img" / "a.png").resolve())
    assert split.skipped == []


@pytest.mark.parametrize("line,message", [
    ('{"image": "x.png", "label": 1', "malformed JSON"),
    ('{"image": "IMG", "label": 10}', "label 10 out of range 0..9"),
    ('{"image": "IMG", "label": -1}', "label -1 out of range"),
    ('{"image": "IMG", "label": "cat"}', "unknown class name 'cat'"),
    ('{"image": "IMG"}', 'expected an object with "image" and "label"'),
    ('{"image": "missing.png", "label": 1}', "does not exist"),
    ('{"image": "IMG", "label": 1.5}', "is not an int or class name"),
])
def test_bad_lines_name_file_and_line(tmp_path, image_path, line, message):
    good = json.dumps({"image": image_path, "label": 0})
    f = write_lines(tmp_path / "bad.jsonl", [good, good, line.replace("IMG", image_path)])
    with pytest.raises(DataError) as err:
        read_jsonl(f, NAMES)
    assert f"{f}:3: " in str(err.value)
    assert message in str(err.value)
    assert "on_bad_sample" in err.value.hint and "on_bad_sample" not in str(err.value)


def test_undecodable_image_is_reported(tmp_path, image_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    f = write_lines(tmp_path / "d.jsonl", [json.dumps({"image": str(broken), "label": 0})])
    with pytest.raises(DataError, match=r"d\.jsonl:1: image .*broken\.png cannot be decoded"):
        read_jsonl(f, NAMES)


def test_skip_mode_drops_and_counts_bad_lines(tmp_path, image_path):
    good = json.dumps({"image": image_path, "label": 0})
    f = write_lines(tmp_path / "d.jsonl", [good, "not json", good, json.dumps({"image": "nope.png", "label": 1}),
                                           json.dumps({"image": image_path, "label": 99})])
    split = read_jsonl(f, NAMES, on_bad_sample="skip")
    assert len(split.samples) == 2
    assert [s.split(": ")[0] for s in split.skipped] == [f"{f}:2", f"{f}:4", f"{f}:5"]


def test_error_mode_reports_first_line_and_count(tmp_path):
    f = write_lines(tmp_path / "d.jsonl", ["{", "{", "{"])
    with pytest.raises(DataError, match=r"d\.jsonl:1: malformed JSON.*and 2 more bad line"):
        read_jsonl(f, NAMES)


def test_labels_file_formats_and_class_name_sources(tmp_path):
    (tmp_path / "l1.json").write_text(json.dumps(["cat", "dog"]))
    (tmp_path / "l2.json").write_text(json.dumps({"1": "dog", "0": "cat"}))
    (tmp_path / "l3.json").write_text(json.dumps({"0": "cat", "2": "dog"}))
    assert read_labels_file(tmp_path / "l1.json") == ["cat", "dog"]
    assert read_labels_file(tmp_path / "l2.json") == ["cat", "dog"]
    with pytest.raises(DataError, match="without gaps"):
        read_labels_file(tmp_path / "l3.json")
    labels = {"labels_file": str(tmp_path / "l1.json"), "dataset": ""}
    assert load_class_names(typed_config({"model": {"num_labels": 2}, "data": labels})) == ["cat", "dog"]
    pets = {"datasets": {"dataset_configs": {"pets": {"num_classes": 2, "description": "", "class_names": ["a", "b"]}}}}
    assert load_class_names(typed_config({"model": {"num_labels": 2}, "data": labels, **pets})) == ["a", "b"]
    with pytest.raises(DataError, match="2 class names but model.num_labels is 3"):
        load_class_names(typed_config({"model": {"num_labels": 3}, "data": labels, **pets}))
    assert load_class_names(typed_config({"model": {"num_labels": 3}, "data": {"labels_file": ""}})) == ["0", "1", "2"]


def test_collate_expands_image_pads_to_merged_patches(tiny_model_dir, digits_dir):
    tokenizer, image_processor = load_processing(tiny_model_dir, 3136, 3136)
    split = read_jsonl(digits_dir / "val.jsonl", NAMES)
    dataset = ImageClassificationDataset(split.samples[:3])
    batch = ClassifierCollator(tokenizer, image_processor, "What is shown in this image?")([dataset[i] for i in range(3)])
    pad_id = tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert batch["image_grid_thw"].tolist() == [[1, 4, 4]] * 3  # 56x56 pixels -> 4x4 patches of 14
    assert ((batch["input_ids"] == pad_id).sum(1) == 4).all()  # merged 2x2 -> 4 tokens each
    assert batch["pixel_values"].shape[0] == 3 * 16
    assert batch["labels"].tolist() == [s.label for s in split.samples[:3]]
    assert batch["attention_mask"].all()


def test_resumable_sampler_continues_where_it_stopped():
    data = list(range(20))
    full = ResumableDistributedSampler(data, num_replicas=2, rank=1, seed=3)
    full.set_epoch(2)
    order = list(full)
    part = ResumableDistributedSampler(data, num_replicas=2, rank=1, seed=3)
    part.set_epoch(2)
    part.set_start_index(4)
    assert list(part) == order[4:] and len(part) == len(order) - 4
    other = ResumableDistributedSampler(data, num_replicas=2, rank=0, seed=3)
    other.set_epoch(2)
    assert sorted(order + list(other)) == data
