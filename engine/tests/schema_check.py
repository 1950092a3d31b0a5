"""Validate what the engine writes for the control plane against schema/events.schema.json.

    assert_valid("TrainEvent", event)          # any $defs name of the schema
    assert_run_files_valid(output_dir)          # events.jsonl + every checkpoint's files + best_checkpoint.json

The same schema generates the TypeScript types (generated/messages.ts), so a field the engine adds or
renames without a schema edit fails here instead of surprising the launcher.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import jsonschema

REPO = Path(__file__).resolve().parents[2]
MESSAGES_SCHEMA = REPO / "schema" / "events.schema.json"


@lru_cache(maxsize=1)
def _schema() -> dict:
    schema = json.loads(MESSAGES_SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


@lru_cache(maxsize=None)
def _validator(kind: str) -> jsonschema.Draft202012Validator:
    schema = _schema()
    if kind not in schema["$defs"]:
        raise KeyError(f"{MESSAGES_SCHEMA.name}: no $defs.{kind} (known: {', '.join(sorted(schema['$defs']))})")
    # The whole schema as root so that the $refs between $defs resolve; validate against one $def.
    return jsonschema.Draft202012Validator({**schema, "$ref": f"#/$defs/{kind}"})


def branch_for(kind: str, obj) -> str:
    """For a union (oneOf on `event`), the $def whose `event` const matches obj, so that errors name
    the fields of that message instead of "not valid under any of the given schemas"."""
    defs = _schema()["$defs"]
    if "oneOf" not in defs[kind] or not isinstance(obj, dict):
        return kind
    for ref in defs[kind]["oneOf"]:
        name = ref["$ref"].split("/")[-1]
        if defs[name].get("properties", {}).get("event", {}).get("const") == obj.get("event"):
            return name
    return kind


def schema_errors(kind: str, obj) -> list[str]:
    """Every violation as "<$def> <json path>: <message>" (empty when valid)."""
    target = branch_for(kind, obj)
    errors = sorted(_validator(target).iter_errors(obj), key=lambda e: list(e.absolute_path))
    return [f"{target} {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:300]}" for e in errors]


def assert_valid(kind: str, obj, source: str = "") -> None:
    errors = schema_errors(kind, obj)
    assert not errors, (f"{source or 'message'} does not match schema/events.schema.json#/$defs/{kind}:\n  "
                        + "\n  ".join(errors))


def assert_jsonl_valid(kind: str, path: Path) -> int:
    """Every line of a JSONL file; returns the number of lines checked."""
    lines = [line for line in Path(path).read_text().splitlines() if line.strip()]
    for number, line in enumerate(lines, 1):
        assert_valid(kind, json.loads(line), f"{path}:{number}")
    return len(lines)


def assert_run_files_valid(output_dir: Path) -> dict:
    """events.jsonl, best_checkpoint.json and each complete checkpoint's JSON files; returns counts checked."""
    out = Path(output_dir)
    counts = {"events": 0, "training_info": 0, "eval_results": 0, "predictions": 0, "best_checkpoint": 0}
    events = out / "logs" / "events.jsonl"
    if events.is_file():
        counts["events"] = assert_jsonl_valid("TrainEvent", events)
    best = out / "best_checkpoint.json"
    if best.is_file():
        assert_valid("BestCheckpoint", json.loads(best.read_text()), str(best))
        counts["best_checkpoint"] = 1
    for ckpt in sorted(out.glob("checkpoint-*")):
        for name, kind in (("training_info.json", "TrainingInfo"), ("eval_results.json", "EvalResults")):
            path = ckpt / name
            if path.is_file():
                assert_valid(kind, json.loads(path.read_text()), str(path))
                counts[name.split(".")[0]] += 1
        if (ckpt / "predictions.jsonl").is_file():
            counts["predictions"] += assert_jsonl_valid("PredictionLine", ckpt / "predictions.jsonl")
    return counts
