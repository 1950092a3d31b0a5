import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers import deep_merge, schema_defaults  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: trains the tiny model through torchrun (tens of seconds)")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    from qc_engine.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("model") / "tiny-qwen2.5-vl", seed=0)


@pytest.fixture(scope="session")
def digits_dir(tmp_path_factory) -> Path:
    from qc_engine.demo_assets import build_digits_dataset

    root = tmp_path_factory.mktemp("data") / "digits"
    build_digits_dataset(root / "train.jsonl", root / "val.jsonl", root / "labels.json", seed=0)
    return root


@pytest.fixture(scope="session")
def small_digits_dir(tmp_path_factory, digits_dir) -> Path:
    """A 64-sample train / 24-sample val subset: a few steps per epoch, quick evaluations."""
    root = tmp_path_factory.mktemp("small") / "digits"
    root.mkdir()
    for name, count in (("train.jsonl", 64), ("val.jsonl", 24)):
        lines = (digits_dir / name).read_text().splitlines()[:count]
        fixed = [line.replace('"images/', f'"{digits_dir}/images/') for line in lines]
        (root / name).write_text("\n".join(fixed) + "\n")
    return root


@pytest.fixture()
def make_config(tiny_model_dir, small_digits_dir, tmp_path):
    """A resolved config (schema defaults + the tiny model + the small digits set), patched per test."""

    def make(patch: dict | None = None, out_name: str = "run") -> dict:
        base = deep_merge(schema_defaults(), {
            "model": {"pretrained_name": str(tiny_model_dir), "num_labels": 10},
            "data": {"train_jsonl": str(small_digits_dir / "train.jsonl"),
                     "val_jsonl": str(small_digits_dir / "val.jsonl"),
                     "image_min_pixels": 3136, "image_max_pixels": 3136, "num_workers": 0},
            "training": {"output_dir": str(tmp_path / out_name), "per_device_batch_size": 8, "lr": 2e-3,
                         "max_steps": 6, "logging_steps": 1, "save_steps": 3, "eval_steps": 3, "warmup_steps": 1,
                         "precision": "fp32", "evaluation": {"partial_eval_samples": 16}},
            "deepspeed": {"zero_stage": 2},
        })
        from helpers import apply_skip_evaluation

        return apply_skip_evaluation(deep_merge(base, patch or {}))

    return make
