"""Command-line tools of the engine that are not training steps (data conversion, ...)."""
