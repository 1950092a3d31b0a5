"""qc_engine.nodes: the check that every node was launched alike, and the lost-peer message (no processes
started: the ranks' answers are faked where all_gather_object would collect them)."""

from __future__ import annotations

import pytest
import torch

from qc_engine import nodes
from qc_engine.errors import BadInput


@pytest.fixture
def two_ranks(monkeypatch):
    """Rank 0 of 2; `others` is what rank 1 reports to all_gather_object."""
    monkeypatch.setattr(nodes.qd, "world_size", lambda: 2)
    monkeypatch.setattr(nodes.qd, "rank", lambda: 0)
    other = {}

    def gather(out, mine):
        out[0], out[1] = mine, {**mine, "rank": 1, "host": "h1", **other}

    monkeypatch.setattr(torch.distributed, "all_gather_object", gather, raising=False)
    return other


def test_same_launch_passes(two_ranks):
    nodes.check_same_launch("abc", "abc", "auto", False)


def test_a_node_with_another_config_is_refused(two_ranks):
    two_ranks["config_hash"] = "fff000111222333"
    with pytest.raises(BadInput, match=r"the nodes were launched with different configs: rank 1 on h1 resolved a config "
                                       r"\(hash fff000111222\) that is not the resolved_config.json in "
                                       r"training.output_dir \(hash abc\)") as e:
        nodes.check_same_launch("abc", "abc", None, False)
    assert "same --config" in e.value.hint


@pytest.mark.parametrize("key,flag,value", [("resume", "--resume", None), ("allow_batch_change", "--allow-batch-change", True)])
def test_different_flags_are_refused_naming_each_rank(two_ranks, key, flag, value):
    two_ranks[key] = value
    with pytest.raises(BadInput, match=f"the nodes were launched with different {flag} \\(rank 0 on ") as e:
        nodes.check_same_launch("abc", "abc", "auto", False)
    assert f"rank 1 on h1: {value!r}" in str(e.value)
    assert f"pass the same {flag} to every node" in e.value.hint


def test_one_process_checks_nothing(monkeypatch):
    monkeypatch.setattr(nodes.qd, "world_size", lambda: 1)
    nodes.check_same_launch("abc", "other", "auto", True)
    assert nodes.peer_lost_message(RuntimeError("[gloo/transport/tcp/pair.cc:537] Connection reset by peer")) is None


def test_peer_lost_message(two_ranks):
    gloo = RuntimeError("[/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:537] Read error [127.0.0.1]:34969: "
                        "Connection reset by peer. This is typically caused by a remote worker hanging\nmore")
    msg = nodes.peer_lost_message(gloo)
    assert msg.startswith("lost contact with another rank (this is rank 0 of 2 on ")
    assert msg.endswith("Connection reset by peer. This is typically caused by a remote worker hanging)")
    assert nodes.peer_lost_message(ValueError("Connection reset by peer")) is None  # not a collective's error
    assert nodes.peer_lost_message(RuntimeError("gloo: bad tensor shape")) is None  # a collective, but no lost peer
