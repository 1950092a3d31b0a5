"""Small engine-side helpers the TypeScript tasks run as `python -m qc_engine.tools.<name>`
(lib/util/engine_process.ts's engineEnv puts engine/ on PYTHONPATH): image decoding for
`prepare --deep`, and the matplotlib plots of prepare and evaluate."""
