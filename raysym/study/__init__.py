"""A whole study: its typed config and presets, the Tune training stage, and the pipeline of stages.

``run_study(config, out_dir)`` is what ``studies/full.py`` calls: jets → Tune grid of biases × seeds →
best models → analysis fan-out → the Parquet result store.
"""
