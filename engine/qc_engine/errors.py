"""The one bad-input exception and the exit codes shared by train, evaluate and export.

Exit codes (the TS side maps them, docs/architecture.md): 0 ok, 1 failed, 2 bad input (found
before any work; the message names the key or file and `hint` says how to fix it), 130 stopped on
request
(Ctrl-C, the stop file), 143 terminated from outside (SIGTERM from a scheduler, to torchrun or its
process group, or the launcher gone): both after saving one complete checkpoint.
"""

from __future__ import annotations

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_STOPPED, EXIT_TERMINATED = 0, 1, 2, 130, 143


class BadInput(ValueError):
    """Bad input (exit 2); `hint` says how to fix it. A ValueError so that callers that validated
    with ValueError before still catch it."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint
