"""The launcher cannot leave orphans: when it dies unannounced (kill -9), torchrun and its workers stop
within seconds, after saving one complete checkpoint (QC_LAUNCHER_PID, qc_engine.watchdog)."""
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from helpers import PYTHON, REPO, engine_env, read_events, torchrun_argv, write_run_files

pytestmark = pytest.mark.slow


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_launcher_killed_9_stops_torchrun_and_workers_with_one_complete_checkpoint(make_config):
    config = make_config({"training": {"skip_evaluation": True, "max_steps": 400, "save_steps": 1000}})
    out = Path(config["training"]["output_dir"])
    resolved, ds = write_run_files(config, out)
    launcher = subprocess.Popen(["sleep", "600"])  # stands in for tasks/train.ts
    env = engine_env()
    env["QC_LAUNCHER_PID"] = str(launcher.pid)
    with open(out / "torchrun.log", "w") as log:
        # its own session, as the launcher starts it (detached): the launcher's death reaches nothing
        torchrun = subprocess.Popen(torchrun_argv(1, resolved, ds), env=env, cwd=str(REPO), stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and torchrun.poll() is None:
            if (out / "logs" / "events.jsonl").exists() and any(e["event"] == "step" for e in read_events(out)):
                break
            time.sleep(0.2)
        workers = [int(p) for p in subprocess.run(["pgrep", "-P", str(torchrun.pid)], capture_output=True,
                                                   text=True).stdout.split()]
        assert workers, (out / "torchrun.log").read_text()[-3000:]
        launcher.kill()
        launcher.wait()
        t0 = time.time()
        torchrun.wait(timeout=60)
        stopped_after = time.time() - t0
        while any(alive(w) for w in workers) and time.time() - t0 < 60:
            time.sleep(0.1)
    finally:
        if torchrun.poll() is None:
            os.killpg(torchrun.pid, signal.SIGKILL)
        launcher.kill()
    assert not any(alive(w) for w in workers)
    assert stopped_after < 20, stopped_after  # a few seconds: poll 0.5 s + the step + one tiny save
    end = read_events(out)[-1]
    assert (end["status"], end["exit_code"]) == ("interrupted", 143) and 1 <= end["step"] < 400
    ckpts = sorted(p.name for p in out.glob("checkpoint-*") if (p / "training_info.json").is_file())
    assert ckpts == [f"checkpoint-{end['step']}"]
    assert not list(out.glob(".checkpoint-*"))


@pytest.mark.parametrize("target", ["torchrun", "group"])
def test_sigterm_to_torchrun_or_its_group_saves_once_and_exits_143(make_config, target):
    config = make_config({"training": {"skip_evaluation": True, "max_steps": 400, "save_steps": 1000}})
    out = Path(config["training"]["output_dir"])
    resolved, ds = write_run_files(config, out)
    env = engine_env()
    env["TORCH_ELASTIC_SHUTDOWN_TIMEOUT"] = "60"  # what the launcher sets (stop_grace_seconds + margin)
    with open(out / "torchrun.log", "w") as log:
        torchrun = subprocess.Popen(torchrun_argv(1, resolved, ds), env=env, cwd=str(REPO), stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and torchrun.poll() is None:
            if (out / "logs" / "events.jsonl").exists() and any(e["event"] == "step" for e in read_events(out)):
                break
            time.sleep(0.2)
        workers = [int(p) for p in subprocess.run(["pgrep", "-P", str(torchrun.pid)], capture_output=True,
                                                   text=True).stdout.split()]
        assert workers
        if target == "group":
            os.killpg(torchrun.pid, signal.SIGTERM)
        else:
            torchrun.send_signal(signal.SIGTERM)
        torchrun.wait(timeout=90)
    finally:
        if torchrun.poll() is None:
            os.killpg(torchrun.pid, signal.SIGKILL)
    assert not any(alive(w) for w in workers)
    end = read_events(out)[-1]
    assert (end["status"], end["exit_code"]) == ("interrupted", 143), (out / "torchrun.log").read_text()[-3000:]
    ckpts = sorted(p.name for p in out.glob("checkpoint-*") if (p / "training_info.json").is_file())
    assert ckpts == [f"checkpoint-{end['step']}"]  # exactly one save
    assert not list(out.glob(".checkpoint-*"))


def test_output_dir_not_shared_by_every_rank_is_refused(make_config):
    config = make_config({"training": {"skip_evaluation": True, "max_steps": 2}})
    out = Path(config["training"]["output_dir"])
    resolved, ds = write_run_files(config, out)
    env = engine_env()
    env["QC_TEST_UNSHARED_RANK"] = "1"
    proc = subprocess.run(torchrun_argv(2, resolved, ds), env=env, cwd=str(REPO), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode != 0
    end = read_events(out)[-1]
    assert (end["status"], end["exit_code"]) == ("failed", 2)
    assert "is not shared by all ranks" in proc.stderr and "rank 1" in proc.stderr
    assert not list(out.glob("checkpoint-*")) and not list(out.glob(".qc-shared-fs-*"))


def test_printing_after_the_launcher_died_does_not_kill_the_worker(tmp_path):
    """watchdog.guard_output: the reader of a worker's stdout/stderr (the launcher) is gone; the worker's next
    prints go to /dev/null instead of raising BrokenPipeError (one short Python process, no torchrun)."""
    done = tmp_path / "done"
    code = ("import sys, time\n"
            "from qc_engine.watchdog import guard_output\n"
            "guard_output()\n"
            "print('ready', flush=True)\n"
            "time.sleep(1.0)\n"  # the test closes the pipe meanwhile
            "for i in range(3):\n"
            "    print('step', i, flush=True)\n"
            "    print('warn', i, file=sys.stderr, flush=True)\n"
            f"open({str(done)!r}, 'w').write('ok')\n")
    proc = subprocess.Popen([PYTHON, "-c", code],
                            env=engine_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"ready"
    proc.stdout.close()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 0
    assert done.read_text() == "ok"
