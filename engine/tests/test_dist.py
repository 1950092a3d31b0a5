"""qc_engine.dist.exit_process: the one way train.py and evaluate.py leave."""

import subprocess

import pytest

from helpers import PYTHON, REPO, engine_env

SCRIPT = """
import sys
from qc_engine import dist as qd
print("written before exit", end="")   # no newline: only an explicit flush gets it out before os._exit
sys.stderr.write("err before exit")
qd.exit_process(int(sys.argv[1]), ok_code=int(sys.argv[2]))
print("never reached")
"""


@pytest.mark.parametrize("code,ok_code", [(0, 0), (1, 0), (2, 0), (130, 0), (0, 5)])
def test_exit_process_exits_with_the_code_and_flushes(code, ok_code):
    result = subprocess.run([PYTHON, "-c", SCRIPT, str(code), str(ok_code)], env=engine_env(), capture_output=True,
                            text=True, timeout=120, cwd=str(REPO))
    assert result.returncode == code, result.stderr[-2000:]
    assert result.stdout == "written before exit"
    assert result.stderr.endswith("err before exit")
