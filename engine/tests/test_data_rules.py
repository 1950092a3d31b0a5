"""One set of data rules for both planes: the fixtures of test/fixtures/data_rules are also read by
lib/data/data_rules.test.ts against lib/data/check.ts and lib/data/classes.ts."""

import json

import pytest

from qc_engine.data import DataError, LineProblem, parse_line, read_labels_file

from helpers import REPO

RULES = REPO / "test" / "fixtures" / "data_rules"
EXPECTED_LINES = json.loads((RULES / "lines.expected.json").read_text())
LINES = (RULES / "lines.jsonl").read_text().splitlines()
EXPECTED_LABELS = json.loads((RULES / "labels.expected.json").read_text())["files"]


@pytest.mark.parametrize("setup", ["named", "ids_only"])
def test_every_fixture_line_gets_the_expected_outcome(setup):
    assert len(LINES) == len(EXPECTED_LINES["lines"]) > 15
    if setup == "named":
        names, ids_only = EXPECTED_LINES["named"]["class_names"], False
    else:
        names, ids_only = [str(i) for i in range(EXPECTED_LINES["ids_only"]["num_labels"])], True
    outcomes = []
    for case in EXPECTED_LINES["lines"]:
        verdict = parse_line(LINES[case["line"] - 1], names, names_are_ids=ids_only)
        outcomes.append({"reject": verdict.kind} if isinstance(verdict, LineProblem) else {"label": verdict[1]})
    assert outcomes == [case[setup] for case in EXPECTED_LINES["lines"]]


@pytest.mark.parametrize("name", sorted(EXPECTED_LABELS))
def test_every_fixture_labels_file_parses_or_is_refused(name):
    expected = EXPECTED_LABELS[name]
    if expected is None:
        with pytest.raises(DataError):
            read_labels_file(RULES / name)
    else:
        assert read_labels_file(RULES / name) == expected


def test_the_fixture_set_covers_every_labels_file():
    assert sorted(p.name for p in RULES.glob("labels_*.json")) == sorted(EXPECTED_LABELS)
