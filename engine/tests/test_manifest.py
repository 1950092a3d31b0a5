"""The checksum manifest (qc_engine.manifest): sizes always, hashes on request, the damaged file named."""
import hashlib
import json
import re

import pytest

from helpers import REPO
from qc_engine.errors import BadInput
from qc_engine.manifest import build_manifest, verify_checkpoint


def make_folder(root):
    (root / "deepspeed" / "global_step3").mkdir(parents=True)
    (root / "hf_model").mkdir()
    (root / "deepspeed" / "global_step3" / "shard.pt").write_bytes(b"x" * 1000)
    (root / "hf_model" / "model.safetensors").write_bytes(bytes(range(256)) * 4)
    (root / "training_info.json").write_text("{}")
    (root / "eval_results.json").write_text("{}")
    (root / ".lock").write_text("")
    return root


def test_manifest_lists_every_file_but_the_rewritten_ones(tmp_path):
    files = build_manifest(make_folder(tmp_path))
    assert sorted(files) == ["deepspeed/global_step3/shard.pt", "hf_model/model.safetensors"]
    assert files["deepspeed/global_step3/shard.pt"] == {"size": 1000, "sha256": hashlib.sha256(b"x" * 1000).hexdigest()}
    assert verify_checkpoint(tmp_path, {"files": files}, hashes=True) == "sha256"
    assert verify_checkpoint(tmp_path, {}, hashes=True) == "none"  # older checkpoints: accepted unchecked


def test_damage_is_refused_naming_the_file(tmp_path):
    files = build_manifest(make_folder(tmp_path))
    shard = tmp_path / "deepspeed" / "global_step3" / "shard.pt"
    shard.write_bytes(b"y" * 1000)  # same size
    assert verify_checkpoint(tmp_path, {"files": files}) == "sizes"
    with pytest.raises(BadInput, match=r"shard\.pt: SHA-256 differs"):
        verify_checkpoint(tmp_path, {"files": files}, hashes=True)
    shard.write_bytes(b"y" * 10)
    with pytest.raises(BadInput, match=r"shard\.pt: 10 bytes, training_info.json says 1000"):
        verify_checkpoint(tmp_path, {"files": files})
    shard.unlink()
    with pytest.raises(BadInput, match=r"shard\.pt: missing"):
        verify_checkpoint(tmp_path, {"files": files})
    assert verify_checkpoint(tmp_path, {"files": files}, skip_prefixes=("deepspeed/",)) == "sizes"  # slim


CASES = json.loads((REPO / "test" / "fixtures" / "manifest" / "cases.json").read_text())


def write_fixture(root):
    for rel, text in CASES["files"].items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def test_engine_builds_the_shared_fixture_manifest(tmp_path):
    write_fixture(tmp_path)
    assert build_manifest(tmp_path) == CASES["manifest"]


@pytest.mark.parametrize("case", CASES["cases"], ids=[c["name"] for c in CASES["cases"]])
def test_shared_fixture_cases(tmp_path, case):
    """The same cases as lib/checkpoints/manifest.test.ts: both verifiers agree."""
    write_fixture(tmp_path)
    if "write" in case:
        (tmp_path / case["write"][0]).write_text(case["write"][1])
    if "remove" in case:
        (tmp_path / case["remove"]).unlink()
    call = lambda: verify_checkpoint(tmp_path, {"files": CASES["manifest"], **case.get("info", {})}, hashes=case["hashes"],  # noqa: E731
                                     skip_prefixes=tuple(case.get("skip", ())))
    if "error" in case:
        with pytest.raises(BadInput, match=re.escape(case["error"])):
            call()
    else:
        assert call() == case["result"]
