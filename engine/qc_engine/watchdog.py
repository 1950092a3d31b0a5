"""Workers that cannot outlive their launcher, and a bounded stop.

torchrun runs in its own process group, so a `kill -9` of tasks/train.ts (or the OOM killer) would leave
torchrun and its workers training unwatched, holding GPUs; PR_SET_PDEATHSIG in a worker only watches
torchrun. The launcher therefore passes its pid in QC_LAUNCHER_PID and every rank polls it: once it is gone
the rank asks for a stop (the step finishes, all ranks save one complete checkpoint together, exit 143).
Any stop (signal, stop file, launcher gone) is bounded by training.stop_grace_seconds: past it the process
exits at once (os._exit); an unfinished save is left as the hidden .checkpoint-N.tmp (removed by the next
run), never as a complete-looking checkpoint-N.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Callable

EXIT_GRACE_EXPIRED = 137  # like a SIGKILL: stopped without a complete final save


def pid_alive(pid: int) -> bool:
    """True while `pid` runs (a zombie, not yet reaped by its parent, counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True  # no /proc (macOS): kill(0) said it exists


class StopWatch:
    """One daemon thread per rank: watches the launcher pid, and enforces the grace once a stop began."""

    def __init__(self, request_stop: Callable[[str], None], grace_s: float, launcher_pid: int | None,
                 poll_s: float = 0.5):
        self.request_stop, self.grace_s, self.launcher_pid, self.poll_s = request_stop, grace_s, launcher_pid, poll_s
        self.stop_since: float | None = None
        self.finished = False
        self._thread = threading.Thread(target=self._run, name="qc-stopwatch", daemon=True)

    @classmethod
    def from_env(cls, request_stop: Callable[[str], None], grace_s: float) -> "StopWatch":
        text = os.environ.get("QC_LAUNCHER_PID", "").strip()
        return cls(request_stop, grace_s, int(text) if text.isdigit() else None)

    def start(self) -> "StopWatch":
        self._thread.start()
        return self

    def stop_began(self) -> None:
        """Called when a stop is requested by any cause: the grace clock starts (once)."""
        if self.stop_since is None:
            self.stop_since = time.monotonic()

    def _run(self) -> None:
        while not self.finished:
            if self.launcher_pid is not None and self.stop_since is None and not pid_alive(self.launcher_pid):
                self.request_stop(f"the launcher (pid {self.launcher_pid}) is gone")
                self.stop_began()
            if self.stop_since is not None and time.monotonic() - self.stop_since > self.grace_s:
                print(f"error: could not save within training.stop_grace_seconds ({self.grace_s:g}s) after the "
                      f"stop; exiting without a final checkpoint (no incomplete one is left looking complete)",
                      file=sys.stderr, flush=True)
                os._exit(EXIT_GRACE_EXPIRED)
            time.sleep(self.poll_s)


class QuietOnLostPipe:
    """sys.stdout / sys.stderr of a worker whose reader may die. A worker's output goes straight into the
    launcher's pipe; once the launcher is killed, the next Python write raised BrokenPipeError before the
    StopWatch (polling every 0.5 s) could redirect it, and a worker logging every step then crashed instead
    of stopping with a checkpoint (seen with two nodes: the other node only saw a lost peer). Now the first
    broken write points the file descriptor at /dev/null and training goes on to the StopWatch's stop."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._to_devnull()
            return len(text)

    def flush(self):
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._to_devnull()

    def _to_devnull(self):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self._stream.fileno())
        os.close(devnull)
        try:
            self._stream.flush()  # what was buffered goes to /dev/null now
        except OSError:
            pass

    def __getattr__(self, name):
        return getattr(self._stream, name)


def guard_output() -> None:
    """Wrap sys.stdout and sys.stderr in QuietOnLostPipe (once)."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if not isinstance(stream, QuietOnLostPipe):
            setattr(sys, name, QuietOnLostPipe(stream))
