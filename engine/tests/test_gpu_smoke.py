"""bench/gpu_smoke.sh --tiny (the GPU benchmark's script on the CPU) and qc_engine.random_init."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))


def test_fitting_text_layers_and_flops_from_the_7b_config():
    import gpu_smoke

    # 139 GiB (an H200): the 7B's 28 language layers do not fit at 22 bytes a parameter; fewer do.
    layers = gpu_smoke.fitting_text_layers(139 * 2**30)
    assert 15 <= layers < 28
    assert gpu_smoke.fitting_text_layers(10**15) == 28
    config = gpu_smoke.model_config(False, None)
    assert (config["hidden_size"], config["num_hidden_layers"], config["intermediate_size"]) == (3584, 28, 18944)
    assert config["vision_config"]["fullatt_block_indexes"] == [7, 15, 23, 31]


def test_flops_per_sample_is_six_n_t_plus_attention(tmp_path):
    import gpu_smoke
    from qc_engine.random_init import is_random_init_folder, write_folder

    folder = write_folder(tmp_path / "m", gpu_smoke.model_config(False, 2), 3136, 200704)
    assert is_random_init_folder(folder) and not list(folder.glob("*.safetensors"))
    config, meta = gpu_smoke.meta_model(folder)
    sample = {"patches": 1008, "seq": 280}
    flops = gpu_smoke.flops_per_sample(meta, sample)  # qc_engine.telemetry.ModelFlops, every parameter trainable
    n_text = sum(p.numel() for p in meta.language_model.parameters()) - 152064 * 3584
    n_vis = sum(p.numel() for p in meta.visual.parameters())
    # Lower bound: 6 x params x tokens with every vision parameter counted on merged tokens only.
    assert flops > 6 * (n_text * 280 + n_vis * 1008 // 4)
    text_attn = 12 * 2 * 3584 * 280 * 280
    vision_attn = 12 * 1280 * 1008 * (28 * 64 + 4 * 1008)
    merger = sum(p.numel() for p in meta.visual.merger.parameters())
    expected = 6 * ((n_vis - merger) * 1008 + merger * 252 + n_text * 280) + text_attn + vision_attn
    assert flops == pytest.approx(expected, rel=1e-9)


@pytest.mark.slow
def test_gpu_smoke_tiny_runs_every_available_variant(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           # DeepSpeed builds its CPU comm op just in time; a cache of this checkout's own is built once.
           "TORCH_EXTENSIONS_DIR": os.environ.get("TORCH_EXTENSIONS_DIR", str(REPO / ".cache" / "torch_extensions"))}
    out = tmp_path / "smoke.json"
    proc = subprocess.run(["bash", "bench/gpu_smoke.sh", "--tiny", "--steps", "5", "--workdir", str(tmp_path / "w"),
                           "--json", str(out)], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads(out.read_text())
    by_name = {r["name"]: r for r in summary["results"]}
    for name in ("tiny_zero2_sdpa", "tiny_zero3_sdpa"):
        r = by_name[name]
        assert r["exit_code"] == 0 and r["steps"] == 5
        assert r["samples_per_s"] > 0 and r["tokens_per_s"] == pytest.approx(r["samples_per_s"] * summary["mean_tokens_per_sample"])
        assert r["peak_memory_bytes"] > 0 and r["memory_kind"] == "rss" and r["mfu"] is None
        run = tmp_path / "w" / "runs" / name
        info = json.loads((run / "checkpoint-5" / "training_info.json").read_text())
        assert info["zero_stage"] == (2 if "zero2" in name else 3) and info["precision"] == "fp32"
        # --no-save: the DeepSpeed state was not written, only the benchmark's marker.
        assert [p.name for p in (run / "checkpoint-5" / "deepspeed" / "global_step5").iterdir()
                if not p.name.startswith("qc_rng")] == ["SKIPPED_BY_BENCHMARK"]
    for name in ("tiny_zero2_padded", "tiny_zero2_packed"):  # the batching variants run, and report padding
        r = by_name[name]
        assert r["exit_code"] == 0 and r["steps"] == 5 and r["engine_mfu"] is None  # no peak on the CPU
        assert (r["padding_fraction"] == 0.0) == name.endswith("packed")
    events = [json.loads(line) for line in
              (tmp_path / "w" / "runs" / "tiny_zero2_packed" / "logs" / "events.jsonl").read_text().splitlines()]
    steps = [e for e in events if e["event"] == "step"]
    assert all(e["padding_fraction"] == 0.0 and e["mfu"] is None and e["model_tflops_per_s"] > 0 for e in steps)
    assert "| tiny_zero2_sdpa" in proc.stdout
