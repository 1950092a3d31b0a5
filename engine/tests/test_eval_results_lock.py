"""eval_results.json is merged under a lock: concurrent evaluators of one checkpoint lose no entry."""
import json
import multiprocessing as mp

from qc_engine.eval_records import EVAL_RESULTS_FILE, write_eval_results


def writer(ckpt: str, who: str, n: int) -> None:
    for i in range(n):
        write_eval_results(ckpt, f"{who}:{i}", {"split": "full", "metrics": {"accuracy": i / n}})


def test_concurrent_writers_keep_every_entry(tmp_path):
    ckpt = tmp_path / "checkpoint-3"
    ckpt.mkdir()
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=writer, args=(str(ckpt), who, 40)) for who in ("a", "b", "c")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    results = json.loads((ckpt / EVAL_RESULTS_FILE).read_text())
    assert sorted(results) == sorted(f"{who}:{i}" for who in "abc" for i in range(40))
