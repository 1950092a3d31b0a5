"""The one bad-input exception and the exit codes shared by train, evaluate and export.

Exit codes (the TS side maps them, docs/architecture.md): 0 ok, 1 failed, 2 bad input (found
before any work; the message names the key or file and `hint` says how to fix it), 130 stopped on
request
(Ctrl-C, the stop file), 143 terminated from outside (SIGTERM from a scheduler, to torchrun or its
process group, or the launcher gone): both after saving one complete checkpoint.
"""

from __future__ import annotations

import sys
import traceback
from typing import Callable

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_STOPPED, EXIT_TERMINATED = 0, 1, 2, 130, 143


class BadInput(ValueError):
    """Bad input (exit 2); `hint` says how to fix it. A ValueError so that callers that validated
    with ValueError before still catch it."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


def report_failure(exc: BaseException, emit: Callable[..., None], *, to_stderr: bool = True,
                   with_hint: bool = True) -> int:
    """The JSON-line commands' (evaluate, predict, hub_model, tools.from_hf) one way to end on an error:
    bad input -> `error: ...` (+ `hint: ...`) on stderr and an `error` event, exit 2; anything else -> the
    traceback and an `error` event naming the exception, exit 1. Returns the exit code."""
    if isinstance(exc, BadInput):
        hint = exc.hint if with_hint else None
        if to_stderr:
            print(f"error: {exc}" + (f"\nhint: {hint}" if hint else ""), file=sys.stderr, flush=True)
        emit("error", message=str(exc), exit_code=EXIT_BAD_INPUT, **({"hint": hint} if hint else {}))
        return EXIT_BAD_INPUT
    traceback.print_exception(exc)
    emit("error", message=f"{type(exc).__name__}: {exc}", exit_code=EXIT_FAILED)
    return EXIT_FAILED
