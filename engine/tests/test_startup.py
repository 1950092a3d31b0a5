"""The start event's startup timeline (qc_engine.train.startup_marks / startup_text)."""

import subprocess
import time

from qc_engine.train import process_start_time, startup_marks, startup_text


def test_process_start_time_of_a_fresh_child_is_between_spawn_and_now():
    before = time.time()
    child = subprocess.Popen(["sleep", "5"])
    try:
        time.sleep(0.2)
        started = process_start_time(child.pid)
        # /proc's start time is in clock ticks (10 ms), /proc/uptime to 10 ms: allow 30 ms either way
        assert started is not None and before - 0.03 <= started <= time.time() + 0.03
    finally:
        child.kill()
        child.wait()
    assert process_start_time(2**22 + 7) is None  # no such process


def test_marks_are_ordered_and_the_text_gives_each_phase_since_the_mark_before():
    marks = startup_marks(time.time())
    assert marks["process_started"] <= marks["imports_began"] <= marks["imports_done"]
    assert marks["parent_started"] <= marks["process_started"]  # pytest started this process
    t = marks["imports_began"]
    fake = {"process_started": t - 1, "imports_began": t, "imports_done": t + 4.04, "distributed_done": t + 4.5,
            "input_check_done": t + 4.5, "engine_done": t + 6.0}
    assert startup_text(fake) == "imports 4.0s, distributed 0.5s, input check 0.0s, engine 1.5s"
