"""Engine-side command-line tools the TypeScript tasks run as `python -m qc_engine.tools.<name>`
(lib/util/engine_process.ts's engineEnv puts engine/ on PYTHONPATH): image decoding for
`prepare --deep`, the matplotlib plots of prepare and evaluate, and data set conversion (from_hf)."""
