"""schema/events.schema.json itself: it accepts what the engine writes and refuses what it does not.

The engine tests validate real output (helpers.read_events, schema_check.assert_run_files_valid);
these quick checks make sure that validation can fail, and that every event name the engine emits
is in the schema.
"""

import json
import re
from pathlib import Path

import pytest

from schema_check import REPO, assert_valid, schema_errors

ENGINE = REPO / "engine" / "qc_engine"


def start_event(**extra) -> dict:
    return {"event": "start", "time": 1.5, "world_size": 1, "total_steps": 6, "steps_per_epoch": 3, "epochs": 2.0,
            "num_train_samples": 64, "num_val_samples": 24, "global_batch_size": 8, "resumed_from_step": None,
            "precision": "fp32", "zero_stage": 2, "skipped_samples": 0, **extra}


def test_a_real_start_event_is_valid_and_each_kind_of_mistake_is_named():
    assert_valid("TrainEvent", start_event())
    missing = {k: v for k, v in start_event().items() if k != "zero_stage"}
    assert any("'zero_stage' is a required property" in e for e in schema_errors("TrainEvent", missing))
    assert any("'mystery'" in e for e in schema_errors("TrainEvent", start_event(mystery=1)))
    assert schema_errors("TrainEvent", start_event(precision="fp8"))
    assert schema_errors("TrainEvent", start_event(event="begin"))
    with pytest.raises(AssertionError, match="TrainEvent"):
        assert_valid("TrainEvent", start_event(total_steps=-1))


def test_non_finite_values_are_written_as_null_and_accepted():
    from qc_engine.protocol import json_safe

    step = json_safe({"event": "step", "time": 2.0, "step": 1, "total_steps": 6, "epoch": 0.3,
                      "loss": float("nan"), "lr": 1e-3, "grad_norm": float("inf"), "samples_per_s": 4.0,
                      "memory_bytes": 1, "memory_kind": "rss"})
    assert step["loss"] is None and step["grad_norm"] is None
    assert_valid("TrainEvent", step)


def test_export_reporter_lines_match_the_schema(capsys):
    from qc_engine.export import Reporter

    report = Reporter(as_json=True)
    report.progress("write", 1, 2, "shards", force=True)
    report.line("hello")
    report.error("boom", 2)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["event"] for e in lines] == ["progress", "line", "error"]
    for event in lines:
        assert_valid("ExportEvent", event)
    assert schema_errors("ExportEvent", {"event": "paused", "point": "after_write"})  # test-only: its own $def
    assert_valid("ExportPausedEvent", {"event": "paused", "point": "after_write"})


def emitted_names(module: str, pattern: str) -> set[str]:
    return set(re.findall(pattern, (ENGINE / module).read_text()))


def schema_event_names(union: str) -> set[str]:
    schema = json.loads((REPO / "schema" / "events.schema.json").read_text())
    defs = schema["$defs"]
    return {defs[ref["$ref"].split("/")[-1]]["properties"]["event"]["const"] for ref in defs[union]["oneOf"]}


def test_every_event_name_the_engine_emits_is_in_the_schema():
    train = emitted_names("train.py", r'events\.emit\(\s*"(\w+)"')
    assert train and train <= schema_event_names("TrainEvent"), train - schema_event_names("TrainEvent")
    evaluate = emitted_names("evaluate.py", r'\bemit\(\s*"(\w+)"')
    assert evaluate and evaluate <= schema_event_names("EvalEngineEvent"), evaluate - schema_event_names("EvalEngineEvent")
    export = emitted_names("export.py", r'\{"event":\s*"(\w+)"') - {"paused"}
    assert export and export <= schema_event_names("ExportEvent"), export - schema_event_names("ExportEvent")
