"""qc_engine: the Python data plane of qwen-classify (model, data, DeepSpeed training loop, evaluation)."""

__version__ = "0.1.0"
